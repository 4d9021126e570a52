"""`reproml add` / `remove` in Pixi projects: without pixi (none here) reproml edits [tool.pixi] with
tomlkit, keeps every comment, and the result validates against Pixi's schema; with pixi on PATH (a stand-in
that records its arguments) the work goes to `pixi add` / `pixi remove`."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tomllib
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from helpers import path_without, render_preset
from reproml.cli import app
from reproml.managers.pixi import SCHEMA as PIXI_SCHEMA_FILE

SCHEMA = json.loads(PIXI_SCHEMA_FILE.read_text())


@pytest.fixture(autouse=True)
def no_pixi(monkeypatch):
    monkeypatch.setenv("PATH", path_without("pixi", os.environ["PATH"]))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Each project rendered once per module (copier takes a second); tests work on copies."""
    root = tmp_path_factory.mktemp("pixi")
    return {(preset, accelerator): render_preset(root / f"{preset}-{accelerator}", preset,
                                                 accelerator=accelerator)
            for preset, accelerator in (("global-python-ml", "auto"), ("flake-python-ml", "cu126"),
                                        ("global-python-ml", "cpu"))}


@pytest.fixture
def fresh(rendered, tmp_path):
    def copy(preset: str = "global-python-ml", accelerator: str = "auto") -> Path:
        return Path(shutil.copytree(rendered[preset, accelerator], tmp_path / "p"))

    return copy


def reproml(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--project", str(project)])
    return result.exit_code, result.output


def pixi_table(project: Path) -> dict:
    pixi = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["pixi"]
    jsonschema.Draft7Validator(SCHEMA).validate(pixi)
    return pixi


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#") or " # " in line]


@pytest.mark.parametrize(("preset", "accelerator", "features"), [
    ("global-python-ml", "auto", ["cpu", "cuda"]),
    ("flake-python-ml", "cu126", ["cpu", "cuda"]),
    ("global-python-ml", "cpu", ["cpu"]),
])
def test_the_pytorch_family_goes_where_torch_is(fresh, preset, accelerator, features):
    project = fresh(preset, accelerator)
    original = (project / "pyproject.toml").read_text()
    code, output = reproml(project, "add", "torchaudio", "ffmpeg>=6")
    assert code == 0, output
    assert "run `pixi lock`" in output
    pixi = pixi_table(project)
    for feature in ("cpu", "cuda"):
        deps = pixi.get("feature", {}).get(feature, {}).get("dependencies", {})
        assert ("torchaudio" in deps) == (feature in features), (feature, deps)
        assert deps.get("torchaudio", "*") == "*"
    assert "torchaudio" not in pixi["dependencies"]
    assert pixi["dependencies"]["ffmpeg"] == ">=6"  # the rest: the project's own, in every environment
    assert comments((project / "pyproject.toml").read_text()) == comments(original)

    code, output = reproml(project, "remove", "torchaudio", "ffmpeg")
    assert code == 0, output
    assert (project / "pyproject.toml").read_text() == original


def test_pypi_packages_and_features(fresh, tmp_path):
    project = fresh()
    original = (project / "pyproject.toml").read_text()
    code, output = reproml(project, "add", "--pypi", "requests[socks]>=2.30")
    assert code == 0, output
    assert pixi_table(project)["pypi-dependencies"]["requests"] == {"version": ">=2.30", "extras": ["socks"]}
    code, output = reproml(project, "add", "--group", "vision", "opencv")
    assert code == 0, output
    assert "feature vision is in no environment yet" in output
    assert pixi_table(project)["feature"]["vision"]["dependencies"] == {"opencv": "*"}
    added = (project / "pyproject.toml").read_text()
    assert reproml(project, "remove", "--group", "vision", "opencv")[0] == 0
    assert "vision" not in pixi_table(project)["feature"]  # the feature it emptied goes too
    assert reproml(project, "add", "--group", "vision", "opencv")[0] == 0
    assert (project / "pyproject.toml").read_text() == added  # remove, then add again: the same file
    assert reproml(project, "remove", "--group", "vision", "opencv")[0] == 0
    assert reproml(project, "remove", "--pypi", "requests")[0] == 0
    assert (project / "pyproject.toml").read_text() == original


@pytest.mark.parametrize(("args", "message"), [
    (["add", "--pypi", "torchaudio"], "from PyPI would mix with conda-forge's torch"),
    (["add", "torch"], "torch is here already"),
    (["add", "--group", "dev", "torchaudio"], "the PyTorch family follows torch"),
    (["add", "--group", "my feature", "x"], "not a Pixi feature name"),
    (["add", "numpy[extra]"], "conda packages have no extras"),
    (["remove", "not-there"], "not-there is not in [tool.pixi.dependencies]"),
])
def test_refusals_change_nothing(fresh, tmp_path, args, message):
    project = fresh()
    before = (project / "pyproject.toml").read_bytes()
    code, output = reproml(project, *args)
    assert code == 2 and message in output, output
    assert (project / "pyproject.toml").read_bytes() == before


def test_a_manifest_invalid_before_is_named_not_blamed_on_the_change(fresh, tmp_path):
    project = fresh()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("platforms = [", "platform = [", 1))
    before = pyproject.read_bytes()
    code, output = reproml(project, "add", "ffmpeg")
    assert code == 5 and "[tool.pixi] is not valid already" in output, output
    assert pyproject.read_bytes() == before


