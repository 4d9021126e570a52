"""`reproml jupyter` with real Jupyter servers on 127.0.0.1: the happy path, the secrets, and the faults it
must survive (SIGKILL, pid reuse, a busy port, ten concurrent starts, a server that ignores SIGTERM or hangs).

Every test stops what it started (the autouse fixture stops every registered server and kills any process
whose command line mentions the test's folder).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from helpers import http_status
from reproml import jupyter_state as js
from reproml.commands import jupyter
from test_jupyter import invoke, make_project, make_venv, write_record
from test_jupyter_trust import Recorder, recording_listener

pytestmark = pytest.mark.slow

WAIT = "90"  # generous: two cores, several servers starting at once


@pytest.fixture(autouse=True)
def no_leftover_servers(isolated_env: Path, tmp_path: Path) -> Iterator[None]:
    yield
    jupyter.stop_all(grace=1)
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(tmp_path) in part for part in proc.info["cmdline"] or []):
            proc.kill()


@pytest.fixture
def sleeper() -> Iterator[psutil.Process]:
    child = subprocess.Popen(["sleep", "120"])
    try:
        yield psutil.Process(child.pid)
    finally:
        child.kill()
        child.wait()


def status_of(project: Path) -> dict:
    result = invoke("status", str(project), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def start(project: Path, *args: str) -> dict:
    result = invoke("start", str(project), "--wait", WAIT, *args)
    assert result.exit_code == 0, result.output
    return status_of(project)


def servers_for(project: Path) -> list[psutil.Process]:
    """Live Jupyter server processes whose command line names the project."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["status"] != psutil.STATUS_ZOMBIE and f"--ServerApp.root_dir={project}" in cmd:
            found.append(proc)
    return found


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        js.reap(pid)
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_start_status_url_logs_list_stop(tmp_path):
    # A project made by `reproml new` itself (its .gitignore must ignore the state folder), plus a venv.
    project = tmp_path / "demo"
    created = invoke_new(project)
    make_venv(project / ".venv", with_jupyter=True)
    result = invoke("start", str(project), "--wait", WAIT)
    assert result.exit_code == 0, result.output
    data = status_of(project)
    assert data["state"] == "running" and data["manager"] == "uv" and data["app"] == "lab"
    assert data["ip"] == "127.0.0.1" and data["public"] is False
    port, pid = data["port"], data["pid"]
    token = (project / ".reproml" / js.TOKEN_NAME).read_text()
    assert len(token) >= 32
    assert data["url"] == f"http://127.0.0.1:{port}/lab?token={token}"
    assert data["url"] in result.stdout
    assert f"ssh -N -L {port}:127.0.0.1:{port} " in result.stdout

    # Reachable with the token only, and only on loopback.
    assert http_status(f"http://127.0.0.1:{port}/api/status", token) == 200
    assert http_status(f"http://127.0.0.1:{port}/api/status") == 403
    server = psutil.Process(pid)
    listening = {c.laddr.ip for c in server.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}
    # Detached: its own session, so closing the terminal does not hang it up.
    assert os.getsid(pid) == pid
    assert ("--allow-root" in server.cmdline()) == (os.geteuid() == 0)
    assert "--ServerApp.port_retries=0" in server.cmdline()

    # The token is in no command line, no environment, no log, no state or registry file.
    for proc in psutil.process_iter(["cmdline"]):
        assert token not in " ".join(proc.info["cmdline"] or [])
    assert not any(token in value for value in server.environ().values())
    assert token not in (project / ".reproml" / js.LOG_NAME).read_text()
    assert "token=..." in (project / ".reproml" / js.LOG_NAME).read_text()
    assert token not in (project / ".reproml" / js.STATE_NAME).read_text()
    assert token not in js.registry_path(project.resolve()).read_text()

    # Owner-only files, ignored by git.
    state_dir = project / ".reproml"
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    for name in (js.STATE_NAME, js.TOKEN_NAME, js.LOG_NAME, js.LOCK_NAME):
        assert stat.S_IMODE((state_dir / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(js.registry_path(project.resolve()).stat().st_mode) == 0o600
    if created:
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", str(state_dir / js.TOKEN_NAME)], cwd=project, capture_output=True
        )
        assert ignored.returncode == 0

    # A second start prints the running server instead of starting another.
    again = invoke("start", str(project))
    assert again.exit_code == 0 and "already running" in again.stdout and data["url"] in again.stdout
    assert [p.pid for p in servers_for(project.resolve())] == [pid]

    assert invoke("url", str(project)).stdout.strip() == data["url"]
    text = invoke("status", str(project)).stdout
    assert text.startswith("running: ") and f"pid {pid}, port {port}" in text
    logs = invoke("logs", str(project), "-n", "5")
    assert logs.exit_code == 0 and len(logs.stdout.splitlines()) == 5 and token not in logs.stdout
    listed = json.loads(invoke("list", "--json").stdout)["servers"]
    assert [(s["project"], s["state"], s["pid"]) for s in listed] == [
        (str(project.resolve()), "running", pid)
    ]

    stopped = invoke("stop", str(project))
    assert stopped.exit_code == 0 and "shut down" in stopped.stdout
    assert gone(pid)
    assert status_of(project)["state"] == "stopped"
    assert not (state_dir / js.TOKEN_NAME).exists() and not (state_dir / js.STATE_NAME).exists()
    assert "Shutting down on /api/shutdown request" in (state_dir / js.LOG_NAME).read_text()
    assert json.loads(invoke("list", "--json").stdout) == {"servers": []}
    again = invoke("stop", str(project))
    assert again.exit_code == 0 and "nothing to stop" in again.stdout


def invoke_new(project: Path) -> bool:
    """Create the project with `reproml new` when that works here, else by hand; True when `new` made it."""
    from reproml.cli import app
    from test_jupyter import runner

    result = runner.invoke(app, ["new", str(project), "-t", "uv-python-ml", "--yes", "--no-docs",
                                 "--no-lock"])
    if result.exit_code != 0:
        make_project(project, venv=None)
        return False
    return True


def test_sigkilled_server_is_dead_and_start_replaces_it(tmp_path):
    project = make_project(tmp_path / "killed")
    first = start(project)
    os.kill(first["pid"], signal.SIGKILL)
    assert gone(first["pid"])
    data = status_of(project)
    assert data["state"] == "dead" and data["pid"] == first["pid"] and data["url"] is None
    assert [s["state"] for s in json.loads(invoke("list", "--json").stdout)["servers"]] == ["dead"]

    second = start(project)
    assert second["state"] == "running" and second["pid"] != first["pid"]
    assert [p.pid for p in servers_for(project.resolve())] == [second["pid"]]
    assert (project / ".reproml" / "jupyter.log.1").exists()  # the dead server's log is kept once


def test_start_over_a_reused_pid_leaves_that_process_alone(tmp_path, sleeper):
    project = make_project(tmp_path / "reused")
    # The record names the sleeper's pid, as if the system had given a dead server's pid to it.
    write_record(project.resolve(), pid=sleeper.pid, create_time=sleeper.create_time() - 100)
    assert status_of(project)["state"] == "dead"
    data = start(project)
    assert data["state"] == "running" and data["pid"] != sleeper.pid
    assert sleeper.is_running() and sleeper.status() != psutil.STATUS_ZOMBIE
    assert invoke("stop", str(project)).exit_code == 0
    assert gone(data["pid"])
    assert sleeper.is_running()


def test_ten_concurrent_starts_leave_one_server(tmp_path):
    project = make_project(tmp_path / "crowd")
    command = [sys.executable, "-m", "reproml", "jupyter", "start", str(project), "--wait", WAIT, "--json"]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(10)
    ]
    outputs = [child.communicate(timeout=180) for child in children]
    assert [child.returncode for child in children] == [0] * 10, [err for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert len({r["pid"] for r in results}) == 1
    assert len({r["url"] for r in results}) == 1
    assert sorted(r["already_running"] for r in results) == [False] + [True] * 9
    assert [p.pid for p in servers_for(project.resolve())] == [results[0]["pid"]]


def test_busy_port_race_retries_and_explicit_port_shows_the_log(tmp_path, monkeypatch):
    """Another program takes the port after reproml checked it: Jupyter must refuse (port_retries=0)."""
    project = make_project(tmp_path / "race")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    busy = holder.getsockname()[1]
    real_check = jupyter.port_is_free
    monkeypatch.setattr(jupyter, "port_is_free", lambda ip, port: port == busy or real_check(ip, port))
    try:
        result = invoke("start", str(project), "--port", str(busy), "--wait", WAIT)
        assert result.exit_code == 4
        assert "exited with code" in result.stderr
        assert f"port {busy} is not available" in result.stderr  # from the server's log lines
        assert not servers_for(project.resolve())
        assert status_of(project)["state"] == "stopped"

        monkeypatch.setattr(jupyter, "DEFAULT_PORT", busy)  # no --port: the same clash, then another port
        data = start(project)
        assert data["state"] == "running" and data["port"] != busy
    finally:
        holder.close()


def test_stop_ends_a_server_that_ignores_sigterm_and_hangs(tmp_path, isolated_env, monkeypatch):
    config = isolated_env / "jupyter-config"
    config.mkdir()
    (config / "jupyter_server_config.py").write_text(
        "import signal\n"
        "from jupyter_server.serverapp import ServerApp\n"
        "_original = ServerApp.init_signal\n"
        "def _init_signal(self):\n"
        "    _original(self)\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "ServerApp.init_signal = _init_signal\n"
    )
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    project = make_project(tmp_path / "stubborn")
    pid = start(project)["pid"]
    os.kill(pid, signal.SIGTERM)
    time.sleep(1)
    assert status_of(project)["state"] == "running"  # it really ignores SIGTERM

    os.kill(pid, signal.SIGSTOP)  # and now it answers nothing at all, not even /api/shutdown
    data = status_of(project)
    assert data["state"] == "unhealthy" and data["pid"] == pid
    refused = invoke("start", str(project))
    assert refused.exit_code == 4 and "does not answer" in refused.stderr and "jupyter stop" in refused.stderr

    started = time.monotonic()
    result = invoke("stop", str(project), "--grace", "1")
    assert result.exit_code == 0 and "SIGKILL" in result.stdout
    assert time.monotonic() - started < 15
    assert gone(pid)
    assert status_of(project)["state"] == "stopped"


def test_stop_all_stops_servers_of_every_project(tmp_path):
    first, second = make_project(tmp_path / "one"), make_project(tmp_path / "two")
    a, b = start(first), start(second)
    assert a["port"] != b["port"]
    listed = json.loads(invoke("list", "--json").stdout)["servers"]
    assert [(s["project"], s["state"]) for s in listed] == [
        (str(first.resolve()), "running"),
        (str(second.resolve()), "running"),
    ]
    table = invoke("list").stdout
    assert "STATE" in table and str(first.resolve()) in table and str(second.resolve()) in table
    result = invoke("stop", "--all")
    assert result.exit_code == 0 and result.stdout.count("shut down") == 2
    assert gone(a["pid"]) and gone(b["pid"])
    assert json.loads(invoke("list", "--json").stdout) == {"servers": []}


def test_a_project_copied_while_its_server_runs_gets_its_own_server(tmp_path):
    original = make_project(tmp_path / "orig").resolve()
    first = start(original)
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(original), str(copy)], check=True)
    (copy / "only-in-copy.txt").write_text("copy\n")
    assert status_of(copy)["state"] == "stopped"  # the copied record is the original's, not the copy's

    mine = start(copy)
    assert mine["pid"] != first["pid"] and mine["port"] != first["port"]
    token = (copy / ".reproml" / js.TOKEN_NAME).read_text()
    assert token != (original / ".reproml" / js.TOKEN_NAME).read_text()
    # Notebooks open in the copy: its server serves the copy's files.
    assert http_status(f"http://127.0.0.1:{mine['port']}/api/contents/only-in-copy.txt", token) == 200
    assert invoke("stop", str(copy)).exit_code == 0
    assert gone(mine["pid"])
    assert status_of(original)["state"] == "running" and status_of(original)["pid"] == first["pid"]


def test_a_record_pointing_at_another_listener_never_sends_it_the_token(tmp_path):
    project = make_project(tmp_path / "planted").resolve()
    data = start(project)
    state_file = project / ".reproml" / js.STATE_NAME
    planted = json.loads(state_file.read_text())
    token = (project / ".reproml" / js.TOKEN_NAME).read_text()
    with recording_listener() as port:
        planted["port"] = port  # the record now points at a listener that keeps every request's headers
        js.write_private(state_file, json.dumps(planted))
        for args in (["status"], ["url"], ["start"], ["stop"]):
            invoke(*args, str(project))
        invoke("list")
    assert not any(token in headers or "Authorization" in headers for headers in Recorder.seen)
    assert psutil.Process(data["pid"]).is_running()  # the record no longer names it: it was not signalled
