"""The ``facetransfer`` command line: ``data_commands``, ``project_commands`` and ``scoring_commands``.

Heavy libraries (torch, DVC, ZenML, MLflow) are imported inside the commands, so
``facetransfer --help`` stays fast.
"""

from __future__ import annotations

import logging

import click

from facetransfer.environment import apply_project_defaults


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Face-segmentation transfer learning for detecting AI-generated faces."""
    apply_project_defaults()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # DVC's INFO hints ("git add data.dvc", autostage) repeat what the commands print.
        logging.getLogger("dvc").setLevel(logging.WARNING)


def _attach_commands() -> None:
    from facetransfer.cli.data_commands import data_commands
    from facetransfer.cli.project_commands import project_commands
    from facetransfer.cli.scoring_commands import scoring_commands

    for command in [*data_commands(), *project_commands(), *scoring_commands()]:
        main.add_command(command)


_attach_commands()
