"""`reproml new` under faults, as real processes on real files: two runs racing into the same missing parents,
SIGTERM / SIGHUP / Ctrl-C while the staging folder exists, a full disk, names too long, a symlinked target.
Each must leave nothing of its own behind, never remove what is not its own, and say what went wrong in one
line with its exit code."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import tmpfs_mounted

REAL_GIT = shutil.which("git")


# `new` as a process, without a lock (uv lock would reach the package indexes; tests/test_lock.py locks).
NEW = [sys.executable, "-m", "reproml", "new", "--no-lock"]


def reproml(*args: str, cwd: Path) -> subprocess.Popen[str]:
    if args[:1] == ("new",):
        args = ("new", "--no-lock", *args[1:])
    return subprocess.Popen([sys.executable, "-m", "reproml", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def git_stub(bin_dir: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `git` first on PATH that runs ``body`` (sh) and then the real git: a faithful way to pause `new` at
    a known step (each `git` call reproml makes is a real process)."""
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "git"
    stub.write_text(f"#!/bin/sh\n{body}\nexec {REAL_GIT} \"$@\"\n")
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def paused_at_git_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`git init` in the staging folder (after the project is rendered there; copier's own `git init` in a
    temporary folder runs through) touches the returned marker and sleeps: while it sleeps, the staging folder
    and every parent `new` made exist."""
    marker = tmp_path / "at-git-init"
    pause = f'touch "{marker}"; exec sleep 60'
    git_stub(tmp_path / "bin", f'case "$PWD:$1" in *.reproml-*/project:init) {pause};; esac', monkeypatch)
    return marker


@pytest.mark.parametrize("trial", range(4))
def test_two_runs_into_the_same_missing_parents_never_lose_the_winners_project(tmp_path, monkeypatch, trial):
    # Both runs stop when they ask git for the e-mail (just before they look at the target) until the test
    # lets both go at once, so both find deep/ and deep/x missing: the loser must not remove what the winner
    # made. (The wait is a busy loop of shell built-ins: released runs start within microseconds.)
    arrived, go = tmp_path / "arrived", tmp_path / "go"
    arrived.mkdir()
    git_stub(tmp_path / "bin", f'if [ "$2" = --get ] && [ "$3" = user.email ]; then touch "{arrived}/$PPID"; '
             f'n=0; while [ ! -e "{go}" ] && [ $n -lt 20000000 ]; do n=$((n+1)); done; fi', monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    args = ("new", "deep/x/proj", "-t", "uv-python-ml", "--yes", "--no-lock", "--no-git")
    runs = [reproml(*args, cwd=work) for _ in "ab"]
    deadline = time.monotonic() + 60
    while len(list(arrived.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    results = sorted(finish(proc) for proc in runs)
    (code_won, out_won, _), (code_lost, _, err_lost) = results
    assert (code_won, code_lost) == (0, 3), results
    assert "Created uv-python-ml project 'proj'" in out_won
    assert err_lost.strip().splitlines()[-1].startswith("reproml: error: ") and "is not empty" in err_lost
    assert "Traceback" not in err_lost
    project = work / "deep/x/proj"
    assert (project / "pyproject.toml").is_file() and (project / ".copier-answers.yml").is_file()
    assert (project / "src/proj/__init__.py").is_file()
    assert listing(work / "deep") == ["x", "x/proj", *(f"x/proj/{p}" for p in listing(project))]  # no staging


def test_a_stopped_run_removes_its_own_parents_but_not_one_another_run_filled(paused_at_git_init, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    first = reproml("new", "deep/a/proj", "-t", "uv-python-ml", "--yes", "--no-lock", cwd=work)
    wait_for(paused_at_git_init, first)  # first made deep/ and deep/a/ and is paused in its staging folder
    second = subprocess.run([*NEW, "deep/b/proj", "-t", "uv-python-ml",
                             "--yes", "--no-lock", "--no-git"], cwd=work, capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stderr
    before = listing(work / "deep/b")
    first.send_signal(signal.SIGTERM)
    code, _, err = finish(first)
    assert code == 143, err
    assert listing(work) == ["deep", "deep/b", *(f"deep/b/{p}" for p in before)]  # deep/a gone, deep kept


@pytest.mark.parametrize(("signal_number", "code", "message"), [
    (signal.SIGTERM, 143, "reproml: error: stopped by SIGTERM; nothing was left half-written"),
    (signal.SIGHUP, 129, "reproml: error: stopped by SIGHUP; nothing was left half-written"),
    (signal.SIGINT, 130, "reproml: interrupted; nothing was left half-written"),
])
def test_a_signal_while_staging_exists_leaves_nothing(paused_at_git_init, tmp_path, signal_number, code,
                                                      message):
    work = tmp_path / "work"
    work.mkdir()
    proc = reproml("new", "a/b/proj", "-t", "uv-python-ml", "--yes", "--no-lock", cwd=work)
    wait_for(paused_at_git_init, proc)
    staging = [p.name for p in (work / "a/b").iterdir()]
    assert len(staging) == 1 and staging[0].startswith(".proj.reproml-")  # the state the signal must undo
    proc.send_signal(signal_number)
    returncode, out, err = finish(proc)
    assert returncode == code, err
    assert err.strip().splitlines() == [message]
    assert listing(work) == []  # neither the staging folder nor the parents it made


def test_nohup_keeps_sighup_ignored(tmp_path, monkeypatch):
    marker = tmp_path / "at-git-init"
    pause = f'touch "{marker}"; sleep 2'
    git_stub(tmp_path / "bin", f'case "$PWD:$1" in *.reproml-*/project:init) {pause};; esac', monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen(["nohup", sys.executable, "-m", "reproml", "new", "proj", "-t", "uv-python-ml",
                             "--yes", "--no-lock"], cwd=work, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_for(marker, proc)
    proc.send_signal(signal.SIGHUP)  # nohup exec'd reproml: this is reproml's own pid
    code, out, err = finish(proc)
    assert code == 0, err
    assert "Created uv-python-ml project 'proj'" in out and (work / "proj/.git").is_dir()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (a full disk, a read-only mount), unmounted afterwards."""
    with tmpfs_mounted(tmp_path / "disk", "1m") as where:
        yield where


