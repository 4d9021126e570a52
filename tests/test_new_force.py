"""`reproml new --force` never loses content: a file of the user's that differs is kept and reproml's version
written beside it (exit 6: merge needed), .gitignore only gains reproml's missing rules, identical files are
left alone, every other file (src/, tests/, docs/, .git) stays byte-identical, and a failure half-way moves
everything back."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import UNPRIVILEGED_GROUP, UNPRIVILEGED_USER, tmpfs_mounted
from reproml.cli import app
from reproml.commands.new import (
    NewOptions,
    _check_destination,
    _ignore_rules_to_add,
    _merge_into,
    _move_into,
    create_project,
)
from reproml.errors import DestinationError

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
    # (in this process, so that benchmarks/mutation.py's mutants of the rollback meet this test)
    done = invoke(str(target), "-t", "uv-python-ml", "--yes", "--no-lock", "--force")
    assert done.exit_code == 3, done.output
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


# ------------------------------------------------------------------------------------------------------------
# Mutants benchmarks/mutation.py found alive in --force (issue 12). These run reproml in this process
# (mutmut's mutated code is not what a child process imports); every expected value is written out by hand.
# Mutants left alive on purpose, as they cannot change what happens on POSIX: _move_into's `os.name == "nt"`
# branch (Windows only; rmdir of an empty folder the rename replaces anyway); _apply's mkdir(parents=...) (a
# target's parent always exists: _merge_into only descends into folders that exist) and open's encoding and
# newline (what is appended is ASCII, and "\n" is the line end here); filecmp.cmp(shallow=None) (as False);
# _check_destination's _os_error(exc, None) (every OSError raised there names its file).

# reproml's .gitignore rules for a uv project with docs, in the template's order (comments left out).
UV_RULES = ["__pycache__/", "*.py[cod]", "*.egg-info/", "build/", "dist/", ".pytest_cache/", ".ruff_cache/",
            ".mypy_cache/", ".coverage", "htmlcov/", ".ipynb_checkpoints/", ".venv/", ".direnv/", "result",
            "result-*", ".reproml/", "docs/_build/"]
HEADER = "# Added by reproml new --force (your rules above are unchanged)"
FORCE = ("-t", "uv-python-ml", "--yes", "--no-lock", "--no-git", "--force")


@pytest.mark.parametrize(("yours", "expected"), [
    # no final newline: one is added before reproml's block, so the user's last rule stays a rule
    (b"data/\nsecrets.env", b"data/\nsecrets.env\n\n" + HEADER.encode() + b"\n"),
    (b"data/\n", b"data/\n\n" + HEADER.encode() + b"\n"),
    (b"", b"\n" + HEADER.encode() + b"\n"),
    # a rule that is not UTF-8 (a Latin-1 file name) is kept byte for byte
    (b"caf\xe9/\n", b"caf\xe9/\n\n" + HEADER.encode() + b"\n"),
], ids=["no-final-newline", "final-newline", "empty", "latin-1"])
def test_gitignore_gets_every_missing_rule_appended_after_the_users_bytes(tmp_path, yours, expected):
    target = tmp_path / "proj"
    target.mkdir()
    (target / ".gitignore").write_bytes(yours)
    result = invoke(str(target), *FORCE)
    assert result.exit_code == 0, result.output
    assert (target / ".gitignore").read_bytes() == expected + "\n".join(UV_RULES).encode() + b"\n"
    assert "  .gitignore: your lines kept; 17 of reproml's rules added at the end\n" in result.stdout


def test_gitignore_union_skips_rules_the_user_has_in_any_form(tmp_path):
    # comments, blank lines, spaces around a rule, duplicates and the user's own `!` rules
    yours = "# my rules\n  .venv/  \n!dist/keep.txt\n__pycache__/\n__pycache__/\n\nresult\n*.log"
    target = tmp_path / "proj"
    target.mkdir()
    (target / ".gitignore").write_text(yours)
    result = invoke(str(target), *FORCE)
    assert result.exit_code == 0, result.output
    added = [r for r in UV_RULES if r not in (".venv/", "__pycache__/", "result")]  # dist/ is still added
    assert (target / ".gitignore").read_text() == yours + "\n\n" + HEADER + "\n" + "\n".join(added) + "\n"
    assert "  .gitignore: your lines kept; 14 of reproml's rules added at the end\n" in result.stdout


def test_a_gitignore_with_every_rule_already_is_left_alone_and_reported_identical(tmp_path):
    yours = "\n".join(["# mine, in my order", *reversed(UV_RULES), "secrets.env"]) + "\n"
    target = tmp_path / "proj"
    target.mkdir()
    (target / ".gitignore").write_text(yours)
    (target / "notes.txt").write_text("mine\n")
    result = create_project(NewOptions(path=target, template="uv-python-ml", lock=False, git=False,
                                       force=True))
    assert (target / ".gitignore").read_text() == yours
    assert result.force is not None
    assert result.force.identical == [".gitignore"] and result.force.merged == {}
    assert "src/" in result.force.added and "pyproject.toml" in result.force.added
    assert "notes.txt" not in result.force.added + result.force.identical


def test_the_report_names_folders_moved_as_a_whole_and_identical_files(tmp_path):
    target = tmp_path / "proj"
    assert invoke(str(target), "-t", "uv-python-ml", "--yes", "--no-lock", "--no-git").exit_code == 0
    ours = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    shutil.rmtree(target / "tests")
    (target / "src/proj/__init__.py").unlink()
    result = create_project(NewOptions(path=target, template="uv-python-ml", lock=False, git=False,
                                       force=True))
    report = result.force
    assert report is not None and result.exit_code == 0
    assert report.added == ["tests/", "src/proj/__init__.py"]  # a missing folder as a whole, with its /
    assert sorted(report.identical) == [n for n in ours if not n.startswith("tests/")
                                        and n != "src/proj/__init__.py"]
    assert report.merged == {} and report.beside == []


def test_a_file_where_reproml_needs_a_folder_is_refused_before_anything_moves(tmp_path):
    target = tmp_path / "proj"
    target.mkdir()
    (target / "docs").write_text("my docs are a file\n")
    before = snapshot(target)
    result = invoke(str(target), *FORCE)
    assert result.exit_code == 3
    assert result.stderr == f"reproml: error: {target}/docs is a file; reproml needs a folder there\n"
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_a_taken_reproml_new_name_gets_the_next_free_number(tmp_path):
    target = tmp_path / "proj"
    target.mkdir()
    for name in ("README.md", "README.md.reproml-new", "README.md.reproml-new-2"):
        (target / name).write_text(f"mine: {name}\n")
    result = invoke(str(target), *FORCE)
    assert result.exit_code == 6, result.output
    assert "  README.md: yours kept; reproml's version is README.md.reproml-new-3\n" in result.stdout
    assert (target / "README.md.reproml-new-3").read_text().startswith("# proj\n")
    for name in ("README.md", "README.md.reproml-new", "README.md.reproml-new-2"):
        assert (target / name).read_text() == f"mine: {name}\n"


def test_a_symlinked_folder_with_its_new_name_taken_by_a_file(tmp_path):
    target, elsewhere = tmp_path / "proj", tmp_path / "shared-docs"
    target.mkdir()
    elsewhere.mkdir()
    (target / "docs").symlink_to(elsewhere)
    (target / "docs.reproml-new").write_text("mine\n")
    result = invoke(str(target), *FORCE)
    assert result.exit_code == 6, result.output
    assert "  docs/: yours kept; reproml's version is docs.reproml-new-2/\n" in result.stdout
    assert (target / "docs.reproml-new").read_text() == "mine\n"
    assert (target / "docs.reproml-new-2" / "conf.py").is_file() and list(elsewhere.iterdir()) == []


def test_same_size_and_time_but_other_bytes_is_a_different_file(tmp_path):
    # filecmp's default (shallow) compare trusts size and modification time: a user's file restored with its
    # time stamp (cp -p, rsync -t) could pass for reproml's. Its content decides.
    rendered, dest = tmp_path / "rendered", tmp_path / "proj"
    rendered.mkdir()
    dest.mkdir()
    (rendered / "README.md").write_text("ours\n")
    (dest / "README.md").write_text("mine\n")
    (dest / "README.md.reproml-new").write_text("edit\n")  # the user's merge in progress
    for path in (rendered / "README.md", dest / "README.md", dest / "README.md.reproml-new"):
        os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    report = _merge_into(rendered, dest)
    assert report.identical == [] and report.beside == [("README.md", "README.md.reproml-new-2")]
    assert {p.name: p.read_text() for p in dest.iterdir()} == {
        "README.md": "mine\n", "README.md.reproml-new": "edit\n", "README.md.reproml-new-2": "ours\n"}


def test_only_comments_and_negations_of_reproml_s_rules_are_left_out():
    ours = "# Editors\n!keep.me\nXcode/\n#comment\n*.log\nXcode/\n"
    assert _ignore_rules_to_add("", ours) == ["Xcode/", "*.log"]


def test_not_empty_without_force_names_both_ways_out(tmp_path):
    target = tmp_path / "proj"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")
    result = invoke(str(target), "-t", "uv-python-ml", "--yes", "--no-lock", "--no-git")
    assert result.exit_code == 3
    assert result.stderr == f"reproml: error: {target} is not empty (choose another folder or pass --force)\n"


def test_moving_in_refuses_a_non_empty_folder_without_force(tmp_path):
    # _move_into checks again what was checked before rendering, so that it is safe on its own
    rendered, dest = tmp_path / "rendered", tmp_path / "proj"
    rendered.mkdir()
    dest.mkdir()
    (rendered / "README.md").write_text("ours\n")
    (dest / "notes.txt").write_text("mine\n")
    with pytest.raises(DestinationError) as refused:
        _move_into(rendered, dest, force=False)
    assert refused.value.one_line() == f"{dest} is not empty (pass --force)"
    assert [p.name for p in dest.iterdir()] == ["notes.txt"] and (rendered / "README.md").is_file()


def test_a_project_moved_in_by_another_process_meanwhile_is_not_touched(tmp_path, monkeypatch):
    # Another `reproml new` fills the folder between the last check and the rename: the kernel refuses the
    # rename (ENOTEMPTY); the other project stays as it is. (Only the moment is arranged: the error is real.)
    target = tmp_path / "proj"
    real_replace = os.replace

    def other_process_first(source, destination):
        if Path(destination) == target and not target.exists():
            target.mkdir()
            (target / "theirs.txt").write_text("the other project\n")
        return real_replace(source, destination)

    monkeypatch.setattr(os, "replace", other_process_first)
    result = invoke(str(target), "-t", "uv-python-ml", "--yes", "--no-lock", "--no-git")
    assert result.exit_code == 3
    assert result.stderr == f"reproml: error: {target} is not empty (choose another folder or pass --force)\n"
    assert [p.name for p in target.iterdir()] == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_a_move_that_fails_half_way_moves_everything_back(tmp_path):
    # The user's docs/ is another file system (a mount): renaming reproml's docs/conf.py into it fails
    # (EXDEV) after src/, tests/ and the top-level files have moved in. Everything must go back.
    target = tmp_path / "proj"
    target.mkdir()
    for name, content in USER_FILES.items():
        if not name.startswith("docs/"):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(content)
    shutil.rmtree(target / "tests")  # moved in as a whole, then back
    with tmpfs_mounted(target / "docs", "1m") as docs:
        (docs / "notes.md").write_bytes(b"# Notes\n")
        before = snapshot(target)
        result = invoke(str(target), *FORCE)
        assert result.exit_code == 3, result.output
        assert result.stderr.splitlines()[-1] == (
            f"reproml: error: cannot write {target}/docs/conf.py: Invalid cross-device link")
        assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]  # no staging folder left


def test_a_read_only_file_system_is_refused_before_rendering(tmp_path):
    with tmpfs_mounted(tmp_path / "disk", "1m") as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = invoke(str(disk / "proj"), "-t", "uv-python-ml", "--yes", "--no-lock", "--no-git")
        assert result.exit_code == 3
        assert result.stderr == f"reproml: error: cannot write to {disk}: permission denied\n"
        assert list(disk.iterdir()) == []


@contextmanager
def unprivileged() -> Iterator[None]:
    """This process as nobody for a moment (root reads any folder, whatever its mode); else as it is."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(grp.getgrnam(UNPRIVILEGED_GROUP).gr_gid)
    os.seteuid(pwd.getpwnam(UNPRIVILEGED_USER).pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_a_folder_that_cannot_be_listed_is_one_line_naming_it():
    work = Path(tempfile.mkdtemp())  # not under tmp_path: nobody must reach it
    try:
        work.chmod(0o755)
        target = work / "proj"
        target.mkdir()
        target.chmod(0o111)  # anyone may enter it, nobody (but root) may list it
        with unprivileged(), pytest.raises(DestinationError) as refused:
            _check_destination(target, force=True)
        assert str(refused.value) == f"cannot write {target}: Permission denied"
    finally:
        (work / "proj").chmod(0o755)
        shutil.rmtree(work)


def test_an_empty_mount_point_is_not_called_not_empty(tmp_path):
    # The project is renamed from a staging folder beside the target: onto an empty mount point the kernel
    # refuses (EBUSY). The error says so, not "is not empty" (the folder is empty).
    with tmpfs_mounted(tmp_path / "disk", "1m") as disk:
        result = invoke(str(disk), "-t", "uv-python-ml", "--yes", "--no-lock", "--no-git")
        assert result.exit_code == 3
        assert result.stderr == f"reproml: error: cannot write {disk}: Device or resource busy\n"
        assert list(disk.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["disk"]
