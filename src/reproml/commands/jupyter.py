"""`reproml jupyter`: a persistent, secure Jupyter server per project, run from the project's own environment.

Plain functions, usable as a library; the CLI layer (reproml.cli_jupyter) only parses and prints.

Security model: the server binds 127.0.0.1 unless ``public=True``; each server gets a fresh random token that
reaches it through ``JUPYTER_TOKEN_FILE`` (a 0600 file), so it is never on a command line (``ps``) and Jupyter
prints it as ``...`` in the log; ``--allow-root`` is passed only when running as root; the port is fixed
(``port_retries=0``). State files are described in reproml.jupyter_state.

States: ``running`` (process alive and /api/status answers), ``starting`` (alive, launched, not answering
yet), ``unhealthy`` (alive, was ready, no longer answers), ``dead`` (a record exists but its process is gone,
or its pid now belongs to another process), ``stopped`` (no record).

JSON output (``status --json`` prints one object, ``list --json`` prints ``{"servers": [object, ...]}`` sorted
by project path, ``start --json`` prints the object plus ``"already_running": bool`` and ``"tunnel": str``,
the ssh command); every key is always present, ``null`` when unknown::

    {
      "project": "/abs/path/to/project",      # project root
      "state": "running",                       # running | starting | unhealthy | dead | stopped
      "pid": 12345,                             # int | null (null when stopped)
      "port": 8888,                             # int | null
      "ip": "127.0.0.1",                        # the address the server binds | null
      "app": "lab",                             # "lab" | "notebook" | null
      "manager": "uv",                          # "uv" | "pixi" | null
      "public": false,                          # true when started with --public
      "url": "http://127.0.0.1:8888/lab?token=...",  # with the token; null unless running/starting/unhealthy
      "started_at": "2026-01-01T12:00:00Z",     # UTC, ISO 8601 | null
      "uptime_seconds": 12.3,                   # float | null (null unless the process is alive)
      "log": "/abs/path/to/project/.reproml/jupyter.log"  # str | null
    }

A server in a SLURM job (``start --slurm``) adds ``"slurm_job": "1234"`` and ``"time_left_seconds": 3540``
(int | null: null when the job has no time limit); a local server's object has neither key.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reproml import jupyter_state as js
from reproml.errors import ReproError, ToolError, UsageError
from reproml.project import STATE_DIR, Project, find_project

# subprocess and reproml.process (shutil) are imported where a process is started: status, url and list start
# none, and start up faster without them (tests/test_cli.py checks what they import).
if TYPE_CHECKING:
    import subprocess

DEFAULT_PORT = 8888
PORT_SCAN = range(8889, 9000)  # tried, in order, when the preferred port is busy and --port was not given
DEFAULT_WAIT = 60.0
DEFAULT_GRACE = 5.0
APPS = {"lab": ("jupyterlab", "lab"), "notebook": ("notebook", "tree")}  # app -> (module, URL path)
LOG_TAIL_LINES = 15
POLL_INTERVAL = 0.02  # a refused connection costs well under a millisecond; this bounds the lag after ready
LOOPBACK_NAMES = ("localhost",)


class ServerStartError(ToolError):
    """The server process exited or never answered; ``log_tail`` holds the last lines of its log."""

    def __init__(self, message: str, *, log_tail: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.log_tail = log_tail


# ----------------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class ServerStatus:
    project: str
    state: str
    pid: int | None = None
    port: int | None = None
    ip: str | None = None
    app: str | None = None
    manager: str | None = None
    public: bool = False
    url: str | None = None
    started_at: str | None = None
    uptime_seconds: float | None = None
    log: str | None = None
    slurm_job: str | None = None  # a server in a SLURM job (start --slurm); None for a local server
    time_left_seconds: int | None = None  # before the job's time limit; None: no limit known, or local

    @property
    def alive(self) -> bool:
        return self.state in (js.RUNNING, js.STARTING, js.UNHEALTHY)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "state": self.state,
            "pid": self.pid,
            "port": self.port,
            "ip": self.ip,
            "app": self.app,
            "manager": self.manager,
            "public": self.public,
            "url": self.url,
            "started_at": self.started_at,
            "uptime_seconds": None if self.uptime_seconds is None else round(self.uptime_seconds, 1),
            "log": self.log,
            # Only a server in a SLURM job has these: a local server's object keeps its keys.
            **({"slurm_job": self.slurm_job, "time_left_seconds": self.time_left_seconds}
               if self.slurm_job is not None else {}),
        }


@dataclass(frozen=True)
class StartResult:
    status: ServerStatus
    already_running: bool
    tunnel: str | None  # the ssh command that forwards the port from another machine
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopResult:
    project: str
    was_running: bool
    pid: int | None = None
    how: str = "none"  # "shutdown" (/api/shutdown), "sigterm", "sigkill", "stale" (state cleaned), "none"


@dataclass(frozen=True)
class KernelResult:
    name: str
    display_name: str
    python: str
    spec_dir: str | None
    already: bool = False  # the kernel was registered before, for this same interpreter: nothing was written


@dataclass(frozen=True)
class Launch:
    """How to run a Jupyter app from a project's environment."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # laid over os.environ
    unset: tuple[str, ...] = ()
    env_path: str = ""  # the environment's prefix, for messages


