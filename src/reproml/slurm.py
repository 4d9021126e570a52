"""The SLURM scheduler, through its own commands (sbatch, squeue, scontrol, scancel) and reproml's one
subprocess wrapper: nothing else to install on a login node, and the scheduler's own reason in every error.

Jobs are polled through scontrol, which keeps a finished job's state and exit code for MinJobAge (minutes);
a job it has forgotten is read from sacct where the cluster has accounting (slurmdbd; many restrict it, the
test cluster lacks it), else from the exit code reproml's job script records next to the log.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from reproml import process
from reproml.errors import ToolError, UsageError

COMMANDS = ("sbatch", "squeue", "scontrol", "scancel")
TIMEOUT = 60.0
POLL = 0.25  # seconds between looks at a job's state
# States after which a job never runs again (squeue/scontrol JobState).
FINAL_STATES = frozenset({
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
    "TIMEOUT",
})
_JOB_ID = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class Resources:
    """What a job asks for; None leaves the cluster's (or partition's) default."""

    gpus: int | None = None
    cpus: int | None = None
    mem: str | None = None
    time: str | None = None
    partition: str | None = None
    account: str | None = None

    def sbatch_args(self) -> list[str]:
        args = []
        for option, value in (
            ("--gpus", self.gpus), ("--cpus-per-task", self.cpus), ("--mem", self.mem), ("--time", self.time),
            ("--partition", self.partition), ("--account", self.account),
        ):
            if value is not None and value != "":
                args.append(f"{option}={value}")
        return args


@dataclass(frozen=True)
class JobInfo:
    """A job as scontrol describes it (None fields: not known)."""

    job_id: str
    state: str
    reason: str | None = None
    exit_code: int | None = None  # the batch script's, 128 + N when a signal N ended it
    elapsed: str | None = None
    time_limit: str | None = None
    node: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def elapsed_seconds(self) -> int | None:
        return parse_duration(self.elapsed)

    @property
    def time_left_seconds(self) -> int | None:
        """Seconds before the scheduler ends the job at its limit; None: finished, or no limit known."""
        limit = parse_duration(self.time_limit)
        if self.finished or limit is None:
            return None
        return max(0, limit - (self.elapsed_seconds or 0))


def parse_duration(text: str | None) -> int | None:
    """SLURM's ``[D-]HH:MM:SS`` (or ``MM:SS``) in seconds; None for UNLIMITED, Partition_Limit and such."""
    match = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", text or "")
    if not match:
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def format_duration(seconds: int | None) -> str:
    """Seconds as SLURM writes them (``1-02:03:04``, ``00:04:59``); "-" when not known."""
    if seconds is None:
        return "-"
    days, rest = divmod(seconds, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock


def tool(name: str) -> str:
    """The path of a SLURM command; a one-line error when SLURM is not on PATH."""
    path = process.which(name)
    if path is None:
        raise ToolError(
            f"SLURM is not on PATH ({name} not found)",
            hint="run it on the cluster's login node, where `module load slurm` may be needed first",
        )
    return path


def check_job_id(job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise UsageError(f"{job_id!r} is not a SLURM job id (a number)")
    return job_id


def scheduler_reason(text: str) -> str:
    """The scheduler's own words from a command's stderr, without the 'sbatch: error: ' prefixes."""
    line = process.last_line(text)
    return re.sub(r"^(?:\w+: )?(?:error: )+", "", line)


def submit(script: str, args: list[str], *, cwd: str, extra_env: dict[str, str] | None = None) -> str:
    """sbatch the ``script`` text (given on stdin: no script file lies around) and return the job id."""
    done = process.run(
        [tool("sbatch"), "--parsable", *args], cwd=cwd, extra_env=extra_env, input_text=script, check=False,
        timeout=TIMEOUT,
    )
    if not done.ok:
        raise ToolError(f"sbatch refused the job: {scheduler_reason(done.stderr or done.stdout)}")
    job_id = done.stdout.strip().split(";", 1)[0]
    if not _JOB_ID.match(job_id):
        raise ToolError(f"sbatch printed no job id: {process.last_line(done.stdout)}")
    return job_id


def parse_scontrol(line: str) -> dict[str, str]:
    """``scontrol show job -o`` output (Key=Value words; a value may hold spaces) as a dict."""
    fields: dict[str, str] = {}
    key = None
    for word in line.strip().split(" "):
        name, sep, value = word.partition("=")
        if sep and re.fullmatch(r"[A-Za-z][\w/:]*", name):
            key = name
            fields[key] = value
        elif key is not None:
            fields[key] += " " + word
    return fields


def _exit_code(text: str | None) -> int | None:
    """scontrol's ``ExitCode=rc:signal`` as one shell-style code."""
    match = re.fullmatch(r"(\d+):(\d+)", text or "")
    if not match:
        return None
    code, sig = int(match[1]), int(match[2])
    return 128 + sig if sig else code


def job_info(job_id: str) -> JobInfo | None:
    """The job as the scheduler knows it; None when it has forgotten it (or never knew it)."""
    done = process.run([tool("scontrol"), "show", "job", "-o", check_job_id(job_id)], check=False,
                       timeout=TIMEOUT)
    if not done.ok:
        if "Invalid job id" in done.stderr:
            return None
        raise ToolError(f"scontrol show job {job_id} failed: {scheduler_reason(done.stderr or done.stdout)}")
    fields = parse_scontrol(done.stdout)
    state = fields.get("JobState")
    if not state:
        return None
    reason = fields.get("Reason")
    return JobInfo(
        job_id=job_id,
        state=state,
        reason=None if reason in (None, "None") else reason,
        exit_code=_exit_code(fields.get("ExitCode")) if state in FINAL_STATES else None,
        elapsed=fields.get("RunTime"),
        time_limit=fields.get("TimeLimit"),
        node=fields.get("BatchHost") or None,
    )


class StillPending(ToolError):
    """The job had not started after --wait-start seconds; the message names squeue's reason."""

    def __init__(self, job_id: str, seconds: float, reason: str | None, *, cancelled: bool) -> None:
        what = "it was cancelled" if cancelled else f"it stays queued (reproml jobs cancel {job_id})"
        reason = reason or "no reason given"
        super().__init__(f"job {job_id} is still pending after {seconds:g} s ({reason}); {what}")


def wait_start(job_id: str, seconds: float, *, cancel_if_pending: bool) -> JobInfo | None:
    """Wait until the job leaves PENDING; still pending after ``seconds``: StillPending, the job cancelled
    when asked, else left queued. The job's state once it started (None: the scheduler forgot it)."""
    deadline = time.monotonic() + seconds
    while True:
        info = job_info(job_id)
        if info is None or info.state != "PENDING":
            return info
        if time.monotonic() >= deadline:
            if cancel_if_pending:
                cancel(job_id)
            raise StillPending(job_id, seconds, info.reason, cancelled=cancel_if_pending)
        time.sleep(POLL)


_no_accounting = False


def accounting_info(job_id: str) -> JobInfo | None:
    """The job as accounting (sacct) remembers it; None without sacct, without accounting, or not found."""
    global _no_accounting
    sacct = process.which("sacct")
    if sacct is None or _no_accounting:
        return None
    done = process.run([sacct, "-X", "-n", "-P", "-j", check_job_id(job_id), "-o",
                        "JobID,State,ExitCode,Elapsed,Timelimit,NodeList"], check=False, timeout=TIMEOUT)
    _no_accounting = "accounting storage is disabled" in done.stderr  # then not asked again for other jobs
    for line in done.stdout.splitlines() if done.ok else []:
        fields = line.split("|")
        if len(fields) == 6 and fields[0] == job_id and fields[1]:
            state = fields[1].split()[0]  # "CANCELLED by 0" -> CANCELLED
            return JobInfo(job_id=job_id, state=state,
                           exit_code=_exit_code(fields[2]) if state in FINAL_STATES else None,
                           elapsed=fields[3] or None, time_limit=fields[4] or None, node=fields[5] or None)
    return None


def cancel(job_id: str) -> None:
    done = process.run([tool("scancel"), check_job_id(job_id)], check=False, timeout=TIMEOUT)
    if not done.ok:
        raise ToolError(f"scancel {job_id} failed: {scheduler_reason(done.stderr or done.stdout)}")


def to_dict(info: JobInfo | None) -> dict[str, Any]:
    if info is None:
        return {}
    return {"state": info.state, "reason": info.reason, "exit_code": info.exit_code, "elapsed": info.elapsed,
            "elapsed_seconds": info.elapsed_seconds, "time_limit": info.time_limit,
            "time_left_seconds": info.time_left_seconds, "node": info.node}
