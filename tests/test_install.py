"""reproml as a user installs it: the built wheel as an isolated uv tool, with and without uv's executable.

This is what pipx / `uv tool install` users meet: only reproml's entry point is on PATH unless they ask for
uv's too, so `doctor` must say whether the shell (and the project's .envrc) can run uv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reproml.tools import uv_executable

REPO = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    (found,) = out.glob("reproml-*.whl")
    return found


def tool_install(wheel: Path, root: Path, *extra: str) -> Path:
    uv = uv_executable()
    assert uv, "uv ships with reproml"
    env = dict(
        os.environ,
        UV_TOOL_DIR=str(root / "tools"),
        UV_TOOL_BIN_DIR=str(root / "bin"),
        UV_PYTHON=sys.executable,
        UV_PYTHON_DOWNLOADS="never",
    )
    done = subprocess.run(
        [uv, "tool", "install", "--quiet", *extra, str(wheel)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    return root / "bin"


def users_shell(bin_dir: Path, home: Path) -> dict[str, str]:
    """PATH as a user's shell has it: the tool bin folder and the system's, nothing of this test session."""
    return {
        "HOME": str(home),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "REPROML_CUDA_DRIVER_VERSION": "none",
    }


def doctor_uv(bin_dir: Path, home: Path) -> dict:
    done = subprocess.run(
        [str(bin_dir / "reproml"), "doctor", "--json"],
        env=users_shell(bin_dir, home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    return next(f for f in report["findings"] if f["id"] == "tool.uv")


def test_uv_tool_install_with_uv_executables_puts_both_on_path(tmp_path, wheel):
    bin_dir = tool_install(wheel, tmp_path, "--with-executables-from", "uv")
    assert (bin_dir / "reproml").is_file() and (bin_dir / "uv").is_file()
    home = tmp_path / "home"
    home.mkdir()
    env = users_shell(bin_dir, home)
    done = subprocess.run([str(bin_dir / "reproml"), "--help"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "Usage: reproml" in done.stdout
    assert doctor_uv(bin_dir, home)["status"] == "ok"
    subprocess.run(["git", "config", "--global", "user.name", "T"], env=env, check=True)
    subprocess.run(["git", "config", "--global", "user.email", "t@example.org"], env=env, check=True)
    done = subprocess.run(
        [str(bin_dir / "reproml"), "new", "p", "-t", "uv-python-ml", "--yes", "--no-lock"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "will not run" not in done.stderr


def test_uv_tool_install_without_uv_executables_makes_doctor_warn(tmp_path, wheel):
    if Path("/usr/bin/uv").exists() or Path("/bin/uv").exists():
        pytest.skip("a system uv is on every PATH here")
    bin_dir = tool_install(wheel, tmp_path)
    assert (bin_dir / "reproml").is_file() and not (bin_dir / "uv").exists()
    home = tmp_path / "home"
    home.mkdir()
    finding = doctor_uv(bin_dir, home)
    assert finding["status"] == "warning", finding
    assert "not on PATH" in finding["summary"]
    assert "--with-executables-from uv" in finding["fix"]
