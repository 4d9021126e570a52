"""`reproml new` and `reproml templates` through the CLI, in-process: the happy path and every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reproml import cli
from reproml.cli import app
from reproml.commands import new as new_module

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    # `new` here never locks (uv lock would reach the package indexes): tests/test_lock.py covers locking.
    if args[:1] == ("new",):
        args = ("new", "--no-lock", *args[1:])
    return runner.invoke(app, list(args), input=input)


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_new_creates_a_committed_project_and_prints_next_steps(tmp_path):
    target = tmp_path / "Cell Seg"
    result = invoke("new", str(target), "-t", "uv-python-ml", "--yes", "--no-docs")
    assert result.exit_code == 0, result.output
    assert "uv run pytest" in result.output and "direnv allow" in result.output
    assert (target / "src" / "cell_seg" / "__init__.py").is_file()
    assert not (target / "docs").exists()
    log = subprocess.run(["git", "log", "--oneline"], cwd=target, capture_output=True, text=True)
    assert "Create project from reproml uv-python-ml" in log.stdout
    status = subprocess.run(["git", "status", "--porcelain"], cwd=target, capture_output=True, text=True)
    assert status.stdout == ""
    answers = (target / ".copier-answers.yml").read_text()
    assert "preset: uv-python-ml" in answers and "author_name: Ada Tester" in answers
    assert [p.name for p in tmp_path.iterdir()] == ["Cell Seg"]  # no staging folder left


def fake_tool(bin_dir: Path, name: str, output: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text(f"#!/bin/sh\necho '{output}'\n")
    tool.chmod(0o755)


def without_pixi_path() -> str:
    return os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "pixi").exists())


def test_defaults_preset_for_this_machine_name_python_and_git_identity(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", without_pixi_path())
    result = invoke("new", str(tmp_path / "deep" / "er" / "proj"), "--yes", "--no-git")
    assert result.exit_code == 0, result.output
    answers = (tmp_path / "deep/er/proj/.copier-answers.yml").read_text()
    # No pixi and no usable Nix (Debian's 2.8, flakes off) here: uv-python-ml, and one line says why.
    assert "preset: uv-python-ml" in answers
    assert "reproml: preset uv-python-ml: " in result.stderr
    assert "will not run" not in result.stderr
    assert f"python_version: '{sys.version_info.major}.{sys.version_info.minor}'" in answers
    assert "author_email: ada@example.org" in answers
    assert not (tmp_path / "deep/er/proj/.git").exists()


def test_default_preset_is_pixi_where_pixi_is_installed(tmp_path, monkeypatch):
    fake_tool(tmp_path / "bin", "pixi", "pixi 0.77.0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    result = invoke("new", str(tmp_path / "proj"), "--yes", "--no-git")
    assert result.exit_code == 0, result.output
    assert "preset: global-python-ml" in (tmp_path / "proj/.copier-answers.yml").read_text()


def test_a_preset_whose_tools_are_missing_is_made_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", without_pixi_path())
    result = invoke("new", str(tmp_path / "proj"), "-t", "global-python-ml", "--yes", "--no-git")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if "will not run on this machine yet" in line]
    assert len(warning) == 1 and "pixi" in warning[0] and "install" in warning[0]
    assert "# first: " in result.stdout and "pixi" in result.stdout.split("# first: ", 1)[1]
    assert (tmp_path / "proj" / "pyproject.toml").is_file()


@pytest.mark.parametrize(
    ("driver", "extra"),
    [("none", "--extra cpu"), ("580.65.06", "--extra cu130"), ("535.104.05", "--extra cu126")],
)
def test_next_steps_for_an_auto_uv_project_install_this_machines_torch(tmp_path, monkeypatch, driver, extra):
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", driver)
    result = invoke("new", str(tmp_path / "proj"), "-t", "uv-python-ml", "--yes", "--no-git")
    assert result.exit_code == 0, result.output
    assert f"direnv allow            # or: uv sync {extra}\n" in result.stdout


def test_next_steps_without_torch_or_with_a_fixed_build_need_no_extra(tmp_path):
    for name, args in (("a", ["--framework", "none"]), ("b", ["--accelerator", "cpu"])):
        result = invoke("new", str(tmp_path / name), "-t", "uv-python-ml", "--yes", "--no-git", *args)
        assert result.exit_code == 0, result.output
        assert "# or: uv sync\n" in result.stdout


def test_next_steps_say_deactivate_when_another_venv_is_active(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "reproml-venv"))
    result = invoke("new", str(tmp_path / "proj"), "-t", "uv-python-ml", "--yes", "--no-git")
    assert result.exit_code == 0, result.output
    assert "  deactivate " in result.stdout


def test_no_git_identity_is_a_warning_with_the_fix(tmp_path, monkeypatch):
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    result = invoke(
        "new", str(tmp_path / "proj"), "-t", "uv-python-ml", "--yes", "--author", "", "--email", ""
    )
    assert result.exit_code == 0, result.output
    assert "git has no user.name and no user.email" in result.stderr
    assert "git config --global user.name" in result.stderr and "--reset-author" in result.stderr
    log = subprocess.run(
        ["git", "log", "--format=%an <%ae>"], cwd=tmp_path / "proj", capture_output=True, text=True
    )
    assert log.stdout.strip() == "reproml <reproml@localhost>"


def test_author_and_email_given_make_the_commit_without_a_warning(tmp_path, monkeypatch):
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    result = invoke(
        "new",
        str(tmp_path / "proj"),
        "-t",
        "uv-python-ml",
        "--yes",
        "--author",
        "Grace",
        "--email",
        "grace@example.org",
    )
    assert result.exit_code == 0, result.output
    assert "git has no" not in result.stderr
    log = subprocess.run(
        ["git", "log", "--format=%an <%ae>"], cwd=tmp_path / "proj", capture_output=True, text=True
    )
    assert log.stdout.strip() == "Grace <grace@example.org>"


def test_force_into_an_existing_git_repository_says_so(tmp_path):
    target = tmp_path / "proj"
    target.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    result = invoke("new", str(target), "-t", "uv-python-ml", "--yes", "--force")
    assert result.exit_code == 0, result.output
    assert "--no-git" not in result.stdout
    assert "already was a git repository" in result.stdout
    log = subprocess.run(["git", "log", "--oneline"], cwd=target, capture_output=True, text=True)
    assert log.stdout == ""  # the user's repository: reproml made no commit in it


def test_deprecated_preset_warns_once(tmp_path):
    result = invoke("new", str(tmp_path / "old"), "-t", "nixos-pythonml", "--yes", "--no-git")
    assert result.exit_code == 0
    deprecation = [line for line in result.stderr.splitlines() if "deprecated" in line.lower()]
    assert len(deprecation) == 1 and "NixOS only" in deprecation[0]
    assert deprecation[0].lower().count("deprecated") == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-t", "uv-pyton-ml"], 2, "unknown template 'uv-pyton-ml' (did you mean 'uv-python-ml'?)"),
        (["--python", "3.9"], 2, "unsupported --python '3.9'"),
        (["--python", "three"], 2, "unsupported --python 'three'"),
        (["--framework", "jax"], 2, "unknown --framework 'jax'"),
        (["--accelerator", "cu999"], 2, "unknown --accelerator 'cu999'"),
        (["--accelerator", "cu128"], 2, "unknown --accelerator 'cu128'"),
        (["--framework", "none", "--accelerator", "cu130"], 2, "--accelerator needs --framework torch"),
        (["--email", "not-an-email"], 2, "is not an e-mail address"),
        (["--description", "say\x07hi"], 2, "--description 'say\\x07hi' contains a control character"),
        (["--author", "Ada\nLovelace"], 2, "--author 'Ada\\nLovelace' contains a control character (U+000A)"),
        (["--email", "ada@example.org\t"], 2, "contains a control character (U+0009)"),
        (["--name", "cell\x1bseg"], 2, "project name 'cell\\x1bseg' contains a control character (U+001B)"),
        (["--author", "Lovelace, Ada"], 2, "has a comma, which a pyproject.toml author name cannot hold"),
        (["--email", "ada@localhost"], 2, "'ada@localhost' is not an e-mail address"),
        (["--name", "x" * 300], 2, "project name is 300 characters long; at most 80"),
        (["--name", "CON"], 2, "is a reserved device name on Windows ('con')"),
        (["--name", "nul"], 2, "is a reserved device name on Windows ('nul')"),
        (["--name", "Aux"], 2, "is a reserved device name on Windows ('aux')"),
        (["--name", "com1"], 2, "is a reserved device name on Windows ('com1')"),
        (["--name", "LPT9"], 2, "is a reserved device name on Windows ('lpt9')"),
        (["--name", ""], 2, "the project name is empty"),
        (["--name", "1st-model"], 2, "starts with a digit"),
        (["--name", "class"], 2, "is a Python keyword"),
        (["--name", "json"], 2, "shadows the standard library module 'json'"),
        (["--name", "test"], 2, "shadows 'test'"),
        (["--name", "torch"], 2, "shadows 'torch'"),
        (["--name", "numpy"], 2, "shadows 'numpy'"),
        (["--name", "a/b"], 2, "contains a path separator or '..'"),
        (["--name", ".."], 2, "contains a path separator or '..'"),
        (["--name", "---"], 2, "has no letters or digits"),
    ],
)
def test_bad_input_is_one_line_nonzero_and_leaves_nothing(tmp_path, args, code, message):
    before = listing(tmp_path)
    result = invoke("new", str(tmp_path / "proj"), "--yes", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("reproml: error: ")
    assert "Traceback" not in result.output
    assert listing(tmp_path) == before


def test_non_empty_folder_needs_force_and_force_keeps_foreign_files(tmp_path):
    target = tmp_path / "proj"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "README.md").write_text("old readme")
    result = invoke("new", str(target), "-t", "uv-python-ml", "--yes", "--no-git")
    assert result.exit_code == 3
    assert "is not empty" in result.stderr and "--force" in result.stderr
    assert listing(target) == ["README.md", "notes.txt"]
    assert (target / "README.md").read_text() == "old readme"

    result = invoke("new", str(target), "-t", "uv-python-ml", "--yes", "--no-git", "--force")
    assert result.exit_code == 6, result.output  # the project is there; the user's README waits for a merge
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "README.md").read_text() == "old readme"
    assert (target / "README.md.reproml-new").read_text().startswith("# proj")
    assert "README.md: yours kept; reproml's version is README.md.reproml-new" in result.stdout
    assert (target / "pyproject.toml").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["proj"]


def test_force_refuses_a_folder_where_a_file_goes_before_moving_anything(tmp_path):
    target = tmp_path / "proj"
    (target / "pyproject.toml").mkdir(parents=True)
    (target / "keep.txt").write_text("x")
    result = invoke("new", str(target), "-t", "uv-python-ml", "--yes", "--no-git", "--force")
    assert result.exit_code == 3
    assert "is a folder; reproml needs to write a file there" in result.stderr
    assert listing(target) == ["keep.txt", "pyproject.toml"]


def test_destination_that_is_a_file_or_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("new", str(blocker), "--yes")
    assert result.exit_code == 3 and "exists and is not a folder" in result.stderr
    result = invoke("new", str(blocker / "child"), "--yes")
    assert result.exit_code == 3 and "is not a folder" in result.stderr
    assert listing(tmp_path) == ["file"]


def test_unwritable_parent(unprivileged):
    # As a user that file modes bind (root can write anywhere): a folder it owns but may not write to.
    locked = unprivileged.tmp / "locked"
    assert unprivileged.run(["mkdir", "-m", "500", str(locked)]).returncode == 0
    done = unprivileged.run([sys.executable, "-m", "reproml", "new", str(locked / "proj"), "--yes"])
    assert done.returncode == 3, done.stderr
    assert "permission denied" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(locked.iterdir()) == []


def test_unwritable_place_on_a_read_only_filesystem(tmp_path):
    result = invoke("new", "/proc/reproml-test-project", "--yes", "--no-git")
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("reproml: error: cannot write to /proc")
    assert not Path("/proc/reproml-test-project").exists()


def test_ctrl_c_while_rendering_leaves_nothing(tmp_path, monkeypatch):
    real_render = new_module.render

    def render_then_interrupt(answers, target):
        real_render(answers, target)  # files are really written to the staging folder first
        raise KeyboardInterrupt

    monkeypatch.setattr(new_module, "render", render_then_interrupt)
    result = invoke("new", str(tmp_path / "a" / "b" / "proj"), "--yes", "--no-git")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    assert listing(tmp_path) == []  # not even the parents it created


def test_failed_git_step_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no git on PATH
    result = invoke("new", str(tmp_path / "proj"), "-t", "uv-python-ml", "--yes")
    assert result.exit_code == 4, result.output
    assert "git could not make the first commit" in result.stderr and "--no-git" in result.stderr
    assert listing(tmp_path) == []


def test_interactive_questions_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_on_a_terminal", lambda: True)
    monkeypatch.setenv("PATH", without_pixi_path())
    answers = "\n".join(
        ["uv-python-ml", "class", "My Model", "Segments cells", "", "", "3.11", "none", "n", "y", "n", "", "",
         ""]  # the last three: CI, pre-commit and license defaults
    )
    result = invoke("new", str(tmp_path / "proj"), input=answers + "\n")
    assert result.exit_code == 0, result.output
    assert "is a Python keyword" in result.output  # the bad name was refused and asked again
    # Each preset is listed with what it is for, and the one that fits this machine is the default.
    assert "pythonml           Python-only projects with Nix-provided dev tools" in result.output
    assert "(recommended here)" in result.output and "Preset [uv-python-ml]" in result.output
    assert "git init and a first commit? [Y/n]" in result.output
    text = (tmp_path / "proj" / ".copier-answers.yml").read_text()
    assert "project_name: My Model" in text and "package_name: my_model" in text
    assert "description: Segments cells" in text and "docs: false" in text and "framework: none" in text
    assert not (tmp_path / "proj" / ".git").exists()  # the last answer said no to git


def test_yes_never_asks(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_on_a_terminal", lambda: True)
    result = invoke("new", str(tmp_path / "proj"), "--yes", "--no-git", input="")
    assert result.exit_code == 0, result.output
    assert "Preset" not in result.output


def test_templates_json_lists_presets_and_recommends(monkeypatch):
    result = invoke("templates", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    names = [p["name"] for p in data["presets"]]
    assert names == ["global-python-ml", "flake-python-ml", "pythonml", "uv-python-ml", "nixos-pythonml"]
    deprecated = {p["name"] for p in data["presets"] if p["deprecated"]}
    assert deprecated == {"nixos-pythonml"}
    assert data["tools"]["uv"]  # uv ships with reproml
    assert data["tools"]["pixi"] is None  # no pixi on this machine
    runnable = {p["name"] for p in data["presets"] if p["runnable_here"]}
    assert "uv-python-ml" in runnable and "global-python-ml" not in runnable
    assert data["recommended"] in runnable


def test_templates_recommends_pixi_preset_when_pixi_exists(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pixi"
    fake.write_text("#!/bin/sh\necho pixi 0.77.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    data = json.loads(invoke("templates", "--json").stdout)
    assert data["recommended"] == "global-python-ml"


def test_templates_table_mentions_deprecated_and_recommendation():
    result = invoke("templates")
    assert result.exit_code == 0
    assert "nixos-pythonml (deprecated)" in result.stdout
    assert "Recommended here:" in result.stdout


def test_help_and_version_as_a_module():
    done = subprocess.run([sys.executable, "-m", "reproml", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("reproml ")
    done = subprocess.run([sys.executable, "-m", "reproml", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "new" in done.stdout and "templates" in done.stdout
