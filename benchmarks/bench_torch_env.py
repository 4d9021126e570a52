"""Size and install time of a generated project's CPU environment versus a plain `torch` dependency from PyPI.

Run: python benchmarks/bench_torch_env.py. The generated `uv-python-ml --accelerator cpu` project is synced
for real, with an empty uv cache, its PyTorch index served on 127.0.0.1 from the CPU wheel on this machine's
disk (the same stand-in the tests use) and everything else from PyPI. The plain `torch` project is only locked
(this machine cannot download several GB): its figure is the sum of the Linux x86_64 cp311 wheels in uv.lock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import answers_for  # noqa: E402
from reproml.commands.new import render  # noqa: E402
from reproml.tools import uv_executable  # noqa: E402
from torch_index import find_wheels, serve_torch_index  # noqa: E402


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def linux_wheel_bytes(lock_file: Path) -> tuple[int, int]:
    lock = tomllib.loads(lock_file.read_text())
    total, count = 0, 0
    for package in lock["package"]:
        wheels = [w for w in package.get("wheels", []) if "manylinux" in w["url"] and "x86_64" in w["url"]
                  and ("cp311" in w["url"] or "py3-none" in w["url"])]
        if wheels:
            total += max(w.get("size", 0) for w in wheels)
            count += 1
    return total, count


def main() -> None:
    uv = uv_executable()
    wheels = find_wheels()
    if not uv or not wheels or "torchvision" not in wheels:
        sys.exit("needs uv and the PyTorch CPU wheel on this machine's disk")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = dict(os.environ, UV_PYTHON=sys.executable, UV_PYTHON_DOWNLOADS="never",
                   UV_CACHE_DIR=str(root / "cache"))
        with serve_torch_index(wheels) as index:
            answers = answers_for("uv-python-ml", accelerator="cpu", docs=False, jupyter=False)
            answers["torch_index_base"] = index
            project = root / "cpu-project"
            render(answers, project)
            start = time.perf_counter()
            subprocess.run([uv, "sync", "--quiet"], cwd=project, env=env, check=True)
            seconds = time.perf_counter() - start
        cpu_size = du(project / ".venv")
        cpu_lock, cpu_count = linux_wheel_bytes(project / "uv.lock")
        # Our stand-in index lists no sizes, so the lock has none for torch/torchvision: count the files.
        cpu_lock += sum(w.stat().st_size for w in wheels.values())

        plain = root / "plain-torch"
        plain.mkdir()
        (plain / "pyproject.toml").write_text(
            '[project]\nname = "plain"\nversion = "0"\nrequires-python = ">=3.11"\n'
            'dependencies = ["numpy", "torch", "torchvision"]\n'
        )
        subprocess.run([uv, "lock", "--quiet"], cwd=plain, env=env, check=True)
        plain_lock, plain_count = linux_wheel_bytes(plain / "uv.lock")

    gb = 1e9
    print(f"{'environment':52} {'download GB':>11} {'packages':>8} {'on disk GB':>10} {'install s':>9}")
    print(f"{'generated uv-python-ml --accelerator cpu (synced)':52} {cpu_lock / gb:11.2f} {cpu_count:8d} "
          f"{cpu_size / gb:10.2f} {seconds:9.1f}")
    print(f"{'plain torch + torchvision from PyPI (locked only)':52} {plain_lock / gb:11.2f} "
          f"{plain_count:8d} {'n/a':>10} {'n/a':>9}")


if __name__ == "__main__":
    main()
