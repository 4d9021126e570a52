"""Real end to end with real uv, direnv and the project's own tests. PyPI provides ordinary packages; a local
index on 127.0.0.1 stands in for the PyTorch indexes (tests/torch_index.py): /whl/cpu serves the real CPU
wheel from this machine's disk, /whl/cu126, /whl/cu130, /whl/cu132 small stand-ins that report their CUDA
build, and /whl/cu128 stops at torch 2.11 like the real one. A project that takes torch from the wrong index
fails here."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker, default_environment

from helpers import EXPECTED_BUILDS, answers_for
from reproml.commands.new import render

pytestmark = [pytest.mark.network, pytest.mark.slow]

# What each build's index serves (the stand-in mirrors the real indexes, Nov 2026).
EXPECTED_VERSIONS = {
    "cpu": ("2.13.0+cpu", "0.28.0"),  # the on-disk CPU wheel and the torchvision built for it
    "cu126": ("2.13.0+cu126", "0.28.0+cu126"),
    "cu130": ("2.13.0+cu130", "0.28.0+cu130"),
    "cu132": ("2.13.0+cu132", "0.28.0+cu132"),
}
PLATFORMS = {
    "linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
              "platform_machine": "x86_64"},
    "win32": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
              "platform_machine": "AMD64"},
    "darwin": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
               "platform_machine": "arm64"},
}
PACKAGES = ("torch", "torchvision")
PROJECT = "cell-seg"
LOCK_PRESETS = ("uv-python-ml", "pythonml")  # pythonml's Nix part plays no role in `uv lock`


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def make(tmp_path: Path, preset: str, index: str | None = None, **options) -> Path:
    answers = answers_for(preset, name=PROJECT, **options)
    if index:
        answers["torch_index_base"] = index
    target = tmp_path / PROJECT
    render(answers, target)
    return target


@pytest.fixture
def locked(tmp_path_factory, lock_cache, uv_env, torch_index):
    """(preset, accelerator) -> a rendered project with its uv.lock; each locked once per session."""

    def lock(preset: str, accelerator: str) -> Path:
        if (preset, accelerator) not in lock_cache:
            project = make(tmp_path_factory.mktemp(f"{preset}-{accelerator}"), preset, torch_index,
                           accelerator=accelerator, docs=False, jupyter=False)
            run(["uv", "lock"], project, uv_env, timeout=300)
            lock_cache[preset, accelerator] = project
        return lock_cache[preset, accelerator]

    return lock


# ------------------------------------------------------------------------------------------------------------
# Checks, shared with the test that proves they catch a project pointed at the wrong index


def _environment(platform: str, extra: str) -> dict[str, str]:
    return {**default_environment(), **PLATFORMS[platform], "extra": extra}


def _applies(marker: str | None, platform: str, extra: str = "") -> bool:
    return marker is None or Marker(marker).evaluate(_environment(platform, extra))


def _expect_registry(base: str, build: str, platform: str, registry: str) -> None:
    if build == "cpu" or platform != "darwin":
        assert registry == f"{base}/{build}", f"{platform}: expected the {build} index, got {registry}"
    else:  # macOS has no CUDA wheels: the cpu index or the default index, never a CUDA one
        assert not re.fullmatch(re.escape(base) + r"/cu\d+", registry), \
            f"macOS gets CUDA wheels from {registry}"


def check_pyproject_routes(project: Path, base: str, expected: dict[str | None, str]) -> None:
    """[tool.uv.sources] sends torch and torchvision of each extra to the index of the promised build."""
    data = tomllib.loads((project / "pyproject.toml").read_text())
    uv = data["tool"]["uv"]
    indexes = {index["name"]: index for index in uv["index"]}
    assert all(index.get("explicit") is True for index in indexes.values()), indexes
    if None in expected:
        assert "optional-dependencies" not in data["project"] or not any(
            "torch" in " ".join(deps) for deps in data["project"]["optional-dependencies"].values())
        assert {re.split(r"[<>=!~ ;\[]", d)[0] for d in data["project"]["dependencies"]} >= set(PACKAGES)
    else:
        extras = data["project"]["optional-dependencies"]
        with_torch = [e for e, deps in extras.items() if any(d.startswith("torch") for d in deps)]
        assert sorted(with_torch) == sorted(expected)
        assert [sorted(item["extra"] for item in group) for group in uv["conflicts"]] == [sorted(expected)]
    for package in PACKAGES:
        sources = uv["sources"][package]
        sources = sources if isinstance(sources, list) else [sources]
        for extra, build in expected.items():
            for platform in PLATFORMS:
                routes = [s for s in sources
                          if s.get("extra") == extra and _applies(s.get("marker"), platform)]
                assert len(routes) <= 1, routes
                registry = indexes[routes[0]["index"]]["url"] if routes else "(the default index)"
                _expect_registry(base, build, platform, registry)


def _lock_entries(lock: dict[str, Any], extra: str | None) -> list[dict[str, Any]]:
    project = next(p for p in lock["package"] if p["name"] == PROJECT)
    if extra is None:
        return project.get("dependencies", [])
    return project.get("optional-dependencies", {}).get(extra, [])


def locked_versions(project: Path, base: str, expected: dict[str | None, str]) -> dict[tuple, str]:
    """Check that uv.lock takes every torch/torchvision of each extra from the promised index on each
    platform; return {(extra, platform, package): version}."""
    lock = tomllib.loads((project / "uv.lock").read_text())
    packages = {(p["name"], p["version"], p["source"].get("registry")): p for p in lock["package"]}
    versions: dict[tuple, str] = {}
    for extra, build in expected.items():
        uv_extra = f"extra-{len(PROJECT)}-{PROJECT}-{extra}" if extra else ""  # uv's conflict-marker spelling
        for package in PACKAGES:
            entries = [e for e in _lock_entries(lock, extra) if e["name"] == package]
            assert entries, f"no {package} for extra {extra}"
            for platform in PLATFORMS:
                mine = [e for e in entries if _applies(e.get("marker"), platform, uv_extra)]
                assert len(mine) == 1, f"{package}, extra {extra}, {platform}: {mine}"
                entry = mine[0]
                if "version" not in entry:  # the only version of it in the lock
                    [entry] = [p for p in lock["package"] if p["name"] == package]
                registry = entry["source"]["registry"]
                _expect_registry(base, build, platform, registry)
                locked = packages[package, entry["version"], registry]
                if registry.startswith(base):  # the files too come from that build's path
                    urls = [w["url"] for w in locked.get("wheels", [])]
                    assert urls and all(f"/files/{build}/" in u for u in urls), urls
                versions[extra, platform, package] = entry["version"]
    return versions


PROBE = "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())"


def installed_torch(project: Path, env: dict[str, str]) -> tuple[str, str, str]:
    done = run(["uv", "run", "--no-sync", "python", "-c", PROBE], project, env)
    version, cuda, available = done.stdout.split()
    return version, cuda, available


def check_installed(project: Path, env: dict[str, str], build: str) -> None:
    """The environment holds the torch of ``build``: its version and the CUDA version it was built for."""
    cuda = {"cpu": "None", "cu126": "12.6", "cu130": "13.0", "cu132": "13.2"}[build]
    assert installed_torch(project, env) == (EXPECTED_VERSIONS[build][0], cuda, "False")


# ------------------------------------------------------------------------------------------------------------
# Lock: every torch from the index its extra promises


@pytest.mark.parametrize("accelerator", sorted(EXPECTED_BUILDS))
@pytest.mark.parametrize("preset", LOCK_PRESETS)
def test_pyproject_routes_each_extra_to_its_index(locked, torch_index, preset, accelerator):
    check_pyproject_routes(locked(preset, accelerator), torch_index, EXPECTED_BUILDS[accelerator])


@pytest.mark.parametrize("accelerator", sorted(EXPECTED_BUILDS))
@pytest.mark.parametrize("preset", LOCK_PRESETS)
def test_lock_takes_each_torch_from_the_index_its_extra_promises(locked, torch_index, preset, accelerator):
    expected = EXPECTED_BUILDS[accelerator]
    versions = locked_versions(locked(preset, accelerator), torch_index, expected)
    for extra, build in expected.items():
        for platform in ("linux", "win32"):
            assert (versions[extra, platform, "torch"], versions[extra, platform, "torchvision"]) \
                == EXPECTED_VERSIONS[build], (extra, platform)


@pytest.mark.parametrize("accelerator", ["auto", "cuda"])
def test_every_extra_locks_the_same_torch_version(locked, accelerator):
    """An extra pointing at an index that stopped earlier (cu128 ends at torch 2.11) would resolve an older
    torch than its siblings: a project whose environments differ in torch by machine."""
    project = locked("uv-python-ml", accelerator)
    data = tomllib.loads((project / "pyproject.toml").read_text())
    extras = [e for e, deps in data["project"]["optional-dependencies"].items()
              if any(d.startswith("torch") for d in deps)]
    assert len(extras) >= 2, extras
    lock = tomllib.loads((project / "uv.lock").read_text())
    for package in PACKAGES:
        public = {}
        for extra in extras:
            uv_extra = f"extra-{len(PROJECT)}-{PROJECT}-{extra}"
            entries = [e for e in _lock_entries(lock, extra)
                       if e["name"] == package and _applies(e.get("marker"), "linux", uv_extra)]
            only = [p["version"] for p in lock["package"] if p["name"] == package]
            versions = {e.get("version") or only[0] for e in entries}
            public[extra] = {v.split("+")[0] for v in versions}
        assert len({frozenset(v) for v in public.values()}) == 1, f"{package} per extra (Linux): {public}"


def test_nixos_preset_locks_from_the_promised_indexes(locked, torch_index):
    project = locked("nixos-pythonml", "auto")
    check_pyproject_routes(project, torch_index, EXPECTED_BUILDS["auto"])
    locked_versions(project, torch_index, EXPECTED_BUILDS["auto"])


# ------------------------------------------------------------------------------------------------------------
# Install: the environment holds the build it was meant to


def _sync_and_check_cpu_torch(project: Path, env: dict[str, str], sync: list[str]) -> None:
    run(sync, project, env)
    check_installed(project, env, "cpu")
    done = run(["uv", "run", "--no-sync", "pytest", "-q", "-s"], project, env)
    assert "2 passed" in done.stdout and "device: cpu" in done.stdout


def test_auto_project_extra_cpu_installs_the_real_cpu_build(tmp_path, uv_env, torch_index):
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator="auto", docs=False, jupyter=False)
    _sync_and_check_cpu_torch(project, uv_env, ["uv", "sync", "--extra", "cpu"])


def test_auto_project_extra_cu130_installs_the_cu130_build(tmp_path, uv_env, torch_index):
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator="auto", docs=False, jupyter=False)
    run(["uv", "sync", "--extra", "cu130"], project, uv_env)
    check_installed(project, uv_env, "cu130")
    assert installed_torch(project, uv_env)[1] == "13.0"


def test_cpu_project_installs_cpu_torch_and_its_tests_pass(tmp_path, uv_env, torch_index):
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator="cpu", docs=False, jupyter=False)
    _sync_and_check_cpu_torch(project, uv_env, ["uv", "sync"])


@pytest.mark.parametrize("accelerator", ["cu126", "cu130", "cu132"])
def test_fixed_cuda_project_installs_its_build(tmp_path, uv_env, torch_index, accelerator):
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator=accelerator, docs=False, jupyter=False)
    run(["uv", "sync"], project, uv_env)
    check_installed(project, uv_env, EXPECTED_BUILDS[accelerator][None])


def test_the_checks_catch_a_cpu_extra_pointed_at_cu130(tmp_path, uv_env, torch_index):
    """The audit's case: the `cpu` extra of an auto project taken from the cu130 index, by hand. Every check
    above must reject it: routes, lock and the installed environment."""
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator="auto", docs=False, jupyter=False)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    wrong = text.replace('{ index = "pytorch-cpu", extra = "cpu" }',
                         '{ index = "pytorch-cu130", extra = "cpu" }')
    assert wrong.count('index = "pytorch-cu130", extra = "cpu"') == 2, "the template changed: adapt this"
    pyproject.write_text(wrong)
    with pytest.raises(AssertionError, match="expected the cpu index"):
        check_pyproject_routes(project, torch_index, EXPECTED_BUILDS["auto"])
    run(["uv", "lock"], project, uv_env)
    with pytest.raises(AssertionError, match="expected the cpu index"):
        locked_versions(project, torch_index, EXPECTED_BUILDS["auto"])
    run(["uv", "sync", "--extra", "cpu"], project, uv_env)
    assert installed_torch(project, uv_env)[1] == "13.0"
    with pytest.raises(AssertionError):
        check_installed(project, uv_env, "cpu")


# ------------------------------------------------------------------------------------------------------------
# The rest of the project


def test_uv_project_without_framework_syncs_and_its_tests_pass(tmp_path, uv_env):
    project = make(tmp_path, "uv-python-ml", framework="none")
    run(["uv", "sync"], project, uv_env)
    done = run(["uv", "run", "pytest", "-q"], project, uv_env)
    assert "passed" in done.stdout
    assert (project / "uv.lock").is_file()


@pytest.mark.skipif(shutil.which("direnv") is None, reason="direnv is not installed")
def test_direnv_allow_then_exec_imports_the_package(tmp_path, uv_env):
    project = make(tmp_path, "uv-python-ml", framework="none", docs=False, jupyter=False)
    run(["direnv", "allow", str(project)], project, uv_env)
    done = run(["direnv", "exec", str(project), "python", "-c", "import cell_seg, sys; print(sys.prefix)"],
               project, uv_env)
    assert done.stdout.strip() == str(project / ".venv")


@pytest.mark.skipif(shutil.which("direnv") is None, reason="direnv is not installed")
def test_auto_project_on_a_gpu_less_machine_gets_cpu_torch_through_direnv(tmp_path, uv_env, torch_index):
    project = make(tmp_path, "uv-python-ml", torch_index, accelerator="auto", docs=False, jupyter=False)
    env = dict(uv_env, REPROML_CUDA_DRIVER_VERSION="none")
    run(["direnv", "allow", str(project)], project, env)
    run(["direnv", "exec", str(project), "true"], project, env)  # the .envrc runs uv sync --extra cpu
    _sync_and_check_cpu_torch(project, env, ["true"])


@pytest.mark.parametrize("resolution", ["highest", "lowest-direct"])
@pytest.mark.parametrize("preset", ["uv-python-ml", "global-python-ml"])
def test_both_ends_of_the_declared_ruff_range_pass_the_project(tmp_path, uv_env, preset, resolution):
    # The newest and the oldest ruff the project's dev dependencies accept, installed by uv from the index.
    project = make(tmp_path, preset)
    data = tomllib.loads((project / "pyproject.toml").read_text())
    if preset == "uv-python-ml":
        dev = data["dependency-groups"]["dev"]
    else:
        dev = data["project"]["optional-dependencies"]["dev"]
    (ruff,) = [item for item in dev if isinstance(item, str) and item.startswith("ruff")]
    tool = ["uv", "tool", "run", "--resolution", resolution, "--from", ruff, "ruff"]
    assert run([*tool, "--version"], project, uv_env).stdout.startswith("ruff 0.")
    run([*tool, "check", "--no-cache", "."], project, uv_env)
    run([*tool, "format", "--check", "--no-cache", "."], project, uv_env)
