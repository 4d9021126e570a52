"""The generated .envrc picks the PyTorch build (uv) or Pixi environment from the NVIDIA driver it finds.
direnv's functions and uv/pixi are stubbed with shell functions; the .envrc itself runs for real in bash."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from helpers import render_preset
from reproml import gpu, machine
from reproml.commands.new import TEMPLATE_DIR


def source_envrc(project, stubs: str, driver: str) -> str:
    env = dict(os.environ, REPROML_CUDA_DRIVER_VERSION=driver)
    done = subprocess.run(["bash", "-c", f"{stubs}; source .envrc"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("driver", "expected"),
    [("none", "--extra cpu"), ("450.80.02", "--extra cpu"), ("535.104.05", "--extra cu126"),
     ("550.54.14", "--extra cu126"), ("580.65.06", "--extra cu130"), ("garbage", "--extra cpu")],
)
def test_envrc_picks_the_build_the_driver_supports(tmp_path, driver, expected):
    project = render_preset(tmp_path / "p", "uv-python-ml")
    stubs = ('watch_file(){ :; }; PATH_add(){ :; }; has(){ return 0; }; log_error(){ :; }; '
             'uv(){ echo "uv $*"; }')
    assert source_envrc(project, stubs, driver) == f"uv sync --quiet {expected}"


def test_cuda_accelerator_gets_cuda_even_before_a_driver_is_installed(tmp_path):
    project = render_preset(tmp_path / "p", "uv-python-ml", accelerator="cuda")
    stubs = ('watch_file(){ :; }; PATH_add(){ :; }; has(){ return 0; }; log_error(){ :; }; '
             'uv(){ echo "uv $*"; }')
    assert source_envrc(project, stubs, "none") == "uv sync --quiet --extra cu130"
    assert source_envrc(project, stubs, "535.104.05") == "uv sync --quiet --extra cu126"


def test_fixed_builds_need_no_choice(tmp_path):
    project = render_preset(tmp_path / "p", "uv-python-ml", accelerator="cu126")
    stubs = ('watch_file(){ :; }; PATH_add(){ :; }; has(){ return 0; }; log_error(){ :; }; '
             'uv(){ echo "uv $*"; }')
    assert source_envrc(project, stubs, "580.65.06") == "uv sync --quiet"


@pytest.mark.parametrize(
    ("driver", "env_name"), [("none", "dev"), ("550.54.14", "dev-cuda"), ("580.65.06", "dev-cuda")])
def test_pixi_envrc_picks_the_cuda_environment_where_a_driver_is(tmp_path, driver, env_name):
    project = render_preset(tmp_path / "p", "global-python-ml")
    stubs = 'watch_file(){ :; }; has(){ return 0; }; pixi(){ echo "echo pixi $*"; }'
    expected = f"pixi shell-hook --environment {env_name} --change-ps1 false"
    assert source_envrc(project, stubs, driver) == expected


def test_cpu_pixi_project_always_uses_dev(tmp_path):
    project = render_preset(tmp_path / "p", "global-python-ml", accelerator="cpu")
    stubs = 'watch_file(){ :; }; has(){ return 0; }; pixi(){ echo "echo pixi $*"; }'
    assert source_envrc(project, stubs, "580.65.06") == "pixi shell-hook --environment dev --change-ps1 false"


def test_the_template_shell_snippet_is_generated_from_the_cuda_table():
    # Regenerate with: python -c "from reproml import gpu; print(gpu.shell_function(), end='')" > \
    #   src/reproml/template/snippets/torch_build.sh
    assert (TEMPLATE_DIR / "snippets" / "torch_build.sh").read_text() == gpu.shell_function()


@pytest.mark.parametrize("accelerator", ["auto", "cuda"])
@pytest.mark.parametrize("driver", ["none", "450.80.02", "525.60.13", "550.54.14", "580.65.06", "garbage"])
def test_envrc_choice_agrees_with_doctor(tmp_path, accelerator, driver):
    project = render_preset(tmp_path / "p", "uv-python-ml", accelerator=accelerator)
    stubs = ('watch_file(){ :; }; PATH_add(){ :; }; has(){ return 0; }; log_error(){ :; }; '
             'uv(){ echo "uv $*"; }')
    expected = gpu.choose_build(accelerator, gpu.parse_driver_version(driver), "Linux")
    assert source_envrc(project, stubs, driver) == f"uv sync --quiet --extra {expected}"


@pytest.mark.parametrize("preset", ["pythonml", "nixos-pythonml"])
def test_nix_uv_presets_enter_the_flake_then_sync_the_venv(tmp_path, preset):
    project = render_preset(tmp_path / "p", preset)
    stubs = ('watch_file(){ :; }; has(){ return 0; }; PATH_add(){ echo "PATH_add $*"; }; '
             'use(){ echo "use $*"; }; uv(){ echo "uv $*"; }')
    lines = source_envrc(project, stubs, "550.54.14").splitlines()
    assert lines == ["use flake ./.nix --extra-experimental-features nix-command flakes",
                     "uv sync --quiet --extra cu126", "PATH_add .venv/bin"]


# ----------------------------------------------------------- Pixi environment: real direnv, stand-in pixi
needs_direnv = pytest.mark.skipif(shutil.which("direnv") is None, reason="direnv is not installed")
# No pixi here: a stand-in whose shell-hook activates by exporting the environment it was asked for.
PIXI_STUB = """#!/bin/sh
if [ "$1" = shell-hook ] && [ "$2" = --environment ]; then echo "export PIXI_ENVIRONMENT_NAME=$3"; exit 0; fi
echo "pixi stand-in: unexpected arguments: $*" >&2
exit 2
"""


def direnv_pixi_env(tmp_path, accelerator: str, driver: str, **extra: str) -> tuple[str, str]:
    """`direnv allow` + `direnv export json` on a global-python-ml project: the Pixi environment the stand-in
    pixi was asked to activate, and direnv's log (stderr)."""
    project = render_preset(tmp_path / "p", "global-python-ml", accelerator=accelerator)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pixi").write_text(PIXI_STUB)
    (bin_dir / "pixi").chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    env = dict(os.environ, PATH=path, REPROML_CUDA_DRIVER_VERSION=driver, **extra)
    subprocess.run(["direnv", "allow", str(project)], cwd=project, env=env, check=True, capture_output=True,
                   timeout=30)
    done = subprocess.run(["direnv", "export", "json"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    exported = json.loads(done.stdout)
    # The variable the flake's shell hook reads names the same environment (not exported when already set).
    assert exported.get("REPROML_PIXI_ENV", env.get("REPROML_PIXI_ENV")) == exported["PIXI_ENVIRONMENT_NAME"]
    return exported["PIXI_ENVIRONMENT_NAME"], re.sub(r"\x1b\[[0-9;]*m", "", done.stderr)  # without colours


@needs_direnv
@pytest.mark.parametrize(
    ("accelerator", "driver", "env_name", "why"),
    [
        ("cu130", "none", "dev", "cu130 needs NVIDIA driver >= 580, found none"),
        ("cu130", "550.54.14", "dev", "cu130 needs NVIDIA driver >= 580, found 550.54.14"),
        ("cu130", "580.65.06", "dev-cuda", None),
        ("cu132", "none", "dev", "cu132 needs NVIDIA driver >= 580, found none"),
        ("cu126", "470.82.01", "dev", "cu126 needs NVIDIA driver >= 525.60.13, found 470.82.01"),
        ("cu126", "550.54.14", "dev-cuda", None),
        ("cuda", "none", "dev", "cu130 needs NVIDIA driver >= 580, found none"),
        ("cuda", "470.82.01", "dev", "cu126 needs NVIDIA driver >= 525.60.13, found 470.82.01"),
        ("cuda", "550.54.14", "dev-cuda", None),
        ("auto", "none", "dev", None),  # auto means CPU without a driver: nothing to explain
    ],
)
def test_pixi_cuda_environment_only_where_the_driver_runs_it(tmp_path, accelerator, driver, env_name, why):
    chosen, log = direnv_pixi_env(tmp_path, accelerator, driver)
    assert chosen == env_name
    reason = [line for line in log.splitlines() if "Pixi environment" in line]
    if why is None:
        assert reason == [], log
    else:
        force = "(to force: export REPROML_PIXI_ENV=dev-cuda)"
        assert reason == [f"direnv: Pixi environment dev (CPU): {why} {force}"]


@needs_direnv
def test_pixi_environment_can_be_forced(tmp_path):
    chosen, log = direnv_pixi_env(tmp_path, "cu130", "none", REPROML_PIXI_ENV="dev-cuda")
    assert chosen == "dev-cuda" and "Pixi environment" not in log


# ----------------------------------------------------- a missing tool: one clear line, real direnv
def path_hiding(tmp_path, hidden: set[str]) -> str:
    """PATH without the commands in ``hidden``. Unlike helpers.path_without, the other commands of their
    folders stay (/usr/bin holds nix and bash alike): each such folder is replaced by a folder of links to
    everything else in it."""
    shadow = tmp_path / "shadow-bin"
    shadow.mkdir()
    folders: list[str] = []
    for folder in os.environ["PATH"].split(os.pathsep):
        if not folder or not os.path.isdir(folder):
            continue
        names = set(os.listdir(folder))
        if names & hidden:
            for name in sorted(names - hidden):
                if not (shadow / name).exists():
                    (shadow / name).symlink_to(os.path.join(folder, name))
            folder = str(shadow)
        if folder not in folders:
            folders.append(folder)
    path = os.pathsep.join(folders)
    assert all(shutil.which(tool, path=path) is None for tool in hidden)
    return path


# uv without network: a stand-in that reports how it was called.
UV_STUB = '#!/bin/sh\necho "uv (stand-in): $*" >&2\n'


def direnv_load(project, path: str) -> tuple[int, dict, str]:
    """`direnv allow` + `direnv export json` with this PATH: exit status, exported variables, log."""
    env = dict(os.environ, PATH=path, REPROML_CUDA_DRIVER_VERSION="none")
    subprocess.run([shutil.which("direnv"), "allow", str(project)], cwd=project, env=env, check=True,
                   capture_output=True, timeout=30)
    done = subprocess.run([shutil.which("direnv"), "export", "json"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, json.loads(done.stdout or "{}"), re.sub(r"\x1b\[[0-9;]*m", "", done.stderr)


@needs_direnv
@pytest.mark.parametrize(
    ("preset", "hidden", "message"),
    [
        ("global-python-ml", {"pixi"}, f"pixi is not installed: {machine.INSTALL['pixi']}"),
        ("flake-python-ml", {"pixi", "nix"},
         f"pixi is not installed: {machine.INSTALL['pixi']} (or install Nix"),
        ("uv-python-ml", {"uv"}, f"uv is not installed: {machine.INSTALL['uv']}"),
        ("pythonml", {"nix", "uv"},
         f"neither nix nor uv is installed: install Nix ({machine.INSTALL['nix']}), whose dev shell in .nix/ "
         f"brings uv, or uv alone ({machine.INSTALL['uv']})"),
        ("nixos-pythonml", {"nix"}, "nix is not installed: the nixos-pythonml preset runs on NixOS only"),
    ],
)
def test_a_missing_tool_is_one_clear_line(tmp_path, preset, hidden, message):
    project = render_preset(tmp_path / "p", preset)
    code, exported, log = direnv_load(project, path_hiding(tmp_path, hidden))
    assert code != 0 and "VIRTUAL_ENV" not in exported and "PIXI_ENVIRONMENT_NAME" not in exported
    errors = [line for line in log.splitlines() if " installed" in line]
    assert len(errors) == 1 and errors[0].startswith(f"direnv: {message}"), log
    assert "command not found" not in log, log


@needs_direnv
def test_pythonml_without_nix_falls_back_to_uv_on_path(tmp_path):
    project = render_preset(tmp_path / "p", "pythonml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text(UV_STUB)
    (bin_dir / "uv").chmod(0o755)
    code, exported, log = direnv_load(project, f"{bin_dir}{os.pathsep}{path_hiding(tmp_path, {'nix', 'uv'})}")
    assert code == 0, log
    notes = [line for line in log.splitlines() if "nix is not installed" in line]
    assert notes == [f"direnv: nix is not installed: using uv from PATH, without the Nix dev tools "
                     f"(Nix: {machine.INSTALL['nix']})"]
    assert "uv (stand-in): sync --quiet --extra cpu" in log
    assert exported["VIRTUAL_ENV"] == str(project / ".venv")
