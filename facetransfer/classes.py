"""The face-parsing class schemes: class ids, names, label colours and left/right pairs.

This module is the single definition of the segmentation classes. The data readers use it to
decode colour label images, the demo-data generator to write them, the training code to build
the flip lookup table and the evaluation code to name per-class metrics.

Two schemes exist:

* ``mut1ny14``: the 14 classes of the Mut1ny face/head segmentation dataset used by the paper.
  The colours are the exact RGB values of the dataset's label PNGs.
* ``mut1ny11``: the older 11-class edition, which merges left/right eyes, ears and eyebrows.
  Its label PNGs use the colours of the left-side classes of the 14-class edition for the merged
  classes (an assumption documented in the README: a user with a differently coloured copy
  passes its palette through the source's ``palette`` option instead).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Color = tuple[int, int, int]


@dataclass(frozen=True)
class FaceClass:
    """One segmentation class: its integer id, name and label colour (RGB)."""

    id: int
    name: str
    color: Color


@dataclass(frozen=True)
class ClassScheme:
    """An ordered set of face classes with the left/right pairs swapped by a horizontal flip.

    Attributes:
        name: identifier used in configuration (``mut1ny14`` or ``mut1ny11``).
        classes: classes ordered by id; ids are ``0..len(classes)-1`` and 0 is background.
        flip_pairs: names of classes that trade places when the image is mirrored.
    """

    name: str
    classes: tuple[FaceClass, ...]
    flip_pairs: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        ids = [c.id for c in self.classes]
        if ids != list(range(len(self.classes))):
            raise ValueError(f"class ids of scheme {self.name!r} must be 0..n-1 in order, got {ids}")
        colors = [c.color for c in self.classes]
        if len(set(colors)) != len(colors):
            raise ValueError(f"scheme {self.name!r} gives two classes the same colour")
        names = set(self.names)
        for left, right in self.flip_pairs:
            if left not in names or right not in names:
                raise ValueError(f"flip pair ({left}, {right}) names a class outside {self.name!r}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def id_of(self, name: str) -> int:
        """Return the id of the class called ``name``; raise ``KeyError`` listing valid names."""
        for face_class in self.classes:
            if face_class.name == name:
                return face_class.id
        raise KeyError(f"no class {name!r} in scheme {self.name!r}; valid: {', '.join(self.names)}")

    def palette_array(self) -> np.ndarray:
        """Colours as a ``(num_classes, 3)`` uint8 array indexed by class id."""
        return np.array([c.color for c in self.classes], dtype=np.uint8)

    def flip_lookup_table(self) -> np.ndarray:
        """Lookup table ``lut`` such that ``lut[mask]`` relabels a mirrored mask.

        Every class maps to itself except the members of ``flip_pairs``, which map to each other.
        """
        lut = np.arange(self.num_classes, dtype=np.uint8)
        for left, right in self.flip_pairs:
            left_id, right_id = self.id_of(left), self.id_of(right)
            lut[left_id], lut[right_id] = right_id, left_id
        return lut

    def encode_mask(self, class_ids: np.ndarray) -> np.ndarray:
        """Turn an ``(H, W)`` array of class ids into an ``(H, W, 3)`` RGB label image."""
        if class_ids.size and int(class_ids.max()) >= self.num_classes:
            raise ValueError(
                f"class id {int(class_ids.max())} outside scheme {self.name!r} (0..{self.num_classes - 1})"
            )
        return self.palette_array()[class_ids]

    def decode_mask(self, rgb: np.ndarray) -> DecodedMask:
        """Map an ``(H, W, 3)`` RGB label image to class ids through the exact palette.

        Pixels whose colour is not in the palette are not guessed: they are counted and the
        first one (row-major) is reported, and their class id is set to 255 (``UNKNOWN_CLASS``)
        so that nothing is silently turned into background.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"label image must be (H, W, 3) RGB, got shape {rgb.shape}")
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        # Pack each colour into one 24-bit integer so a single lookup decodes the whole image.
        packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
        keys = np.array([(r << 16) | (g << 8) | b for r, g, b in (c.color for c in self.classes)])
        order = np.argsort(keys)
        sorted_keys = keys[order]
        positions = np.clip(np.searchsorted(sorted_keys, packed), 0, len(sorted_keys) - 1)
        known = sorted_keys[positions] == packed
        class_ids = np.where(known, order[positions], UNKNOWN_CLASS).astype(np.uint8)
        unknown_count = int((~known).sum())
        first_unknown: tuple[int, int, Color] | None = None
        if unknown_count:
            row, col = (int(v) for v in np.argwhere(~known)[0])
            first_unknown = (row, col, tuple(int(v) for v in rgb[row, col]))  # type: ignore[assignment]
        return DecodedMask(class_ids=class_ids, unknown_pixels=unknown_count, first_unknown=first_unknown)


UNKNOWN_CLASS = 255
"""Class id given to pixels whose colour is not in the palette (never a valid class)."""


