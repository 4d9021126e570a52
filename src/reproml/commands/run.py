"""`reproml run --slurm -- CMD`: run a command in the project's own environment as a SLURM batch job.

The environment is made ready here, on the login node, once (under the project's job lock), so that jobs
never sync it concurrently on a shared filesystem. The batch script goes to sbatch on stdin (the command stays
out of other users' view: script arguments are not), activates the environment, checks on the node that the
environment's CUDA build suits the node's driver (reproml.gpu's logic, as the project's .envrc does) and
records the command's exit code next to its log in .reproml/jobs/, a folder only the owner can read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reproml import gpu, jupyter_state, process, slurm
from reproml.errors import ProjectError, ToolError, UsageError
from reproml.project import Project, find_project

JOBS_DIR = "jobs"
LOCK_TIMEOUT = 600.0  # a first `uv sync` of a CUDA environment can take minutes
SETTINGS = ("gpus", "cpus", "mem", "time", "partition", "account")
# Exit code of a job stopped by reproml's own check before the command ran (the node cannot run the build).
NODE_CHECK_FAILED = 3


@dataclass(frozen=True)
class Environment:
    """How a job enters the project's environment."""

    activate: str  # shell lines
    description: str  # for messages
    cuda_build: str | None = None  # the CUDA build of the environment's PyTorch (None: CPU or no PyTorch)


@dataclass(frozen=True)
class Submitted:
    job_id: str
    log: Path
    notes: list[str] = field(default_factory=list)


def jobs_dir(project: Project) -> Path:
    """.reproml/jobs, created owner-only (0700) and checked like the Jupyter state."""
    jupyter_state.ensure_private_dir(project.state_dir)
    return jupyter_state.ensure_private_dir(project.state_dir / JOBS_DIR)


@contextlib.contextmanager
def jobs_lock(project: Project) -> Iterator[Path]:
    folder = jobs_dir(project)
    with jupyter_state.project_lock(folder / ".lock", LOCK_TIMEOUT):
        yield folder


