"""Fast tests for bugs that once survived the suite (issue 12) and for mutants benchmarks/mutation.py found
alive: each protects a behaviour a user would pay for, with expected values written out by hand.

- ``--force`` keeps every file of the user's byte-identical, inside reproml's own folders too (src/, tests/,
  docs/) and an existing .git: "remove the target, then render" passed the suite once.
- Each torch extra of a uv project comes from the PyTorch index of its own build: the cpu extra pointed at the
  cu130 index passed every test once.
- The Jupyter token never reaches the launched server's command line or environment, nor the log: what the
  launched process really got is recorded by a stand-in python.
"""

from __future__ import annotations

import http.server
import os
import pwd
import socket
import stat
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import EXPECTED_BUILDS, render_preset
from reproml import gpu
from reproml import jupyter_state as js
from reproml.cli import app
from reproml.errors import UsageError
from reproml.names import project_names
from test_jupyter import fake_python, invoke, make_project

runner = CliRunner()


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` (in .git too): its bytes and its mode."""
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


# ------------------------------------------------------------------------------------------------------------
# --force never loses or changes a file of the user's


def _git(folder: Path, *args: str) -> None:
    import subprocess

    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, timeout=30)


@pytest.mark.parametrize("with_git", [True, False], ids=["existing-repo", "no-repo"])
def test_force_keeps_foreign_files_inside_reproml_folders_and_git_byte_identical(tmp_path, with_git):
    target = tmp_path / "proj"
    mine = {
        "src/proj/model.py": b"WEIGHTS = 'mine'\n",  # beside the package reproml writes
        "src/legacy/__init__.py": b"",  # a second package of the user's
        "tests/test_mine.py": b"def test_mine():\n    assert True\n",
        "tests/data/sample.bin": bytes(range(256)),
        "docs/notes.md": b"# My notes\n",
        "notes.txt": b"top level\n",
        "run.sh": b"#!/bin/sh\necho run\n",
    }
    for name, data in mine.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
    (target / "run.sh").chmod(0o755)
    if with_git:
        _git(target, "init", "-q")
        _git(target, "add", "-A")
        _git(target, "commit", "-q", "-m", "mine")
    before = snapshot(target)
    assert {n for n in before if not n.startswith(".git/")} == set(mine)

    result = runner.invoke(app, ["new", str(target), "-t", "uv-python-ml", "--yes", "--force", "--no-lock"])

    assert result.exit_code == 0, result.output
    after = snapshot(target)
    changed = [name for name, content in before.items() if after.get(name) != content]
    assert changed == [], f"--force changed or removed the user's files: {changed}"
    # reproml's own files were added around them. An existing repository is the user's (its files are among
    # those compared above: no commit went into it); without one, reproml made its own.
    for name in ("pyproject.toml", "src/proj/__init__.py", "tests/test_smoke.py", "docs/index.md"):
        assert name in after, name
    assert (target / ".git" / "HEAD").is_file()


# ------------------------------------------------------------------------------------------------------------
# every torch extra from its own PyTorch index

PYTORCH = "https://download.pytorch.org/whl"


@pytest.mark.parametrize("accelerator", sorted(EXPECTED_BUILDS))
def test_each_extra_takes_torch_from_its_own_builds_index(tmp_path, accelerator):
    project = render_preset(tmp_path / "p", "uv-python-ml", accelerator=accelerator, docs=False)
    uv = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]
    urls = {index["name"]: index["url"] for index in uv["index"]}
    assert all(index.get("explicit") is True for index in uv["index"])
    for package in ("torch", "torchvision"):
        routes = {entry.get("extra"): urls[entry["index"]] for entry in uv["sources"][package]}
        expected = {extra: f"{PYTORCH}/{build}" for extra, build in EXPECTED_BUILDS[accelerator].items()}
        assert routes == expected, f"{accelerator}: {package} routes"


# ------------------------------------------------------------------------------------------------------------
# the Jupyter token stays out of argv, the environment and the log of what is launched

RECORDING_PYTHON = """\
out={out}
printf '%s\\n' "$0" "$@" > "$out/argv"
env > "$out/environ"
cat "$JUPYTER_TOKEN_FILE" > "$out/token" 2>/dev/null
echo "stand-in python: recorded, exiting"
exit 3
"""


def test_the_launched_server_gets_the_token_only_through_its_0600_file(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_TOKEN", "a-token-of-the-users-shell")  # must not leak through either
    project = make_project(tmp_path / "tok", venv=None)
    out = tmp_path / "recorded"
    out.mkdir()
    fake_python(project, RECORDING_PYTHON.format(out=out))
    result = invoke("start", str(project), "--wait", "20")
    assert result.exit_code == 4, result.output  # the stand-in exits: start fails after launching it

    token = (out / "token").read_text()
    assert len(token) >= 32, "the launched process found no token in JUPYTER_TOKEN_FILE"
    argv = (out / "argv").read_text().splitlines()
    environ = (out / "environ").read_text()
    assert argv[0].endswith("/.venv/bin/python") and argv[1:3] == ["-m", "jupyterlab"]
    assert not any(token in arg or "token" in arg.lower() for arg in argv), argv
    assert token not in environ
    assert "JUPYTER_TOKEN=" not in environ  # the user's own is unset for the server
    assert f"JUPYTER_TOKEN_FILE={project.resolve() / '.reproml' / js.TOKEN_NAME}" in environ.splitlines()
    log = (project / ".reproml" / js.LOG_NAME).read_text()
    assert "recorded, exiting" in log and token not in log
    assert token not in result.output
    assert not (project / ".reproml" / js.TOKEN_NAME).exists()  # no server: no token left behind
    assert os.environ["JUPYTER_TOKEN"] == "a-token-of-the-users-shell"


# ------------------------------------------------------------------------------------------------------------
# name validation: the exact line a user reads, and the names a project gets


@pytest.mark.parametrize(("raw", "title", "distribution", "package"), [
    ("Cell Seg", "Cell Seg", "cell-seg", "cell_seg"),
    ("  My__Model--2 ", "My__Model--2", "my-model-2", "my_model_2"),
    ("-x-", "-x-", "x", "x"),
    ("a" * 80, "a" * 80, "a" * 80, "a" * 80),  # the longest name that fits
])
def test_accepted_names(raw, title, distribution, package):
    names = project_names(raw)
    assert (names.title, names.distribution, names.package) == (title, distribution, package)


@pytest.mark.parametrize(("raw", "line"), [
    ("", "the project name is empty (pass --name or a folder name)"),
    ("   ", "the project name is empty (pass --name or a folder name)"),
    ("a" * 81, "project name is 81 characters long; at most 80 fit in file names"),
    ("a\u2028b", "project name 'a\\u2028b' contains a control character (U+2028)"),  # line separator
    ("a\u2029b", "project name 'a\\u2029b' contains a control character (U+2029)"),  # paragraph separator
    ("a\x07b", "project name 'a\\x07b' contains a control character (U+0007)"),
    ("a\ud800", "project name 'a\\ud800' contains a control character (U+D800)"),  # lone surrogate
    ("a\\b", "project name 'a\\b' contains a path separator or '..'"),
    ("a/b", "project name 'a/b' contains a path separator or '..'"),
    ("x..y", "project name 'x..y' contains a path separator or '..'"),
    ("Café", "project name 'Café' has non-ASCII characters (use letters, digits, - and _)"),
    ("---", "project name '---' has no letters or digits"),
    ("1st", "project name '1st' starts with a digit; Python cannot import it"),
    ("class", "project name 'class' is a Python keyword"),
    ("json", "project name 'json' shadows the standard library module 'json'"),
    ("COM1", "project name 'COM1' is a reserved device name on Windows ('com1')"),
    ("torch", "project name 'torch' shadows 'torch', which the project depends on or uses"),
])
def test_refused_names_say_why_in_one_line(raw, line):
    with pytest.raises(UsageError) as refused:
        project_names(raw)
    assert refused.value.one_line() == line


# ------------------------------------------------------------------------------------------------------------
# build choice: which driver reproml sees, and what it does with odd ones


@pytest.mark.parametrize(("driver", "build", "runs"), [
    ("580", "cu130", True),
    ("580.0", "cu130", True),  # 580.0 is 580: missing parts count as 0
    ("580.0.0", "cu132", True),
    ("579.99.99", "cu130", False),
    ("525.60.13", "cu126", True),
    ("525.60", "cu126", False),  # 525.60 is 525.60.0, below 525.60.13
    ("525.61", "cu126", True),
    (None, "cu126", False),
    ("not-a-version", "cu126", False),
    (None, "cpu", True),
])
def test_which_driver_runs_which_build(driver, build, runs):
    assert gpu.supports(driver, build) is runs


def test_a_bad_version_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"^not a driver version: 'x580'$"):
        gpu.version_tuple("x580")


@pytest.mark.parametrize(("text", "version"), [
    ("550.54.14, \n", "550.54.14"),  # a trailing comma of the csv format
    ("100\n", None),  # a bare number (a percentage from another query) is no driver version
    ("\n580.65.06\n550.54.14\n", "580.65.06"),  # one line per GPU: the first version wins
])
def test_nvidia_smi_output(text, version):
    assert gpu.parse_nvidia_smi(text) == version


def test_proc_version_found_after_other_lines():
    text = ("GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  (dvs)\n")
    assert gpu.parse_proc_version(text) == "580.65.06"


def test_detect_driver_reads_the_environment_it_is_given(monkeypatch):
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "535.104.05")  # the process's own is not asked
    given = {"REPROML_CUDA_DRIVER_VERSION": "580.65.06"}
    assert gpu.detect_driver(given) == gpu.Driver("580.65.06", "REPROML_CUDA_DRIVER_VERSION")
    assert gpu.detect_driver({"UV_CUDA_DRIVER_VERSION": "latest"}) == gpu.Driver(
        None, "UV_CUDA_DRIVER_VERSION",
        "UV_CUDA_DRIVER_VERSION='latest' is not a driver version (use e.g. 550.54.14, or none)")


NVIDIA_SMI = """#!/bin/sh
# A stand-in: answers only the exact query reproml makes.
[ "$#" -eq 2 ] && [ "$1" = --query-gpu=driver_version ] && [ "$2" = --format=csv,noheader ] || {{
    echo "unknown arguments: $*" >&2; exit 2; }}
{body}
"""


@pytest.fixture
def no_driver_files(tmp_path, monkeypatch):
    """No /sys or /proc driver file and no seam: nvidia-smi (a stand-in in the returned folder) decides."""
    monkeypatch.setattr(gpu, "SYS_MODULE_VERSION", tmp_path / "no-sys-version")
    monkeypatch.setattr(gpu, "PROC_VERSION", tmp_path / "no-proc-version")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    return bin_dir


def _nvidia_smi(bin_dir: Path, body: str) -> None:
    (bin_dir / "nvidia-smi").write_text(NVIDIA_SMI.format(body=body))
    (bin_dir / "nvidia-smi").chmod(0o755)


@pytest.mark.parametrize(("body", "expected"), [
    ("echo 535.104.05", gpu.Driver("535.104.05", "nvidia-smi")),
    # a failing nvidia-smi is not believed, whatever it printed; its last line says why
    ('echo 535.104.05; echo "NVIDIA-SMI has failed because it couldn\'t communicate with the driver" >&2; '
     "exit 9",
     gpu.Driver(None, "none", "nvidia-smi gave no driver version (NVIDIA-SMI has failed because it "
                              "couldn't communicate with the driver)")),
    ("exec sleep 5", gpu.Driver(None, "none", "nvidia-smi gave no driver version (timed out)")),
])
def test_detect_driver_through_nvidia_smi(no_driver_files, monkeypatch, body, expected):
    monkeypatch.setattr(gpu, "NVIDIA_SMI_TIMEOUT", 0.5)
    _nvidia_smi(no_driver_files, body)
    assert gpu.detect_driver({}) == expected


def test_no_driver_anywhere(no_driver_files):
    assert gpu.detect_driver({}) == gpu.Driver(None, "none", None)


def test_every_unreadable_source_is_named(no_driver_files, tmp_path, monkeypatch):
    for name in ("sys-version", "proc-version"):
        (tmp_path / name).write_text("garbage\n")
    monkeypatch.setattr(gpu, "SYS_MODULE_VERSION", tmp_path / "sys-version")
    monkeypatch.setattr(gpu, "PROC_VERSION", tmp_path / "proc-version")
    assert gpu.detect_driver({}).problem == (f"{tmp_path}/sys-version has no driver version in it; "
                                            f"{tmp_path}/proc-version has no driver version in it")


def test_unknown_accelerator_or_build_lists_what_reproml_offers():
    with pytest.raises(ValueError) as unknown:
        gpu.choose_build("cu128", "580.65.06", "Linux")
    assert str(unknown.value) == ("unknown accelerator 'cu128'; "
                                  "expected one of auto, cpu, cuda, cu126, cu130, cu132")
    with pytest.raises(ValueError) as unknown:
        gpu.minimum_driver("cu128")
    assert str(unknown.value) == "unknown CUDA build 'cu128'; reproml offers cu126, cu130, cu132"


# ------------------------------------------------------------------------------------------------------------
# token handling over HTTP: where reproml sends the token, and what it makes of the answers


class Listener(http.server.ThreadingHTTPServer):
    """A loopback HTTP server: records each request (method, path, headers, body), answers ``status``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recording)
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.status = 200


class _Recording(http.server.BaseHTTPRequestHandler):
    server: Listener

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.command, self.path, dict(self.headers.items()), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def listener(monkeypatch) -> Iterator[Listener]:
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    server = Listener()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def record_for(port: int, ip: str = "127.0.0.1") -> js.ServerRecord:
    return js.ServerRecord(project="/p", pid=4242, create_time=0.0, cmdline=["python"], port=port, ip=ip,
                           app="lab", started_at=0.0, log="/p/.reproml/jupyter.log", manager="uv")


@pytest.mark.parametrize(("status", "answer"), [(200, "ok"), (204, None), (401, "auth"), (403, "auth"),
                                                 (404, None), (500, None)])
def test_probe_sends_the_token_to_api_status_and_reads_the_answer(listener, status, answer):
    listener.status = status
    assert js.probe(record_for(listener.server_port), "t0ken", timeout=5) == answer
    [(method, path, headers, _)] = listener.requests
    assert (method, path, headers["Authorization"]) == ("GET", "/api/status", "token t0ken")


def test_probe_without_a_token_sends_no_authorization(listener):
    assert js.probe(record_for(listener.server_port), None, timeout=5) == "ok"
    [(_, _, headers, _)] = listener.requests
    assert "Authorization" not in headers


@pytest.mark.parametrize(("status", "accepted"), [(200, True), (204, True), (403, False), (500, False)])
def test_shutdown_posts_the_token_to_api_shutdown(listener, status, accepted):
    listener.status = status
    assert js.request_shutdown(record_for(listener.server_port), "t0ken", timeout=5) is accepted
    [(method, path, headers, body)] = listener.requests
    assert (method, path, headers["Authorization"], body) == ("POST", "/api/shutdown", "token t0ken", b"")


def test_shutdown_without_a_token_sends_nothing(listener):
    assert js.request_shutdown(record_for(listener.server_port), None, timeout=5) is False
    assert js.request_shutdown(record_for(listener.server_port), "", timeout=5) is False
    assert listener.requests == []


def test_the_token_never_goes_through_a_proxy(listener, monkeypatch):
    """A proxy (from http_proxy) would see the token: reproml talks to the server directly."""
    proxy = Listener()
    threading.Thread(target=proxy.serve_forever, args=(0.05,), daemon=True).start()
    try:
        for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.setenv(var, f"http://127.0.0.1:{proxy.server_port}")
        record = record_for(listener.server_port)
        assert js.probe(record, "t0ken", timeout=5) == "ok"
        assert js.request_shutdown(record, "t0ken", timeout=5) is True
        assert proxy.requests == [] and len(listener.requests) == 2
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_probe_of_a_server_that_never_answers_gives_up_at_its_timeout():
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        assert js.probe(record_for(silent.getsockname()[1]), "t0ken", timeout=0.5) is None
        assert js.request_shutdown(record_for(silent.getsockname()[1]), "t0ken", timeout=0.5) is False
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(("ip", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8888/"),
    ("0.0.0.0", "http://127.0.0.1:8888/"),  # reached on loopback when it binds every address
    ("::1", "http://[::1]:8888/"),
    ("192.168.1.5", "http://192.168.1.5:8888/"),
])
def test_where_reproml_reaches_a_server(ip, url):
    assert record_for(8888, ip).base_url() == url


# ------------------------------------------------------------------------------------------------------------
# token handling on disk: which token file reproml trusts, and what it says when it does not


def stat_of(mode: int, uid: int | None = None) -> os.stat_result:
    """A regular file's stat result: permission bits ``mode``, owned by ``uid`` (default: this user)."""
    uid = os.getuid() if uid is None else uid
    return os.stat_result((stat.S_IFREG | mode, 1, 1, 1, uid, 0, 0, 0, 0, 0))


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700, 0o601, 0o611])  # execute bits alone expose nothing
def test_a_private_token_file_is_trusted(mode):
    js.check_trusted(Path("/p/.reproml/jupyter.token"), stat_of(mode), secret=True)


@pytest.mark.parametrize(("mode", "secret", "kind", "line"), [
    (0o644, True, js.LeakedToken,
     "/p/t is readable by other users (mode 0644): the token may have leaked (`reproml jupyter stop`, then "
     "start again: a new server gets a new token)"),
    (0o640, True, js.LeakedToken,
     "/p/t is readable by other users (mode 0640): the token may have leaked (`reproml jupyter stop`, then "
     "start again: a new server gets a new token)"),
    (0o620, False, js.UnsafeState,
     "/p/t is writable by other users (mode 0620); not trusting it (check it, then `chmod go-w /p/t`)"),
    (0o602, True, js.UnsafeState,
     "/p/t is writable by other users (mode 0602); not trusting it (check it, then `chmod go-w /p/t`)"),
])
def test_an_exposed_token_or_state_file_is_refused_saying_what_to_do(mode, secret, kind, line):
    with pytest.raises(kind) as refused:
        js.check_trusted(Path("/p/t"), stat_of(mode), secret=secret)
    assert refused.value.one_line() == line


def test_a_file_of_another_user_is_refused():
    other = 65534 if os.getuid() != 65534 else 0
    me, them = pwd.getpwuid(os.getuid()).pw_name, pwd.getpwuid(other).pw_name
    with pytest.raises(js.UnsafeState) as refused:
        js.check_trusted(Path("/p/t"), stat_of(0o600, other), secret=True)
    assert refused.value.one_line() == (
        f"/p/t belongs to {them}, not to {me}; not trusting it (remove it if you did not put it there)")


def test_read_token(tmp_path):
    folder = js.ensure_private_dir(tmp_path / ".reproml")
    token = folder / js.TOKEN_NAME
    assert js.read_token(token) is None  # no file: no token
    js.write_private(token, "s3cret-token")
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert js.read_token(token) == "s3cret-token"
    token.chmod(0o644)
    with pytest.raises(js.LeakedToken):
        js.read_token(token)
