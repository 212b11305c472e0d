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
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

Color = tuple[int, int, int]

SIXTEEN_BIT_GRAY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
"""Pillow's 16-bit greyscale modes (no exact label colour; an index mask may hold values up to 255)."""


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

MASK_DECODING_VERSION = "exact-1"
"""Changes whenever ``load_class_mask`` would read a file differently (for caches of mask facts)."""


class MaskEncodingError(OSError):
    """A mask file's mode or bit depth has no exact reading as labels; nothing was guessed.

    An ``OSError`` like any other unreadable mask, so every reader of masks sets the file aside;
    the message names the file, the mode and the problem.
    """


def load_class_mask(
    path: str | Path, *, encoding: str, scheme: ClassScheme, data: bytes | None = None
) -> DecodedMask:
    """Read a mask file and return its class ids, reading only values that map exactly.

    A mask is decoded as carefully as an image: nothing is clipped, scaled or composited, so a
    file that cannot be read exactly is refused rather than turned into whichever class shares
    the colour Pillow's conversion happens to produce (white is teeth's colour).

    ``color`` masks: ``RGB``, ``L`` (grey ``v`` is the colour ``(v, v, v)``), ``P`` (its palette
    entries, which are 8-bit RGB) and ``RGBA``/``LA``/``PA`` whose every pixel is fully opaque
    (alpha 255), all at 8 bits per sample. Refused: any pixel with alpha below 255 (including a
    ``tRNS`` transparency entry or colour key in use), 16-bit files of any mode (no 16-bit value
    is a label colour; Pillow would keep only the high byte of 16-bit RGB, RGBA and grey+alpha
    PNGs), 1-bit files (a bilevel image is a binary mask, and its white would read as the class
    coloured white) and every other mode.

    ``index`` masks: ``L`` and ``P`` (the pixel value, or palette index, is the class id),
    ``LA``/``PA`` when fully opaque, and 16-bit greyscale (``I;16*``, ``I``) whose values are
    0..255, read as they are. Refused: a 16-bit value above 255 (never clipped), transparency in
    use, 1-bit and multi-channel modes. Values outside the scheme are reported as unknown pixels
    (``UNKNOWN_CLASS``), as unknown colours are.

    Args:
        path: mask file (PNG).
        data: the file's bytes when the caller has already read them (then ``path`` only
            names the file in errors).
        encoding: ``"color"`` or ``"index"`` (see ``MASK_ENCODINGS``).
        scheme: class scheme the mask follows.

    Raises:
        ValueError: unknown encoding.
        MaskEncodingError: the file's mode, bit depth or transparency has no exact reading
            (the message names the file, the mode and the problem).
        OSError: the file cannot be read as an image (the message names the file).
    """
    from PIL import Image  # local import: Pillow is only needed when masks are read

    if encoding not in MASK_ENCODINGS:
        raise ValueError(f"unknown mask encoding {encoding!r}; valid: {', '.join(MASK_ENCODINGS)}")
    try:
        data = data if data is not None else Path(path).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if encoding == "color":
                return scheme.decode_mask(_exact_label_colors(image, png_bit_depth(data)))
            class_ids = _exact_class_ids(image, png_bit_depth(data))
    except MaskEncodingError as error:
        raise MaskEncodingError(f"mask {path}: {error}") from None
    except OSError as error:
        raise OSError(f"cannot read mask {path}: {error}") from error
    invalid = class_ids >= scheme.num_classes
    unknown = int(invalid.sum())
    first: tuple[int, int, Color] | None = None
    if unknown:
        row, col = (int(v) for v in np.argwhere(invalid)[0])
        value = int(class_ids[row, col])
        first = (row, col, (value, value, value))
        class_ids = np.where(invalid, UNKNOWN_CLASS, class_ids).astype(np.uint8)
    return DecodedMask(class_ids=class_ids, unknown_pixels=unknown, first_unknown=first)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bit_depth(data: bytes) -> int | None:
    """Bits per sample a PNG's header (``IHDR``) declares; ``None`` for other formats.

    Pillow reads 16-bit RGB, RGBA and grey+alpha PNGs into 8-bit modes by keeping each sample's
    high byte, so the mode alone does not tell that a file had 16 bits.
    """
    if len(data) < 25 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    return data[24]


