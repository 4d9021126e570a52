"""The command line: parse, call a command function, print its result, map errors to exit codes.

Commands live in reproml.commands.* and are imported inside each handler, so `reproml --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from reproml import __version__
from reproml.errors import ReproError


class ReproGroup(TyperGroup):
    """Turns every ReproError (and Ctrl-C) into one line on stderr and its exit code: no tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReproError as error:
            click.echo(f"reproml: error: {error.one_line()}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("reproml: interrupted; nothing was left half-written", err=True)
            ctx.exit(130)


app = typer.Typer(
    cls=ReproGroup,
    name="reproml",
    help="Create and look after reproducible Python machine-learning projects.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: importing Rich's help renderer would triple start-up time
)


def _on_a_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reproml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    pass


@app.command()
def templates(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the presets, what each is best for, and which this machine can run now."""
    from reproml.commands.templates import catalog, render_catalog

    result = catalog()
    if as_json:
        print_json(result.to_dict())
    else:
        render_catalog(result)


@app.command()
def new(
    path: Annotated[Path, typer.Argument(help="Folder to create the project in.", show_default=False)],
    template: Annotated[
        str | None, typer.Option("--template", "-t", help="Preset [default: global-python-ml].")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Project name [default: the folder name].")] = None,
    description: Annotated[str | None, typer.Option(help="One-line description.")] = None,
    author: Annotated[str | None, typer.Option(help="Author [default: git config user.name].")] = None,
    email: Annotated[str | None, typer.Option(help="Author e-mail [default: git config user.email].")] = None,
    python: Annotated[
        str | None, typer.Option(help="Python X.Y, 3.10-3.14 [default: this interpreter's].")
    ] = None,
    framework: Annotated[str | None, typer.Option(help="torch or none [default: torch].")] = None,
    accelerator: Annotated[
        str | None, typer.Option(help="PyTorch build: auto, cpu, cuda, cu126, cu128, cu130 [default: auto].")
    ] = None,
    docs: Annotated[
        bool | None, typer.Option("--docs/--no-docs", help="Sphinx docs (myst + furo) [default: on].")
    ] = None,
    jupyter: Annotated[
        bool | None,
        typer.Option("--jupyter/--no-jupyter", help="JupyterLab + ipykernel in the dev environment [default: on]."),
    ] = None,
    git: Annotated[bool, typer.Option("--git/--no-git", help="git init and a first commit.")] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Ask nothing; use options and defaults.")] = False,
    force: Annotated[
        bool, typer.Option(help="Write into a non-empty folder (files reproml writes are overwritten).")
    ] = False,
) -> None:
    """Create a project from a preset."""
    from reproml.commands.new import NewOptions, create_project, next_steps

    options = NewOptions(
        path=path,
        template=template,
        name=name,
        description=description,
        author=author,
        email=email,
        python=python,
        framework=framework,
        accelerator=accelerator,
        docs=docs,
        jupyter=jupyter,
        git=git,
        force=force,
    )
    interactive = not yes and _on_a_terminal()
    result = create_project(options, interactive=interactive)
    for warning in result.warnings:
        click.echo(f"reproml: warning: {warning}", err=True)
    typer.echo(next_steps(result))


from reproml.cli_jupyter import jupyter_app  # noqa: E402
app.add_typer(jupyter_app, name="jupyter")


@app.command()
def doctor(
    path: Annotated[
        Path | None,
        typer.Argument(help="A folder in the project to check [default: the current folder].", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (schema version 1).")] = False,
) -> None:
    """Check tools, machine, NVIDIA driver and the project; each finding has a one-line fix. Exit 1 on errors."""
    from reproml.commands.doctor import diagnose, render_report

    report = diagnose(path)
    if as_json:
        print_json(report.to_dict())
    else:
        render_report(report)
    if not report.ok:
        raise typer.Exit(1)


def main() -> None:
    app()
