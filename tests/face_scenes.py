"""Test pictures and videos with real faces, built from scikit-image's public-domain portrait.

``skimage.data.astronaut()`` (512 px, NASA) is the only photograph of a face the tests have; the
scenes paste it, scaled and rotated, onto a photo-like background, as a press photo or a video
frame holds faces anywhere.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FACE_REGION = (slice(0, 300), slice(100, 350))
"""Rows and columns of the astronaut picture that hold the head."""


def portrait() -> np.ndarray:
    """The 512 px RGB portrait."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like background: smooth colour gradients with blurred texture."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    texture = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(40, 200, width, dtype=np.float32)[None, :, None]
    return np.clip(0.6 * texture + 0.4 * ramp, 0, 255).astype(np.uint8)


def paste_face(scene: np.ndarray, *, centre: tuple[float, float], scale: float, angle: float) -> np.ndarray:
    """Paste the portrait's head onto ``scene`` (in place); returns the 2x3 map portrait -> scene."""
    face = portrait()[FACE_REGION]
    height, width = face.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    matrix[:, 2] += [centre[0] - width / 2, centre[1] - height / 2]
    size = (scene.shape[1], scene.shape[0])
    mask = cv2.warpAffine(np.full((height, width), 255, np.uint8), matrix, size) > 127
    warped = cv2.warpAffine(face, matrix, size, flags=cv2.INTER_AREA)
    scene[mask] = warped[mask]
    full = matrix.copy()
    full[:, 2] -= matrix[:, :2] @ np.array([FACE_REGION[1].start, FACE_REGION[0].start], dtype=np.float64)
    return full


def group_photo(seed: int = 0) -> tuple[np.ndarray, int]:
    """1024x768 picture with three faces (rotated up to 30 degrees, 70-140 px); returns it and 3."""
    scene = background(768, 1024, seed)
    for centre, scale, angle in (((230, 260), 0.9, 30.0), ((700, 250), 0.7, -25.0), ((520, 590), 0.55, 0.0)):
        paste_face(scene, centre=centre, scale=scale, angle=angle)
    return scene, 3


def faceless_photo(seed: int = 1) -> np.ndarray:
    """A 800x600 picture without a face."""
    return background(600, 800, seed)


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return path


def write_video(path: Path, *, seconds: float = 2.0, fps: int = 10, with_face: bool = True) -> Path:
    """A short MP4 (640x360) in which one face moves left to right (or no face at all)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 360))
    try:
        frames = int(seconds * fps)
        for index in range(frames):
            frame = background(360, 640, seed=7)
            if with_face:
                paste_face(frame, centre=(260 + 60 * index / max(frames - 1, 1), 180), scale=0.6, angle=5.0)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path
