"""`reproml add requests` versus `uv add requests` on the same project (aim: at most 1.2x).

Run: python benchmarks/bench_add.py [--runs N]. The project is a generated `uv-python-ml --accelerator auto`
project (torch in the cpu, cu126 and cu130 extras, each from its own PyTorch index, served on 127.0.0.1 by the
stand-in the tests use), locked and synced once. Before every timed run its pyproject.toml and uv.lock are put
back and `uv sync` (exact) brings .venv back to the same state, untimed; the two commands then alternate, so
both see the same warm uv cache and the same load. reproml's extra work is its start-up, reading the project,
`uv lock --check` (is the lock already stale?) and the snapshot it keeps to undo a failure.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import answers_for  # noqa: E402
from reproml.commands.new import render  # noqa: E402
from reproml.tools import uv_executable  # noqa: E402
from torch_index import index_layout, serve_torch_index  # noqa: E402


def reproml_command() -> list[str]:
    script = Path(sys.executable).with_name("reproml")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reproml"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command")
    args = parser.parse_args()
    uv = uv_executable()
    if uv is None:
        sys.exit("needs uv")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        layout = index_layout(root / "wheels")
        if layout is None:
            sys.exit("needs the PyTorch CPU wheel (and its torchvision) on this machine's disk")
        env = dict(os.environ, UV_PYTHON=sys.executable, UV_PYTHON_DOWNLOADS="never",
                   PATH=f"{Path(uv).parent}{os.pathsep}{os.environ['PATH']}")
        env.pop("VIRTUAL_ENV", None)
        with serve_torch_index(builds=layout) as index:
            answers = answers_for("uv-python-ml", accelerator="auto", docs=False, jupyter=False)
            answers["torch_index_base"] = index
            project = root / "project"
            render(answers, project)
            for step in (["lock"], ["sync"]):
                subprocess.run([uv, *step, "--quiet"], cwd=project, env=env, check=True)
            saved = {name: (project / name).read_bytes() for name in ("pyproject.toml", "uv.lock")}

            def reset() -> None:
                for name, data in saved.items():
                    (project / name).write_bytes(data)
                subprocess.run([uv, "sync", "--quiet"], cwd=project, env=env, check=True)

            commands = {"uv add": [uv, "add", "--quiet", "requests"],
                        "reproml add": [*reproml_command(), "add", "requests"]}
            for command in commands.values():  # warm-up: requests and its metadata in uv's cache
                reset()
                subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
            times: dict[str, list[float]] = {name: [] for name in commands}
            own: list[float] = []  # reproml's wall time minus its `uv add` (start-up, checks, snapshot)
            debug_env = dict(env, REPROML_DEBUG="1")  # process.py traces each call with its duration
            for run in range(args.runs):
                order = list(commands) if run % 2 == 0 else list(reversed(commands))
                for name in order:
                    reset()
                    start = time.perf_counter()
                    done = subprocess.run(commands[name], cwd=project, env=debug_env, check=True,
                                          capture_output=True, text=True)
                    times[name].append(time.perf_counter() - start)
                    if name == "reproml add":
                        calls = [float(s) for s in re.findall(r"exit 0 after ([\d.]+)s", done.stderr)]
                        own.append(times[name][-1] - calls[-1])
        shutil.rmtree(root / "wheels", ignore_errors=True)
    print(f"{args.runs} runs each, alternating; load average {os.getloadavg()[0]:.1f}")
    for name, values in times.items():
        print(f"{name:12} median {statistics.median(values):.3f} s   min {min(values):.3f} s   "
              f"max {max(values):.3f} s")
    ratio = statistics.median(times["reproml add"]) / statistics.median(times["uv add"])
    best = min(times["reproml add"]) / min(times["uv add"])
    print(f"reproml add / uv add: {ratio:.2f}x (medians), {best:.2f}x (best runs)")
    print(f"reproml's own time around its `uv add`: median {statistics.median(own):.3f} s "
          "(start-up, reading the project, `uv lock --check`, the snapshot)")


if __name__ == "__main__":
    main()
