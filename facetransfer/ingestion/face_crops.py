"""Cut the pictures of ``faces: align`` sources into aligned face crops, cached by content.

A source declared ``faces: align`` holds whole pictures (press photos, frames, selfies), not the
aligned face crops the detectors are trained on. Every picture that passed the image checks
(corrupt, truncated or oversized files are quarantined before and never reach the detector) is
decoded the one way (``facetransfer.imaging.decoding``, EXIF orientation applied), searched for
faces (``facetransfer.faces.FaceDetector``) and each face is cut into a ``crop_size`` square with
FFHQ's geometry (``facetransfer.faces.alignment``). One ``FaceSettings`` (the run's ``faces:``
block) serves every source of a run, so real and generated pictures are cut the same way.

* A picture without a face is quarantined ``no_face``; one whose only faces are smaller than
  ``min_face_size`` is quarantined ``face_too_small``. The detector looks again down to half the
  minimum size only when its first pass found nothing, so a picture with faces costs one pass.
* Crops are PNG files (lossless: a JPEG crop would add compression traces of its own, which a
  detector of generated images would learn) under ``<cache_dir>/faces/<key>/<sha[:2]>/``, named
  by the picture's sha256 and the face's index. ``<key>`` digests ``FaceSettings.cache_key()``,
  the decoding policy and the crop format (the full text is in ``<key>/key.txt``), so a changed
  setting never reuses a crop. A JSON record next to the crops holds the detections; it is written
  last, so an interrupted run leaves no half entry. A later run that meets the same picture (by
  content, wherever it lies) with the same settings reads the record and runs no detector.
* The cache folder must not lie inside a source folder: its crops would be ingested as pictures.
  The default ``data.cache_dir`` (``.local/cache``) lies outside the DVC-tracked ``data/``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from facetransfer.faces.alignment import align_face
from facetransfer.faces.detection import FaceDetector
from facetransfer.faces.face_settings import FaceSettings
from facetransfer.imaging.checks import DEFAULT_MAX_IMAGE_PIXELS
from facetransfer.imaging.decoding import DECODER_VERSION, ImageDecodeError, decode_rgb
from facetransfer.ingestion.errors import SourceConfigError
from facetransfer.ingestion.records import ManifestRow, QuarantineCheck, QuarantineEntry
from facetransfer.ingestion.sources import SourceConfig

logger = logging.getLogger(__name__)

CROP_FOLDER = "faces"
"""Sub-folder of the ingestion cache folder (``data.cache_dir``) holding the crops."""
CROP_FORMAT = "png-1"
"""Changes whenever crops would be written differently (part of the cache key)."""
_RECORD_VERSION = 1


def crop_cache_key(settings: FaceSettings) -> str:
    """Everything that shapes a crop: the face settings, the decoding policy and the crop format."""
    return f"{settings.cache_key()}:{DECODER_VERSION}:{CROP_FORMAT}"


def crop_folder(cache_dir: str | Path, settings: FaceSettings) -> Path:
    """Folder of the crops cut with ``settings`` (``<cache_dir>/faces/<digest of the key>``)."""
    digest = hashlib.sha256(crop_cache_key(settings).encode("utf-8")).hexdigest()[:16]
    return Path(cache_dir) / CROP_FOLDER / digest


@dataclass(frozen=True)
class FaceCrop:
    """One aligned face cut out of a picture.

    Attributes:
        index: 0, 1, ... in the detector's order (most confident first).
        path: the crop file.
        sha256: hex SHA-256 of the crop file.
        record: ``DetectedFace.to_record()``: ``box`` (x, y, width, height), ``landmarks``
            (5 x 2, ``LANDMARK_NAMES`` order) and ``confidence``, in the picture's coordinates.
        matrix: ``(2, 3)`` affine map from picture to crop coordinates.
    """

    index: int
    path: Path
    sha256: str
    record: dict[str, Any]
    matrix: list[list[float]]


@dataclass(frozen=True)
class PictureFaces:
    """The crops of one picture and the faces too small to keep."""

    crops: list[FaceCrop]
    too_small: int = 0


class FaceCropper:
    """Face crops of pictures, through the crop cache.

    Args:
        settings: the run's ``faces:`` block.
        cache_dir: the ingestion cache folder; crops go to ``crop_folder(cache_dir, settings)``.
        max_image_pixels: decompression-bomb limit of the decode.

    Attributes:
        detector_runs: pictures the detector looked at (0 when every picture was in the cache).
        reused: pictures whose crops came from the cache.
    """

    def __init__(
        self,
        settings: FaceSettings,
        cache_dir: str | Path,
        *,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> None:
        self.settings = settings
        self.folder = crop_folder(cache_dir, settings)
        self.max_image_pixels = max_image_pixels
        self.detector_runs = 0
        self.reused = 0
        self._detector: FaceDetector | None = None

    @property
    def detector(self) -> FaceDetector:
        """The face detector (built on first use: pictures found in the cache need none)."""
        if self._detector is None:
            self._detector = FaceDetector(self.settings)
        return self._detector

    def report(self) -> dict[str, Any]:
        """Settings, cache folder and detector work of this ingestion (JSON-ready)."""
        return {
            "settings": self.settings.model_dump(),
            "cache_key": crop_cache_key(self.settings),
            "crop_folder": str(self.folder),
            "detector_runs": self.detector_runs,
            "reused": self.reused,
        }

    def faces_of(self, path: Path, sha256: str) -> PictureFaces:
        """The aligned faces of the picture at ``path`` whose content hash is ``sha256``.

        Raises:
            ImageDecodeError: the picture cannot be decoded.
        """
        cached = self._read_record(sha256)
        if cached is not None:
            self.reused += 1
            return cached
        image = decode_rgb(path, max_pixels=self.max_image_pixels)
        detection = self.detector.detect(image)
        if not detection.faces:  # tell "no face" from "only small faces" (a slower, finer search)
            detection = self.detector.detect(image, count_small=True)
        self.detector_runs += 1
        crops = []
        for index, face in enumerate(detection.faces):
            aligned = align_face(image, face, size=self.settings.crop_size, margin=self.settings.margin)
            name = f"{sha256}-{index}.png"
            crop_sha256 = _write_atomically(self._entry_folder(sha256) / name, _png_bytes(aligned.pixels))
            crops.append(
                FaceCrop(
                    index=index,
                    path=self._entry_folder(sha256) / name,
                    sha256=crop_sha256,
                    record=face.to_record(),
                    matrix=np.round(aligned.matrix, 6).tolist(),
                )
            )
        faces = PictureFaces(crops, detection.too_small)
        self._write_record(sha256, image.shape, faces)
        return faces

    def crop_rows(
        self, rows: Sequence[ManifestRow]
    ) -> tuple[list[ManifestRow], list[QuarantineEntry], dict[str, Any]]:
        """Replace each picture's row by one row per face crop.

        Args:
            rows: checked rows of one source (``path``, ``sha256``, ... of the pictures).

        Returns:
            The crop rows, the pictures quarantined (``no_face``, ``face_too_small``, or
            ``corrupt_image`` when a picture can no longer be decoded) and, per manifest
            ``source``, counts of ``pictures``, ``with_faces``, ``crops``, ``no_face``,
            ``face_too_small`` and ``unreadable``.
        """
        crop_rows: list[ManifestRow] = []
        quarantine: list[QuarantineEntry] = []
        counts: dict[str, Counter[str]] = {}
        for row in tqdm(rows, desc="cutting faces", unit="picture", disable=None, leave=False):
            tally = counts.setdefault(row.source, Counter())
            tally["pictures"] += 1
            try:
                faces = self.faces_of(Path(row.path), row.sha256)
            except ImageDecodeError as error:
                # The file changed since it was checked, or decodes differently now: set it aside.
                tally["unreadable"] += 1
                quarantine.append(
                    QuarantineEntry(row.path, row.source, QuarantineCheck.CORRUPT_IMAGE, str(error))
                )
                continue
            if not faces.crops:
                check = QuarantineCheck.FACE_TOO_SMALL if faces.too_small else QuarantineCheck.NO_FACE
                tally[check.value] += 1
                quarantine.append(QuarantineEntry(row.path, row.source, check, self._no_crop_reason(faces)))
                continue
            tally["with_faces"] += 1
            tally["crops"] += len(faces.crops)
            crop_rows.extend(_crop_row(row, crop, self.settings.crop_size) for crop in faces.crops)
        keys = ("pictures", "with_faces", "crops", "no_face", "face_too_small", "unreadable")
        report = {source: {key: tally[key] for key in keys} for source, tally in sorted(counts.items())}
        return crop_rows, quarantine, report

    def _no_crop_reason(self, faces: PictureFaces) -> str:
        settings = self.settings
        if faces.too_small:
            return (
                f"{faces.too_small} face(s) found, all smaller than faces.min_face_size "
                f"({settings.min_face_size} px); lower it to keep them, or remove the picture"
            )
        return (
            f"no face found (faces.confidence {settings.confidence:g}, faces.min_face_size "
            f"{settings.min_face_size} px); a faces: align source needs a face in every picture"
        )

    def _entry_folder(self, sha256: str) -> Path:
        return self.folder / sha256[:2]

    def _record_path(self, sha256: str) -> Path:
        return self._entry_folder(sha256) / f"{sha256}.json"

    def _read_record(self, sha256: str) -> PictureFaces | None:
        path = self._record_path(sha256)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record["version"] != _RECORD_VERSION or record["key"] != crop_cache_key(self.settings):
                raise ValueError("written for other settings")
            crops = [
                FaceCrop(
                    index=index,
                    path=self._entry_folder(sha256) / face["crop"],
                    sha256=face["sha256"],
                    record={key: face[key] for key in ("box", "landmarks", "confidence")},
                    matrix=face["matrix"],
                )
                for index, face in enumerate(record["faces"])
            ]
            sizes = [int(face["bytes"]) for face in record["faces"]]
            too_small = int(record["too_small"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("face cache record %s cannot be used (%s); detecting the faces again", path, error)
            return None
        for crop, size in zip(crops, sizes, strict=True):
            if not crop.path.is_file() or crop.path.stat().st_size != size:
                logger.warning("face crop %s is missing or changed; detecting the faces again", crop.path)
                return None
        return PictureFaces(crops, too_small)

    def _write_record(self, sha256: str, shape: tuple[int, ...], faces: PictureFaces) -> None:
        record = {
            "version": _RECORD_VERSION,
            "key": crop_cache_key(self.settings),
            "picture": {"sha256": sha256, "width": int(shape[1]), "height": int(shape[0])},
            "too_small": faces.too_small,
            "faces": [
                {
                    **crop.record,
                    "matrix": crop.matrix,
                    "crop": crop.path.name,
                    "sha256": crop.sha256,
                    "bytes": crop.path.stat().st_size,
                }
                for crop in faces.crops
            ],
        }
        _write_atomically(self._record_path(sha256), json.dumps(record, indent=1).encode("utf-8"))
        key_file = self.folder / "key.txt"
        if not key_file.is_file():
            _write_atomically(key_file, (crop_cache_key(self.settings) + "\n").encode("utf-8"))


def face_cropper_for(
    configs: list[SourceConfig],
    root: str | Path,
    cache_dir: str | Path | None,
    faces: FaceSettings | None,
    *,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> FaceCropper | None:
    """The cropper of the ``faces: align`` sources among ``configs`` (``None`` without any).

    Checked before any file is read: the crops need a cache folder, and one outside every source.

    Raises:
        SourceConfigError: ``cache_dir`` is ``None``, or the crop folder lies inside a source folder.
    """
    aligned = [config.name for config in configs if config.faces == "align"]
    if not aligned:
        return None
    if cache_dir is None:
        raise SourceConfigError(
            f"source(s) {aligned} set faces: align, which writes face crops and needs a cache_dir for them"
        )
    settings = faces if faces is not None else FaceSettings()
    folder = Path(os.path.normpath(crop_folder(cache_dir, settings).absolute()))
    inside = [c.name for c in configs if folder.is_relative_to(c.resolve_path(root))]
    if inside:
        raise SourceConfigError(
            f"the face crop folder {folder} lies inside source folder(s) {inside}: its crops would be "
            "ingested as pictures; set data.cache_dir outside every source (and outside data/)"
        )
    return FaceCropper(settings, cache_dir, max_image_pixels=max_image_pixels)


def _crop_row(row: ManifestRow, crop: FaceCrop, size: int) -> ManifestRow:
    return replace(
        row,
        path=str(crop.path),
        sha256=crop.sha256,
        width=size,
        height=size,
        mode="RGB",
        source_path=row.path,
        source_sha256=row.sha256,
        face_index=crop.index,
        face_box=json.dumps(crop.record["box"]),
        face_landmarks=json.dumps(crop.record["landmarks"]),
        face_confidence=float(crop.record["confidence"]),
    )


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_atomically(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` through a temporary file and a rename; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()
