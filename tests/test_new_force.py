"""`reproml new --force` never loses content: a file of the user's that differs is kept and reproml's version
written beside it (exit 6: merge needed), .gitignore only gains reproml's missing rules, identical files are
left alone, every other file (src/, tests/, docs/, .git) stays byte-identical, and a failure half-way moves
everything back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import tmpfs_mounted
from reproml.cli import app

REAL_GIT = shutil.which("git")
USER_GITIGNORE = b"# mine\nsecrets.env\n.venv/\n"
USER_FILES = {
    "README.md": b"# My notes\n\nNot reproml's.\n",
    "pyproject.toml": b'[project]\nname = "proj"\nversion = "7.0"\ndependencies = ["scipy"]\n',
    ".gitignore": USER_GITIGNORE,
    "src/proj/__init__.py": b'"""My package."""\nANSWER = 42\n',
    # Foreign files: reproml writes nothing of these names.
    "src/proj/model.py": b"class Model: ...\n",
    "src/other.py": b"x = 1\n",
    "tests/test_mine.py": b"def test_mine():\n    assert True\n",
    "docs/notes.md": b"# Notes\n",
    "secrets.env": b"TOKEN=do-not-commit\n",
}


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder)."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def user_project(folder: Path, *, git: bool) -> None:
    for name, content in USER_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    if git:
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "mine"]):
            subprocess.run([REAL_GIT, *args], cwd=folder, check=True, capture_output=True)


def reproml_new(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    new = [sys.executable, "-m", "reproml", "new", "--no-lock"]  # no lock: tests/test_lock.py locks
    return subprocess.run([*new, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_force_keeps_every_file_of_the_users_and_lists_what_differs(tmp_path):
    target = tmp_path / "proj"
    target.mkdir()
    user_project(target, git=True)
    before = snapshot(target)
    done = reproml_new("proj", "-t", "uv-python-ml", "--yes", "--no-lock", "--force", cwd=tmp_path)
    assert done.returncode == 6, done.stderr  # the project is there; a merge is left to the user
    assert "Traceback" not in done.stderr
    assert ("reproml: warning: 3 of your files differ from reproml's: each is kept, with reproml's version "
            "beside it as FILE.reproml-new; merge them (exit status 6)") in done.stderr.splitlines()
    for name in ("README.md", "pyproject.toml", "src/proj/__init__.py"):
        assert f"  {name}: yours kept; reproml's version is {name}.reproml-new\n" in done.stdout
    assert "  .gitignore: your lines kept; " in done.stdout
    assert "# first: merge each FILE.reproml-new into FILE" in done.stdout
    after = snapshot(target)
    # Nothing of the user's changed (the whole .git included: reproml commits nothing in a user's repository),
    # but .gitignore, which only grew.
    changed = {name for name, content in before.items() if after.get(name, b"gone") != content}
    assert changed == {".gitignore"}
    merged = after[".gitignore"]
    assert merged.startswith(USER_GITIGNORE)
    added = merged[len(USER_GITIGNORE):].decode().splitlines()
    assert added[:2] == ["", "# Added by reproml new --force (your rules above are unchanged)"]
    assert ".venv/" not in added and "__pycache__/" in added and ".reproml/" in added
    ignored = subprocess.run([REAL_GIT, "check-ignore", "-q", "secrets.env"], cwd=target)
    assert ignored.returncode == 0  # the user's rule still keeps the secrets out of git
    assert after["README.md.reproml-new"].startswith(b"# proj\n")
    ours = tomllib.loads(after["pyproject.toml.reproml-new"].decode())
    assert ours["project"]["name"] == "proj" and "scipy" not in str(ours)
    assert after["src/proj/__init__.py.reproml-new"].startswith(b'"""proj: ')
    for new in (".envrc", ".copier-answers.yml", "tests/test_smoke.py", "docs/conf.py"):
        assert new in after and new not in before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]  # no staging folder left


def invoke(*args: str):
    return CliRunner().invoke(app, ["new", "--no-lock", *args])


def test_force_on_reproml_s_own_project_changes_nothing_and_exits_0(tmp_path):
    target = tmp_path / "proj"
    first = invoke(str(target), "-t", "pythonml", "--yes", "--no-lock", "--no-git")
    assert first.exit_code == 0, first.output
    before = snapshot(target)
    again = invoke(str(target), "-t", "pythonml", "--yes", "--no-lock", "--no-git", "--force")
    assert again.exit_code == 0, again.output
    assert f"--force: 0 added, {sum(v is not None for v in before.values())} identical" in again.stdout
    assert snapshot(target) == before


