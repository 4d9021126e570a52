"""Time `reproml --help`, `reproml new` per preset, `copier copy` of the same template, and
`uv init --package`.

Run: python benchmarks/bench_new.py [--runs N]. Every command is a fresh process on this machine, no git, no
install; the figure is the median wall time of N runs (after one warm-up run).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from reproml.commands.new import TEMPLATE_DIR
from reproml.presets import PRESETS
from reproml.tools import uv_executable


def median_seconds(make_args, runs: int) -> float:
    times = []
    for i in range(runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            args = make_args(Path(tmp) / "proj")
            start = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True)
            if i:  # the first run warms the file cache
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    reproml = [sys.executable, "-m", "reproml"]
    rows = [("reproml --help", median_seconds(lambda _: [*reproml, "--help"], runs), 0.1)]
    # --no-lock: rendering alone, like copier copy and uv init (a lock's time is the indexes', not reproml's).
    for preset in PRESETS:
        rows.append((f"reproml new -t {preset}", median_seconds(
            lambda dest, p=preset: [*reproml, "new", str(dest), "-t", p, "--yes", "--no-git", "--no-lock"],
            runs), 0.4))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "answers.yml"
        data.write_text(yaml.safe_dump({"preset": "uv-python-ml", "project_name": "proj"}))
        copier = shutil.which("copier") or "copier"
        rows.append(("copier copy (uv-python-ml)", median_seconds(
            lambda dest: [copier, "copy", "--defaults", "--quiet", "--data-file", str(data),
                          str(TEMPLATE_DIR), str(dest)], runs), None))
    uv = uv_executable()
    rows.append(("uv init --package", median_seconds(
        lambda dest: [uv, "init", "--package", "--no-workspace", "--vcs", "none", str(dest)], runs), None))
    print(f"{'command':40} {'median s':>9} {'aim s':>6}")
    for name, seconds, aim in rows:
        print(f"{name:40} {seconds:9.3f} {'' if aim is None else f'{aim:6.1f}'}")


if __name__ == "__main__":
    main()
