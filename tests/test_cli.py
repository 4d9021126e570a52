"""The CLI layer itself: Ctrl-C on a real terminal, help text, start-up imports, declared dependencies."""

from __future__ import annotations

import ast
import errno
import importlib
import importlib.metadata
import os
import pty
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import read_until, wait_or_kill, wait_until_reading_the_terminal
from reproml import gpu
from reproml.cli import ACCELERATOR_CHOICES, LAZY_COMMANDS, PYTHON_CHOICES, NotLoaded, app
from reproml.commands import new as new_module

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src" / "reproml"
runner = CliRunner()


@pytest.mark.parametrize("answers_before_ctrl_c", [0, 2])
def test_ctrl_c_at_a_prompt_on_a_real_terminal_is_one_line_and_exit_130(tmp_path, answers_before_ctrl_c):
    target = tmp_path / "proj"
    pid, fd = pty.fork()
    if pid == 0:  # the child: reproml new on a real terminal, so it asks its questions
        # As a shell starts a foreground job: default Ctrl-C handling, whatever the test process had.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.execvp(sys.executable, [sys.executable, "-m", "reproml", "new", str(target)])
    status = None
    output = ""
    try:
        output = read_until(fd, r"Preset \[", timeout=60)
        assert "Preset [" in output, output
        for answer in ["uv-python-ml", "my-model"][:answers_before_ctrl_c]:
            os.write(fd, answer.encode() + b"\r")
            output += read_until(fd, r"\]: $|: $", timeout=60)
        wait_until_reading_the_terminal(pid)
        os.write(fd, b"\x03")  # Ctrl-C, as the terminal sends it: SIGINT to the foreground process
        output += read_until(fd, r"interrupted", timeout=60)
        output += read_until(fd, r"$a", timeout=5)  # drain until the child exits
    finally:
        status = wait_or_kill(pid, timeout=30)
        os.close(fd)
    assert status is not None, f"reproml new did not exit after Ctrl-C:\n{output}"
    assert os.waitstatus_to_exitcode(status) == 130, output
    assert "Traceback" not in output and "Abort" not in output
    assert output.count("reproml: interrupted") == 1
    assert list(tmp_path.iterdir()) == []


def test_new_help_shows_plain_metavars_and_every_choice():
    result = runner.invoke(app, ["new", "--help"], prog_name="reproml")
    assert result.exit_code == 0
    text = result.output
    assert "{path}" not in text and "<str>" not in text
    assert "reproml new [OPTIONS] PATH" in " ".join(text.split())
    # The help lists exactly what `new` accepts (kept literal in cli.py so that start-up imports nothing).
    assert ACCELERATOR_CHOICES.split(", ") == list(gpu.ACCELERATORS)
    low, high = PYTHON_CHOICES.split("-")
    assert (new_module.PYTHON_VERSIONS[0], new_module.PYTHON_VERSIONS[-1]) == (low, high)
    assert ACCELERATOR_CHOICES in " ".join(text.split())


def test_every_group_and_command_has_help():
    for args in ([], ["jupyter"], ["doctor"], ["templates"], ["jupyter", "kernel"], ["jupyter", "start"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, args
        assert "Usage: " in result.output


def test_unknown_command_and_option_are_usage_errors():
    result = runner.invoke(app, ["nwe"])
    assert result.exit_code == 2 and "No such command 'nwe'" in result.output
    result = runner.invoke(app, ["new", "p", "--colour"])
    assert result.exit_code == 2 and "No such option '--colour'" in result.output


def test_an_os_error_reaching_the_cli_is_one_line(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "proj" / "pyproject.toml"))

    monkeypatch.setattr(new_module, "create_project", full_disk)
    result = runner.invoke(app, ["new", str(tmp_path / "proj"), "--yes"])
    assert result.exit_code == 1
    assert (
        result.stderr == f"reproml: error: {tmp_path / 'proj' / 'pyproject.toml'}: No space left on device\n"
    )


# Start-up time is mostly imports (benchmarks/bench_cli.py). What each quick command must not import, beyond
# what a bare interpreter has: libraries it does not need. Every command: nothing that makes or inspects
# projects, no HTTP client, no psutil (no server is recorded here), no YAML (no answers file here).
NEVER_AT_START = {
    "copier",
    "jinja2",
    "rich",
    "pydantic",
    "typer",
    "yaml",
    "psutil",
    "platformdirs",
    "urllib.request",
    "http.client",
    "difflib",
    "reproml.presets",
    "reproml.machine",
    "reproml.gpu",
    "reproml.commands.new",
    "reproml.commands.doctor",
    "reproml.commands.templates",
}
# The root group lists `jupyter` without importing it, and pathlib is left to the commands that need it.
ROOT_ONLY = NEVER_AT_START | {"pathlib", "json", "tomllib", "reproml.cli_jupyter", "reproml.commands.jupyter"}
# status, url and list (of no server) start no process and hash no path.
JUPYTER_READS = NEVER_AT_START | {"subprocess", "shutil", "hashlib"}
QUICK_COMMANDS = [
    (["--help"], ROOT_ONLY),
    (["--version"], ROOT_ONLY),
    (["jupyter", "status"], JUPYTER_READS),
    (["jupyter", "url"], JUPYTER_READS),
    (["jupyter", "list"], (JUPYTER_READS - {"platformdirs", "shutil"}) | {"tomllib"}),
    (["templates", "--json"], {"copier", "jinja2", "rich", "pydantic", "typer", "yaml", "psutil"}),
]


def modules_imported_by(args: list[str], cwd: Path) -> set[str]:
    """The modules `reproml ARGS` imports, beyond those of a bare interpreter, run as the entry point runs."""
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"sys.argv = ['reproml', *{args!r}]\n"
        "from reproml.cli import main\n"
        "try: main()\n"
        "except SystemExit: pass\n"
        "print('IMPORTED:', *sorted(set(sys.modules) - before))\n"
    )
    env = dict(os.environ, HOME=str(cwd), XDG_STATE_HOME=str(cwd / "state"))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.splitlines()[-1].split()[1:])


