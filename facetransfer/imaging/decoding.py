"""Decoding image files into 8-bit RGB: one policy for ingestion, training, evaluation and ``predict``.

Photographs reach the product in every mode a file format allows. Each mode that converts
faithfully is converted, and only what cannot be converted is refused (the ingestion quarantines
it with check ``unsupported_mode``):

* ``RGB``: as stored. 16-bit RGB PNGs are read by Pillow as 8-bit RGB, already scaled properly.
* ``L``, ``1``, ``P``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``: Pillow's colour conversion.
* ``LA``, ``La``, ``PA``, ``RGBA``, ``RGBa``, ``RGBX``: the alpha channel is dropped and the colour
  channels are kept as stored (no compositing over a background, which would invent pixels).
* 16-bit grayscale (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``, and ``I`` holding 0..65535, as
  some Pillow versions read 16-bit PNGs): scaled to 0..255 by ``round(v * 255 / 65535)``. Pillow's
  own ``convert("RGB")`` clips these modes instead, turning a normal 16-bit photo all white.
* Anything else (``F``, ``I`` outside 0..65535, ...): ``UnsupportedImageModeError``.

EXIF orientation is applied (``ImageOps.exif_transpose``), so an image is used the way viewers
show it. The size in the file header is checked against a pixel limit before any pixel is decoded
(decompression bombs), with the caller's limit rather than Pillow's process-wide one.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facetransfer.imaging import checks as image_checks
from facetransfer.imaging.checks import (
    DEFAULT_MAX_IMAGE_PIXELS,
    ImageHeader,
    pillow_bomb_guard_lifted,
    pixel_limit_problem,
)

SIXTEEN_BIT_GRAY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa", "RGBX")
COLOUR_CONVERTED_MODES = ("L", "1", "P", "CMYK", "YCbCr", "LAB", "HSV")
CONVERTIBLE_MODES: tuple[str, ...] = ("RGB", *COLOUR_CONVERTED_MODES, *ALPHA_MODES, *SIXTEEN_BIT_GRAY_MODES)
"""Pillow modes that decode to RGB under this policy (the default of ``ValidationBounds.allowed_modes``)."""

DECODER_VERSION = "rgb-policy-1"
"""Changes whenever this policy would produce other pixels (part of every cache key of decoded images)."""

ImageSource = str | Path | bytes


class ImageDecodeError(OSError):
    """A file cannot be decoded into RGB (the message names the file and the problem)."""


class UnsupportedImageModeError(ImageDecodeError):
    """The image's mode has no faithful conversion to 8-bit RGB."""


class ImageTooLargeError(ImageDecodeError, image_checks.ImageTooLargeError):
    """The header declares more pixels than the configured limit (decompression-bomb guard)."""


def describe_source(source: ImageSource) -> str:
    """How an image source is named in messages (its path, or ``<N bytes>``)."""
    return f"<{len(source)} bytes>" if isinstance(source, bytes) else str(source)


def to_rgb_array(image: Image.Image, *, name: str = "image") -> np.ndarray:
    """Convert a loaded Pillow image to an ``(H, W, 3)`` uint8 RGB array under the module's policy.

    Raises:
        UnsupportedImageModeError: the mode has no faithful conversion (names ``name`` and the mode).
    """
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image)
    if mode in SIXTEEN_BIT_GRAY_MODES:
        values = np.asarray(image).astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise UnsupportedImageModeError(
                f"{name}: mode {mode} holds values {values.min()}..{values.max()} outside 0..65535"
            )
        scaled = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(scaled[..., None], 3, axis=2)
    if mode in COLOUR_CONVERTED_MODES or mode in ALPHA_MODES:
        # Pillow drops the alpha band of these modes without compositing.
        return np.asarray(image.convert("RGB"))
    raise UnsupportedImageModeError(
        f"{name}: image mode {mode!r} has no faithful conversion to 8-bit RGB "
        f"(supported: {', '.join(CONVERTIBLE_MODES)})"
    )


EXIF_ORIENTATION_TAG = 0x0112


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation of an image file (1: the pixels are upright as stored).

    Reads the header only; a file without the tag, or one whose header cannot be read, gives 1
    (decoding reports unreadable files).
    """
    with (
        contextlib.suppress(OSError, SyntaxError, ValueError),
        pillow_bomb_guard_lifted(),
        Image.open(path) as image,
    ):
        return int(image.getexif().get(EXIF_ORIENTATION_TAG, 1))
    return 1


def decode_rgb(
    source: ImageSource,
    *,
    draft_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decode an image file (path or bytes) into an ``(H, W, 3)`` uint8 RGB array.

    Args:
        source: a path, or the file's bytes.
        draft_size: JPEGs much larger than this side are decoded directly at a reduced scale
            (Pillow's draft mode: 1/2, 1/4 or 1/8, keeping both sides at least ``draft_size``),
            several times cheaper for 1024 px photos read at 256 px. ``None``: full resolution.
        max_pixels: decompression-bomb limit checked on the header before decoding.

    Raises:
        ImageDecodeError: missing, unreadable, truncated or not an image, too large, or of a mode
            with no faithful conversion; the message names the file.
    """
    name = describe_source(source)
    try:
        with (
            pillow_bomb_guard_lifted(),
            Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image,
        ):
            problem = pixel_limit_problem(ImageHeader(*image.size, image.mode, image.format), max_pixels)
            if problem is not None:
                raise ImageTooLargeError(f"image {name} is {problem}")
            if draft_size is not None and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            oriented = ImageOps.exif_transpose(image)
            return to_rgb_array(oriented, name=name)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as error:
        raise ImageDecodeError(f"cannot read image {name}: not a readable image format") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageDecodeError(f"cannot read image {name}: {error}") from error
