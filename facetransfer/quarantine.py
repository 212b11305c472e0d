"""The vocabulary of quarantine: why a file is left out of a manifest (the ``check`` column).

Shared by the image checks (``facetransfer.imaging``) and ingestion (``facetransfer.ingestion``).
"""

from __future__ import annotations

from enum import StrEnum


class QuarantineCheck(StrEnum):
    """Stable codes of the checks that send a file to quarantine (the ``check`` column)."""

    NOT_AN_IMAGE = "not_an_image"
    CORRUPT_IMAGE = "corrupt_image"
    TRUNCATED_IMAGE = "truncated_image"
    IMAGE_TOO_LARGE = "image_too_large"
    UNSUPPORTED_MODE = "unsupported_mode"
    UNREADABLE_FILE = "unreadable_file"
    PATH_ESCAPES_ROOT = "path_escapes_root"
    MISSING_FILE = "missing_file"
    MISSING_PAIR = "missing_pair"
    INVALID_METADATA = "invalid_metadata"
    UNKNOWN_MASK_COLORS = "unknown_mask_colors"
    MASK_SIZE_MISMATCH = "mask_size_mismatch"
    UNREADABLE_MASK = "unreadable_mask"
    EMPTY_SOURCE = "empty_source"
    LABEL_CONFLICT = "label_conflict"
    TARGET_MISMATCH = "target_mismatch"
    CONTRADICTING_METADATA = "contradicting_metadata"
    """The source's own listing gives one image two labels (two targets, two label files)."""
    DUPLICATE_ENTRY = "duplicate_entry"
    """The source's listing repeats an entry; the image is kept once, the repeat is reported."""
    INVALID_FILE_NAME = "invalid_file_name"
    EXIF_ORIENTATION = "exif_orientation"
    NO_FACE = "no_face"
    """``faces: align`` source: the detector found no face in the picture."""
    FACE_TOO_SMALL = "face_too_small"
    """``faces: align`` source: the only faces found are under ``faces.min_face_size``."""
    NOT_A_REGULAR_FILE = "not_a_regular_file"
    """A FIFO, socket, device or folder where an image file was expected; never opened."""
    FILE_TOO_LARGE = "file_too_large"
    """Over ``data.max_file_bytes``, or far more bytes than its pixels need; judged before reading it."""
    SYMLINK_LOOP = "symlink_loop"
    """A symbolic link back to a folder that contains it, or links that point at each other."""
