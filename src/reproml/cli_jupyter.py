"""`reproml jupyter ...`: the Typer sub-app. It parses and prints; reproml.commands.jupyter does the work.

Nothing heavy is imported here (the command module, psutil and the rest load inside each handler), so
`reproml --help` stays fast. Errors are ReproErrors, turned into one line and an exit code by the root app's
ReproGroup; this module must not import reproml.cli (which imports it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer

jupyter_app = typer.Typer(
    name="jupyter",
    help="A persistent, private Jupyter server per project, started from the project's own environment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PathArg = Annotated[
    Path,
    typer.Argument(
        help="The project (or a folder inside it) [default: the current folder].", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output (stable keys).")]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


@jupyter_app.command()
def start(
    path: PathArg = Path("."),
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "-p",
            help="Port; fails if busy [default: 8888, or the next free one].",
            show_default=False,
        ),
    ] = None,
    lab: Annotated[bool, typer.Option("--lab/--notebook", help="JupyterLab or Jupyter Notebook.")] = True,
    ip: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback needs --public.")
    ] = "127.0.0.1",
    public: Annotated[
        bool, typer.Option("--public", help="Allow a non-loopback --ip (prints a warning).")
    ] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the server to answer.")] = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Start the project's Jupyter server, detached, and print its URL (or the running one's)."""
    from reproml.commands import jupyter

    try:
        result = jupyter.start(
            path, port=port, app="lab" if lab else "notebook", ip=ip, public=public, wait=wait
        )
    except jupyter.ServerStartError as error:
        if error.log_tail:
            click.echo("reproml: the server's last log lines:\n" + _indent(error.log_tail), err=True)
        raise
    for warning in result.warnings:
        click.echo(f"reproml: warning: {warning}", err=True)
    if as_json:
        _print_json(
            dict(result.status.to_dict(), already_running=result.already_running, tunnel=result.tunnel)
        )
    else:
        typer.echo(jupyter.render_start(result))


@jupyter_app.command()
def status(path: PathArg = Path("."), as_json: JsonOpt = False) -> None:
    """Is the server running, starting, unhealthy (not answering), dead (process gone) or stopped?"""
    from reproml.commands import jupyter

    current = jupyter.status(path)
    if as_json:
        _print_json(current.to_dict())
    else:
        typer.echo(jupyter.render_status(current))


@jupyter_app.command()
def stop(
    path: PathArg = Path("."),
    all_servers: Annotated[
        bool, typer.Option("--all", help="Stop every server reproml started on this machine.")
    ] = False,
    grace: Annotated[float, typer.Option(help="Seconds to wait after each step (shutdown, SIGTERM).")] = 5.0,
) -> None:
    """Stop the server: ask it to shut down, then SIGTERM, then SIGKILL. Nothing to stop is not an error."""
    from reproml.commands import jupyter
    from reproml.errors import UsageError

    if not grace >= 0:
        raise UsageError(f"--grace {grace:g} must be 0 or more seconds")
    if all_servers:
        if path != Path("."):
            raise UsageError("give either a PATH or --all, not both")
        results = jupyter.stop_all(grace=grace)
        if not results:
            typer.echo("no Jupyter servers started by reproml; nothing to stop")
        for result in results:
            typer.echo(jupyter.render_stop(result))
        return
    typer.echo(jupyter.render_stop(jupyter.stop(path, grace=grace)))


@jupyter_app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every Jupyter server reproml started on this machine, across projects, with its health."""
    from reproml.commands import jupyter

    servers = jupyter.list_servers()
    if as_json:
        _print_json({"servers": [s.to_dict() for s in servers]})
    else:
        typer.echo(jupyter.render_list(servers))


@jupyter_app.command()
def logs(
    path: PathArg = Path("."),
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many of the last lines to show.")] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the server stops.")
    ] = False,
) -> None:
    """Show the server's log (the token never appears in it)."""
    from reproml.commands import jupyter
    from reproml.errors import UsageError

    if lines < 0:
        raise UsageError(f"--lines {lines} must be 0 or more")
    log = jupyter.log_file(path)
    text = jupyter.log_tail(log, lines)
    if text:
        typer.echo(text)
    if follow:
        try:
            for chunk in jupyter.follow(log, jupyter.current_record(path)):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass  # Ctrl-C is how one leaves --follow


@jupyter_app.command()
def url(path: PathArg = Path(".")) -> None:
    """Print the running server's URL, token included (for scripts: `reproml jupyter url`)."""
    from reproml.commands import jupyter

    typer.echo(jupyter.url(path))


@jupyter_app.command()
def kernel(
    path: PathArg = Path("."),
    name: Annotated[
        str | None, typer.Option(help="Kernel name [default: reproml-<project>].", show_default=False)
    ] = None,
    display_name: Annotated[
        str | None, typer.Option(help="Name shown in kernel pickers.", show_default=False)
    ] = None,
) -> None:
    """Register the project's environment as a Jupyter kernel, so VS Code and other front ends can pick it."""
    from reproml.commands import jupyter

    result = jupyter.install_kernel(path, name=name, display_name=display_name)
    where = f" in {result.spec_dir}" if result.spec_dir else ""
    typer.echo(f"Registered kernel '{result.name}' (\"{result.display_name}\") for {result.python}{where}")


def _indent(text: str) -> str:
    return "\n".join(f"  | {line}" for line in text.splitlines())