@dataclass(frozen=True)
class DecodedMask:
    """Result of decoding a colour label image.

    Attributes:
        class_ids: ``(H, W)`` uint8 class ids; ``UNKNOWN_CLASS`` where the colour was unknown.
        unknown_pixels: number of pixels whose colour is not in the palette.
        first_unknown: ``(row, col, (r, g, b))`` of the first unknown pixel, or ``None``.
    """

    class_ids: np.ndarray
    unknown_pixels: int
    first_unknown: tuple[int, int, Color] | None


MUT1NY_14 = ClassScheme(
    name="mut1ny14",
    classes=(
        FaceClass(0, "background", (0, 0, 0)),
        FaceClass(1, "face", (128, 128, 128)),
        FaceClass(2, "left_eye", (0, 255, 0)),
        FaceClass(3, "right_eye", (0, 128, 0)),
        FaceClass(4, "nose", (0, 0, 255)),
        FaceClass(5, "left_ear", (0, 255, 255)),
        FaceClass(6, "right_ear", (0, 64, 64)),
        FaceClass(7, "lips", (255, 0, 0)),
        FaceClass(8, "left_eyebrow", (255, 0, 255)),
        FaceClass(9, "right_eyebrow", (128, 0, 128)),
        FaceClass(10, "hair", (255, 255, 0)),
        FaceClass(11, "teeth", (255, 255, 255)),
        FaceClass(12, "glasses", (0, 128, 128)),
        FaceClass(13, "beard", (255, 192, 192)),
    ),
    flip_pairs=(("left_eye", "right_eye"), ("left_ear", "right_ear"), ("left_eyebrow", "right_eyebrow")),
)

MUT1NY_11 = ClassScheme(
    name="mut1ny11",
    classes=(
        FaceClass(0, "background", (0, 0, 0)),
        FaceClass(1, "face", (128, 128, 128)),
        FaceClass(2, "eyes", (0, 255, 0)),
        FaceClass(3, "nose", (0, 0, 255)),
        FaceClass(4, "ears", (0, 255, 255)),
        FaceClass(5, "lips", (255, 0, 0)),
        FaceClass(6, "eyebrows", (255, 0, 255)),
        FaceClass(7, "hair", (255, 255, 0)),
        FaceClass(8, "teeth", (255, 255, 255)),
        FaceClass(9, "glasses", (0, 128, 128)),
        FaceClass(10, "beard", (255, 192, 192)),
    ),
)

CLASS_SCHEMES: dict[str, ClassScheme] = {scheme.name: scheme for scheme in (MUT1NY_14, MUT1NY_11)}


def get_scheme(name: str) -> ClassScheme:
    """Return the class scheme called ``name``; raise ``ValueError`` listing the valid ones."""
    try:
        return CLASS_SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown class scheme {name!r}; valid: {', '.join(CLASS_SCHEMES)}") from None


MASK_ENCODINGS = ("color", "index")
"""How a mask file stores its labels: ``color`` = RGB label colours of a scheme (Mut1ny),
``index`` = single-channel PNG whose pixel values are class ids (written by readers that merge
per-part annotations, e.g. CelebAMask-HQ)."""


def load_class_mask(
    path: str | Path, *, encoding: str, scheme: ClassScheme, data: bytes | None = None
) -> DecodedMask:
    """Read a mask file and return its class ids.

    Args:
        path: mask file (PNG).
        data: the file's bytes when the caller has already read them (then ``path`` only
            names the file in errors).
        encoding: ``"color"`` or ``"index"`` (see ``MASK_ENCODINGS``).
        scheme: class scheme the mask follows.

    Raises:
        ValueError: unknown encoding, or an index mask holding ids outside the scheme.
        OSError: the file cannot be read as an image (the message names the file).
    """
    from PIL import Image  # local import: Pillow is only needed when masks are read

    if encoding not in MASK_ENCODINGS:
        raise ValueError(f"unknown mask encoding {encoding!r}; valid: {', '.join(MASK_ENCODINGS)}")
    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as image:
            if encoding == "color":
                return scheme.decode_mask(np.asarray(image.convert("RGB")))
            class_ids = np.asarray(image.convert("L") if image.mode not in ("L", "P") else image)
    except OSError as error:
        raise OSError(f"cannot read mask {path}: {error}") from error
    class_ids = np.array(class_ids, dtype=np.uint8)
    invalid = class_ids >= scheme.num_classes
    unknown = int(invalid.sum())
    first: tuple[int, int, Color] | None = None
    if unknown:
        row, col = (int(v) for v in np.argwhere(invalid)[0])
        value = int(class_ids[row, col])
        first = (row, col, (value, value, value))
        class_ids = np.where(invalid, UNKNOWN_CLASS, class_ids).astype(np.uint8)
    return DecodedMask(class_ids=class_ids, unknown_pixels=unknown, first_unknown=first)
