"""`reproml doctor` in-process through click's CliRunner, on hand-made fixture projects with real uv locks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reproml import gpu, machine
from reproml.cli import app
from reproml.commands import doctor
from reproml.tools import uv_executable

runner = CliRunner()
UV = uv_executable()
needs_uv = pytest.mark.skipif(UV is None, reason="uv not available")
needs_direnv = pytest.mark.skipif(shutil.which("direnv") is None, reason="direnv not installed")

PYPROJECT = """\
[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = []
"""


@pytest.fixture(autouse=True)
def plain_machine(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees a Debian machine without a GPU unless it says otherwise, whatever runs the tests."""
    os_release = tmp_path_factory.mktemp("etc") / "os-release"
    os_release.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
    monkeypatch.setenv("REPROML_OS_RELEASE", str(os_release))
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "none")
    monkeypatch.delenv("UV_CUDA_DRIVER_VERSION", raising=False)
    monkeypatch.delenv("NIX_LD", raising=False)


def make_project(
    root: Path,
    *,
    preset: str = "uv-python-ml",
    accelerator: str | None = "auto",
    lock: bool = True,
    envrc: bool = False,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    answers = f"_src_path: reproml\npreset: {preset}\nproject_name: demo\nframework: "
    answers += "none\n" if accelerator is None else f"torch\naccelerator: {accelerator}\n"
    (root / ".copier-answers.yml").write_text(answers)
    (root / "pyproject.toml").write_text(PYPROJECT)
    if lock:
        assert UV is not None
        subprocess.run(
            [UV, "lock", "--offline", "--quiet"], cwd=root, check=True, timeout=60, capture_output=True
        )
        assert (root / "uv.lock").is_file()
    if envrc:
        (root / ".envrc").write_text("export DEMO_ACTIVE=1\n")
    return root


def tool_dir(tmp_path: Path, *tools: str) -> Path:
    """A folder holding links to only the named tools (and python3, which uv needs to check a lock)."""
    folder = tmp_path / "only-bin"
    folder.mkdir(exist_ok=True)
    for tool in tools:
        found = UV if tool == "uv" else shutil.which(tool)
        assert found, f"{tool} is needed for this test"
        (folder / tool).symlink_to(found)
    (folder / "python3").symlink_to(sys.executable)
    return folder


def fake_tool(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def run_doctor(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["doctor", *args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def finding(data: dict[str, Any], fid: str) -> dict[str, Any]:
    matches = [f for f in data["findings"] if f["id"] == fid]
    assert len(matches) == 1, f"{fid} not reported once: {[f['id'] for f in data['findings']]}"
    return matches[0]


def ids(data: dict[str, Any]) -> set[str]:
    return {f["id"] for f in data["findings"]}


# ----------------------------------------------------------------------------------------------- JSON


@needs_uv
def test_json_has_the_documented_keys(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    code, data = run_doctor(str(project))
    assert set(data) == {"version", "ok", "counts", "findings", "tools", "machine", "project"}
    assert data["version"] == 1
    assert (code == 0) == data["ok"]
    for item in data["findings"]:
        assert set(item) == {"id", "category", "status", "summary", "fix"}
        assert item["status"] in ("ok", "warning", "error")
        assert item["category"] in ("tools", "machine", "project")
        assert (
            item["id"].split(".")[0]
            == {"tools": "tool", "machine": "machine", "project": "project"}[item["category"]]
        )
        assert item["summary"] and "\n" not in item["summary"]
        if item["status"] != "ok":
            assert item["fix"], item
    assert len(ids(data)) == len(data["findings"])
    assert {f"tool.{t}" for t in doctor.TOOLS} | {"machine.os", "machine.gpu"} <= ids(data)
    assert {"project.preset", "project.tools", "project.lock", "project.cuda"} <= ids(data)
    assert set(data["machine"]) >= {
        "system",
        "arch",
        "libc",
        "os_name",
        "nixos",
        "nvidia_driver",
        "driver_source",
        "newest_cuda_build",
    }
    assert (
        data["machine"]["os_name"] == "Debian GNU/Linux 12 (bookworm)" and data["machine"]["nixos"] is False
    )
    assert (
        data["machine"]["nvidia_driver"] is None
        and data["machine"]["driver_source"] == "REPROML_CUDA_DRIVER_VERSION"
    )
    assert data["project"] == {
        "root": str(project.resolve()),
        "preset": "uv-python-ml",
        "manager": "uv",
        "framework": "torch",
        "accelerator": "auto",
        "cuda_build": "cpu",
        "lock": "up-to-date",
        "envrc": "absent",
    }
    assert finding(data, "project.lock")["status"] == "ok"
    assert {"path", "version"} <= set(data["tools"]["uv"]) and data["tools"]["uv"]["version"]


def test_outside_a_project_only_tools_and_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _, data = run_doctor()
    assert data["project"] is None
    assert not any(i.startswith("project.") for i in ids(data))


def test_text_output_is_one_screen_with_fixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tool_dir(tmp_path, "git")))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Tools" and "Machine" in lines
    assert any(line.startswith("  warning pixi not found") for line in lines)
    assert any(line.strip().startswith("fix: apt install direnv") for line in lines)
    assert lines[-1].startswith("0 errors, ")
    assert len(lines) < 40


# ----------------------------------------------------------------------------------------------- tools


@needs_uv
def test_missing_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tool_dir(tmp_path, "git", "uv")))
    monkeypatch.chdir(tmp_path)
    code, data = run_doctor()
    assert code == 0  # nothing here needs pixi, nix or direnv yet
    assert finding(data, "tool.git")["status"] == "ok"
    assert finding(data, "tool.uv")["status"] == "ok"
    pixi = finding(data, "tool.pixi")
    assert pixi["status"] == "warning" and "pixi.sh" in pixi["fix"]
    assert finding(data, "tool.direnv")["status"] == "warning"
    assert finding(data, "tool.nix")["status"] == "ok" and "not found" in finding(data, "tool.nix")["summary"]
    assert data["tools"]["pixi"] == {"path": None, "version": None}
    assert data["tools"]["git"]["path"] == str(tmp_path / "only-bin" / "git")


@needs_uv
def test_nix_needed_but_missing_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "p", preset="pythonml")
    monkeypatch.setenv("PATH", str(tool_dir(tmp_path, "git", "uv")))
    code, data = run_doctor(str(project))
    assert code == 1 and data["ok"] is False
    nix = finding(data, "tool.nix")
    assert (
        nix["status"] == "error" and "this project" in nix["summary"] and machine.NIX_CONF_LINE in nix["fix"]
    )
    assert "project.tools" not in ids(data)  # reported once, on tool.nix
    assert data["counts"]["error"] == 1
    assert finding(data, "project.lock")["status"] == "ok"  # uv still checks the lock without nix