# ----------------------------------------------------------------------------------------------------------
# the project's environment


def env_prefix(project: Project) -> Path:
    if project.manager == "pixi":
        return project.root / ".pixi" / "envs" / "dev"
    return project.root / ".venv"


def pixi_manifest(project: Project) -> Path:
    return project.root / "pixi.toml" if (project.root / "pixi.toml").is_file() else project.pyproject


def setup_hint(project: Project, app: str = "lab") -> str:
    module = APPS.get(app, APPS["lab"])[0]
    if project.manager == "pixi":
        return (
            "reproml jupyter needs the project's dev environment: run `pixi install -e dev` "
            f"({module} and ipykernel belong in its dev feature)"
        )
    return (
        "reproml jupyter needs the project's dev environment: run `uv sync` "
        f"(or `uv add --dev {module} ipykernel` if the project does not list them)"
    )


def python_command(project: Project) -> tuple[list[str], dict[str, str], str]:
    """argv prefix that runs the dev environment's Python, extra environment, and the env prefix.

    Pixi projects go through ``pixi run -e dev`` when pixi is on PATH (it activates the environment:
    variables, activation scripts), else the environment's own interpreter is used directly."""
    from reproml import process

    prefix = env_prefix(project)
    if project.manager == "pixi":
        pixi = process.which("pixi")
        if pixi:
            return (
                [pixi, "run", "-e", "dev", "--manifest-path", str(pixi_manifest(project)), "python"],
                {},
                str(prefix),
            )
        python = project.python_executable()
        if not python.exists():
            raise ToolError(
                f"no Pixi dev environment at {prefix} and pixi is not on PATH", hint=setup_hint(project)
            )
        path = f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return [str(python)], {"CONDA_PREFIX": str(prefix), "PATH": path}, str(prefix)
    python = project.python_executable()
    if not python.exists():
        raise ToolError(f"the project has no virtual environment at {prefix}", hint=setup_hint(project))
    path = f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return [str(python)], {"VIRTUAL_ENV": str(prefix), "PATH": path}, str(prefix)


