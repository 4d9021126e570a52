"""Start-up cost of the CLI: median wall time of the commands people (and scripts, and editors) run most.

Run: python benchmarks/bench_cli.py [--runs N]. Each command is a fresh process of the installed `reproml`
entry point (the script next to this interpreter, else `python -m reproml`), after one warm-up run. The


"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def reproml_command() -> list[str]:
    script = Path(sys.executable).parent / "reproml"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reproml"]


def median_seconds(args: list[str], runs: int, cwd: Path, env: dict[str, str]) -> float:
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=False)
        if i:  # the first run warms the file cache
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    reproml = reproml_command()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = dict(os.environ, HOME=str(root), XDG_RUNTIME_DIR=str(root), NO_COLOR="1")
        env.pop("VIRTUAL_ENV", None)
        project = root / "proj"  # a plain uv project: what `jupyter status` finds, without running `new`
        project.mkdir()
        (project / "pyproject.toml").write_text('[project]\nname = "proj"\nversion = "0"\n')
        rows = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"], None),
            ("reproml --help", [*reproml, "--help"], 0.1),
            ("reproml --version", [*reproml, "--version"], None),
            ("reproml new --help", [*reproml, "new", "--help"], None),
            ("reproml jupyter status", [*reproml, "jupyter", "status"], 0.1),
            ("reproml jupyter url", [*reproml, "jupyter", "url"], 0.1),
            ("reproml jupyter list", [*reproml, "jupyter", "list"], 0.1),
            ("reproml templates --json", [*reproml, "templates", "--json"], None),
            ("reproml doctor --json", [*reproml, "doctor", "--json"], None),
        ]
        print(f"{'command':32} {'median s':>9} {'aim s':>6}   ({runs} runs, {' '.join(reproml)})")
        for name, args, aim in rows:
            seconds = median_seconds(args, runs, project, env)
            print(f"{name:32} {seconds:9.3f} {'' if aim is None else f'{aim:6.2f}'}")
    if shutil.which("hyperfine") is None:
        print("(hyperfine is not installed; these are subprocess timings from Python)")


if __name__ == "__main__":
    main()