def fill(disk: Path, leave_kib: int) -> None:
    """Fill ``disk`` up to ``leave_kib`` KiB of free space, with a file outside any project."""
    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave_kib * 1024))


def test_a_full_disk_is_one_line_and_leaves_nothing(small_disk, tmp_path):
    fill(small_disk, leave_kib=24)  # room for the staging folder and a few files, not for a project
    before = listing(small_disk)
    done = subprocess.run([*NEW, str(small_disk / "deep/proj"), "-t",
                           "uv-python-ml", "--yes", "--no-lock", "--no-git"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"reproml: error: cannot write {small_disk}/deep/proj")
    assert lines[0].endswith(": No space left on device")
    assert listing(small_disk) == before


def test_a_folder_name_too_long_is_refused_before_anything_is_made(tmp_path):
    name = "p" * 300
    for target in (tmp_path / name, tmp_path / "parent" / name / "proj"):
        done = subprocess.run([*NEW, str(target), "--name", "proj", "--yes", "--no-lock",
                               "--no-git"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 3, done.stderr
        assert done.stderr.strip().splitlines() == [
            f"reproml: error: cannot create {tmp_path}/{'' if target.name == name else 'parent/'}"
            f"{'p' * 28}...{'p' * 28}{'' if target.name == name else '/proj'}: a folder name is 300 bytes "
            "long; this file system allows 255"
        ]
        assert listing(tmp_path) == []


def test_a_symlink_to_a_folder_is_followed(tmp_path):
    real = tmp_path / "elsewhere" / "real"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    done = subprocess.run([*NEW, "link", "-t", "uv-python-ml", "--yes", "--no-lock",
                           "--no-git"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Created uv-python-ml project 'link' in link" in done.stdout  # the name is the one typed
    assert (tmp_path / "link").is_symlink() and os.readlink(tmp_path / "link") == str(real)
    assert (real / "pyproject.toml").is_file() and 'name = "link"' in (real / "pyproject.toml").read_text()
    assert listing(tmp_path / "elsewhere") == ["real", *(f"real/{p}" for p in listing(real))]  # no staging


@pytest.mark.parametrize("points_to", ["a-file", "missing"])
def test_a_symlink_to_a_file_or_nothing_is_refused(tmp_path, points_to):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / points_to)
    done = subprocess.run([*NEW, "link", "--yes", "--no-lock", "--no-git"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"reproml: error: {tmp_path}/link is a symbolic link to {tmp_path}/{points_to}, which is not a folder"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "link"]
