"""Turn reader candidates into manifest rows: hash and decode every image and mask, once.

``Inspector`` consults a ``FileFactCache`` before reading a file, so re-ingesting an unchanged
tree reads no file; ``hashed_files`` counts the files actually read (the re-ingest test asserts it
is zero). Decisions that depend on the call's settings (pixel limit, unknown-colour tolerance) are
taken from the cached facts each time, so changing a setting never needs a cache flush.

Headers come before pixels: an image or mask over the pixel limit, and a mask whose size differs
from its image's, are judged from the header and never decoded. A file whose name is not valid
UTF-8 is quarantined (``invalid_file_name``) before anything, the cache included, sees its path.

``os.stat`` comes before any open: only a regular file (or a link to one) is read, so a FIFO or
a device is quarantined ``not_a_regular_file`` and never opened (opening a FIFO blocks; reading
``/dev/zero`` never ends), and a file over ``max_file_bytes`` is quarantined ``file_too_large``
unread. An image file far larger than its header's pixels need is refused after the header too.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from facetransfer.classes import MASK_DECODING_VERSION, MASK_ENCODINGS, ClassScheme
from facetransfer.imaging.checks import (
    DEFAULT_MAX_IMAGE_PIXELS,
    FileFacts,
    inspect_image_bytes,
    inspect_mask_file,
)
from facetransfer.imaging.decoding import (
    CONVERTIBLE_MODES,
    DEFAULT_MAX_FILE_BYTES,
    FileTooLargeError,
    NotARegularFileError,
    exif_orientation,
    read_image_file,
    stat_image_file,
)
from facetransfer.ingestion.file_names import invalid_name_problem, is_utf8_path, printable_path
from facetransfer.ingestion.hashing import FileFactCache
from facetransfer.ingestion.records import ImageCandidate, ManifestRow, QuarantineCheck, QuarantineEntry


def mask_kind(encoding: str, scheme: ClassScheme) -> str:
    """Cache kind of a mask's facts: they depend on how it is decoded."""
    # the decoding version: masks judged under an older decoding rule are judged again
    return f"mask:{encoding}:{scheme.name}:{MASK_DECODING_VERSION}"


