"""`reproml doctor [PATH] [--json]`: tools, machine, GPU driver and project, each finding with a one-line fix.

Every finding is ``ok``, ``warning`` or ``error``; the command exits 1 when any finding is an error, else 0.
Machine facts (tools, Nix, OS, driver) come from reproml.machine, shared with `templates` and `new`; the
lock and direnv probes run concurrently with them. Every probe has a timeout; odd output becomes a warning,
never a traceback. Nix is only a concern where it is needed: an error for a project whose preset needs it
(pythonml, nixos-pythonml), a warning outside a project (the Nix presets will not run) or for
flake-python-ml's optional flake, ok otherwise. Every fix is a command or an exact edit.

Finding ids (stable; a finding appears only where it applies)
-------------------------------------------------------------
tools:    ``tool.uv``, ``tool.pixi``, ``tool.nix``, ``tool.direnv``, ``tool.git``, ``tool.nvidia-smi``
machine:  ``machine.os`` (OS, architecture, libc), ``machine.gpu`` (NVIDIA driver, newest CUDA build),
          on NixOS only: ``machine.nix-ld``, ``machine.opengl-driver``
project:  ``project.found`` (only when PATH is missing, not a project, or its answers are unreadable),
          ``project.preset``, ``project.tools`` (ok: every tool the preset needs is usable; a missing or
          unusable one is reported once, as an error on its ``tool.*`` finding, and project.tools is then
          left out), ``project.manifest`` (only when pyproject.toml / pixi.toml does not parse: an error;
          project.lock is then left out), ``project.lock`` (missing: a warning, "not locked yet"),
          ``project.cuda`` (the PyTorch build the project asks for versus the driver), ``project.direnv``
          (only when the project has an ``.envrc``), ``project.template`` (reproml's projects: a warning
          when the installed template differs from the one that rendered the project)
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
                # path: what the user's shell runs (on PATH). Added: tools.uv.bundled, reproml's own uv
                # (the `uv` PyPI package), set when no uv is on PATH (then tool.uv is a warning).
      "machine": {"system": "Linux", "arch": "x86_64", "libc": "glibc 2.36",
                  "os_name": "Debian GNU/Linux 12 (bookworm)", "nixos": false,
                  "nvidia_driver": "550.54.14" | null,
                  "driver_source": "/proc/driver/nvidia/version",     # or a seam variable, nvidia-smi, none
                  "newest_cuda_build": "cuXXX" | null,
                  "nix_command": true | false | null,   # added: Nix's nix-command feature (null: no nix)
                  "nix_flakes": true | false | null},   # added: Nix's flakes feature (null: unknown)
      "project": null | {"root": "/abs/path", "preset": "uv-python-ml" | null, "manager": "uv" | "pixi",
                         "framework": "torch" | "none" | null,
                         "accelerator": "auto" | "cpu" | "cuda" | "cuXXX" | null,
                         "cuda_build": "cpu" | "cuXXX" | null,     # what this machine gets
                         "lock": "up-to-date" | "stale" | "missing" | "unknown"
                                 | "invalid",              # added: the lock file does not parse
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

from reproml import gpu, machine, process
from reproml import tools as tools_module
from reproml.errors import ReproError

JSON_VERSION = 1
STATUSES = ("ok", "warning", "error")
TOOLS = machine.TOOLS  # ("uv", "pixi", "nix", "direnv", "git", "nvidia-smi")
LOCK_TIMEOUT = 30.0
DIRENV_TIMEOUT = 5.0
NIX_MIN_VERSION = machine.NIX_MIN_VERSION
NIX_LD_MARKERS = (Path("/run/current-system/sw/share/nix-ld"),)
OPENGL_DRIVER_LIB = Path("/run/opengl-driver/lib")
# Builds reproml once offered and no longer does: the build, and why (the fix switches to a current one).
RETIRED_BUILDS = {
    "cu128": "PyTorch's cu128 index stops at torch 2.11 (CUDA 12.8 left the build matrix in 2.12)"
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


# Tool, OS and driver probes live in reproml.machine (shared with `templates` and `new`).
ToolProbe = machine.ToolFacts
read_os_release = machine.read_os_release
libc_version = machine.libc_version


@dataclass(frozen=True)
class LockProbe:
    state: str  # up-to-date, stale, missing, unknown
    status: str
    summary: str
    fix: str | None


def probe_uv_lock(root: Path, uv: str | None, *, created_by_reproml: bool = True) -> LockProbe:
    if not (root / "uv.lock").is_file():
        return LockProbe(
            "missing", "warning", "no uv.lock: not locked yet (the environment is not pinned)", "uv lock"
        )
    broken = _unparsable(root / "uv.lock", "toml")
    if broken:
        return LockProbe(
            "invalid", "error", f"uv.lock is not a valid lock file: {broken}", "rm uv.lock && uv lock"
        )
    if uv is None:
        return LockProbe("unknown", "warning", "cannot check uv.lock: uv not found", machine.INSTALL["uv"])
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
        return LockProbe(
            "missing", "warning", "no pixi.lock: not locked yet (the environment is not pinned)", "pixi lock"
        )
    broken = _unparsable(root / "pixi.lock", "yaml")
    if broken:
        return LockProbe(
            "invalid", "error", f"pixi.lock is not a valid lock file: {broken}", "rm pixi.lock && pixi lock"
        )
    if pixi is None:
        return LockProbe(
            "unknown", "warning", "cannot check pixi.lock: pixi is not installed", machine.INSTALL["pixi"]
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
            return machine.shorten(stripped)
    return machine.shorten(process.last_line(text))


def _unparsable(path: Path, kind: str) -> str | None:
    """The parse error of a TOML or YAML file, on one line, or None when it parses."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return machine.shorten(f"cannot read {path.name}: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start}): the file is damaged"
    if "\x00" in text:
        return "contains NUL bytes: the file is damaged"
    try:
        if kind == "toml":
            import tomllib

            tomllib.loads(text)
        else:
            import yaml

            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
            if not isinstance(data, dict):
                return "not a mapping at the top level"
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError, and their odd cousins
        return machine.shorten(str(exc), 160)
    return None


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
    manifest_error = _safe(lambda: _manifest_error(project), None) if project is not None else None
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="doctor") as pool:
        facts_future = pool.submit(machine.gather)
        lock_future = envrc_future = None
        if project is not None:
            if manifest_error is None:
                if project.manager == "uv":
                    uv_path = _safe(tools_module.uv_executable, None)
                    lock_future = pool.submit(probe_uv_lock, project.root, uv_path)
                else:
                    lock_future = pool.submit(
                        probe_pixi_lock, project.root, _safe(lambda: process.which("pixi"), None)
                    )
            direnv_path = _safe(lambda: process.which("direnv"), None)
            if (project.root / ".envrc").is_file() and direnv_path:
                envrc_future = pool.submit(probe_direnv, project.root, direnv_path)
        facts = _result(facts_future, None) or machine.gather(versions=False)
        lock = _result(lock_future, None)
        envrc = _result(envrc_future, None)

    driver = facts.driver
    report.machine = _machine_info(facts)
    report.tools = {name: {"path": t.path, "version": t.version} for name, t in facts.tools.items()}
    report.tools["uv"]["bundled"] = facts.uv_bundled
    _guarded(report, "tool.internal", _tool_findings, report, facts, project)
    _guarded(report, "machine.internal", _machine_findings, report, report.machine, driver, project)
    if project_problem:
        report.add("project.found", *project_problem)
    if project is not None:
        _guarded(
            report,
            "project.internal",
            _project_findings,
            report,
            project,
            facts,
            report.machine,
            driver,
            lock,
            envrc,
            manifest_error,
        )
    return report


