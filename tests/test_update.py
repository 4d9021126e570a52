"""`reproml update` on projects made by reproml 0.1.0 (its template is kept in tests/data/template-0.1.0)
and by today's `new`, with real git throughout: user work survives, untouched files become today's render,
conflicts get markers, answer changes go through the same merge, and refusals and signals leave the
repository as it was."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import copier
import pytest
import yaml
from click.testing import CliRunner

from helpers import DATA, files_in
from reproml.cli import app
from reproml.commands.new import render
from reproml.project import template_digest

OLD_TEMPLATE = DATA / "template-0.1.0"
REAL_GIT = shutil.which("git")
# What reproml 0.1.0's `new` gave copier (its questions; accelerator cu128 was still offered).
OLD_ANSWERS = {
    "project_name": "cell-seg",
    "distribution_name": "cell-seg",
    "package_name": "cell_seg",
    "description": "Segment cells",
    "author_name": "Ada Tester",
    "author_email": "ada@example.org",
    "python_version": "3.11",
    "framework": "torch",
    "docs": True,
    "jupyter": True,
    "accelerator": "auto",
}
runner = CliRunner()


def git(root: Path, *args: str) -> str:
    return subprocess.run([REAL_GIT, *args], cwd=root, check=True, capture_output=True, text=True).stdout


def state(root: Path) -> tuple[str, str, str, str]:
    """Everything a failed update must leave as it was: working tree, index, branch and history."""
    return (git(root, "status", "--porcelain", "--untracked-files=all"), git(root, "log", "--format=%H %s"),
            git(root, "rev-parse", "HEAD"), git(root, "diff", "HEAD"))


def update(root: Path, *args: str):
    return runner.invoke(app, ["update", str(root), *args])


def made_by_010(dest: Path, preset: str = "uv-python-ml", **answers: object) -> Path:
    """A project exactly as reproml 0.1.0's `new` made it: its template rendered by copier (absolute
    `_src_path`, no version in the answers) and the first commit holding the pristine render."""
    copier.run_copy(str(OLD_TEMPLATE), str(dest), data={**OLD_ANSWERS, "preset": preset, **answers},
                    defaults=True, overwrite=True, quiet=True, unsafe=False)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", f"Create project from reproml {preset}")
    return dest


def fresh_render(root: Path, tmp: Path) -> Path:
    """Today's template rendered with the answers the project now records."""
    recorded = yaml.safe_load((root / ".copier-answers.yml").read_text())
    target = tmp / "fresh"
    render({k: v for k, v in recorded.items() if not k.startswith("_")}, target)
    return target


