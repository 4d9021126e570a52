"""reproml run --slurm and reproml jobs: against a real single-node SLURM cluster (tests/slurm_cluster.py, the
``slurm`` fixture), and the errors that need no cluster (no SLURM on PATH, bad project defaults)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import http_status, path_without
from reproml import slurm as slurm_module
from reproml.cli import app
from reproml.commands import run as run_module

runner = CliRunner()
SYSTEM_PYTHON = "/usr/bin/python3"  # readable by every user: job environments of other users need that
cluster_test = [pytest.mark.slurm, pytest.mark.slow]


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), catch_exceptions=False)


def make_project(root: Path, *, src: Path | None = None, pyproject_extra: str = "",
                 jupyter: bool = False) -> Path:
    """A small uv project whose .venv comes from the system's Python and sees this session's pytest (and
    JupyterLab, with ``jupyter``)."""
    import pytest as pytest_module

    root.mkdir(parents=True, exist_ok=True)
    if not (root / "pyproject.toml").exists():
        (root / "pyproject.toml").write_text(f'[project]\nname = "{root.name}"\nversion = "0.1"\n'
                                             + pyproject_extra)
    python = SYSTEM_PYTHON if os.access(SYSTEM_PYTHON, os.X_OK) else shutil.which("python3")
    subprocess.run([python, "-m", "venv", "--without-pip", str(root / ".venv")], check=True, timeout=60)
    site = next((root / ".venv").glob("lib/python*/site-packages"))
    modules = [pytest_module]
    if jupyter:
        import ipykernel
        import jupyter_server
        import jupyterlab

        modules += [jupyterlab, jupyter_server, ipykernel]
    folders = sorted({str(Path(m.__file__).resolve().parent.parent) for m in modules})
    folders += [str(src)] if src else []
    (site / "_test_paths.pth").write_text("\n".join(folders) + "\n")
    return root


def jobs_folder(project: Path) -> Path:
    return project / ".reproml" / "jobs"


def records(project: Path) -> list[str]:
    folder = jobs_folder(project)
    return sorted(p.name for p in folder.glob("*.json")) if folder.exists() else []


# ----------------------------------------------------------------------------------------------------------
# without a cluster


def test_no_slurm_on_path_is_one_line_and_touches_nothing(tmp_path, monkeypatch):
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0.1"\n')
    monkeypatch.setenv("PATH", path_without("sbatch", path_without("scontrol", os.environ["PATH"])))
    result = runner.invoke(app, ["run", "--slurm", "--project", str(project), "--", "true"])
    assert result.exit_code == 4
    assert result.stderr == (
        "reproml: error: SLURM is not on PATH (sbatch not found) "
        "(run it on the cluster's login node, where `module load slurm` may be needed first)\n"
    )
    assert not (project / ".reproml").exists() and not (project / ".venv").exists()
    listed = runner.invoke(app, ["jobs", "--project", str(project)])
    assert listed.exit_code == 4 and "SLURM is not on PATH (scontrol not found)" in listed.stderr


def test_run_without_slurm_flag_or_command_is_a_usage_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0.1"\n')
    no_flag = runner.invoke(app, ["run", "--project", str(tmp_path), "--", "true"])
    assert no_flag.exit_code == 2 and "needs --slurm" in no_flag.stderr
    assert not (tmp_path / ".reproml").exists()


def test_project_defaults_are_laid_under_the_options(tmp_path):
    from reproml.project import find_project

    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0.1"\n'
        '[tool.reproml.slurm]\npartition = "gpu"\naccount = "lab"\ntime = "0-02:00"\ngpus = 1\n'
    )
    project = find_project(tmp_path)
    request = run_module.resources(project, {"time": "0-00:10", "gpus": None, "cpus": 4})
    assert request.sbatch_args() == [
        "--gpus=1", "--cpus-per-task=4", "--time=0-00:10", "--partition=gpu", "--account=lab",
    ]


@pytest.mark.parametrize(("table", "message"), [
    ('partion = "gpu"', "unknown key 'partion'"),
    ("gpus = \"two\"", "gpus must be a whole number"),
    ('partition = ""', "partition must be a non-empty string"),
])
def test_bad_project_defaults_are_one_line(tmp_path, table, message):
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "p"\n[tool.reproml.slurm]\n{table}\n')
    from reproml.project import find_project

    with pytest.raises(Exception, match=message):
        run_module.project_defaults(find_project(tmp_path))


def test_jupyter_slurm_options_only_go_together(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0.1"\n')
    port = runner.invoke(app, ["jupyter", "start", str(tmp_path), "--slurm", "--port", "9999"])
    assert port.exit_code == 2 and "leave out --port/--ip/--public" in port.stderr
    gpus = runner.invoke(app, ["jupyter", "start", str(tmp_path), "--gpus", "1"])
    assert gpus.exit_code == 2 and "need --slurm" in gpus.stderr
    assert not (tmp_path / ".reproml").exists()


def test_scontrol_lines_and_scheduler_reasons_are_read_right():
    fields = slurm_module.parse_scontrol(
        "JobId=7 JobName=my job JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 RunTime=00:00:01 "
        "Command=(null) WorkDir=/tmp/a b\n"
    )
    assert fields["JobName"] == "my job" and fields["WorkDir"] == "/tmp/a b" and fields["ExitCode"] == "3:0"
    assert slurm_module._exit_code("3:0") == 3 and slurm_module._exit_code("0:15") == 128 + 15
    durations = ("00:05:00", "1-02:03:04", "07:09", "UNLIMITED", None)
    assert [slurm_module.parse_duration(t) for t in durations] == [300, 93784, 429, None, None]
    assert slurm_module.format_duration(93784) == "1-02:03:04"
    assert slurm_module.format_duration(299) == "00:04:59"
    job = slurm_module.JobInfo
    assert job("7", "RUNNING", elapsed="00:01:00", time_limit="00:05:00").time_left_seconds == 240
    assert job("7", "COMPLETED", elapsed="00:01:00", time_limit="00:05:00").time_left_seconds is None
    assert job("7", "RUNNING", elapsed="00:01:00", time_limit="UNLIMITED").time_left_seconds is None
    assert slurm_module.scheduler_reason(
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n"
    ) == "Batch job submission failed: Invalid partition name specified"


# ----------------------------------------------------------------------------------------------------------
# a real cluster


@pytest.mark.slurm
@pytest.mark.slow
def test_run_wait_runs_the_generated_projects_tests_in_its_environment(tmp_path, slurm):
    created = invoke("new", str(tmp_path / "proj"), "-t", "uv-python-ml", "--framework", "none", "--no-lock",
                     "--no-git", "--no-docs", "--no-jupyter", "--ci", "none", "--no-pre-commit", "--yes")
    assert created.exit_code == 0, created.output
    project = make_project(tmp_path / "proj", src=tmp_path / "proj" / "src")
    result = invoke("run", "--slurm", "--wait", "--project", str(project), "--", "python", "-m", "pytest",
                    "-q", "-p", "no:cacheprovider")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.splitlines()[0]
    assert job_id.isdigit() and " passed" in result.stdout
    # The job ran the environment's interpreter, from the project folder; its log is the owner's alone.
    folder = jobs_folder(project)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / f"{job_id}.log").stat().st_mode) == 0o600
    listed = json.loads(invoke("jobs", "--json", "--project", str(project)).stdout)
    assert [(j["id"], j["state"], j["exit_code"]) for j in listed] == [(job_id, "COMPLETED", 0)]


@pytest.mark.slurm
@pytest.mark.slow
def test_failing_command_gives_its_exit_code_and_gpus_reach_the_job(tmp_path, slurm):
    project = make_project(tmp_path / "p")
    failed = runner.invoke(app, ["run", "--slurm", "--wait", "--project", str(project), "--",
                                 "sh", "-c", "echo from-the-job; exit 7"])
    assert failed.exit_code == 7 and "from-the-job" in failed.stdout
    assert "ended FAILED with exit code 7" in failed.stderr
    gpus = invoke("run", "--slurm", "--wait", "--gpus", "1", "--project", str(project), "--",
                  "sh", "-c", 'echo "gpu=$CUDA_VISIBLE_DEVICES venv=$VIRTUAL_ENV cwd=$PWD"; python -c '
                  '"import sys; print(sys.prefix)"')
    assert gpus.exit_code == 0, gpus.output
    venv = project.resolve() / ".venv"
    assert f"gpu=0 venv={venv} cwd={project.resolve()}" in gpus.stdout
    assert gpus.stdout.splitlines()[-1] == str(venv)


@pytest.mark.slurm
@pytest.mark.slow
def test_jobs_lists_logs_and_cancels(tmp_path, slurm):
    project = make_project(tmp_path / "p")
    submitted = invoke("run", "--slurm", "--time", "0-00:05", "--project", str(project), "--",
                       "sh", "-c", "echo started; sleep 60")
    assert submitted.exit_code == 0, submitted.output
    job_id = submitted.stdout.strip()
    info = None
    for _ in range(100):  # running, and its first line written
        info = slurm_module.job_info(job_id)
        if info and info.state == "RUNNING" and "started" in invoke(
            "jobs", "--project", str(project), "logs", job_id).stdout:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    assert info is not None and info.state == "RUNNING"
    table = invoke("jobs", "--project", str(project)).stdout.splitlines()
    assert table[0].split()[:6] == ["JOB", "STATE", "ELAPSED", "LEFT", "LIMIT", "EXIT"]
    assert table[1].split()[:2] == [job_id, "RUNNING"] and table[1].endswith("sh -c echo started; sleep 60")
    elapsed, left, limit = table[1].split()[2:5]
    assert limit == "00:05:00" and elapsed.startswith("00:00:0")
    assert left == "00:05:00" if elapsed == "00:00:00" else left.startswith("00:04:5")
    running = json.loads(invoke("jobs", "--json", "--project", str(project)).stdout)[0]
    assert 0 <= running["elapsed_seconds"] <= 10 and 290 <= running["time_left_seconds"] <= 300
    assert running["elapsed_seconds"] + running["time_left_seconds"] == 300
    cancelled = invoke("jobs", "--project", str(project), "cancel", job_id)
    assert cancelled.exit_code == 0 and f"job {job_id} cancelled" in cancelled.stderr
    for _ in range(100):
        if slurm_module.job_info(job_id).state == "CANCELLED":
            break
        subprocess.run(["sleep", "0.1"], check=True)
    listed = json.loads(invoke("jobs", "--json", "--project", str(project)).stdout)
    assert [(j["id"], j["state"], j["time_left_seconds"]) for j in listed] == [(job_id, "CANCELLED", None)]
    unknown = runner.invoke(app, ["jobs", "--project", str(project), "logs", "999999"])
    assert unknown.exit_code == 5 and "not one of this project's jobs" in unknown.stderr


@pytest.mark.slurm
@pytest.mark.slow
def test_bad_partition_is_the_schedulers_reason_in_one_line_and_leaves_nothing(tmp_path, slurm):
    project = make_project(tmp_path / "p", pyproject_extra='[tool.reproml.slurm]\npartition = "nope"\n')
    result = runner.invoke(app, ["run", "--slurm", "--project", str(project), "--", "true"])
    assert result.exit_code == 4 and result.stdout == ""
    assert result.stderr == (
        "reproml: error: sbatch refused the job: "
        "Batch job submission failed: Invalid partition name specified\n"
    )
    assert records(project) == [] and list(jobs_folder(project).glob("*.log")) == []
    # The option beats the project's default.
    ok = invoke("run", "--slurm", "--wait", "--partition", "debug", "--project", str(project), "--", "true")
    assert ok.exit_code == 0, ok.output


@pytest.mark.slurm
@pytest.mark.slow
def test_node_whose_driver_cannot_run_the_environments_cuda_build_fails_early(tmp_path, slurm, monkeypatch):
    project = make_project(tmp_path / "p")
    site = next((project / ".venv").glob("lib/python*/site-packages"))
    (site / "torch-2.12.0+cu130.dist-info").mkdir()
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "550.54.14")  # the job's node: a driver for cu126 only
    result = runner.invoke(app, ["run", "--slurm", "--wait", "--gpus", "1", "--project", str(project), "--",
                                 "sh", "-c", "echo the command ran"])
    assert result.exit_code == run_module.NODE_CHECK_FAILED
    assert "the command ran" not in result.stdout
    assert ("this node's NVIDIA driver (550.54.14) cannot run the environment's PyTorch cu130 build "
            "(it needs driver >= 580)") in result.stdout
    monkeypatch.setenv("REPROML_CUDA_DRIVER_VERSION", "580.65.06")
    fine = invoke("run", "--slurm", "--wait", "--gpus", "1", "--project", str(project), "--",
                  "sh", "-c", "echo the command ran")
    assert fine.exit_code == 0 and "the command ran" in fine.stdout


# ----------------------------------------------------------------------------------------------------------
# Jupyter in a job


def _wait_state(job_id: str, state: str) -> None:
    for _ in range(100):
        info = slurm_module.job_info(job_id)
        if info is None or info.state == state:
            return
        subprocess.run(["sleep", "0.1"], check=True)


@pytest.mark.slurm
@pytest.mark.slow
def test_jupyter_in_a_job_answers_keeps_its_token_private_and_stop_cancels(tmp_path, slurm):
    project = make_project(tmp_path / "nb", jupyter=True)
    started = invoke("jupyter", "start", str(project), "--slurm", "--time", "0-00:10", "--json",
                     "--wait", "60")
    assert started.exit_code == 0, started.output
    data = json.loads(started.stdout)
    state = project / ".reproml"
    token = (state / "jupyter.token").read_text()
    record = json.loads((state / "jupyter.json").read_text())
    job_id = record["extra"]["slurm_job"]
    assert data["state"] == "running" and data["url"].endswith(f"?token={token}")
    assert data["tunnel"] == (f"ssh -N -L {data['port']}:localhost:{data['port']} "
                              f"{data['tunnel'].split()[-1]}")
    api = f"http://127.0.0.1:{data['port']}/api/status"
    assert http_status(api, token) == 200 and http_status(api, "wrong") == 403
    # Where other users look: the scheduler's views, every process's command line, the job's log.
    views = [
        subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout,
        subprocess.run(["squeue", "-o", "%all"], capture_output=True, text=True).stdout,
        subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout,
        (state / "jupyter.log").read_text(),
    ]
    assert job_id in views[0] and "jupyterlab" in views[2] and "Jupyter Server" in views[3]
    assert not [view for view in views if token in view]
    assert stat.S_IMODE((state / "jupyter.log").stat().st_mode) == 0o600
    status = json.loads(invoke("jupyter", "status", str(project), "--json").stdout)
    assert status["state"] == "running" and status["slurm_job"] == job_id
    assert 580 <= status["time_left_seconds"] <= 600  # the 10-minute limit, less the seconds it has run
    text = invoke("jupyter", "status", str(project)).stdout
    assert f"  SLURM job {job_id}: 9m" in text and "s left before its time limit" in text
    assert invoke("jupyter", "url", str(project)).stdout.strip() == data["url"]

    stopped = invoke("jupyter", "stop", str(project))
    assert stopped.exit_code == 0 and "its SLURM job was cancelled" in stopped.stdout
    _wait_state(job_id, "CANCELLED")
    assert slurm_module.job_info(job_id).state == "CANCELLED"
    assert not (state / "jupyter.json").exists() and not (state / "jupyter.token").exists()
    assert json.loads(invoke("jupyter", "status", str(project), "--json").stdout)["state"] == "stopped"

    # A job cancelled behind reproml's back reads as dead; stop then only cleans up.
    again = invoke("jupyter", "start", str(project), "--slurm", "--json")
    assert again.exit_code == 0, again.output
    second = json.loads((state / "jupyter.json").read_text())["extra"]["slurm_job"]
    subprocess.run(["scancel", second], check=True)
    _wait_state(second, "CANCELLED")
    assert json.loads(invoke("jupyter", "status", str(project), "--json").stdout)["state"] == "dead"
    assert "already gone" in invoke("jupyter", "stop", str(project)).stdout
    assert not (state / "jupyter.json").exists()


@pytest.mark.slurm
@pytest.mark.slow
def test_jupyter_job_that_dies_at_start_is_one_line_with_the_log_and_leaves_nothing(tmp_path, slurm):
    project = make_project(tmp_path / "nojupyter")
    for pth in (project / ".venv").glob("lib/python*/site-packages/_test_paths.pth"):
        pth.unlink()  # the environment sees no JupyterLab
    result = runner.invoke(app, ["jupyter", "start", str(project), "--slurm", "--wait", "30"])
    assert result.exit_code == 4
    errors = [line for line in result.stderr.splitlines() if line.startswith("reproml: error:")]
    assert len(errors) == 1 and "ended (FAILED) before the server was ready" in errors[0]
    assert "No module named jupyterlab" in result.stderr  # the log's tail
    state = project / ".reproml"
    assert not (state / "jupyter.json").exists() and not (state / "jupyter.token").exists()
    assert json.loads(invoke("jupyter", "status", str(project), "--json").stdout)["state"] == "stopped"


@pytest.mark.slurm
@pytest.mark.slow
def test_another_user_finds_no_token_in_the_scheduler_processes_or_files(slurm, unprivileged):
    project = make_project(unprivileged.tmp / "shared" / "nb", jupyter=True)  # on a path others can walk
    os.chmod(project.parent, 0o755)
    os.chmod(project, 0o755)
    started = invoke("jupyter", "start", str(project), "--slurm")
    assert started.exit_code == 0, started.output
    state = project / ".reproml"
    token = (state / "jupyter.token").read_text()
    job_id = json.loads((state / "jupyter.json").read_text())["extra"]["slurm_job"]
    try:
        assert unprivileged.env["SLURM_CONF"] == slurm.env["SLURM_CONF"]
        views = [
            unprivileged.run(["scontrol", "show", "job", job_id]),
            unprivileged.run(["squeue", "-o", "%all"]),
            unprivileged.run(["ps", "-eww", "-o", "args"]),
            unprivileged.run(["sh", "-c", f"cat {state}/jupyter.log {state}/jupyter.token "
                                          f"{state}/jupyter-runtime/* {state}/jobs/*"]),
        ]
        # The other user sees the job and the server's process, and nothing of the project's state.
        assert f"JobId={job_id}" in views[0].stdout and job_id in views[1].stdout
        assert "jupyterlab" in views[2].stdout
        assert views[3].stdout == "" and "Permission denied" in views[3].stderr
        assert not [view for view in views if token in view.stdout + view.stderr]
    finally:
        assert invoke("jupyter", "stop", str(project)).exit_code == 0


# ----------------------------------------------------------------------------------------------------------
# a job that cannot start, and Ctrl-C while waiting


def _running(job_id: str) -> None:
    _wait_state(job_id, "RUNNING")
    assert slurm_module.job_info(job_id).state == "RUNNING"


@pytest.mark.slurm
@pytest.mark.slow
def test_wait_start_names_squeues_reason_and_leaves_or_cancels_the_pending_job(tmp_path, slurm):
    project = make_project(tmp_path / "p", jupyter=True)
    busy = invoke("run", "--slurm", "--gpus", "1", "--project", str(project), "--", "sleep", "60")
    busy_id = busy.stdout.strip()
    _running(busy_id)  # the cluster's one GPU is taken: the next GPU job waits for Resources

    left = runner.invoke(app, ["run", "--slurm", "--wait", "--gpus", "1", "--wait-start", "2",
                               "--project", str(project), "--", "echo", "ran"])
    pending = left.stdout.strip()
    assert left.exit_code == 4 and pending.isdigit()
    assert left.stderr.splitlines()[-1] == (
        f"reproml: error: job {pending} is still pending after 2 s (Resources); "
        f"it stays queued (reproml jobs cancel {pending})"
    )
    assert slurm_module.job_info(pending).state == "PENDING"
    assert invoke("jobs", "--project", str(project), "cancel", pending).exit_code == 0

    cancelled = runner.invoke(app, ["run", "--slurm", "--gpus", "1", "--wait-start", "1",
                                    "--cancel-if-pending", "--project", str(project), "--", "echo", "ran"])
    gone = cancelled.stdout.strip()
    assert cancelled.exit_code == 4
    assert cancelled.stderr.splitlines()[-1] == (
        f"reproml: error: job {gone} is still pending after 1 s (Resources); it was cancelled"
    )
    _wait_state(gone, "CANCELLED")
    assert slurm_module.job_info(gone).state == "CANCELLED"

    # A Jupyter server still pending is cancelled, and nothing of it is left recorded.
    server = runner.invoke(app, ["jupyter", "start", str(project), "--slurm", "--gpus", "1",
                                 "--wait-start", "1"])
    assert server.exit_code == 4
    assert "is still pending after 1 s (Resources); it was cancelled" in server.stderr
    ids = sorted((p.stem for p in jobs_folder(project).glob("*.json")), key=int)
    assert ids[:3] == [busy_id, pending, gone] and len(ids) == 4
    _wait_state(ids[3], "CANCELLED")
    assert slurm_module.job_info(ids[3]).state == "CANCELLED"
    state = project / ".reproml"
    assert not (state / "jupyter.json").exists() and not (state / "jupyter.token").exists()
    assert slurm_module.job_info(busy_id).state == "RUNNING"
    assert runner.invoke(app, ["run", "--slurm", "--cancel-if-pending", "--project", str(project), "--",
                               "true"]).exit_code == 2
    subprocess.run(["scancel", busy_id], check=True)


@pytest.mark.slurm
@pytest.mark.slow
def test_ctrl_c_while_waiting_without_a_terminal_leaves_the_job_and_says_how_to_cancel(tmp_path, slurm):
    import signal
    import sys

    project = make_project(tmp_path / "p")
    child = subprocess.Popen(
        [sys.executable, "-m", "reproml", "run", "--slurm", "--wait", "--project", str(project), "--",
         "sh", "-c", "echo started; sleep 60"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        job_id = child.stdout.readline().strip()
        assert job_id.isdigit()
        assert child.stdout.readline() == "started\n"  # it is following the running job's log
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130
    assert stderr.splitlines()[-1] == f"reproml: job {job_id} keeps running (reproml jobs cancel {job_id})"
    assert slurm_module.job_info(job_id).state == "RUNNING"
    assert invoke("jobs", "--project", str(project), "cancel", job_id).exit_code == 0


@pytest.mark.slurm
@pytest.mark.slow
def test_a_job_scontrol_has_forgotten_is_read_from_sacct_else_from_its_recorded_exit(tmp_path, slurm,
                                                                                      monkeypatch):
    from reproml.commands.run import jobs_dir
    from reproml.jupyter_state import write_private
    from reproml.project import find_project

    project = make_project(tmp_path / "p")
    folder = jobs_dir(find_project(project))
    for job_id in ("999998", "999999"):  # ids the cluster never gave: scontrol says "Invalid job id"
        record = {"id": job_id, "command": ["true"], "submitted": 1}
        write_private(folder / f"{job_id}.json", json.dumps(record))
    write_private(folder / "999999.exit", "0\n")
    monkeypatch.setattr(slurm_module, "_no_accounting", False)

    def listed() -> list[tuple[str, str, int | None, str | None]]:
        jobs = json.loads(invoke("jobs", "--json", "--project", str(project)).stdout)
        return [(j["id"], j["state"], j["exit_code"], j.get("elapsed")) for j in jobs]

    # This cluster has no accounting (sacct fails): the recorded exit code, else GONE.
    assert listed() == [("999998", "GONE", None, None), ("999999", "COMPLETED", 0, None)]
    assert slurm_module._no_accounting
    # A cluster with accounting (slurmdbd, which cannot run here: a stand-in sacct answers as it would).
    monkeypatch.setattr(slurm_module, "_no_accounting", False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sacct").write_text(
        '#!/bin/sh\ncase " $* " in\n'
        '  *" -j 999998 "*) echo "999998|CANCELLED by 0|0:15|00:00:07|00:05:00|localhost";;\n'
        "esac\n"
    )
    (bin_dir / "sacct").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert listed() == [("999998", "CANCELLED", 128 + 15, "00:00:07"), ("999999", "COMPLETED", 0, None)]


@pytest.mark.slurm
@pytest.mark.slow
def test_ctrl_c_while_waiting_on_a_terminal_asks_and_cancels_on_yes(tmp_path, slurm):
    import pty
    import sys

    from helpers import read_until, wait_or_kill, wait_until_reading_the_terminal

    project = make_project(tmp_path / "p")
    pid, fd = pty.fork()
    if pid == 0:  # reproml on a real terminal, following its job's log
        os.execvp(sys.executable, [sys.executable, "-m", "reproml", "run", "--slurm", "--wait", "--project",
                                   str(project), "--", "sh", "-c", "echo started; sleep 60"])
    output, status = "", None
    try:
        output = read_until(fd, r"started", timeout=60)
        job_id = output.split()[0].strip()
        assert job_id.isdigit(), output
        os.write(fd, b"\x03")  # Ctrl-C as the terminal sends it
        output += read_until(fd, r"\[y/N\]: $", timeout=30)
        assert f"cancel job {job_id}? [y/N]: " in output, output
        wait_until_reading_the_terminal(pid)
        os.write(fd, b"y\r")
        output += read_until(fd, r"cancelled", timeout=30)
        output += read_until(fd, r"$a", timeout=3)
    finally:
        status = wait_or_kill(pid, timeout=30)
        os.close(fd)
    assert status is not None and os.waitstatus_to_exitcode(status) == 130, output
    assert f"reproml: job {job_id} cancelled" in output
    state = slurm_module.job_info(job_id)
    assert state is None or state.state in ("CANCELLED", "COMPLETING"), state