@needs_uv
def test_pixi_project_without_pixi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "p", preset="global-python-ml", lock=False)
    (project / "pixi.lock").write_text("version: 6\n")
    monkeypatch.setenv("PATH", str(tool_dir(tmp_path, "git", "uv")))
    code, data = run_doctor(str(project))
    assert code == 1
    assert finding(data, "tool.pixi")["status"] == "error"
    # "pixi not found" once: one problem finding about it, not one in Tools and another in Project.
    pixi_problems = [
        f
        for f in data["findings"]
        if f["status"] == "error" and "pixi" in f["summary"] and "not" in f["summary"]
    ]
    assert len(pixi_problems) == 1, pixi_problems
    lock = finding(data, "project.lock")
    assert lock["status"] == "warning" and "cannot check pixi.lock" in lock["summary"]
    assert data["project"]["lock"] == "unknown" and data["project"]["manager"] == "pixi"


def test_odd_tool_output_is_a_warning_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tool_dir(tmp_path)
    fake_tool(bin_dir, "git", "echo 'segmentation fault' >&2\nexit 139\n")
    fake_tool(bin_dir, "nix", "echo 'no version here'\n")
    fake_tool(bin_dir, "direnv", f"exec {shutil.which('sleep')} 30\n")  # hangs: the probe must time out
    monkeypatch.setattr(machine, "TOOL_TIMEOUT", 0.5)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.chdir(tmp_path)
    code, data = run_doctor()
    assert code == 0
    git = finding(data, "tool.git")
    assert git["status"] == "warning" and "segmentation fault" in git["summary"]
    assert finding(data, "tool.nix")["status"] == "warning"
    direnv = finding(data, "tool.direnv")
    assert direnv["status"] == "warning" and "did not answer" in direnv["summary"]


