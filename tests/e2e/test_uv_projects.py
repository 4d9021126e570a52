"""Real end to end with real uv, direnv and the project's own tests. PyPI provides ordinary packages; a local
index on 127.0.0.1 stands in for the PyTorch indexes and serves the real CPU wheel from this machine's disk."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from helpers import answers_for
from reproml.commands.new import render
from reproml.presets import PRESETS

pytestmark = [pytest.mark.network, pytest.mark.slow]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def make(tmp_path: Path, preset: str, index: str | None = None, **options) -> Path:
    answers = answers_for(preset, **options)
    if index:
        answers["torch_index_base"] = index
    target = tmp_path / "cell-seg"
    render(answers, target)
    return target


def test_uv_project_without_framework_syncs_and_its_tests_pass(tmp_path, uv_env):
    project = make(tmp_path, "uv-python-ml", framework="none")
    run(["uv", "sync"], project, uv_env)
    done = run(["uv", "run", "pytest", "-q"], project, uv_env)
    assert "passed" in done.stdout
    assert (project / "uv.lock").is_file()


@pytest.mark.skipif(shutil.which("direnv") is None, reason="direnv is not installed")
def test_direnv_allow_then_exec_imports_the_package(tmp_path, uv_env):
    project = make(tmp_path, "uv-python-ml", framework="none", docs=False, jupyter=False)
    run(["direnv", "allow", str(project)], project, uv_env)
    done = run(["direnv", "exec", str(project), "python", "-c", "import cell_seg, sys; print(sys.prefix)"], project, uv_env)
    assert done.stdout.strip() == str(project / ".venv")


@pytest.mark.parametrize("accelerator", ["auto", "cpu", "cuda", "cu126", "cu128", "cu130"])
def test_uv_lock_resolves_for_linux_macos_windows(tmp_path, uv_env, torch_index, accelerator):
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator=accelerator)
    run(["uv", "lock"], project, uv_env)
    lock = tomllib.loads((project / "uv.lock").read_text())
    torch = [p for p in lock["package"] if p["name"] == "torch"]
    local = [p for p in torch if p["source"].get("registry", "").startswith(torch_index)]
    assert local, torch
    assert all(p["version"].startswith("2.13.0") for p in local)
    if accelerator in ("cpu",):
        assert len(torch) == 1  # one CPU build for every platform
    else:
        # Linux/Windows: the chosen PyTorch index; macOS: the default index (CPU/MPS wheels)
        assert {"registry"} == {k for p in torch for k in p["source"]}


@pytest.mark.parametrize("preset", [p for p in PRESETS if PRESETS[p].manager == "uv" and p != "uv-python-ml"])
def test_uv_lock_resolves_for_the_nix_uv_presets(tmp_path, uv_env, torch_index, preset):
    project = make(tmp_path, preset, torch_index)
    run(["uv", "lock"], project, uv_env)
    assert "torch" in (project / "uv.lock").read_text()


def _sync_and_check_cpu_torch(project: Path, env: dict[str, str], sync: list[str]) -> None:
    run(sync, project, env)
    done = run(["uv", "run", "--no-sync", "python", "-c",
                "import torch; print(torch.__version__, torch.cuda.is_available(), torch.version.cuda)"], project, env)
    version, cuda, cuda_build = done.stdout.split()
    assert version == "2.13.0+cpu" and cuda == "False" and cuda_build == "None"
    done = run(["uv", "run", "--no-sync", "pytest", "-q", "-s"], project, env)
    assert "2 passed" in done.stdout and "device: cpu" in done.stdout


def test_cpu_project_installs_cpu_torch_and_its_tests_pass(tmp_path, uv_env, torch_index):
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator="cpu", docs=False, jupyter=False)
    _sync_and_check_cpu_torch(project, uv_env, ["uv", "sync"])


@pytest.mark.skipif(shutil.which("direnv") is None, reason="direnv is not installed")
def test_auto_project_on_a_gpu_less_machine_gets_cpu_torch_through_direnv(tmp_path, uv_env, torch_index):
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator="auto", docs=False, jupyter=False)
    env = dict(uv_env, REPROML_CUDA_DRIVER_VERSION="none")
    run(["direnv", "allow", str(project)], project, env)
    run(["direnv", "exec", str(project), "true"], project, env)  # the .envrc runs uv sync --extra cpu
    _sync_and_check_cpu_torch(project, env, ["true"])