def _manifest_error(project: Any) -> tuple[Path, str] | None:
    """The project's manifest (pyproject.toml, pixi.toml) that does not parse, and the error in one line."""
    for name in ("pyproject.toml", "pixi.toml"):
        manifest = project.root / name
        if manifest.is_file():
            broken = _unparsable(manifest, "toml")
            if broken:
                return manifest, f"{name} does not parse: {broken}"
    return None


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


def _machine_info(facts: machine.MachineFacts) -> dict[str, Any]:
    return {
        "system": facts.system,
        "arch": facts.arch,
        "libc": facts.libc,
        "os_name": facts.os_name,
        "nixos": facts.nixos,
        "nvidia_driver": facts.driver.version,
        "driver_source": facts.driver.source,
        "newest_cuda_build": gpu.newest_cuda_build(facts.driver.version),
        "nix_command": facts.nix.nix_command,
        "nix_flakes": facts.nix.flakes,
    }


# ----------------------------------------------------------------------------------------------- findings


def _needs_nix(project: Any) -> bool:
    """Whether the project cannot work without a usable Nix (pythonml's dev shell, nixos-pythonml)."""
    return project is not None and project.preset is not None and project.preset.nix in ("dev-shell", "full")


def _required_tools(project: Any) -> tuple[str, ...]:
    if project.preset is None:
        return (project.manager,)
    return (project.manager, "nix") if _needs_nix(project) else (project.manager,)


