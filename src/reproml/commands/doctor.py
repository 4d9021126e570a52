"""`reproml doctor [PATH] [--json]`: tools, machine, GPU driver and project, each finding with a one-line fix.

Every finding is ``ok``, ``warning`` or ``error``; the command exits 1 when any finding is an error, else 0.
Every probe has a timeout and runs concurrently with the others; odd output becomes a warning, never a
traceback.

Finding ids (stable; a finding appears only where it applies)
-------------------------------------------------------------
tools:    ``tool.uv``, ``tool.pixi``, ``tool.nix``, ``tool.direnv``, ``tool.git``, ``tool.nvidia-smi``
machine:  ``machine.os`` (OS, architecture, libc), ``machine.gpu`` (NVIDIA driver, newest CUDA build),
          on NixOS only: ``machine.nix-ld``, ``machine.opengl-driver``
project:  ``project.found`` (only when PATH is missing, not a project, or its answers are unreadable),
          ``project.preset``, ``project.tools`` (tools the preset needs, e.g. Nix), ``project.lock``,
          ``project.cuda`` (the PyTorch build the project asks for versus the driver), ``project.direnv``
          (only when the project has an ``.envrc``)
any:      ``tool.internal``, ``machine.internal``, ``project.internal``: a warning, only when a group of
          checks itself failed (a bug to report); the other groups still run

JSON (``--json``), version 1
----------------------------
::

    {
      "version": 1,
      "ok": true,                      # false when any finding is an error (exit code 1)
      "counts": {"ok": 9, "warning": 2, "error": 0},
      "findings": [{"id": "tool.uv", "category": "tools", "status": "ok",   # ok | warning | error
                    "summary": "uv 0.13.9 (/usr/bin/uv)", "fix": null}, ...],
      "tools": {"uv": {"path": "/usr/bin/uv", "version": "0.13.9"},
                "pixi": {"path": null, "version": null}, ...},           # every tool in TOOLS
      "machine": {"system": "Linux", "arch": "x86_64", "libc": "glibc 2.36",
                  "os_name": "Debian GNU/Linux 12 (bookworm)", "nixos": false,
                  "nvidia_driver": "550.54.14" | null,
                  "driver_source": "/proc/driver/nvidia/version",     # or a seam variable, nvidia-smi, none
                  "newest_cuda_build": "cu128" | null},
      "project": null | {"root": "/abs/path", "preset": "uv-python-ml" | null, "manager": "uv" | "pixi",
                         "framework": "torch" | "none" | null,
                         "accelerator": "auto" | "cpu" | "cuda" | "cuXXX" | null,
                         "cuda_build": "cpu" | "cuXXX" | null,     # what this machine gets
                         "lock": "up-to-date" | "stale" | "missing" | "unknown",
                         "envrc": "allowed" | "not-allowed" | "denied" | "absent" | "unknown"}
    }

Keys are only ever added within version 1; a removal or change of meaning bumps ``version``.

Test seams (environment variables)
----------------------------------
``REPROML_CUDA_DRIVER_VERSION`` (then ``UV_CUDA_DRIVER_VERSION``): a driver version poses as that NVIDIA
driver, ``none`` as no GPU (see reproml.gpu). ``REPROML_OS_RELEASE``: the os-release file to read instead of
``/etc/os-release`` (``ID=nixos`` makes the machine NixOS). On NixOS, nix-ld counts as present when ``NIX_LD``
is set or one of ``NIX_LD_MARKERS`` exists; libcuda is looked for in ``OPENGL_DRIVER_LIB`` (module constants).
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reproml import gpu, process
from reproml.errors import ReproError

JSON_VERSION = 1
STATUSES = ("ok", "warning", "error")
TOOLS = ("uv", "pixi", "nix", "direnv", "git", "nvidia-smi")
TOOL_TIMEOUT = 5.0
LOCK_TIMEOUT = 30.0
DIRENV_TIMEOUT = 5.0
# The oldest Nix that current nixpkgs evaluates with (nixpkgs lib/minver.nix).
NIX_MIN_VERSION = (2, 18)
OS_RELEASE_FILES = (Path("/etc/os-release"), Path("/usr/lib/os-release"))
NIX_LD_MARKERS = (Path("/run/current-system/sw/share/nix-ld"),)
OPENGL_DRIVER_LIB = Path("/run/opengl-driver/lib")

INSTALL_FIX = {
    "uv": "reinstall reproml (uv ships with it: pip install --force-reinstall reproml) or install uv",
    "pixi": "install pixi: curl -fsSL https://pixi.sh/install.sh | sh",
    "nix": "install Nix (the official installer or your distribution's package) and enable flakes",
    "direnv": "install direnv (e.g. apt install direnv) and hook it into your shell: "
    'eval "$(direnv hook bash)"',
    "git": "install git (e.g. apt install git)",
    "nvidia-smi": "install the NVIDIA driver utilities (nvidia-smi comes with the driver)",
}


@dataclass(frozen=True)
class Finding:
    id: str
    category: str  # "tools", "machine" or "project"
    status: str  # "ok", "warning" or "error"
    summary: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "status": self.status,
            "summary": self.summary,
            "fix": self.fix,
        }


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    tools: dict[str, dict[str, str | None]] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    project: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not any(f.status == "error" for f in self.findings)

    def counts(self) -> dict[str, int]:
        return {status: sum(f.status == status for f in self.findings) for status in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "ok": self.ok,
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
            "tools": self.tools,
            "machine": self.machine,
            "project": self.project,
        }

    def add(self, id: str, status: str, summary: str, fix: str | None = None) -> None:
        category = {"tool": "tools", "machine": "machine", "project": "project"}[id.split(".", 1)[0]]
        self.findings.append(Finding(id, category, status, summary, fix))


# ----------------------------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class ToolProbe:
    path: str | None
    version: str | None
    problem: str | None = None


def _tool_path(tool: str) -> str | None:
    if tool == "uv":
        from reproml.tools import uv_executable

        return uv_executable()
    return process.which(tool)


_TOOL_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)*(?:[-+~][0-9A-Za-z.+-]*)?)")


def probe_tool(tool: str) -> ToolProbe:
    path = _tool_path(tool)
    if path is None:
        return ToolProbe(None, None)
    if tool == "nvidia-smi":  # its version is the driver's: machine.gpu reports it without another slow call
        return ToolProbe(path, None)
    flag = "version" if tool == "direnv" else "--version"
    done = process.run([path, flag], timeout=TOOL_TIMEOUT, check=False, extra_env={"NO_COLOR": "1"})
    if done.returncode == 124:
        return ToolProbe(path, None, f"`{tool} {flag}` did not answer within {TOOL_TIMEOUT:g} s")
    match = _TOOL_VERSION.search(done.stdout) if done.ok else None
    if not match:
        why = process.last_line(done.stderr or done.stdout)[:200]
        return ToolProbe(path, None, f"`{tool} {flag}` gave no version ({why})")
    return ToolProbe(path, match.group(1))


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


@dataclass(frozen=True)
class LockProbe:
    state: str  # up-to-date, stale, missing, unknown
    status: str
    summary: str
    fix: str | None


def probe_uv_lock(root: Path, uv: str | None, *, created_by_reproml: bool) -> LockProbe:
    if not (root / "uv.lock").is_file():
        status = "error" if created_by_reproml else "warning"
        return LockProbe("missing", status, "no uv.lock: the environment is not pinned", "uv lock")
    if uv is None:
        return LockProbe("unknown", "warning", "cannot check uv.lock: uv not found", INSTALL_FIX["uv"])
    done = process.run(
        [uv, "lock", "--check", "--offline"],
        cwd=root,
        timeout=LOCK_TIMEOUT,
        check=False,
        extra_env={"NO_COLOR": "1", "UV_NO_PROGRESS": "1"},
    )
    text = f"{done.stdout}\n{done.stderr}"
    if done.ok:
        return LockProbe("up-to-date", "ok", "uv.lock is up to date with pyproject.toml", None)
    if done.returncode == 124:
        return LockProbe(
            "unknown",
            "warning",
            f"`uv lock --check` did not finish within {LOCK_TIMEOUT:g} s",
            "run `uv lock --check` yourself to see why",
        )
    if "needs to be updated" in text:
        return LockProbe("stale", "error", "uv.lock is out of date with pyproject.toml", "uv lock")
    if "network was disabled" in text or "offline" in text.lower():
        return LockProbe(
            "unknown",
            "warning",
            "uv.lock may be out of date: uv had to re-resolve, which needs the network (checked offline)",
            "uv lock (or check online: uv lock --check)",
        )
    return LockProbe(
        "unknown",
        "warning",
        f"cannot check uv.lock: {_first_error(text)}",
        "run `uv lock --check` to see the whole message",
    )


def probe_pixi_lock(root: Path, pixi: str | None) -> LockProbe:
    if not (root / "pixi.lock").is_file():
        return LockProbe("missing", "error", "no pixi.lock: the environment is not pinned", "pixi lock")
    if pixi is None:
        return LockProbe(
            "unknown", "warning", "cannot check pixi.lock: pixi is not installed", INSTALL_FIX["pixi"]
        )
    done = process.run(
        [pixi, "lock", "--check", "--dry-run", "--no-progress"],
        cwd=root,
        timeout=LOCK_TIMEOUT,
        check=False,
        extra_env={"NO_COLOR": "1", "PIXI_COLOR": "never"},
    )
    text = f"{done.stdout}\n{done.stderr}"
    if done.ok:
        return LockProbe("up-to-date", "ok", "pixi.lock is up to date with the manifest", None)
    if done.returncode == 124:
        return LockProbe(
            "unknown",
            "warning",
            f"`pixi lock --check` did not finish within {LOCK_TIMEOUT:g} s",
            "run `pixi lock --check --dry-run` yourself to see why",
        )
    if "unexpected argument" in text:
        return LockProbe(
            "unknown",
            "warning",
            "this pixi cannot check pixi.lock without rewriting it",
            "upgrade pixi (pixi self-update), or run `pixi lock`",
        )
    if re.search(r"^\s*(×|error)", text, re.IGNORECASE | re.MULTILINE):
        return LockProbe(
            "unknown",
            "warning",
            f"cannot check pixi.lock: {_first_error(text)}",
            "run `pixi lock --check --dry-run` to see the whole message",
        )
    return LockProbe("stale", "error", "pixi.lock is out of date with the manifest", "pixi lock")


def _first_error(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip().lstrip("×").strip()
        if stripped.lower().startswith("error"):
            return stripped[:200]
    return process.last_line(text)[:200]


@dataclass(frozen=True)
class EnvrcProbe:
    state: str  # allowed, not-allowed, denied, unknown
    detail: str | None = None


def probe_direnv(root: Path, direnv: str) -> EnvrcProbe:
    done = process.run(
        [direnv, "status", "--json"],
        cwd=root,
        timeout=DIRENV_TIMEOUT,
        check=False,
        extra_env={"NO_COLOR": "1"},
    )
    if done.returncode == 124:
        return EnvrcProbe("unknown", f"`direnv status` did not answer within {DIRENV_TIMEOUT:g} s")
    if not done.ok:
        return EnvrcProbe(
            "unknown", f"`direnv status` failed: {process.last_line(done.stderr or done.stdout)}"
        )
    return parse_direnv_status(done.stdout, root / ".envrc")


def parse_direnv_status(text: str, envrc: Path) -> EnvrcProbe:
    """Reads ``direnv status --json`` (2.33+: state.foundRC.allowed 0 allowed / 1 not allowed / 2 denied)
    or the text of older versions, which ignore --json (``Found RC path ...``, ``Found RC allowed true``)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            found = (json.loads(stripped).get("state") or {}).get("foundRC")
        except (ValueError, AttributeError):
            return EnvrcProbe("unknown", "`direnv status --json` printed something that is not JSON")
        if not isinstance(found, dict):
            return EnvrcProbe("unknown", "direnv found no .envrc here")
        if not _same_file(found.get("path"), envrc):
            return EnvrcProbe("unknown", f"direnv looks at {found.get('path')}, not {envrc}")
        allowed = found.get("allowed")
        if isinstance(allowed, bool):  # checked first: True == 1 and False == 0 in Python
            return EnvrcProbe("allowed" if allowed else "not-allowed")
        states = {0: "allowed", 1: "not-allowed", 2: "denied"}
        if isinstance(allowed, int) and allowed in states:
            return EnvrcProbe(states[allowed])
        return EnvrcProbe("unknown", f"direnv reported allowed={allowed!r}")
    path = allowed_text = None
    for line in stripped.splitlines():
        if line.startswith("Found RC path "):
            path = line.removeprefix("Found RC path ").strip()
        elif line.startswith("Found RC allowed "):
            allowed_text = line.removeprefix("Found RC allowed ").strip().lower()
    if path is None:
        return EnvrcProbe("unknown", "direnv found no .envrc here")
    if not _same_file(path, envrc):
        return EnvrcProbe("unknown", f"direnv looks at {path}, not {envrc}")
    mapping = {"true": "allowed", "false": "not-allowed", "0": "allowed", "1": "not-allowed", "2": "denied"}
    if allowed_text in mapping:
        return EnvrcProbe(mapping[allowed_text])
    return EnvrcProbe("unknown", f"unexpected `direnv status` output: {allowed_text!r}")


