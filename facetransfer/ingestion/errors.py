"""Exceptions of the data layer: each names the file or setting at fault and what was expected."""

from __future__ import annotations


class DataLayerError(Exception):
    """Base class of the data layer's errors."""


class SourceConfigError(DataLayerError, ValueError):
    """A source declaration is inconsistent (unknown option for its format, bad role, duplicate name)."""


class SourceNotFoundError(DataLayerError, FileNotFoundError):
    """A configured source path does not exist (the message names the source and the path)."""


class SourceLayoutError(DataLayerError, ValueError):
    """A source exists but does not have the layout its format requires (e.g. no training.xml)."""


class DemoDataError(DataLayerError, ValueError):
    """Demo data cannot be written with the given options or into the given folder."""


class DataVersionError(DataLayerError, RuntimeError):
    """DVC-tracked data is missing, cannot be restored, or does not match its ``.dvc`` pointer."""


class GeneratorExistsError(DataLayerError, FileExistsError):
    """``add-generator`` would overwrite a generator folder that already exists."""