_WHY_WANTED = {
    "pixi": "the default preset, global-python-ml, needs it",
    "direnv": "projects will not activate when you cd into them",
    "git": "reproml new cannot commit, Nix flakes cannot see files",
}


def _tool_findings(report: Report, facts: machine.MachineFacts, project: Any) -> None:
    """One finding per tool. A tool the project needs and lacks is reported here, once, as an error."""
    required = set(_required_tools(project)) if project is not None else set()
    driver = facts.driver
    for tool, probe in facts.tools.items():
        fid = f"tool.{tool}"
        if tool == "uv":
            _uv_finding(report, facts, needed="uv" in required or project is None)
            continue
        if tool == "nix":
            _nix_finding(report, facts, project)
            continue
        if probe.path is None:
            if tool == "nvidia-smi":
                if driver.version:
                    report.add(
                        fid, "ok", f"nvidia-smi not found (driver {driver.version} read from {driver.source})"
                    )
                else:
                    report.add(fid, "ok", "nvidia-smi not found (no NVIDIA GPU needs it)")
            elif tool in required:
                report.add(
                    fid, "error", f"{tool} not found (this project needs it)", machine.install_hint(tool)
                )
            elif tool == "pixi" and project is not None:
                report.add(fid, "ok", "pixi not found (not needed by this project)")
            else:
                report.add(
                    fid, "warning", f"{tool} not found: {_WHY_WANTED[tool]}", machine.install_hint(tool)
                )
            continue
        if tool == "nvidia-smi":
            report.add(fid, "ok", f"nvidia-smi ({probe.path})")
        elif probe.problem:
            report.add(
                fid,
                "error" if tool in required else "warning",
                f"{tool} found at {probe.path}, but {probe.problem}",
                f"{probe.path} {'version' if tool == 'direnv' else '--version'}",
            )
        else:
            report.add(fid, "ok", f"{tool} {probe.version} ({probe.path})")


def _uv_finding(report: Report, facts: machine.MachineFacts, *, needed: bool) -> None:
    """What the user's shell runs: uv on PATH is ok; only reproml's bundled copy is a warning."""
    probe = facts.tools["uv"]
    if probe.path:
        if probe.problem:
            report.add(
                "tool.uv",
                "warning",
                f"uv found at {probe.path}, but {probe.problem}",
                f"{probe.path} --version",
            )
        else:
            report.add("tool.uv", "ok", f"uv {probe.version} ({probe.path})")
    elif facts.uv_bundled:
        version = f" {probe.version}" if probe.version else ""
        report.add(
            "tool.uv",
            "warning",
            f"uv is not on PATH (reproml's own copy{version} is at {facts.uv_bundled}, "
            "but your shell and .envrc "
            "cannot see it)",
            machine.install_hint("uv", facts),
        )
    else:
        report.add(
            "tool.uv",
            "error" if needed else "warning",
            "uv not found" + (" (this project needs it)" if needed else ""),
            machine.install_hint("uv"),
        )


