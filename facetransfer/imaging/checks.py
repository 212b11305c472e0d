"""Inspect one image or mask file: hash its bytes, decode it fully and report what is wrong with it.

The ``inspect_*`` functions never raise for bad content: a corrupt, truncated, non-image or
oversized file yields a ``FileFacts`` whose ``check``/``problem`` say why, so that the caller can
quarantine it and go on.

The decompression-bomb guard is applied per call with the caller's ``max_image_pixels``: the size
in the header of every image and mask is compared before any pixel is decoded
(``read_image_header`` + ``pixel_limit_problem``; ``images.decode_rgb`` makes the same check for
code that decodes files no ingestion has seen, such as ``predict``). Pillow's own guard is a
process-wide setting (``Image.MAX_IMAGE_PIXELS``) that would raise for images our per-call limit
allows; ``lift_pillow_pixel_limit`` turns it off for good before the first file is opened, once per
process, so the header check is the one guard and decoding threads never wait on each other.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from facetransfer.classes import ClassScheme, load_class_mask
from facetransfer.quarantine import QuarantineCheck

DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
"""Default decompression-bomb limit (width × height), the same value Pillow uses."""


@dataclass(frozen=True)
class FileFacts:
    """What inspecting a file found.

    Attributes:
        sha256: hex digest of the file's bytes (empty if it could not be read).
        size_bytes: file size.
        width, height: pixel size from the header (0 if not an image).
        mode: Pillow mode (``RGB``, ``L``, ...), empty if not an image.
        decoded: whether every pixel was decoded (False when skipped as too large or on error).
        check: quarantine code of the first problem, ``None`` when the file is fine.
        problem: human-readable description of the problem.
        unknown_pixels: masks only: pixels whose colour/index is outside the class scheme.
        first_unknown: masks only: ``[row, col, r, g, b]`` of the first such pixel.
    """

    sha256: str
    size_bytes: int
    width: int = 0
    height: int = 0
    mode: str = ""
    decoded: bool = False
    check: QuarantineCheck | None = None
    problem: str | None = None
    unknown_pixels: int = 0
    first_unknown: tuple[int, ...] | None = None


def sha256_of_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def lift_pillow_pixel_limit() -> None:
    """Turn Pillow's process-wide decompression-bomb limit off; call before opening an image.

    Idempotent: the setting is written once per process (again only if something restored it).
    Callers compare the header's size with their own limit (``read_image_header`` +
    ``pixel_limit_problem``) before decoding, so no lock is needed and decodes run in parallel.
    """
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS is not None:
        Image.MAX_IMAGE_PIXELS = None


class ImageTooLargeError(OSError):
    """An image's header declares more pixels than the decompression-bomb limit (nothing was decoded)."""


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding a pixel."""

    width: int
    height: int
    mode: str
    format: str | None

    @property
    def pixels(self) -> int:
        """Width × height."""
        return self.width * self.height


def read_image_header(source: str | Path | bytes) -> ImageHeader:
    """Size, mode and format of an image from its header only; no pixel is decoded.

    Pillow's own bomb guard is lifted (it would raise for sizes the caller's limit allows);
    compare ``pixels`` with the limit before decoding anything.

    Args:
        source: a file path or the file's bytes.

    Raises:
        PIL.UnidentifiedImageError: not a readable image format (an ``OSError``).
        OSError, SyntaxError, ValueError: a damaged header.
    """
    from PIL import Image

    lift_pillow_pixel_limit()
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
        width, height = image.size
        return ImageHeader(width, height, image.mode, image.format)


def pixel_limit_problem(header: ImageHeader, max_image_pixels: int) -> str | None:
    """Why an image of ``header``'s size must not be decoded, or ``None`` when it fits the limit."""
    if header.pixels <= max_image_pixels:
        return None
    return (
        f"{header.width}x{header.height} = {header.pixels} pixels exceeds the limit of {max_image_pixels} "
        "(decompression-bomb guard; raise max_image_pixels if the image is legitimate)"
    )


def _classify_decode_error(error: Exception) -> QuarantineCheck:
    message = str(error).lower()
    if "truncated" in message or "premature end" in message or "broken data stream" in message:
        return QuarantineCheck.TRUNCATED_IMAGE
    return QuarantineCheck.CORRUPT_IMAGE


