"""Benchmark reproml on SLURM against what a user writes by hand, on an idle single-node test cluster.

    python benchmarks/bench_slurm.py [--runs N]   (as root, with Debian's slurmctld slurmd slurm-client munge)

- jupyter, reproml: ``python -m reproml jupyter start --slurm PROJECT`` timed until the command exits (it
  exits once /api/status answers through the node's address), then ``reproml jupyter stop`` (not timed).
- jupyter, by hand: the usual sbatch script (JUPYTER_TOKEN in the submit environment, ``--port 0``, runtime
  folder of its own) submitted with ``sbatch --wrap``, the runtime file polled for the port and /api/status
  polled with the token, every 0.1 s like reproml; then scancel.
- run, reproml: ``python -m reproml run --slurm --wait -- true`` (environment check, record, log follow).
- run, by hand: ``sbatch --wait --wrap true`` (sbatch polls the job itself).

The cluster comes from tests/slurm_cluster.py (started here, stopped at the end); runs alternate between the
two ways after one unmeasured warm-up of each, so load from elsewhere falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import slurm_cluster  # noqa: E402  (the tests' cluster)


def make_project(root: Path) -> Path:
    import jupyter_server
    import jupyterlab

    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0.1"\n')
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(root / ".venv")], check=True)
    folders = sorted({str(Path(m.__file__).resolve().parent.parent) for m in (jupyterlab, jupyter_server)})
    site = next((root / ".venv").glob("lib/python*/site-packages"))
    (site / "_outer_jupyter.pth").write_text("\n".join(folders) + "\n")
    return root


def answers(port: int, token: str) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status")
    request.add_header("Authorization", f"token {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def reproml(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reproml", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def jupyter_reproml(project: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = reproml("jupyter", "start", "--slurm", str(project), env=env)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"reproml jupyter start --slurm failed: {done.stderr.strip()}")
    reproml("jupyter", "stop", str(project), env=env)
    return seconds


def jupyter_by_hand(project: Path, env: dict[str, str]) -> float:
    token = secrets.token_urlsafe(32)
    runtime = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    script = (f"cd {project} && exec .venv/bin/python -m jupyterlab --no-browser --ip 127.0.0.1 --port 0 "
              "--allow-root")
    started = time.perf_counter()
    job = subprocess.run(["sbatch", "--parsable", "--output", str(runtime / "log"), "--wrap", script],
                         env={**env, "JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(runtime)},
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        while time.perf_counter() - started < 60:
            for path in runtime.glob("jpserver-*.json"):
                try:
                    port = json.loads(path.read_text())["port"]
                except (ValueError, KeyError):
                    continue  # being written
                if answers(port, token):
                    return time.perf_counter() - started
            time.sleep(0.1)
        raise SystemExit("the hand-written Jupyter job did not answer within 60 s")
    finally:
        subprocess.run(["scancel", job], env=env, check=True)
        time.sleep(0.5)  # the node frees its CPU before the next run


def run_reproml(project: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = reproml("run", "--slurm", "--wait", "--project", str(project), "--", "true", env=env)
    if done.returncode:
        raise SystemExit(f"reproml run --slurm failed: {done.stderr.strip()}")
    return time.perf_counter() - started


def run_by_hand(project: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(["sbatch", "--wait", "--output", "/dev/null", "--wrap", "true"], cwd=project, env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    why = slurm_cluster.missing()
    if why:
        raise SystemExit(f"bench_slurm: {why}")
    work = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    cluster = slurm_cluster.start(work / "cluster")
    try:
        home = work / "home"
        home.mkdir()
        env = {**os.environ, **cluster.env, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
               "XDG_STATE_HOME": str(home / "state"), "XDG_RUNTIME_DIR": str(home / "run"),
               "PYTHONPATH": str(REPO / "src")}
        project = make_project(work / "project")
        pairs = {
            "jupyter start until ready": (jupyter_reproml, jupyter_by_hand, "hand-written sbatch + polling"),
            "run --wait -- true": (run_reproml, run_by_hand, "sbatch --wait --wrap true"),
        }
        for name, (ours, theirs, label) in pairs.items():
            ours(project, env), theirs(project, env)  # warm-up, not measured
            mine, hand = [], []
            for _ in range(options.runs):
                mine.append(ours(project, env))
                hand.append(theirs(project, env))
            ours_s, hand_s = statistics.median(mine), statistics.median(hand)
            print(f"{name}: reproml median {ours_s:.2f} s (min {min(mine):.2f}), {label} median "
                  f"{hand_s:.2f} s (min {min(hand):.2f}), difference {ours_s - hand_s:+.2f} s "
                  f"over {options.runs} runs")
    finally:
        slurm_cluster.stop(cluster)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