def test_dry_run_prints_the_diff_only(fresh, tmp_path):
    project = fresh()
    before = (project / "pyproject.toml").read_bytes()
    result = CliRunner().invoke(app, ["add", "--dry-run", "ffmpeg", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert '+ffmpeg = "*"' in result.stdout
    assert (project / "pyproject.toml").read_bytes() == before


# ------------------------------------------------------------------------------ with pixi on PATH (stand-in)

STUB = """#!/bin/sh
printf '%s\\n' "$*" >> "{log}"
case "$1" in
  lock) exit {lock_status} ;;
  add) echo '# written by the stand-in' >> pyproject.toml; echo 'changed' > pixi.lock
       if [ "$(cat "{fail}" 2>/dev/null)" = add ]; then
         echo 'Error: x  no candidates were found for nope' >&2; exit 1
       fi ;;
esac
exit 0
"""


def install_stub(tmp_path: Path, monkeypatch, lock_status: int = 0) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log, fail = tmp_path / "pixi.log", tmp_path / "fail"
    stub = bin_dir / "pixi"
    stub.write_text(STUB.format(log=log, fail=fail, lock_status=lock_status))
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log, fail


def test_with_pixi_the_work_goes_to_pixi_add(fresh, tmp_path, monkeypatch):
    log, _ = install_stub(tmp_path, monkeypatch)
    project = fresh()
    (project / "pixi.lock").write_text("version: 6\n")
    code, output = reproml(project, "add", "torchaudio", "ffmpeg")
    assert code == 0, output
    manifest = str(project / "pyproject.toml")
    assert log.read_text().splitlines() == [
        f"lock --check --manifest-path {manifest}",
        f"add --manifest-path {manifest} ffmpeg",
        f"add --manifest-path {manifest} --feature cpu torchaudio",
        f"add --manifest-path {manifest} --feature cuda torchaudio",
    ]
    assert "pixi lock" not in output
    log.write_text("")
    assert reproml(project, "remove", "--pypi", "requests")[0] == 0
    assert log.read_text().splitlines()[1] == f"remove --manifest-path {manifest} --pypi requests"


def test_a_failing_pixi_add_leaves_manifest_and_lock_as_they_were(fresh, tmp_path, monkeypatch):
    _, fail = install_stub(tmp_path, monkeypatch)
    fail.write_text("add")
    project = fresh()
    (project / "pixi.lock").write_text("version: 6\n")
    before = {name: (project / name).read_bytes() for name in ("pyproject.toml", "pixi.lock")}
    code, output = reproml(project, "add", "nope")
    assert code == 4 and re.search(r"pixi add failed, nothing was changed: .*no candidates", output), output
    assert {name: (project / name).read_bytes() for name in before} == before


def test_with_pixi_a_stale_lock_is_reported(fresh, tmp_path, monkeypatch):
    log, _ = install_stub(tmp_path, monkeypatch, lock_status=1)
    project = fresh()
    (project / "pixi.lock").write_text("version: 6\n")
    code, output = reproml(project, "add", "ffmpeg")
    assert code == 5 and "pixi.lock was already out of date" in output
    assert len(log.read_text().splitlines()) == 1  # only the check ran


def test_a_plain_pixi_toml_project(tmp_path):
    """A project reproml did not make: its pixi.toml is the manifest."""
    project = tmp_path / "plain"
    project.mkdir()
    text = ('[workspace]\nchannels = ["conda-forge"]  # only this one\nplatforms = ["linux-64"]\n\n'
            '[dependencies]\npython = "3.12.*"\n')
    (project / "pixi.toml").write_text(text)
    code, output = reproml(project, "add", "ffmpeg")
    assert code == 0, output
    data = tomllib.loads((project / "pixi.toml").read_text())
    jsonschema.Draft7Validator(SCHEMA).validate(data)
    assert data["dependencies"] == {"python": "3.12.*", "ffmpeg": "*"}
    assert "# only this one" in (project / "pixi.toml").read_text()
    assert reproml(project, "remove", "ffmpeg")[0] == 0
    assert (project / "pixi.toml").read_text() == text
