"""The random picture behind each demo image: person, pose, inconsistencies and camera noise.

Every image is drawn from its own random streams, derived from (seed, folder, identity,
picture), so an image does not depend on how many others are written; the streams use only
exact operations (see ``facetransfer.demo.raster``), so files are byte-identical everywhere.
"""

from __future__ import annotations

import hashlib

import numpy as np

from facetransfer.demo.faces import FaceIdentity, FacePose, render_face
from facetransfer.demo.inconsistencies import COHERENT, FaceInconsistencies, sample_inconsistencies
from facetransfer.demo.options import DemoOptions


def stream(seed: int, *parts: object) -> np.random.Generator:
    """Independent random stream named by ``parts`` (stable across numpy versions and platforms)."""
    digest = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def camera_noise(rng: np.random.Generator, shape: tuple[int, ...], level: int) -> np.ndarray:
    """Sensor-like noise: a sum of four integers uniform in [-level, level] (no transcendental maths)."""
    if level == 0:
        return np.zeros(shape)
    total = np.zeros(shape, dtype=np.int64)
    for _ in range(4):
        total += rng.integers(-level, level + 1, size=shape)
    return total.astype(np.float64)


class FaceSource:
    """Faces of one folder: identity ``index // images_per_identity``, picture ``index % ...``."""

    def __init__(self, options: DemoOptions, folder: str, face_scale: tuple[float, float]) -> None:
        self.options = options
        self.folder = folder
        self.face_scale = face_scale

    def name(self, index: int, extension: str) -> str:
        """File name of image ``index``: ``id<identity>_<picture>.<extension>``."""
        identity, picture = divmod(index, self.options.images_per_identity)
        return f"id{identity:05d}_{picture}.{extension}"

    def picture(self, index: int) -> tuple[FaceIdentity, FacePose, np.random.Generator]:
        """``(person, pose, picture rng)`` of image ``index``."""
        identity, picture = divmod(index, self.options.images_per_identity)
        person = FaceIdentity.sample(stream(self.options.seed, self.folder, "identity", identity))
        rng = stream(self.options.seed, self.folder, "picture", identity, picture)
        return person, FacePose.sample(rng, self.face_scale), rng

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
        """``(float image, class ids, picture rng)`` of image ``index`` (noise not yet added)."""
        person, pose, rng = self.picture(index)
        image, labels = render_face(person, pose, self.options.image_size, rng)
        return image, labels, rng

    def inconsistencies(self, index: int, person: FaceIdentity, pose: FacePose) -> FaceInconsistencies:
        """The semantic inconsistencies of generated image ``index`` (from its own stream)."""
        identity, picture = divmod(index, self.options.images_per_identity)
        rng = stream(self.options.seed, self.folder, "inconsistencies", identity, picture)
        if rng.random() >= self.options.inconsistency_rate:
            return COHERENT
        return sample_inconsistencies(
            rng,
            self.folder,
            strength=self.options.inconsistency_strength,
            count=1 + int(rng.integers(2)),
            mouth_open=pose.shows_teeth,
            glasses=person.glasses,
            iris=person.iris,
        )

    def noise(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Camera noise at full resolution and, of the same level, at half resolution."""
        level = self.options.noise_levels[int(rng.integers(len(self.options.noise_levels)))]
        size = self.options.image_size
        return camera_noise(rng, (size, size, 3), level), camera_noise(rng, (size // 2, size // 2, 3), level)