class Inspector:
    """Image and mask facts through a cache, with the call's pixel limit.

    Args:
        cache: the fact cache (an in-memory one when ``None``).
        max_image_pixels: decompression-bomb limit for this ingestion.
        max_file_bytes: larger files are quarantined from their size, unread.
    """

    def __init__(
        self,
        cache: FileFactCache | None = None,
        *,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.cache = cache if cache is not None else FileFactCache(None)
        self.max_image_pixels = max_image_pixels
        self.max_file_bytes = max_file_bytes
        self.hashed_files = 0

    def image_facts(self, path: Path) -> FileFacts:
        """Facts of an image, read from disk only when the cache has none for its size and mtime.

        The one image-mode policy applies here (``facetransfer.imaging.decoding``): a mode with no
        faithful conversion to RGB is ``unsupported_mode``, for ingestion and add-generator alike.
        """
        return _with_mode_policy(self._facts(path, "image", lambda: self._inspect_image(path)))

    def _inspect_image(self, path: Path) -> FileFacts:
        """Read ``path`` once (bounded, header first) and inspect its bytes."""
        try:
            data = read_image_file(path, max_bytes=self.max_file_bytes)
        except OSError as error:
            return _file_problem(error)
        return inspect_image_bytes(data, max_image_pixels=self.max_image_pixels)

    def mask_facts(
        self, path: Path, *, encoding: str, scheme: ClassScheme, expected_size: tuple[int, int] | None = None
    ) -> FileFacts:
        """Facts of a mask decoded with ``scheme`` (cached per encoding and scheme).

        A mask whose header size differs from ``expected_size`` (its image's) is not decoded:
        its facts then hold the header size only (``decoded`` False).
        """
        return self._facts(
            path,
            mask_kind(encoding, scheme),
            lambda: inspect_mask_file(
                path,
                encoding=encoding,
                scheme=scheme,
                max_image_pixels=self.max_image_pixels,
                expected_size=expected_size,
            ),
            expected_size=expected_size,
        )

    def _facts(
        self, path: Path, kind: str, inspect: Any, *, expected_size: tuple[int, int] | None = None
    ) -> FileFacts:
        problem = invalid_name_problem(path)
        if problem is not None:
            return FileFacts("", 0, check=QuarantineCheck.INVALID_FILE_NAME, problem=problem)
        try:
            stat = stat_image_file(path, max_bytes=self.max_file_bytes)  # the limit is judged every call
        except OSError as error:
            return _file_problem(error)
        cached = self.cache.get(path, kind, stat.st_size, stat.st_mtime_ns)
        if cached is not None and self._still_valid(cached, expected_size):
            return self._apply_pixel_limit(cached)
        facts = inspect()
        self.hashed_files += 1
        self.cache.put(path, kind, stat.st_size, stat.st_mtime_ns, facts)
        return facts

    def _still_valid(self, facts: FileFacts, expected_size: tuple[int, int] | None) -> bool:
        # An image skipped as too large under a smaller limit must be decoded now if it fits.
        if facts.check is QuarantineCheck.IMAGE_TOO_LARGE:
            return facts.width * facts.height > self.max_image_pixels
        # A mask read only up to its header (its image's size differed) is decoded once it matches.
        if facts.check is None and not facts.decoded and expected_size is not None:
            return (facts.width, facts.height) != tuple(expected_size)
        return True

    def _apply_pixel_limit(self, facts: FileFacts) -> FileFacts:
        if facts.check is None and facts.width * facts.height > self.max_image_pixels:
            return dataclasses.replace(
                facts,
                check=QuarantineCheck.IMAGE_TOO_LARGE,
                problem=f"{facts.width}x{facts.height} exceeds the limit of {self.max_image_pixels} pixels",
            )
        return facts


def inspect_candidates(
    candidates: Iterable[ImageCandidate],
    *,
    dataset: str,
    inspector: Inspector,
    scheme: ClassScheme | None = None,
    unknown_color_tolerance: int = 0,
    identities: dict[Path, str | None] | None = None,
) -> tuple[list[ManifestRow], list[QuarantineEntry], dict[str, Any]]:
    """Check each candidate and its mask; return manifest rows, quarantine entries and a report.

    Args:
        candidates: what a reader found.
        dataset: the source's configured name (the ``dataset`` column).
        inspector: reads files through the cache.
        scheme: class scheme of the masks (required when candidates have masks).
        unknown_color_tolerance: colour masks with more unknown pixels are quarantined.
        identities: identity of each image path, if the source provides identities.

    Returns:
        ``(rows, quarantine, report)``; the report lists masks kept with a few unknown pixels.
    """
    rows: list[ManifestRow] = []
    quarantine: list[QuarantineEntry] = []
    tolerated: list[dict[str, Any]] = []
    candidates = list(candidates)
    _prefetch(inspector, candidates, scheme)
    # tqdm shows progress on a terminal only (disable=None), so logs and tests stay clean.
    for candidate in tqdm(candidates, desc=f"checking {dataset}", unit="image", disable=None, leave=False):
        facts = inspector.image_facts(candidate.path)
        if facts.check is not None:
            quarantine.append(
                QuarantineEntry(
                    printable_path(candidate.path), candidate.source, facts.check, facts.problem or ""
                )
            )
            continue
        mask_facts = None
        if candidate.mask_path is not None:
            if scheme is None:
                raise ValueError(f"candidate {candidate.path} has a mask but no class scheme was given")
            tolerance = unknown_color_tolerance if candidate.mask_encoding == "color" else 0
            mask_facts, problem = _check_mask(candidate, facts, inspector, scheme, tolerance)
            if problem is not None:
                quarantine.append(problem)
                continue
            if mask_facts.unknown_pixels:
                tolerated.append(_unknown_color_record(candidate.mask_path, mask_facts))
        rows.append(
            ManifestRow(
                path=str(candidate.path),
                sha256=facts.sha256,
                label=candidate.label,
                dataset=dataset,
                source=candidate.source,
                generator=candidate.generator,
                width=facts.width,
                height=facts.height,
                mode=facts.mode,
                identity=(identities or {}).get(candidate.path),
                mask_path=str(candidate.mask_path) if candidate.mask_path is not None else None,
                mask_encoding=candidate.mask_encoding,
                mask_scheme=scheme.name if candidate.mask_path is not None and scheme is not None else None,
                mask_sha256=mask_facts.sha256 if mask_facts is not None else None,
            )
        )
    return rows, quarantine, {"tolerated_unknown_colors": tolerated}


def _file_problem(error: OSError) -> FileFacts:
    """Facts of a file that was not read: not a regular file, too large, or unreachable."""
    if isinstance(error, NotARegularFileError):
        return FileFacts("", 0, check=QuarantineCheck.NOT_A_REGULAR_FILE, problem=str(error))
    if isinstance(error, FileTooLargeError):
        return FileFacts("", 0, check=QuarantineCheck.FILE_TOO_LARGE, problem=str(error))
    if error.errno == errno.ELOOP:
        return FileFacts("", 0, check=QuarantineCheck.SYMLINK_LOOP, problem=f"cannot read file: {error}")
    return FileFacts("", 0, check=QuarantineCheck.UNREADABLE_FILE, problem=f"cannot read file: {error}")


def _with_mode_policy(facts: FileFacts) -> FileFacts:
    """Quarantine images whose mode has no faithful conversion to RGB (``facetransfer.imaging.decoding``)."""
    if facts.check is not None or facts.mode in CONVERTIBLE_MODES:
        return facts
    return dataclasses.replace(
        facts,
        check=QuarantineCheck.UNSUPPORTED_MODE,
        problem=f"image mode {facts.mode!r} has no faithful conversion to 8-bit RGB",
    )


def _prefetch(inspector: Inspector, candidates: list[ImageCandidate], scheme: ClassScheme | None) -> None:
    """Load the cached facts of every image and mask in a few queries (names that are not UTF-8 skipped)."""
    inspector.cache.prefetch((c.path for c in candidates if is_utf8_path(c.path)), "image")
    if scheme is None:
        return
    for encoding in MASK_ENCODINGS:
        masks = [
            c.mask_path
            for c in candidates
            if c.mask_path is not None and c.mask_encoding == encoding and is_utf8_path(c.mask_path)
        ]
        inspector.cache.prefetch(masks, mask_kind(encoding, scheme))


def _check_mask(
    candidate: ImageCandidate, image: FileFacts, inspector: Inspector, scheme: ClassScheme, tolerance: int
) -> tuple[FileFacts, QuarantineEntry | None]:
    assert candidate.mask_path is not None and candidate.mask_encoding is not None
    mask = inspector.mask_facts(
        candidate.mask_path,
        encoding=candidate.mask_encoding,
        scheme=scheme,
        expected_size=(image.width, image.height),
    )

    def entry(check: QuarantineCheck, reason: str) -> QuarantineEntry:
        return QuarantineEntry(printable_path(candidate.path), candidate.source, check, reason)

    if mask.check is not None:
        # Size, name and file-kind problems keep their own code; any other means the mask is unreadable.
        kept = (
            QuarantineCheck.IMAGE_TOO_LARGE,
            QuarantineCheck.INVALID_FILE_NAME,
            QuarantineCheck.NOT_A_REGULAR_FILE,
            QuarantineCheck.FILE_TOO_LARGE,
            QuarantineCheck.SYMLINK_LOOP,
        )
        check = mask.check if mask.check in kept else QuarantineCheck.UNREADABLE_MASK
        return mask, entry(check, f"mask {printable_path(candidate.mask_path)}: {mask.problem}")
    orientation = exif_orientation(candidate.path)
    if orientation not in (0, 1):
        # decode_rgb turns the image upright; nothing says whether the mask was drawn on the stored
        # or on the upright pixels, so the pair cannot be aligned with certainty.
        return mask, entry(
            QuarantineCheck.EXIF_ORIENTATION,
            f"image has EXIF orientation {orientation} (shown rotated or mirrored), so its mask "
            f"{printable_path(candidate.mask_path)} cannot be known to follow it; save the image "
            "upright without the orientation tag",
        )
    if (mask.width, mask.height) != (image.width, image.height):
        return mask, entry(
            QuarantineCheck.MASK_SIZE_MISMATCH,
            f"mask {candidate.mask_path} is {mask.width}x{mask.height}, "
            f"image is {image.width}x{image.height}",
        )
    if mask.unknown_pixels > tolerance:
        record = _unknown_color_record(candidate.mask_path, mask)
        return mask, entry(
            QuarantineCheck.UNKNOWN_MASK_COLORS,
            f"mask {candidate.mask_path} has {mask.unknown_pixels} pixels of values outside the "
            f"{scheme.name} scheme (first at row {record['row']}, column {record['col']}: "
            f"value {record['value']}); tolerance is {tolerance}",
        )
    return mask, None


def _unknown_color_record(mask_path: Path, facts: FileFacts) -> dict[str, Any]:
    first = facts.first_unknown or (-1, -1)
    return {
        "mask_path": str(mask_path),
        "unknown_pixels": facts.unknown_pixels,
        "row": first[0],
        "col": first[1],
        "value": list(first[2:]),
    }
