"""The one subprocess wrapper: every call to uv, pixi, nix, git, nvidia-smi and jupyter goes through here.

It never inherits a stdin (so nothing waits for input), always has a timeout, traces each call to stderr when
``REPROML_DEBUG=1`` and turns a failure into a ToolError that carries the tail of stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reproml.errors import ToolError

DEFAULT_TIMEOUT = 120.0


def _debug(message: str) -> None:
    # Not the logging module: importing it costs every command about 8 ms of start-up, and nothing else logs.
    if os.environ.get("REPROML_DEBUG") == "1":
        sys.stderr.write(f"reproml: debug: {message}\n")


@dataclass(frozen=True)
class Completed:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def which(tool: str) -> str | None:
    return shutil.which(tool)


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    input_text: str | None = None,
    new_session: bool = False,
) -> Completed:
    """Run ``args`` and capture its output as text.

    ``env`` replaces the environment; ``extra_env`` is laid over it (or over ``os.environ``). With ``check``,
    a non-zero exit, a missing executable or a timeout raise ToolError; without it a missing executable or a
    timeout still come back as a Completed with returncode 127 / 124, so probes never raise. With
    ``new_session`` the child does not get the terminal's Ctrl-C (a step that must not be cut half-way).
    """
    argv = tuple(str(a) for a in args)
    full_env = dict(os.environ if env is None else env)
    if extra_env:
        full_env.update(extra_env)
    started = time.perf_counter()
    _debug(f"run {argv} (cwd={cwd}, timeout={timeout}s)")
    try:
        proc = subprocess.run(
            argv,
            cwd=None if cwd is None else Path(cwd),
            env=full_env,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            start_new_session=new_session,
        )
    except FileNotFoundError:
        if check:
            raise ToolError(f"{argv[0]} is not installed or not on PATH") from None
        return Completed(argv, 127, "", f"{argv[0]}: not found", time.perf_counter() - started)
    except subprocess.TimeoutExpired as exc:
        if check:
            raise ToolError(f"{' '.join(argv[:3])} did not finish within {timeout:g} s") from None
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return Completed(argv, 124, out, "timed out", time.perf_counter() - started)
    seconds = time.perf_counter() - started
    _debug(f"exit {proc.returncode} after {seconds:.2f}s")
    done = Completed(argv, proc.returncode, proc.stdout, proc.stderr, seconds)
    if check and not done.ok:
        raise ToolError(
            f"{' '.join(argv[:3])} failed (exit {proc.returncode}): {last_line(proc.stderr or proc.stdout)}"
        )
    return done


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