def _same_file(reported: object, envrc: Path) -> bool:
    if not isinstance(reported, str) or not reported:
        return False
    try:
        return Path(reported).resolve() == envrc.resolve()
    except OSError:
        return False


# ----------------------------------------------------------------------------------------------- diagnose


def diagnose(path: str | Path | None = None) -> Report:
    """Everything `reproml doctor` reports, as data. ``path``: a folder in the project (default: cwd)."""
    report = Report()
    project, project_problem = _find_project(path)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="doctor") as pool:
        tool_futures = {tool: pool.submit(probe_tool, tool) for tool in TOOLS}
        driver_future = pool.submit(gpu.detect_driver)
        lock_future = envrc_future = None
        if project is not None:
            uv_path = _safe(lambda: _tool_path("uv"), None)
            pixi_path = _safe(lambda: _tool_path("pixi"), None)
            if project.manager == "uv":
                lock_future = pool.submit(
                    probe_uv_lock, project.root, uv_path, created_by_reproml=project.preset is not None
                )
            else:
                lock_future = pool.submit(probe_pixi_lock, project.root, pixi_path)
            direnv_path = _safe(lambda: process.which("direnv"), None)
            if (project.root / ".envrc").is_file() and direnv_path:
                envrc_future = pool.submit(probe_direnv, project.root, direnv_path)
        machine = _machine_info()
        tools = {
            tool: _result(future, ToolProbe(None, None, "the probe failed"))
            for tool, future in tool_futures.items()
        }
        driver = _result(driver_future, gpu.Driver(None, "none", "the driver probe failed"))
        lock = _result(lock_future, None)
        envrc = _result(envrc_future, None)

    machine.update(
        nvidia_driver=driver.version,
        driver_source=driver.source,
        newest_cuda_build=gpu.newest_cuda_build(driver.version),
    )
    report.machine = machine
    report.tools = {tool: {"path": probe.path, "version": probe.version} for tool, probe in tools.items()}
    _guarded(report, "tool.internal", _tool_findings, report, tools, project, driver)
    _guarded(report, "machine.internal", _machine_findings, report, machine, driver, project)
    if project_problem:
        report.add("project.found", *project_problem)
    if project is not None:
        _guarded(
            report,
            "project.internal",
            _project_findings,
            report,
            project,
            tools,
            machine,
            driver,
            lock,
            envrc,
        )
    return report


