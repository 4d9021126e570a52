"""Options more than one command group shares (reproml.cli and the lazily loaded reproml.cli_jupyter): click
only, so importing this costs start-up nothing."""

from __future__ import annotations

from typing import Any

import click


def slurm_options(command: Any) -> Any:
    """The resource options of a SLURM job; unset ones come from [tool.reproml.slurm], else the cluster."""
    for option in reversed([
        click.option("--gpus", type=click.IntRange(min=0), metavar="N", help="GPUs for the job."),
        click.option("--cpus", type=click.IntRange(min=1), metavar="N", help="CPU cores for the job."),
        click.option("--mem", metavar="SIZE", help="Memory for the job (sbatch --mem: 16G, 4000M)."),
        click.option("--time", metavar="D-HH:MM", help="Time limit of the job."),
        click.option("--partition", metavar="P", help="SLURM partition."),
        click.option("--account", metavar="A", help="SLURM account."),
    ]):
        command = option(command)
    return command