def test_an_earlier_new_version_is_reused_and_a_users_file_of_that_name_is_kept(tmp_path):
    target = tmp_path / "proj"
    target.mkdir()
    (target / "README.md").write_text("mine\n")
    args = (str(target), "-t", "uv-python-ml", "--yes", "--no-lock", "--no-git", "--force")
    assert invoke(*args).exit_code == 6
    assert invoke(*args).exit_code == 6
    assert sorted(p.name for p in target.glob("README.md*")) == ["README.md", "README.md.reproml-new"]
    (target / "README.md.reproml-new").write_text("my merge in progress\n")
    result = invoke(*args)
    assert result.exit_code == 6
    assert "README.md: yours kept; reproml's version is README.md.reproml-new-2" in result.stdout
    assert (target / "README.md.reproml-new").read_text() == "my merge in progress\n"
    assert (target / "README.md").read_text() == "mine\n"


def test_a_gitignore_without_a_final_newline_keeps_its_last_rule(tmp_path):
    target = tmp_path / "proj"
    target.mkdir()
    (target / ".gitignore").write_bytes(b"data/\nsecrets.env")
    result = invoke(str(target), "-t", "uv-python-ml", "--yes", "--no-lock", "--no-git", "--force")
    assert result.exit_code == 0, result.output  # a union needs no merge by hand
    lines = (target / ".gitignore").read_text().splitlines()
    assert lines[:3] == ["data/", "secrets.env", ""]


def test_reproml_never_appends_a_rule_that_could_unignore_a_users_file():
    from reproml.commands.new import _ignore_rules_to_add

    ours = "# Python\n!secrets.env\n*.log\nsecrets.env\n\n*.log\n"
    assert _ignore_rules_to_add("secrets.env\n", ours) == ["*.log"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs (a full disk, a read-only mount), unmounted afterwards."""
    with tmpfs_mounted(tmp_path / "disk", "4m") as where:
        yield where


def test_a_full_disk_while_moving_in_puts_everything_back(small_disk, tmp_path, monkeypatch):
    # The disk fills up right after reproml's first commit in the staging folder (a `git` stub fills it once
    # the real commit is made): the renames that follow need no space, appending to the user's .gitignore
    # (exactly one 4 KiB page, so it needs a new one) fails. Everything already moved in must go back.
    target = small_disk / "proj"
    target.mkdir()
    user_project(target, git=False)
    (target / ".gitignore").write_bytes(USER_GITIGNORE + b"#" * (4095 - len(USER_GITIGNORE)) + b"\n")
    before = snapshot(target)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(
        f'#!/bin/sh\nif [ "$1" = commit ]; then {REAL_GIT} "$@"; code=$?; '
        f'dd if=/dev/zero of="{small_disk}/filler" bs=4096 2>/dev/null; exit $code; fi\n'
        f'exec {REAL_GIT} "$@"\n')
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    done = reproml_new(str(target), "-t", "uv-python-ml", "--yes", "--no-lock", "--force", cwd=tmp_path)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines()[-1] == (
        f"reproml: error: cannot write {target}/.gitignore: No space left on device")
    assert (small_disk / "filler").stat().st_size > 0  # the disk really was full
    assert snapshot(target) == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "proj"]


def test_a_symlinked_folder_is_not_written_through(tmp_path):
    target, elsewhere = tmp_path / "proj", tmp_path / "shared-docs"
    target.mkdir()
    elsewhere.mkdir()
    (elsewhere / "index.md").write_text("# Shared docs\n")
    (target / "docs").symlink_to(elsewhere)
    result = invoke(str(target), "-t", "uv-python-ml", "--yes", "--no-lock", "--no-git", "--force")
    assert result.exit_code == 6, result.output
    assert "docs/: yours kept; reproml's version is docs.reproml-new/" in result.stdout
    assert [p.name for p in elsewhere.iterdir()] == ["index.md"]  # nothing written outside the project
    assert (elsewhere / "index.md").read_text() == "# Shared docs\n"
    assert (target / "docs.reproml-new" / "conf.py").is_file()
