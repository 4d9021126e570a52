"""Benchmark `reproml jupyter`: start-until-ready against plain JupyterLab, and the wall time of `status`.

    python benchmarks/bench_jupyter.py [--runs N] [--project PATH]

- plain:   ``<env python> -m jupyterlab --no-browser ...`` launched directly (token in JUPYTER_TOKEN),
           timed from launch until GET /api/status with the token answers 200 (polled every 10 ms).
- reproml: ``python -m reproml jupyter start PROJECT`` timed from launch until the command exits (it exits
           once /api/status answers): reproml's own start-up, lock, state files and port check included.
- status:  ``python -m reproml jupyter status PROJECT`` wall time with the server running, and the library
           call ``reproml.commands.jupyter.status()`` in this process.

Same environment, same machine, same port; runs alternate between plain and reproml after one unmeasured
warm-up of each. Without --project a throw-away project is made whose .venv sees this interpreter's Jupyter.
reproml's own modules are byte-compiled first, as in an installed copy. Everything runs with a temporary HOME
and XDG folders, so nothing is left in the real ones.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def make_project(root: Path) -> Path:
    import jupyter_server
    import jupyterlab

    root.mkdir(parents=True)
    (root / ".copier-answers.yml").write_text("preset: uv-python-ml\npackage_name: bench\n")
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0.1"\n')
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True)
    folders = sorted({str(Path(m.__file__).resolve().parent.parent) for m in (jupyterlab, jupyter_server)})
    site = next((root / ".venv").glob("lib/python*/site-packages"))
    (site / "_outer_jupyter.pth").write_text("\n".join(folders) + "\n")
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ready(port: int, token: str, timeout: float = 1.0) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status")
    request.add_header("Authorization", f"token {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def plain_run(project: Path, port: int, env: dict[str, str]) -> float:
    token = "bench-" + os.urandom(8).hex()
    argv = [
        str(project / ".venv/bin/python"),
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={project}",
    ]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    started = time.perf_counter()
    child = subprocess.Popen(
        argv,
        cwd=project,
        env=dict(env, JUPYTER_TOKEN=token),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not ready(port, token):
            if child.poll() is not None:
                raise SystemExit(f"plain jupyter lab exited with {child.returncode}")
            time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        child.terminate()
        child.wait(timeout=30)


def run_reproml(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reproml", "jupyter", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"reproml jupyter {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds


def wait_port_free(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return
            except OSError:
                time.sleep(0.05)


def row(name: str, values: list[float]) -> str:
    median, low, high = statistics.median(values), min(values), max(values)
    return f"| {name:<42} | {median:8.3f} | {low:8.3f} | {high:8.3f} | {len(values):4d} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--project", type=Path, help="an existing uv project with jupyterlab in .venv")
    options = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-jupyter-"))
    home = scratch / "home"
    for sub in (".config", ".local/share", ".cache", ".local/state", ".run"):
        (home / sub).mkdir(parents=True)
    os.chmod(home / ".run", 0o700)
    env = dict(
        os.environ,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_RUNTIME_DIR=str(home / ".run"),
    )
    env.pop("JUPYTER_TOKEN", None)
    project = options.project.resolve() if options.project else make_project(scratch / "bench")
    # Byte-compile reproml as an installed copy would be (a source checkout under PYTHONDONTWRITEBYTECODE=1
    # would otherwise recompile it on every run).
    import reproml as package

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(package.__file__).parent)], check=True)
    port = free_port()
    plain: list[float] = []
    started: list[float] = []
    status_cli: list[float] = []
    try:
        for index in range(options.runs + 1):  # run 0 warms caches up and is not counted
            for kind in ("plain", "reproml") if index % 2 else ("reproml", "plain"):
                wait_port_free(port)
                if kind == "plain":
                    seconds = plain_run(project, port, env)
                    if index:
                        plain.append(seconds)
                else:
                    seconds = run_reproml(env, "start", str(project), "--port", str(port))
                    if index:
                        started.append(seconds)
                        status_cli.append(run_reproml(env, "status", str(project)))
                    run_reproml(env, "stop", str(project))
        # The library call, in this process, with a running server (imports paid once, before timing).
        os.environ.update(env)
        from reproml.commands import jupyter

        run_reproml(env, "start", str(project), "--port", str(port))
        jupyter.status(project)
        in_process = []
        for _ in range(20):
            t0 = time.perf_counter()
            assert jupyter.status(project).state == "running"
            in_process.append(time.perf_counter() - t0)
        run_reproml(env, "stop", str(project))
    finally:
        subprocess.run(
            [sys.executable, "-m", "reproml", "jupyter", "stop", "--all"], env=env, capture_output=True
        )
        shutil.rmtree(scratch, ignore_errors=True)

    overhead = statistics.median(started) / statistics.median(plain) - 1
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, project {project}")
    print("| measurement (seconds)                      |   median |      min |      max | runs |")
    print("|--------------------------------------------|----------|----------|----------|------|")
    print(row("plain `python -m jupyterlab` to /api/status", plain))
    print(row("`reproml jupyter start` until it returns", started))
    print(row("`reproml jupyter status` (CLI process)", status_cli))
    print(row("jupyter.status() in process", in_process))
    print(f"start overhead vs plain (medians): {overhead * 100:+.1f}%")


if __name__ == "__main__":
    main()