def _guarded(report: Report, fid: str, fn: Callable[..., None], *args: Any) -> None:
    """Run one group of checks; a bug or an odd platform becomes a warning, never a traceback."""
    try:
        fn(*args)
    except Exception as exc:
        report.add(
            fid,
            "warning",
            f"a check failed unexpectedly: {type(exc).__name__}: {exc}",
            "please report this with the output of `reproml doctor --json`",
        )


def _safe(fn: Callable[[], Any], default: Any) -> Any:
    try:
        return fn()
    except Exception:  # a probe must never take doctor down
        return default


def _result(future: Future[Any] | None, default: Any) -> Any:
    if future is None:
        return default
    try:
        return future.result()
    except Exception:  # every probe already has a timeout; this catches bugs and odd platforms
        return default


def _find_project(path: str | Path | None) -> tuple[Any, tuple[str, str, str | None] | None]:
    from reproml.project import find_project

    explicit = path is not None
    target = Path(path if path is not None else ".").expanduser()
    try:
        if not target.exists():
            return None, (
                "error",
                f"{target} does not exist",
                "pass the project folder (reproml doctor PATH)",
            )
        return find_project(target), None
    except ReproError as exc:
        if "is not inside a Python project" in str(exc):
            if not explicit:
                return None, None  # doctor outside a project: machine checks only
            return None, (
                "warning",
                f"{target.resolve()} is not inside a reproml or Python project",
                "pass the project folder, or create one: reproml new PATH",
            )
        return None, ("error", exc.one_line(), "fix or remove .copier-answers.yml (see `reproml templates`)")
    except Exception as exc:  # unreadable manifest and the like: a finding, not a traceback
        return None, (
            "error",
            f"cannot read the project at {target}: {exc}",
            "check that its pyproject.toml and .copier-answers.yml are readable and valid",
        )


