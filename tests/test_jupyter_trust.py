"""Hostile and broken Jupyter state (issue 8), with real processes and real files: state owned by another user
or writable by others, symbolic links, planted records that name unrelated processes or point at a listener
that records what it is sent, damaged records and registry entries, a project copied while its server runs,
a busy port, a read-only mount and a full disk.

The server here is a stand-in: a `jupyterlab` module in the project's venv that speaks the two endpoints
reproml uses (/api/status, /api/shutdown) with Jupyter's token check, so each case takes well under a second.
Real Jupyter servers are in test_jupyter_server.py. Cases about another user run as root (as CI does) and
chown files to `nobody` or start processes as `nobody`.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from helpers import tmpfs_mounted
from reproml import jupyter_state as js
from reproml.commands import jupyter
from reproml.project import find_project
from test_jupyter import fake_python, invoke, make_project, make_venv, write_record

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user (CI runs as root)")

FAKE_JUPYTER = '''
import http.server, os, sys, threading
flags = dict(a.split("=", 1) for a in sys.argv[1:] if a.startswith("--ServerApp.") and "=" in a)
token = open(os.environ["JUPYTER_TOKEN_FILE"]).read()

class Handler(http.server.BaseHTTPRequestHandler):
    def authorized(self):
        return self.headers.get("Authorization") == "token " + token

    def do_GET(self):
        self.send_response(200 if self.authorized() else 403)
        self.end_headers()

    def do_POST(self):
        ok = self.authorized()
        self.send_response(200 if ok else 403)
        self.end_headers()
        if ok:
            threading.Thread(target=server.shutdown).start()

    def log_message(self, *args):
        pass

server = http.server.HTTPServer((flags["--ServerApp.ip"], int(flags["--ServerApp.port"])), Handler)
print("stand-in Jupyter serving", os.getcwd(), flush=True)
server.serve_forever()
'''


def fake_jupyter_project(root: Path, main: str = FAKE_JUPYTER) -> Path:
    """A project whose venv runs the stand-in server (or ``main``) as `python -m jupyterlab`."""
    project = make_project(root, venv=None)
    make_venv(project / ".venv", with_jupyter=False)
    package = next((project / ".venv").glob("lib/python*/site-packages")) / "jupyterlab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(main)
    return project


@pytest.fixture(autouse=True)
def no_leftover_servers(isolated_env: Path, tmp_path: Path) -> Iterator[None]:
    yield
    try:
        jupyter.stop_all(grace=1)
    finally:  # even when stop_all itself is broken (a failing test, a mutant): no server outlives its test
        for proc in psutil.process_iter(["cmdline"]):
            if any(str(tmp_path) in part for part in proc.info["cmdline"] or []):
                proc.kill()


def one_line_error(result, code: int, *fragments: str) -> str:
    """The CLI failed with ``code`` and one line on stderr holding every fragment; no traceback."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reproml: error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def start_ok(project: Path, *args: str) -> dict:
    result = invoke("start", str(project), "--wait", "30", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def state(project: Path) -> dict:
    result = invoke("status", str(project), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def alive(proc: psutil.Process) -> bool:
    return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE


def gone_soon(pid: int, timeout: float = 5.0) -> bool:
    """The process has ended (or is a zombie) within ``timeout``: `stop` returns once the process no longer
    reads as the server (its command line is empty while the kernel tears it down), a moment before it is
    gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not alive(psutil.Process(pid)):
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return fake_jupyter_project(tmp_path / "proj").resolve()


# ----------------------------------------------------------------------------------------------------------
# 1. state that is not this user's, or that others can write


@as_root
@pytest.mark.parametrize(
    ("planted", "why"),
    [
        ("folder-owner", "belongs to nobody, not to root"),
        ("folder-mode", "is writable by other users (mode 0777)"),
        ("record-owner", "belongs to nobody, not to root"),
        ("record-mode", "is writable by other users (mode 0666)"),
        ("token-owner", "belongs to nobody, not to root"),
        ("lock-owner", "belongs to nobody, not to root"),
    ],
)
def test_state_of_another_user_or_writable_by_others_is_refused(project, planted, why):
    record = write_record(project, pid=os.getpid(), create_time=0.0)
    state_dir = project / ".reproml"
    (state_dir / js.LOCK_NAME).touch(mode=0o600)
    target = {
        "folder": state_dir,
        "record": state_dir / js.STATE_NAME,
        "token": state_dir / js.TOKEN_NAME,
        "lock": state_dir / js.LOCK_NAME,
    }[planted.split("-")[0]]
    if planted.endswith("owner"):
        os.chown(target, NOBODY, NOBODY)
    else:
        os.chmod(target, 0o777 if target.is_dir() else 0o666)
    before = {p.name: p.read_bytes() for p in state_dir.iterdir()}

    for verb in ("start", "stop", "status"):
        if verb == "status" and planted.startswith("lock"):
            continue  # status takes no lock
        one_line_error(invoke(verb, str(project)), 5, str(target), why)
    assert {p.name: p.read_bytes() for p in state_dir.iterdir()} == before  # nothing written or removed
    # The registry copy of the record (this user's) still lists it, and a refused project never breaks `list`.
    assert [s["pid"] for s in json.loads(invoke("list", "--json").stdout)["servers"]] == [record.pid]


@as_root
def test_a_registry_entry_of_another_user_is_skipped(tmp_path, project):
    write_record(project, pid=os.getpid(), create_time=0.0)
    assert len(json.loads(invoke("list", "--json").stdout)["servers"]) == 1
    entry = js.registry_path(project)
    os.chown(entry, NOBODY, NOBODY)
    result = invoke("list", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"servers": []}
    assert invoke("stop", "--all").exit_code == 0


def test_a_token_others_can_read_is_refused_and_stop_still_works(project):
    first = start_ok(project)
    token_file = project / ".reproml" / js.TOKEN_NAME
    os.chmod(token_file, 0o644)
    one_line_error(invoke("status", str(project)), 5, str(token_file), "readable by other users (mode 0644)")
    one_line_error(invoke("url", str(project)), 5, "the token may have leaked")
    one_line_error(invoke("start", str(project)), 5, "reproml jupyter stop")
    stopped = invoke("stop", str(project))  # the remedy: the proven process is signalled, no token is sent
    assert stopped.exit_code == 0 and "SIGTERM" in stopped.stdout
    assert gone_soon(first["pid"])
    second = start_ok(project)
    assert second["pid"] != first["pid"]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


# ----------------------------------------------------------------------------------------------------------
# 2. signal only the server reproml started


def _lookalike_argv(project: Path, port: int) -> list[str]:
    """A process whose command line names this project's Jupyter server, though it is a shell."""
    return ["sh", "-c", "sleep 60; :", "-m", "jupyterlab", f"--ServerApp.port={port}",
            f"--ServerApp.root_dir={project}"]


@pytest.mark.parametrize(
    ("owner", "command"),
    [
        ("me", "own"),  # an unrelated `sleep` of this user's, leading its own process group
        pytest.param("nobody", "own", marks=as_root),
        pytest.param("nobody", "lookalike", marks=as_root),  # even a command line like reproml's server
    ],
)
def test_stop_never_signals_a_process_reproml_did_not_start(project, owner, command):
    argv = ["sleep", "60"] if command == "own" else _lookalike_argv(project, 8888)
    user = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if owner == "nobody" else {}
    child = subprocess.Popen(argv, start_new_session=True, cwd="/", **user)
    try:
        victim = psutil.Process(child.pid)
        time.sleep(0.1)  # until exec: the command line is the one recorded
        # The planted record matches the process exactly: pid, creation time, command line.
        planted = {"pid": victim.pid, "create_time": victim.create_time(), "cmdline": victim.cmdline()}
        write_record(project, **planted)
        assert invoke("stop", str(project)).exit_code == 0
        write_record(project, **planted)
        assert invoke("stop", "--all").exit_code == 0
        time.sleep(0.2)
        assert alive(victim)
        write_record(project, **planted)
        assert state(project)["state"] == "dead"
    finally:
        child.kill()
        child.wait()


# ----------------------------------------------------------------------------------------------------------
# 3. the token goes only to a port the server itself listens on


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 200 to everything and keeps every request's headers."""

    seen: list[str] = []

    def _answer(self) -> None:
        Recorder.seen.append(str(self.headers))
        self.send_response(200)
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def recording_listener() -> Iterator[int]:
    """A Recorder on a free loopback port (yielded)."""
    Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def recorder() -> Iterator[int]:
    with recording_listener() as port:
        yield port


def test_the_token_never_reaches_a_listener_the_server_does_not_own(tmp_path, recorder):
    # The recorded server is this project's (its command line, owner, start time), but another program holds
    # its port: a server that lost its socket, or a record edited to point elsewhere.
    project = fake_jupyter_project(tmp_path / "mute", main="import time; time.sleep(60)").resolve()
    launch = jupyter.launch_command(
        find_project(project), app="lab", ip="127.0.0.1", port=recorder, token_file=Path("unused")
    )
    child = subprocess.Popen(launch.argv, start_new_session=True)
    try:
        proc = psutil.Process(child.pid)
        time.sleep(0.1)
        write_record(project, pid=proc.pid, create_time=proc.create_time(), cmdline=proc.cmdline(),
                     port=recorder)
        token = (project / ".reproml" / js.TOKEN_NAME).read_text()
        status = invoke("status", str(project), "--json")
        invoke("url", str(project))
        invoke("list", "--json")
        started = invoke("start", str(project))
        stopped = invoke("stop", str(project), "--grace", "1")
        assert not any(token in headers or "Authorization" in headers for headers in Recorder.seen)
        assert json.loads(status.stdout)["state"] == "unhealthy"  # alive, answers nothing reproml may ask
        one_line_error(started, 4, "does not answer")
        assert stopped.exit_code == 0 and "SIGTERM" in stopped.stdout
    finally:
        child.kill()
        child.wait()


# ----------------------------------------------------------------------------------------------------------
# 4. symbolic links


def test_reproml_folder_as_a_link_is_refused_and_its_target_untouched(tmp_path, project):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o755)
    os.chmod(target, 0o755)
    (project / ".reproml").symlink_to(target)
    for verb in ("start", "status", "stop", "logs"):
        one_line_error(invoke(verb, str(project)), 5, str(project / ".reproml"), "symbolic link")
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("name", [js.LOG_NAME, js.STATE_NAME, js.TOKEN_NAME, js.LOCK_NAME])
@pytest.mark.parametrize("dangling", [True, False], ids=["dangling", "to-a-file"])
def test_a_state_file_as_a_link_is_refused_and_nothing_written_through_it(tmp_path, project, name, dangling):
    outside = tmp_path / "outside" / "file"
    outside.parent.mkdir()
    if not dangling:
        outside.write_text("the user's own file\n")
    state_dir = js.ensure_private_dir(project / ".reproml")
    (state_dir / name).symlink_to(outside)
    one_line_error(invoke("start", str(project)), 5, str(state_dir / name), "symbolic link")
    assert (outside.read_text() == "the user's own file\n") if not dangling else not outside.exists()
    assert (state_dir / name).is_symlink()
    assert not (state_dir / js.TOKEN_NAME).exists() or name == js.TOKEN_NAME
    assert js.registered() == []


# ----------------------------------------------------------------------------------------------------------
# 5. damaged records read as no record


DAMAGE = {
    "pid -1": {"pid": -1},
    "pid 0": {"pid": 0},
    "pid 1": {"pid": 1},
    "pid as text": {"pid": "123"},
    "pid true": {"pid": True},
    "create_time abc": {"create_time": "abc"},
    "started_at 1e300": {"started_at": 1e300},
    "started_at NaN": {"started_at": float("nan")},
    "port 70000": {"port": 70000},
    "cmdline as text": {"cmdline": "python -m jupyterlab"},
    "cmdline of numbers": {"cmdline": [1, 2]},
    "relative project": {"project": "proj"},
    "no pid": {"pid": None},
}


def _damaged(project: Path, damage: dict) -> dict:
    record = json.loads(write_record(project, pid=os.getpid(), create_time=time.time()).to_json())
    record.update(damage)
    return {k: v for k, v in record.items() if v is not None}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_record_reads_as_no_record_and_start_recovers(project, damage):
    state_file = project / ".reproml" / js.STATE_NAME
    js.write_private(state_file, json.dumps(_damaged(project, damage)))
    result = invoke("status", str(project))
    assert result.exit_code == 0 and result.stdout.startswith("stopped:"), result.output
    assert len(result.stdout.strip().splitlines()) == 1
    assert invoke("list").exit_code == 0
    assert start_ok(project)["state"] == "running"  # no hand deletion needed
    assert invoke("stop", str(project)).exit_code == 0


def test_one_damaged_registry_entry_never_breaks_list_or_stop_all(tmp_path, project):
    other = fake_jupyter_project(tmp_path / "other").resolve()
    running = start_ok(other)
    for number, damage in enumerate(DAMAGE.values()):
        record = _damaged(project, dict({"project": str(tmp_path / f"p{number}")}, **damage))
        js.write_private(js.registry_path(record.get("project")), json.dumps(record))
    js.write_private(js.registry_dir() / "junk.json", "{not json")
    listed = json.loads(invoke("list", "--json").stdout)["servers"]
    # Only the two sound entries: the running server and the dead one _damaged recorded for `project`.
    assert [(s["project"], s["state"]) for s in listed] == [(str(other), "running"), (str(project), "dead")]
    result = invoke("stop", "--all")
    assert result.exit_code == 0 and "shut down" in result.stdout, result.output
    assert gone_soon(running["pid"])


# ----------------------------------------------------------------------------------------------------------
# 6. a project copied while its server runs


def test_a_copied_project_neither_reports_nor_stops_the_original_server(tmp_path, project):
    original = start_ok(project)
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(project), str(copy)], check=True)
    assert state(copy)["state"] == "stopped"
    stop = invoke("stop", str(copy))
    assert stop.exit_code == 0 and "nothing to stop" in stop.stdout
    assert alive(psutil.Process(original["pid"]))
    assert state(project)["state"] == "running" and state(project)["pid"] == original["pid"]

    mine = start_ok(copy)
    assert mine["already_running"] is False and mine["pid"] != original["pid"]
    assert f"--ServerApp.root_dir={copy}" in psutil.Process(mine["pid"]).cmdline()
    assert invoke("stop", str(copy)).exit_code == 0
    assert state(project)["pid"] == original["pid"] and state(project)["state"] == "running"


