"""The command line: parse, call a command function, print its result, map errors to exit codes.

Plain click, chosen for start-up time: typer's option parsing imports pydantic (about 75 ms per command) and
vendors its own click. Commands live in reproml.commands.* and are imported inside each handler, and the
`jupyter` group (reproml.cli_jupyter) only when it runs, so `reproml --help` and `reproml jupyter status` pay
only for click and the command they run. pathlib is not imported here either (about 4 ms): PATH arguments
arrive as str and become Paths in the handler. tests/test_cli.py checks what start-up imports.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from reproml import __version__
from reproml.cli_options import slurm_options
from reproml.errors import ReproError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Shown in `reproml new --help`; a test checks them against reproml.gpu and reproml.commands.new, which are
# not imported here so that every command starts fast.
ACCELERATOR_CHOICES = "auto, cpu, cuda, cu126, cu130, cu132"
PYTHON_CHOICES = "3.10-3.14"
LICENSE_CHOICES = "MIT, Apache-2.0, BSD-3-Clause, none"
# Sub-groups imported only when they run: name -> (module, attribute, first paragraph of their help). Root
# `--help` lists them from this text; a test checks it against the real group's help.
LAZY_COMMANDS = {
    "jupyter": (
        "reproml.cli_jupyter",
        "jupyter_app",
        "A persistent, private Jupyter server per project, started from the project's own environment.",
    ),
}


class NotLoaded(click.Command):
    """Stands in for one of the LAZY_COMMANDS until it runs: root `--help` lists it with the same help text
    (shortened by click as the real one would be), and click suggests its name for a typo."""


class ReproGroup(click.Group):
    """Turns every ReproError, OSError and Ctrl-C into one line on stderr and its exit code: no tracebacks.
    Loads a LAZY_COMMANDS group when it runs (or is completed), not when `--help` lists it."""

    _listing = False  # True while format_commands lists the commands for --help

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if isinstance(command, NotLoaded) and not self._listing:
            module, attribute, _ = LAZY_COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReproError as error:
            click.echo(f"reproml: error: {error.one_line()}", err=True)
            ctx.exit(error.exit_code)
        except (KeyboardInterrupt, click.exceptions.Abort):
            # click turns Ctrl-C (and end of input) at a prompt into Abort; both mean "stop now".
            click.echo("\nreproml: interrupted; nothing was left half-written", err=True)
            ctx.exit(130)
        except OSError as error:  # a full disk, a read-only mount, a name too long: say which path and why
            where = f"{error.filename}: " if error.filename else ""
            click.echo(f"reproml: error: {where}{error.strerror or error}", err=True)
            ctx.exit(1)


def print_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _on_a_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@click.group(cls=ReproGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="reproml", message="%(prog)s %(version)s")
def app() -> None:
    """Create and look after reproducible Python machine-learning projects."""


@app.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def templates(as_json: bool) -> None:
    """List the presets, what each is best for, and which this machine can run now."""
    from reproml.commands.templates import catalog, render_catalog

    result = catalog()
    if as_json:
        print_json(result.to_dict())
    else:
        render_catalog(result)


@app.command(context_settings=CONTEXT)
@click.argument("path", type=click.Path(), metavar="PATH")
@click.option(
    "-t",
    "--template",
    metavar="PRESET",
    help="Preset (see `reproml templates`) [default: the one recommended for this machine].",
)
@click.option("--name", metavar="NAME", help="Project name [default: the folder name].")
@click.option("--description", metavar="TEXT", help="One-line description.")
@click.option("--author", metavar="NAME", help="Author [default: git config user.name].")
@click.option("--email", metavar="ADDRESS", help="Author e-mail [default: git config user.email].")
@click.option(
    "--python", metavar="X.Y", help=f"Python version, {PYTHON_CHOICES} [default: this interpreter's]."
)
@click.option("--framework", metavar="torch|none", help="Deep-learning framework [default: torch].")
@click.option("--accelerator", metavar="BUILD", help=f"PyTorch build: {ACCELERATOR_CHOICES} [default: auto].")
@click.option("--docs/--no-docs", default=None, help="Sphinx docs (MyST + furo) [default: on].")
@click.option(
    "--jupyter/--no-jupyter",
    default=None,
    help="JupyterLab + ipykernel in the dev environment [default: on].",
)
@click.option("--git/--no-git", default=None, help="git init and a first commit [default: on].")
@click.option("--ci", metavar="github|none", help="CI workflow: GitHub Actions, or none [default: github].")
@click.option(
    "--pre-commit/--no-pre-commit",
    default=None,
    help="pre-commit hooks: ruff, nbstripout, large files, merge conflicts [default: on].",
)
@click.option(
    "--license",
    metavar="SPDX",
    help=f"License: {LICENSE_CHOICES}, with your name and the year [default: MIT].",
)
@click.option(
    "--lock/--no-lock",
    default=None,
    help="Write uv.lock (pixi.lock where pixi is installed) now; offline: a warning [default: on].",
)
@click.option("-y", "--yes", is_flag=True, help="Ask nothing; use options and defaults.")
@click.option(
    "--force",
    is_flag=True,
    help="Write into a non-empty folder: none of your files is replaced (a differing one gets reproml's "
    "version beside it as FILE.reproml-new, exit 6; .gitignore gets reproml's missing rules appended).",
)
def new(path: str, yes: bool, **given: Any) -> None:
    """Create a project from a preset in PATH."""
    from pathlib import Path

    from reproml.commands.new import NewOptions, create_project, next_steps

    options = NewOptions(path=Path(path), **given)
    result = create_project(options, interactive=not yes and _on_a_terminal())
    if result.chosen_because:
        click.echo(
            f"reproml: preset {result.preset.name}: {result.chosen_because} "
            "(another: -t, see `reproml templates`)",
            err=True,
        )
    for warning in result.warnings:
        click.echo(f"reproml: warning: {warning}", err=True)
    click.echo(next_steps(result))
    if result.exit_code:  # --force kept files of the user's that differ: a merge is left to do
        sys.exit(result.exit_code)


@app.command(context_settings=CONTEXT)
@click.argument("path", required=False, type=click.Path(), metavar="[PATH]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (schema version 1).")
def doctor(path: str | None, as_json: bool) -> None:
    """Check tools, machine, NVIDIA driver and the project in PATH [default: the current folder].

    Each finding has a one-line fix. Exit 1 on errors."""
    from reproml.commands.doctor import diagnose, render_report

    report = diagnose(path)
    if as_json:
        print_json(report.to_dict())
    else:
        render_report(report)
    if not report.ok:
        sys.exit(1)


@app.command(context_settings=CONTEXT)
@click.argument("path", required=False, type=click.Path(), metavar="[PATH]")
@click.option("-t", "--template", metavar="PRESET", help="Switch to this preset (see `reproml templates`).")
@click.option("--python", metavar="X.Y", help=f"Change the Python version ({PYTHON_CHOICES}).")
@click.option("--accelerator", metavar="BUILD", help=f"Change the PyTorch build: {ACCELERATOR_CHOICES}.")
@click.option("--docs/--no-docs", default=None, help="Add or remove the Sphinx docs.")
@click.option("--jupyter/--no-jupyter", default=None, help="Add or remove JupyterLab in the dev environment.")
@click.option("--ci", metavar="github|none", help="Add or remove the CI workflow.")
@click.option("--pre-commit/--no-pre-commit", default=None, help="Add or remove the pre-commit hooks.")
@click.option("--license", metavar="SPDX", help=f"Change the license: {LICENSE_CHOICES} [default: kept; "
              "projects made before reproml asked get none].")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 when an update is waiting, 0 when none.")
@click.option("--dry-run", is_flag=True, help="Change nothing; print the diff the merge would make.")
@click.option("--lock", is_flag=True, help="Refresh the lock file when the merge changed dependencies.")
def update(path: str | None, **given: Any) -> None:
    """Merge the installed template (and changed answers) into the project in PATH [default: here].

    A three-way merge with git: your changes are kept, the template's come in, overlapping ones get
    conflict markers (exit 6). Needs a clean git working tree."""
    from pathlib import Path

    from reproml.commands.update import UpdateOptions, render_result, update_project

    result = update_project(UpdateOptions(path=Path(path or "."), **given))
    render_result(result)
    if result.exit_code:
        sys.exit(result.exit_code)


def _package_options(remove: bool) -> Any:
    """The options `add` and `remove` share (remove has no --dry-run-free variant: both have all of them)."""
    verb = "remove" if remove else "add"

    def decorate(command: Any) -> Any:
        for option in reversed([
            click.argument("packages", nargs=-1, required=True, metavar="PKG..."),
            click.option("--pypi", is_flag=True, help="Pixi: a PyPI package (uv projects: always PyPI)."),
            click.option("--conda", is_flag=True,
                         help="Pixi: a conda-forge package [default in Pixi projects]."),
            click.option("--group", metavar="NAME",
                         help="uv: a dependency group (dev, docs, test...); Pixi: a feature "
                         "[default: the project's own dependencies]."),
            click.option("--nix", is_flag=True,
                         help=f"{verb.capitalize()} nixpkgs attributes (ffmpeg, python3Packages.black) "
                         "in the dev shell, through .nix/packages.nix."),
            click.option("--dry-run", is_flag=True, help="Print the diff; change nothing."),
            click.option("--project", "path", default=".", type=click.Path(), metavar="PATH",
                         help="The project [default: the current folder]."),
        ]):
            command = option(command)
        return command

    return decorate


@app.command(context_settings=CONTEXT)
@_package_options(remove=False)
def add(**given: Any) -> None:
    """Add packages the way this project's preset needs (the PyTorch family follows torch), all or nothing."""
    _change_packages("add", given)


