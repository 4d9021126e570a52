"""`reproml jupyter` without a real Jupyter server: argument checks, command construction (uv and pixi), port
choice, state that points at the wrong process, failures to start, the JSON shapes, the kernel.

Real servers are in test_jupyter_server.py.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from reproml import jupyter_state as js
from reproml.cli import app
from reproml.commands import jupyter
from reproml.errors import ToolError, UsageError
from reproml.project import find_project

runner = CliRunner()

STATUS_KEYS = {
    "project",
    "state",
    "pid",
    "port",
    "ip",
    "app",
    "manager",
    "public",
    "url",
    "started_at",
    "uptime_seconds",
    "log",
}


def invoke(*args: str):
    return runner.invoke(app, ["jupyter", *args])


def make_project(root: Path, *, preset: str = "uv-python-ml", venv: str | None = "jupyter") -> Path:
    """A hand-made reproml project. venv: "jupyter" (sees our Jupyter), "bare" (no Jupyter) or None."""
    root.mkdir(parents=True, exist_ok=True)
    package = root.name.replace("-", "_")
    (root / ".copier-answers.yml").write_text(
        f"preset: {preset}\npackage_name: {package}\npython_version: '3.11'\n"
    )
    (root / "pyproject.toml").write_text(f'[project]\nname = "{root.name}"\nversion = "0.1"\n')
    if venv:
        make_venv(root / ".venv", with_jupyter=venv == "jupyter")
    return root


def make_venv(path: Path, *, with_jupyter: bool) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    if with_jupyter:
        # Point the venv at the folders holding this interpreter's Jupyter (works whether or not pytest itself
        # runs in a venv, where --system-site-packages would only reach the base interpreter's packages).
        import ipykernel
        import jupyter_server
        import jupyterlab

        folders = sorted(
            {str(Path(m.__file__).resolve().parent.parent) for m in (jupyterlab, jupyter_server, ipykernel)}
        )
        site = next(path.glob("lib/python*/site-packages"))
        (site / "_outer_jupyter.pth").write_text("\n".join(folders) + "\n")


def fake_python(project: Path, script: str) -> None:
    """Replace the project's interpreter by a shell script (a server that fails or never answers)."""
    python = project / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.unlink(missing_ok=True)
    python.write_text("#!/bin/sh\n" + script + "\n")
    python.chmod(0o755)


def processes_mentioning(folder: Path) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if str(folder) in " ".join(p.info["cmdline"] or [])]


@pytest.fixture(autouse=True)
def no_leftover_servers(isolated_env: Path, tmp_path: Path) -> Iterator[None]:
    yield
    jupyter.stop_all(grace=1)
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(tmp_path) in part for part in proc.info["cmdline"] or []):
            proc.kill()


