"""`reproml add` / `reproml remove` in uv projects, with real uv and the loopback stand-in for the PyTorch
indexes (every build serves a torchaudio stand-in, ``2.11.0+<build>``, that reports its build)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from e2e.test_uv_projects import PROJECT, _applies, _lock_entries, make, run

pytestmark = [pytest.mark.network, pytest.mark.slow]

# Where torch lives in each kind of project and which build each place promises on Linux. Hand-written.
PLACES: dict[str, dict[str | None, str]] = {
    "cpu": {None: "cpu"},
    "cu126": {None: "cu126"},
    "auto": {"cpu": "cpu", "cu126": "cu126", "cu130": "cu130"},
}


def reproml(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reproml", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def _names(requirements: list[str]) -> set[str]:
    return {r.split(">")[0].split("=")[0].split("<")[0].strip() for r in requirements}


def places_of(data: dict, package: str) -> set[str | None]:
    places: set[str | None] = {None} if package in _names(data["project"]["dependencies"]) else set()
    for extra, requirements in data["project"].get("optional-dependencies", {}).items():
        if package in _names(requirements):
            places.add(extra)
    return places


def torchaudio_builds(project: Path, base: str) -> dict[str | None, str]:
    """{place: build} of the torchaudio uv.lock gives each place on Linux, checked against its registry."""
    lock = tomllib.loads((project / "uv.lock").read_text())
    found: dict[str | None, str] = {}
    for place in PLACES_IN(project):
        uv_extra = f"extra-{len(PROJECT)}-{PROJECT}-{place}" if place else ""
        entries = [e for e in _lock_entries(lock, place) if e["name"] == "torchaudio"
                   and _applies(e.get("marker"), "linux", uv_extra)]
        assert len(entries) == 1, entries
        version = entries[0].get("version") or next(
            p["version"] for p in lock["package"] if p["name"] == "torchaudio")
        build = version.split("+")[1]
        assert entries[0].get("source", {}).get("registry", f"{base}/{build}") == f"{base}/{build}"
        found[place] = build
    return found


def PLACES_IN(project: Path) -> set[str | None]:  # noqa: N802
    return places_of(tomllib.loads((project / "pyproject.toml").read_text()), "torch")


@pytest.mark.parametrize("accelerator", sorted(PLACES))
def test_torchaudio_follows_torch(tmp_path, uv_env, torch_index, accelerator):
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator=accelerator, docs=False, jupyter=False)
    run(["uv", "lock"], project, uv_env, timeout=300)
    original = (project / "pyproject.toml").read_text()

    done = reproml(["add", "torchaudio"], project, uv_env)
    assert done.returncode == 0, done.stderr
    data = tomllib.loads((project / "pyproject.toml").read_text())
    assert places_of(data, "torchaudio") == set(PLACES[accelerator])  # the same extras (or main) as torch
    sources = data["tool"]["uv"]["sources"]
    assert sources["torchaudio"] == sources["torch"]
    assert torchaudio_builds(project, torch_index) == PLACES[accelerator]
    added = (project / "pyproject.toml").read_text()

    # The environment really gets that build's wheel (auto: the newest CUDA extra).
    place, build = sorted(PLACES[accelerator].items(), key=lambda item: str(item[0]))[-1]
    run(["uv", "sync", *(["--extra", place] if place else [])], project, uv_env)
    script = "import torchaudio; print(torchaudio.__version__, torchaudio.version.build)"
    probe = run(["uv", "run", "--no-sync", "python", "-c", script], project, uv_env)
    assert probe.stdout.split() == [f"2.11.0+{build}", build]

    done = reproml(["remove", "torchaudio"], project, uv_env)
    assert done.returncode == 0, done.stderr
    data = tomllib.loads((project / "pyproject.toml").read_text())
    assert "torchaudio" not in data["tool"]["uv"]["sources"]  # no orphan
    assert places_of(data, "torchaudio") == set()
    assert "torchaudio" not in (project / "uv.lock").read_text()
    assert (project / "pyproject.toml").read_text() != original or accelerator == "cpu"  # uv's own layout

    done = reproml(["add", "torchaudio"], project, uv_env)
    assert done.returncode == 0, done.stderr
    assert (project / "pyproject.toml").read_text() == added


@pytest.fixture
def cpu_project(tmp_path, uv_env, torch_index) -> Path:
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator="cpu", docs=False, jupyter=False)
    run(["uv", "lock"], project, uv_env, timeout=300)
    return project


def snapshot(project: Path) -> dict[str, bytes]:
    return {name: (project / name).read_bytes() for name in ("pyproject.toml", "uv.lock")}


def test_a_pypi_package_is_added_by_uv_and_locked(cpu_project, uv_env):
    done = reproml(["add", "requests", "--group", "dev"], cpu_project, uv_env)
    assert done.returncode == 0, done.stderr
    data = tomllib.loads((cpu_project / "pyproject.toml").read_text())
    assert any(str(r).startswith("requests>=") for r in data["dependency-groups"]["dev"])
    assert "requests" not in data["tool"]["uv"]["sources"]  # an ordinary package: the default index
    lock = tomllib.loads((cpu_project / "uv.lock").read_text())
    assert any(p["name"] == "requests" for p in lock["package"])
    done = reproml(["remove", "requests", "--group", "dev"], cpu_project, uv_env)
    assert done.returncode == 0, done.stderr
    assert "requests" not in (cpu_project / "pyproject.toml").read_text()


def test_a_package_that_cannot_exist_changes_nothing(cpu_project, uv_env):
    before = snapshot(cpu_project)
    # torchaudio is routed (pyproject.toml edited) before uv meets the unknown package: all of it goes back.
    done = reproml(["add", "torchaudio", "requests", "reproml-no-such-package-4f2a9"], cpu_project, uv_env)
    assert done.returncode == 4
    assert "reproml-no-such-package-4f2a9 was not found" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert snapshot(cpu_project) == before


def test_dry_run_prints_the_diff_and_changes_nothing(cpu_project, uv_env):
    before = snapshot(cpu_project)
    done = reproml(["add", "--dry-run", "torchaudio"], cpu_project, uv_env)
    assert done.returncode == 0, done.stderr
    assert '+torchaudio = [{ index = "pytorch-cpu" }]' in done.stdout
    assert "uv.lock: updated" in done.stdout
    assert snapshot(cpu_project) == before


def test_a_lock_stale_before_add_is_reported(cpu_project, uv_env):
    pyproject = cpu_project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"numpy>=1.26"', '"numpy>=1.26", "six"'))
    before = snapshot(cpu_project)
    done = reproml(["add", "requests"], cpu_project, uv_env)
    assert done.returncode == 5
    assert "uv.lock was already out of date with pyproject.toml before this change" in done.stderr
    assert snapshot(cpu_project) == before


def test_add_and_remove_keep_the_torch_of_the_extra_installed(tmp_path, uv_env, torch_index):
    """uv remove syncs exactly and without extras: in an auto project that would uninstall torch."""
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator="auto", docs=False, jupyter=False)
    run(["uv", "sync", "--extra", "cu130"], project, uv_env, timeout=300)
    for action in ("add", "remove"):
        done = reproml([action, "six"], project, uv_env)
        assert done.returncode == 0, done.stderr
        probe = run(["uv", "run", "--no-sync", "python", "-c", "import torch; print(torch.__version__)"],
                    project, uv_env)
        assert probe.stdout.strip() == "2.13.0+cu130", action