@app.command(context_settings=CONTEXT)
@_package_options(remove=True)
def remove(**given: Any) -> None:
    """Remove packages (and their now unused sources), all or nothing."""
    _change_packages("remove", given)


def _change_packages(action: str, given: dict[str, Any]) -> None:
    from pathlib import Path

    from reproml.commands.add import ChangeOptions, add_packages, remove_packages

    options = ChangeOptions(**{**given, "path": Path(given["path"])})
    result = (add_packages if action == "add" else remove_packages)(options)
    if options.dry_run:
        sys.stdout.write(result.diff or "nothing would change\n")
        click.echo("reproml: dry run: nothing was changed", err=True)
        return
    for line in result.done:
        click.echo(f"reproml: {line}", err=True)
    for line in result.notes:
        click.echo(f"reproml: next: {line}", err=True)


@app.command(context_settings={**CONTEXT, "ignore_unknown_options": True})
@click.option("--slurm", is_flag=True, help="Run as a SLURM batch job (the only way `run` runs for now).")
@slurm_options
@click.option("--wait", is_flag=True, help="Follow the job's log; exit with the job's exit code.")
@click.option("--wait-start", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Fail (exit 4, squeue's reason) when the job is still pending after SECONDS.")
@click.option("--cancel-if-pending", is_flag=True,
              help="With --wait-start: cancel the pending job instead of leaving it queued.")
@click.option("--project", "path", default=".", type=click.Path(), metavar="PATH",
              help="The project [default: the current folder].")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- CMD [ARGS]...")
def run(slurm: bool, wait: bool, wait_start: float | None, cancel_if_pending: bool, path: str,
        command: tuple[str, ...], **given: Any) -> None:
    """Run CMD in the project's own environment from the project folder, as a SLURM job (--slurm).

    The environment is made ready first (uv sync / pixi install, once); on the node the job checks that its
    CUDA build suits the driver. Logs go to .reproml/jobs/, readable by you only."""
    from reproml.commands.run import submit
    from reproml.errors import UsageError

    if not slurm:
        raise UsageError("reproml run needs --slurm (running on this machine: use the project's environment)")
    if cancel_if_pending and wait_start is None:
        raise UsageError("--cancel-if-pending needs --wait-start SECONDS")
    submitted = submit(path, command, given)
    for note in submitted.notes:
        click.echo(f"reproml: {note}", err=True)
    click.echo(submitted.job_id)
    click.echo(f"reproml: job {submitted.job_id} submitted; log: {submitted.log}", err=True)
    if wait or wait_start is not None:
        sys.exit(_wait_for_job(path, submitted.job_id, follow=wait, wait_start=wait_start,
                               cancel_if_pending=cancel_if_pending))


def _wait_for_job(path: str, job_id: str, *, follow: bool, wait_start: float | None,
                  cancel_if_pending: bool) -> int:
    """Wait for the job to start (``wait_start``), follow its log to its end (``follow``); the exit code.
    Ctrl-C asks whether to cancel (a script: leaves it)."""
    from reproml import slurm as scheduler
    from reproml.commands import jobs

    job = jobs.find(path, job_id)
    try:
        if wait_start is not None:
            scheduler.wait_start(job_id, wait_start, cancel_if_pending=cancel_if_pending)
        if not follow:
            return 0
        for chunk in jobs.follow(job):
            sys.stdout.write(chunk)
            sys.stdout.flush()
    except KeyboardInterrupt:
        if _on_a_terminal() and click.confirm(f"\ncancel job {job_id}?", default=False, err=True):
            jobs.cancel(path, job_id)
            click.echo(f"reproml: job {job_id} cancelled", err=True)
        else:
            click.echo(f"\nreproml: job {job_id} keeps running (reproml jobs cancel {job_id})", err=True)
        return 130
    done = jobs.final(path, job_id)
    code = done.exit_code if done.exit_code is not None else 1
    if code:
        click.echo(f"reproml: job {job_id} ended {done.state} with exit code {code}", err=True)
    return code


@app.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--project", "path", default=".", type=click.Path(), metavar="PATH",
              help="The project [default: the current folder].")
@click.pass_context
def jobs(ctx: click.Context, as_json: bool, path: str) -> None:
    """This project's SLURM jobs: state, elapsed and remaining time, limit, exit code."""
    ctx.obj = path
    if ctx.invoked_subcommand is not None:
        return
    from reproml.commands import jobs as job_list

    found = job_list.list_jobs(path)
    sys.stdout.write(job_list.dumps(found) if as_json else job_list.render(found))


@jobs.command("logs", context_settings=CONTEXT)
@click.argument("job_id", metavar="ID")
@click.option("-n", "lines", type=click.IntRange(min=0), default=50, show_default=True, help="Last N lines.")
@click.option("--follow", is_flag=True, help="Keep printing as the job writes, until it ends.")
@click.pass_obj
def jobs_logs(path: str, job_id: str, lines: int, follow: bool) -> None:
    """Print a job's log."""
    from reproml.commands import jobs as job_list

    job = job_list.find(path, job_id)
    sys.stdout.write(job_list.log_tail(job.log, lines))
    if follow:
        for chunk in job_list.follow(job, from_start=False):
            sys.stdout.write(chunk)
            sys.stdout.flush()


@jobs.command("cancel", context_settings=CONTEXT)
@click.argument("job_id", metavar="ID")
@click.pass_obj
def jobs_cancel(path: str, job_id: str) -> None:
    """Cancel a job of this project."""
    from reproml.commands import jobs as job_list

    job = job_list.cancel(path, job_id)
    click.echo(f"reproml: job {job_id} cancelled" if job.info and not job.info.finished
               else f"reproml: job {job_id} had already ended ({job.state})", err=True)


for _name, (_, _, _help) in LAZY_COMMANDS.items():
    app.add_command(NotLoaded(_name, help=_help))


def main() -> None:
    app(prog_name="reproml")
