"""The bookkeeping behind `reproml jupyter`: state files, the machine-wide registry, the lock, process
identity and the health probe. No Jupyter import here: it talks to the server over HTTP or through psutil.

Files (all 0600, in 0700 folders):

- ``<project>/.reproml/jupyter.json``: the record of the server reproml started for that project (pid, process
  start time, command line, port, ...). It never holds the token.
- ``<project>/.reproml/jupyter.token``: the token, handed to the server through ``JUPYTER_TOKEN_FILE``.
- ``<project>/.reproml/jupyter.log`` (and ``jupyter.log.1``, the previous run's): the server's output.
- ``<project>/.reproml/jupyter.lock``: ``flock``-ed around start and stop, so concurrent calls serialise.
- ``<user state dir>/reproml/jupyter/<key>.json``: a copy of each record (no token) so ``list`` and
  ``stop --all`` find servers across projects, even when a project folder has since been removed.

A record names a process by pid *and* creation time *and* command line: a pid that the system has since given
to another process (pid reuse) does not match, is reported dead and is never signalled.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reproml.errors import ToolError

STATE_NAME = "jupyter.json"
TOKEN_NAME = "jupyter.token"
LOG_NAME = "jupyter.log"
LOCK_NAME = "jupyter.lock"
RECORD_VERSION = 1
# Two readings of one process's creation time can differ by a clock tick; a reused pid differs by far more,
# and its command line is compared as well.
CREATE_TIME_TOLERANCE = 1.0

RUNNING, STARTING, STOPPED, DEAD, UNHEALTHY = "running", "starting", "stopped", "dead", "unhealthy"


@dataclass
class ServerRecord:
    """What reproml remembers about a server it started."""

    project: str  # absolute project root
    pid: int
    create_time: float  # psutil's creation time of ``pid``: with ``cmdline``, the identity of the process
    cmdline: list[str]
    port: int
    ip: str  # the address the server binds
    app: str  # "lab" or "notebook"
    started_at: float  # time.time() when reproml launched it
    log: str  # absolute path of the log file
    manager: str  # "uv" or "pixi"
    ready: bool = False  # set once /api/status answered
    public: bool = False
    version: int = RECORD_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerRecord:
        known = {f for f in cls.__dataclass_fields__}
        record = cls(**{k: v for k, v in data.items() if k in known})
        if not isinstance(record.pid, int) or not isinstance(record.port, int):
            raise ValueError("pid and port must be integers")
        return record

    @property
    def probe_host(self) -> str:
        """Where reproml itself reaches the server: loopback unless it binds one specific other address."""
        if self.ip in ("0.0.0.0", "::", "", "localhost"):
            return "127.0.0.1"
        return self.ip

    def base_url(self, host: str | None = None) -> str:
        host = host or self.probe_host
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"


# ----------------------------------------------------------------------------------------------------------
# files


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700 when this user owns it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        if path.stat().st_uid == os.getuid():
            os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Atomically write ``text`` to ``path``, readable by the owner only (0600) from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.replace(tmp, path)


def open_private_log(path: Path) -> int:
    """A fresh 0600 log file; the previous run's log is kept as ``<name>.1``."""
    if path.exists():
        with contextlib.suppress(OSError):
            os.replace(path, path.with_name(path.name + ".1"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_record(path: Path) -> ServerRecord | None:
    data = read_json(path)
    if data is None:
        return None
    try:
        return ServerRecord.from_dict(data)
    except (TypeError, ValueError):
        return None  # a damaged file is treated like no file; start overwrites it


def read_token(path: Path) -> str | None:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


def unlink_quietly(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# ----------------------------------------------------------------------------------------------------------
# the machine-wide registry


def registry_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("reproml", appauthor=False) / "jupyter"


def registry_key(project_root: str | Path) -> str:
    return hashlib.sha256(str(project_root).encode()).hexdigest()[:20]


def registry_path(project_root: str | Path) -> Path:
    return registry_dir() / f"{registry_key(project_root)}.json"


def register(record: ServerRecord) -> None:
    ensure_private_dir(registry_dir())
    write_private(registry_path(record.project), record.to_json())


def unregister(project_root: str | Path) -> None:
    unlink_quietly(registry_path(project_root))


def registered() -> list[ServerRecord]:
    folder = registry_dir()
    try:
        paths = sorted(folder.glob("*.json"))
    except OSError:
        return []
    records = [r for r in (read_record(p) for p in paths) if r is not None]
    return sorted(records, key=lambda r: r.project)


# ----------------------------------------------------------------------------------------------------------
# the lock


@contextlib.contextmanager
def project_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (made 0600) in the ``with`` body; wait up to ``timeout``."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise ToolError(
                        f"another reproml jupyter command holds {path} for more than {timeout:g} s",
                        hint="wait for it to finish, then try again",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock


# ----------------------------------------------------------------------------------------------------------
# processes


def process_start_time(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def find_process(record: ServerRecord) -> Any | None:
    """The live ``psutil.Process`` the record describes, or None when it is gone or the pid now names another
    process (different creation time or command line). Zombies count as gone."""
    import psutil

    try:
        proc = psutil.Process(record.pid)
        with proc.oneshot():
            if abs(proc.create_time() - record.create_time) > CREATE_TIME_TOLERANCE:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                reap(record.pid)
                return None
            if proc.cmdline() != list(record.cmdline):
                return None
        return proc
    except (psutil.Error, OSError):
        return None


def reap(pid: int) -> None:
    """Collect ``pid``'s exit status when it is our own child (only in-process callers, like tests)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# ----------------------------------------------------------------------------------------------------------
# HTTP


def _opener() -> Any:
    import urllib.request

    # No proxies: the server is on this machine (or reached directly), and a proxy would see the token.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(record: ServerRecord, token: str | None, timeout: float = 1.0) -> str | None:
    """GET /api/status. Returns "ok" (200), "auth" (answered, but 401/403: the token is wrong or missing) or
    None (no answer: refused, reset or timed out)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(record.base_url() + "api/status")
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with _opener().open(request, timeout=timeout) as response:
            response.read()
            return "ok" if response.status == 200 else None
    except urllib.error.HTTPError as exc:
        return "auth" if exc.code in (401, 403) else None
    except (OSError, ValueError):
        return None


def request_shutdown(record: ServerRecord, token: str | None, timeout: float = 2.0) -> bool:
    """POST /api/shutdown with the token; True when the server accepted it."""
    import urllib.error
    import urllib.request

    if not token:
        return False
    request = urllib.request.Request(record.base_url() + "api/shutdown", data=b"", method="POST")
    request.add_header("Authorization", f"token {token}")
    try:
        with _opener().open(request, timeout=timeout) as response:
            response.read()
            return 200 <= response.status < 300
    except (urllib.error.HTTPError, OSError, ValueError):
        return False
