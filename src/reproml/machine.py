"""Facts about this machine, read once and shared by `reproml templates`, `reproml new` and `reproml doctor`.

:func:`gather` probes the tools on PATH (and their versions), Nix (version, whether ``nix-command`` and
``flakes`` are enabled), the OS (system, architecture, libc, NixOS) and the NVIDIA driver (through
:func:`reproml.gpu.detect_driver`). Every probe has a timeout and never raises: an odd answer becomes a
``problem`` string on the fact it concerns.

:func:`readiness` is the one "runs here" rule, :func:`recommend` the one recommendation; both only read facts,
so templates, new and doctor cannot disagree.

The "runs here" rule
--------------------
- the preset's manager (``pixi`` or ``uv``) is on PATH. reproml's own bundled uv does not count: the user's
  shell and the project's ``.envrc`` cannot see it (see :func:`reproml.tools.uv_on_path`);
- presets that need Nix (``pythonml``'s dev shell, ``nixos-pythonml``) need a usable Nix: version >= 2.18
  (nixpkgs ``lib/minver.nix``) with ``nix-command`` and ``flakes`` enabled; ``flake-python-ml`` needs only
  Pixi (its Nix is optional);
- ``nixos-pythonml`` also needs NixOS.

How flakes are detected
-----------------------
``nix eval --raw --expr ...`` with no extra flags prints ``builtins.nixVersion`` and whether
``builtins.getFlake`` exists (it does only with the ``flakes`` feature on). With ``nix-command`` off, nix
fails with "experimental Nix feature 'nix-command' is disabled" (checked with nix 2.8); the version then
comes from ``nix --version``. The user's settings (``NIX_CONFIG``, ``~/.config/nix/nix.conf``,
``/etc/nix/nix.conf``) are honoured because nix reads them itself.

Test seams: ``REPROML_OS_RELEASE`` (an os-release file to read instead of ``/etc/os-release``), the
``REPROML_CUDA_DRIVER_VERSION`` / ``UV_CUDA_DRIVER_VERSION`` variables of reproml.gpu, and PATH.
"""

from __future__ import annotations

import os
import platform
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reproml import gpu, process, tools

if TYPE_CHECKING:
    from reproml.presets import Preset

__all__ = [
    "NIX_CONF_LINE",
    "NIX_MIN_VERSION",
    "TOOLS",
    "MachineFacts",
    "NixFacts",
    "Readiness",
    "ToolFacts",
    "gather",
    "install_hint",
    "readiness",
    "recommend",
]

TOOLS = ("uv", "pixi", "nix", "direnv", "git", "nvidia-smi")
TOOL_TIMEOUT = 5.0
# The oldest Nix that current nixpkgs evaluates with (nixpkgs lib/minver.nix).
NIX_MIN_VERSION = (2, 18)
NIX_CONF = "~/.config/nix/nix.conf"
NIX_CONF_LINE = "experimental-features = nix-command flakes"
OS_RELEASE_FILES = (Path("/etc/os-release"), Path("/usr/lib/os-release"))

# One command (or exact edit) per missing tool; used in readiness problems and doctor's fixes.
INSTALL = {
    "uv": "curl -LsSf https://astral.sh/uv/install.sh | sh",
    "pixi": "curl -fsSL https://pixi.sh/install.sh | sh",
    "nix": "sh <(curl -L https://nixos.org/nix/install) --daemon",
    "direnv": 'apt install direnv (or brew install direnv), then add eval "$(direnv hook bash)" to ~/.bashrc',
    "git": "apt install git (or brew install git)",
    "nvidia-smi": "install the NVIDIA driver of your distribution (nvidia-smi comes with it)",
}
UV_ON_PATH_FIX = "uv tool install reproml --with-executables-from uv"

_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)*(?:[-+~][0-9A-Za-z.+-]*)?)")
_NIX_EVAL = '"${builtins.nixVersion} ${if builtins ? getFlake then "flakes-on" else "flakes-off"}"'


