"""FFHQ-style alignment: eye centres and mouth centre -> similarity transform -> square crop.

FFHQ (Karras et al. 2019) cut its faces with this geometry from 68 dlib landmarks; MTCNN's five
give the same three points (each eye centre, and the mouth centre as the mean of the mouth
corners). With ``x`` the eye-to-eye direction turned by the eye-to-mouth direction and ``c``
slightly below the eyes, the crop is the square ``c +- x +- y`` with half-side
``max(2.0 * eye distance, 1.8 * eye-to-mouth distance) * margin``. The transform is kept, so a box
or landmarks drawn on the crop map back onto the original picture (``to_original``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facetransfer.faces.detection import DetectedFace


@dataclass(frozen=True)
class AlignedFace:
    """An aligned face crop and the transform that made it.

    Attributes:
        pixels: ``(S, S, 3)`` uint8 RGB crop.
        matrix: ``(2, 3)`` affine map from original picture coordinates to crop coordinates.
        face: the detection it was cut from (original coordinates).
    """

    pixels: np.ndarray
    matrix: np.ndarray
    face: DetectedFace

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """``(N, 2)`` original coordinates -> crop coordinates."""
        return np.asarray(points, dtype=np.float64) @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """``(N, 2)`` crop coordinates -> original picture coordinates."""
        inverse = cv2.invertAffineTransform(self.matrix)
        return np.asarray(points, dtype=np.float64) @ inverse[:, :2].T + inverse[:, 2]

    def corners(self) -> np.ndarray:
        """The crop's four corners in the original picture (the rotated square it covers)."""
        side = float(self.pixels.shape[0])
        return self.to_original(np.array([[0.0, 0.0], [side, 0.0], [side, side], [0.0, side]]))


def crop_quad(landmarks: np.ndarray, margin: float = 1.0) -> np.ndarray:
    """The ``(4, 2)`` corners (top-left, bottom-left, bottom-right, top-right) of FFHQ's crop.

    Args:
        landmarks: ``(5, 2)`` left eye, right eye, nose, mouth left, mouth right (picture coordinates).
        margin: scale of the square around the face (1.0 = FFHQ).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    eye_left, eye_right = points[0], points[1]
    mouth = (points[3] + points[4]) / 2
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = mouth - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8) * margin
    y = np.flipud(x) * [-1, 1]
    centre = eye_avg + eye_to_mouth * 0.1
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])


def alignment_matrix(landmarks: np.ndarray, size: int, margin: float = 1.0) -> np.ndarray:
    """The ``(2, 3)`` similarity transform that maps the FFHQ crop square onto ``size x size``."""
    top_left, bottom_left, _, top_right = crop_quad(landmarks, margin)
    across, down = top_right - top_left, bottom_left - top_left
    linear = np.stack([across / np.hypot(*across) ** 2, down / np.hypot(*down) ** 2]) * size
    return np.hstack([linear, -(linear @ top_left)[:, None]])


def align_face(image: np.ndarray, face: DetectedFace, *, size: int, margin: float = 1.0) -> AlignedFace:
    """Cut ``face`` out of ``image`` as an aligned ``size x size`` crop.

    Shrinking by more than 2x first halves the picture with area interpolation (as FFHQ's own
    script does), so a small crop of a large face is not aliased. Outside the picture the border
    is replicated.
    """
    matrix = alignment_matrix(face.landmarks, size, margin)
    scale = float(np.hypot(*matrix[0, :2]))
    source, shrink = image, 1.0
    while scale * shrink < 0.5 and min(source.shape[:2]) >= 4:
        source = cv2.resize(
            source, (source.shape[1] // 2, source.shape[0] // 2), interpolation=cv2.INTER_AREA
        )
        shrink *= 2.0
    warp = matrix.copy()
    warp[:, :2] *= shrink  # the shrunk picture's pixel p covers original pixel p * shrink
    pixels = cv2.warpAffine(
        source, warp, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return AlignedFace(pixels=pixels, matrix=matrix, face=face)
