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

A record names a process by pid *and* creation time *and* command line *and* owner: a pid that the system has
since given to another process (pid reuse) does not match, is reported dead and is never signalled.

Trust, as ssh does it: every state folder and file must be a real folder or file (never a symbolic link;
files are opened with O_NOFOLLOW), owned by this user and not writable by others, or reproml refuses it with
one line (UnsafeState); the token file must also be unreadable by others. A record must be well formed and
made for the project folder it sits in (a copied project's record is not its own), else it reads as no
record. The token goes only to a port the recorded server listens on (Server.listening).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reproml.errors import ProjectError, ToolError

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
        """A record from JSON; ValueError when damaged (missing keys, wrong types, impossible values)."""
        known = {f for f in cls.__dataclass_fields__}
        try:
            record = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:  # missing keys
            raise ValueError(str(exc)) from None
        for name, kind in _FIELD_TYPES.items():
            value = getattr(record, name)
            # bool is an int in Python; JSON true is no pid.
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise ValueError(f"{name} has the wrong type")
        if not all(isinstance(part, str) for part in record.cmdline) or not record.cmdline:
            raise ValueError("cmdline must be a list of strings")
        if record.pid <= 1 or not 1 <= record.port <= 65535 or not Path(record.project).is_absolute():
            raise ValueError("impossible pid, port or project")
        # Creation and start times: finite, and no later than tomorrow (1e300 is no time at all).
        latest = time.time() + 86400
        if not all(math.isfinite(t) and 0 <= t <= latest for t in (record.create_time, record.started_at)):
            raise ValueError("impossible time")
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


_FIELD_TYPES: dict[str, Any] = {
    "project": str,
    "pid": int,
    "create_time": (int, float),
    "cmdline": list,
    "port": int,
    "ip": str,
    "app": str,
    "started_at": (int, float),
    "log": str,
    "manager": str,
    "ready": bool,
    "public": bool,
    "version": int,
    "extra": dict,
}


# ----------------------------------------------------------------------------------------------------------
# trust: what ssh refuses for ~/.ssh, reproml refuses for its state


class UnsafeState(ProjectError):
    """State reproml will not trust or write through: a link, another user's file, one others can write."""


def _owner(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class LeakedToken(UnsafeState):
    """The token file is this user's but others can read it: the token is not used again."""


def _link(path: Path) -> UnsafeState:
    return UnsafeState(f"{path} is a symbolic link; reproml follows no links in its state", hint="remove it")


def _not_a_file(path: Path) -> UnsafeState:
    return UnsafeState(f"{path} is not a regular file", hint="remove it; reproml keeps its state there")


def check_trusted(path: Path, info: os.stat_result, *, secret: bool = False) -> None:
    """Refuse a symbolic link, another user's file or folder, one others can write, and for a ``secret`` one
    others can read."""
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        raise _link(path)
    if info.st_uid != os.getuid():
        raise UnsafeState(
            f"{path} belongs to {_owner(info.st_uid)}, not to {_owner(os.getuid())}; not trusting it",
            hint="remove it if you did not put it there",
        )
    if mode & 0o022:
        raise UnsafeState(
            f"{path} is writable by other users (mode {mode:04o}); not trusting it",
            hint=f"check it, then `chmod go-w {path}`",
        )
    if secret and mode & 0o044:
        raise LeakedToken(
            f"{path} is readable by other users (mode {mode:04o}): the token may have leaked",
            hint="`reproml jupyter stop`, then start again: a new server gets a new token",
        )


def check_state_file(path: Path) -> bool:
    """False when ``path`` is missing; UnsafeState when it is a link (dangling or not), not a regular file, or
    not trusted."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        raise _not_a_file(path)
    check_trusted(path, info)
    return True


def _private_dir(path: Path, *, create: bool) -> bool:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another reproml made it just now: checked below
            os.mkdir(path, 0o700)
        info = os.lstat(path)
    if not (stat.S_ISDIR(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        raise UnsafeState(f"{path} is not a folder", hint="move it away; reproml keeps its state there")
    check_trusted(path, info)
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)  # readable by others (a copy, a umask): re-secured, it is ours
    return True


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (0700, parents as needed) or check the existing one: a real folder of this user's that
    others cannot write (UnsafeState otherwise), made 0700."""
    _private_dir(path, create=True)
    return path


def existing_private_dir(path: Path) -> bool:
    """Like ensure_private_dir, without creating: False when ``path`` is missing."""
    return _private_dir(path, create=False)


def _with_path(exc: OSError, path: Path) -> OSError:
    """``exc`` naming ``path`` (a failed write() carries no file name)."""
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


def _open_trusted(path: Path, flags: int, *, secret: bool = False) -> int:
    """open(2) that never follows a link at ``path``; the file must be a regular file this user trusts."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _link(path) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_a_file(path)
        check_trusted(path, info, secret=secret)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_nofollow(path: str | Path, flags: int) -> int:
    """An ``opener`` for open(): a link at ``path`` fails (ELOOP) instead of being followed."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


def _read_text(path: Path, *, secret: bool = False) -> str | None:
    """The file's text, None when missing or unreadable; UnsafeState when it is not to be trusted."""
    try:
        # O_NONBLOCK: a FIFO planted under a state name cannot hang reproml (it fails the regular-file check).
        fd = _open_trusted(path, os.O_RDONLY | os.O_NONBLOCK, secret=secret)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(1 << 20)
    return data.decode("utf-8", errors="replace")


def write_private(path: Path, text: str) -> None:
    """Atomically write ``text`` to ``path``, readable by the owner only (0600) from the first byte. A link
    or an untrusted file at ``path`` is refused, never followed."""
    check_state_file(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    unlink_quietly(tmp)  # left by a run that died with this pid
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data) :]
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        unlink_quietly(tmp)
        if isinstance(exc, OSError) and not exc.filename:
            raise _with_path(exc, path) from None
        raise


def open_private_log(path: Path) -> int:
    """A fresh 0600 log file, created (never opened through a link); the previous run's log is kept as
    ``<name>.1``."""
    if check_state_file(path):
        os.replace(path, path.with_name(path.name + ".1"))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def read_json(path: Path) -> dict[str, Any] | None:
    text = _read_text(path)
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def read_record(path: Path) -> ServerRecord | None:
    data = read_json(path)
    if data is None:
        return None
    try:
        return ServerRecord.from_dict(data)
    except ValueError:
        return None  # a damaged file is treated like no file; start overwrites it


def read_project_record(state_dir: Path, root: Path) -> ServerRecord | None:
    """The record in a project's state folder when it was made for this very folder (``root``, resolved): a
    copied project's record names the original and reads as no record, so the copy neither reports nor stops
    the original's server (whose root_dir, in its recorded command line, is the original too)."""
    if not existing_private_dir(state_dir):
        return None
    record = read_record(state_dir / STATE_NAME)
    return record if record is not None and record.project == str(root) else None


def read_token(path: Path) -> str | None:
    """The token; UnsafeState when others could have read (or written) it."""
    text = _read_text(path, secret=True)
    return text.strip() or None if text is not None else None


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
    import hashlib  # here: status and url never need it, and its OpenSSL start-up costs about 2 ms

    return hashlib.sha256(str(project_root).encode()).hexdigest()[:20]


def registry_path(project_root: str | Path) -> Path:
    return registry_dir() / f"{registry_key(project_root)}.json"


def register(record: ServerRecord) -> None:
    ensure_private_dir(registry_dir())
    write_private(registry_path(record.project), record.to_json())


def unregister(project_root: str | Path) -> None:
    with contextlib.suppress(UnsafeState):  # an untrusted registry folder is neither read nor written
        if existing_private_dir(registry_dir()):
            unlink_quietly(registry_path(project_root))


def registered() -> list[ServerRecord]:
    """The registry's records; an entry that is damaged, untrusted or filed under another project's key is
    skipped, so one bad entry never hides the others."""
    folder = registry_dir()
    try:
        if not existing_private_dir(folder):
            return []
        paths = sorted(folder.glob("*.json"))
    except OSError:
        return []
    records = []
    for path in paths:
        with contextlib.suppress(UnsafeState):
            record = read_record(path)
            if record is not None and path.stem == registry_key(record.project):
                records.append(record)
    return sorted(records, key=lambda r: r.project)


# ----------------------------------------------------------------------------------------------------------
# the lock


@contextlib.contextmanager
def project_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (made 0600) in the ``with`` body; wait up to ``timeout``."""
    import fcntl

    fd = _open_trusted(path, os.O_RDWR | os.O_CREAT)
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


def launched_for_project(record: ServerRecord) -> bool:
    """Whether the recorded command line is one reproml builds: a Jupyter app serving the record's project on
    the record's port. A record naming any other command (`sleep`, a shell) names no server of reproml's."""
    cmdline = record.cmdline
    return (
        f"--ServerApp.root_dir={record.project}" in cmdline
        and f"--ServerApp.port={record.port}" in cmdline
        and ("jupyterlab" in cmdline or "notebook" in cmdline)
    )


def find_process(record: ServerRecord) -> Any | None:
    """The live ``psutil.Process`` the record describes, or None when it is gone, or the pid now names another
    process (another creation time, command line or owner), or the record names no server reproml launches.
    Zombies count as gone; pid 0 and 1 never match."""
    import psutil

    if record.pid <= 1 or not launched_for_project(record):
        return None
    try:
        proc = psutil.Process(record.pid)
        with proc.oneshot():
            if abs(proc.create_time() - record.create_time) > CREATE_TIME_TOLERANCE:
                return None
            if proc.uids().real != os.getuid():
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


@dataclass
class Server:
    """A recorded server whose process is proven to be the one reproml started (find_process): the only
    process reproml signals, and the only one it sends the token to, once seen listening on the port."""

    record: ServerRecord
    proc: Any  # psutil.Process

    @classmethod
    def find(cls, record: ServerRecord) -> Server | None:
        proc = find_process(record)
        return None if proc is None else cls(record, proc)

    def family(self) -> list[Any]:
        """The process and its descendants (kernels, or the Jupyter process under `pixi run`)."""
        import psutil

        try:
            return [self.proc, *self.proc.children(recursive=True)]
        except psutil.Error:
            return [self.proc]

    def _self_then_descendants(self) -> Iterator[Any]:
        yield self.proc  # the server itself under uv: its descendants are listed only when needed (pixi run)
        yield from self.family()[1:]

    def listening(self) -> bool:
        """Whether the record's port is a listening socket of this process or a descendant's, so that a
        request to it reaches this server and no other program."""
        import psutil

        hosts = {self.record.probe_host, self.record.ip, "0.0.0.0", "::"}
        kind = "tcp6" if ":" in self.record.ip else "tcp4"  # the family of the address the server binds
        for member in self._self_then_descendants():
            try:
                connections = getattr(member, "net_connections", None) or member.connections  # psutil < 6
                found = connections(kind)
            except (psutil.Error, OSError):
                continue
            for conn in found:
                address = conn.laddr
                if (
                    conn.status == psutil.CONN_LISTEN
                    and address
                    and address.port == self.record.port
                    and address.ip in hosts
                ):
                    return True
        return False

    def probe(self, token: str | None, timeout: float = 1.0) -> str | None:
        """``probe`` once the port is proven this server's; None (no answer) before that."""
        return probe(self.record, token, timeout) if self.listening() else None

    def request_shutdown(self, token: str | None, timeout: float = 2.0) -> bool:
        return bool(token) and self.listening() and request_shutdown(self.record, token, timeout)

    def signal(self, sig: int) -> None:
        """Signal the process group when the server still leads the session reproml created for it
        (start_new_session), else the process alone."""
        import psutil

        pid = self.proc.pid
        if pid <= 1:  # never init or "every process"
            return
        try:
            if not self.proc.is_running():  # psutil compares the creation time: the pid was not reused
                return
            if os.getsid(pid) == pid and os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                self.proc.send_signal(sig)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess, psutil.AccessDenied):
            pass


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