# ----------------------------------------------------------------------------------------------------------
# 7. a busy --port


def test_a_busy_port_leaves_no_token_or_record(project):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        one_line_error(invoke("start", str(project), "--port", str(port)), 2, f"port {port}")
    left = {p.name for p in (project / ".reproml").iterdir()}
    assert not left & {js.TOKEN_NAME, js.STATE_NAME}, left
    assert js.registered() == []


# ----------------------------------------------------------------------------------------------------------
# 8. one line for a file in the way, a read-only mount, a full disk


def test_reproml_as_a_file_is_one_line(project):
    (project / ".reproml").write_text("not a folder\n")
    for verb in ("start", "status", "stop"):
        one_line_error(invoke(verb, str(project)), 5, str(project / ".reproml"), "is not a folder")
    assert (project / ".reproml").read_text() == "not a folder\n"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (a full disk, a read-only mount), unmounted afterwards."""
    with tmpfs_mounted(tmp_path / "mnt", "1m") as where:
        yield where


@pytest.mark.parametrize("with_state", [False, True], ids=["fresh", "after-a-run"])
def test_start_on_a_read_only_mount_is_one_line(tmpfs, with_state):
    project = make_project(tmpfs / "ro", venv=None)
    fake_python(project, "exec sleep 60")
    if with_state:
        write_record(project.resolve())
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    one_line_error(invoke("start", str(project)), 1, str(project / ".reproml"), "Read-only file system")


def test_start_on_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmpfs):
    project = make_project(tmpfs / "full", venv=None)
    fake_python(project, "exec sleep 60")
    js.ensure_private_dir(project / ".reproml")
    with open(tmpfs / "filler", "wb") as filler, pytest.raises(OSError):
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()
    line = one_line_error(invoke("start", str(project)), 1, "No space left on device")
    assert str(project / ".reproml") in line
    assert sorted(p.name for p in (project / ".reproml").iterdir()) in ([], [js.LOCK_NAME])
    assert not processes_in(project)


def processes_in(folder: Path) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if str(folder) in " ".join(p.info["cmdline"] or [])]


@as_root
@pytest.mark.parametrize("planted", ["owner", "link"])
def test_an_untrusted_registry_folder_is_refused(tmp_path, project, planted):
    folder = js.registry_dir()
    if planted == "owner":
        js.ensure_private_dir(folder)
        os.chown(folder, NOBODY, NOBODY)
    else:
        (tmp_path / "elsewhere").mkdir()
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.symlink_to(tmp_path / "elsewhere")
    try:
        one_line_error(invoke("list"), 5, str(folder))
        one_line_error(invoke("start", str(project)), 5, str(folder))
        assert not processes_in(project)
        assert not (project / ".reproml" / js.TOKEN_NAME).exists()
        if planted == "link":
            assert list((tmp_path / "elsewhere").iterdir()) == []
    finally:  # so that the clean-up's `stop --all` can read the registry again
        if planted == "link":
            folder.unlink()
        else:
            os.chown(folder, 0, 0)


def test_a_fifo_in_place_of_the_record_is_refused_without_hanging(project):
    state_dir = js.ensure_private_dir(project / ".reproml")
    os.mkfifo(state_dir / js.STATE_NAME, 0o600)
    started = time.monotonic()
    one_line_error(invoke("status", str(project)), 5, str(state_dir / js.STATE_NAME), "not a regular file")
    one_line_error(invoke("start", str(project)), 5, "not a regular file")
    assert time.monotonic() - started < 10
