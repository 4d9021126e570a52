"""Time `reproml update` against `copier update` on the same project with the same user edits.

Run: python benchmarks/bench_update.py [--runs N]. The project is uv-python-ml, made by reproml 0.1.0's
template (tests/data/template-0.1.0), with user work committed on top: a dependency, a README paragraph, a new
module, a deleted template file and a rewritten test (which conflicts). copier's copy of it comes from a
local template git repository with tags v0.1.0 (that template) and v0.2.0 (today's), so that `copier update`
can render both versions; reproml's needs no repository. Each run starts from the same commit (reset between
runs, not timed), as a fresh process; the figure is the median (and min) wall time of N runs after a warm-up.
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

import yaml

from reproml.project import TEMPLATE_DIR

OLD_TEMPLATE = Path(__file__).resolve().parent.parent / "tests" / "data" / "template-0.1.0"
ANSWERS = {
    "preset": "uv-python-ml",
    "project_name": "cell-seg",
    "distribution_name": "cell-seg",
    "package_name": "cell_seg",
    "description": "Segment cells",
    "author_name": "Ada Tester",
    "author_email": "ada@example.org",
    "python_version": "3.11",
    "framework": "torch",
    "docs": True,
    "jupyter": True,
    "accelerator": "auto",
}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.org",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.org",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def template_repository(where: Path) -> Path:
    """A git repository holding reproml 0.1.0's template (tag v0.1.0), then today's (tag v0.2.0)."""
    repo = where / "template-repo"
    shutil.copytree(OLD_TEMPLATE, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "0.1.0")
    git(repo, "tag", "v0.1.0")
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(TEMPLATE_DIR, repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "0.2.0")
    git(repo, "tag", "v0.2.0")
    return repo


def user_work(root: Path) -> str:
    """The same edits on either project, committed; returns the commit each run starts from."""
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('test = ["pytest>=8"]', 'test = ["pytest>=8", "hypothesis>=6"]')
    )
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("Segment cells\n", "Segment cells\n\nLab notes.\n", 1))
    (root / "src/cell_seg/model.py").write_text("def model():\n    return 42\n")
    (root / "docs/index.md").unlink()
    (root / "tests/test_smoke.py").write_text("def test_mine():\n    assert True\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "our work")
    return git(root, "rev-parse", "HEAD").strip()


def project(where: Path, name: str, source: str, *extra: str) -> Path:
    root = where / name
    data = where / "answers.yml"
    data.write_text(yaml.safe_dump(ANSWERS))
    subprocess.run(
        [
            shutil.which("copier") or "copier",
            "copy",
            "--defaults",
            "--quiet",
            "--data-file",
            str(data),
            *extra,
            source,
            str(root),
        ],
        check=True,
        capture_output=True,
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Create project from reproml uv-python-ml")
    return root


def once(args: list[str], root: Path, start: str) -> float:
    """One update from the commit ``start`` (the reset before it is not timed)."""
    if (root / ".git" / "MERGE_HEAD").exists():
        git(root, "merge", "--abort")
    git(root, "reset", "-q", "--hard", start)
    git(root, "clean", "-q", "-fdx")
    began = time.perf_counter()
    done = subprocess.run(args, cwd=root, capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    if done.returncode not in (0, 6):  # 6: reproml left a conflict to resolve (copier exits 0 with one)
        sys.exit(f"{' '.join(args[:3])} failed: {done.stderr.strip()[-500:]}")
    conflicted = "<<<<<<<" in (root / "tests/test_smoke.py").read_text()
    assert conflicted and "Lab notes." in (root / "README.md").read_text(), "the update lost user work"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    os.environ.update(GIT_ENV)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        repo = template_repository(where)
        by_copier = project(where, "by-copier", str(repo), "--vcs-ref", "v0.1.0")
        by_reproml = project(where, "by-reproml", str(OLD_TEMPLATE))
        copier = shutil.which("copier") or "copier"
        cases = [
            (
                "reproml update",
                [sys.executable, "-m", "reproml", "update"],
                by_reproml,
                user_work(by_reproml),
            ),
            (
                "copier update --vcs-ref v0.2.0",
                [copier, "update", "--defaults", "--quiet", "--conflict", "inline", "--vcs-ref", "v0.2.0"],
                by_copier,
                user_work(by_copier),
            ),
        ]
        # Round-robin, so that load from elsewhere on the machine falls on both alike; run 0 warms the caches.
        rows: dict[str, list[float]] = {name: [] for name, *_ in cases}
        for i in range(runs + 1):
            for name, args, root, start in cases:
                elapsed = once(args, root, start)
                if i:
                    rows[name].append(elapsed)
    print(f"{'command':34} {'median s':>9} {'min s':>7}  ({runs} runs, uv-python-ml, 0.1.0 -> today)")
    for name, times in rows.items():
        print(f"{name:34} {statistics.median(times):9.3f} {min(times):7.3f}")


if __name__ == "__main__":
    main()
