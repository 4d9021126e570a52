"""`new` locks the environment at creation (uv lock; pixi lock where pixi is on PATH), and a lock that cannot
be made (no network, an unreachable index, a timeout) leaves a whole project, no lock file and one warning
naming the command to run later. Real uv everywhere; a stand-in only for pixi, which this machine lacks.
Locking against PyPI and the loopback PyTorch index: tests/e2e/test_lock_at_creation.py."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from reproml import cli
from reproml.commands import new as new_module

PROJECT_FILES = ("pyproject.toml", "README.md", ".copier-answers.yml", "src/proj/__init__.py", "LICENSE")


def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new(tmp_path: Path, *args: str, input: str | None = None):
    result = CliRunner().invoke(cli.app, ["new", str(tmp_path / "proj"), *args], input=input)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("reproml: warning:")]
    return result, [w for w in warnings if " lock" in w]


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout


def assert_whole_project_without_lock(project: Path, lock_file: str) -> None:
    for name in PROJECT_FILES:
        assert (project / name).is_file(), name
    assert not (project / lock_file).exists()
    assert git(project, "status", "--porcelain") == ""  # the first commit holds everything there is
    assert "pyproject.toml" in git(project, "ls-tree", "--name-only", "HEAD")
    assert sorted(p.name for p in project.parent.iterdir()) == ["proj"]  # no staging folder left


def test_no_lock_writes_no_lock_and_warns_nothing(tmp_path):
    result, lock_warnings = new(tmp_path, "-t", "uv-python-ml", "--yes", "--no-lock")
    assert result.exit_code == 0, result.output
    assert lock_warnings == []
    assert_whole_project_without_lock(tmp_path / "proj", "uv.lock")
    assert yaml.safe_load((tmp_path / "proj/.copier-answers.yml").read_text())["lock"] is False


@pytest.mark.parametrize("how", ["offline", "closed-port"])
def test_a_lock_that_cannot_reach_the_index_leaves_the_project_and_one_warning(tmp_path, tmp_path_factory,
                                                                              monkeypatch, how):
    monkeypatch.setenv("UV_PYTHON", sys.executable)
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    if how == "offline":  # offline with an empty cache (the session's may hold what other tests locked)
        monkeypatch.setenv("UV_OFFLINE", "1")
        monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.mktemp("empty-uv-cache")))
        args = ["--framework", "none"]
    else:  # every index (PyPI's stand-in and the PyTorch indexes) at a port that refuses connections
        base = f"http://127.0.0.1:{closed_port()}"
        monkeypatch.setenv("UV_DEFAULT_INDEX", f"{base}/simple")
        monkeypatch.setenv("UV_HTTP_RETRIES", "0")
        build = new_module.build_answers
        monkeypatch.setattr(new_module, "build_answers",
                            lambda *a: {**build(*a), "torch_index_base": f"{base}/whl"})
        args = ["--framework", "torch"]
    result, lock_warnings = new(tmp_path, "-t", "uv-python-ml", "--yes", *args)
    assert result.exit_code == 0, result.output
    assert len(lock_warnings) == 1, result.stderr
    assert "the project has no uv.lock yet: run `uv lock` in it when the package indexes are reachable" in (
        lock_warnings[0])
    assert_whole_project_without_lock(tmp_path / "proj", "uv.lock")
    if how == "closed-port":  # the torch index really was in the way (the project asks for it by name)
        assert "127.0.0.1" in (tmp_path / "proj/pyproject.toml").read_text()


# ---------------------------------------------------------------------------------------------- Pixi presets

def lock_calls(log: Path) -> int:
    return log.read_text().splitlines().count("lock") if log.exists() else 0


def test_a_pixi_project_is_locked_with_pixi_and_the_lock_is_in_the_first_commit(tmp_path, stand_in_pixi):
    result, lock_warnings = new(tmp_path, "-t", "global-python-ml", "--yes")
    assert result.exit_code == 0, result.output
    assert lock_warnings == []
    assert lock_calls(stand_in_pixi) == 1
    project = tmp_path / "proj"
    assert "pixi.lock" in git(project, "ls-tree", "--name-only", "HEAD")
    assert not (project / ".pixi").exists()  # pixi's cache folder is not part of the project
    assert git(project, "status", "--porcelain", "--ignored") == ""


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_a_failed_or_hung_pixi_lock_leaves_the_project_without_a_partial_lock(tmp_path, stand_in_pixi,
                                                                              monkeypatch, mode):
    monkeypatch.setenv("PIXI_STAND_IN_MODE", mode)
    monkeypatch.setattr(new_module, "LOCK_TIMEOUT", 2.0)
    result, lock_warnings = new(tmp_path, "-t", "global-python-ml", "--yes")
    assert result.exit_code == 0, result.output
    assert len(lock_warnings) == 1, result.stderr
    assert "the project has no pixi.lock yet: run `pixi lock` in it" in lock_warnings[0]
    why = "could not reach conda-forge" if mode == "fail" else "did not finish within 2 s"
    assert why in lock_warnings[0]
    assert_whole_project_without_lock(tmp_path / "proj", "pixi.lock")
    assert not (tmp_path / "proj/.pixi").exists()


def test_without_pixi_a_pixi_project_is_not_locked_and_only_the_missing_tool_is_said(tmp_path, no_pixi):
    result, lock_warnings = new(tmp_path, "-t", "global-python-ml", "--yes")
    assert result.exit_code == 0, result.output
    assert lock_warnings == []  # the warning that pixi is missing names its install command
    assert any("will not run on this machine yet" in line and "pixi" in line
               for line in result.stderr.splitlines())
    assert_whole_project_without_lock(tmp_path / "proj", "pixi.lock")


# ------------------------------------------------------------------------------------------ the new prompts


def test_the_new_questions_are_asked_on_a_terminal(tmp_path, monkeypatch, stand_in_pixi):
    monkeypatch.setattr(cli, "_on_a_terminal", lambda: True)
    typed = ["global-python-ml", "", "", "", "", "3.11", "none", "n", "n", "y",  # ... docs, jupyter, git
             "none", "n", "Apache-2.0", "n"]  # CI, pre-commit, license, lock
    result, _ = new(tmp_path, input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    for prompt in ("CI workflow (github, none) [github]", "pre-commit hooks (ruff, nbstripout, ...)? [Y/n]",
                   "License (MIT, Apache-2.0, BSD-3-Clause, none) [MIT]",
                   "Lock the environment now (needs the package indexes)? [Y/n]"):
        assert prompt in result.output, prompt
    project = tmp_path / "proj"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert {k: answers[k] for k in ("ci", "pre_commit", "license", "lock")} == {
        "ci": "none", "pre_commit": False, "license": "Apache-2.0", "lock": False}
    assert not (project / ".github").exists() and not (project / ".pre-commit-config.yaml").exists()
    assert "Apache License" in (project / "LICENSE").read_text()
    assert lock_calls(stand_in_pixi) == 0 and not (project / "pixi.lock").exists()  # lock: no
