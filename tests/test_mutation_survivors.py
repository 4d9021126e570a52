"""Fast tests for bugs that once survived the suite (issue 12) and for mutants benchmarks/mutation.py found
alive: each protects a behaviour a user would pay for, with expected values written out by hand.

- ``--force`` keeps every file of the user's byte-identical, inside reproml's own folders too (src/, tests/,
  docs/) and an existing .git: "remove the target, then render" passed the suite once.
- Each torch extra of a uv project comes from the PyTorch index of its own build: the cpu extra pointed at the
  cu130 index passed every test once.
- The Jupyter token never reaches the launched server's command line or environment, nor the log: what the
  launched process really got is recorded by a stand-in python.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import render_preset
from reproml import jupyter_state as js
from reproml.cli import app
from test_jupyter import fake_python, invoke, make_project

runner = CliRunner()


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` (in .git too): its bytes and its mode."""
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


# ------------------------------------------------------------------------------------------------------------
# --force never loses or changes a file of the user's


def _git(folder: Path, *args: str) -> None:
    import subprocess

    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, timeout=30)


@pytest.mark.parametrize("with_git", [True, False], ids=["existing-repo", "no-repo"])
def test_force_keeps_foreign_files_inside_reproml_folders_and_git_byte_identical(tmp_path, with_git):
    target = tmp_path / "proj"
    mine = {
        "src/proj/model.py": b"WEIGHTS = 'mine'\n",  # beside the package reproml writes
        "src/legacy/__init__.py": b"",  # a second package of the user's
        "tests/test_mine.py": b"def test_mine():\n    assert True\n",
        "tests/data/sample.bin": bytes(range(256)),
        "docs/notes.md": b"# My notes\n",
        "notes.txt": b"top level\n",
        "run.sh": b"#!/bin/sh\necho run\n",
    }
    for name, data in mine.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
    (target / "run.sh").chmod(0o755)
    if with_git:
        _git(target, "init", "-q")
        _git(target, "add", "-A")
        _git(target, "commit", "-q", "-m", "mine")
    before = snapshot(target)
    assert {n for n in before if not n.startswith(".git/")} == set(mine)

    result = runner.invoke(app, ["new", str(target), "-t", "uv-python-ml", "--yes", "--force"])

    assert result.exit_code == 0, result.output
    after = snapshot(target)
    changed = [name for name, content in before.items() if after.get(name) != content]
    assert changed == [], f"--force changed or removed the user's files: {changed}"
    # reproml's own files were added around them. An existing repository is the user's (its files are among
    # those compared above: no commit went into it); without one, reproml made its own.
    for name in ("pyproject.toml", "src/proj/__init__.py", "tests/test_smoke.py", "docs/index.md"):
        assert name in after, name
    assert (target / ".git" / "HEAD").is_file()


# ------------------------------------------------------------------------------------------------------------
# every torch extra from its own PyTorch index

PYTORCH = "https://download.pytorch.org/whl"
# accelerator -> {extra (None: no extra, torch is a plain dependency): the build whose index serves it}.
# Written out from PyTorch's matrix and docs/DESIGN.md, never computed with reproml.gpu.
ROUTES: dict[str, dict[str | None, str]] = {
    "auto": {"cpu": "cpu", "cu126": "cu126", "cu130": "cu130"},
    "cuda": {"cu126": "cu126", "cu130": "cu130"},
    "cpu": {None: "cpu"},
    "cu126": {None: "cu126"},
    "cu130": {None: "cu130"},
    "cu132": {None: "cu132"},
}


@pytest.mark.parametrize("accelerator", sorted(ROUTES))
def test_each_extra_takes_torch_from_its_own_builds_index(tmp_path, accelerator):
    project = render_preset(tmp_path / "p", "uv-python-ml", accelerator=accelerator, docs=False)
    uv = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]
    urls = {index["name"]: index["url"] for index in uv["index"]}
    assert all(index.get("explicit") is True for index in uv["index"])
    for package in ("torch", "torchvision"):
        routes = {entry.get("extra"): urls[entry["index"]] for entry in uv["sources"][package]}
        expected = {extra: f"{PYTORCH}/{build}" for extra, build in ROUTES[accelerator].items()}
        assert routes == expected, f"{accelerator}: {package} routes"


# ------------------------------------------------------------------------------------------------------------
# the Jupyter token stays out of argv, the environment and the log of what is launched

RECORDING_PYTHON = """\
out={out}
printf '%s\\n' "$0" "$@" > "$out/argv"
env > "$out/environ"
cat "$JUPYTER_TOKEN_FILE" > "$out/token" 2>/dev/null
echo "stand-in python: recorded, exiting"
exit 3
"""


def test_the_launched_server_gets_the_token_only_through_its_0600_file(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_TOKEN", "a-token-of-the-users-shell")  # must not leak through either
    project = make_project(tmp_path / "tok", venv=None)
    out = tmp_path / "recorded"
    out.mkdir()
    fake_python(project, RECORDING_PYTHON.format(out=out))
    result = invoke("start", str(project), "--wait", "20")
    assert result.exit_code == 4, result.output  # the stand-in exits: start fails after launching it

    token = (out / "token").read_text()
    assert len(token) >= 32, "the launched process found no token in JUPYTER_TOKEN_FILE"
    argv = (out / "argv").read_text().splitlines()
    environ = (out / "environ").read_text()
    assert argv[0].endswith("/.venv/bin/python") and argv[1:3] == ["-m", "jupyterlab"]
    assert not any(token in arg or "token" in arg.lower() for arg in argv), argv
    assert token not in environ
    assert "JUPYTER_TOKEN=" not in environ  # the user's own is unset for the server
    assert f"JUPYTER_TOKEN_FILE={project.resolve() / '.reproml' / js.TOKEN_NAME}" in environ.splitlines()
    log = (project / ".reproml" / js.LOG_NAME).read_text()
    assert "recorded, exiting" in log and token not in log
    assert token not in result.output
    assert not (project / ".reproml" / js.TOKEN_NAME).exists()  # no server: no token left behind
    assert os.environ["JUPYTER_TOKEN"] == "a-token-of-the-users-shell"
