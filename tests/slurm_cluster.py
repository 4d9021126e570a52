"""A real single-node SLURM cluster for the tests: munged, slurmctld and slurmd from the Debian packages,
started directly (no systemd) with every file under one folder, and stopped by their pids.

Nothing is installed here: without the packages the fixture skips with "SLURM is not installed" (.ci/run
installs them, and tests/skip_policy.py does not allow that skip in CI). The node has a fake GPU (gres on
/dev/null): ``--gpus 1`` runs with CUDA_VISIBLE_DEVICES=0. Ports are chosen free: two sessions do not collide.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd"}
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel")
NOT_INSTALLED = "SLURM is not installed"
PARTITION = "debug"


@dataclass
class Cluster:
    root: Path
    conf: Path
    pids: dict[str, int]

    @property
    def env(self) -> dict[str, str]:
        """What client commands need to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}


def missing() -> str | None:
    """Why this machine cannot start a cluster (None when it can)."""
    if not all(Path(p).is_file() for p in DAEMONS.values()) or not all(shutil.which(c) for c in CLIENTS):
        return NOT_INSTALLED
    if os.geteuid() != 0:
        return "the test cluster's daemons need root"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory_mb() -> int:
    done = subprocess.run(["/usr/sbin/slurmd", "-C"], capture_output=True, text=True, timeout=30, check=True)
    for word in done.stdout.split():
        if word.startswith("RealMemory="):
            return max(1024, int(word.split("=", 1)[1]) - 512)
    return 2048


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"the test cluster did not come up: {what}")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def start(root: Path) -> Cluster:
    """Start munged, slurmctld and slurmd with their files under ``root``."""
    for sub in ("munge", "key", "state", "spool", "log", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # other users' commands read slurm.conf (the permission tests run one as nobody)
    os.chmod(root / "key", 0o700)
    os.chmod(root / "munge", 0o755)  # the socket: every user's commands authenticate through it
    key = root / "key" / "munge.key"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True, timeout=30)
    os.chmod(key, 0o400)
    sock = root / "munge" / "munge.socket"
    conf = root / "slurm.conf"
    cpus = os.cpu_count() or 1
    conf.write_text(f"""\
ClusterName=reproml-test
SlurmctldHost=localhost
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={root / 'state'}
SlurmdSpoolDir={root / 'spool'}
SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}
SlurmdPidFile={root / 'run' / 'slurmd.pid'}
SlurmctldLogFile={root / 'log' / 'slurmctld.log'}
SlurmdLogFile={root / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
MpiDefault=none
ReturnToService=2
SchedulerParameters=batch_sched_delay=0
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={_memory_mb()} Gres=gpu:1 State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    (root / "gres.conf").write_text("NodeName=localhost Name=gpu File=/dev/null\n")
    cluster = Cluster(root, conf, {})
    env = {**os.environ, **cluster.env}
    try:
        munge_pid = root / "run" / "munged.pid"
        subprocess.run(
            [DAEMONS["munged"], "--force", f"--key-file={key}", f"--socket={sock}", f"--pid-file={munge_pid}",
             f"--log-file={root / 'log' / 'munged.log'}", f"--seed-file={root / 'key' / 'seed'}"],
            check=True, capture_output=True, timeout=30,
        )
        _wait(lambda: _read_pid(munge_pid) is not None, 10, "munged wrote no pid file")
        cluster.pids["munged"] = _read_pid(munge_pid)  # type: ignore[assignment]
        subprocess.run([DAEMONS["slurmctld"], "-f", str(conf)], env=env, check=True, capture_output=True,
                       timeout=30)
        ctld_pid = root / "run" / "slurmctld.pid"
        _wait(lambda: _read_pid(ctld_pid) is not None, 10, "slurmctld wrote no pid file")
        cluster.pids["slurmctld"] = _read_pid(ctld_pid)  # type: ignore[assignment]
        subprocess.run([DAEMONS["slurmd"], "-f", str(conf), "-N", "localhost"], env=env, check=True,
                       capture_output=True, timeout=30)
        _wait(lambda: _read_pid(root / "run" / "slurmd.pid") is not None, 10, "slurmd wrote no pid file")
        cluster.pids["slurmd"] = _read_pid(root / "run" / "slurmd.pid")  # type: ignore[assignment]

        def idle() -> bool:
            done = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True,
                                  timeout=10)
            return done.stdout.strip() == "idle"

        _wait(idle, 20, "the node is not idle (see " + str(root / "log") + ")")
    except BaseException:
        stop(cluster)
        raise
    return cluster


def _cancel_every_job(cluster: Cluster) -> None:
    """A job outlives slurmd (its slurmstepd stays): a test that failed half-way must leave none running."""
    env = {**os.environ, **cluster.env}
    subprocess.run(["scancel", "--full", "--user", str(os.getuid())], env=env, capture_output=True,
                   timeout=30)
    _wait(lambda: not subprocess.run(["squeue", "-h", "-o", "%i", "-t", "PD,R,CG"], env=env,
                                     capture_output=True, text=True, timeout=10).stdout.strip(),
          15, "jobs did not end after scancel")


def stop(cluster: Cluster) -> None:
    """Cancel every job, then stop the daemons by their pids (slurmd first), waiting for each to exit."""
    if "slurmd" in cluster.pids:
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            _cancel_every_job(cluster)
    for name in ("slurmd", "slurmctld", "munged"):
        pid = cluster.pids.pop(name, None)
        if pid is None:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
    _kill_orphaned_steps(cluster)


def _kill_orphaned_steps(cluster: Cluster) -> None:
    """A slurmstepd that lost its slurmd can wait forever with its job: this cluster's (they work in its log
    folder, slurmd's) are killed with what they run."""
    import psutil

    for proc in psutil.process_iter(["name", "cwd"]):
        with contextlib.suppress(psutil.Error):
            ours = Path(proc.info["cwd"] or "/").is_relative_to(cluster.root)
            if proc.info["name"] == "slurmstepd" and ours:
                for child in [*proc.children(recursive=True), proc]:
                    with contextlib.suppress(psutil.Error):
                        child.kill()
