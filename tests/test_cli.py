"""The CLI layer itself: Ctrl-C on a real terminal, help text, start-up imports, declared dependencies."""

from __future__ import annotations

import ast
import errno
import importlib.metadata
import os
import pty
import re
import select
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from reproml import gpu
from reproml.cli import ACCELERATOR_CHOICES, PYTHON_CHOICES, app
from reproml.commands import new as new_module

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src" / "reproml"
runner = CliRunner()


def read_until(fd: int, pattern: str, timeout: float = 20.0) -> str:
    """Read a pseudo-terminal until ``pattern`` shows up (or the child closes it)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError as exc:  # EIO: the child closed the terminal
            if exc.errno == errno.EIO:
                break
            raise
        if not chunk:
            break
        seen += chunk
        if re.search(pattern, seen.decode(errors="replace")):
            break
    return seen.decode(errors="replace")


@pytest.mark.parametrize("answers_before_ctrl_c", [0, 2])
def test_ctrl_c_at_a_prompt_on_a_real_terminal_is_one_line_and_exit_130(tmp_path, answers_before_ctrl_c):
    target = tmp_path / "proj"
    pid, fd = pty.fork()
    if pid == 0:  # the child: reproml new on a real terminal, so it asks its questions
        os.execvp(sys.executable, [sys.executable, "-m", "reproml", "new", str(target)])
    output = read_until(fd, r"Preset \[")
    assert "Preset [" in output, output
    for answer in ["uv-python-ml", "my-model"][:answers_before_ctrl_c]:
        os.write(fd, answer.encode() + b"\r")
        output += read_until(fd, r"\]: $|: $")
    os.write(fd, b"\x03")  # Ctrl-C, as the terminal sends it: SIGINT to the foreground process
    output += read_until(fd, r"interrupted")
    output += read_until(fd, r"$a", timeout=5)  # drain until the child exits
    _, status = os.waitpid(pid, 0)
    os.close(fd)
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


FAST_COMMANDS = [
    ["--help"],
    ["jupyter", "status"],
    ["jupyter", "list"],
    ["jupyter", "url"],
    ["templates", "--json"],
]


@pytest.mark.parametrize("args", FAST_COMMANDS, ids=lambda a: " ".join(a))
def test_quick_commands_import_no_heavy_library(tmp_path, args):
    """Start-up time is mostly imports: these commands must not load pydantic, typer, copier or jinja2."""
    code = (
        "import sys\n"
        "from reproml.cli import app\n"
        f"try: app({args!r}, standalone_mode=False)\n"
        "except BaseException: pass\n"
        "heavy = ('pydantic', 'typer', 'copier', 'jinja2', 'yaml', 'rich', 'psutil')\n"
        "print('HEAVY:', *sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.splitlines()[-1].split()[1:])
    allowed = {"psutil"} if args[0] == "jupyter" and args[1] != "url" else set()
    assert loaded <= allowed, f"{args} imported {sorted(loaded - allowed)}"


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
