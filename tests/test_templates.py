"""`reproml templates` through the CLI: no broken words at any width, runs-here from reproml.machine."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reproml.cli import app
from reproml.errors import UsageError
from reproml.presets import PRESETS, get_preset

runner = CliRunner()


def only(tmp_path: Path, *tools: str) -> str:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for tool in tools:
        found = shutil.which(tool)
        assert found, tool
        (folder / tool).symlink_to(found)
    (folder / "python3").symlink_to(sys.executable)
    return str(folder)


@pytest.mark.parametrize("columns", ["80", "100", "200"])
def test_no_word_is_broken(monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    result = runner.invoke(app, ["templates"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= int(columns) for line in lines)
    for name in PRESETS:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", result.output), name
    assert "shareability" in result.output
    assert set(re.findall(r"shareabi\w*", result.output)) == {"shareability"}
    for preset in PRESETS.values():  # every word of "best for" appears whole somewhere
        for word in preset.best_for.split():
            assert word in result.output, (columns, word)


def test_json_has_runs_here_problems_and_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", only(tmp_path, "uv"))
    result = runner.invoke(app, ["templates", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    by_name = {p["name"]: p for p in data["presets"]}
    assert set(by_name) == set(PRESETS)
    assert by_name["uv-python-ml"]["runs_here"] is True and by_name["uv-python-ml"]["problems"] == []
    assert by_name["global-python-ml"]["runs_here"] is False
    assert by_name["global-python-ml"]["problems"][0].startswith("pixi is not installed")
    assert (
        by_name["pythonml"]["runs_here"] is False
        and "nix is not installed" in by_name["pythonml"]["problems"][0]
    )
    assert all(p["runs_here"] == p["runnable_here"] for p in data["presets"])
    assert data["recommended"] == "uv-python-ml" and data["reason"]


@pytest.mark.nix
@pytest.mark.skipif(shutil.which("nix") is None, reason="nix not installed")
def test_this_machine_old_nix_means_pythonml_does_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", only(tmp_path, "uv", "nix"))
    data = json.loads(runner.invoke(app, ["templates", "--json"]).output)
    by_name = {p["name"]: p for p in data["presets"]}
    if data["nix"]["usable"]:
        pytest.skip("this machine's Nix is usable")
    assert by_name["pythonml"]["runs_here"] is False and by_name["pythonml"]["problems"]
    assert by_name["nixos-pythonml"]["runs_here"] is False
    assert any("NixOS" in p for p in by_name["nixos-pythonml"]["problems"])
    assert data["recommended"] == "uv-python-ml"


def test_text_says_why_and_recommends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", only(tmp_path, "uv"))
    monkeypatch.setenv("COLUMNS", "200")
    out = runner.invoke(app, ["templates"]).output
    assert "pixi is not installed (install: curl -fsSL https://pixi.sh/install.sh | sh)" in out
    assert "Recommended here: uv-python-ml" in out


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("uv", "uv-python-ml"),
        ("pixi", "global-python-ml"),
        ("flake", "flake-python-ml"),
        ("global", "global-python-ml"),
        ("pythonm", "pythonml"),
        ("uv-pyhton-ml", "uv-python-ml"),
    ],
)
def test_unknown_name_suggests_the_closest_preset(typed: str, meant: str) -> None:
    with pytest.raises(UsageError) as caught:
        get_preset(typed)
    assert caught.value.hint == f"did you mean '{meant}'?"


def test_new_with_t_uv_suggests_uv_python_ml(tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", str(tmp_path / "x"), "-t", "uv", "--yes"])
    assert result.exit_code == 2
    assert "did you mean 'uv-python-ml'?" in result.output