def sixteen_bit_problem(image: Image.Image, bit_depth: int | None) -> str | None:
    """Why the 16-bit samples of ``image`` (a loaded Pillow image) cannot be read as labels, if it has them.

    16-bit greyscale modes (``I;16*``, ``I``) are not judged here: their values are all there and
    the caller decides which are exact. Any other mode from a 16-bit PNG lost each sample's low
    byte when Pillow read it.
    """
    if image.mode in SIXTEEN_BIT_GRAY_MODES or bit_depth != 16:
        return None
    return (
        f"mode {image.mode!r} from a 16-bit PNG: Pillow keeps only the high byte of each sample, "
        "so 16-bit values would change (0/1 would both read as 0); save the mask with 8 bits per sample"
    )


_LABEL_MODES = ("RGB", "L", "P", "RGBA", "LA", "PA")
_INDEX_MODES = ("L", "P", "LA", "PA")


def _exact_label_colors(image: Image.Image, bit_depth: int | None) -> np.ndarray:
    """The ``(H, W, 3)`` colours of a ``color`` mask (rules: ``load_class_mask``)."""
    if image.mode in SIXTEEN_BIT_GRAY_MODES:
        raise MaskEncodingError(
            f"mode {image.mode!r} (16-bit greyscale): 16-bit values are not label colours "
            "(label colours have 8 bits per channel); save the mask as 8-bit RGB"
        )
    problem = sixteen_bit_problem(image, bit_depth)
    if problem is not None:
        raise MaskEncodingError(problem)
    if image.mode == "1":
        raise MaskEncodingError(
            "mode '1' (1-bit): a bilevel image is a binary mask, not label colours (its white "
            "would read as the class coloured white); save the mask as 8-bit RGB"
        )
    if image.mode not in _LABEL_MODES:
        raise MaskEncodingError(
            f"mode {image.mode!r} has no exact reading as label colours "
            f"(accepted: {', '.join(_LABEL_MODES)} at 8 bits per sample, fully opaque)"
        )
    # RGBA conversion keeps the colours as stored and applies tRNS entries and colour keys.
    rgba = np.asarray(image.convert("RGBA"))
    _require_opaque(rgba[..., 3], image)
    return rgba[..., :3]


def _exact_class_ids(image: Image.Image, bit_depth: int | None) -> np.ndarray:
    """The ``(H, W)`` uint8 ids of an ``index`` mask (rules: ``load_class_mask``)."""
    if image.mode in SIXTEEN_BIT_GRAY_MODES:
        values = np.asarray(image).astype(np.int64)
        outside = (values < 0) | (values > 255)
        if outside.any():
            row, col = (int(v) for v in np.argwhere(outside)[0])
            raise MaskEncodingError(
                f"mode {image.mode!r}: {int(outside.sum())} values are not class ids (0..255), first "
                f"{int(values[row, col])} at row {row}, column {col}; 16-bit values are never clipped"
            )
        return values.astype(np.uint8)
    problem = sixteen_bit_problem(image, bit_depth)
    if problem is not None:
        raise MaskEncodingError(problem)
    if image.mode == "1":
        raise MaskEncodingError(
            "mode '1' (1-bit): Pillow reads a bilevel image as 0/255, not as class ids; "
            "save index masks as 8-bit greyscale"
        )
    if image.mode not in _INDEX_MODES:
        raise MaskEncodingError(
            f"mode {image.mode!r}: index masks are single-channel ({', '.join(_INDEX_MODES)} or "
            "16-bit greyscale), so no channel of this one is the class id"
        )
    _require_opaque(np.asarray(image.convert("RGBA"))[..., 3], image)
    values = np.asarray(image)
    return np.array(values[..., 0] if values.ndim == 3 else values, dtype=np.uint8)


def _require_opaque(alpha: np.ndarray, image: Image.Image) -> None:
    """Refuse a mask in which any pixel is not fully opaque: a label under transparency is ambiguous."""
    see_through = alpha < 255
    if not see_through.any():
        return
    row, col = (int(v) for v in np.argwhere(see_through)[0])
    keyed = " with a transparency entry (tRNS)" if "transparency" in image.info else ""
    raise MaskEncodingError(
        f"mode {image.mode!r}{keyed}: {int(see_through.sum())} pixels are not fully opaque (alpha "
        f"< 255), first at row {row}, column {col} (alpha {int(alpha[row, col])}); the colour under "
        "transparency is not a label, so save the mask without alpha"
    )
