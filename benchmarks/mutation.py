"""Mutation testing of the modules where a wrong line hurts users, one module at a time, within a time budget.

    python -m pip install -e '.[test,mutation]'
    nice -n 10 python benchmarks/mutation.py                  # every module, 300 s each at most
    python benchmarks/mutation.py names gpu --budget 120      # some modules
    python benchmarks/mutation.py --rev HEAD~3                # the code and tests of a commit

mutmut (pyproject.toml, [tool.mutmut]) changes one thing at a time in a module (a comparison, a constant, a
string) and runs the fast tests that reach the changed function; a mutant that no test notices "survived".
Each module runs in its own copy of the tree (the working tree with untracked files, or ``--rev``), so the
checkout is never touched, with only that module mutated and only its tests selected (MODULES). Prints per
module the counts, the score (killed / checked) and the diff of every surviving mutant; exits 0 (a score, not
a gate).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# module -> (file to mutate, fast tests that exercise it). Test files that do not exist (yet) are left out.
MODULES: dict[str, tuple[str, list[str]]] = {
    "names": ("src/reproml/names.py", ["tests/test_new_cli.py", "tests/test_answers_property.py",
                                       "tests/test_mutation_survivors.py"]),
    "gpu": ("src/reproml/gpu.py", ["tests/test_gpu.py", "tests/test_envrc.py", "tests/test_doctor.py",
                                   "tests/test_mutation_survivors.py"]),
    # (test_new_faults.py signals real child processes on timers: it does not pass inside mutmut's runner)
    "new": ("src/reproml/commands/new.py", ["tests/test_new_cli.py", "tests/test_new_force.py",
                                             "tests/test_answers_property.py",
                                             "tests/test_mutation_survivors.py"]),
    "jupyter_state": ("src/reproml/jupyter_state.py", ["tests/test_jupyter.py", "tests/test_jupyter_trust.py",
                                                       "tests/test_mutation_survivors.py"]),
    "doctor": ("src/reproml/commands/doctor.py", ["tests/test_doctor.py"]),
}
# --focus: the functions where a surviving mutant would hurt most (mutmut's names, fnmatch patterns).
FOCUS: dict[str, list[str]] = {
    "names": ["reproml.names.*"],  # name validation
    "gpu": [f"reproml.gpu.x_{f}__mutmut_*" for f in (  # build choice and driver logic
        "choose_build", "supports", "newest_cuda_build", "detect_driver", "version_tuple", "_padded",
        "parse_driver_version", "parse_proc_version", "parse_nvidia_smi", "cuda_build", "minimum_driver")],
    "new": [f"reproml.commands.new.x_{f}__mutmut_*" for f in (  # --force safety
        "_move_into", "_merge_into", "_ignore_rules_to_add", "_beside", "_apply", "_check_destination")],
    "jupyter_state": [f"reproml.jupyter_state.x_{f}__mutmut_*" for f in (  # token handling
        "probe", "request_shutdown", "_opener", "read_token", "write_private", "check_trusted")],
    "doctor": ["reproml.commands.doctor.*"],
}
KILLED = ("killed", "timeout", "caught by type check")


def snapshot(dest: Path, rev: str | None) -> None:
    """The tree to test: ``rev``'s files, or the working tree's (tracked and untracked, not ignored)."""
    dest.mkdir(parents=True)
    if rev:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-xf", "-", "-C", str(dest)], input=archive, check=True)
        return
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def configure(tree: Path, module_file: str, tests: list[str]) -> None:
    """Set [tool.mutmut] of the copy's pyproject.toml: this checkout's settings (also for ``--rev``) plus this
    module and its tests."""
    settings = dict(tomllib.loads((REPO / "pyproject.toml").read_text()).get("tool", {}).get("mutmut", {}))
    pyproject = tree / "pyproject.toml"
    text = pyproject.read_text()
    settings["only_mutate"] = [module_file]
    settings["pytest_add_cli_args_test_selection"] = tests
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text)
    text += "\n[tool.mutmut]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items())
    pyproject.write_text(text)


def mutmut(tree: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("mutmut")
    # Child processes (tests that run `python -m reproml`) import this revision's code, unmutated: mutated
    # code needs mutmut's state, which only the test process has. The suite expects the venv's bin (uv) on
    # PATH, as in an activated venv.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tree / "src"),
                                                                   os.environ.get("PYTHONPATH")])),
           "PATH": os.pathsep.join([str(executable.parent), os.environ.get("PATH", "")])}
    # At the budget: Ctrl-C (mutmut saves what it has checked and stops its workers), then its whole process
    # group goes.
    with subprocess.Popen([str(executable), *args], cwd=tree, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True) as child:
        try:
            out, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGINT)
            try:
                out, _ = child.communicate(timeout=30)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
            raise subprocess.TimeoutExpired(child.args, timeout or 0, output=out) from None
    return subprocess.CompletedProcess(child.args, child.returncode, out, "")


def run_module(name: str, workdir: Path, rev: str | None, budget: float, children: int,
               exclude: list[str], focus: bool) -> dict[str, object]:
    module_file, tests = MODULES[name]
    tree = workdir / name
    snapshot(tree, rev)
    selected = [t for t in tests if (tree / t).exists() and t not in exclude]
    configure(tree, module_file, selected)
    started = time.monotonic()
    try:
        patterns = FOCUS[name] if focus else []
        log = mutmut(tree, "run", "--max-children", str(children), *patterns, timeout=budget).stdout
        timed_out = False
    except subprocess.TimeoutExpired as stopped:  # what was checked so far is saved in mutants/*.meta
        log, timed_out = str(stopped.output or ""), True
    seconds = time.monotonic() - started
    listing = mutmut(tree, "results", "--all", "true").stdout
    status = dict(re.findall(r"^\s*(\S+): (.+)$", listing, flags=re.M))
    counts: dict[str, int] = {}
    for value in status.values():
        counts[value] = counts.get(value, 0) + 1
    checked = sum(n for s, n in counts.items() if s not in ("not checked", "skipped"))
    killed = sum(counts.get(s, 0) for s in KILLED)
    survivors = sorted(m for m, s in status.items() if s in ("survived", "no tests", "suspicious"))
    diffs = {m: mutmut(tree, "show", m).stdout.strip() for m in survivors}
    return {"module": module_file, "tests": selected, "seconds": seconds, "timed_out": timed_out,
            "counts": counts, "checked": checked, "killed": killed, "total": len(status),
            "survivors": diffs, "log": log if not checked else ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", choices=[[], *MODULES], default=[],
                        help=f"modules to mutate (default: all of {', '.join(MODULES)})")
    parser.add_argument("--budget", type=float, default=300, help="seconds per module (default 300)")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--rev", help="test this commit's code and tests instead of the working tree")
    parser.add_argument("--exclude", action="append", default=[], metavar="TESTFILE",
                        help="leave this test file out (the score without it, e.g. before it was written)")
    parser.add_argument("--focus", action="store_true",
                        help="only the functions in FOCUS (name validation, build choice, --force, token)")
    parser.add_argument("--keep", action="store_true", help="keep the copies (mutmut browse works there)")
    args = parser.parse_args(argv)
    if not Path(sys.executable).with_name("mutmut").exists():
        print("mutation.py: error: mutmut is not installed here: python -m pip install -e '.[mutation]'",
              file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="reproml-mutation-"))
    results = []
    try:
        for name in args.modules or list(MODULES):
            result = run_module(name, workdir, args.rev, args.budget, args.children, args.exclude, args.focus)
            results.append(result)
            report(result)
    finally:
        if args.keep:
            print(f"\ncopies kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nmodule                          killed/checked  score  survived  no tests  not checked  seconds")
    for r in results:
        counts = r["counts"]
        score = f"{100 * r['killed'] / r['checked']:.1f}%" if r["checked"] else "-"
        print(f"{r['module']:<32}{r['killed']:>6}/{r['checked']:<7}{score:>8}{counts.get('survived', 0):>10}"
              f"{counts.get('no tests', 0):>10}{counts.get('not checked', 0):>13}{r['seconds']:>9.0f}")
    return 0


def report(result: dict) -> None:
    print(f"\n== {result['module']} ({', '.join(result['tests'])})")
    budget = " (budget reached)" if result["timed_out"] else ""
    print(f"   {result['counts']} in {result['seconds']:.0f} s{budget}")
    if result["log"]:
        print(result["log"][-3000:])
    for diff in result["survivors"].values():
        print(diff)


if __name__ == "__main__":
    sys.exit(main())
