"""Video: sample frames with OpenCV's FFmpeg backend, link faces across frames into tracks.

Frames are read with ``cv2.VideoCapture`` (the FFmpeg build inside the pinned
``opencv-python-headless`` wheel), sampled at ``VideoSettings.frames_per_second`` up to
``max_frames``. A face is linked to the track whose last box overlaps it most (intersection over
union at least ``link_iou``); otherwise it starts a new track. A track is scored by the mean of its
frames' fake probabilities (``TRACK_RULE``); a video's verdict is its highest track score against
the threshold.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from facetransfer.faces.detection import DetectedFace, Detection, FaceDetector

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")
TRACK_RULE = "mean of the track's frame scores"


class VideoDecodeError(OSError):
    """A video that cannot be read: no such file, no video stream, or over the limits."""


class VideoSettings(BaseModel):
    """How videos are sampled.

    Attributes:
        frames_per_second: frames scored per second of video.
        max_frames: at most this many frames per video (the rest of a long video is not read).
        max_seconds: videos longer than this are refused (error row), not silently truncated.
        max_frame_pixels: frames larger than this (width x height) are refused.
        max_file_bytes: video files larger than this are refused from their size, unread.
        link_iou: box overlap that links a face to a track in the next sampled frame.
        detection_workers: frames searched for faces at once (threads; OpenCV's networks run
            one frame per thread, so two workers use two cores).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    frames_per_second: float = Field(default=2.0, gt=0.0, le=60.0, allow_inf_nan=False)
    max_frames: int = Field(default=120, ge=1, strict=True)
    max_seconds: float = Field(default=600.0, gt=0.0, allow_inf_nan=False)
    max_frame_pixels: int = Field(default=3840 * 2160, ge=1, strict=True)
    max_file_bytes: int = Field(default=2 * 1024**3, ge=1, strict=True)
    link_iou: float = Field(default=0.3, gt=0.0, le=1.0, allow_inf_nan=False)
    detection_workers: int = Field(default=2, ge=1, le=64, strict=True)


def is_video(source: str | Path | bytes) -> bool:
    """Whether ``source`` is a video: by extension for paths, by container signature for bytes."""
    if isinstance(source, bytes):
        head = source[:16]
        return (
            head[4:8] == b"ftyp"  # MP4 / MOV / M4V
            or head[:4] == b"\x1aE\xdf\xa3"  # Matroska / WebM
            or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        )
    return Path(source).suffix.lower() in VIDEO_EXTENSIONS


@contextlib.contextmanager
def _video_file(source: str | Path | bytes) -> Iterator[str]:
    """A path OpenCV can open (bytes go through a temporary file, removed afterwards)."""
    if not isinstance(source, bytes):
        yield str(source)
        return
    handle, name = tempfile.mkstemp(suffix=".video")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(source)
        yield name
    finally:
        os.unlink(name)


def sample_frames(
    source: str | Path | bytes, settings: VideoSettings, *, name: str = "video"
) -> Iterator[tuple[float, np.ndarray]]:
    """``(time in seconds, (H, W, 3) uint8 RGB frame)`` at the configured rate.

    Raises:
        VideoDecodeError: the file cannot be opened, has no readable frame, or is over the limits.
    """
    with _video_file(source) as path:
        if not isinstance(source, bytes) and not Path(path).is_file():
            raise VideoDecodeError(f"cannot read video {name}: no such file")
        capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        try:
            if not capture.isOpened():
                raise VideoDecodeError(f"cannot read video {name}: no video stream OpenCV/FFmpeg can decode")
            fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
            frames = capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
            width = capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0.0
            height = capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0.0
            if width * height > settings.max_frame_pixels:
                raise VideoDecodeError(
                    f"cannot read video {name}: frames of {int(width)}x{int(height)} exceed the limit of "
                    f"{settings.max_frame_pixels} pixels"
                )
            if fps <= 0 or fps > 1000:
                fps = 25.0  # containers without a usable rate: assume PAL
            if frames / fps > settings.max_seconds:
                raise VideoDecodeError(
                    f"cannot read video {name}: {frames / fps:.0f} s is longer than the limit of "
                    f"{settings.max_seconds:.0f} s"
                )
            yield from _read(capture, fps, settings, name)
        finally:
            capture.release()


def _read(
    capture: cv2.VideoCapture, fps: float, settings: VideoSettings, name: str
) -> Iterator[tuple[float, np.ndarray]]:
    step = max(1, round(fps / settings.frames_per_second))
    index = taken = 0
    while taken < settings.max_frames:
        ok = capture.grab()
        if not ok:
            break
        if index % step == 0:
            ok, frame = capture.retrieve()
            if not ok or frame is None:
                break
            taken += 1
            yield index / fps, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        index += 1
    if taken == 0:
        raise VideoDecodeError(f"cannot read video {name}: no frame could be decoded")


def box_iou(first: tuple[float, ...], second: tuple[float, ...]) -> float:
    """Intersection over union of two ``(x, y, width, height)`` boxes."""
    ax, ay, aw, ah = first[:4]
    bx, by, bw, bh = second[:4]
    inter_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    """One face followed across sampled frames.

    Attributes:
        track_id: 0, 1, ... in order of first appearance.
        items: ``(time in seconds, box, row)`` per frame the face was seen in; ``row`` indexes the
            caller's list of face crops.
    """

    track_id: int
    items: list[tuple[float, tuple[float, float, float, float], int]] = field(default_factory=list)

    @property
    def last_box(self) -> tuple[float, float, float, float]:
        return self.items[-1][1]


def link_tracks(
    frames: list[tuple[float, list[tuple[tuple[float, float, float, float], int]]]], *, min_iou: float
) -> list[Track]:
    """Greedy linking of per-frame faces ``(time, [(box, row), ...])`` into tracks by box overlap."""
    tracks: list[Track] = []
    for time_s, faces in frames:
        free = list(tracks)
        for box, row in faces:
            best = max(free, key=lambda track: box_iou(track.last_box, box), default=None)
            if best is not None and box_iou(best.last_box, box) >= min_iou:
                free.remove(best)
            else:
                best = Track(len(tracks))
                tracks.append(best)
            best.items.append((time_s, box, row))
    return tracks


def detect_in_frames(
    frames: Iterable[tuple[float, np.ndarray]], detector: FaceDetector, *, workers: int
) -> Iterator[tuple[float, np.ndarray, list[DetectedFace]]]:
    """``(time, frame, faces)`` for each frame, in order, ``workers`` frames searched at a time.

    At most ``2 * workers`` decoded frames are held at once, so a long video does not fill memory.
    """
    if workers <= 1:
        for time_s, frame in frames:
            yield time_s, frame, detector.detect(frame).faces
        return
    pending: deque[tuple[float, np.ndarray, Future[Detection]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="faces") as pool:
        for time_s, frame in frames:
            pending.append((time_s, frame, pool.submit(detector.detect, frame)))
            if len(pending) >= 2 * workers:
                done_time, done_frame, found = pending.popleft()
                yield done_time, done_frame, found.result().faces
        while pending:
            done_time, done_frame, found = pending.popleft()
            yield done_time, done_frame, found.result().faces
