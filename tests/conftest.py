"""Shared fixtures. Every test runs sealed: its own HOME, XDG folders and git identity, no colour, fixed
width, a uv cache of this test session's own (never the user's), and none of the user's variables that steer
reproml, uv's PyTorch choice, Jupyter, Pixi, conda or Nix."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import Unprivileged, make_unprivileged_folder, path_without, remove_tree, sealed
from skip_policy import (  # noqa: F401  (hooks: with CI=true a skip not on the allow-list fails)
    pytest_configure,
    pytest_make_collect_report,
    pytest_runtest_makereport,
    pytest_terminal_summary,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def session_uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One uv cache for the whole test session, under pytest's basetemp: e2e tests share what they downloaded,
    and nothing is read from or written to the user's cache. Removed at the end (the unpacked CPU torch alone
    is about 1 GB; pytest keeps the last three basetemps)."""
    cache = tmp_path_factory.getbasetemp() / "uv-cache"
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                 session_uv_cache: Path) -> Iterator[Path]:
    for var in [v for v in os.environ if sealed(v)]:
        monkeypatch.delenv(var)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_RUNTIME_DIR", ".run"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(home / sub))
    os.chmod(home / ".run", 0o700)
    monkeypatch.setenv("UV_CACHE_DIR", str(session_uv_cache))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Ada Tester\n\temail = ada@example.org\n[init]\n\tdefaultBranch = main\n"
    )
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    # The tools installed with reproml (uv ships in its dependencies) are on PATH, as in the user's shell
    # after `pip install`, even when the suite runs as `venv/bin/python -m pytest` without activating the
    # venv.
    scripts = sysconfig.get_path("scripts")
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        monkeypatch.setenv("PATH", scripts + os.pathsep + os.environ.get("PATH", ""))
    yield home


@pytest.fixture
def no_pixi(monkeypatch: pytest.MonkeyPatch) -> str:
    """PATH without any directory that holds a ``pixi``: for tests that must see a machine without Pixi."""
    path = path_without("pixi", os.environ.get("PATH", ""))
    monkeypatch.setenv("PATH", path)
    assert shutil.which("pixi") is None
    return path


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


_unprivileged_can_run: str | None = None  # "" once the unprivileged user has imported reproml, else why not


@pytest.fixture
def unprivileged(isolated_env: Path) -> Iterator[Unprivileged]:
    """A user without root's powers for permission tests: ``unprivileged.run([...])`` runs a command as
    ``nobody`` when the tests run as root, directly otherwise (helpers.run_as_unprivileged), in
    ``unprivileged.tmp``: a world-traversable folder outside pytest's 0700 basetemp, owned by that user, with
    its HOME, XDG folders, TMPDIR and uv cache. Fails (never skips) if that user cannot import reproml from
    this venv."""
    global _unprivileged_can_run
    root = Path(tempfile.mkdtemp(prefix="reproml-unprivileged-", dir="/tmp"))
    try:
        gitconfig = Path(os.environ.get("GIT_CONFIG_GLOBAL", isolated_env / ".gitconfig"))
        folder = Unprivileged(root, {**os.environ, **make_unprivileged_folder(root, gitconfig)})
        if _unprivileged_can_run is None:
            probe = folder.run([sys.executable, "-c", "import reproml"])
            _unprivileged_can_run = "" if probe.returncode == 0 else (probe.stderr.strip().splitlines() or
                                                                       ["no output"])[-1]
        if _unprivileged_can_run:
            pytest.fail(f"the unprivileged user cannot run {sys.executable} -c 'import reproml' "
                        f"({_unprivileged_can_run}): make the venv and the checkout readable by others "
                        "(o+rx on them and o+x on every folder above), or run the tests as a normal user",
                        pytrace=False)
        yield folder
    finally:
        remove_tree(root)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real single-node SLURM cluster (tests/slurm_cluster.py) for the whole session, stopped at its end;
    skips with "SLURM is not installed" where the Debian packages are absent (never allowed in CI)."""
    import slurm_cluster

    why = slurm_cluster.missing()
    if why:
        pytest.skip(why)
    cluster = slurm_cluster.start(Path(tempfile.mkdtemp(prefix="reproml-slurm-", dir="/tmp")))
    try:
        yield cluster
    finally:
        slurm_cluster.stop(cluster)
        remove_tree(cluster.root)


@pytest.fixture
def slurm(slurm_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The session's SLURM cluster, reachable by this test's commands (SLURM_CONF)."""
    for name, value in slurm_cluster.env.items():
        monkeypatch.setenv(name, value)
    return slurm_cluster


# A stand-in for pixi, which this machine lacks (`new` locks Pixi projects at creation where pixi is on PATH).
STAND_IN_PIXI = """#!{python}
# A stand-in pixi: `pixi lock` writes pixi.lock (and pixi's .pixi/ cache folder) as the real one does, or,
# as told by the test, fails or hangs after writing part of the lock.
import os, sys, time
with open(os.environ["PIXI_STAND_IN_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[1:] == ["--version"]:  # reproml's machine probe
    print("pixi 0.60.0")
    sys.exit(0)
if sys.argv[1:] != ["lock"]:
    sys.exit(2)
os.makedirs(".pixi", exist_ok=True)
mode = os.environ.get("PIXI_STAND_IN_MODE", "ok")
with open("pixi.lock", "w") as lock:
    lock.write("version: 6\\n")
    if mode == "ok":
        lock.write("environments: {{}}\\npackages: []\\n")
if mode == "fail":
    sys.stderr.write("Error: failed to solve: could not reach conda-forge\\n")
    sys.exit(1)
if mode == "hang":
    time.sleep(60)
"""


@pytest.fixture
def stand_in_pixi(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path_factory.mktemp("pixi-bin")
    pixi = bin_dir / "pixi"
    pixi.write_text(STAND_IN_PIXI.format(python=sys.executable))
    pixi.chmod(pixi.stat().st_mode | stat.S_IXUSR)
    log = bin_dir / "calls.log"
    monkeypatch.setenv("PIXI_STAND_IN_LOG", str(log))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log