def fake_nix(folder: Path, version: str, features: str | None) -> Path:
    """A nix answering `nix --version` and `nix eval` like a real one (features None: nix-command off)."""
    if features is None:
        evaluate = "echo \"error: experimental Nix feature 'nix-command' is disabled\" >&2; exit 1"
    else:
        evaluate = f"printf '%s' '{version} flakes-{features}'"
    return fake_tool(
        folder, "nix", f'case "$1" in eval) {evaluate} ;; *) echo "nix (Nix) {version}" ;; esac\n'
    )


def test_old_nix_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tool_dir(tmp_path)
    fake_nix(bin_dir, "2.8.0", "on")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.chdir(tmp_path)
    _, data = run_doctor()
    assert finding(data, "tool.nix")["status"] == "warning" and "2.18" in finding(data, "tool.nix")["summary"]
    fake_nix(bin_dir, "2.24.9", "on")
    _, data = run_doctor()
    assert finding(data, "tool.nix")["status"] == "ok" and data["tools"]["nix"]["version"] == "2.24.9"
    assert data["machine"]["nix_command"] is True and data["machine"]["nix_flakes"] is True


@needs_uv
def test_old_nix_is_no_concern_of_a_uv_only_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "p")
    bin_dir = tool_dir(tmp_path, "git", "uv")
    fake_nix(bin_dir, "2.8.0", None)
    monkeypatch.setenv("PATH", str(bin_dir))
    code, data = run_doctor(str(project))
    nix = finding(data, "tool.nix")
    assert code == 0 and nix["status"] == "ok" and "not needed" in nix["summary"]
    assert not [f for f in data["findings"] if f["status"] != "ok" and "nix" in f["summary"].lower()]


@pytest.mark.parametrize(("version", "features"), [("2.24.9", None), ("2.24.9", "off")])
@needs_uv
def test_flakes_off_for_a_nix_preset_names_the_nix_conf_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str, features: str | None
) -> None:
    bin_dir = tool_dir(tmp_path, "git", "uv")
    fake_nix(bin_dir, version, features)
    monkeypatch.setenv("PATH", str(bin_dir))
    project = make_project(tmp_path / "p", preset="pythonml")
    code, data = run_doctor(str(project))
    nix = finding(data, "tool.nix")
    # The project's .envrc switches the features on for its own call: a warning, not a broken project.
    assert code == 0 and nix["status"] == "warning" and " off" in nix["summary"]
    assert "direnv switches them on here" in nix["summary"]
    assert "`experimental-features = nix-command flakes` to ~/.config/nix/nix.conf" in nix["fix"]
    monkeypatch.chdir(tmp_path)  # outside a project: a warning that the Nix presets will not run
    code, data = run_doctor()
    nix = finding(data, "tool.nix")
    assert code == 0 and nix["status"] == "warning" and "Nix presets" in nix["summary"]
    assert "experimental-features = nix-command flakes" in nix["fix"]


@needs_uv
def test_nix_too_old_for_a_nix_preset_is_an_error_even_though_direnv_enables_flakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tool_dir(tmp_path, "git", "uv")
    fake_nix(bin_dir, "2.8.0", "off")
    monkeypatch.setenv("PATH", str(bin_dir))
    code, data = run_doctor(str(make_project(tmp_path / "p", preset="pythonml")))
    nix = finding(data, "tool.nix")
    assert code == 1 and nix["status"] == "error" and "older than 2.18" in nix["summary"]


# ----------------------------------------------------------------------------------------------- lock


