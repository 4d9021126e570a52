"""The generated Nix files parse, the overlays loader evaluates, and each flake's dev shell evaluates
against local stand-ins for nixpkgs (this machine cannot fetch nixpkgs)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import NIX, NIX_STUB, have, nix_eval, render_preset

pytestmark = [pytest.mark.nix, pytest.mark.skipif(not have("nix"), reason="nix is not installed")]

FLAKE_PRESETS = ["flake-python-ml", "pythonml", "nixos-pythonml"]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("nix")
    return {preset: render_preset(root / preset, preset) for preset in FLAKE_PRESETS}


def test_every_nix_file_parses(projects):
    files = [p for project in projects.values() for p in project.rglob("*.nix") if p.is_file()]
    assert len(files) == 4 + 4 + 1  # flake.nix + 3 overlay files, twice; nixos-pythonml: flake.nix
    for path in files:
        done = subprocess.run(["nix-instantiate", "--parse", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"{path}: {done.stderr}"


def _overlays_expr(overlays: Path, args: str) -> str:
    return f"let overlays = import {overlays} {args}; in map (o: builtins.typeOf o) overlays"


def test_overlays_loader_loads_every_overlay(projects):
    overlays = projects["flake-python-ml"] / ".nix" / "overlays"
    done = nix_eval(["--json", "--impure", "--expr", _overlays_expr(overlays, '{ system = "x86_64-linux"; nixpkgs-newer = {}; }')])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["lambda", "lambda"]  # example.nix and newer-tools.nix


def test_overlays_apply_and_take_tools_from_the_newer_nixpkgs(projects):
    overlays = projects["flake-python-ml"] / ".nix" / "overlays"
    expr = (
        f"let newer = {{ legacyPackages.x86_64-linux = {{ pixi = \"pixi-newer\"; uv = \"uv-newer\"; }}; }};"
        f" pkgs = import {NIX_STUB} {{ system = \"x86_64-linux\";"
        f" overlays = import {overlays} {{ system = \"x86_64-linux\"; nixpkgs-newer = newer; }}; }};"
        f" in [ pkgs.pixi pkgs.uv ]"
    )
    done = nix_eval(["--json", "--impure", "--expr", expr])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["pixi-newer", "uv-newer"]


def test_overlays_loader_names_a_missing_argument(projects, tmp_path):
    overlays = projects["pythonml"] / ".nix" / "overlays"
    (overlays / "needs-gpu.nix").write_text("{ system, cudaCapabilities }: final: prev: { }\n")
    try:
        done = nix_eval(["--json", "--impure", "--expr", _overlays_expr(overlays, '{ system = "x86_64-linux"; nixpkgs-newer = {}; }')])
    finally:
        (overlays / "needs-gpu.nix").unlink()
    assert done.returncode != 0
    assert "overlay .nix/overlays/needs-gpu.nix asks for cudaCapabilities" in done.stderr


def _shell(project: Path, preset: str, attr: str) -> str:
    inputs = ["--override-input", "nixpkgs", f"path:{NIX_STUB}"]
    if preset != "nixos-pythonml":
        inputs += ["--override-input", "nixpkgs-newer", f"path:{NIX_STUB}"]
    done = nix_eval(
        ["--json", "--no-write-lock-file", f"path:{project / '.nix'}#devShells.x86_64-linux.default.{attr}", *inputs]
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("preset", FLAKE_PRESETS)
def test_flake_dev_shell_evaluates_with_stub_inputs(projects, preset):
    project = projects[preset]
    hook = _shell(project, preset, "shellHook")
    env = {k: _shell(project, preset, k) for k in ("PYTHON_KEYRING_BACKEND",)}
    packages = _shell(project, preset, "packages")
    assert env["PYTHON_KEYRING_BACKEND"] == "keyring.backends.null.Keyring"
    assert any("bashInteractive" in str(p) for p in packages), packages
    assert "export SHELL=/nix/store/" in hook
    if preset == "flake-python-ml":
        assert 'eval "$(pixi shell-hook --environment "${REPROML_PIXI_ENV:-dev}"' in hook
        assert "pixi shell\n" not in hook
        assert any(str(p).endswith("-pixi") for p in packages)
    else:
        assert _shell(project, preset, "UV_PYTHON_DOWNLOADS") == "never"
        assert _shell(project, preset, "UV_PYTHON").endswith("-python311/bin/python")
        assert any(str(p).endswith("-uv") for p in packages)
    if preset == "nixos-pythonml":
        ld_path = _shell(project, preset, "LD_LIBRARY_PATH")
        assert ld_path.endswith(":/run/opengl-driver/lib")
        assert "-zlib/lib" in ld_path and "-cudatoolkit/lib" in ld_path


def test_flake_lock_is_not_written(projects):
    for project in projects.values():
        assert not (project / ".nix" / "flake.lock").exists()


def test_nix_cli_present():
    assert subprocess.run([*NIX, "--version"], capture_output=True).returncode == 0