def _machine_info() -> dict[str, Any]:
    os_release = _safe(read_os_release, {})
    system = platform.system()
    return {
        "system": system,
        "arch": platform.machine(),
        "libc": _safe(libc_version, "unknown"),
        "os_name": os_release.get("PRETTY_NAME")
        or os_release.get("NAME")
        or f"{system} {platform.release()}",
        "nixos": os_release.get("ID") == "nixos",
    }


# ----------------------------------------------------------------------------------------------- findings


def _tool_findings(report: Report, tools: dict[str, ToolProbe], project: Any, driver: gpu.Driver) -> None:
    required = set(_required_tools(project)) if project is not None else set()
    for tool, probe in tools.items():
        fid = f"tool.{tool}"
        if probe.path is None:
            if tool == "nvidia-smi":
                if driver.version:
                    report.add(
                        fid, "ok", f"nvidia-smi not found (driver {driver.version} read from {driver.source})"
                    )
                else:
                    report.add(fid, "ok", "nvidia-smi not found (no NVIDIA GPU needs it)")
            elif tool in required or tool == "uv":
                report.add(
                    fid,
                    "error",
                    f"{tool} not found" + (" (this project needs it)" if tool in required else ""),
                    INSTALL_FIX[tool],
                )
            elif tool == "nix" or (tool == "pixi" and project is not None):
                why = "not needed by this project" if project is not None else "only the Nix presets need it"
                report.add(fid, "ok", f"{tool} not found ({why})")
            else:
                why = {
                    "pixi": "the default preset, global-python-ml, needs it",
                    "direnv": "projects will not activate when you cd into them",
                    "git": "reproml new cannot commit, Nix flakes cannot see files",
                }[tool]
                report.add(fid, "warning", f"{tool} not found: {why}", INSTALL_FIX[tool])
            continue
        if tool == "nvidia-smi":
            report.add(fid, "ok", f"nvidia-smi ({probe.path})")
            continue
        if probe.problem:
            report.add(
                fid,
                "warning",
                f"{tool} found at {probe.path}, but {probe.problem}",
                f"check that {tool} runs: `{probe.path} {'version' if tool == 'direnv' else '--version'}`",
            )
            continue
        if tool == "nix" and probe.version and _older(probe.version, NIX_MIN_VERSION):
            report.add(
                fid,
                "warning",
                f"nix {probe.version} is older than {'.'.join(map(str, NIX_MIN_VERSION))}: "
                "current nixpkgs will not evaluate, so flakes from nixpkgs fail",
                "install Nix >= 2.18 (the official installer; Debian 12's nix-bin is 2.8)",
            )
            continue
        report.add(fid, "ok", f"{tool} {probe.version} ({probe.path})")