def _nix_finding(report: Report, facts: machine.MachineFacts, project: Any) -> None:
    """Nix matters where the project needs it (error), or outside a project (the Nix presets: a warning)."""
    probe, nix = facts.tools["nix"], facts.nix
    needed = _needs_nix(project)
    optional = project is not None and project.preset is not None and project.preset.nix == "optional"
    if probe.path is None:
        if needed:
            report.add(
                "tool.nix",
                "error",
                f"nix not found (this project, preset {project.preset.name}, needs it)",
                f"{machine.INSTALL['nix']}, then add `{machine.NIX_CONF_LINE}` to {machine.NIX_CONF}"
                " (or use the uv-python-ml preset, which needs no Nix)",
            )
        else:
            why = "not needed by this project" if project is not None else "only the Nix presets need it"
            report.add("tool.nix", "ok", f"nix not found ({why})")
        return
    version = nix.version or probe.version or "(version unknown)"
    problem = machine.nix_problem(facts)
    if problem is None:
        report.add("tool.nix", "ok", f"nix {version} ({probe.path}), nix-command and flakes enabled")
        return
    summary, _, fix = problem.rpartition(" (") if problem.endswith(")") else (problem, "", "")
    fix = fix[:-1] if fix else f"{probe.path} --version"
    fix = fix.replace("upgrade: ", "").replace("enable: ", "")
    if (needed or optional) and nix.new_enough:
        # Only nix-command/flakes are off (or unknown): the project's .envrc switches them on for its call.
        summary += ": direnv switches them on here; plain `nix develop` needs them"
        report.add("tool.nix", "warning", summary, fix)
    elif needed:
        report.add("tool.nix", "error", f"{summary}: this project's flake will not evaluate", fix)
    elif project is None:
        report.add(
            "tool.nix", "warning", f"{summary}: the Nix presets (pythonml, nixos-pythonml) will not run", fix
        )
    elif optional:
        report.add(
            "tool.nix", "warning", f"{summary}: the flake in .nix/ will not work (Pixi alone still does)", fix
        )
    else:
        report.add("tool.nix", "ok", f"nix {version} ({probe.path}), not needed by this project")


def _machine_findings(report: Report, info: dict[str, Any], driver: gpu.Driver, project: Any) -> None:
    system, arch, libc = info["system"], info["arch"], info["libc"]
    where = f"{system} {arch}" + (f", {libc}" if libc not in ("n/a", "") else "") + f" ({info['os_name']})"
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
            f"(>= {_oldest_build()[1]}): PyTorch will run on the CPU",
            _update_driver_fix(),
        )
    else:
        report.add("machine.gpu", "ok", f"NVIDIA driver {driver.version}{posed}: newest CUDA build {newest}")

    if info["nixos"]:
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


def _template_finding(report: Report, project: Any) -> None:
    """An update is waiting when the template that rendered the project (its recorded digest; none in
    projects made by reproml 0.1.0) is not the installed one. Cheap: a hash of the template's files."""
    from reproml.project import template_digest

    if project.answers.get("_template_digest") == template_digest():
        report.add("project.template", "ok", "up to date with the installed reproml template")
    else:
        report.add(
            "project.template",
            "warning",
            "a template update is waiting (the project was rendered by another template)",
            "`reproml update --dry-run` shows it, `reproml update` merges it",
        )


