"""Wall time of `reproml doctor` (text and --json) on a fixture project: median of several runs.

    python benchmarks/bench_doctor.py [--runs N] [--project PATH]

Without --project it builds a small uv-python-ml project in a temporary folder (answers file, a pyproject.toml
without dependencies, a real `uv lock --offline`, an .envrc), so every probe runs: tool versions, driver,
`uv lock --check`, `direnv status`. `reproml --help` is timed too, as the floor (interpreter and CLI
start-up), and diagnose() in-process, the cost of the checks alone. The target: `reproml doctor` under 1 s.
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

PYPROJECT = """\
[project]
name = "bench-demo"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = []
"""


def reproml_command() -> list[str]:
    found = shutil.which("reproml")
    return [found] if found else [sys.executable, "-m", "reproml"]


def make_fixture(root: Path) -> Path:
    from reproml.tools import uv_executable

    uv = uv_executable()
    if uv is None:
        raise SystemExit("uv is needed to lock the fixture project")
    root.mkdir(parents=True, exist_ok=True)
    (root / ".copier-answers.yml").write_text(
        "preset: uv-python-ml\nproject_name: bench-demo\nframework: torch\naccelerator: auto\n"
    )
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".envrc").write_text("export BENCH_DEMO=1\n")
    subprocess.run([uv, "lock", "--offline", "--quiet"], cwd=root, check=True, timeout=120)
    return root


def time_runs(argv: list[str], runs: int, env: dict[str, str]) -> tuple[list[float], int]:
    subprocess.run(argv, capture_output=True, env=env, timeout=120)  # warm the OS file cache once
    times, code = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, timeout=120)
        times.append(time.perf_counter() - started)
        code = done.returncode
    return times, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--project", type=Path, help="an existing project (default: a generated fixture)")
    args = parser.parse_args()

    env = dict(os.environ, NO_COLOR="1")
    base = reproml_command()
    with tempfile.TemporaryDirectory(prefix="bench-doctor-") as tmp:
        project = args.project.resolve() if args.project else make_fixture(Path(tmp) / "demo")
        cases = [
            ("reproml --help", [*base, "--help"]),
            ("reproml doctor", [*base, "doctor", str(project)]),
            ("reproml doctor --json", [*base, "doctor", str(project), "--json"]),
        ]
        print(f"project: {project}  runs: {args.runs}  command: {' '.join(base)}")
        print(f"{'command':<24}{'median s':>10}{'min s':>9}{'max s':>9}{'exit':>6}")
        for label, argv in cases:
            times, code = time_runs(argv, args.runs, env)
            row(label, times, code)
        # The checks alone, without interpreter start-up: reproml.commands.doctor.diagnose() in this process.
        from reproml.commands.doctor import diagnose

        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            report = diagnose(project)
            times.append(time.perf_counter() - started)
        row("diagnose() in-process", times, 0 if report.ok else 1)


def row(label: str, times: list[float], code: int) -> None:
    print(f"{label:<24}{statistics.median(times):>10.3f}{min(times):>9.3f}{max(times):>9.3f}{code:>6}")


if __name__ == "__main__":
    main()