def _older(version: str, minimum: tuple[int, ...]) -> bool:
    parts = [int(p) for p in re.findall(r"\d+", version)[: len(minimum)]]
    return bool(parts) and tuple(parts) < minimum


def _required_tools(project: Any) -> tuple[str, ...]:
    return project.preset.required_tools() if project.preset is not None else (project.manager,)


def _machine_findings(report: Report, machine: dict[str, Any], driver: gpu.Driver, project: Any) -> None:
    system, arch, libc = machine["system"], machine["arch"], machine["libc"]
    where = f"{system} {arch}" + (f", {libc}" if libc not in ("n/a", "") else "") + f" ({machine['os_name']})"
    if system == "Linux" and libc.startswith("musl"):
        report.add(
            "machine.os",
            "warning",
            f"{where}: PyTorch publishes no wheels for musl libc",
            "use a glibc distribution (or a glibc container) for PyTorch projects",
        )
    elif system == "Darwin" and arch == "x86_64":
        report.add(
            "machine.os",
            "warning",
            f"{where}: Intel macOS gets PyTorch 2.2 at most, CPU only",
            "use Apple silicon or Linux for current PyTorch",
        )
    elif system not in ("Linux", "Darwin", "Windows"):
        report.add(
            "machine.os",
            "warning",
            f"{where}: not a platform reproml's presets target",
            "use Linux, macOS or Windows",
        )
    else:
        report.add("machine.os", "ok", where)

    newest = gpu.newest_cuda_build(driver.version)
    posed = f" (posed by {driver.source})" if driver.source in gpu.DRIVER_ENV_VARS else ""
    if driver.problem and driver.version is None:
        report.add(
            "machine.gpu",
            "warning",
            f"NVIDIA driver unreadable: {driver.problem}; assuming no GPU",
            "check `nvidia-smi`; set REPROML_CUDA_DRIVER_VERSION=<version> to tell reproml the driver",
        )
    elif driver.version is None:
        extra = " (CPU; MPS on Apple silicon)" if system == "Darwin" else ""
        report.add("machine.gpu", "ok", f"no NVIDIA GPU{posed}: PyTorch runs on the CPU{extra}")
    elif newest is None:
        report.add(
            "machine.gpu",
            "warning",
            f"NVIDIA driver {driver.version} is older than every offered CUDA build needs "
            f"(>= {gpu.minimum_driver('cu128')}): PyTorch will run on the CPU",
            f"update the NVIDIA driver to >= {gpu.minimum_driver('cu130')} (cu130) "
            f"or >= {gpu.minimum_driver('cu128')} (cu128)",
        )
    else:
        report.add("machine.gpu", "ok", f"NVIDIA driver {driver.version}{posed}: newest CUDA build {newest}")

    if machine["nixos"]:
        _nixos_findings(report, driver, project)


