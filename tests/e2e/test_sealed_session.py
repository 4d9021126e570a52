"""The test session is sealed (tests/conftest.py): a uv cache of its own, none of the user's variables that
steer reproml, uv's PyTorch choice, Jupyter, Pixi, conda or Nix, and a way to see a machine without Pixi."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import path_without, sealed

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", [
    "REPROML_TORCH_BUILD", "REPROML_CUDA_DRIVER_VERSION", "REPROML_OS_RELEASE", "JUPYTER_DATA_DIR",
    "JUPYTER_CONFIG_DIR", "JUPYTER_TOKEN", "UV_CUDA_DRIVER_VERSION", "UV_TORCH_BACKEND", "UV_INDEX",
    "UV_INDEX_URL", "UV_INDEX_STRATEGY", "UV_EXTRA_INDEX_URL", "PIXI_HOME", "PIXI_PROJECT_ROOT",
    "CONDA_PREFIX", "CONDA_OVERRIDE_CUDA", "NIX_CONFIG", "VIRTUAL_ENV",
])
def test_steering_variables_are_sealed(name):
    assert sealed(name)


@pytest.mark.parametrize("name", ["PATH", "UV_PYTHON", "UV_CACHE_DIR", "UV_PYTHON_DOWNLOADS", "NIX_PATH",
                                  "MY_REPROML_TORCH_BUILD", "HOME", "UV_NO_CACHE"])
def test_other_variables_pass(name):
    assert not sealed(name)


def test_no_sealed_variable_reaches_a_test():
    assert [name for name in os.environ if sealed(name)] == []


def test_uv_cache_is_the_sessions_own(tmp_path_factory, session_uv_cache):
    cache = Path(os.environ["UV_CACHE_DIR"])
    assert cache == session_uv_cache
    assert cache.is_relative_to(tmp_path_factory.getbasetemp())
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    assert not cache.is_relative_to(real_home / ".cache")


def test_path_without_drops_the_directories_that_hold_the_tool(tmp_path):
    with_tool, without = tmp_path / "with", tmp_path / "without"
    for folder in (with_tool, without):
        folder.mkdir()
    (with_tool / "pixi").write_text("#!/bin/sh\nexit 0\n")
    (with_tool / "pixi").chmod(0o755)
    (without / "pixi").write_text("not executable")  # shutil.which ignores it, so does PATH lookup
    path = os.pathsep.join([str(with_tool), str(without), "/usr/bin"])
    assert path_without("pixi", path) == os.pathsep.join([str(without), "/usr/bin"])


def test_no_pixi_fixture_hides_a_pixi_on_path(tmp_path, monkeypatch, request):
    (tmp_path / "pixi").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "pixi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("pixi") == str(tmp_path / "pixi")
    request.getfixturevalue("no_pixi")
    assert shutil.which("pixi") is None
    assert str(tmp_path) not in os.environ["PATH"].split(os.pathsep)
    assert shutil.which("sh") is not None  # the rest of PATH stays


def test_a_session_with_the_users_variables_set_passes_and_writes_nothing_outside(tmp_path):
    """REPROML_TORCH_BUILD=cu128 turned 14 tests of test_envrc.py red; JUPYTER_DATA_DIR made `reproml jupyter
    kernel` write there; a user's UV_CACHE_DIR would be written to."""
    jupyter_data, user_cache = tmp_path / "jupyter-data", tmp_path / "user-uv-cache"
    env = dict(os.environ, REPROML_TORCH_BUILD="cu128", JUPYTER_DATA_DIR=str(jupyter_data),
               REPROML_CUDA_DRIVER_VERSION="580", UV_TORCH_BACKEND="cu128",
               UV_CUDA_DRIVER_VERSION="450.80.02", UV_CACHE_DIR=str(user_cache),
               NIX_CONFIG="experimental-features =", PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "inner"),
         "tests/test_envrc.py", "tests/test_gpu.py",
         "tests/test_jupyter.py::test_kernel_registers_the_project_environment"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
    assert not jupyter_data.exists() or not any(jupyter_data.rglob("*"))
    assert not user_cache.exists() or not any(user_cache.iterdir())
