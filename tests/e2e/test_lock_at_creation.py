"""`reproml new` locks a uv project at creation with real uv: ordinary packages from PyPI, torch and
torchvision from the loopback PyTorch index (tests/torch_index.py); the lock is in the first commit and up to
date. The offline and failure paths are in tests/test_lock.py."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from reproml import cli
from reproml.commands import new as new_module

pytestmark = [pytest.mark.network, pytest.mark.slow]


def new(tmp_path: Path, *args: str) -> Path:
    result = CliRunner().invoke(cli.app, ["new", str(tmp_path / "proj"), "-t", "uv-python-ml", "--yes",
                                          "--no-docs", "--no-jupyter", *args])
    assert result.exit_code == 0, result.output
    assert "lock" not in result.stderr, result.stderr  # no lock warning
    return tmp_path / "proj"


def assert_locked_in_the_first_commit(project: Path, uv_env: dict[str, str]) -> dict:
    tracked = subprocess.run(["git", "ls-tree", "--name-only", "HEAD"], cwd=project, capture_output=True,
                             text=True, check=True).stdout.split()
    assert "uv.lock" in tracked
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True,
                            check=True).stdout
    assert status == ""
    # The committed lock matches pyproject.toml: `uv lock --check` fails on a stale or missing one.
    done = subprocess.run(["uv", "lock", "--check"], cwd=project, env=uv_env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return tomllib.loads((project / "uv.lock").read_text())


def test_a_project_without_torch_is_locked_from_pypi(tmp_path, uv_env):
    project = new(tmp_path, "--framework", "none")
    lock = assert_locked_in_the_first_commit(project, uv_env)
    names = {package["name"] for package in lock["package"]}
    assert {"proj", "numpy", "pytest", "ruff", "pre-commit"} <= names
    assert "torch" not in names


def test_a_torch_project_is_locked_with_torch_from_the_pytorch_index(tmp_path, uv_env, torch_index,
                                                                     monkeypatch):
    build = new_module.build_answers
    monkeypatch.setattr(new_module, "build_answers",
                        lambda *a: {**build(*a), "torch_index_base": torch_index})
    project = new(tmp_path, "--framework", "torch", "--accelerator", "cpu")
    lock = assert_locked_in_the_first_commit(project, uv_env)
    torch = [package for package in lock["package"] if package["name"] in ("torch", "torchvision")]
    assert {package["name"] for package in torch} == {"torch", "torchvision"}
    for package in torch:
        assert package["source"] == {"registry": f"{torch_index}/cpu"}, package["source"]