def project_defaults(project: Project) -> slurm.Resources:
    """``[tool.reproml.slurm]`` in pyproject.toml: the project's default partition, account, time..."""
    import tomllib

    if not project.pyproject.is_file():
        return slurm.Resources()
    try:
        data = tomllib.loads(project.pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(f"cannot parse {project.pyproject}: {exc}") from None
    table = data.get("tool", {}).get("reproml", {}).get("slurm", {})
    if not isinstance(table, dict):
        raise ProjectError(f"{project.pyproject}: [tool.reproml.slurm] is not a table")
    unknown = sorted(set(table) - set(SETTINGS))
    if unknown:
        raise ProjectError(
            f"{project.pyproject}: [tool.reproml.slurm] has unknown key {unknown[0]!r} "
            f"(known: {', '.join(SETTINGS)})"
        )
    values: dict[str, Any] = {}
    for key, value in table.items():
        numeric = key in ("gpus", "cpus")
        if numeric and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise ProjectError(f"{project.pyproject}: [tool.reproml.slurm] {key} must be a whole number")
        if not numeric and not (isinstance(value, str) and value.strip()):
            raise ProjectError(f"{project.pyproject}: [tool.reproml.slurm] {key} must be a non-empty string")
        values[key] = value
    return slurm.Resources(**values)


def resources(project: Project, given: dict[str, Any]) -> slurm.Resources:
    """The project's defaults with the command line's options laid over them."""
    chosen = {key: value for key, value in given.items() if key in SETTINGS and value is not None}
    return replace(project_defaults(project), **chosen)


# ----------------------------------------------------------------------------------------------------------
# the environment


def _optional_extras(project: Project) -> set[str]:
    import tomllib

    try:
        data = tomllib.loads(project.pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return set()
    return set(data.get("project", {}).get("optional-dependencies", {}))


def wanted_build(project: Project, gpus: int | None) -> str | None:
    """The PyTorch build a job of this request wants: with GPUs a CUDA build (the newest the login node's
    driver runs, or the newest offered when it has none), else the one this machine would choose."""
    accelerator = str(project.answers.get("accelerator") or "")
    if accelerator not in gpu.ACCELERATORS:
        return None
    driver = gpu.detect_driver().version
    if gpus and accelerator in ("auto", "cuda"):
        return gpu.choose_build("cuda", driver, "Linux")
    return gpu.choose_build(accelerator, driver, "Linux")


def installed_cuda_build(prefix: Path) -> str | None:
    """The CUDA build of an environment's PyTorch (``torch-2.12.0+cu130.dist-info``); None: CPU or none."""
    for dist in prefix.glob("lib/python*/site-packages/torch-*.dist-info"):
        match = re.search(r"\+(cu\d{3})\.dist-info$", dist.name)
        if match:
            return match[1]
    return None


def _uv_ready(project: Project, gpus: int | None, notes: list[str]) -> Environment:
    from reproml import tools

    prefix = project.root / ".venv"
    python = prefix / "bin" / "python"
    build = wanted_build(project, gpus)
    extra = ["--extra", build] if build and build in _optional_extras(project) else []
    has_lock = (project.root / "uv.lock").is_file()
    if not python.exists() or has_lock:
        uv = tools.uv_executable()
        if uv is None:
            raise ToolError("uv is not installed: it makes the project's environment before the job runs")
        args = [uv, "sync", "--quiet", *(["--locked"] if has_lock else []), *extra]
        done = process.run(args, cwd=project.root, timeout=LOCK_TIMEOUT, check=False)
        if not done.ok:
            raise ToolError(f"uv sync failed, nothing was submitted: {process.last_line(done.stderr)}")
        notes.append(f"environment ready: {' '.join(['uv', *args[1:]])}")
    if not python.exists():
        raise ToolError(f"the project has no virtual environment at {prefix} after uv sync")
    quoted = shlex.quote(str(prefix))
    activate = f"export VIRTUAL_ENV={quoted}\nexport PATH={quoted}/bin:\"$PATH\"\nunset PYTHONHOME\n"
    return Environment(activate, str(prefix), installed_cuda_build(prefix))


def _pixi_environment(project: Project, gpus: int | None) -> str:
    import tomllib

    manifest = project.root / "pixi.toml" if (project.root / "pixi.toml").is_file() else project.pyproject
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(f"cannot parse {manifest}: {exc}") from None
    table = data if manifest.name == "pixi.toml" else data.get("tool", {}).get("pixi", {})
    names = set(table.get("environments", {}))
    return "cuda" if gpus and "cuda" in names else "default"


def _pixi_ready(project: Project, gpus: int | None, notes: list[str]) -> Environment:
    pixi = process.which("pixi")
    if pixi is None:
        raise ToolError("pixi is not installed: it makes the project's environment before the job runs")
    manifest = project.root / "pixi.toml" if (project.root / "pixi.toml").is_file() else project.pyproject
    env = _pixi_environment(project, gpus)
    done = process.run([pixi, "install", "-e", env, "--manifest-path", str(manifest)], cwd=project.root,
                       timeout=LOCK_TIMEOUT, check=False)
    if not done.ok:
        raise ToolError(
            f"pixi install -e {env} failed, nothing was submitted: {process.last_line(done.stderr)}"
        )
    notes.append(f"environment ready: pixi install -e {env}")
    hook = " ".join(shlex.quote(a) for a in [pixi, "shell-hook", "-e", env, "--manifest-path", str(manifest),
                                              "--frozen", "--change-ps1", "false"])
    cuda = None
    if env == "cuda":
        accelerator = str(project.answers.get("accelerator") or "")
        named = accelerator.startswith("cu") and accelerator != "cuda"
        cuda = accelerator if named else gpu.CUDA_BUILDS[0][0]
    return Environment(f'eval "$({hook})" || exit 1\n', f"Pixi environment {env}", cuda)


def prepare_environment(project: Project, gpus: int | None, notes: list[str]) -> Environment:
    if project.manager == "pixi":
        return _pixi_ready(project, gpus, notes)
    return _uv_ready(project, gpus, notes)


# ----------------------------------------------------------------------------------------------------------
# the batch script


def batch_script(project: Project, environment: Environment, command: Sequence[str], folder: Path) -> str:
    """The job's script: enter the project and its environment, check the node's driver, run, record."""
    lines = [
        "#!/bin/bash",
        "# Written by reproml run --slurm.",
        "umask 077",
        f"cd {shlex.quote(str(project.root))} || exit 1",
    ]
    if environment.cuda_build:
        build = environment.cuda_build
        lines += [
            gpu.shell_function(),
            f"if ! reproml_cuda_build_supports {build}; then",
            "    echo \"reproml: this node's NVIDIA driver ($(reproml_cuda_build_driver || true)) cannot run "
            f"the environment's PyTorch {build} build (it needs driver >= {gpu.minimum_driver(build)})\" >&2",
            f"    exit {NODE_CHECK_FAILED}",
            "fi",
        ]
    lines += [
        environment.activate.rstrip("\n"),
        " ".join(shlex.quote(word) for word in command),
        "status=$?",
        f"printf '%s\\n' \"$status\" > {shlex.quote(str(folder))}/\"$SLURM_JOB_ID\".exit",
        'exit "$status"',
    ]
    return "\n".join(lines) + "\n"


def submit(
    path: str | Path, command: Sequence[str], given: dict[str, Any], *, kind: str = "run",
    extra_env: dict[str, str] | None = None, log: Path | None = None,
) -> Submitted:
    """Make the environment ready, submit CMD, record the job; ``log``: a file of the caller's (made 0600
    already) that the job appends to, instead of .reproml/jobs/ID.log."""
    if not command:
        raise UsageError("no command to run: reproml run --slurm -- CMD ARGS...")
    slurm.tool("sbatch")  # before any sync: no SLURM, nothing done
    project = find_project(path)
    request = resources(project, given)
    notes: list[str] = []
    with jobs_lock(project) as folder:
        environment = prepare_environment(project, request.gpus, notes)
        if request.gpus and environment.cuda_build is None and project.answers.get("framework") == "torch":
            notes.append(f"GPUs asked for, but {environment.description} has no CUDA build of PyTorch")
        script = batch_script(project, environment, command, folder)
        args = [
            f"--job-name={project.root.name}",
            *([f"--output={log}", "--open-mode=append"] if log else [f"--output={folder}/%j.log"]),
            f"--chdir={project.root}",
            *request.sbatch_args(),
        ]
        old = os.umask(0o077)  # the job inherits it: its log is created 0600
        try:
            job_id = slurm.submit(script, args, cwd=str(project.root), extra_env=extra_env)
        finally:
            os.umask(old)
        record = {"id": job_id, "kind": kind, "command": list(command), "submitted": time.time(),
                  "log": str(log or folder / f"{job_id}.log"),
                  "resources": {k: v for k, v in vars(request).items() if v is not None}}
        try:
            jupyter_state.write_private(folder / f"{job_id}.json", json.dumps(record, indent=2) + "\n")
        except BaseException:
            slurm.cancel(job_id)  # a job reproml cannot find again is not left running
            raise
    return Submitted(job_id, log or folder / f"{job_id}.log", notes)
