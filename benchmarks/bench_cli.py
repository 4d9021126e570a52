"""Start-up cost of the CLI: wall and CPU time of the commands people (and scripts, and editors) run most.

    python benchmarks/bench_cli.py [--runs N] [--against OTHER/bin/reproml]

Run it with the interpreter of a fresh venv that has the built wheel installed (the way a user installs),
not from an editable dev install. Each command is a fresh process of the installed `reproml` entry point (the
script next to this interpreter, else `python -m reproml`). The rows are run round-robin, one warm-up round
first, so a change of machine load during the run touches every row alike; `python -c pass` is measured in
the same rounds as the floor to compare against, and the load average is printed before and after. Besides
wall time it reports CPU time (user + system): on a loaded machine wall time mostly measures the wait for a
CPU, CPU time much less so. --against runs each command with a second installed reproml too (say, a venv
with the previous wheel) in the same rounds, next to each other: a before/after comparison under one load.

The jupyter rows run against three projects in a temporary HOME:
- plain:   a bare pyproject.toml, no server (stop 14's rows, kept for comparison);
- reproml: a project with reproml's answers file (what `new` makes), no server;
- running: a reproml project whose recorded server is a real process that answers GET /api/status (a
           stand-in `python -m http.server`, so no Jupyter is needed): status, url and list take the path a
           running Jupyter server takes (process identity through psutil, an HTTP probe).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

AIM = 0.1  # seconds, median, from issue 7


def reproml_command() -> list[str]:
    script = Path(sys.executable).parent / "reproml"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reproml"]


def run_once(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, of the process and the children it waited for)."""
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    return wall, usage.ru_utime + usage.ru_stime


def make_project(root: Path, answers: bool) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text(f'[project]\nname = "{root.name}"\nversion = "0"\n')
    if answers:
        (root / ".copier-answers.yml").write_text(f"preset: uv-python-ml\npackage_name: {root.name}\n")
    return root


def start_stand_in(project: Path) -> subprocess.Popen[bytes]:
    """A real process answering GET /api/status with 200, recorded as the project's running server."""
    import psutil

    from reproml import jupyter_state as js

    served = project / "served"
    (served / "api").mkdir(parents=True)
    (served / "api" / "status").write_text("{}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    # A plain file server whose command line ends like the one reproml launches for this project: reproml
    # reports (and signals) only a process running that command.
    code = (
        "import functools, http.server as h, sys\n"
        "handler = functools.partial(h.SimpleHTTPRequestHandler, directory=sys.argv[1])\n"
        "h.HTTPServer(('127.0.0.1', int(sys.argv[2])), handler).serve_forever()\n"
    )
    argv = [
        sys.executable,
        "-c",
        code,
        str(served),
        str(port),
        "-m",
        "jupyterlab",
        f"--ServerApp.port={port}",
        f"--ServerApp.root_dir={project.resolve()}",
    ]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        try:
            with opener.open(f"http://127.0.0.1:{port}/api/status", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                sys.exit("bench_cli: the stand-in server did not answer")
            time.sleep(0.05)
    proc = psutil.Process(server.pid)
    record = js.ServerRecord(
        project=str(project.resolve()),
        pid=server.pid,
        create_time=proc.create_time(),
        cmdline=proc.cmdline(),
        port=port,
        ip="127.0.0.1",
        app="lab",
        started_at=time.time(),
        log=str(project / ".reproml" / js.LOG_NAME),
        manager="uv",
        ready=True,
    )
    state = js.ensure_private_dir(project / ".reproml")
    js.write_private(state / js.STATE_NAME, record.to_json())
    js.write_private(state / js.TOKEN_NAME, "bench-token\n")
    js.register(record)  # the registry lives under HOME, set to the temporary folder in main()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--against", metavar="REPROML", help="another installed reproml entry point")
    options = parser.parse_args()
    runs = options.runs
    reproml = reproml_command()
    entries = [reproml, *([[options.against]] if options.against else [])]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home, empty_home = root / "home", root / "empty-home"
        home.mkdir()
        empty_home.mkdir()
        for name in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "VIRTUAL_ENV"):
            os.environ.pop(name, None)
        os.environ.update(HOME=str(home), XDG_RUNTIME_DIR=str(home), NO_COLOR="1")
        env = dict(os.environ)
        empty = dict(env, HOME=str(empty_home), XDG_RUNTIME_DIR=str(empty_home))
        plain = make_project(root / "plain", answers=False)
        made = make_project(root / "made", answers=True)
        running = make_project(root / "running", answers=True)
        server = start_stand_in(running)
        try:
            check = subprocess.run(
                [*reproml, "jupyter", "status", str(running)], capture_output=True, text=True
            )
            if not check.stdout.startswith("running"):
                sys.exit(f"bench_cli: the stand-in is not seen as running: {check.stdout}{check.stderr}")
            rows = [  # (name, arguments after the entry point or None for the floor, environment, aim)
                ("python -c pass (floor)", None, env, None),
                ("reproml --help", ["--help"], env, AIM),
                ("reproml --version", ["--version"], env, None),
                ("reproml new --help", ["new", "--help"], env, None),
                ("jupyter status (plain)", ["jupyter", "status", str(plain)], env, AIM),
                ("jupyter url (plain, none)", ["jupyter", "url", str(plain)], env, AIM),
                ("jupyter list (none)", ["jupyter", "list"], empty, AIM),
                ("jupyter status (reproml)", ["jupyter", "status", str(made)], env, AIM),
                ("jupyter status (running)", ["jupyter", "status", str(running)], env, AIM),
                ("jupyter url (running)", ["jupyter", "url", str(running)], env, AIM),
                ("jupyter list (1 running)", ["jupyter", "list"], env, AIM),
                ("reproml templates --json", ["templates", "--json"], env, None),
                ("reproml doctor --json", ["doctor", "--json", str(plain)], env, None),
            ]
            load_before = os.getloadavg()
            times = [[[] for _ in entries] for _ in rows]  # [row][entry point] -> (wall, cpu) seconds
            for round_ in range(runs + 1):  # round 0 warms the file cache
                for i, (_, tail, row_env, _) in enumerate(rows):
                    for j, entry in enumerate(entries):
                        args = [sys.executable, "-c", "pass"] if tail is None else [*entry, *tail]
                        sample = run_once(args, root, row_env)
                        if round_:
                            times[i][j].append(sample)
            load_after = os.getloadavg()
        finally:
            server.kill()
            server.wait()
    print(f"{' '.join(reproml)}, {runs} runs per row, round-robin; {sys.version.split()[0]}")
    if options.against:
        print(f"against: {options.against}")
    print(
        f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, {os.cpu_count()} CPUs"
    )
    print(
        "seconds: median wall, min wall, median CPU"
        + ("; then the same for --against" if options.against else "")
    )
    header = "".join(f" {'median':>7} {'min':>6} {'cpu':>6}" for _ in entries)
    print(f"{'command':28}{header} {'aim':>5}")
    for (name, _, _, aim), per_entry in zip(rows, times, strict=True):
        columns = ""
        for samples in per_entry:
            wall = [w for w, _ in samples]
            cpu = statistics.median(c for _, c in samples)
            columns += f" {statistics.median(wall):7.3f} {min(wall):6.3f} {cpu:6.3f}"
        over = " OVER" if aim is not None and statistics.median(w for w, _ in per_entry[0]) >= aim else ""
        print(f"{name:28}{columns} {'' if aim is None else f'{aim:5.2f}':>5}{over}")


if __name__ == "__main__":
    main()
