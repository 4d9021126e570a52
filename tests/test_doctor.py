"""`reproml doctor` in-process through Typer's CliRunner, on hand-made fixture projects with real uv locks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reproml import gpu
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
    assert data["counts"] == {
        s: sum(f["status"] == s for f in data["findings"]) for s in ("ok", "warning", "error")
    }
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
    assert set(data["tools"]["uv"]) == {"path", "version"} and data["tools"]["uv"]["version"]


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
    assert any(line.strip().startswith("fix: install direnv") for line in lines)
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
    tools = finding(data, "project.tools")
    assert tools["status"] == "error" and "nix" in tools["summary"] and "Nix" in tools["fix"]
    assert finding(data, "tool.nix")["status"] == "error"
    assert finding(data, "project.lock")["status"] == "ok"  # uv still checks the lock without nix


@needs_uv
def test_pixi_project_without_pixi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "p", preset="global-python-ml", lock=False)
    (project / "pixi.lock").write_text("version: 6\n")
    monkeypatch.setenv("PATH", str(tool_dir(tmp_path, "git", "uv")))
    code, data = run_doctor(str(project))
    assert code == 1
    assert finding(data, "project.tools")["status"] == "error"
    lock = finding(data, "project.lock")
    assert lock["status"] == "warning" and "cannot check pixi.lock" in lock["summary"]
    assert data["project"]["lock"] == "unknown" and data["project"]["manager"] == "pixi"


def test_odd_tool_output_is_a_warning_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tool_dir(tmp_path)
    fake_tool(bin_dir, "git", "echo 'segmentation fault' >&2\nexit 139\n")
    fake_tool(bin_dir, "nix", "echo 'no version here'\n")
    fake_tool(bin_dir, "direnv", f"exec {shutil.which('sleep')} 30\n")  # hangs: the probe must time out
    monkeypatch.setattr(doctor, "TOOL_TIMEOUT", 0.5)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.chdir(tmp_path)
    code, data = run_doctor()
    assert code == 0
    git = finding(data, "tool.git")
    assert git["status"] == "warning" and "segmentation fault" in git["summary"]
    assert finding(data, "tool.nix")["status"] == "warning"
    direnv = finding(data, "tool.direnv")
    assert direnv["status"] == "warning" and "did not answer" in direnv["summary"]


def test_old_nix_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tool_dir(tmp_path)
    fake_tool(bin_dir, "nix", "echo 'nix (Nix) 2.8.0'\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.chdir(tmp_path)
    _, data = run_doctor()
    assert finding(data, "tool.nix")["status"] == "warning" and "2.18" in finding(data, "tool.nix")["summary"]
    fake_tool(bin_dir, "nix", "echo 'nix (Nix) 2.24.9'\n")
    _, data = run_doctor()
    assert finding(data, "tool.nix")["status"] == "ok" and data["tools"]["nix"]["version"] == "2.24.9"


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
def test_missing_uv_lock(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", lock=False)
    code, data = run_doctor(str(project))
    assert code == 1
    assert finding(data, "project.lock")["status"] == "error" and data["project"]["lock"] == "missing"


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
    assert "cu128" in cuda["fix"] and "uv lock" in cuda["fix"]
    assert data["machine"]["nvidia_driver"] == "550" and data["machine"]["newest_cuda_build"] == "cu128"
    assert data["project"]["cuda_build"] == "cu130"


@pytest.mark.parametrize(
    ("accelerator", "driver", "status", "words"),
    [
        ("cu130", "580.65.06", "ok", "cu130 runs on driver 580.65.06"),
        ("cu128", "550.54.14", "ok", "cu128 runs"),
        ("cu126", "535.104.05", "ok", "cu126 runs"),
        ("cu130", "450.80.02", "error", "450.80.02"),
        ("cu128", "none", "warning", "no NVIDIA GPU"),
        ("cuda", "none", "warning", "run on the CPU"),
        ("cuda", "535", "ok", "gets cu128"),
        ("auto", "580", "ok", "gets cu130"),
        ("auto", "550", "ok", "gets cu128"),
        ("auto", "none", "ok", "gets cpu"),
        ("auto", "450", "warning", "too old"),
        ("cpu", "580", "ok", "could run cu130"),
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
    assert "cu128" in finding(data, "machine.gpu")["summary"]


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
    assert 'cuda-version = "12.8.*"' in cuda["fix"] and "pixi lock" in cuda["fix"]