def launch_command(project: Project, *, app: str, ip: str, port: int, token_file: Path) -> Launch:
    module = APPS[app][0]
    prefix_argv, env, prefix = python_command(project)
    argv = [
        *prefix_argv,
        "-m",
        module,
        "--no-browser",
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={project.root}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # Jupyter refuses root without it; never passed otherwise
    # The token travels in a 0600 file named by the environment: never in argv, and Jupyter logs it as "...".
    env.update({"JUPYTER_TOKEN_FILE": str(token_file), "PYTHONUNBUFFERED": "1"})
    return Launch(argv, env, unset=("JUPYTER_TOKEN", "PYTHONHOME"), env_path=prefix)


# ----------------------------------------------------------------------------------------------------------
# addresses and ports


def check_address(ip: str, public: bool) -> tuple[str, list[str]]:
    """Validate --ip/--public; return the address and any warnings."""
    import ipaddress

    ip = ip.strip()
    if ip in LOOPBACK_NAMES:
        ip = "127.0.0.1"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise UsageError(
            f"--ip {ip!r} is not an IP address", hint="use 127.0.0.1 (the default) or e.g. 0.0.0.0"
        ) from None
    if address.is_loopback:
        return ip, []
    if not public:
        raise UsageError(
            f"--ip {ip} would expose the server beyond this machine",
            hint="add --public to confirm, or use the SSH tunnel that `reproml jupyter start` prints",
        )
    return ip, [
        f"the server listens on {ip}: anyone who can reach this machine and learns the token can run code as "
        f"{_user()}; prefer the default 127.0.0.1 and an SSH tunnel"
    ]


def port_is_free(ip: str, port: int) -> bool:
    import socket

    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Tornado sets SO_REUSEADDR too, so a port left in TIME_WAIT counts as free, as it is for Jupyter.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def choose_port(ip: str, port: int | None, avoid: set[int] | None = None) -> int:
    """The explicit port if free (else a UsageError), or the default if free, or the next free one."""
    avoid = avoid or set()
    if port is not None:
        if not port_is_free(ip, port):
            raise UsageError(
                f"port {port} on {ip} is already in use",
                hint="choose another with --port, or leave --port out to pick a free one",
            )
        return port
    for candidate in (DEFAULT_PORT, *PORT_SCAN):
        if candidate not in avoid and port_is_free(ip, candidate):
            return candidate
    import socket

    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ip, 0))
        return int(sock.getsockname()[1])


# ----------------------------------------------------------------------------------------------------------
# status


def _paths(state_dir: Path) -> tuple[Path, Path, Path, Path]:
    return (
        state_dir / js.STATE_NAME,
        state_dir / js.TOKEN_NAME,
        state_dir / js.LOG_NAME,
        state_dir / js.LOCK_NAME,
    )