@pytest.fixture
def sleeper() -> Iterator[psutil.Process]:
    """A real, unrelated process: the stand-in for a pid the system gave to someone else."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        yield psutil.Process(child.pid)
    finally:
        child.kill()
        child.wait()


def write_record(project: Path, **fields) -> js.ServerRecord:
    state_dir = js.ensure_private_dir(project / ".reproml")
    base = {
        "project": str(project),
        "pid": 1,
        "create_time": 0.0,
        "cmdline": [str(project / ".venv/bin/python"), "-m", "jupyterlab"],
        "port": 8888,
        "ip": "127.0.0.1",
        "app": "lab",
        "started_at": time.time(),
        "log": str(state_dir / "jupyter.log"),
        "manager": "uv",
        "ready": True,
    }
    base.update(fields)
    record = js.ServerRecord(**base)
    js.write_private(state_dir / js.STATE_NAME, record.to_json())
    js.write_private(state_dir / js.TOKEN_NAME, "not-a-real-token")
    js.register(record)
    return record


# ----------------------------------------------------------------------------------------------------------
# arguments and addresses


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ip", "0.0.0.0"], "--ip 0.0.0.0 would expose the server"),
        (["--ip", "192.168.1.5"], "add --public"),
        (["--ip", "not-an-ip"], "is not an IP address"),
        (["--port", "0"], "is not a TCP port"),
        (["--port", "70000"], "is not a TCP port"),
        (["--wait", "0"], "must be more than 0"),
    ],
)
def test_start_rejects_bad_input_with_one_line_and_exit_2(tmp_path, args, message):
    project = make_project(tmp_path / "proj", venv=None)
    result = invoke("start", str(project), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (project / ".reproml" / js.STATE_NAME).exists()


def test_public_address_is_allowed_with_public_and_warns():
    ip, warnings = jupyter.check_address("0.0.0.0", public=True)
    assert ip == "0.0.0.0" and warnings and "SSH tunnel" in warnings[0]
    assert jupyter.check_address("localhost", public=False) == ("127.0.0.1", [])
    assert jupyter.check_address("::1", public=False) == ("::1", [])
    with pytest.raises(UsageError):
        jupyter.check_address("10.0.0.1", public=False)


def test_outside_a_project_is_a_project_error(tmp_path):
    result = invoke("status", str(tmp_path))
    assert result.exit_code == 5
    assert "is not inside a Python project" in result.stderr


def test_stop_all_with_a_path_is_refused(tmp_path):
    result = invoke("stop", str(make_project(tmp_path / "p", venv=None)), "--all")
    assert result.exit_code == 2 and "either a PATH or --all" in result.stderr


# ----------------------------------------------------------------------------------------------------------
# nothing running


def test_status_stop_list_url_logs_when_nothing_runs(tmp_path):
    project = make_project(tmp_path / "idle", venv=None)
    result = invoke("status", str(project), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == STATUS_KEYS
    assert data["state"] == "stopped" and data["pid"] is None and data["url"] is None
    assert data["project"] == str(project.resolve())

    result = invoke("stop", str(project))
    assert result.exit_code == 0 and "nothing to stop" in result.stdout
    result = invoke("stop", "--all")
    assert result.exit_code == 0 and "nothing to stop" in result.stdout

    result = invoke("list", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"servers": []}
    assert "no Jupyter servers" in invoke("list").stdout

    result = invoke("url", str(project))
    assert result.exit_code == 1 and "no Jupyter server is running" in result.stderr
    result = invoke("logs", str(project))
    assert result.exit_code == 1 and "no Jupyter log" in result.stderr


# ----------------------------------------------------------------------------------------------------------
# the environment


def test_uv_launch_uses_the_venv_python_and_keeps_the_token_out_of_argv(tmp_path):
    project = make_project(tmp_path / "uvp", venv="bare")
    launch = jupyter.launch_command(
        find_project(project),
        app="lab",
        ip="127.0.0.1",
        port=9999,
        token_file=project / ".reproml/jupyter.token",
    )
    root = project.resolve()
    assert launch.argv[:3] == [str(root / ".venv/bin/python"), "-m", "jupyterlab"]
    for flag in (
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=9999",
        "--ServerApp.port_retries=0",
    ):
        assert flag in launch.argv
    assert ("--allow-root" in launch.argv) == (os.geteuid() == 0)
    assert not any("token" in arg.lower() for arg in launch.argv)
    assert launch.env["JUPYTER_TOKEN_FILE"] == str(project / ".reproml/jupyter.token")
    assert launch.env["VIRTUAL_ENV"] == str(root / ".venv")
    assert "JUPYTER_TOKEN" in launch.unset

    notebook = jupyter.launch_command(
        find_project(project), app="notebook", ip="::1", port=1, token_file=Path("t")
    )
    assert notebook.argv[1:3] == ["-m", "notebook"] and "--ServerApp.ip=::1" in notebook.argv


def _pixi_project(tmp_path: Path, *, with_env: bool, pixi_toml: bool = False) -> Path:
    project = make_project(tmp_path / "px", preset="global-python-ml", venv=None)
    if pixi_toml:
        (project / "pixi.toml").write_text("[workspace]\nname = 'px'\n")
    if with_env:
        python = project / ".pixi/envs/dev/bin/python"
        python.parent.mkdir(parents=True)
        python.write_text("#!/bin/sh\n")
        python.chmod(0o755)
    return project


def test_pixi_launch_goes_through_pixi_run_when_pixi_is_on_path(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "pixi").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "pixi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    for pixi_toml, manifest in ((False, "pyproject.toml"), (True, "pixi.toml")):
        project = _pixi_project(tmp_path / manifest, with_env=False, pixi_toml=pixi_toml)
        launch = jupyter.launch_command(
            find_project(project), app="lab", ip="127.0.0.1", port=8890, token_file=Path("tok")
        )
        assert launch.argv[:9] == [
            str(bindir / "pixi"),
            "run",
            "-e",
            "dev",
            "--manifest-path",
            str(project.resolve() / manifest),
            "python",
            "-m",
            "jupyterlab",
        ]
        assert "--ServerApp.port=8890" in launch.argv


def test_pixi_without_pixi_uses_the_dev_env_directly_or_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    project = _pixi_project(tmp_path / "a", with_env=True)
    launch = jupyter.launch_command(
        find_project(project), app="lab", ip="127.0.0.1", port=8890, token_file=Path("t")
    )
    env = project.resolve() / ".pixi/envs/dev"
    assert launch.argv[:3] == [str(env / "bin/python"), "-m", "jupyterlab"]
    assert launch.env["CONDA_PREFIX"] == str(env)

    bare = _pixi_project(tmp_path / "b", with_env=False)
    with pytest.raises(ToolError) as caught:
        jupyter.launch_command(find_project(bare), app="lab", ip="127.0.0.1", port=8890, token_file=Path("t"))
    assert "pixi install -e dev" in caught.value.one_line()


def test_no_venv_names_the_fix(tmp_path):
    project = make_project(tmp_path / "novenv", venv=None)
    result = invoke("start", str(project))
    assert result.exit_code == 4
    assert "no virtual environment" in result.stderr and "uv sync" in result.stderr
    assert not (project / ".reproml" / js.STATE_NAME).exists()


def test_env_without_jupyter_names_the_fix(tmp_path):
    project = make_project(tmp_path / "nojup", venv="bare")
    result = invoke("start", str(project), "--wait", "20")
    assert result.exit_code == 4, result.output
    assert "has no jupyterlab" in result.stderr
    assert (
        "reproml jupyter needs the project's dev environment" in result.stderr and "uv sync" in result.stderr
    )
    assert "No module named jupyterlab" in result.stderr  # the log lines are shown
    assert not (project / ".reproml" / js.STATE_NAME).exists()
    assert not (project / ".reproml" / js.TOKEN_NAME).exists()
    assert invoke("list", "--json").stdout.count('"project"') == 0


def test_a_server_that_crashes_shows_its_last_log_lines(tmp_path):
    project = make_project(tmp_path / "crash", venv=None)
    fake_python(project, 'echo "loading config"; echo "RuntimeError: the GPU caught fire" >&2; exit 3')
    result = invoke("start", str(project), "--wait", "20")
    assert result.exit_code == 4
    assert "exited with code 3" in result.stderr
    assert "| loading config" in result.stderr and "the GPU caught fire" in result.stderr
    assert not (project / ".reproml" / js.STATE_NAME).exists()
    assert "the GPU caught fire" in (project / ".reproml" / js.LOG_NAME).read_text()  # the log is kept


def test_a_server_that_never_answers_is_stopped_after_wait(tmp_path):
    project = make_project(tmp_path / "mute", venv=None)
    fake_python(project, 'echo "thinking"; exec sleep 30')
    started = time.monotonic()
    result = invoke("start", str(project), "--wait", "1")
    assert result.exit_code == 4
    assert "did not answer" in result.stderr and "within 1 s" in result.stderr
    assert time.monotonic() - started < 10
    assert not processes_mentioning(project)
    assert not (project / ".reproml" / js.STATE_NAME).exists()


# ----------------------------------------------------------------------------------------------------------
# ports


def test_explicit_busy_port_fails_clearly_and_starts_nothing(tmp_path):
    project = make_project(tmp_path / "busy", venv="bare")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = invoke("start", str(project), "--port", str(port))
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "--port" in result.stderr
    assert not (project / ".reproml" / js.STATE_NAME).exists()


def test_choose_port_skips_a_busy_default(monkeypatch):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        monkeypatch.setattr(jupyter, "DEFAULT_PORT", busy)
        chosen = jupyter.choose_port("127.0.0.1", None)
        assert chosen != busy and jupyter.port_is_free("127.0.0.1", chosen)
        assert not jupyter.port_is_free("127.0.0.1", busy)
        assert jupyter.choose_port("127.0.0.1", None, avoid={chosen}) not in (busy, chosen)


# ----------------------------------------------------------------------------------------------------------
# records that point at the wrong process


@pytest.mark.parametrize("mismatch", ["create_time", "cmdline"])
def test_reused_pid_is_dead_and_never_signalled(tmp_path, sleeper, mismatch):
    project = make_project(tmp_path / "reuse", venv=None)
    real_time = sleeper.create_time()
    # create_time: the pid is the sleeper's but the record is from an older process; cmdline: same start time
    # (as if recorded from it) but a command line that is not the sleeper's.
    write_record(
        project, pid=sleeper.pid, create_time=real_time - 3600 if mismatch == "create_time" else real_time
    )

    data = json.loads(invoke("status", str(project), "--json").stdout)
    assert data["state"] == "dead" and data["pid"] == sleeper.pid and data["uptime_seconds"] is None
    assert "dead" in invoke("status", str(project)).stdout
    listed = json.loads(invoke("list", "--json").stdout)["servers"]
    assert [s["state"] for s in listed] == ["dead"]

    result = invoke("stop", str(project))
    assert result.exit_code == 0 and "already gone" in result.stdout
    assert sleeper.is_running() and sleeper.status() != psutil.STATUS_ZOMBIE
    assert not (project / ".reproml" / js.STATE_NAME).exists()
    assert not (project / ".reproml" / js.TOKEN_NAME).exists()
    assert json.loads(invoke("list", "--json").stdout) == {"servers": []}


def test_stop_all_cleans_entries_of_removed_projects_without_touching_the_pid(tmp_path, sleeper):
    project = make_project(tmp_path / "gone", venv=None)
    write_record(project, pid=sleeper.pid, create_time=sleeper.create_time() - 10)
    import shutil

    shutil.rmtree(project)
    result = invoke("stop", "--all")
    assert result.exit_code == 0 and "already gone" in result.stdout
    assert sleeper.is_running()
    assert js.registered() == []


def test_damaged_state_file_reads_as_stopped(tmp_path):
    project = make_project(tmp_path / "junk", venv=None)
    state = js.ensure_private_dir(project / ".reproml")
    (state / js.STATE_NAME).write_text("{not json")
    assert json.loads(invoke("status", str(project), "--json").stdout)["state"] == "stopped"
    (state / js.STATE_NAME).write_text('{"pid": "12", "port": 1}')
    assert json.loads(invoke("status", str(project), "--json").stdout)["state"] == "stopped"
    assert invoke("stop", str(project)).exit_code == 0
    assert not (state / js.STATE_NAME).exists()


def test_logs_follow_ends_when_the_server_is_gone(tmp_path, sleeper):
    project = make_project(tmp_path / "logs", venv=None)
    record = write_record(project, pid=sleeper.pid, create_time=0.0)
    Path(record.log).write_text("".join(f"line {i}\n" for i in range(100)))
    result = invoke("logs", str(project), "-n", "3")
    assert result.exit_code == 0 and result.stdout == "line 97\nline 98\nline 99\n"
    started = time.monotonic()
    result = invoke("logs", str(project), "-n", "1", "--follow")
    assert result.exit_code == 0 and result.stdout == "line 99\n"
    assert time.monotonic() - started < 5


# ----------------------------------------------------------------------------------------------------------
# files


def test_private_files_and_registry_location(tmp_path, isolated_env):
    folder = js.ensure_private_dir(tmp_path / "state")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    os.chmod(folder, 0o755)
    js.ensure_private_dir(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    js.write_private(folder / "f", "secret")
    assert stat.S_IMODE((folder / "f").stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == ["f"]  # no temporary file left
    assert js.registry_dir() == isolated_env / ".local/state/reproml/jupyter"


def test_lock_times_out_with_a_clear_error(tmp_path):
    lock = tmp_path / "l"
    with (
        js.project_lock(lock, timeout=1),
        pytest.raises(ToolError, match="holds"),
        js.project_lock(lock, timeout=0.2),
    ):
        pass
    with js.project_lock(lock, timeout=0.2):  # released after the with
        pass


def test_uptime_and_render_helpers():
    assert jupyter.format_uptime(None) == "-"
    assert jupyter.format_uptime(59) == "59s"
    assert jupyter.format_uptime(61) == "1m01s"
    assert jupyter.format_uptime(3 * 3600 + 120) == "3h02m"
    assert jupyter.format_uptime(2 * 86400 + 3600) == "2d1h"


# ----------------------------------------------------------------------------------------------------------
# kernel


def test_kernel_registers_the_project_environment(tmp_path, isolated_env):
    project = make_project(tmp_path / "Cell-Seg")
    result = invoke("kernel", str(project))
    assert result.exit_code == 0, result.output
    assert "reproml-cell_seg" in result.stdout
    spec = isolated_env / ".local/share/jupyter/kernels/reproml-cell_seg/kernel.json"
    data = json.loads(spec.read_text())
    assert data["argv"][0] == str(project.resolve() / ".venv/bin/python")
    assert data["display_name"] == "Cell-Seg (uv dev)"

    result = invoke("kernel", str(project), "--name", "custom", "--display-name", "My env")
    assert result.exit_code == 0
    assert json.loads((spec.parent.parent / "custom/kernel.json").read_text())["display_name"] == "My env"
    assert invoke("kernel", str(project), "--name", "bad name!").exit_code == 2


def test_kernel_again_adds_nothing_and_remove_undoes_it(tmp_path, isolated_env):
    project = make_project(tmp_path / "Cell-Seg")
    assert invoke("kernel", str(project)).exit_code == 0
    spec = isolated_env / ".local/share/jupyter/kernels/reproml-cell_seg/kernel.json"
    before = spec.stat().st_mtime_ns
    again = invoke("kernel", str(project))
    assert again.exit_code == 0 and "already registered" in again.stdout
    assert spec.stat().st_mtime_ns == before
    assert sorted(p.name for p in spec.parent.parent.iterdir()) == ["reproml-cell_seg"]

    removed = invoke("kernel", str(project), "--remove")
    assert removed.exit_code == 0, removed.output
    assert "Removed kernel 'reproml-cell_seg'" in removed.stdout
    assert not spec.parent.exists()
    gone = invoke("kernel", str(project), "--remove")
    assert gone.exit_code == 2 and "no kernel named 'reproml-cell_seg'" in gone.stderr


def test_kernel_remove_refuses_a_kernel_of_another_environment(tmp_path, isolated_env):
    project = make_project(tmp_path / "Cell-Seg")
    foreign = isolated_env / ".local/share/jupyter/kernels/reproml-cell_seg"
    foreign.mkdir(parents=True)
    (foreign / "kernel.json").write_text(json.dumps(
        {"argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "someone else's", "language": "python"}))
    result = invoke("kernel", str(project), "--remove")
    assert result.exit_code == 2
    assert "not this project's" in result.stderr
    assert (foreign / "kernel.json").is_file()


def test_notebook_app_suggests_notebook_not_jupyterlab(tmp_path):
    project = make_project(tmp_path / "nonb", venv="bare")
    result = invoke("start", str(project), "--notebook", "--wait", "20")
    assert result.exit_code == 4, result.output
    assert "has no notebook" in result.stderr
    assert "uv add --dev notebook ipykernel" in result.stderr and "jupyterlab" not in result.stderr


def test_kernel_without_ipykernel_names_the_fix(tmp_path):
    project = make_project(tmp_path / "nok", venv="bare")
    result = invoke("kernel", str(project))
    assert result.exit_code == 4
    assert "has no ipykernel" in result.stderr and "uv sync" in result.stderr


def test_ctrl_c_while_waiting_kills_the_server_and_its_record(tmp_path, monkeypatch):
    project = make_project(tmp_path / "interrupted", venv=None)
    fake_python(project, 'echo "booting"; exec sleep 30')

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(js.Server, "probe", interrupt)
    result = invoke("start", str(project))
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert not (project / ".reproml" / js.STATE_NAME).exists()
    assert not (project / ".reproml" / js.TOKEN_NAME).exists()
    assert js.registered() == []
    assert not processes_mentioning(project)
