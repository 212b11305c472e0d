"""Deterministic demo dataset in the real distributed formats (Mut1ny tree + ArtiFact root).

``generate_demo_data(out_dir)`` writes it; ``write_generator_folder`` writes one generator
family alone (e.g. a new generator to bring in with ``add-generator``). See ``writer`` for the
layout, ``faces`` for the procedural faces and ``generators`` for the simulated generators.
"""

from facetransfer.demo.generators import DEFAULT_GENERATORS, GENERATOR_FAMILIES
from facetransfer.demo.options import (
    DETECTION_FOLDER,
    IDENTITY_PATTERN,
    SEGMENTATION_FOLDER,
    DemoOptions,
    DemoSummary,
)
from facetransfer.demo.writer import generate_demo_data, write_generator_folder

__all__ = [
    "DEFAULT_GENERATORS",
    "DETECTION_FOLDER",
    "GENERATOR_FAMILIES",
    "IDENTITY_PATTERN",
    "SEGMENTATION_FOLDER",
    "DemoOptions",
    "DemoSummary",
    "generate_demo_data",
    "write_generator_folder",
]