def _iso(timestamp: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def server_url(record: js.ServerRecord, token: str | None, host: str | None = None) -> str:
    path = APPS.get(record.app, APPS["lab"])[1]
    if host is None:
        host = _display_host(record)
    base = record.base_url(host)
    return f"{base}{path}?token={token}" if token else f"{base}{path}"


def _display_host(record: js.ServerRecord) -> str:
    if record.ip in ("0.0.0.0", "::"):
        import socket

        return socket.gethostname()
    return record.ip


def evaluate(
    record: js.ServerRecord, token: str | None, *, probe_timeout: float = 1.0, answered: bool = False
) -> ServerStatus:
    """The health of the server a record describes (never signals anything). ``answered``: the caller has just
    seen it answer, so it is not probed again."""
    server = js.Server.find(record)
    common: dict[str, Any] = {
        "project": record.project,
        "pid": record.pid,
        "port": record.port,
        "ip": record.ip,
        "app": record.app,
        "manager": record.manager,
        "public": record.public,
        "started_at": _iso(record.started_at),
        "log": record.log,
    }
    if record.extra.get("slurm_job"):  # a server in a SLURM job (reproml jupyter start --slurm)
        from reproml.commands import jupyter_slurm

        return jupyter_slurm.evaluate(record, token, common)
    if server is None:
        return ServerStatus(state=js.DEAD, **common)
    answer = "ok" if answered else server.probe(token, timeout=probe_timeout)
    if answer is not None:
        state = js.RUNNING
    elif record.ready:
        state = js.UNHEALTHY  # it answered once
    else:
        state = js.STARTING
    return ServerStatus(
        state=state,
        url=server_url(record, token),
        uptime_seconds=max(0.0, time.time() - record.started_at),
        **common,
    )


def status(path: str | Path = ".") -> ServerStatus:
    project = find_project(path)
    record = js.read_project_record(project.state_dir, project.root)
    if record is None:  # none, damaged, or copied from another project folder
        return ServerStatus(project=str(project.root), state=js.STOPPED)
    return evaluate(record, js.read_token(project.state_dir / js.TOKEN_NAME))


def list_servers() -> list[ServerStatus]:
    """Every server reproml started on this machine (from the registry), with its health."""
    results = []
    for record in js.registered():
        current, token = _project_view(record)
        results.append(evaluate(current, token))
    return results


def _project_view(record: js.ServerRecord) -> tuple[js.ServerRecord, str | None]:
    """The project's own record and token when they describe the same process as the registry copy (and the
    project's state is trusted); else the registry copy, without a token."""
    root = Path(record.project)
    with contextlib.suppress(ReproError, OSError):
        local = js.read_project_record(root / STATE_DIR, root)
        if local is not None and local.pid == record.pid and abs(local.create_time - record.create_time) < 1:
            return local, js.read_token(root / STATE_DIR / js.TOKEN_NAME)
    return record, None


# ----------------------------------------------------------------------------------------------------------
# start


def start(
    path: str | Path = ".",
    *,
    port: int | None = None,
    app: str = "lab",
    ip: str = "127.0.0.1",
    public: bool = False,
    wait: float = DEFAULT_WAIT,
) -> StartResult:
    """Start the project's server (or report the one already running) and return once it answers."""
    if app not in APPS:
        raise UsageError(f"unknown Jupyter app {app!r}", hint="use --lab or --notebook")
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is not a TCP port (1-65535)")
    if not wait > 0:
        raise UsageError(f"--wait {wait:g} must be more than 0 seconds")
    ip, warnings = check_address(ip, public)
    project = find_project(path)
    # Links, other users' files and files others can write are refused before anything is written.
    state_dir = js.ensure_private_dir(project.state_dir)
    state_file, token_file, log_file, lock_file = _paths(state_dir)

    with js.project_lock(lock_file, timeout=wait + 30):
        for state_path in (state_file, token_file, log_file):
            js.check_state_file(state_path)
        existing = js.read_project_record(state_dir, project.root)
        if existing is not None and existing.extra.get("slurm_job"):
            if evaluate(existing, js.read_token(token_file)).alive:
                job = existing.extra["slurm_job"]
                raise ToolError(f"this project's Jupyter server runs in SLURM job {job}",
                                hint="`reproml jupyter stop` first")
        elif existing is not None and js.find_process(existing) is not None:
            current = evaluate(existing, js.read_token(token_file))
            if current.state == js.RUNNING:
                return StartResult(current, True, _tunnel(existing), tuple(warnings))
            if current.alive:
                raise ToolError(
                    f"a Jupyter server for this project is {current.state} (pid {current.pid}, port "
                    f"{current.port}) but does not answer",
                    hint="run `reproml jupyter stop` first",
                )
        # None alive: a dead server's, a damaged or a copied record (and its token) go.
        _clean(project.root, state_dir)

        import secrets

        token = secrets.token_urlsafe(32)
        tried: set[int] = set()
        try:
            for attempt in range(3):
                chosen = choose_port(ip, port, avoid=tried)  # a busy --port fails here: nothing written yet
                tried.add(chosen)
                js.write_private(token_file, token)  # read verbatim by Jupyter: no newline
                try:
                    record = _launch_and_wait(project, state_dir, app, ip, chosen, public, wait, token)
                except ServerStartError as error:
                    port_clash = (
                        "is already in use" in error.log_tail or "Address already in use" in error.log_tail
                    )
                    if port is None and port_clash and attempt < 2:
                        continue  # someone took the auto-picked port between our check and Jupyter's bind
                    raise
                current = evaluate(record, token, answered=True)
                return StartResult(current, False, _tunnel(record), tuple(warnings))
        except BaseException:
            _clean(project.root, state_dir)  # no server runs: no token, record or registry entry stays
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _launch_and_wait(
    project: Project, state_dir: Path, app: str, ip: str, port: int, public: bool, wait: float, token: str
) -> js.ServerRecord:
    state_file, token_file, log_file, _ = _paths(state_dir)
    launch = launch_command(project, app=app, ip=ip, port=port, token_file=token_file)
    env = dict(os.environ)
    for name in launch.unset:
        env.pop(name, None)
    env.update(launch.env)
    import subprocess

    log_fd = js.open_private_log(log_file)
    started_at = time.time()
    try:
        # Popen, not reproml.process.run: the server must outlive this command, so nothing here waits for it.
        # start_new_session detaches it from the terminal (no SIGHUP when the terminal closes) and makes it a
        # process-group leader, so stop can signal `pixi run` and the Jupyter process it spawned together.
        child = subprocess.Popen(
            launch.argv,
            cwd=project.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise ServerStartError(
            f"cannot run {launch.argv[0]}: {exc.strerror}", hint=setup_hint(project)
        ) from None
    finally:
        os.close(log_fd)
    create_time = js.process_start_time(child.pid) or started_at
    record = js.ServerRecord(
        project=str(project.root),
        pid=child.pid,
        create_time=create_time,
        cmdline=list(launch.argv),
        port=port,
        ip=ip,
        app=app,
        started_at=started_at,
        log=str(log_file),
        manager=project.manager,
        public=public,
    )
    try:
        # Recorded before waiting, so a server whose start is interrupted is still found by status and stop.
        js.write_private(state_file, record.to_json())
        js.register(record)
        _wait_ready(child, record, token, wait, project, launch)
    except BaseException:  # a failure, or Ctrl-C: leave neither a server nor a record of it behind
        _kill_child(child)
        _clean(project.root, state_dir)
        raise
    record.ready = True
    js.write_private(state_file, record.to_json())
    js.register(record)
    return record


def _wait_ready(
    child: subprocess.Popen[bytes],
    record: js.ServerRecord,
    token: str,
    wait: float,
    project: Project,
    launch: Launch,
) -> None:
    import psutil

    from reproml import process

    server = js.Server(record, psutil.Process(child.pid))
    deadline = time.monotonic() + wait
    refused_since: float | None = None
    while True:
        if child.poll() is not None:
            tail = log_tail(Path(record.log), LOG_TAIL_LINES)
            missing = _missing_module(tail)
            if missing:
                raise ServerStartError(
                    f"the project's environment ({launch.env_path}) has no {missing}",
                    log_tail=tail,
                    hint=setup_hint(project, record.app),
                )
            raise ServerStartError(
                f"the Jupyter server exited with code {child.returncode} before answering: "
                f"{process.last_line(tail)}",
                log_tail=tail,
                hint=f"full log: {record.log}",
            )
        answer = server.probe(token, timeout=1.0)  # None until the server itself listens on the port
        if answer == "ok":
            return
        if (
            answer == "auth"
        ):  # something answers but refuses our token: our server, or another one on the port
            refused_since = refused_since or time.monotonic()
            if time.monotonic() - refused_since > 5.0:
                raise ServerStartError(
                    f"the server on port {record.port} refuses reproml's token",
                    log_tail=log_tail(Path(record.log), LOG_TAIL_LINES),
                    hint="is JUPYTER_TOKEN or a password set in a jupyter_server_config file? full log: "
                    + record.log,
                )
        if time.monotonic() >= deadline:
            tail = log_tail(Path(record.log), LOG_TAIL_LINES)
            raise ServerStartError(
                f"the Jupyter server did not answer on port {record.port} within {wait:g} s; it was stopped",
                log_tail=tail,
                hint=f"try a longer --wait; full log: {record.log}",
            )
        time.sleep(POLL_INTERVAL)


def _missing_module(log_text: str) -> str | None:
    for module in ("jupyterlab", "notebook", "jupyter_server"):
        if f"No module named {module}" in log_text or f"No module named '{module}'" in log_text:
            return module
    return None


def _kill_child(child: subprocess.Popen[bytes]) -> None:
    import subprocess

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        child.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=5)


def _clean(root: Path, state_dir: Path, *, keep_log: bool = True) -> None:
    state_file, token_file, log_file, _ = _paths(state_dir)
    js.unlink_quietly(state_file, token_file)
    if not keep_log:
        js.unlink_quietly(log_file)
    js.unregister(root)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "you"


def _tunnel(record: js.ServerRecord) -> str:
    import socket

    remote_host = "127.0.0.1" if record.ip in ("0.0.0.0", "::") else record.ip
    return f"ssh -N -L {record.port}:{remote_host}:{record.port} {_user()}@{socket.gethostname()}"


# ----------------------------------------------------------------------------------------------------------
# stop


def stop(path: str | Path = ".", *, grace: float = DEFAULT_GRACE) -> StopResult:
    """Stop the project's server: /api/shutdown, then SIGTERM, then SIGKILL. Nothing running is fine."""
    project = find_project(path)
    state_dir = project.state_dir
    state_file, token_file, _, lock_file = _paths(state_dir)
    if not js.existing_private_dir(state_dir) or not js.check_state_file(state_file):
        js.unregister(project.root)
        return StopResult(str(project.root), False)
    with js.project_lock(lock_file, timeout=grace * 3 + 60):
        record = js.read_project_record(state_dir, project.root)
        if record is None:  # damaged, or copied from another folder: its server (if any) is not this one's
            _clean(project.root, state_dir)
            return StopResult(str(project.root), False)
        try:
            token = js.read_token(token_file)
        except js.LeakedToken:
            token = None  # a token others could read is sent nowhere; the proven process gets signals instead
        how = stop_record(record, token, grace=grace)
        _clean(project.root, state_dir)
    return StopResult(record.project, how != "stale", record.pid, how)


def stop_all(*, grace: float = DEFAULT_GRACE) -> list[StopResult]:
    """Stop every server in the registry (and clean the stale entries). A project whose own state is missing,
    untrusted or damaged does not stop the others: its registry copy (trusted: this user's, 0600) is used."""
    results = []
    for record in js.registered():
        result = None
        with contextlib.suppress(ReproError, OSError):
            result = stop(record.project, grace=grace)
        if result is None or (result.how == "none" and js.find_process(record) is not None):
            how = stop_record(record, None, grace=grace)
            js.unregister(record.project)
            result = StopResult(record.project, how != "stale", record.pid, how)
        results.append(result)
    return results


def stop_record(record: js.ServerRecord, token: str | None, *, grace: float) -> str:
    """End the process a record describes; returns how. Only a process proven to be the server reproml started
    is signalled (js.Server), and the token goes only to the port that process listens on."""
    if record.extra.get("slurm_job"):
        from reproml.commands import jupyter_slurm

        return jupyter_slurm.stop(record)
    server = js.Server.find(record)
    if server is None:
        return "stale"
    family = server.family()[1:]  # kernels, or the Jupyter process under `pixi run`
    if server.request_shutdown(token, timeout=min(2.0, grace)) and _wait_gone(record, grace):
        return "shutdown"
    server.signal(signal.SIGTERM)
    if _wait_gone(record, grace):
        _kill_leftovers(family)
        return "sigterm"
    server.signal(signal.SIGKILL)
    _kill_leftovers(family)
    if _wait_gone(record, 5.0):
        return "sigkill"
    raise ToolError(f"pid {record.pid} survived SIGKILL", hint="check it with `ps -o pid,stat,cmd -p PID`")


def _kill_leftovers(family: list[Any]) -> None:
    import psutil

    for child in family:
        with contextlib.suppress(psutil.Error):
            child.kill()  # psutil refuses if the pid was reused since the snapshot


def _wait_gone(record: js.ServerRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        js.reap(record.pid)
        if js.find_process(record) is None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)


# ----------------------------------------------------------------------------------------------------------
# logs, url


def log_tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb", opener=js.open_nofollow) as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max(lines, 1) * 400 - 4096))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:]) if lines > 0 else ""


def log_file(path: str | Path = ".") -> Path:
    project = find_project(path)
    log = project.state_dir / js.LOG_NAME
    if not js.existing_private_dir(project.state_dir) or not js.check_state_file(log):
        raise ReproError(
            f"no Jupyter log in {project.state_dir}", hint="start a server with `reproml jupyter start`"
        )
    return log


def follow(log: Path, record: js.ServerRecord | None, *, interval: float = 0.25) -> Iterator[str]:
    """Yield what is appended to ``log`` until the record's server is gone (forever without a record)."""
    with open(log, "rb", opener=js.open_nofollow) as handle:
        handle.seek(0, os.SEEK_END)
        last_check = time.monotonic()
        while True:
            chunk = handle.read()
            if chunk:
                yield chunk.decode("utf-8", errors="replace")
                continue
            if record is not None and time.monotonic() - last_check > 1.0:
                last_check = time.monotonic()
                if js.find_process(record) is None:
                    rest = handle.read()
                    if rest:
                        yield rest.decode("utf-8", errors="replace")
                    return
            time.sleep(interval)


def current_record(path: str | Path = ".") -> js.ServerRecord | None:
    project = find_project(path)
    return js.read_project_record(project.state_dir, project.root)


def url(path: str | Path = ".") -> str:
    current = status(path)
    if current.state != js.RUNNING or current.url is None:
        raise ReproError(
            f"no Jupyter server is running for {current.project} ({current.state})",
            hint="start one with `reproml jupyter start`",
        )
    return current.url


# ----------------------------------------------------------------------------------------------------------
# kernel


def kernel_name(project: Project) -> str:
    import re

    raw = str(project.answers.get("package_name") or project.answers.get("project_name") or project.root.name)
    slug = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip("-._") or "project"
    return f"reproml-{slug}"


def install_kernel(
    path: str | Path = ".", *, name: str | None = None, display_name: str | None = None
) -> KernelResult:
    """Register the project's dev environment as a kernel for this user (``ipykernel install --user``).

    Registering the same interpreter twice under reproml's default name adds nothing: the existing kernel is
    reported (``already``), so front ends do not list the same environment twice."""
    from reproml import process

    project = find_project(path)
    name = _check_kernel_name(name or kernel_name(project))
    display_name = display_name or f"{project.root.name} ({project.manager} dev)"
    prefix_argv, env, prefix = python_command(project)
    python = str(project.python_executable())
    existing = _user_kernels(project, prefix_argv, env).get(name)
    if existing is not None and existing.get("python") == python \
            and existing.get("display_name") == display_name:
        return KernelResult(name, display_name, python, existing.get("resource_dir"), already=True)
    argv = [*prefix_argv, "-m", "ipykernel", "install", "--user",
            "--name", name, "--display-name", display_name]
    done = process.run(argv, cwd=project.root, extra_env=env, timeout=120, check=False)
    output = done.stderr + done.stdout
    if not done.ok:
        if "No module named ipykernel" in output:
            raise ToolError(
                f"the project's environment ({prefix}) has no ipykernel", hint=setup_hint(project)
            )
        raise ToolError(f"ipykernel install failed (exit {done.returncode}): {process.last_line(output)}")
    import re

    match = re.search(r"Installed kernelspec \S+ in (.+)", output)
    return KernelResult(name, display_name, python, match.group(1).strip() if match else None)


def remove_kernel(path: str | Path = ".", *, name: str | None = None) -> KernelResult:
    """Unregister a kernel ``install_kernel`` made for this project; refuses kernels of other environments."""
    project = find_project(path)
    name = _check_kernel_name(name or kernel_name(project))
    prefix_argv, env, _ = python_command(project)
    python = str(project.python_executable())
    found = _user_kernels(project, prefix_argv, env).get(name)
    if found is None:
        raise UsageError(
            f"no kernel named '{name}' is registered", hint="`jupyter kernelspec list` shows them"
        )
    if found.get("python") != python:
        raise UsageError(
            f"kernel '{name}' runs {found.get('python')}, not this project's {python}; not removing it",
            hint="remove it with `jupyter kernelspec remove` if you are sure",
        )
    resource_dir = Path(str(found["resource_dir"]))
    import shutil

    shutil.rmtree(resource_dir)
    return KernelResult(name, str(found.get("display_name") or name), python, str(resource_dir))


def _check_kernel_name(name: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise UsageError(f"kernel name {name!r} may only use letters, digits, '.', '_' and '-'")
    return name


def _user_kernels(project: Project, prefix_argv: list[str], env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The kernels in this user's Jupyter data folder, as the project's own Jupyter sees them:
    name -> {resource_dir, python (argv[0]), display_name}."""
    import json

    from reproml import process

    code = (
        "import json, os\n"
        "from jupyter_client.kernelspec import KernelSpecManager\n"
        "m = KernelSpecManager()\n"
        "user = os.path.realpath(m.user_kernel_dir)\n"
        "out = {}\n"
        "for name, d in m.find_kernel_specs().items():\n"
        "    if os.path.realpath(os.path.dirname(d)) != user: continue\n"
        "    try: s = m.get_kernel_spec(name)\n"
        "    except Exception: continue\n"
        "    out[name] = {'resource_dir': d, 'python': (s.argv or [None])[0],\n"
        "                 'display_name': s.display_name}\n"
        "print(json.dumps(out))\n"
    )
    done = process.run([*prefix_argv, "-c", code], cwd=project.root, extra_env=env, timeout=60, check=False)
    if not done.ok:
        if "No module named" in done.stderr:  # jupyter_client comes with ipykernel
            raise ToolError(
                f"the project's environment ({env_prefix(project)}) has no ipykernel",
                hint=setup_hint(project),
            )
        raise ToolError(f"cannot list the Jupyter kernels: {process.last_line(done.stderr or done.stdout)}")
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ToolError("cannot list the Jupyter kernels: unexpected output") from None
    return data if isinstance(data, dict) else {}


# ----------------------------------------------------------------------------------------------------------
# text output


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def render_status(current: ServerStatus) -> str:
    if current.state == js.STOPPED:
        return f"stopped: no Jupyter server is running for {current.project}"
    lines = [f"{current.state}: {current.project}"]
    if current.state == js.DEAD:
        lines.append(
            f"  pid {current.pid} is gone (or now belongs to another process); "
            "`reproml jupyter start` cleans up"
        )
    else:
        lines.append(
            f"  pid {current.pid}, port {current.port} on {current.ip}, "
            f"up {format_uptime(current.uptime_seconds)}"
        )
        if current.slurm_job is not None:
            left = (f"{format_uptime(current.time_left_seconds)} left before its time limit"
                    if current.time_left_seconds is not None else "no time limit known")
            lines.append(f"  SLURM job {current.slurm_job}: {left}")
        if current.url:
            lines.append(f"  URL: {current.url}")
        if current.state == js.UNHEALTHY:
            lines.append("  the process is there but does not answer; `reproml jupyter stop` ends it")
    if current.log:
        lines.append(f"  log: {current.log}")
    return "\n".join(lines)


def render_start(result: StartResult) -> str:
    current = result.status
    app = "JupyterLab" if current.app == "lab" else "Jupyter Notebook"
    head = "is already running" if result.already_running else "is running"
    lines = [
        f"{app} {head} for {current.project} (pid {current.pid}, port {current.port}).",
        "Paste this URL into a browser or VS Code (Select Kernel > Existing Jupyter Server):",
        "",
        f"  {current.url}",
        "",
    ]
    if result.tunnel:
        lines.append(f"From another machine, forward the port first:  {result.tunnel}")
    lines.append("Logs: reproml jupyter logs    Stop: reproml jupyter stop")
    return "\n".join(lines)


def render_list(servers: list[ServerStatus]) -> str:
    if not servers:
        return "no Jupyter servers started by reproml"
    rows = [("STATE", "PID", "PORT", "UPTIME", "PROJECT")]
    for s in servers:
        rows.append(
            (s.state, str(s.pid or "-"), str(s.port or "-"), format_uptime(s.uptime_seconds), s.project)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows
    )


def render_stop(result: StopResult) -> str:
    if result.how == "none":
        return f"no Jupyter server is running for {result.project}; nothing to stop"
    if result.how == "stale":
        return f"the recorded server (pid {result.pid}) for {result.project} was already gone; state cleaned"
    how = {"shutdown": "shut down", "sigterm": "stopped with SIGTERM", "sigkill": "killed with SIGKILL",
           "scancel": "stopped: its SLURM job was cancelled"}[
        result.how
    ]
    return f"Jupyter server for {result.project} (pid {result.pid}) {how}"
