"""`reproml add` / `reproml remove`: options, names, and all-or-nothing under Ctrl-C, with real uv (no
network: every index is a local server)."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import answers_for, render_preset
from reproml.cli import app
from reproml.commands.new import render
from reproml.managers import TORCH_FAMILY, in_torch_family, split_requirement
from reproml.tools import uv_executable


def test_requirement_names():
    assert split_requirement("torchaudio>=2.5") == ("torchaudio", ">=2.5")
    assert split_requirement(" Torch_Audio [x] ; sys_platform == 'linux'") == (
        "Torch_Audio", "[x] ; sys_platform == 'linux'")
    assert in_torch_family("TorchVision==0.28") and in_torch_family("pytorch_triton")
    assert not in_torch_family("torchmetrics") and not in_torch_family("torch-geometric")
    for bad in ("", ">=1", "-e .", "a\nb"):
        with pytest.raises(Exception, match="not a package name"):
            split_requirement(bad)


def test_torch_family_is_uvs_list():
    # uv 0.13's --torch-backend list (crates/uv-torch), written out here.
    assert {"torch", "torchvision", "torchaudio", "triton", "pytorch-triton", "torchtext", "torchdata"} \
        <= TORCH_FAMILY
    assert "torchmetrics" not in TORCH_FAMILY


@pytest.mark.parametrize(
    ("preset", "args", "message"),
    [
        ("uv-python-ml", ["add", "--conda", "ffmpeg"], "--conda needs a Pixi project"),
        ("uv-python-ml", ["add", "--pypi", "--conda", "x"], "--pypi and --conda exclude each other"),
        ("uv-python-ml", ["add", "--nix", "ffmpeg"], "has no Nix flake"),
        ("pythonml", ["add", "--nix", "--group", "dev", "ffmpeg"], "--nix takes nixpkgs attributes"),
        ("uv-python-ml", ["add", "torchaudio", "--group", "dev"], "the PyTorch family follows torch"),
        ("uv-python-ml", ["add", ">=2"], "not a package name or requirement: '>=2'"),
    ],
)
def test_bad_options_are_one_line_and_change_nothing(tmp_path, preset, args, message):
    project = render_preset(tmp_path / "p", preset, accelerator="cpu", docs=False, jupyter=False)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    result = CliRunner().invoke(app, [*args, "--project", str(project)])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def test_outside_a_project_is_exit_5(tmp_path):
    result = CliRunner().invoke(app, ["add", "requests", "--project", str(tmp_path)])
    assert result.exit_code == 5 and "is not inside a Python project" in result.output


class _Stalling(http.server.BaseHTTPRequestHandler):
    """An index that never answers: uv waits in its lock step until it is interrupted."""

    asked = threading.Event()

    def do_GET(self) -> None:  # noqa: N802
        type(self).asked.set()
        time.sleep(60)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stalling_index() -> Iterator[tuple[str, threading.Event]]:
    handler = type("Handler", (_Stalling,), {"asked": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.asked
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(uv_executable() is None, reason="uv is not installed")
@pytest.mark.parametrize(("signal_number", "status", "said"), [
    (signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "stopped by SIGTERM")])
def test_a_signal_during_the_lock_puts_every_file_back(tmp_path, stalling_index, signal_number, status, said):
    url, asked = stalling_index
    answers = answers_for("pythonml", accelerator="cpu", docs=False, jupyter=False)
    answers["torch_index_base"] = f"{url}/whl"
    project = tmp_path / "p"
    render(answers, project)
    guarded = [project / "pyproject.toml", *sorted((project / ".nix").rglob("*.nix"))]
    before = {p: p.read_bytes() for p in guarded}
    env = {**os.environ, "UV_DEFAULT_INDEX": f"{url}/simple", "UV_PYTHON": sys.executable,
           "UV_PYTHON_DOWNLOADS": "never"}
    env["PATH"] = f"{Path(uv_executable()).parent}{os.pathsep}{env['PATH']}"
    # Its own process group, signalled as a whole: what a terminal does on Ctrl-C.
    proc = subprocess.Popen([sys.executable, "-m", "reproml", "add", "torchaudio"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert asked.wait(30), "uv never asked the index"
        assert (project / "pyproject.toml").read_bytes() != before[project / "pyproject.toml"]  # half-way
        os.killpg(proc.pid, signal_number)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == status, stderr
    assert said in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert {p: p.read_bytes() for p in guarded} == before
    assert not (project / "uv.lock").exists()  # none before, none after


@pytest.mark.skipif(uv_executable() is None, reason="uv is not installed")
def test_an_unreachable_index_changes_nothing(tmp_path):
    """Network down: every index refuses the connection. torchaudio's routing was already written when the
    lock fails; all of it goes back."""
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    answers = answers_for("uv-python-ml", accelerator="auto", docs=False, jupyter=False)
    answers["torch_index_base"] = f"{closed}/whl"
    project = tmp_path / "p"
    render(answers, project)
    before = (project / "pyproject.toml").read_bytes()
    env = {**os.environ, "UV_DEFAULT_INDEX": f"{closed}/simple", "UV_PYTHON": sys.executable,
           "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run([sys.executable, "-m", "reproml", "add", "torchaudio", "requests"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("reproml: error: uv add failed, nothing was changed:")
    assert len(done.stderr.strip().splitlines()) == 1
    assert (project / "pyproject.toml").read_bytes() == before
    assert not (project / "uv.lock").exists()
