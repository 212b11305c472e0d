"""The parts of a procedural face, each drawn as an analytic shape with an exact mask.

Used by ``facetransfer.demo.faces.render_face``; coordinates are the face frame described
there (``u`` to the image's right, ``v`` downwards, the face ellipse around the origin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from facetransfer.classes import MUT1NY_14
from facetransfer.demo.raster import Grid, coverage, ellipse_field, paint, value_noise

if TYPE_CHECKING:
    from facetransfer.demo.faces import FaceIdentity, FacePose
    from facetransfer.demo.inconsistencies import FaceInconsistencies

CLASS = {name: MUT1NY_14.id_of(name) for name in MUT1NY_14.names}
Paint = np.ndarray | tuple[float, float, float]
"""An RGB colour, or per-pixel colours ``(H, W, 3)``."""


@dataclass
class Canvas:
    """Face-frame coordinates (``u``, ``v``), the image being painted and its class ids."""

    u: np.ndarray
    v: np.ndarray
    pixel: float
    grid: Grid
    rng: np.random.Generator

    def __post_init__(self) -> None:
        self.image = np.zeros((*self.u.shape, 3), dtype=np.float64)
        self.labels = np.zeros(self.u.shape, dtype=np.uint8)

    def shape(self, field: np.ndarray, semi_axis: float, color: Paint, class_name: str | None) -> np.ndarray:
        """Paint the region ``field < 1`` and label it; return its hard mask."""
        paint(self.image, coverage(field, semi_axis, self.pixel), color)
        inside = field < 1.0
        if class_name is not None:
            self.labels[inside] = CLASS[class_name]
        return inside

    def region(self, inside: np.ndarray, color: Paint, class_name: str) -> None:
        """Paint and label a region given by a hard mask (edges are not anti-aliased)."""
        paint(self.image, inside.astype(np.float64), color)
        self.labels[inside] = CLASS[class_name]

    def textured(
        self, base: np.ndarray, amount: float, cells: int, stretch: tuple[float, float] = (1, 1)
    ) -> np.ndarray:
        """``base`` colour modulated per pixel by smooth noise of relative ``amount``."""
        noise = value_noise(self.rng, self.grid, cells, stretch)
        return base[None, None, :] * (1.0 + amount * noise)[..., None]


def draw_background(canvas: Canvas, pose: FacePose) -> None:
    """Two-colour gradient, smooth noise and a few out-of-focus blobs (all class background).

    The blobs have soft edges (about a tenth of the image), like lights behind a portrait: a
    sharp-edged blob of a random colour looks like hair or skin and teaches nothing about faces.
    """
    first, second = pose.background
    ramp = np.clip((canvas.grid.x * 0.5 + canvas.grid.y * 0.5 + 1.0) * 0.5, 0.0, 1.0)[..., None]
    canvas.image[...] = first * (1.0 - ramp) + second * ramp
    canvas.image += (value_noise(canvas.rng, canvas.grid, 4) * 15.0)[..., None]
    for _ in range(pose.blobs):
        centre = canvas.rng.random(2) * 2.0 - 1.0
        axes = 0.15 + canvas.rng.random(2) * 0.35
        field = ellipse_field(canvas.grid.x, canvas.grid.y, centre[0], centre[1], axes[0], axes[1])
        paint(canvas.image, coverage(field, float(axes.min()), 0.2) * 0.6, canvas.rng.random(3) * 255.0)


def _shading(canvas: Canvas, identity: FaceIdentity, pose: FacePose) -> np.ndarray:
    face = ellipse_field(canvas.u, canvas.v, 0.0, 0.0, identity.face_width, identity.face_height)
    light = 1.0 + pose.light[0] * canvas.u + pose.light[1] * canvas.v - 0.12 * face * face
    return np.clip(light * pose.brightness, 0.4, 1.4)[..., None]


def draw_head(canvas: Canvas, identity: FaceIdentity, pose: FacePose, flaws: FaceInconsistencies) -> None:
    """Hair behind the head, neck (background), ears, face and beard, back to front."""
    u, v = canvas.u, canvas.v
    width, height = identity.face_width, identity.face_height
    shade = _shading(canvas, identity, pose)
    hair = canvas.textured(identity.hair_color, 0.25, 10, (1.0, 0.25)) * shade
    if identity.hair_style >= 1:
        grow = identity.hair_volume * identity.hair_style / 2.0
        canvas.shape(
            ellipse_field(u, v, 0.0, -0.12, width + 0.05 + grow, height + 0.02 + grow), width, hair, "hair"
        )
    if identity.hair_style == 3:
        long_hair = ellipse_field(u, v, 0.0, 0.3, width + 0.12, height * 0.95)
        canvas.region((long_hair < 1.0) & (v > -0.1), hair, "hair")
    neck = (np.abs(u) < width * 0.55) & (v > height * 0.55) & (v < 2.5)
    canvas.region(neck, canvas.textured(identity.skin * 0.78, 0.04, 6) * shade, "background")
    ear_offset = pose.yaw * 0.1
    for index, (side, class_name) in enumerate(((-1.0, "left_ear"), (1.0, "right_ear"))):
        turned_away = max(0.2, 1.0 - max(0.0, side * pose.yaw) * 2.5)
        ear_size = identity.ear_size * flaws.ear_scale[index]
        axes = (0.07 * ear_size * turned_away, 0.12 * ear_size)
        centre_v = 0.03 + flaws.ear_shift[index]
        field = ellipse_field(u, v, side * (width - 0.01) - ear_offset, centre_v, axes[0], axes[1])
        canvas.shape(field, axes[0], identity.skin * 0.9 * shade, class_name)
    narrowing = 1.0 - identity.jaw * np.clip(v / height, 0.0, 1.0)
    face = ellipse_field(u / narrowing, v, 0.0, 0.0, width, height)
    skin = canvas.textured(identity.skin, 0.04, 8) * shade
    canvas.shape(face, width * 0.8, skin, "face")
    if identity.beard:
        lips = ellipse_field(u, v, pose.yaw * 0.1, identity.mouth_level, identity.mouth_width + 0.03, 0.09)
        beard = (face < 1.0) & (v > identity.beard_start + 0.1) & (lips >= 1.0)
        beard |= (
            (face < 1.0)
            & (np.abs(v - identity.mouth_level + 0.075) < 0.025)
            & (np.abs(u) < identity.mouth_width)
        )
        canvas.region(beard, canvas.textured(identity.hair_color * 0.8, 0.3, 16) * shade, "beard")


def draw_features(canvas: Canvas, identity: FaceIdentity, pose: FacePose, flaws: FaceInconsistencies) -> None:
    """Nose, lips (teeth when the mouth is open), eyes and eyebrows."""
    u, v = canvas.u, canvas.v
    offset = pose.yaw * 0.1
    nose_u = offset * 1.3 + flaws.nose_shift
    shade = _shading(canvas, identity, pose)
    nose_top = identity.eye_level + 0.03
    nose_centre = nose_top + identity.nose_length * 0.5
    nose = ellipse_field(u, v, nose_u, nose_centre, identity.nose_width, identity.nose_length * 0.5 + 0.02)
    side = np.clip((u - nose_u) / identity.nose_width, -1.0, 1.0)
    canvas.shape(nose, identity.nose_width, identity.skin * (0.86 + 0.08 * side)[..., None] * shade, "nose")
    for sign in (-1.0, 1.0):
        nostril = ellipse_field(
            u, v, nose_u + sign * 0.025, nose_centre + identity.nose_length * 0.4, 0.018, 0.012
        )
        canvas.shape(nostril, 0.012, identity.skin * 0.45, None)
    mouth_open = pose.mouth_open if pose.shows_teeth else 0.0
    lip_height = identity.lip_thickness + mouth_open * 0.04
    lips = ellipse_field(u, v, offset, identity.mouth_level, identity.mouth_width, lip_height)
    canvas.shape(lips, lip_height, identity.lip_color * shade, "lips")
    if mouth_open:
        opening_height = mouth_open * 0.035
        opening = ellipse_field(
            u, v, offset, identity.mouth_level, identity.mouth_width * 0.75, opening_height
        )
        teeth = (
            np.array([236.0, 232.0, 220.0])
            - 120.0 * np.clip((v - identity.mouth_level) / opening_height, 0, 1)[..., None]
        )
        for gap in flaws.teeth_gaps:  # irregular teeth: dark gaps at uneven places
            stripe = np.abs(u - offset - gap * identity.mouth_width * 0.75) < flaws.teeth_gap_width
            teeth = np.where(stripe[..., None], teeth * 0.35, teeth)
        canvas.shape(opening, opening_height, teeth * shade, "teeth")
    else:
        line = ellipse_field(u, v, offset, identity.mouth_level, identity.mouth_width * 0.8, 0.008)
        canvas.shape(line, 0.008, identity.lip_color * 0.5, None)
    for index, (sign, eye_class, brow_class) in enumerate(
        ((-1.0, "left_eye", "left_eyebrow"), (1.0, "right_eye", "right_eyebrow"))
    ):
        centre_u = sign * identity.eye_spacing + offset
        _draw_eye(canvas, identity, pose, flaws, index, centre_u, (eye_class, brow_class))


def _draw_eye(
    canvas: Canvas,
    identity: FaceIdentity,
    pose: FacePose,
    flaws: FaceInconsistencies,
    index: int,
    centre_u: float,
    class_names: tuple[str, str],
) -> None:
    """Eye ``index`` (0: image left, 1: image right) with its iris, pupil and eyebrow."""
    u, v = canvas.u, canvas.v
    eye_width, eye_height = (size * flaws.eye_scale[index] for size in identity.eye_size)
    centre_v = identity.eye_level + flaws.eye_shift[index]
    turned = 1.0 - 0.3 * abs(pose.yaw) if centre_u * pose.yaw < 0 else 1.0
    width, height = eye_width * turned, eye_height * pose.eye_open
    eye = ellipse_field(u, v, centre_u, centre_v, width, height)
    canvas.shape(eye, height, np.array([238.0, 236.0, 228.0]) * pose.brightness, class_names[0])
    gaze_u, gaze_v = (g + shift for g, shift in zip(pose.gaze, flaws.gaze_shift[index], strict=True))
    iris_u = centre_u + gaze_u * width * 0.5
    iris_v = centre_v + gaze_v * height * 0.5
    iris = ellipse_field(u, v, iris_u, iris_v, eye_height * 0.85, eye_height * 0.85)
    iris_alpha = coverage(iris, eye_height * 0.85, canvas.pixel) * (eye < 1.0)
    iris_color = flaws.iris_color[index]
    paint(canvas.image, iris_alpha, identity.iris if iris_color is None else iris_color)
    pupil = ellipse_field(u, v, iris_u, iris_v, eye_height * 0.4, eye_height * 0.4)
    paint(canvas.image, coverage(pupil, eye_height * 0.4, canvas.pixel) * (eye < 1.0), (15.0, 12.0, 12.0))
    brow_v = identity.eye_level - identity.brow_gap + flaws.brow_shift[index]
    thickness = identity.brow_thickness * flaws.brow_scale[index]
    along = (u - centre_u) / (width * 1.3)
    arched_v = v + 0.04 * (1.0 - along * along)
    brow = ellipse_field(u, arched_v, centre_u, brow_v + 0.04, width * 1.3, thickness)
    canvas.shape(brow, thickness, identity.hair_color * 0.85, class_names[1])


def draw_hair_front(canvas: Canvas, identity: FaceIdentity) -> None:
    """Fringe over the forehead (and side locks for long hair)."""
    if identity.hair_style == 0:
        return
    u, v = canvas.u, canvas.v
    wave = value_noise(canvas.rng, canvas.grid, 6) * 0.05
    outline = ellipse_field(u, v, 0.0, -0.12, identity.face_width + 0.2, identity.face_height + 0.2)
    fringe = (outline < 1.0) & (v < identity.hairline + wave)
    if identity.hair_style == 3:
        fringe |= (outline < 1.0) & (np.abs(u) > identity.face_width * 0.9) & (v < 0.25)
    canvas.region(fringe, canvas.textured(identity.hair_color, 0.25, 10, (1.0, 0.25)), "hair")


def draw_glasses(canvas: Canvas, identity: FaceIdentity, pose: FacePose, flaws: FaceInconsistencies) -> None:
    """Frames, bridge and temples (class glasses) over slightly tinted lenses (not relabelled)."""
    u, v = canvas.u, canvas.v
    offset = pose.yaw * 0.1
    half_width, half_height = identity.eye_size[0] * 1.35, identity.eye_size[1] * 2.0
    thickness = 0.04
    frame = np.zeros(u.shape, dtype=bool)
    lens = np.zeros(u.shape, dtype=bool)
    for index, sign in enumerate((-1.0, 1.0)):
        centre = sign * identity.eye_spacing + offset
        round_shape = identity.glasses_round != flaws.lens_flip[index]
        du, dv = u - centre, v - identity.eye_level
        outer = _superellipse(du, dv, half_width, half_height, round_shape)
        inner = _superellipse(du, dv, half_width - thickness, half_height - thickness, round_shape)
        frame |= (outer < 1.0) & (inner >= 1.0)
        lens |= inner < 1.0
    inner_edge = identity.eye_spacing - half_width
    bridge = (np.abs(u - offset) <= inner_edge + 0.01) & (
        np.abs(v - identity.eye_level + half_height * 0.3) < thickness * 0.5
    )
    temples = (np.abs(u - offset) > identity.eye_spacing + half_width - 0.01) & (
        np.abs(u - offset) < identity.face_width
    )
    temples &= np.abs(v - identity.eye_level + half_height * 0.5) < thickness * 0.5
    paint(canvas.image, lens * 0.15, (200.0, 220.0, 240.0))
    canvas.region(frame | bridge | temples, identity.glasses_color, "glasses")


def _superellipse(du: np.ndarray, dv: np.ndarray, a: float, b: float, round_shape: bool) -> np.ndarray:
    x = du / a
    y = dv / b
    x2, y2 = x * x, y * y
    return x2 + y2 if round_shape else x2 * x2 + y2 * y2