@dataclass(frozen=True)
class ToolFacts:
    name: str
    path: str | None  # on PATH, or None
    version: str | None = None
    problem: str | None = None  # the version probe failed or timed out

    @property
    def found(self) -> bool:
        return self.path is not None


@dataclass(frozen=True)
class NixFacts:
    version: str | None = None
    nix_command: bool | None = None  # None: unknown (no nix, or nix gave an answer we cannot read)
    flakes: bool | None = None
    problem: str | None = None

    @property
    def new_enough(self) -> bool:
        return self.version is not None and not older(self.version, NIX_MIN_VERSION)

    @property
    def features_on(self) -> bool:
        return bool(self.nix_command and self.flakes)

    @property
    def usable(self) -> bool:
        """Nix that can evaluate current nixpkgs flakes here: >= 2.18 with nix-command and flakes on."""
        return self.new_enough and self.features_on


@dataclass(frozen=True)
class MachineFacts:
    tools: dict[str, ToolFacts]  # every tool in TOOLS; ``path`` is what the user's shell runs
    uv_bundled: str | None  # reproml's own uv (the `uv` PyPI package), found or not, None if absent
    nix: NixFacts
    system: str
    arch: str
    libc: str
    os_name: str
    nixos: bool
    driver: gpu.Driver
    seconds: float = 0.0  # how long gather() took

    def found(self, tool: str) -> bool:
        facts = self.tools.get(tool)
        return facts is not None and facts.found

    @property
    def uv_for_reproml(self) -> str | None:
        """The uv reproml itself runs: the one on PATH, else its bundled copy (tools.uv_executable)."""
        return self.tools["uv"].path or self.uv_bundled

    def to_dict(self) -> dict[str, object]:
        return {
            "tools": {name: {"path": t.path, "version": t.version} for name, t in self.tools.items()},
            "uv_bundled": self.uv_bundled,
            "nix": {
                "version": self.nix.version,
                "nix_command": self.nix.nix_command,
                "flakes": self.nix.flakes,
                "usable": self.nix.usable,
            },
            "system": self.system,
            "arch": self.arch,
            "libc": self.libc,
            "os_name": self.os_name,
            "nixos": self.nixos,
            "nvidia_driver": self.driver.version,
            "driver_source": self.driver.source,
        }


@dataclass(frozen=True)
class Readiness:
    runs: bool
    problems: list[str] = field(default_factory=list)  # one line each: what is missing and how to get it


# ----------------------------------------------------------------------------------------------- probes


def older(version: str, minimum: tuple[int, ...]) -> bool:
    parts = [int(p) for p in re.findall(r"\d+", version)[: len(minimum)]]
    return bool(parts) and tuple(parts) < minimum