def _nixos_findings(report: Report, driver: gpu.Driver, project: Any) -> None:
    has_nix_ld = bool(os.environ.get("NIX_LD")) or any(_exists(p) for p in NIX_LD_MARKERS)
    if has_nix_ld:
        report.add("machine.nix-ld", "ok", "nix-ld is enabled: downloaded Python and native wheels can run")
    else:
        # The NixOS preset sets LD_LIBRARY_PATH from its flake; everything else runs generic Linux binaries.
        needs = project is not None and not (project.preset is not None and project.preset.nix == "full")
        report.add(
            "machine.nix-ld",
            "error" if needs else "warning",
            "NixOS without nix-ld: uv-downloaded Python, pixi's packages and native wheels will not start",
            "add `programs.nix-ld.enable = true;` to configuration.nix and run `sudo nixos-rebuild switch`",
        )
    wants_cuda = project is not None and _project_build(project, driver) not in (None, "cpu")
    if driver.version is None and not wants_cuda:
        return
    if _exists(OPENGL_DRIVER_LIB):
        report.add(
            "machine.opengl-driver", "ok", f"{OPENGL_DRIVER_LIB} exists: libcuda is visible to PyTorch"
        )
    else:
        report.add(
            "machine.opengl-driver",
            "error" if wants_cuda else "warning",
            f"{OPENGL_DRIVER_LIB} is missing: PyTorch cannot find libcuda",
            "enable the NVIDIA driver in configuration.nix (hardware.graphics.enable = true; "
            'services.xserver.videoDrivers = ["nvidia"]) and rebuild',
        )


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _accelerator(project: Any) -> tuple[str | None, str | None]:
    """The project's accelerator answer and where it came from (answers, or a foreign project's indexes)."""
    answer = project.answers.get("accelerator")
    if answer is not None:
        return str(answer), ".copier-answers.yml"
    if project.preset is not None:
        return None, None
    builds = sorted(set(re.findall(r"\bcu(\d{3})\b", _read(project.pyproject))))
    return (f"cu{builds[-1]}", "pyproject.toml") if len(builds) == 1 else (None, None)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _project_build(project: Any, driver: gpu.Driver) -> str | None:
    accelerator, _ = _accelerator(project)
    if accelerator is None or accelerator not in gpu.ACCELERATORS:
        return None
    return gpu.choose_build(accelerator, driver.version, platform.system())