@needs_uv
def test_stale_uv_lock(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    code, data = run_doctor(str(project))
    assert finding(data, "project.lock")["status"] == "ok"

    # A real dependency change (a local package, so no network): the lock no longer matches.
    helper = tmp_path / "helper"
    helper.mkdir()
    (helper / "pyproject.toml").write_text('[project]\nname = "helper"\nversion = "1.0"\n')
    text = PYPROJECT.replace("dependencies = []", 'dependencies = ["helper"]')
    (project / "pyproject.toml").write_text(text + f'\n[tool.uv.sources]\nhelper = {{ path = "{helper}" }}\n')

    code, data = run_doctor(str(project))
    assert code == 1 and data["ok"] is False
    lock = finding(data, "project.lock")
    assert lock["status"] == "error" and lock["fix"] == "uv lock" and "out of date" in lock["summary"]
    assert data["project"]["lock"] == "stale"

    text_result = runner.invoke(app, ["doctor", str(project)])
    assert text_result.exit_code == 1
    assert "uv.lock is out of date with pyproject.toml" in text_result.stdout
    assert "fix: uv lock" in text_result.stdout


@needs_uv
def test_missing_uv_lock_is_not_locked_yet(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", lock=False)  # what `reproml new` leaves without a lock
    code, data = run_doctor(str(project))
    lock = finding(data, "project.lock")
    assert code == 0 and lock["status"] == "warning" and "not locked yet" in lock["summary"]
    assert lock["fix"] == "uv lock" and data["project"]["lock"] == "missing"


def test_missing_pixi_lock_is_not_locked_yet(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", preset="global-python-ml", lock=False)
    lock = doctor.probe_pixi_lock(project, None)
    assert (lock.state, lock.status, lock.fix) == ("missing", "warning", "pixi lock")


def test_a_long_lock_message_is_never_cut_mid_word(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", lock=False)
    (project / "uv.lock").write_text("version = 1\n")
    fake_uv = fake_tool(tmp_path / "bin", "uv", "echo 'error: " + "abcdefghij " * 40 + "' >&2\nexit 2\n")
    lock = doctor.probe_uv_lock(project, str(fake_uv))
    assert lock.status == "warning" and lock.summary.endswith("…")
    words = lock.summary.removeprefix("cannot check uv.lock: error: ").removesuffix("…").split()
    assert words and set(words) == {"abcdefghij"}


@needs_uv
def test_corrupt_pyproject_is_an_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    (project / "pyproject.toml").write_text('[project]\nname = "demo\n')
    code, data = run_doctor(str(project))
    manifest = finding(data, "project.manifest")
    assert code == 1 and manifest["status"] == "error" and "pyproject.toml" in manifest["summary"]
    assert "\n" not in manifest["summary"] and "line 2" in manifest["summary"]


@needs_uv
def test_binary_uv_lock_is_an_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    (project / "uv.lock").write_bytes(bytes(range(256)) * 4)
    code, data = run_doctor(str(project))
    lock = finding(data, "project.lock")
    assert code == 1 and lock["status"] == "error" and "uv.lock" in lock["summary"]
    assert "\n" not in lock["summary"] and "uv lock" in lock["fix"] and data["project"]["lock"] == "invalid"


# ----------------------------------------------------------------------------------------------- CUDA


@needs_uv
def test_cuda_build_too_new_for_the_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "p", accelerator="cu130")
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "550")
    code, data = run_doctor(str(project))
    assert code == 1
    cuda = finding(data, "project.cuda")
    assert cuda["status"] == "error"
    assert "cu130" in cuda["summary"] and "550" in cuda["summary"] and ">= 580" in cuda["summary"]
    assert re.search(r"switch to cu12\d", cuda["fix"]) and "uv lock" in cuda["fix"]
    assert data["machine"]["nvidia_driver"] == "550" and data["machine"]["newest_cuda_build"].startswith(
        "cu12"
    )
    assert data["project"]["cuda_build"] == "cu130"


@pytest.mark.parametrize(
    ("accelerator", "driver", "status", "words"),
    [
        ("cu130", "580.65.06", "ok", "cu130 runs on driver 580.65.06"),
        ("cu126", "550.54.14", "ok", "cu126 runs"),
        ("cu126", "535.104.05", "ok", "cu126 runs"),
        ("cu130", "450.80.02", "error", "450.80.02"),
        ("cu130", "none", "warning", "no NVIDIA GPU"),
        ("cuda", "none", "warning", "run on the CPU"),
        ("cuda", "535", "ok", "gets cu12"),
        ("auto", "580", "ok", "gets cu13"),
        ("auto", "550", "ok", "gets cu12"),
        ("auto", "none", "ok", "gets cpu"),
        ("auto", "450", "warning", "too old"),
        ("cpu", "580", "ok", "could run cu13"),
    ],
)
@needs_uv
def test_cuda_finding_per_accelerator_and_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accelerator: str, driver: str, status: str, words: str
) -> None:
    monkeypatch.setattr(doctor.platform, "system", lambda: "Linux")
    project = make_project(tmp_path / "p", accelerator=accelerator)
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", driver)
    code, data = run_doctor(str(project))
    cuda = finding(data, "project.cuda")
    assert cuda["status"] == status and words in cuda["summary"], cuda
    assert code == (1 if status == "error" else 0)
    if status == "error":
        assert "cpu" in cuda["fix"].lower()  # 450: no CUDA build left, so the CPU build or a newer driver


def test_uv_seam_is_honoured_after_reproml_seam(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REPROML_CUDA_DRIVER_VERSION")
    monkeypatch.setenv("UV_CUDA_DRIVER_VERSION", "535.104.05")
    _, data = run_doctor()
    assert data["machine"]["nvidia_driver"] == "535.104.05"
    assert "newest CUDA build cu12" in finding(data, "machine.gpu")["summary"]


def test_unreadable_driver_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPROML_CUDA_DRIVER_VERSION")
    monkeypatch.setattr(gpu, "SYS_MODULE_VERSION", tmp_path / "absent")
    monkeypatch.setattr(gpu, "PROC_VERSION", tmp_path / "absent")
    bin_dir = tool_dir(tmp_path)
    fake_tool(
        bin_dir, "nvidia-smi", 'echo "NVIDIA-SMI has failed because it couldn\'t communicate"\nexit 9\n'
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.chdir(tmp_path)
    code, data = run_doctor()
    assert code == 0
    assert finding(data, "machine.gpu")["status"] == "warning"
    assert data["machine"]["nvidia_driver"] is None


@needs_uv
def test_no_framework_needs_no_cuda(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", accelerator=None)
    _, data = run_doctor(str(project))
    assert finding(data, "project.cuda")["status"] == "ok"
    assert data["project"]["accelerator"] is None and data["project"]["cuda_build"] is None


# ----------------------------------------------------------------------------------------------- NixOS


@pytest.fixture
def nixos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    os_release = tmp_path / "os-release"
    os_release.write_text('NAME=NixOS\nID=nixos\nPRETTY_NAME="NixOS 25.05 (Warbler)"\n')
    monkeypatch.setenv("REPROML_OS_RELEASE", str(os_release))
    monkeypatch.setattr(doctor, "NIX_LD_MARKERS", (tmp_path / "no-nix-ld",))
    monkeypatch.setattr(doctor, "OPENGL_DRIVER_LIB", tmp_path / "opengl-driver" / "lib")
    return tmp_path


def test_nixos_without_nix_ld_warns_outside_a_project(nixos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(nixos)
    code, data = run_doctor()
    assert data["machine"]["nixos"] is True
    nix_ld = finding(data, "machine.nix-ld")
    assert nix_ld["status"] == "warning" and "programs.nix-ld.enable" in nix_ld["fix"]
    assert "machine.opengl-driver" not in ids(data)  # no GPU, no project wanting CUDA


@needs_uv
def test_nixos_without_nix_ld_is_an_error_for_a_uv_project(
    nixos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(nixos / "p")
    code, data = run_doctor(str(project))
    assert code == 1 and finding(data, "machine.nix-ld")["status"] == "error"

    monkeypatch.setenv("NIX_LD", "/run/current-system/sw/share/nix-ld/lib/ld.so")
    code, data = run_doctor(str(project))
    assert finding(data, "machine.nix-ld")["status"] == "ok" and code == 0


@needs_uv
def test_nixos_cuda_project_needs_opengl_driver(nixos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIX_LD", "1")
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "580.65.06")
    monkeypatch.setattr(doctor.platform, "system", lambda: "Linux")
    project = make_project(nixos / "p", accelerator="cu130")
    code, data = run_doctor(str(project))
    opengl = finding(data, "machine.opengl-driver")
    assert code == 1 and opengl["status"] == "error" and "hardware.graphics" in opengl["fix"]
    (nixos / "opengl-driver" / "lib").mkdir(parents=True)
    code, data = run_doctor(str(project))
    assert code == 0 and finding(data, "machine.opengl-driver")["status"] == "ok"


# ----------------------------------------------------------------------------------------------- direnv


@needs_uv
@needs_direnv
def test_envrc_not_allowed_then_allowed(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", envrc=True)
    code, data = run_doctor(str(project))
    direnv = finding(data, "project.direnv")
    assert direnv["status"] == "warning" and "not yet allowed" in direnv["summary"]
    assert direnv["fix"] == f"direnv allow {project.resolve()}"
    assert data["project"]["envrc"] == "not-allowed"
    subprocess.run(["direnv", "allow", str(project)], check=True, timeout=10, capture_output=True)
    _, data = run_doctor(str(project))
    assert finding(data, "project.direnv")["status"] == "ok" and data["project"]["envrc"] == "allowed"


@pytest.mark.parametrize(
    ("output", "state"),
    [
        ('{"state":{"foundRC":{"allowed":0,"path":"ENVRC"},"loadedRC":null}}', "allowed"),
        ('{"state":{"foundRC":{"allowed":1,"path":"ENVRC"}}}', "not-allowed"),
        ('{"state":{"foundRC":{"allowed":2,"path":"ENVRC"}}}', "denied"),
        ('{"state":{"foundRC":null}}', "unknown"),
        ('{"state":{"foundRC":{"allowed":0,"path":"/elsewhere/.envrc"}}}', "unknown"),
        ('{"state":{"foundRC":{"allowed":true,"path":"ENVRC"}}}', "allowed"),
        ('{"state":{"foundRC":{"allowed":false,"path":"ENVRC"}}}', "not-allowed"),
        ('{"state":{"foundRC":{"allowed":7,"path":"ENVRC"}}}', "unknown"),
        ("{not json", "unknown"),
        ("Found RC path ENVRC\nFound RC allowed true\n", "allowed"),
        ("Found RC path ENVRC\nFound RC allowed false\n", "not-allowed"),
        ("Found RC path ENVRC\nFound RC allowed 2\n", "denied"),
        ("No .envrc or .env found\n", "unknown"),
        ("", "unknown"),
    ],
)
def test_parse_direnv_status(tmp_path: Path, output: str, state: str) -> None:
    envrc = tmp_path / ".envrc"
    envrc.write_text("")
    assert doctor.parse_direnv_status(output.replace("ENVRC", str(envrc)), envrc).state == state


# ----------------------------------------------------------------------------------------------- odd paths


def test_paths_that_are_not_projects(tmp_path: Path) -> None:
    code, data = run_doctor(str(tmp_path / "nowhere"))
    assert code == 1 and finding(data, "project.found")["status"] == "error"
    empty = tmp_path / "empty"
    empty.mkdir()
    code, data = run_doctor(str(empty))
    assert code == 0 and finding(data, "project.found")["status"] == "warning" and data["project"] is None
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / ".copier-answers.yml").write_text("preset: no-such-preset\n")
    code, data = run_doctor(str(broken))
    assert code == 1 and "no-such-preset" in finding(data, "project.found")["summary"]
    (broken / ".copier-answers.yml").write_text(": : [unbalanced\n")
    code, data = run_doctor(str(broken))
    assert code == 1 and finding(data, "project.found")["status"] == "error"


def test_help_lists_doctor() -> None:
    result = runner.invoke(app, ["doctor", "--help"])
    assert result.exit_code == 0 and "--json" in result.stdout


def test_diagnose_is_usable_as_a_library(tmp_path: Path) -> None:
    report = doctor.diagnose(tmp_path)
    assert report.to_dict()["version"] == 1
    assert os.fspath(tmp_path) in finding(report.to_dict(), "project.found")["summary"]


@needs_uv
def test_a_failing_check_is_a_warning_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "_cuda_finding", broken)
    project = make_project(tmp_path / "p")
    code, data = run_doctor(str(project))
    internal = finding(data, "project.internal")
    assert code == 0 and internal["status"] == "warning" and "boom" in internal["summary"]
    assert finding(data, "machine.gpu")["status"] == "ok"  # the other groups still ran


def test_unparsable_foreign_pyproject_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\nname = 1\n")
    code, data = run_doctor(str(tmp_path))
    found = finding(data, "project.found")
    assert code == 1 and found["status"] == "error" and "pyproject.toml" in found["summary"]


def test_pixi_cuda_fix_names_the_cuda_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor.platform, "system", lambda: "Linux")
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "550.54.14")
    project = make_project(tmp_path / "p", preset="global-python-ml", accelerator="cu130", lock=False)
    code, data = run_doctor(str(project))
    cuda = finding(data, "project.cuda")
    assert code == 1 and cuda["status"] == "error"
    assert re.search(r'cuda-version = "12\.\d\.\*"', cuda["fix"]) and "pixi lock" in cuda["fix"]


# ----------------------------------------------------------------------------------------------- issue 7


@needs_uv
def test_a_cu130_project_on_driver_450_is_told_the_cu130_minimum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor.platform, "system", lambda: "Linux")
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "450")
    project = make_project(tmp_path / "p", accelerator="cu130")
    code, data = run_doctor(str(project))
    cuda = finding(data, "project.cuda")
    assert code == 1 and cuda["status"] == "error"
    assert ">= 580" in cuda["fix"] and "525.60.13" not in cuda["fix"]
    gpu_fix = finding(data, "machine.gpu")["fix"]  # any CUDA build: both minimums, each with its build
    assert ">= 580 (cu13" in gpu_fix and ">= 525.60.13 (cu12" in gpu_fix


@pytest.mark.parametrize(("accelerator", "driver"), [("cu130", "none"), ("cu130", "450")])
@needs_uv
def test_cpu_fixes_are_exact_edits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accelerator: str, driver: str
) -> None:
    monkeypatch.setattr(doctor.platform, "system", lambda: "Linux")
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", driver)
    project = make_project(tmp_path / "p", accelerator=accelerator)
    _, data = run_doctor(str(project))
    fix = finding(data, "project.cuda")["fix"]
    assert f"replace every `{accelerator}` with `cpu`" in fix
    assert "`accelerator: cpu` in .copier-answers.yml" in fix and "`uv lock`" in fix