def inspect_image_bytes(data: bytes, *, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> FileFacts:
    """Hash and fully decode an image held in memory.

    Args:
        data: the file's bytes.
        max_image_pixels: images whose header declares more pixels are not decoded and reported
            as ``image_too_large``.

    Returns:
        The facts; ``check`` is set when the bytes are not a valid, decodable image.
    """
    from PIL import Image, UnidentifiedImageError

    digest = sha256_of_bytes(data)
    size = len(data)
    try:
        header = read_image_header(data)
    except UnidentifiedImageError:
        return FileFacts(
            digest, size, check=QuarantineCheck.NOT_AN_IMAGE, problem="not a readable image format"
        )
    except (OSError, SyntaxError, ValueError) as error:
        return FileFacts(
            digest, size, check=_classify_decode_error(error), problem=f"cannot read image header: {error}"
        )
    width, height, mode, image_format = header.width, header.height, header.mode, header.format
    problem = pixel_limit_problem(header, max_image_pixels)
    if problem is not None:
        return FileFacts(
            digest, size, width, height, mode, check=QuarantineCheck.IMAGE_TOO_LARGE, problem=problem
        )
    try:
        if image_format == "PNG":
            # verify() checks every chunk's CRC, which a plain decode does not.
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        return FileFacts(
            digest,
            size,
            width,
            height,
            mode,
            check=_classify_decode_error(error),
            problem=f"cannot decode {image_format or 'image'} data: {error}",
        )
    return FileFacts(digest, size, width, height, mode, decoded=True)


def inspect_image_file(path: Path, *, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> FileFacts:
    """Read ``path`` once, hash it and decode it (see ``inspect_image_bytes``)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return FileFacts("", 0, check=QuarantineCheck.UNREADABLE_FILE, problem=f"cannot read file: {error}")
    return inspect_image_bytes(data, max_image_pixels=max_image_pixels)


def inspect_mask_file(
    path: Path,
    *,
    encoding: str,
    scheme: ClassScheme,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    expected_size: tuple[int, int] | None = None,
) -> FileFacts:
    """Hash a mask file and decode it with ``scheme``, counting pixels outside the scheme.

    The header is read first: a mask over ``max_image_pixels`` is reported ``image_too_large``
    and a mask whose size differs from ``expected_size`` (its image's) is not decoded at all
    (``decoded`` False; the caller reports the mismatch), so a small file declaring a huge mask
    costs a header read, not gigabytes.

    Args:
        path: the mask PNG.
        encoding: ``"color"`` (RGB palette, Mut1ny) or ``"index"`` (class ids).
        scheme: the class scheme the mask follows.
        max_image_pixels: decompression-bomb limit.
        expected_size: ``(width, height)`` of the mask's image, when known.

    Returns:
        The facts; ``check`` is ``unreadable_mask`` when the file cannot be decoded, or has
        no exact reading as labels (``classes.MaskEncodingError``: a 16-bit or 1-bit file, alpha
        below 255; the problem names the mode), and ``image_too_large`` over the limit.
        Unknown colours are counted in ``unknown_pixels``, not judged here: the tolerance is
        the caller's.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        return FileFacts("", 0, check=QuarantineCheck.UNREADABLE_MASK, problem=str(error))
    digest = sha256_of_bytes(data)
    judged = _mask_header_facts(data, digest, max_image_pixels, expected_size)
    if judged is not None:
        return judged
    try:
        decoded = load_class_mask(path, encoding=encoding, scheme=scheme, data=data)
    except OSError as error:
        return FileFacts(digest, len(data), check=QuarantineCheck.UNREADABLE_MASK, problem=str(error))
    height, width = decoded.class_ids.shape
    first = None
    if decoded.first_unknown is not None:
        row, col, color = decoded.first_unknown
        first = (row, col, *color)
    return FileFacts(
        digest,
        len(data),
        width,
        height,
        "mask",
        decoded=True,
        unknown_pixels=decoded.unknown_pixels,
        first_unknown=first,
    )


def _mask_header_facts(
    data: bytes, digest: str, max_image_pixels: int, expected_size: tuple[int, int] | None
) -> FileFacts | None:
    """Facts of a mask that its header alone settles (unreadable, too large, other size), else ``None``."""
    try:
        header = read_image_header(data)
    except (OSError, SyntaxError, ValueError) as error:
        return FileFacts(
            digest, len(data), check=QuarantineCheck.UNREADABLE_MASK, problem=f"cannot read header: {error}"
        )
    problem = pixel_limit_problem(header, max_image_pixels)
    if problem is not None:
        too_large = QuarantineCheck.IMAGE_TOO_LARGE
        return FileFacts(
            digest, len(data), header.width, header.height, "mask", check=too_large, problem=problem
        )
    if expected_size is not None and (header.width, header.height) != tuple(expected_size):
        return FileFacts(digest, len(data), header.width, header.height, "mask")
    return None