@pytest.mark.parametrize(("args", "not_wanted"), QUICK_COMMANDS, ids=[" ".join(a) for a, _ in QUICK_COMMANDS])
def test_quick_commands_import_only_what_they_need(tmp_path, args, not_wanted):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n')  # a plain uv project
    imported = modules_imported_by(args, tmp_path)
    assert "reproml.cli" in imported  # it really ran
    assert not imported & not_wanted, f"reproml {' '.join(args)} imported {sorted(imported & not_wanted)}"


def test_jupyter_status_in_a_reproml_project_reads_answers_but_loads_no_server_library(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n')
    (tmp_path / ".copier-answers.yml").write_text("preset: uv-python-ml\npackage_name: p\n")
    imported = modules_imported_by(["jupyter", "status"], tmp_path)
    assert {"yaml", "reproml.presets"} <= imported  # the answers file names the preset
    unwanted = {
        "copier",
        "jinja2",
        "rich",
        "psutil",
        "urllib.request",
        "tomllib",
        "difflib",
        "reproml.machine",
    }
    assert not imported & unwanted, sorted(imported & unwanted)


def test_lazy_commands_are_listed_with_their_real_help():
    """Root --help lists a lazy group from the text in cli.py: it must shorten as the group's own help."""
    for name, (module, attribute, help_text) in LAZY_COMMANDS.items():
        real = getattr(importlib.import_module(module), attribute)
        stand_in = NotLoaded(name, help=help_text)
        for limit in (20, 45, 60, 94, 200):
            assert stand_in.get_short_help_str(limit) == real.get_short_help_str(limit), (name, limit)


def test_root_help_lists_every_command_and_the_lazy_group_runs():
    result = runner.invoke(app, ["--help"], terminal_width=200)
    listed = re.findall(r"^  (\w+) ", result.output.split("Commands:")[1], flags=re.MULTILINE)
    assert listed == sorted(app.commands) and {"doctor", "jupyter", "new", "templates"} <= set(listed)
    assert "started from the project's own" in result.output
    result = runner.invoke(app, ["jupyter", "status", "--help"])
    assert result.exit_code == 0 and "Is the server running" in result.output


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_third_party_import_is_a_declared_dependency():
    """A fresh venv has only what pyproject.toml declares: an import of anything else breaks the first run."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}
    optional = {
        re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower()
        for dep in project["optional-dependencies"]["jupyter"]
    }
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for path in SRC.rglob("*.py"):
        for module in _imports(path) - set(sys.stdlib_module_names) - {"reproml", "__future__"}:
            dists = {d.lower().replace("_", "-") for d in providers.get(module, [module])}
            normalised = {d.replace("_", "-") for d in declared | optional}
            if not dists & normalised:
                undeclared[module] = path.relative_to(REPO).as_posix()
    assert undeclared == {}


def test_dependency_ranges_have_upper_bounds():
    """A new major version of a dependency must not reach users untested (.ci/run installs both ends)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    unbounded = [dep for dep in project["dependencies"] if "<" not in dep]
    assert unbounded == []