@pytest.mark.parametrize("driver", ["none", "550.54.14", "580.65.06"])
@needs_uv
def test_retired_cu128_gets_a_warning_with_an_exact_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: str
) -> None:
    monkeypatch.setattr(doctor.platform, "system", lambda: "Linux")
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", driver)
    project = make_project(tmp_path / "p", accelerator="cu128")
    code, data = run_doctor(str(project))
    cuda = finding(data, "project.cuda")
    assert code == 0 and cuda["status"] == "warning"
    assert "torch 2.11" in cuda["summary"] and "cu126" in cuda["summary"] and "cu130" in cuda["summary"]
    assert "replace every `cu128` with `cu1" in cuda["fix"] or "with `cpu`" in cuda["fix"]
    assert "accelerator: cu128" not in cuda["fix"] and "`uv lock`" in cuda["fix"]
    if driver == "580.65.06":
        assert "with `cu13" in cuda["fix"]


def test_only_the_bundled_uv_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = fake_tool(tmp_path / "site-bin", "uv", "echo 'uv 0.13.9'\n")
    monkeypatch.setattr("reproml.tools.uv_bundled", lambda: str(bundled))
    monkeypatch.setenv("PATH", str(tool_dir(tmp_path, "git")))
    monkeypatch.chdir(tmp_path)
    code, data = run_doctor()
    uv = finding(data, "tool.uv")
    assert code == 0 and uv["status"] == "warning"
    assert uv["summary"].startswith("uv is not on PATH") and str(bundled) in uv["summary"]
    assert "uv tool install reproml --with-executables-from uv" in uv["fix"]
    assert str(bundled.parent) in uv["fix"]
    assert data["tools"]["uv"]["path"] is None and data["tools"]["uv"]["bundled"] == str(bundled)