def test_a_010_project_records_what_update_needs_to_refuse_and_to_find_its_base(tmp_path):
    root = made_by_010(tmp_path / "cell-seg")
    answers = yaml.safe_load((root / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(OLD_TEMPLATE) and "_reproml_version" not in answers


def test_user_work_survives_an_update_of_a_010_project(tmp_path):
    root = made_by_010(tmp_path / "cell-seg")
    pyproject = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(pyproject.replace('test = ["pytest>=8"]',
                                                           'test = ["pytest>=8", "hypothesis>=6"]'))
    readme = (root / "README.md").read_text()
    (root / "README.md").write_text(readme.replace("Segment cells\n", "Segment cells\n\nLab notes.\n", 1))
    (root / "src/cell_seg/model.py").write_text("def model():\n    return 42\n")
    (root / ".vscode/settings.json").unlink()  # a template file the user deleted (the template changed it)
    (root / "docs/index.md").unlink()  # one the template did not change
    (root / "tests/test_smoke.py").write_text("def test_mine():\n    assert True\n")  # rewritten
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "our work")
    user_files = {"pyproject.toml", "README.md", "src/cell_seg/model.py", "tests/test_smoke.py"}

    result = update(root)

    assert result.exit_code == 6, result.output
    assert "CONFLICT tests/test_smoke.py" in result.output
    assert ".vscode/settings.json: you deleted it; it stays deleted" in result.output
    smoke = (root / "tests/test_smoke.py").read_text()
    render_commit = git(root, "rev-parse", "MERGE_HEAD").strip()
    assert "Reproml-Render: uv-python-ml" in git(root, "log", "-1", "--format=%B", render_commit)
    assert smoke.startswith("<<<<<<< HEAD\ndef test_mine():\n    assert True\n=======\n")
    assert smoke.endswith(f">>>>>>> {render_commit}\n")
    unmerged = git(root, "diff", "--name-only", "--diff-filter=U").split()
    assert unmerged == ["tests/test_smoke.py"]
    assert '"hypothesis>=6"' in (root / "pyproject.toml").read_text()
    assert "Lab notes." in (root / "README.md").read_text()
    assert (root / "src/cell_seg/model.py").read_text() == "def model():\n    return 42\n"
    assert not (root / ".vscode/settings.json").exists() and not (root / "docs/index.md").exists()
    answers = (root / ".copier-answers.yml").read_text()
    assert "_src_path" not in answers and str(tmp_path) not in answers
    assert f"_template_digest: {template_digest()}" in answers

    fresh = fresh_render(root, tmp_path)
    untouched = files_in(fresh) - user_files - {".vscode/settings.json", "docs/index.md"}
    assert {".envrc", ".gitignore", ".copier-answers.yml", "docs/conf.py"} <= untouched
    for name in sorted(untouched):
        assert (root / name).read_bytes() == (fresh / name).read_bytes(), name
    # Both pyproject changes are in: the user's dependency and the template's (cu128 retired for cu126).
    merged = (root / "pyproject.toml").read_text()
    assert "cu126" in merged and "cu128" not in merged

    (root / "tests/test_smoke.py").write_text("def test_mine():\n    assert True\n")
    git(root, "add", "tests/test_smoke.py")
    git(root, "commit", "-q", "--no-edit")
    assert update(root, "--check").exit_code == 0
    head = git(root, "rev-parse", "HEAD")
    again = update(root)
    assert again.exit_code == 0 and "up to date" in again.output
    assert git(root, "rev-parse", "HEAD") == head and git(root, "status", "--porcelain") == ""


def test_a_clean_update_commits_a_merge_and_the_second_changes_nothing(tmp_path):
    root = made_by_010(tmp_path / "cell-seg")
    (root / "src/cell_seg/model.py").write_text("X = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "model")
    assert update(root, "--check").exit_code == 1

    first = update(root)

    assert first.exit_code == 0, first.output
    parents = git(root, "log", "-1", "--format=%P").split()
    assert len(parents) == 2  # a real merge: the render is its second parent, the next update's base
    assert "Reproml-Render: uv-python-ml" in git(root, "log", "-1", "--format=%B", parents[1])
    assert git(root, "status", "--porcelain") == ""
    before = state(root)
    second = update(root)
    assert second.exit_code == 0 and "up to date" in second.output
    assert state(root) == before
    # A clone finds the same base offline: the render is in the history, not in a local branch.
    clone = tmp_path / "clone"
    subprocess.run([REAL_GIT, "clone", "-q", str(root), str(clone)], check=True)
    assert update(clone, "--check").exit_code == 0


def test_dry_run_prints_the_merge_and_changes_nothing(tmp_path):
    root = made_by_010(tmp_path / "cell-seg")
    before = state(root)
    result = update(root, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "+_reproml_version:" in result.output and "-_src_path:" in result.output
    assert "+cu126 = " in result.output
    assert state(root) == before


def test_dirty_tree_is_refused_and_left_untouched(tmp_path):
    root = made_by_010(tmp_path / "cell-seg")
    (root / "README.md").write_text("unsaved work\n")
    before = state(root)
    result = update(root)
    assert result.exit_code == 5
    assert result.output.strip().splitlines() == [
        f"reproml: error: {root} has 1 uncommitted change (commit or stash them first, so that the update "
        "cannot lose any: `git status` lists them)"]
    assert state(root) == before and (root / "README.md").read_text() == "unsaved work\n"


def test_outside_a_git_repository_is_refused(tmp_path):
    root = tmp_path / "cell-seg"
    copier.run_copy(str(OLD_TEMPLATE), str(root), data={**OLD_ANSWERS, "preset": "uv-python-ml"},
                    defaults=True, quiet=True, unsafe=False)
    before = sorted(files_in(root))
    result = update(root)
    assert result.exit_code == 5
    assert result.output.strip().splitlines() == [
        f"reproml: error: {root} is not in a git repository (update merges with git: run "
        "`git init && git add -A && git commit -m 'Start'` first)"]
    assert sorted(files_in(root)) == before


def test_a_project_inside_a_larger_repository_is_refused(tmp_path):
    outer = tmp_path / "mono"
    project = made_by_010(outer / "cell-seg")
    shutil.rmtree(project / ".git")
    git(outer, "init", "-q", "-b", "main")
    git(outer, "add", "-A")
    git(outer, "commit", "-q", "-m", "monorepo")
    before = state(outer)
    result = update(project)
    assert result.exit_code == 5
    assert f"{project} is inside the git repository {outer}: update merges whole" in result.output
    assert state(outer) == before


def test_a_merge_in_progress_is_refused(tmp_path):
    root = made_by_010(tmp_path / "cell-seg")
    (root / "src/cell_seg/model.py").write_text("X = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "model")
    assert update(root).exit_code == 0
    git(root, "reset", "-q", "--hard", "HEAD~1")  # back before the update, then an update that conflicts
    (root / "tests/test_smoke.py").write_text("def test_mine():\n    pass\n")
    git(root, "commit", "-q", "-am", "mine")
    assert update(root).exit_code == 6
    before = state(root)
    result = update(root)
    assert result.exit_code == 5 and "a git operation is in progress" in result.output
    assert state(root) == before


def test_answer_changes_go_through_the_merge(tmp_path):
    root = made_by_010(tmp_path / "cell-seg")
    (root / "docs/index.md").write_text("# Our docs\n")  # changed by the user: kept when docs go
    git(root, "commit", "-q", "-am", "our docs")

    result = update(root, "--accelerator", "cpu", "--no-docs")

    assert result.exit_code == 0, result.output
    assert "docs/index.md: the template no longer has it; yours is kept" in result.output
    assert (root / "docs/index.md").read_text() == "# Our docs\n"
    assert not (root / "docs/conf.py").exists()  # the user never changed it: removed
    pyproject = (root / "pyproject.toml").read_text()
    assert "cu126" not in pyproject and "cu130" not in pyproject and "sphinx" not in pyproject
    answers = yaml.safe_load((root / ".copier-answers.yml").read_text())
    assert answers["accelerator"] == "cpu" and answers["docs"] is False
    assert git(root, "status", "--porcelain") == ""

    switched = update(root, "-t", "pythonml", "--python", "3.12")

    assert switched.exit_code == 0, switched.output
    assert (root / ".nix/flake.nix").is_file() and "use flake" in (root / ".envrc").read_text()
    assert (root / ".python-version").read_text().strip() == "3.12"
    assert (root / "docs/index.md").read_text() == "# Our docs\n"
    fresh = fresh_render(root, tmp_path)
    for name in sorted(files_in(fresh)):
        assert (root / name).read_bytes() == (fresh / name).read_bytes(), name
    assert update(root, "--check").exit_code == 0


def test_a_pixi_project_switches_to_uv_unless_it_holds_conda_packages(tmp_path):
    root = made_by_010(tmp_path / "cell-seg", "global-python-ml")
    pyproject = (root / "pyproject.toml").read_text()
    assert "[tool.pixi.dependencies]\n" in pyproject
    (root / "pyproject.toml").write_text(
        pyproject.replace("[tool.pixi.dependencies]\n", '[tool.pixi.dependencies]\nhdf5 = "*"\n'))
    git(root, "commit", "-q", "-am", "hdf5 from conda-forge")
    before = state(root)
    refused = update(root, "-t", "uv-python-ml")
    assert refused.exit_code == 2
    assert "uv cannot install conda packages you added (hdf5)" in refused.output
    assert state(root) == before

    git(root, "revert", "--no-edit", "HEAD")
    (root / "pixi.lock").write_text("version: 6\n")  # a lock of the old manager, committed
    git(root, "add", "pixi.lock")
    git(root, "commit", "-q", "-m", "lock")
    switched = update(root, "-t", "uv-python-ml")
    assert switched.exit_code == 0, switched.output
    assert "[tool.pixi" not in (root / "pyproject.toml").read_text()
    assert (root / ".python-version").is_file()
    assert "pixi.lock belongs to pixi, which the project no longer uses: `git rm pixi.lock`" in (
        switched.output)


@pytest.mark.parametrize(("args", "message"), [
    (["-t", "nixos-pythonml"], "cannot switch to nixos-pythonml: it is deprecated and works on NixOS only"),
    (["-t", "uv"], "unknown template 'uv' (did you mean 'uv-python-ml'?)"),
    (["--python", "3.9"], "unsupported --python '3.9'"),
    (["--accelerator", "cu999"], "unknown --accelerator 'cu999'"),
])
def test_switches_that_cannot_work_are_refused_with_the_reason(tmp_path, args, message):
    root = made_by_010(tmp_path / "cell-seg")
    before = state(root)
    result = update(root, *args)
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert state(root) == before


def test_answers_that_no_longer_work_are_refused_with_the_fix(tmp_path):
    retired = made_by_010(tmp_path / "retired", accelerator="cu128")
    result = update(retired)
    assert result.exit_code == 2
    assert "accelerator 'cu128', which reproml no longer offers (choose one with --accelerator" in (
        result.output)
    assert update(retired, "--accelerator", "cu126").exit_code == 0
    no_torch = made_by_010(tmp_path / "no-torch", framework="none")
    result = update(no_torch, "--accelerator", "cpu")
    assert result.exit_code == 2 and "this project has no PyTorch (framework none)" in result.output


def test_a_stale_lock_is_named_with_the_command_that_refreshes_it(tmp_path, no_pixi):
    root = made_by_010(tmp_path / "cell-seg")
    (root / "uv.lock").write_text("version = 1\n")
    git(root, "add", "uv.lock")
    git(root, "commit", "-q", "-m", "lock")
    result = update(root, "--accelerator", "cpu")
    assert result.exit_code == 0, result.output
    assert "the merge changed the project's dependencies: uv.lock is stale; run `uv lock`" in result.output
    unchanged = update(root, "--no-jupyter")  # dependency groups change too: still stale
    assert "uv.lock is stale" in unchanged.output
    pixi = made_by_010(tmp_path / "pixi-proj", "global-python-ml")
    (pixi / "pixi.lock").write_text("version: 6\n")
    git(pixi, "add", "pixi.lock")
    git(pixi, "commit", "-q", "-m", "lock")
    result = update(pixi, "--accelerator", "cpu", "--lock")
    assert "pixi.lock is stale and pixi is not on PATH: run `pixi lock` where it is" in result.output


def test_a_change_that_leaves_dependencies_alone_says_nothing_of_locks(tmp_path):
    root = made_by_010(tmp_path / "cell-seg")
    update(root)
    (root / "uv.lock").write_text("version = 1\n")
    git(root, "add", "uv.lock")
    git(root, "commit", "-q", "-m", "lock")
    result = update(root, "-t", "pythonml")  # adds the flake; pyproject's dependencies stay
    assert result.exit_code == 0, result.output
    assert "lock" not in result.output


def test_new_records_portable_answers_and_is_up_to_date(tmp_path):
    made = runner.invoke(app, ["new", str(tmp_path / "fresh"), "-t", "uv-python-ml", "--yes", "--no-lock"])
    assert made.exit_code == 0, made.output
    answers = yaml.safe_load((tmp_path / "fresh/.copier-answers.yml").read_text())
    assert "_src_path" not in answers and answers["_template_digest"] == template_digest()
    assert not any(str(tmp_path) in str(value) for value in answers.values())
    result = update(tmp_path / "fresh", "--check")
    assert result.exit_code == 0 and "up to date" in result.output


def test_doctor_reports_a_waiting_update(tmp_path):
    root = made_by_010(tmp_path / "cell-seg")
    report = runner.invoke(app, ["doctor", str(root), "--json"])
    finding = next(f for f in yaml.safe_load(report.output)["findings"] if f["id"] == "project.template")
    assert finding["status"] == "warning" and "reproml update" in finding["fix"]
    assert update(root).exit_code == 0
    report = runner.invoke(app, ["doctor", str(root), "--json"])
    finding = next(f for f in yaml.safe_load(report.output)["findings"] if f["id"] == "project.template")
    assert finding["status"] == "ok"


# ------------------------------------------------------------------------------------------------------------
# Signals: real processes, a real Ctrl-C (SIGINT to the whole process group, as a terminal sends it).


def paused_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> Path:
    """A `git` first on PATH that, for ``command``, touches the returned marker and sleeps 2 s before running
    the real git: the update is paused at that step while the signal arrives."""
    marker = tmp_path / f"at-{command}"
    stub = tmp_path / "bin" / "git"
    stub.parent.mkdir()
    stub.write_text(f'#!/bin/sh\nif [ "$1" = {command} ]; then touch "{marker}"; sleep 2; fi\n'
                    f'exec {REAL_GIT} "$@"\n')
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub.parent}{os.pathsep}{os.environ['PATH']}")
    return marker


def ctrl_c_at(marker: Path, root: Path, tmp: Path, number: int = signal.SIGINT) -> tuple[int, str]:
    proc = subprocess.Popen([sys.executable, "-m", "reproml", "update", str(root)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(tmp)})
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, number)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize(("step", "number", "expected", "last_line"), [
    ("commit-tree", signal.SIGINT, 130, "reproml: interrupted; nothing was left half-written"),
    ("write-tree", signal.SIGINT, 130, "reproml: interrupted; nothing was left half-written"),
    ("commit-tree", signal.SIGTERM, 143, "reproml: error: stopped by SIGTERM; the project is as it was"),
])
def test_a_signal_before_the_merge_leaves_the_repository_as_it_was(tmp_path, monkeypatch, step, number,
                                                                   expected, last_line):
    root = made_by_010(tmp_path / "cell-seg")
    (root / "src/cell_seg/model.py").write_text("X = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "model")
    before = state(root)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    marker = paused_git(tmp_path, monkeypatch, step)
    code, err = ctrl_c_at(marker, root, scratch, number)
    assert code == expected, err
    assert err.strip().splitlines()[-1] == last_line
    assert state(root) == before
    assert list(scratch.iterdir()) == []  # the render's temporary folder is gone too


def test_ctrl_c_during_the_merge_does_not_cut_it_half_way(tmp_path, monkeypatch):
    root = made_by_010(tmp_path / "cell-seg")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    marker = paused_git(tmp_path, monkeypatch, "merge")
    code, err = ctrl_c_at(marker, root, scratch)
    assert code == 0, err
    assert git(root, "status", "--porcelain") == ""
    assert len(git(root, "log", "-1", "--format=%P").split()) == 2


def test_untracked_files_where_the_template_puts_its_own_are_refused(tmp_path):
    root = made_by_010(tmp_path / "cell-seg", docs=False)
    (root / "docs").mkdir()
    (root / "docs/conf.py").write_text("# my own, not committed\n")
    before = state(root)
    result = update(root, "--docs")
    assert result.exit_code == 5
    assert result.output.strip().splitlines() == [
        "reproml: error: files that are not in git are where the template puts its own: docs/conf.py (move "
        "them away or commit them first)"]
    assert state(root) == before and (root / "docs/conf.py").read_text() == "# my own, not committed\n"


def test_lock_refreshes_a_stale_lock_with_the_managers_own_command(tmp_path, monkeypatch):
    # pixi cannot be installed here: a stand-in that writes pixi.lock as `pixi lock` does.
    stand_in = tmp_path / "bin" / "pixi"
    stand_in.parent.mkdir()
    stand_in.write_text('#!/bin/sh\n[ "$1" = lock ] && printf "version: 6\\n# relocked\\n" > pixi.lock\n')
    stand_in.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}")
    root = made_by_010(tmp_path / "cell-seg", "global-python-ml")
    (root / "pixi.lock").write_text("version: 6\n")
    git(root, "add", "pixi.lock")
    git(root, "commit", "-q", "-m", "lock")
    result = update(root, "--accelerator", "cpu", "--lock")
    assert result.exit_code == 0, result.output
    assert "pixi.lock refreshed with `pixi lock`: review and commit it" in result.output
    assert (root / "pixi.lock").read_text() == "version: 6\n# relocked\n"
    assert git(root, "status", "--porcelain") == " M pixi.lock\n"


def test_a_project_made_without_git_takes_the_commit_that_added_its_answers_as_base(tmp_path):
    made = runner.invoke(app, ["new", str(tmp_path / "p"), "-t", "uv-python-ml", "--yes", "--no-git",
                               "--no-lock"])
    assert made.exit_code == 0, made.output
    root = tmp_path / "p"
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Create project")  # as `new --no-git` says to
    added = git(root, "rev-parse", "HEAD").strip()
    result = update(root, "--check")
    assert result.exit_code == 0, result.output
    assert f"the commit that added .copier-answers.yml ({added[:10]}) is the base" in result.output
    assert update(root, "--no-jupyter").exit_code == 0
    assert "jupyterlab" not in (root / "pyproject.toml").read_text()
    second = update(root, "--check")
    assert second.exit_code == 0 and "note:" not in second.output  # the render is recorded now


def test_a_010_project_gets_no_license_until_asked_and_then_the_current_year(tmp_path):
    root = made_by_010(tmp_path / "cell-seg")
    result = update(root)
    assert result.exit_code == 0, result.output
    assert "no license file added" in result.output
    assert not (root / "LICENSE").exists()
    assert "license =" not in (root / "pyproject.toml").read_text()
    assert (root / ".github/workflows/ci.yml").is_file()  # CI and pre-commit do come in
    assert (root / ".pre-commit-config.yaml").is_file()

    assert update(root, "--license", "GPL-9").exit_code == 2
    year = time.strftime("%Y")
    result = update(root, "--license", "Apache-2.0", "--no-pre-commit", "--ci", "none")
    assert result.exit_code == 0, result.output
    assert "Apache License" in (root / "LICENSE").read_text()
    assert f"Copyright {year} Ada Tester" in (root / "LICENSE").read_text()
    assert 'license = "Apache-2.0"' in (root / "pyproject.toml").read_text()
    assert not (root / ".pre-commit-config.yaml").exists() and not (root / ".github").exists()
    assert update(root, "--check").exit_code == 0


def _made_and_locked_by_new(tmp_path: Path, *args: str) -> Path:
    root = tmp_path / "proj"
    result = runner.invoke(app, ["new", str(root), "--yes", *args])
    assert result.exit_code == 0, result.output
    return root


def test_the_lock_made_at_creation_is_neither_an_update_nor_touched_by_one(tmp_path, stand_in_pixi):
    # `new` locks at creation and commits the lock with the render: the base holds a file no render has.
    root = _made_and_locked_by_new(tmp_path, "-t", "global-python-ml")
    lock = (root / "pixi.lock").read_bytes()
    assert "pixi.lock" in git(root, "ls-tree", "--name-only", "HEAD")
    check = update(root, "--check")
    assert check.exit_code == 0 and "up to date" in check.output, check.output
    assert update(root, "--no-docs").exit_code == 0
    assert (root / "pixi.lock").read_bytes() == lock
    assert "pixi.lock" in git(root, "ls-tree", "--name-only", "HEAD")


@pytest.mark.network
def test_a_uv_lock_made_at_creation_survives_updates(tmp_path, monkeypatch):
    monkeypatch.setenv("UV_PYTHON", sys.executable)
    root = _made_and_locked_by_new(tmp_path, "-t", "uv-python-ml", "--framework", "none")
    lock = (root / "uv.lock").read_bytes()
    assert update(root, "--check").exit_code == 0
    assert update(root, "--python", "3.12").exit_code == 0
    # Stale now (requires-python changed), and said so, but not lost.
    assert (root / "uv.lock").read_bytes() == lock
