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
(decompression bombs), with the caller's limit rather than Pillow's process-wide one (which
``lift_pillow_pixel_limit`` turns off), so decodes in several threads run in parallel.

Only regular files are read, and only up to a byte limit (``open_image_file``): a path is judged
from ``os.stat`` before it is opened (opening a FIFO blocks until a writer comes; reading
``/dev/zero`` never ends), and a file far larger than its header's pixels can need is refused
before its pixels are read (``file_size_problem``).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facetransfer.classes import SIXTEEN_BIT_GRAY_MODES
from facetransfer.imaging import checks as image_checks
from facetransfer.imaging.checks import (
    DEFAULT_MAX_IMAGE_PIXELS,
    ImageHeader,
    lift_pillow_pixel_limit,
    pixel_limit_problem,
)

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


class NotARegularFileError(ImageDecodeError):
    """The path is a folder, FIFO, socket or device: only regular files are images (it was not opened)."""


class FileTooLargeError(ImageDecodeError):
    """The file is over the byte limit, or far larger than its pixels need (it was not read whole)."""


DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
"""Largest image file read (``data.max_file_bytes``); a larger one is refused from its size, unread."""

MAX_BYTES_PER_PIXEL = 16
"""More than any accepted format needs per pixel (16-bit RGBA PNG stored raw: 8; JPEG at worst: ~13)."""

METADATA_ALLOWANCE_BYTES = 64 * 1024 * 1024
"""Bytes a file may hold beyond its pixels' need: ICC profiles, EXIF, XMP, a motion photo's video."""

_FILE_KINDS = (
    (stat.S_ISDIR, "folder"),
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)
_NON_BLOCKING = getattr(os, "O_NONBLOCK", 0)


def _check_file_status(path: str | Path, status: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(status.st_mode)), "special file")
        raise NotARegularFileError(f"{path} is a {kind}, not a regular file; only regular files are images")
    if status.st_size > max_bytes:
        raise FileTooLargeError(
            f"{path} is {status.st_size} bytes, over the limit of {max_bytes} bytes (max_file_bytes)"
        )


def stat_image_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> os.stat_result:
    """``os.stat`` of an image file (links followed), if it is a regular file of at most ``max_bytes``.

    Nothing is opened. A link to a regular file is one (DVC's symlink cache mode makes every
    tracked file a link).

    Raises:
        NotARegularFileError: a folder, FIFO, socket or device (the message names the path and kind).
        FileTooLargeError: more than ``max_bytes`` bytes.
        OSError: the path cannot be reached (missing, no permission, links that loop).
    """
    status = os.stat(path)
    _check_file_status(path, status, max_bytes)
    return status


def open_image_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> BinaryIO:
    """Open an image file for reading once ``stat_image_file`` allows it.

    The open is non-blocking and the open file is judged again (``os.fstat``), so a path swapped
    for a FIFO after the first check is refused too, never waited on.

    Raises:
        NotARegularFileError, FileTooLargeError, OSError: as ``stat_image_file``.
    """
    stat_image_file(path, max_bytes=max_bytes)
    descriptor = os.open(path, os.O_RDONLY | _NON_BLOCKING)
    try:
        _check_file_status(path, os.fstat(descriptor), max_bytes)
        if _NON_BLOCKING:
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def file_size_problem(size_bytes: int, header: ImageHeader) -> str | None:
    """Why a file of ``size_bytes`` is too large for the image its header declares, or ``None``."""
    if size_bytes <= header.pixels * MAX_BYTES_PER_PIXEL + METADATA_ALLOWANCE_BYTES:
        return None
    return (
        f"{size_bytes} bytes for a {header.width}x{header.height} image, more than its pixels can need "
        f"({MAX_BYTES_PER_PIXEL} bytes each) plus {METADATA_ALLOWANCE_BYTES} bytes of metadata; "
        "the rest is not image data"
    )


def read_image_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular image file of at most ``max_bytes`` that its pixels can account for.

    The header is read first: a file far larger than its pixels need (``file_size_problem``) is
    refused before the rest is read. A file with no readable header is read for the caller to judge.

    Raises:
        NotARegularFileError, FileTooLargeError, OSError: as ``open_image_file``; FileTooLargeError
            also for a file too large for its pixels, or one that grew past ``max_bytes``.
    """
    with open_image_file(path, max_bytes=max_bytes) as handle:
        header = _header_or_none(handle)
        problem = file_size_problem(os.fstat(handle.fileno()).st_size, header) if header else None
        if problem is not None:
            raise FileTooLargeError(f"{path}: {problem}")
        handle.seek(0)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLargeError(
            f"{path} grew past the limit of {max_bytes} bytes while read (max_file_bytes)"
        )
    return data


def _header_or_none(handle: BinaryIO) -> ImageHeader | None:
    """The header of the image in ``handle``, or ``None`` when it has no readable one."""
    lift_pillow_pixel_limit()
    with contextlib.suppress(OSError, SyntaxError, ValueError, EOFError), Image.open(handle) as image:
        return ImageHeader(*image.size, image.mode, image.format)
    return None


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
    lift_pillow_pixel_limit()
    with (
        contextlib.suppress(OSError, SyntaxError, ValueError),
        open_image_file(path) as handle,
        Image.open(handle) as image,
    ):
        return int(image.getexif().get(EXIF_ORIENTATION_TAG, 1))
    return 1


def decode_rgb(
    source: ImageSource,
    *,
    draft_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> np.ndarray:
    """Decode an image file (path or bytes) into an ``(H, W, 3)`` uint8 RGB array.

    Args:
        source: a path, or the file's bytes.
        draft_size: JPEGs much larger than this side are decoded directly at a reduced scale
            (Pillow's draft mode: 1/2, 1/4 or 1/8, keeping both sides at least ``draft_size``),
            several times cheaper for 1024 px photos read at 256 px. ``None``: full resolution.
        max_pixels: decompression-bomb limit checked on the header before decoding.
        max_bytes: a path over this size is refused unread (``open_image_file``).

    Raises:
        ImageDecodeError: missing, unreadable, truncated or not an image, too large (pixels or
            bytes), not a regular file, or of a mode with no faithful conversion; the message names
            the file.
    """
    name = describe_source(source)
    lift_pillow_pixel_limit()
    try:
        stream = (
            io.BytesIO(source) if isinstance(source, bytes) else open_image_file(source, max_bytes=max_bytes)
        )
        with stream, Image.open(stream) as image:
            header = ImageHeader(*image.size, image.mode, image.format)
            problem = pixel_limit_problem(header, max_pixels)
            if problem is not None:
                raise ImageTooLargeError(f"image {name} is {problem}")
            size = len(source) if isinstance(source, bytes) else os.fstat(stream.fileno()).st_size
            problem = file_size_problem(size, header)
            if problem is not None:
                raise FileTooLargeError(f"image {name}: {problem}")
            if draft_size is not None and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            # exif_transpose copies the whole image even when there is nothing to turn.
            upright = image.getexif().get(EXIF_ORIENTATION_TAG, 1) == 1
            oriented = image if upright else ImageOps.exif_transpose(image)
            return to_rgb_array(oriented, name=name)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as error:
        raise ImageDecodeError(f"cannot read image {name}: not a readable image format") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageDecodeError(f"cannot read image {name}: {error}") from error