def test_uv_on_path_is_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = fake_tool(tmp_path / "bin", "uv", "echo 'uv 0.13.9'\n")
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.chdir(tmp_path)
    _, data = run_doctor()
    assert finding(data, "tool.uv")["status"] == "ok" and data["tools"]["uv"]["path"] == str(on_path)


def test_report_counts_and_ok() -> None:
    report = doctor.Report()
    report.add("tool.git", "ok", "git")
    report.add("tool.uv", "ok", "uv")
    report.add("tool.pixi", "warning", "pixi not found", "install pixi")
    assert report.counts() == {"ok": 2, "warning": 1, "error": 0} and report.ok
    report.add("project.lock", "error", "stale", "uv lock")
    assert report.counts() == {"ok": 2, "warning": 1, "error": 1} and not report.ok


def test_every_fix_is_a_command_or_an_exact_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No fix reads like advice only ("use accelerator auto or cpu")."""
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "450")
    monkeypatch.setenv("PATH", str(tool_dir(tmp_path)))
    monkeypatch.chdir(tmp_path)
    _, data = run_doctor()
    for item in data["findings"]:
        if item["fix"]:
            assert re.search(r"`|\bsh\b|>=|^\S+ \S+|\binstall\b", item["fix"]), item
            assert not item["fix"].startswith(("use accelerator", "run it on")), item