def shorten(text: str, width: int = 200) -> str:
    """``text`` on one line, at most about ``width`` characters, cut only between words (with an ellipsis)."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    if flat[width - 1] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    elif " " not in cut:  # one word longer than width: keep the word whole rather than break it
        cut = flat.split(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def _run(argv: list[str], timeout: float) -> process.Completed:
    return process.run(argv, timeout=timeout, check=False, extra_env={"NO_COLOR": "1"})


def probe_version(tool: str, path: str, timeout: float | None = None) -> ToolFacts:
    timeout = TOOL_TIMEOUT if timeout is None else timeout
    flag = "version" if tool == "direnv" else "--version"
    try:
        done = _run([path, flag], timeout)
    except Exception as exc:  # a probe never raises
        return ToolFacts(tool, path, None, f"`{tool} {flag}` failed: {exc}")
    if done.returncode == 124:
        return ToolFacts(tool, path, None, f"`{tool} {flag}` did not answer within {timeout:g} s")
    match = _VERSION.search(done.stdout) if done.ok else None
    if not match:
        why = shorten(process.last_line(done.stderr or done.stdout))
        return ToolFacts(tool, path, None, f"`{tool} {flag}` gave no version ({why})")
    return ToolFacts(tool, path, match.group(1))


def probe_nix(path: str, timeout: float | None = None) -> NixFacts:
    """Nix's version and features, with the user's own settings (no extra flags)."""
    timeout = TOOL_TIMEOUT if timeout is None else timeout
    # `nix --version` alongside `nix eval`: with nix-command off (a stock install) both answers are needed.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nix-version") as pool:
        version_future = pool.submit(probe_version, "nix", path, timeout)
        try:
            done = _run([path, "eval", "--raw", "--expr", _NIX_EVAL], timeout)
        except Exception as exc:
            return NixFacts(problem=f"`nix eval` failed: {exc}")
        version_facts = _safe(version_future.result, ToolFacts("nix", path, None, "the probe failed"))
    text = f"{done.stdout}\n{done.stderr}"
    match = re.fullmatch(r"\s*(\S+) flakes-(on|off)\s*", done.stdout) if done.ok else None
    if match:
        return NixFacts(match.group(1), True, match.group(2) == "on")
    if "'nix-command' is disabled" in text:
        return NixFacts(version_facts.version, False, None, version_facts.problem)
    if done.returncode == 124:
        why = f"`nix eval` did not answer within {timeout:g} s"
    else:
        why = f"`nix eval` gave an unexpected answer ({shorten(process.last_line(text), 120)})"
    return NixFacts(version_facts.version, None, None, version_facts.problem or why)


def read_os_release() -> dict[str, str]:
    seam = os.environ.get("REPROML_OS_RELEASE")
    candidates = (Path(seam),) if seam else OS_RELEASE_FILES
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        data = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.lstrip().startswith("#"):
                data[key.strip()] = value.strip().strip("'\"")
        return data
    return {}


def libc_version() -> str:
    try:
        found = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):
        found = None
    if found:
        return found
    if platform.system() == "Linux":
        if any(Path("/lib").glob("ld-musl-*.so.1")):
            return "musl"
        name, version = platform.libc_ver()
        return f"{name} {version}".strip() or "unknown"
    return "n/a"


def _safe(fn, default):  # type: ignore[no-untyped-def]
    try:
        return fn()
    except Exception:  # a probe must never take its caller down
        return default


def gather(*, versions: bool = True) -> MachineFacts:
    """Every machine fact, probed concurrently; never raises.

    ``versions=False`` skips the ``--version`` calls of the ordinary tools (paths only); Nix is always
    asked about its version and features when it is on PATH, because whether Nix presets run depends on them.
    """
    import time

    started = time.perf_counter()
    paths = {tool: _safe(lambda t=tool: process.which(t), None) for tool in TOOLS}
    uv_bundled = None if paths["uv"] else _safe(tools.uv_bundled, None)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="machine") as pool:
        driver_future = pool.submit(gpu.detect_driver)
        nix_future = pool.submit(probe_nix, paths["nix"]) if paths["nix"] else None
        version_futures = {}
        if versions:
            for tool, path in paths.items():
                if tool == "nvidia-smi":  # its version is the driver's: detect_driver reads it
                    continue
                if tool == "uv" and not path and uv_bundled:
                    version_futures[tool] = pool.submit(probe_version, tool, uv_bundled)
                elif path and tool != "nix":
                    version_futures[tool] = pool.submit(probe_version, tool, path)
        os_release = _safe(read_os_release, {})
        libc = _safe(libc_version, "unknown")
        nix = _safe(nix_future.result, NixFacts(problem="the Nix probe failed")) if nix_future else NixFacts()
        driver = _safe(driver_future.result, gpu.Driver(None, "none", "the driver probe failed"))
        facts: dict[str, ToolFacts] = {}
        for tool, path in paths.items():
            future = version_futures.get(tool)
            probed = _safe(future.result, ToolFacts(tool, path, None, "the probe failed")) if future else None
            version = probed.version if probed else (nix.version if tool == "nix" else None)
            problem = probed.problem if probed else (nix.problem if tool == "nix" else None)
            facts[tool] = ToolFacts(tool, path, version, problem)
    system = platform.system()
    return MachineFacts(
        tools=facts,
        uv_bundled=uv_bundled,
        nix=nix,
        system=system,
        arch=platform.machine(),
        libc=libc,
        os_name=os_release.get("PRETTY_NAME") or os_release.get("NAME") or f"{system} {platform.release()}",
        nixos=os_release.get("ID") == "nixos",
        driver=driver,
        seconds=time.perf_counter() - started,
    )


# ----------------------------------------------------------------------------------------------- rules


def install_hint(tool: str, facts: MachineFacts | None = None) -> str:
    """The one-line way to get ``tool`` onto PATH."""
    if tool == "uv" and facts is not None and facts.uv_bundled and not facts.found("uv"):
        folder = str(Path(facts.uv_bundled).parent)
        return f"{UV_ON_PATH_FIX} (or pipx install --include-deps reproml, or add {folder} to PATH)"
    return INSTALL[tool]


def nix_problem(facts: MachineFacts) -> str | None:
    """Why Nix presets do not run here (one line with the fix), or None when Nix is usable."""
    nix = facts.nix
    if not facts.found("nix"):
        return f"nix is not installed (install: {INSTALL['nix']}, then add `{NIX_CONF_LINE}` to {NIX_CONF})"
    if nix.usable:
        return None
    minimum = ".".join(map(str, NIX_MIN_VERSION))
    parts = []
    if nix.version is None:
        parts.append(f"cannot read the Nix version ({nix.problem or 'no answer'})")
    elif not nix.new_enough:
        parts.append(f"nix {nix.version} is older than {minimum}, which current nixpkgs needs")
    if nix.nix_command is False or nix.flakes is False:
        off = [name for name, on in (("nix-command", nix.nix_command), ("flakes", nix.flakes)) if on is False]
        parts.append(f"Nix's {' and '.join(off)} feature{'s are' if len(off) > 1 else ' is'} off")
    elif nix.nix_command is None and nix.version is not None:
        parts.append(f"cannot tell whether flakes are on ({nix.problem or 'no answer'})")
    fixes = []
    if nix.version is not None and not nix.new_enough:
        fixes.append(f"upgrade: {INSTALL['nix']}")
    if not nix.features_on:
        fixes.append(f"enable: add `{NIX_CONF_LINE}` to {NIX_CONF}")
    return "; ".join(parts) + f" ({'; '.join(fixes)})" if fixes else "; ".join(parts)


def readiness(preset: Preset, facts: MachineFacts) -> Readiness:
    """Whether ``preset``'s environment can be created and entered on this machine, and what is missing."""
    problems: list[str] = []
    manager = preset.manager
    if not facts.found(manager):
        if manager == "uv" and facts.uv_bundled:
            problems.append(
                f"uv is not on PATH (reproml's own copy is at {facts.uv_bundled}, but your shell and .envrc "
                f"cannot see it; install: {install_hint('uv', facts)})"
            )
        else:
            problems.append(f"{manager} is not installed (install: {install_hint(manager, facts)})")
    if preset.nix in ("dev-shell", "full"):
        why = nix_problem(facts)
        if why:
            problems.append(why)
    if preset.nix == "full" and not facts.nixos:
        problems.append(
            f"this machine is not NixOS ({facts.os_name}): {preset.name} runs on NixOS only "
            "(use: reproml new PATH -t pythonml, or -t flake-python-ml)"
        )
    return Readiness(not problems, problems)


def recommend(facts: MachineFacts) -> tuple[str, str]:
    """(preset name, one-line reason): pixi -> global-python-ml; usable Nix -> pythonml; else uv-python-ml."""
    from reproml.presets import PRESETS

    if readiness(PRESETS["global-python-ml"], facts).runs:
        return "global-python-ml", "pixi is installed: the most shareable setup, conda-forge and PyPI"
    if readiness(PRESETS["pythonml"], facts).runs:
        return (
            "pythonml",
            f"Nix {facts.nix.version} with flakes and uv are here, pixi is not: uv + a Nix dev shell",
        )
    ready = readiness(PRESETS["uv-python-ml"], facts)
    if ready.runs:
        return "uv-python-ml", "pixi is not installed and Nix is not usable here; uv is: the lightest setup"
    return "uv-python-ml", "the lightest setup, once uv is on PATH: " + ready.problems[0]
