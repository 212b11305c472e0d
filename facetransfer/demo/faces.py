"""Procedural faces with exact 14-class masks (the Mut1ny classes of ``facetransfer.classes``).

A face is drawn in its own coordinate frame (``u`` to the image's right, ``v`` downwards, the face
ellipse about 0.4 × 0.55 around the origin) and placed in the image by a rotation, a scale and a
shift. Each part is an analytic shape; its anti-aliased coverage paints the image and its hard
inside test (the same boundary) writes the class id, so masks are exact. Parts are painted back to
front and later parts win: hair behind the head, neck, ears, face, beard, nose, lips/teeth, eyes,
eyebrows, fringe, glasses.

"Left" classes are the parts on the image's left (smaller x); a horizontal flip swaps them with
their "right" partners, which is what ``ClassScheme.flip_lookup_table`` assumes.

``FaceIdentity`` holds what stays the same for a person (shape, colours, hair style, glasses,
beard); ``FacePose`` what changes between pictures (pose, expression, light, background);
``FaceInconsistencies`` (``facetransfer.demo.inconsistencies``) how a generated picture
departs from a coherent face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facetransfer.demo.face_parts import (
    Canvas,
    draw_background,
    draw_features,
    draw_glasses,
    draw_hair_front,
    draw_head,
)
from facetransfer.demo.inconsistencies import COHERENT, FaceInconsistencies
from facetransfer.demo.raster import Grid, rational_rotation

SEGMENTATION_FACE_SCALE = (0.8, 1.05)
"""Default range of the face's scale in the Mut1ny-format pictures: head shots with background
around the head (at 1 the face is about 40 % of the image wide)."""
DETECTION_FACE_SCALE = (1.05, 1.35)
"""Default range in the ArtiFact-format pictures: tighter crops, like the aligned faces of FFHQ and
CelebA-HQ, where eyes, brows and ears are large enough for their inconsistencies to show."""

_SKIN_LIGHT = np.array([250.0, 221.0, 195.0])
_SKIN_DARK = np.array([92.0, 58.0, 40.0])
_HAIR_COLORS = np.array(
    [
        [25, 20, 18],
        [60, 40, 28],
        [105, 70, 40],
        [170, 130, 80],
        [215, 185, 130],
        [140, 60, 30],
        [150, 150, 150],
    ],
    dtype=np.float64,
)
_IRIS_COLORS = np.array([[70, 45, 25], [40, 90, 150], [70, 110, 60], [110, 85, 50]], dtype=np.float64)


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(rng.random())


@dataclass(frozen=True)
class FaceIdentity:
    """What stays the same across pictures of one procedural person."""

    face_width: float
    face_height: float
    jaw: float
    skin: np.ndarray
    hair_color: np.ndarray
    hair_style: int  # 0 bald, 1 short, 2 medium, 3 long
    hair_volume: float
    hairline: float
    eye_spacing: float
    eye_level: float
    eye_size: tuple[float, float]
    iris: np.ndarray
    brow_gap: float
    brow_thickness: float
    nose_length: float
    nose_width: float
    mouth_level: float
    mouth_width: float
    lip_thickness: float
    lip_color: np.ndarray
    ear_size: float
    glasses: bool
    glasses_round: bool
    glasses_color: np.ndarray
    beard: bool
    beard_start: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> FaceIdentity:
        """Draw a random identity."""
        tone = _uniform(rng, 0.0, 1.0)
        skin = _SKIN_LIGHT * (1.0 - tone) + _SKIN_DARK * tone + (rng.random(3) * 2.0 - 1.0) * 8.0
        hair = _HAIR_COLORS[int(rng.integers(len(_HAIR_COLORS)))] + (rng.random(3) * 2.0 - 1.0) * 10.0
        return cls(
            face_width=_uniform(rng, 0.36, 0.45),
            face_height=_uniform(rng, 0.5, 0.6),
            jaw=_uniform(rng, 0.05, 0.3),
            skin=skin,
            hair_color=hair,
            hair_style=int(np.searchsorted([0.08, 0.45, 0.75], rng.random(), side="right")),
            hair_volume=_uniform(rng, 0.03, 0.12),
            hairline=_uniform(rng, -0.5, -0.3),
            eye_spacing=_uniform(rng, 0.16, 0.21),
            eye_level=_uniform(rng, -0.09, -0.01),
            eye_size=(_uniform(rng, 0.08, 0.1), _uniform(rng, 0.04, 0.055)),
            iris=_IRIS_COLORS[int(rng.integers(len(_IRIS_COLORS)))],
            brow_gap=_uniform(rng, 0.1, 0.14),
            brow_thickness=_uniform(rng, 0.03, 0.045),
            nose_length=_uniform(rng, 0.14, 0.2),
            nose_width=_uniform(rng, 0.055, 0.08),
            mouth_level=_uniform(rng, 0.28, 0.34),
            mouth_width=_uniform(rng, 0.12, 0.17),
            lip_thickness=_uniform(rng, 0.035, 0.05),
            lip_color=skin * np.array([0.85, 0.55, 0.55]) + np.array([30.0, 0.0, 5.0]),
            ear_size=_uniform(rng, 0.85, 1.15),
            glasses=bool(rng.random() < 0.3),
            glasses_round=bool(rng.random() < 0.5),
            glasses_color=rng.random(3) * 90.0,
            beard=bool(rng.random() < 0.28),
            beard_start=_uniform(rng, 0.0, 0.18),
        )


@dataclass(frozen=True)
class FacePose:
    """What changes between pictures of the same person."""

    rotation: tuple[float, float]
    scale: float
    shift: tuple[float, float]
    yaw: float
    mouth_open: float
    eye_open: float
    gaze: tuple[float, float]
    light: tuple[float, float]
    brightness: float
    background: tuple[np.ndarray, np.ndarray]
    blobs: int

    @property
    def shows_teeth(self) -> bool:
        """Whether the mouth is open wide enough to show the teeth."""
        return self.mouth_open > 0.45

    @classmethod
    def sample(
        cls, rng: np.random.Generator, scale: tuple[float, float] = SEGMENTATION_FACE_SCALE
    ) -> FacePose:
        """Draw a random pose, expression, light and background (face scale within ``scale``)."""
        return cls(
            rotation=rational_rotation(_uniform(rng, -0.16, 0.16)),  # about ±18°
            scale=_uniform(rng, *scale),
            shift=(_uniform(rng, -0.1, 0.1), _uniform(rng, -0.08, 0.1)),
            yaw=_uniform(rng, -0.3, 0.3),
            mouth_open=_uniform(rng, 0.0, 1.0),
            eye_open=_uniform(rng, 0.65, 1.1),
            gaze=(_uniform(rng, -0.3, 0.3), _uniform(rng, -0.2, 0.2)),
            light=(_uniform(rng, -0.35, 0.35), _uniform(rng, -0.3, 0.2)),
            brightness=_uniform(rng, 0.85, 1.1),
            background=(rng.random(3) * 255.0, rng.random(3) * 255.0),
            blobs=int(rng.integers(0, 3)),
        )


def render_face(
    identity: FaceIdentity,
    pose: FacePose,
    size: int,
    rng: np.random.Generator,
    inconsistencies: FaceInconsistencies = COHERENT,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a face.

    Args:
        identity: the person.
        pose: the picture's pose and setting.
        size: image side in pixels.
        rng: source of texture noise (the same draws whatever the inconsistencies).
        inconsistencies: how the parts depart from a coherent face (generated pictures).

    Returns:
        ``(image, class_ids)``: float64 ``(size, size, 3)`` RGB in [0, 255] (not yet clipped or
        noised) and uint8 ``(size, size)`` Mut1ny-14 class ids.
    """
    grid = Grid.square(size)
    cos, sin = pose.rotation
    dx, dy = grid.x - pose.shift[0], grid.y - pose.shift[1]
    u = (dx * cos + dy * sin) / pose.scale
    v = (dy * cos - dx * sin) / pose.scale
    canvas = Canvas(u=u, v=v, pixel=2.0 / (size * pose.scale), grid=grid, rng=rng)
    draw_background(canvas, pose)
    draw_head(canvas, identity, pose, inconsistencies)
    draw_features(canvas, identity, pose, inconsistencies)
    draw_hair_front(canvas, identity)
    if identity.glasses:
        draw_glasses(canvas, identity, pose, inconsistencies)
    return canvas.image, canvas.labels
