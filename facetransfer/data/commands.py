"""CLI commands of the data layer (attached to ``facetransfer`` by ``facetransfer.cli``)."""

from __future__ import annotations

import click


def data_commands() -> list[click.Command]:
    """Commands this module contributes to the ``facetransfer`` CLI."""
    return []