def _project_findings(
    report: Report,
    project: Any,
    tools: dict[str, ToolProbe],
    machine: dict[str, Any],
    driver: gpu.Driver,
    lock: LockProbe | None,
    envrc: EnvrcProbe | None,
) -> None:
    preset = project.preset
    accelerator, accelerator_source = _accelerator(project)
    info: dict[str, Any] = {
        "root": str(project.root),
        "preset": preset.name if preset else None,
        "manager": project.manager,
        "framework": project.answers.get("framework"),
        "accelerator": accelerator,
        "cuda_build": _project_build(project, driver),
        "lock": lock.state if lock else "unknown",
        "envrc": "absent"
        if not (project.root / ".envrc").is_file()
        else (envrc.state if envrc else "unknown"),
    }
    report.project = info

    if preset is None:
        report.add(
            "project.preset",
            "ok",
            f"{project.root}: a {project.manager} project not created by reproml (no .copier-answers.yml)",
        )
    elif preset.deprecated:
        report.add(
            "project.preset",
            "warning",
            f"{project.root}: preset {preset.name} ({preset.manager}) is deprecated and works on NixOS only",
            "move to flake-python-ml or pythonml",
        )
    else:
        report.add("project.preset", "ok", f"{project.root}: preset {preset.name} ({preset.manager})")

    required = _required_tools(project)
    missing = [t for t in required if tools.get(t) is None or tools[t].path is None]
    if missing:
        fixes = "; ".join(INSTALL_FIX[t] for t in missing if t in INSTALL_FIX)
        alternative = " (or use the uv-python-ml preset, which needs no Nix)" if "nix" in missing else ""
        report.add(
            "project.tools",
            "error",
            f"this project needs {', '.join(missing)}, not found on this machine",
            fixes + alternative,
        )
    else:
        report.add("project.tools", "ok", f"needs {', '.join(required)}: all found")

    if lock is None:
        report.add("project.lock", "warning", "the lock check did not run", f"run `{project.manager} lock`")
    else:
        report.add("project.lock", lock.status, lock.summary, lock.fix)

    _cuda_finding(report, project, accelerator, accelerator_source, driver, machine["system"])

    if (project.root / ".envrc").is_file():
        if tools.get("direnv") is None or tools["direnv"].path is None:
            report.add(
                "project.direnv",
                "warning",
                ".envrc will not load: direnv is not installed",
                INSTALL_FIX["direnv"],
            )
        elif envrc is None or envrc.state == "unknown":
            detail = envrc.detail if envrc else "the direnv check did not run"
            report.add(
                "project.direnv",
                "warning",
                f"cannot tell whether .envrc is allowed: {detail}",
                f"direnv allow {project.root}",
            )
        elif envrc.state == "allowed":
            report.add("project.direnv", "ok", ".envrc is allowed: direnv activates the environment on cd")
        else:
            what = "denied (direnv deny)" if envrc.state == "denied" else "not yet allowed"
            report.add(
                "project.direnv",
                "warning",
                f".envrc is {what}: the environment will not activate on cd",
                f"direnv allow {project.root}",
            )


