"""Semantic inconsistencies of generated faces: parts that do not agree with each other.

The paper's premise is that generated faces are "not always consistent with regard to the
coherence of facial feature position and shapes". Besides the up-sampling traces of
``facetransfer.demo.generators``, each simulated generator therefore draws its faces with
a few incoherent parts, the kind a face parser is sensitive to:

===============  ==================================================================
``eye_size``     one eye larger or smaller than the other
``eye_height``   one eye higher or lower than the other
``iris_color``   the two irises of different colours
``gaze``         the two eyes looking in different directions
``eyebrow``      one eyebrow raised or lowered, thicker or thinner
``ear``          one ear larger or smaller, higher or lower
``nose``         the nose off the axis of eyes and mouth
``teeth``        irregular teeth: dark gaps at uneven places (open mouths only)
``lenses``       a round and a square lens in one pair of glasses (glasses only)
===============  ==================================================================

Real demo faces are symmetric up to the perspective of their pose (a turned head narrows the
far eye and ear), so a detector that knows where the parts are can compare them. Each family
draws the kinds with its own weights (``FAMILY_PROFILES``): every family shows every kind, but
in different proportions, so families stay distinct and a detector trained on some of them
partly recognises a new one. Magnitudes scale with ``strength``; at strength 1 they are a
fraction of the part's size (a couple of pixels at 64 px), visible when looked for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

KINDS = ("eye_size", "eye_height", "iris_color", "gaze", "eyebrow", "ear", "nose", "teeth", "lenses")

FAMILY_PROFILES: dict[str, dict[str, float]] = {
    "tconv": {"eye_size": 3, "eye_height": 2, "gaze": 2},
    "nearest_conv": {"eyebrow": 3, "ear": 2, "eye_height": 2},
    "bilinear_conv": {"iris_color": 3, "nose": 2, "teeth": 2},
    "pixel_shuffle": {"gaze": 3, "lenses": 3, "eye_size": 2},
}
"""Per family, the kinds it favours (weight; every other kind has weight 1)."""


@dataclass(frozen=True)
class FaceInconsistencies:
    """Per-side deviations of one generated face; the defaults draw a coherent face.

    Pairs are ``(image-left part, image-right part)``; offsets are in face units (the face
    ellipse is about 0.4 × 0.55), factors multiply the part's size.
    """

    kinds: tuple[str, ...] = ()
    eye_scale: tuple[float, float] = (1.0, 1.0)
    eye_shift: tuple[float, float] = (0.0, 0.0)
    iris_color: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
    gaze_shift: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 0.0), (0.0, 0.0))
    brow_shift: tuple[float, float] = (0.0, 0.0)
    brow_scale: tuple[float, float] = (1.0, 1.0)
    ear_scale: tuple[float, float] = (1.0, 1.0)
    ear_shift: tuple[float, float] = (0.0, 0.0)
    nose_shift: float = 0.0
    teeth_gaps: tuple[float, ...] = ()
    teeth_gap_width: float = 0.0
    lens_flip: tuple[bool, bool] = (False, False)


COHERENT = FaceInconsistencies()
"""No inconsistency: how real faces are drawn."""


def _pair(side: int, value: object, default: object) -> tuple:
    return (value, default) if side == 0 else (default, value)


def _signed(rng: np.random.Generator, low: float, high: float) -> float:
    """Uniform magnitude in [low, high] with a random sign."""
    magnitude = low + (high - low) * float(rng.random())
    return magnitude if rng.random() < 0.5 else -magnitude


def _apply(
    flaws: FaceInconsistencies, kind: str, rng: np.random.Generator, strength: float, iris: np.ndarray
) -> FaceInconsistencies:
    side = int(rng.integers(2))
    amount = strength * (0.6 + 0.4 * float(rng.random()))
    if kind == "eye_size":
        scale = 1.0 + _signed(rng, 0.25, 0.35) * amount
        return replace(flaws, eye_scale=_pair(side, scale, 1.0))
    if kind == "eye_height":
        return replace(flaws, eye_shift=_pair(side, _signed(rng, 0.03, 0.045) * amount, 0.0))
    if kind == "iris_color":
        # A cyclic permutation of the channels: brown turns green or purple, blue turns red...
        other = iris[[2, 0, 1]] if rng.random() < 0.5 else iris[[1, 2, 0]]
        return replace(flaws, iris_color=_pair(side, iris + (other - iris) * min(1.0, amount), None))
    if kind == "gaze":
        shift = (_signed(rng, 0.5, 0.8) * amount, _signed(rng, 0.0, 0.4) * amount)
        return replace(flaws, gaze_shift=_pair(side, shift, (0.0, 0.0)))
    if kind == "eyebrow":
        return replace(
            flaws,
            brow_shift=_pair(side, _signed(rng, 0.03, 0.05) * amount, 0.0),
            brow_scale=_pair(side, 1.0 + _signed(rng, 0.2, 0.4) * amount, 1.0),
        )
    if kind == "ear":
        return replace(
            flaws,
            ear_scale=_pair(side, 1.0 + _signed(rng, 0.25, 0.4) * amount, 1.0),
            ear_shift=_pair(side, _signed(rng, 0.0, 0.05) * amount, 0.0),
        )
    if kind == "nose":
        return replace(flaws, nose_shift=_signed(rng, 0.035, 0.05) * amount)
    if kind == "teeth":
        gaps = tuple(_signed(rng, 0.0, 0.7) for _ in range(1 + int(rng.integers(2))))
        return replace(flaws, teeth_gaps=gaps, teeth_gap_width=0.012 * amount)
    if kind == "lenses":
        return replace(flaws, lens_flip=_pair(side, True, False))
    raise ValueError(f"unknown inconsistency kind {kind!r}; known: {', '.join(KINDS)}")


def sample_inconsistencies(
    rng: np.random.Generator,
    family: str,
    *,
    strength: float,
    count: int,
    mouth_open: bool,
    glasses: bool,
    iris: np.ndarray,
) -> FaceInconsistencies:
    """Draw ``count`` distinct kinds of inconsistency for one generated face of ``family``.

    Kinds that would not show (``teeth`` with a closed mouth, ``lenses`` without glasses) are
    not drawn. Only ``Generator.random``/``integers`` are used (deterministic on every machine).

    Args:
        rng: the picture's own random stream for inconsistencies.
        family: generator family (selects the weights of ``FAMILY_PROFILES``).
        strength: scales every magnitude (0 gives ``COHERENT`` back).
        count: number of kinds combined in this face.
        mouth_open: whether the face shows its teeth.
        glasses: whether the face wears glasses.
        iris: the identity's iris colour (a mismatched iris gets another one).
    """
    if strength <= 0 or count <= 0:
        return COHERENT
    profile = FAMILY_PROFILES.get(family, {})
    available = [
        kind
        for kind in KINDS
        if not (kind == "teeth" and not mouth_open) and not (kind == "lenses" and not glasses)
    ]
    weights = [float(profile.get(kind, 1.0)) for kind in available]
    flaws = COHERENT
    for _ in range(min(count, len(available))):
        target = float(rng.random()) * sum(weights)
        index = 0
        while index < len(weights) - 1 and target >= weights[index]:
            target -= weights[index]
            index += 1
        kind = available.pop(index)
        weights.pop(index)
        flaws = _apply(flaws, kind, rng, strength, iris)
        flaws = replace(flaws, kinds=(*flaws.kinds, kind))
    return flaws
