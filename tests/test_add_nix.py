"""`reproml add --nix` / `remove --nix`: .nix/packages.nix stays a list Nix reads, and the flake's dev shell,
evaluated against the stub inputs, holds exactly the packages listed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import NIX_STUB, have, nix_eval, render_preset
from reproml.cli import app
from test_nix import dev_shell, stub_inputs

pytestmark = [pytest.mark.nix, pytest.mark.skipif(not have("nix"), reason="nix is not installed")]


@pytest.fixture(scope="module")
def newer_stub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    stub = tmp_path_factory.mktemp("stubs") / "nixpkgs-newer"
    shutil.copytree(NIX_STUB, stub)
    (stub / "label.nix").write_text('"newer-"\n')
    return stub


def reproml(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def shell_packages(project: Path, newer: Path) -> list[str]:
    return [p.rsplit("-", 1)[-1] for p in dev_shell(project, newer, ("packages",))["packages"]]


@pytest.mark.parametrize("preset", ["pythonml", "flake-python-ml", "nixos-pythonml"])
def test_added_attributes_land_in_the_dev_shell(tmp_path, newer_stub, preset):
    project = render_preset(tmp_path / "p", preset, docs=False)
    assert "ffmpeg" not in shell_packages(project, newer_stub)
    code, output = reproml("add", "--nix", "ffmpeg", "graphviz", "python3Packages.black",
                           "--project", str(project))
    assert code == 0, output
    for path in [p for p in project.rglob("*.nix") if p.is_file()]:
        done = subprocess.run(["nix-instantiate", "--parse", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"{path}: {done.stderr}"
    packages = shell_packages(project, newer_stub)
    assert {"ffmpeg", "graphviz", "black"} <= set(packages), packages
    text = (project / ".nix" / "packages.nix").read_text()
    assert text.startswith("# Extra nixpkgs packages")  # the comment is kept

    code, output = reproml("remove", "--nix", "graphviz", "--project", str(project))
    assert code == 0, output
    packages = shell_packages(project, newer_stub)
    assert "graphviz" not in packages and {"ffmpeg", "black"} <= set(packages)


def test_add_then_remove_gives_back_the_same_file(tmp_path):
    project = render_preset(tmp_path / "p", "pythonml", docs=False)
    path = project / ".nix" / "packages.nix"
    path.write_text(path.read_text().replace("[\n", '[\n  "pandoc"  # for the docs\n'))
    before = path.read_bytes()
    assert reproml("add", "--nix", "ffmpeg", "--project", str(project))[0] == 0
    assert reproml("remove", "--nix", "ffmpeg", "--project", str(project))[0] == 0
    assert path.read_bytes() == before


@pytest.mark.parametrize("bad", ["ff mpeg", "pkgs.ffmpeg;", '"x"', "1ffmpeg", "a..b", "${x}"])
def test_a_name_that_is_not_an_attribute_path_is_refused(tmp_path, bad):
    project = render_preset(tmp_path / "p", "pythonml", docs=False)
    before = (project / ".nix" / "packages.nix").read_bytes()
    code, output = reproml("add", "--nix", bad, "--project", str(project))
    assert code == 2 and "not a nixpkgs attribute path" in output
    assert (project / ".nix" / "packages.nix").read_bytes() == before


def test_an_unknown_attribute_fails_the_shell_by_name(tmp_path, newer_stub):
    project = render_preset(tmp_path / "p", "pythonml", docs=False)
    assert reproml("add", "--nix", "noSuchTool", "--project", str(project))[0] == 0
    shell = f"path:{project / '.nix'}#devShells.x86_64-linux.default"
    done = nix_eval(["--json", "--no-write-lock-file", shell, "--apply", "d: map (p: p.name) d.packages",
                     *stub_inputs(newer_stub)])
    assert done.returncode != 0
    assert ".nix/packages.nix: nixpkgs has no attribute noSuchTool" in done.stderr


def test_a_hand_edit_nix_cannot_read_is_refused(tmp_path):
    project = render_preset(tmp_path / "p", "pythonml", docs=False)
    path = project / ".nix" / "packages.nix"
    path.write_text("[\n  pkgs.ffmpeg\n]\n")  # not a list of strings: reproml will not guess
    code, output = reproml("add", "--nix", "graphviz", "--project", str(project))
    assert code == 5 and "would not be the list of attribute paths" in output
    assert path.read_text() == "[\n  pkgs.ffmpeg\n]\n"


def test_dry_run_prints_the_line_and_writes_nothing(tmp_path):
    project = render_preset(tmp_path / "p", "flake-python-ml", docs=False)
    before = (project / ".nix" / "packages.nix").read_bytes()
    result = CliRunner().invoke(app, ["add", "--nix", "--dry-run", "ffmpeg", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert '+  "ffmpeg"' in result.stdout and "+++ b/.nix/packages.nix" in result.stdout
    assert (project / ".nix" / "packages.nix").read_bytes() == before
