"""Helpers for tests: render presets, list files, run nix."""

from __future__ import annotations

import errno
import os
import re
import select
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reproml.commands.new import NewOptions, build_answers, render
from reproml.presets import get_preset

DATA = Path(__file__).resolve().parent / "data"
NIX_STUB = DATA / "nix-stub"
NIX = ["nix", "--extra-experimental-features", "nix-command flakes"]

# Variables no test may inherit from the person running it (tests/conftest.py clears them for every test):
# they change what reproml, its generated .envrc, uv's PyTorch choice, Jupyter, Pixi, conda and Nix do.
# (REPROML_TORCH_BUILD=cu128 alone turned 14 tests red; with JUPYTER_DATA_DIR set, `reproml jupyter kernel`
# wrote a kernel outside the sandbox.)
SEALED_PREFIXES = ("JUPYTER_", "REPROML_", "UV_CUDA_", "UV_INDEX", "PIXI_", "CONDA_")
SEALED_NAMES = ("UV_TORCH_BACKEND", "UV_EXTRA_INDEX_URL", "NIX_CONFIG", "VIRTUAL_ENV", "DIRENV_DIR")
_SEALED = re.compile("|".join([*(re.escape(p) + ".*" for p in SEALED_PREFIXES),
                                *map(re.escape, SEALED_NAMES)]))


# The design (issue 7): which PyTorch build each extra (None: the main dependencies) promises on Linux and
# Windows. macOS always gets CPU wheels (the cpu index, or the default index whose macOS wheels are CPU/MPS).
# Written out here, never computed with reproml's code.
EXPECTED_BUILDS: dict[str, dict[str | None, str]] = {
    "auto": {"cpu": "cpu", "cu126": "cu126", "cu130": "cu130"},
    "cuda": {"cu126": "cu126", "cu130": "cu130"},
    "cpu": {None: "cpu"},
    "cu126": {None: "cu126"},
    "cu130": {None: "cu130"},
    "cu132": {None: "cu132"},
}


def answers_for(preset: str, name: str = "cell-seg", **options: Any) -> dict[str, Any]:
    opts = NewOptions(path=Path(name), template=preset, name=name, author="Ada Tester",
                      email="ada@example.org", python="3.11", **options)
    return build_answers(opts, get_preset(preset), Path(name).absolute())


def render_preset(target: Path, preset: str, **options: Any) -> Path:
    render(answers_for(preset, **options), target)
    return target


