"""`reproml jupyter start --slurm`: JupyterLab in a SLURM job on a compute node, recorded like a local one.

The token never shows to other users: it reaches Jupyter as JUPYTER_TOKEN in sbatch's environment (not in
argv, the batch script's arguments or the script itself), the job runs with umask 077 and logs to the
project's owner-only .reproml/, and Jupyter, given its token, never prints it. The port is Jupyter's own
choice (port 0) read from its runtime file (0600 in a 0700 folder). `status`, `url`, `list`, `logs` and
`stop` read the record like a local server's; its ``extra`` names the job, whose state says whether the server
can still be there.
"""

from __future__ import annotations

import os
import secrets
import shlex
import time
from pathlib import Path
from typing import Any

from reproml import jupyter_state as js
from reproml import slurm
from reproml.commands import jupyter
from reproml.commands import run as run_module
from reproml.errors import ToolError
from reproml.project import find_project

RUNTIME_DIR = "jupyter-runtime"
JOB_KEY = "slurm_job"


def _command(app: str) -> list[str]:
    module = jupyter.APPS[app][0]
    # The node's own name: the address the login node reaches it by (the job's shell expands it there).
    words = ["exec python -m", module, "--no-browser", '--ServerApp.ip="${SLURMD_NODENAME:-127.0.0.1}"',
             "--ServerApp.port=0", "--ServerApp.port_retries=0", "--ServerApp.root_dir=."]
    if os.geteuid() == 0:
        words.append("--allow-root")  # Jupyter refuses root without it; never passed otherwise
    return ["sh", "-c", " ".join(words)]


def _runtime_info(folder: Path) -> dict[str, Any] | None:
    for path in sorted(folder.glob("jpserver-*.json")):
        data = js.read_json(path)
        if data and isinstance(data.get("port"), int) and data["port"] > 0:
            return data
    return None


def start(path: str | Path, given: dict[str, Any], *, app: str = "lab",
          wait: float = jupyter.DEFAULT_WAIT, wait_start: float | None = None) -> jupyter.StartResult:
    """Submit the server's job, wait until it answers /api/status from here, record it; or report the running
    one. A job that fails before the server is ready, that is still pending after ``wait_start`` seconds, or
    that does not answer within ``wait`` seconds, is cancelled and nothing is left recorded (a server
    reproml has not recorded would be of no use: its token is gone)."""
    project = find_project(path)
    state_dir = js.ensure_private_dir(project.state_dir)
    state_file, token_file, log_file, lock_file = jupyter._paths(state_dir)
    with js.project_lock(lock_file, timeout=wait + 30):
        for state_path in (state_file, token_file, log_file):
            js.check_state_file(state_path)
        existing = js.read_project_record(state_dir, project.root)
        if existing is not None:
            current = jupyter.evaluate(existing, js.read_token(token_file))
            if current.state == js.RUNNING:
                return jupyter.StartResult(current, True, tunnel(existing))
            if current.alive:
                raise ToolError(
                    f"a Jupyter server for this project is {current.state} but does not answer",
                    hint="run `reproml jupyter stop` first",
                )
        jupyter._clean(project.root, state_dir)
        runtime = js.ensure_private_dir(state_dir / RUNTIME_DIR)
        js.unlink_quietly(*runtime.iterdir())
        os.close(js.open_private_log(log_file))  # 0600 before the job appends to it
        token = secrets.token_urlsafe(32)
        environment = {"JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(runtime), "PYTHONUNBUFFERED": "1"}
        command = _command(app)
        submitted = run_module.submit(project.root, command, given, kind="jupyter", extra_env=environment,
                                      log=log_file)
        try:
            if wait_start is not None:
                slurm.wait_start(submitted.job_id, min(wait_start, wait), cancel_if_pending=True)
            record = _wait_ready(project, submitted.job_id, runtime, log_file, command, app, token, wait)
            js.write_private(token_file, token)
            js.write_private(state_file, record.to_json())
            js.register(record)
        except BaseException as error:
            if not isinstance(error, slurm.StillPending):  # that one has cancelled it already
                slurm.cancel(submitted.job_id)
            jupyter._clean(project.root, state_dir)
            raise
        current = jupyter.evaluate(record, token, answered=True)
        return jupyter.StartResult(current, False, tunnel(record))


def _wait_ready(project: Any, job_id: str, runtime: Path, log: Path, command: list[str], app: str,
                token: str, wait: float) -> js.ServerRecord:
    deadline = time.monotonic() + wait
    started = time.time()
    info = None
    while time.monotonic() < deadline:
        info = slurm.job_info(job_id)
        if info is None or info.finished:
            state = info.state if info else "gone"
            raise jupyter.ServerStartError(
                f"the Jupyter job {job_id} ended ({state}) before the server was ready",
                log_tail=jupyter.log_tail(log, 15), hint="see the log lines above",
            )
        data = _runtime_info(runtime) if info.state == "RUNNING" else None
        if data is not None:
            record = js.ServerRecord(
                project=str(project.root), pid=int(data.get("pid") or 2), create_time=started,
                cmdline=command, port=int(data["port"]), ip=str(data.get("hostname") or info.node),
                app=app, started_at=started, log=str(log), manager=project.manager, ready=True,
                extra={JOB_KEY: job_id, "node": info.node or ""},
            )
            if js.probe(record, token) == "ok":
                return record
        time.sleep(jupyter.POLL_INTERVAL * 5)
    why = f"{info.state}: {info.reason}" if info and info.reason else (info.state if info else "unknown")
    raise ToolError(f"the Jupyter job {job_id} did not answer within {wait:g} s ({why}); it was cancelled",
                    hint="a longer --wait, or a less busy partition")


def evaluate(record: js.ServerRecord, token: str | None, common: dict[str, Any]) -> jupyter.ServerStatus:
    """A job's server: dead once the scheduler says the job is over (or forgets it), else probed."""
    job_id = str(record.extra[JOB_KEY])
    info = slurm.job_info(job_id)
    if info is None or info.finished:
        return jupyter.ServerStatus(state=js.DEAD, slurm_job=job_id, **common)
    answer = js.probe(record, token)
    state = js.RUNNING if answer is not None else js.UNHEALTHY
    return jupyter.ServerStatus(state=state, url=jupyter.server_url(record, token),
                                uptime_seconds=max(0.0, time.time() - record.started_at), slurm_job=job_id,
                                time_left_seconds=info.time_left_seconds, **common)


def stop(record: js.ServerRecord) -> str:
    """Cancel the server's job: "scancel", or "stale" when the job was already over."""
    job_id = str(record.extra[JOB_KEY])
    info = slurm.job_info(job_id)
    if info is None or info.finished:
        return "stale"
    slurm.cancel(job_id)
    return "scancel"


def tunnel(record: js.ServerRecord) -> str:
    """From a laptop, through this login node, to the compute node."""
    import socket

    node = str(record.extra.get("node") or record.ip)
    login = f"{jupyter._user()}@{socket.gethostname()}"
    return f"ssh -N -L {record.port}:{shlex.quote(node)}:{record.port} {login}"