def _project_findings(
    report: Report,
    project: Any,
    facts: machine.MachineFacts,
    info_machine: dict[str, Any],
    driver: gpu.Driver,
    lock: LockProbe | None,
    envrc: EnvrcProbe | None,
    manifest_error: tuple[Path, str] | None = None,
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
    if preset is not None:
        _template_finding(report, project)

    # A missing or unusable tool is reported once, on its tool.* finding; project.tools only sums up.
    required = _required_tools(project)
    unusable = [
        t for t in required if not facts.found(t) or (t == "nix" and machine.nix_problem(facts) is not None)
    ]
    if not unusable:
        report.add("project.tools", "ok", f"needs {', '.join(required)}: all found")

    if manifest_error:
        manifest, message = manifest_error
        report.add(
            "project.manifest",
            "error",
            message,
            f'fix the TOML at the line and column named, then check: python -c "import tomllib; '
            f"tomllib.load(open('{manifest}', 'rb'))\"",
        )
    elif lock is None:
        report.add("project.lock", "warning", "the lock check did not run", f"{project.manager} lock")
    else:
        report.add("project.lock", lock.status, lock.summary, lock.fix)

    _cuda_finding(report, project, accelerator, accelerator_source, driver, info_machine["system"])

    if (project.root / ".envrc").is_file():
        if not facts.found("direnv"):
            report.add(
                "project.direnv",
                "warning",
                ".envrc will not load: direnv is not installed",
                machine.install_hint("direnv"),
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


def _offered_builds() -> list[tuple[str, str]]:
    """(build, minimum driver) for every CUDA build in gpu's table, newest first (read through gpu's API)."""
    builds = [a for a in gpu.ACCELERATORS if re.fullmatch(r"cu\d+", a)]
    return sorted(((b, gpu.minimum_driver(b)) for b in builds), key=lambda row: int(row[0][2:]), reverse=True)


def _oldest_build() -> tuple[str, str]:
    """The build with the lowest driver minimum (newest of those): the cheapest way onto a GPU."""
    rows = _offered_builds()
    return min(rows, key=lambda row: (tuple(int(p) for p in re.findall(r"\d+", row[1])), -int(row[0][2:])))


def _update_driver_fix(build: str | None = None) -> str:
    """'update the NVIDIA driver to >= N (build)' with the right N: the build's own minimum, or for any
    GPU build the lowest minimum (and the newest build's, when higher)."""
    if build is not None:
        return f"update the NVIDIA driver to >= {gpu.minimum_driver(build)} (what {build} needs)"
    newest, newest_min = _offered_builds()[0]
    oldest, oldest_min = _oldest_build()
    if newest_min == oldest_min:
        return f"update the NVIDIA driver to >= {newest_min} ({newest})"
    return f"update the NVIDIA driver to >= {newest_min} ({newest}) or >= {oldest_min} ({oldest})"


def _switch_fix(project: Any, old: str, new: str) -> str:
    """The exact edit that moves a project's PyTorch build from ``old`` to ``new`` (cpu or cuXXX)."""
    answers = f"set `accelerator: {new}` in .copier-answers.yml"
    if project.manager == "pixi":
        if new == "cpu":
            return (
                f"{answers} and use the CPU environment: `pixi run -e dev pytest` "
                "(the .envrc picks it on machines without a driver)"
            )
        return (
            f'in pyproject.toml set cuda-version = "{new[2:-1]}.{new[-1]}.*" under '
            f"[tool.pixi.feature.cuda.dependencies], {answers}, then `pixi lock`"
        )
    return (
        f"in pyproject.toml replace every `{old}` with `{new}` (index name and URL), {answers}, "
        "then `uv lock`"
    )


def _cuda_finding(
    report: Report, project: Any, accelerator: str | None, source: str | None, driver: gpu.Driver, system: str
) -> None:
    if accelerator is None:
        if project.answers.get("framework") == "none":
            report.add("project.cuda", "ok", "no deep-learning framework: no CUDA build needed")
        return
    offered = [b for b, _ in _offered_builds()]
    newest = gpu.newest_cuda_build(driver.version)
    if accelerator in RETIRED_BUILDS:
        current = [b for b in offered if b not in RETIRED_BUILDS]
        target = newest if newest in current else "cpu" if driver.version is None else current[-1]
        options = " or ".join(f"{b} (driver >= {gpu.minimum_driver(b)})" for b in current)
        report.add(
            "project.cuda",
            "warning",
            f"the project asks for {accelerator} (from {source}), which reproml no longer offers: "
            f"{RETIRED_BUILDS[accelerator]}; use {options}",
            _switch_fix(project, accelerator, target),
        )
        return
    if accelerator not in gpu.ACCELERATORS:
        report.add(
            "project.cuda",
            "warning",
            f"unknown accelerator {accelerator!r} in {source}",
            f"set `accelerator:` in .copier-answers.yml to one of {', '.join(gpu.ACCELERATORS)}",
        )
        return
    build = gpu.choose_build(accelerator, driver.version, system)
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
                _update_driver_fix(),
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
            fix = _update_driver_fix(build)
            if driver.version is None:
                fix = f"install the NVIDIA driver (>= {gpu.minimum_driver(build)} for {build}); for CPU-only "
                fix += "machines create the project with `reproml new PATH --accelerator auto`"
            report.add(
                "project.cuda",
                "warning",
                f"accelerator cuda installs {build}, but {why}: PyTorch will run on the CPU",
                fix,
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
            _switch_fix(project, accelerator, "cpu"),
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
                f"switch to {newest} (the newest build this driver supports): "
                f"{_switch_fix(project, accelerator, newest)}; or {_update_driver_fix(accelerator)}"
            )
        else:
            cpu = _switch_fix(project, accelerator, "cpu")
            fix = f"{_update_driver_fix(accelerator)}; or use the CPU build: {cpu}"
        report.add(
            "project.cuda",
            "error",
            f"the project asks for {accelerator} (needs driver >= {needed}) but this machine's driver "
            f"is {driver.version}",
            fix,
        )


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