def _cuda_finding(
    report: Report, project: Any, accelerator: str | None, source: str | None, driver: gpu.Driver, system: str
) -> None:
    if accelerator is None:
        if project.answers.get("framework") == "none":
            report.add("project.cuda", "ok", "no deep-learning framework: no CUDA build needed")
        return
    if accelerator not in gpu.ACCELERATORS:
        report.add(
            "project.cuda",
            "warning",
            f"unknown accelerator {accelerator!r} in {source}",
            f"use one of {', '.join(gpu.ACCELERATORS)}",
        )
        return
    build = gpu.choose_build(accelerator, driver.version, system)
    newest = gpu.newest_cuda_build(driver.version)
    lock_cmd = f"{project.manager} lock"
    update_driver = f"update the NVIDIA driver to >= {gpu.minimum_driver('cu130')}"
    if accelerator == "cpu":
        hint = f" (this machine could run {newest}: accelerator auto would use it)" if newest else ""
        report.add("project.cuda", "ok", f"accelerator cpu: the CPU build of PyTorch{hint}")
    elif system not in ("Linux", "Windows"):
        report.add("project.cuda", "ok", f"accelerator {accelerator}: {system} gets the CPU build of PyTorch")
    elif accelerator == "auto":
        if driver.version and newest is None:
            report.add(
                "project.cuda",
                "warning",
                f"accelerator auto: driver {driver.version} is too old for any CUDA build, so the CPU build",
                update_driver,
            )
        else:
            why = f"driver {driver.version}" if driver.version else "no NVIDIA GPU"
            report.add("project.cuda", "ok", f"accelerator auto: this machine gets {build} ({why})")
    elif accelerator == "cuda":
        if not gpu.supports(driver.version, build):
            why = (
                f"driver {driver.version} is too old for any CUDA build"
                if driver.version
                else "no NVIDIA GPU here"
            )
            report.add(
                "project.cuda",
                "warning",
                f"accelerator cuda installs {build}, but {why}: PyTorch will run on the CPU",
                update_driver
                if driver.version
                else "run it on a machine with an NVIDIA GPU, or use accelerator auto",
            )
        else:
            report.add(
                "project.cuda", "ok", f"accelerator cuda: this machine gets {build} (driver {driver.version})"
            )
    elif driver.version is None:
        report.add(
            "project.cuda",
            "warning",
            f"the project asks for {accelerator} (from {source}) but this machine has no NVIDIA GPU: "
            "large CUDA wheels, and PyTorch will run on the CPU",
            "use accelerator auto or cpu on machines without a GPU",
        )
    elif gpu.supports(driver.version, accelerator):
        report.add(
            "project.cuda",
            "ok",
            f"{accelerator} runs on driver {driver.version} (needs >= {gpu.minimum_driver(accelerator)})",
        )
    else:
        needed = gpu.minimum_driver(accelerator)
        if newest:
            fix = (
                f"switch to {newest} (the newest build this driver supports): replace {accelerator} with "
                f"{newest} in pyproject.toml{_pixi_cuda_hint(project, newest)} and .copier-answers.yml, "
                f"then `{lock_cmd}`; or update the NVIDIA driver to >= {needed}"
            )
        else:
            fix = (
                f"use the CPU build (accelerator cpu, then `{lock_cmd}`) or update the NVIDIA driver "
                f"to >= {gpu.minimum_driver('cu128')}"
            )
        report.add(
            "project.cuda",
            "error",
            f"the project asks for {accelerator} (needs driver >= {needed}) but this machine's driver "
            f"is {driver.version}",
            fix,
        )


def _pixi_cuda_hint(project: Any, build: str) -> str:
    """Pixi projects pin CUDA through cuda-version (cu128 -> 12.8.*), not through a PyTorch index name."""
    if project.manager != "pixi":
        return ""
    return f' (cuda-version = "{build[2:-1]}.{build[-1]}.*")'


# ----------------------------------------------------------------------------------------------- text


_LABELS = {"ok": ("ok", "green"), "warning": ("warning", "yellow"), "error": ("ERROR", "bold red")}
_TITLES = {"tools": "Tools", "machine": "Machine", "project": "Project"}


def render_report(report: Report) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    for category, title in _TITLES.items():
        findings = [f for f in report.findings if f.category == category]
        if not findings:
            continue
        console.print(Text(title, style="bold"))
        for finding in findings:
            label, style = _LABELS[finding.status]
            line = Text("  ")
            line.append(f"{label:<8}", style=style)
            line.append(finding.summary)
            console.print(line)
            if finding.fix:
                console.print(
                    Text(f"{'':10}fix: {finding.fix}", style="dim" if finding.status == "ok" else "")
                )
    counts = report.counts()
    if report.ok and not counts["warning"]:
        console.print(Text("All checks passed.", style="green"))
    else:
        parts = [
            f"{counts['error']} error{'s' * (counts['error'] != 1)}",
            f"{counts['warning']} warning{'s' * (counts['warning'] != 1)}",
        ]
        console.print(
            Text(
                ", ".join(parts) + (": fix the errors above." if not report.ok else "."),
                style="bold red" if not report.ok else "yellow",
            )
        )
