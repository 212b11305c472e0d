"""A scoring request's inputs: which cells hold which images, and each image prepared for the detector."""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facetransfer.imaging.decoding import ImageDecodeError, ImageSource
from facetransfer.inputs.preprocessing import Preprocessing

INPUT_COLUMNS = ("path", "image")


class ScoringInputError(ValueError):
    """The request itself is malformed (not one bad image): no column to score, or both."""


@dataclass
class PreparedImage:
    """One input row after decoding: the detector's input, or why there is none."""

    pixels: np.ndarray | None = None
    """``(S, S, 3)`` uint8 detector input (after resize or centre crop)."""
    inputs: np.ndarray | None = None
    """``(3, S, S)`` float32, normalised."""
    error: str | None = None
    face: dict[str, Any] | None = None
    """``box``, ``landmarks``, ``confidence`` of the face this input was cut from (or found in)."""
    face_index: int | None = None
    input_index: int = 0
    time_s: float | None = None
    """Seconds into the video of the frame this face comes from."""


def input_sources(frame: pd.DataFrame) -> list[ImageSource | str | None]:
    """The image source of each row, or an error message (``str`` prefixed ``error:``) for unusable cells.

    Raises:
        ScoringInputError: ``frame`` has neither or both of the columns ``path`` and ``image``.
    """
    present = [column for column in INPUT_COLUMNS if column in frame.columns]
    if len(present) != 1:
        raise ScoringInputError(
            "the input needs exactly one of the columns 'path' (image files) or 'image' "
            f"(base64-encoded image bytes); got columns {list(map(str, frame.columns))}"
        )
    column = present[0]
    return [_source(value, column) for value in frame[column].tolist()]


def _source(value: Any, column: str) -> ImageSource | str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if column == "path":
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            # Line breaks are allowed, as `base64` and base64.encodebytes write them every 76 characters.
            return base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            return "error: the image cell is neither bytes nor base64 text"
    return f"error: the image cell holds a {type(value).__name__}, expected bytes"


def prepare(source: ImageSource | str | None, preprocessing: Preprocessing) -> PreparedImage:
    """Decode and prepare one source; decoding problems become ``PreparedImage.error``."""
    if source is None:
        return PreparedImage(error="empty cell: no image given")
    if isinstance(source, str) and source.startswith("error: "):
        return PreparedImage(error=source.removeprefix("error: "))
    if isinstance(source, bytes) and not source:
        return PreparedImage(error="empty image: 0 bytes")
    try:
        pixels = preprocessing.finish(preprocessing.load(source))
    except ImageDecodeError as error:
        return PreparedImage(error=str(error))
    return PreparedImage(pixels, preprocessing.normalize(pixels))
