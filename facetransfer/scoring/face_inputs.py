"""From one input (a picture or a video) to the detector inputs to score: whole, or one per face.

See ``facetransfer.scoring.scorer`` for the modes. Kept apart from the scorer so that the
batching, thresholds and output table stay in one place and this module only decides *what* is
scored.
"""

from __future__ import annotations

import logging

import numpy as np

from facetransfer.faces.alignment import align_face, crop_quad
from facetransfer.faces.detection import DetectedFace, FaceDetector
from facetransfer.faces.face_settings import FaceMode
from facetransfer.faces.video import (
    VideoDecodeError,
    VideoSettings,
    detect_in_frames,
    is_video,
    link_tracks,
    sample_frames,
)
from facetransfer.imaging.decoding import (
    DEFAULT_MAX_FILE_BYTES,
    ImageDecodeError,
    ImageSource,
    decode_rgb,
    describe_source,
    stat_image_file,
)
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.scoring.requests import PreparedImage, prepare

logger = logging.getLogger(__name__)

SINGLE_CROP_SHARE = 0.6
"""Under ``faces=auto`` a picture with one face whose aligned square spans at least this share of
the picture's shorter side is taken to be a face crop already and scored as it is."""


def is_single_crop(image: np.ndarray, face: DetectedFace, margin: float) -> bool:
    """Whether ``face`` fills ``image`` the way a training crop does (FFHQ-style framing)."""
    quad = crop_quad(face.landmarks, margin)
    side = float(np.hypot(*(quad[3] - quad[0])))
    return side >= SINGLE_CROP_SHARE * min(image.shape[:2])


def _face_item(
    image: np.ndarray, face: DetectedFace, index: int, detector: FaceDetector, preprocessing: Preprocessing
) -> PreparedImage:
    settings = detector.settings
    aligned = align_face(image, face, size=settings.crop_size, margin=settings.margin)
    pixels = preprocessing.finish(preprocessing.stage_one(aligned.pixels))
    return PreparedImage(pixels, preprocessing.normalize(pixels), face=face.to_record(), face_index=index)


def prepare_input(
    source: ImageSource | str | None,
    *,
    preprocessing: Preprocessing,
    mode: FaceMode,
    detector: FaceDetector,
    video: VideoSettings,
) -> list[PreparedImage]:
    """The items to score for one input (at least one: an error is an item too)."""
    if mode == "off" or source is None or (isinstance(source, str) and source.startswith("error: ")):
        return [prepare(source, preprocessing)]
    if isinstance(source, bytes) and not source:
        return [prepare(source, preprocessing)]
    if isinstance(source, str):
        # Only regular files of a bounded size are opened: a FIFO or a device named like a picture
        # or a video would block the read (or never end), so it becomes an error row instead.
        limit = video.max_file_bytes if is_video(source) else DEFAULT_MAX_FILE_BYTES
        try:
            stat_image_file(source, max_bytes=limit)
        except OSError as error:
            return [PreparedImage(error=str(error))]
    if is_video(source):
        return _video_items(source, preprocessing=preprocessing, mode=mode, detector=detector, video=video)
    try:
        image = decode_rgb(source)
    except ImageDecodeError as error:
        return [PreparedImage(error=str(error))]
    faces = detector.detect(image).faces
    if not faces:
        if mode == "align":
            return [
                PreparedImage(error=f"no face found in {describe_source(source)} ({_criteria(detector)})")
            ]
        return [prepare(source, preprocessing)]
    if mode == "auto" and len(faces) == 1 and is_single_crop(image, faces[0], detector.settings.margin):
        item = prepare(source, preprocessing)
        item.face, item.face_index = faces[0].to_record(), 0
        return [item]
    return [_face_item(image, face, index, detector, preprocessing) for index, face in enumerate(faces)]


def _criteria(detector: FaceDetector) -> str:
    settings = detector.settings
    return f"confidence >= {settings.confidence:g}, at least {settings.min_face_size} px"


def _video_items(
    source: ImageSource,
    *,
    preprocessing: Preprocessing,
    mode: FaceMode,
    detector: FaceDetector,
    video: VideoSettings,
) -> list[PreparedImage]:
    """One item per face per sampled frame, ``face_index`` = its track; whole frames if no face."""
    name = describe_source(source)
    items: list[PreparedImage] = []
    whole: list[PreparedImage] = []
    per_frame: list[tuple[float, list[tuple[tuple[float, float, float, float], int]]]] = []
    try:
        frames = sample_frames(source, video, name=name)
        for time_s, frame, faces in detect_in_frames(frames, detector, workers=video.detection_workers):
            linked = []
            for face in faces:
                item = _face_item(frame, face, 0, detector, preprocessing)
                item.time_s = time_s
                linked.append((face.box, len(items)))
                items.append(item)
            per_frame.append((time_s, linked))
            if not faces and mode == "auto":
                pixels = preprocessing.finish(preprocessing.stage_one(frame))
                whole.append(PreparedImage(pixels, preprocessing.normalize(pixels), time_s=time_s))
    except VideoDecodeError as error:
        return [PreparedImage(error=str(error))]
    if not items:
        if mode == "align":
            return [
                PreparedImage(error=f"no face found in any sampled frame of {name} ({_criteria(detector)})")
            ]
        return whole
    for track in link_tracks(per_frame, min_iou=video.link_iou):
        for _, _, row in track.items:
            items[row].face_index = track.track_id
    return items
