"""`reproml jupyter ...`: the click sub-group. It parses and prints; reproml.commands.jupyter does the work.

reproml.cli imports this module only when `jupyter` runs (root `--help` lists it without it). Nothing heavy is
imported here either (the command module, psutil and the rest load inside each handler). Errors are
ReproErrors, turned into one line and an exit code by the root group (reproml.cli.ReproGroup); this module
must not import reproml.cli (which imports it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from reproml.cli_options import slurm_options

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _path_argument(function: Any) -> Any:
    return click.argument(
        "path", required=False, default=Path("."), type=click.Path(path_type=Path), metavar="[PATH]"
    )(function)


def _json_option(function: Any) -> Any:
    return click.option(
        "--json", "as_json", is_flag=True, help="Machine-readable JSON output (stable keys)."
    )(function)


def _print_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


@click.group(context_settings=CONTEXT)
def jupyter_app() -> None:
    """A persistent, private Jupyter server per project, started from the project's own environment.

    PATH is the project (or a folder inside it) [default: the current folder]."""


@jupyter_app.command(context_settings=CONTEXT)
@_path_argument
@click.option(
    "-p", "--port", type=int, metavar="N", help="Port; fails if busy [default: 8888, or the next free one]."
)
@click.option("--lab/--notebook", default=True, help="JupyterLab or Jupyter Notebook [default: lab].")
@click.option(
    "--ip",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDR",
    help="Address to bind; anything but loopback needs --public.",
)
@click.option("--public", is_flag=True, help="Allow a non-loopback --ip (prints a warning).")
@click.option(
    "--wait",
    type=float,
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait for the server to answer.",
)
@click.option("--slurm", is_flag=True,
              help="Run it in a SLURM job on a compute node (options below); `stop` cancels the job.")
@slurm_options
@click.option("--wait-start", type=click.FloatRange(min=0), metavar="SECONDS",
              help="With --slurm: fail (squeue's reason) and cancel the job when it is still pending "
                   "after SECONDS.")
@_json_option
def start(path: Path, port: int | None, lab: bool, ip: str, public: bool, wait: float, as_json: bool,
          slurm: bool, wait_start: float | None, **given: Any) -> None:
    """Start the project's Jupyter server, detached, and print its URL (or the running one's)."""
    from reproml.commands import jupyter
    from reproml.errors import UsageError

    app = "lab" if lab else "notebook"
    if slurm and (port is not None or public or ip != "127.0.0.1"):
        raise UsageError("--slurm binds the compute node's address on a free port: "
                         "leave out --port/--ip/--public")
    if not slurm and (wait_start is not None or any(value is not None for value in given.values())):
        raise UsageError("--gpus/--cpus/--mem/--time/--partition/--account/--wait-start need --slurm")
    try:
        if slurm:
            from reproml.commands import jupyter_slurm

            result = jupyter_slurm.start(path, given, app=app, wait=wait, wait_start=wait_start)
        else:
            result = jupyter.start(path, port=port, app=app, ip=ip, public=public, wait=wait)
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
        click.echo(jupyter.render_start(result))


@jupyter_app.command(context_settings=CONTEXT)
@_path_argument
@_json_option
def status(path: Path, as_json: bool) -> None:
    """Is the server running, starting, unhealthy (not answering), dead (process gone) or stopped?"""
    from reproml.commands import jupyter

    current = jupyter.status(path)
    if as_json:
        _print_json(current.to_dict())
    else:
        click.echo(jupyter.render_status(current))


@jupyter_app.command(context_settings=CONTEXT)
@_path_argument
@click.option("--all", "all_servers", is_flag=True, help="Stop every server reproml started on this machine.")
@click.option(
    "--grace",
    type=float,
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait after each step (shutdown, SIGTERM).",
)
def stop(path: Path, all_servers: bool, grace: float) -> None:
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
            click.echo("no Jupyter servers started by reproml; nothing to stop")
        for result in results:
            click.echo(jupyter.render_stop(result))
        return
    click.echo(jupyter.render_stop(jupyter.stop(path, grace=grace)))


@jupyter_app.command("list", context_settings=CONTEXT)
@_json_option
def list_(as_json: bool) -> None:
    """Every Jupyter server reproml started on this machine, across projects, with its health."""
    from reproml.commands import jupyter

    servers = jupyter.list_servers()
    if as_json:
        _print_json({"servers": [s.to_dict() for s in servers]})
    else:
        click.echo(jupyter.render_list(servers))


@jupyter_app.command(context_settings=CONTEXT)
@_path_argument
@click.option(
    "-n",
    "--lines",
    type=int,
    default=50,
    show_default=True,
    metavar="N",
    help="How many of the last lines to show.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the server stops.")
def logs(path: Path, lines: int, follow: bool) -> None:
    """Show the server's log (the token never appears in it)."""
    from reproml.commands import jupyter
    from reproml.errors import UsageError

    if lines < 0:
        raise UsageError(f"--lines {lines} must be 0 or more")
    log = jupyter.log_file(path)
    text = jupyter.log_tail(log, lines)
    if text:
        click.echo(text)
    if follow:
        try:
            for chunk in jupyter.follow(log, jupyter.current_record(path)):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass  # Ctrl-C is how one leaves --follow


@jupyter_app.command(context_settings=CONTEXT)
@_path_argument
def url(path: Path) -> None:
    """Print the running server's URL, token included (for scripts: `reproml jupyter url`)."""
    from reproml.commands import jupyter

    click.echo(jupyter.url(path))


@jupyter_app.command(context_settings=CONTEXT)
@_path_argument
@click.option("--name", metavar="NAME", help="Kernel name [default: reproml-<project>].")
@click.option("--display-name", metavar="TEXT", help="Name shown in kernel pickers.")
@click.option("--remove", is_flag=True, help="Unregister the kernel again (only one reproml registered).")
def kernel(path: Path, name: str | None, display_name: str | None, remove: bool) -> None:
    """Register the project's environment as a Jupyter kernel, so VS Code and other front ends can pick it."""
    from reproml.commands import jupyter
    from reproml.errors import UsageError

    if remove:
        if display_name is not None:
            raise UsageError("--display-name does not go with --remove")
        removed = jupyter.remove_kernel(path, name=name)
        click.echo(f"Removed kernel '{removed.name}' ({removed.spec_dir})")
        return
    result = jupyter.install_kernel(path, name=name, display_name=display_name)
    if result.already:
        click.echo(f"Kernel '{result.name}' is already registered for {result.python} in {result.spec_dir}")
        return
    where = f" in {result.spec_dir}" if result.spec_dir else ""
    click.echo(f"Registered kernel '{result.name}' (\"{result.display_name}\") for {result.python}{where}")
    click.echo(f"Undo with: reproml jupyter kernel --remove{' --name ' + result.name if name else ''}")


def _indent(text: str) -> str:
    return "\n".join(f"  | {line}" for line in text.splitlines())