def files_in(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def sealed(name: str) -> bool:
    """Is ``name`` a variable the test session clears for every test?"""
    return _SEALED.fullmatch(name) is not None


def path_without(tool: str, path: str) -> str:
    """``path`` (a PATH value) without the directories that hold an executable ``tool`` (the other tools in
    those directories go too: keep tests that use this to what they need)."""
    keep = [d for d in path.split(os.pathsep) if d and shutil.which(tool, path=d) is None]
    return os.pathsep.join(keep)


def nix_eval(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NIX, "eval", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------------------------------------------------
# Another user: root ignores file modes, so a permission test run as root proves nothing.

UNPRIVILEGED_USER, UNPRIVILEGED_GROUP = "nobody", "nogroup"


def run_as_unprivileged(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
                        timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``args`` as a user without root's powers, for tests about permissions ("a folder this user cannot
    write", "another user cannot read the token"): as ``nobody``/``nogroup`` without supplementary groups
    (``setpriv``) when the tests run as root, directly otherwise (a normal user already is one). Text output
    is captured; the exit status is not checked.

    That user must reach everything it runs and reads: take the ``unprivileged`` fixture (tests/conftest.py),
    whose :class:`Unprivileged` gives a world-traversable folder the user owns and an environment whose HOME,
    XDG folders, TMPDIR and uv cache lie in it (the test's own lie under pytest's 0700 basetemp). The venv and
    the checkout must be readable by others; the fixture checks that and fails saying so."""
    if os.geteuid() == 0:
        args = ["setpriv", f"--reuid={UNPRIVILEGED_USER}", f"--regid={UNPRIVILEGED_GROUP}", "--clear-groups",
                "--", *args]
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          input=input)


@dataclass
class Unprivileged:
    """What the ``unprivileged`` fixture gives: ``tmp`` (world-traversable, owned by the user that
    :func:`run_as_unprivileged` runs as) and ``env`` (for that user, see :func:`unprivileged_env`)."""

    tmp: Path
    env: dict[str, str]

    def run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("cwd", self.tmp)
        return run_as_unprivileged(args, env=self.env, **kwargs)


def make_unprivileged_folder(root: Path, gitconfig: Path | None = None) -> dict[str, str]:
    """Make ``root`` (an empty folder) world-traversable with HOME, XDG and cache folders inside and a copy
    of ``gitconfig`` (the test's git identity), all owned by the unprivileged user; return the variables that
    point at them."""
    os.chmod(root, 0o755)
    places = {"HOME": "home", "XDG_CONFIG_HOME": "home/.config", "XDG_DATA_HOME": "home/.local/share",
              "XDG_CACHE_HOME": "home/.cache", "XDG_STATE_HOME": "home/.local/state",
              "XDG_RUNTIME_DIR": "home/.run", "UV_CACHE_DIR": "home/.cache/uv", "TMPDIR": "tmp"}
    for sub in places.values():
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "home/.run", 0o700)
    env = {var: str(root / sub) for var, sub in places.items()}
    if gitconfig is not None and gitconfig.is_file():
        shutil.copyfile(gitconfig, root / "home/.gitconfig")
        env["GIT_CONFIG_GLOBAL"] = str(root / "home/.gitconfig")
    if os.geteuid() == 0:
        import grp
        import pwd

        uid, gid = pwd.getpwnam(UNPRIVILEGED_USER).pw_uid, grp.getgrnam(UNPRIVILEGED_GROUP).gr_gid
        for path in [root, *root.rglob("*")]:
            os.chown(path, uid, gid)
    return env


def remove_tree(root: Path) -> None:
    """rmtree that also removes what a test left unwritable (a 0500 folder) when not root."""
    def unlock(func: Any, path: str, _exc: BaseException) -> None:
        os.chmod(os.path.dirname(path), stat.S_IRWXU)
        func(path)
    if sys.version_info >= (3, 12):
        shutil.rmtree(root, onexc=unlock)
    else:
        shutil.rmtree(root, onerror=unlock)


@contextmanager
def tmpfs_mounted(where: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` (``1m``) mounted on ``where`` for a full-disk or read-only case, unmounted
    afterwards. Needs root and mount(2): skipped where the kernel refuses the mount."""
    import pytest

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(exist_ok=True)
    options = f"size={size},mode=0755"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "reproml-test", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


# A real terminal for the tests of prompts and Ctrl-C (pty.fork): read, wait, and never leave a child behind.


def read_until(fd: int, pattern: str, timeout: float = 20.0) -> str:
    """Read a pseudo-terminal until ``pattern`` shows up (or the child closes it)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError as exc:  # EIO: the child closed the terminal
            if exc.errno == errno.EIO:
                break
            raise
        if not chunk:
            break
        seen += chunk
        if re.search(pattern, seen.decode(errors="replace")):
            break
    return seen.decode(errors="replace")


def wait_or_kill(pid: int, timeout: float) -> int | None:
    """The child's exit status, or None after killing it at the deadline: a failing test never leaves a
    reproml waiting at a prompt behind it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


def wait_until_reading_the_terminal(pid: int, timeout: float = 30.0) -> None:
    """Until the child sleeps in a terminal read. A Ctrl-C that lands between printing a prompt and reading
    the answer sets Python's signal flag without interrupting the read that follows (CPython checks the flag
    when the read is interrupted), so the child would wait for input; a person would press Ctrl-C again."""
    wchan = Path(f"/proc/{pid}/wchan")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if wchan.read_text() in ("wait_woken", "n_tty_read"):
                return
        except OSError:
            return  # no /proc here, or the child is gone: the assertions below tell
        time.sleep(0.02)


def http_status(url: str, token: str | None = None) -> int:
    """The HTTP status of a GET (with Jupyter's ``Authorization: token``), never through a proxy."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
