"""`reproml jobs`: this project's SLURM jobs (recorded in .reproml/jobs/ by `reproml run --slurm`), their
state from the scheduler, their logs, and cancelling them."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reproml import jupyter_state, slurm
from reproml.commands.run import JOBS_DIR
from reproml.errors import ProjectError
from reproml.project import find_project

POLL = 0.25


@dataclass(frozen=True)
class Job:
    job_id: str
    command: list[str]
    submitted: float
    log: Path
    info: slurm.JobInfo | None  # None: the scheduler has forgotten it
    recorded_exit: int | None  # what the job script wrote when the command ended

    @property
    def state(self) -> str:
        if self.info is not None:
            return self.info.state
        if self.recorded_exit is not None:
            return "COMPLETED" if self.recorded_exit == 0 else "FAILED"
        return "GONE"  # forgotten by the scheduler without a recorded exit: cancelled, or the node failed

    @property
    def exit_code(self) -> int | None:
        if self.recorded_exit is not None:
            return self.recorded_exit
        return self.info.exit_code if self.info is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.job_id, "command": self.command, "submitted": self.submitted, "log": str(self.log),
                **slurm.to_dict(self.info), "state": self.state, "exit_code": self.exit_code}


def _folder(path: str | Path) -> Path:
    project = find_project(path)
    folder = project.state_dir / JOBS_DIR
    if jupyter_state.existing_private_dir(project.state_dir):
        jupyter_state.existing_private_dir(folder)  # refuses a link, or a folder others can write
    return folder


def _recorded_exit(folder: Path, job_id: str) -> int | None:
    text = jupyter_state._read_text(folder / f"{job_id}.exit")
    try:
        return int(text.strip()) if text else None
    except ValueError:
        return None


def load(folder: Path, job_id: str) -> Job | None:
    record = jupyter_state.read_json(folder / f"{job_id}.json")
    if record is None:
        return None
    # A job scontrol has forgotten (MinJobAge after its end): accounting's record where the cluster has one.
    info = slurm.job_info(job_id) or slurm.accounting_info(job_id)
    return Job(job_id, list(record.get("command", [])), float(record.get("submitted", 0)),
               Path(record.get("log") or folder / f"{job_id}.log"), info, _recorded_exit(folder, job_id))


def find(path: str | Path, job_id: str) -> Job:
    slurm.check_job_id(job_id)
    folder = _folder(path)
    job = load(folder, job_id) if folder.is_dir() else None
    if job is None:
        raise ProjectError(f"job {job_id} is not one of this project's jobs (see `reproml jobs`)")
    return job


def list_jobs(path: str | Path = ".") -> list[Job]:
    slurm.tool("scontrol")
    folder = _folder(path)
    if not folder.is_dir():
        return []
    ids = sorted((p.stem for p in folder.glob("*.json") if p.stem.isdigit()), key=int)
    return [job for job in (load(folder, job_id) for job_id in ids) if job is not None]


def cancel(path: str | Path, job_id: str) -> Job:
    job = find(path, job_id)
    if job.info is not None and not job.info.finished:
        slurm.cancel(job_id)
    return job


def log_tail(log: Path, lines: int) -> str:
    text = jupyter_state._read_text(log) or ""
    return "".join(text.splitlines(True)[-lines:]) if lines > 0 else ""


def follow(job: Job, *, from_start: bool = True) -> Iterator[str]:
    """The job's log as it grows, until the job has finished (and its last words are read)."""
    offset = 0 if from_start else _size(job.log)
    while True:
        info = slurm.job_info(job.job_id)
        chunk, offset = _read_from(job.log, offset)
        if chunk:
            yield chunk
        if info is None or info.finished:
            chunk, offset = _read_from(job.log, offset)
            if chunk:
                yield chunk
            return
        time.sleep(POLL)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_from(path: Path, offset: int) -> tuple[str, int]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return "", offset
    with os.fdopen(fd, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    return data.decode("utf-8", errors="replace"), offset + len(data)


def final(path: str | Path, job_id: str) -> Job:
    """The finished job, once its state and exit code are known (the exit file can lag the state a little)."""
    deadline = time.monotonic() + 5
    while True:
        job = find(path, job_id)
        if job.exit_code is not None or time.monotonic() > deadline:
            return job
        time.sleep(POLL)


def to_json(jobs: list[Job]) -> list[dict[str, Any]]:
    return [job.to_dict() for job in jobs]


def render(jobs: list[Job]) -> str:
    if not jobs:
        return "no SLURM jobs for this project (reproml run --slurm -- CMD)\n"
    rows = [("JOB", "STATE", "ELAPSED", "LEFT", "LIMIT", "EXIT", "COMMAND")]
    for job in jobs:
        info = job.info
        state = job.state + (f" ({info.reason})" if info and info.reason and not info.finished else "")
        rows.append((job.job_id, state, info.elapsed or "-" if info else "-",
                     slurm.format_duration(info.time_left_seconds) if info else "-",
                     info.time_limit or "-" if info else "-",
                     "-" if job.exit_code is None else str(job.exit_code), " ".join(job.command)))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = []
    for row in rows:
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row[:6], widths, strict=True))
        lines.append(f"{cells}  {row[6]}\n")
    return "".join(lines)


def dumps(jobs: list[Job]) -> str:
    return json.dumps(to_json(jobs), indent=2, sort_keys=True) + "\n"
