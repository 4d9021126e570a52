"""The generated Nix files parse, the overlays loader evaluates, and each flake's dev shell evaluates
against local stand-ins for nixpkgs (this machine cannot fetch nixpkgs)."""

from __future__ import annotations

import json
import os
import re
import shutil
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
    # flake.nix + packages.nix + 3 overlay files, twice; nixos-pythonml: flake.nix + packages.nix
    assert len(files) == 5 + 5 + 2
    for path in files:
        done = subprocess.run(["nix-instantiate", "--parse", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"{path}: {done.stderr}"


# What flake.nix passes the overlays loader (names only matter here; values are stand-ins).
OVERLAY_ARGS = '{ system = "x86_64-linux"; mpkgs = {}; nixpkgs-newer = {}; inputs = {}; }'


def _overlays_expr(overlays: Path, args: str) -> str:
    return f"let overlays = import {overlays} {args}; in map (o: builtins.typeOf o) overlays"


def test_overlays_loader_loads_every_overlay(projects):
    overlays = projects["flake-python-ml"] / ".nix" / "overlays"
    done = nix_eval(["--json", "--impure", "--expr", _overlays_expr(overlays, OVERLAY_ARGS)])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["lambda", "lambda"]  # example.nix and newer-tools.nix


def test_overlays_apply_and_take_tools_from_the_newer_nixpkgs(projects):
    overlays = projects["flake-python-ml"] / ".nix" / "overlays"
    expr = (
        f"let mpkgs = {{ pixi = \"pixi-newer\"; uv = \"uv-newer\"; }};"
        f" pkgs = import {NIX_STUB} {{ system = \"x86_64-linux\";"
        f" overlays = import {overlays} {{ system = \"x86_64-linux\"; inherit mpkgs; }}; }};"
        f" in [ pkgs.pixi pkgs.uv ]"
    )
    done = nix_eval(["--json", "--impure", "--expr", expr])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["pixi-newer", "uv-newer"]


def test_overlays_loader_names_a_missing_argument(projects, tmp_path):
    overlays = projects["pythonml"] / ".nix" / "overlays"
    (overlays / "needs-gpu.nix").write_text("{ system, cudaCapabilities }: final: prev: { }\n")
    try:
        done = nix_eval(["--json", "--impure", "--expr", _overlays_expr(overlays, OVERLAY_ARGS)])
    finally:
        (overlays / "needs-gpu.nix").unlink()
    assert done.returncode != 0
    assert "overlay .nix/overlays/needs-gpu.nix asks for cudaCapabilities" in done.stderr
    assert "(it passes: inputs, mpkgs, nixpkgs-newer, system)" in done.stderr


@pytest.fixture(scope="module")
def newer_stub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the nixpkgs stand-in whose packages are all named newer-*: the flake's nixpkgs-newer input,
    so a test sees which input each package came from."""
    stub = tmp_path_factory.mktemp("stubs") / "nixpkgs-newer"
    shutil.copytree(NIX_STUB, stub)
    (stub / "label.nix").write_text('"newer-"\n')
    return stub


def stub_inputs(newer: Path) -> list[str]:
    return ["--override-input", "nixpkgs", f"path:{NIX_STUB}",
            "--override-input", "nixpkgs-newer", f"path:{newer}"]


SHELL_ATTRS = ("shellHook", "packages", "PYTHON_KEYRING_BACKEND", "UV_PYTHON", "UV_PYTHON_DOWNLOADS",
               "LD_LIBRARY_PATH")


def dev_shell(project: Path, newer: Path, attrs: tuple[str, ...] = SHELL_ATTRS) -> dict:
    """The dev shell's attributes (null where it has none), evaluated against the stub inputs."""
    names = " ".join(f'"{a}"' for a in attrs)
    apply = "d: builtins.listToAttrs (map (n: { name = n; value = d.${n} or null; }) [ " + names + " ])"
    shell = f"path:{project / '.nix'}#devShells.x86_64-linux.default"
    done = nix_eval(["--json", "--no-write-lock-file", shell, "--apply", apply, *stub_inputs(newer)])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def from_input(packages: list[str], name: str) -> str:
    """Which stub a package came from: "newer" (nixpkgs-newer) or "base" (nixpkgs)."""
    (path,) = [p for p in packages if p.endswith(f"-{name}")]
    return "newer" if path.endswith(f"-newer-{name}") else "base"


@pytest.mark.parametrize("preset", FLAKE_PRESETS)
def test_flake_dev_shell_evaluates_with_stub_inputs(projects, newer_stub, preset):
    shell = dev_shell(projects[preset], newer_stub)
    packages, hook = shell["packages"], shell["shellHook"]
    assert shell["PYTHON_KEYRING_BACKEND"] == "keyring.backends.null.Keyring"
    assert any("bashInteractive" in str(p) for p in packages), packages
    assert "export SHELL=/nix/store/" in hook
    # pixi and uv from the newer input, everything else from the stable base.
    assert from_input(packages, "git") == "base"
    if preset == "flake-python-ml":
        assert 'eval "$(pixi shell-hook --environment "${REPROML_PIXI_ENV:-dev}"' in hook
        assert "pixi shell\n" not in hook
        assert from_input(packages, "pixi") == "newer"
    else:
        assert from_input(packages, "uv") == "newer"
    if preset == "pythonml":
        # Not Nix's Python on a non-NixOS Linux: uv uses the system's or its own, per .python-version.
        assert shell["UV_PYTHON"] is None and shell["UV_PYTHON_DOWNLOADS"] is None
        assert not any("-python3" in p for p in packages), packages
    if preset == "nixos-pythonml":
        assert shell["UV_PYTHON_DOWNLOADS"] == "never"
        assert shell["UV_PYTHON"].endswith("-python311/bin/python")
        # An attribute would replace the user's value; the hook extends it.
        assert shell["LD_LIBRARY_PATH"] is None


@pytest.mark.parametrize(("before", "after_libs"),
                         [("/host/lib:/opt/lib", ["/host/lib", "/opt/lib"]), (None, [])])
def test_nixos_shell_extends_ld_library_path(projects, newer_stub, tmp_path, before, after_libs):
    hook = dev_shell(projects["nixos-pythonml"], newer_stub)["shellHook"]
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    if before is not None:
        env["LD_LIBRARY_PATH"] = before
    done = subprocess.run(["bash", "-c", hook + '\nprintf %s "$LD_LIBRARY_PATH"'], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    parts = done.stdout.split(":")
    assert "" not in parts  # an empty entry would mean "the current folder"
    nix_libs = parts[: len(parts) - len(after_libs)]
    assert parts[len(nix_libs):] == after_libs
    assert nix_libs[-1] == "/run/opengl-driver/lib"
    assert any(p.endswith("-zlib/lib") for p in nix_libs)
    assert any(p.endswith("-cudatoolkit/lib") for p in nix_libs)


@pytest.mark.parametrize(
    ("preset", "systems"),
    [("nixos-pythonml", ["aarch64-linux", "x86_64-linux"]),  # NixOS is Linux: no CUDA libraries on macOS
     ("pythonml", ["aarch64-darwin", "aarch64-linux", "x86_64-linux"]),
     ("flake-python-ml", ["aarch64-darwin", "aarch64-linux", "x86_64-linux"])],
)
def test_flake_systems(projects, newer_stub, preset, systems):
    done = nix_eval(["--json", "--no-write-lock-file", f"path:{projects[preset] / '.nix'}#devShells",
                     "--apply", "builtins.attrNames", *stub_inputs(newer_stub)])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == systems


@pytest.mark.parametrize("preset", FLAKE_PRESETS)
def test_flake_inputs_are_a_stable_release_and_a_newer_nixpkgs(projects, preset):
    flake = projects[preset] / ".nix" / "flake.nix"
    done = nix_eval(["--json", "--impure", "--expr", f"(import {flake}).inputs"])
    assert done.returncode == 0, done.stderr
    inputs = json.loads(done.stdout)
    assert set(inputs) == {"nixpkgs", "nixpkgs-newer"}
    release = re.fullmatch(r"github:NixOS/nixpkgs/nixos-(\d\d)\.(\d\d)", inputs["nixpkgs"]["url"])
    assert release and release[2] in ("05", "11"), inputs  # NixOS releases: YY.05 and YY.11
    assert inputs["nixpkgs-newer"]["url"] == "github:NixOS/nixpkgs/nixpkgs-unstable"


def test_an_upstream_overlay_asking_system_and_mpkgs_loads(projects, newer_stub, tmp_path):
    project = tmp_path / "p"
    shutil.copytree(projects["pythonml"], project)
    overlays = project / ".nix" / "overlays"
    # As upstream's templates write them: `mpkgs` is the newer package set.
    (overlays / "upstream.nix").write_text(
        '{ system, mpkgs }:\nfinal: prev: assert system == "x86_64-linux"; { git = mpkgs.git; }\n'
    )
    assert from_input(dev_shell(project, newer_stub)["packages"], "git") == "newer"
    # An argument the flake does not pass still fails, by name.
    (overlays / "upstream.nix").write_text("{ mpkgs, cudaCapabilities }:\nfinal: prev: { }\n")
    name = f"path:{project / '.nix'}#devShells.x86_64-linux.default.name"
    done = nix_eval(["--json", "--no-write-lock-file", name, *stub_inputs(newer_stub)])
    assert done.returncode != 0
    assert "overlay .nix/overlays/upstream.nix asks for cudaCapabilities, which flake.nix does not pass" in (
        done.stderr)


@pytest.mark.parametrize(
    ("accelerator", "command"),
    [("auto", "uv sync --extra cpu"), ("cuda", "uv sync --extra cu130"), ("cpu", "uv sync")],
)
def test_nix_develop_hook_and_readme_give_the_same_command(tmp_path, newer_stub, accelerator, command):
    """`nix develop` does not sync .venv: its hook names the command, and the README's `nix develop` block
    runs that same command next."""
    project = render_preset(tmp_path / "p", "pythonml", accelerator=accelerator)
    hook = dev_shell(project, newer_stub, ("shellHook",))["shellHook"]
    script = hook + '\nprintf "VIRTUAL_ENV=%s\\n" "${VIRTUAL_ENV:-}"'
    env = {k: v for k, v in os.environ.items() if k != "DIRENV_IN_ENVRC"}
    work = tmp_path / "work"
    work.mkdir()

    def run(**extra: str) -> str:
        done = subprocess.run(["bash", "-c", script], cwd=work, env={**env, **extra}, capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    hint = run()
    assert f"No .venv yet: run '{command}'" in hint and "VIRTUAL_ENV=\n" in hint
    readme = (project / "README.md").read_text()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert block[0].startswith("nix --extra-experimental-features 'nix-command flakes' develop ./.nix")
    assert block[1].split("#")[0].strip() == command
    assert "syncs" not in readme
    (work / ".venv").mkdir()
    assert f"VIRTUAL_ENV={work / '.venv'}\n" in run()
    assert run(DIRENV_IN_ENVRC="1") == "VIRTUAL_ENV=\n"  # direnv: the .envrc syncs and activates


def test_flake_lock_is_not_written(projects):
    for project in projects.values():
        assert not (project / ".nix" / "flake.lock").exists()


def test_nix_cli_present():
    assert subprocess.run([*NIX, "--version"], capture_output=True).returncode == 0


# --------------------------------------------------------------- direnv on a stock Nix (flakes off), for real
needs_direnv = pytest.mark.skipif(not have("direnv"), reason="direnv is not installed")


def point_flake_at_stubs(project: Path, newer: Path) -> None:
    """Point the flake's nixpkgs inputs at the stand-ins (direnv's `use flake` takes no --override-input)."""
    flake = project / ".nix" / "flake.nix"
    text, count = re.subn(r'nixpkgs\.url = "github:NixOS/nixpkgs/[^"]+"', f'nixpkgs.url = "path:{NIX_STUB}"',
                          flake.read_text())
    text, newer_count = re.subn(r'nixpkgs-newer\.url = "github:NixOS/nixpkgs/[^"]+"',
                                f'nixpkgs-newer.url = "path:{newer}"', text)
    assert (count, newer_count) == (1, 1)
    flake.write_text(text)


@needs_direnv
@pytest.mark.parametrize("preset", FLAKE_PRESETS)
def test_direnv_allow_works_on_a_stock_nix(tmp_path, newer_stub, preset):
    project = render_preset(tmp_path / "p", preset)
    point_flake_at_stubs(project, newer_stub)
    # A stock install: no nix.conf of the user's (HOME is the test's own), none in /etc enabling flakes, no
    # NIX_CONFIG but the one line that keeps nix from looking for a binary cache (offline).
    env = dict(os.environ, NIX_CONFIG="substituters =", REPROML_CUDA_DRIVER_VERSION="none",
               LD_LIBRARY_PATH="/host/lib")
    stock = subprocess.run(["nix", "eval", "--expr", "1"], env=env, capture_output=True, text=True,
                           timeout=60)
    assert "experimental Nix feature 'nix-command' is disabled" in stock.stderr, "flakes are on: not stock"

    subprocess.run(["direnv", "allow", str(project)], cwd=project, env=env, check=True, capture_output=True,
                   timeout=30)
    done = subprocess.run(["direnv", "export", "json"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)
    log = re.sub(r"\x1b\[[0-9;]*m", "", done.stderr)
    assert done.returncode == 0, log
    assert "experimental Nix feature" not in log and "error" not in log.lower(), log
    exported = json.loads(done.stdout)
    assert exported["PYTHON_KEYRING_BACKEND"] == "keyring.backends.null.Keyring"  # the flake's shell loaded
    path = exported["PATH"].split(os.pathsep)
    if preset == "flake-python-ml":
        assert any(p.endswith("-newer-pixi/bin") for p in path), path
        assert "pixi (nix stub): shell-hook --environment dev --change-ps1 false" in log
    else:
        assert any(p.endswith("-newer-uv/bin") for p in path), path
        assert "uv (nix stub): sync --quiet --extra cpu" in log  # Nix's uv synced .venv
        assert exported["VIRTUAL_ENV"] == str(project / ".venv")
        assert "No .venv yet" not in log  # under direnv the hook leaves .venv to the .envrc
    if preset == "nixos-pythonml":
        ld_path = exported["LD_LIBRARY_PATH"].split(":")
        assert ld_path[-1] == "/host/lib" and "/run/opengl-driver/lib" in ld_path
