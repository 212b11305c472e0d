"""Options shared by the ``facetransfer`` commands of several modules, defined once."""

from __future__ import annotations

from pathlib import Path

import click

ROOT_OPTION = click.option(
    "--root",
    "--repo-root",
    "root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Project folder: the checkout, holding data.dvc and zenml_config.yaml.",
)
"""The project folder. ``--repo-root`` is the older spelling of the data commands, still accepted."""
