"""The face stage on real pixels: detection, FFHQ-style alignment, video sampling and tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from facetransfer.faces.alignment import align_face, alignment_matrix
from facetransfer.faces.detection import FaceDetector
from facetransfer.faces.face_settings import FaceSettings
from facetransfer.faces.video import (
    VideoDecodeError,
    VideoSettings,
    box_iou,
    detect_in_frames,
    is_video,
    link_tracks,
    sample_frames,
)
from tests.face_scenes import background, faceless_photo, group_photo, paste_face, portrait, write_video


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(FaceSettings())


def test_the_portrait_has_one_face_with_sensible_landmarks(detector: FaceDetector) -> None:
    faces = detector.detect(portrait()).faces
    assert len(faces) == 1
    face = faces[0]
    x, y, width, height = face.box
    assert face.confidence > 0.99 and 60 < width < 140
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < nose[0] < right_eye[0] and max(left_eye[1], right_eye[1]) < nose[1]
    assert nose[1] < min(mouth_left[1], mouth_right[1]) < y + height
    assert np.all((face.landmarks >= [x, y]) & (face.landmarks <= [x + width, y + height]))


def test_every_face_of_a_group_photo_is_found_and_a_faceless_photo_has_none(detector: FaceDetector) -> None:
    scene, count = group_photo()
    assert len(detector.detect(scene).faces) == count
    assert detector.detect(faceless_photo()).faces == []
    capped = FaceDetector(FaceSettings(max_faces=2)).detect(scene).faces
    assert len(capped) == 2 and capped[0].confidence >= capped[1].confidence


def test_faces_under_the_minimum_size_are_counted_not_reported() -> None:
    scene = background(480, 640)
    paste_face(scene, centre=(320, 240), scale=0.25, angle=0.0)  # a face of about 25 px
    found = FaceDetector(FaceSettings(min_face_size=40)).detect(scene, count_small=True)
    assert found.faces == [] and found.too_small == 1
    assert len(FaceDetector(FaceSettings(min_face_size=20)).detect(scene).faces) == 1


@pytest.mark.parametrize("angle", [-30.0, -15.0, 0.0, 20.0, 30.0])
@pytest.mark.parametrize("scale", [0.55, 1.1])
def test_aligned_crops_put_the_eyes_where_the_upright_face_has_them(
    detector: FaceDetector, angle: float, scale: float
) -> None:
    upright = detector.detect(portrait()).faces[0]
    reference = align_face(portrait(), upright, size=256).to_crop(upright.landmarks)
    scene = background(768, 1024)
    paste_face(scene, centre=(500, 380), scale=scale, angle=angle)
    faces = detector.detect(scene).faces
    assert len(faces) == 1
    aligned = align_face(scene, faces[0], size=256)
    assert aligned.pixels.shape == (256, 256, 3)
    eyes = aligned.to_crop(faces[0].landmarks[:2])
    assert np.abs(eyes - reference[:2]).max() < 6.0, (eyes, reference[:2])
    # The crop is upright: a detector run on it finds the eyes level and where they were mapped.
    again = detector.detect(aligned.pixels).faces[0].landmarks[:2]
    assert abs(again[0, 1] - again[1, 1]) < 6.0 and np.abs(again - eyes).max() < 8.0
    # The recorded transform maps crop corners back onto the original picture and inverts exactly.
    assert np.allclose(aligned.to_crop(aligned.to_original(eyes)), eyes)


def test_alignment_is_a_similarity_that_keeps_the_eye_line_level() -> None:
    upright = np.array([[38.3, 51.7], [73.5, 51.7], [56.0, 71.7], [41.3, 92.4], [70.5, 92.4]])
    turn = np.deg2rad(25.0)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    landmarks = upright @ rotation.T * 1.7 + [300.0, 120.0]  # a symmetric face, turned and scaled
    matrix = alignment_matrix(landmarks, 256)
    linear = matrix[:, :2]
    assert np.allclose(linear @ linear.T, np.eye(2) * np.linalg.det(linear), atol=1e-12)  # rotation x scale
    eyes = landmarks[:2] @ linear.T + matrix[:, 2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1e-6 and 0 < eyes[0, 0] < eyes[1, 0] < 256


def test_face_settings_are_validated() -> None:
    with pytest.raises(ValidationError, match="min_face_size"):
        FaceSettings(min_face_size=4)
    with pytest.raises(ValidationError, match="confidence"):
        FaceSettings(confidence=float("nan"))
    with pytest.raises(ValidationError, match="crop_size"):
        FaceSettings(crop_size=True)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="extra"):
        FaceSettings.model_validate({"min_face": 40})
    assert FaceSettings().cache_key() != FaceSettings(margin=0.8).cache_key()


def test_a_video_is_sampled_and_its_moving_face_is_one_track(tmp_path: Path, detector: FaceDetector) -> None:
    video = write_video(tmp_path / "clip.mp4", seconds=2.0, fps=10)
    frames = list(sample_frames(video, VideoSettings(frames_per_second=2.0)))
    assert [round(t, 2) for t, _ in frames] == [0.0, 0.5, 1.0, 1.5]
    assert frames[0][1].shape == (360, 640, 3) and frames[0][1].dtype == np.uint8
    per_frame = []
    for row, (time_s, frame) in enumerate(frames):
        faces = detector.detect(frame).faces
        assert len(faces) == 1
        per_frame.append((time_s, [(faces[0].box, row)]))
    tracks = link_tracks(per_frame, min_iou=0.05)
    assert len(tracks) == 1 and [item[2] for item in tracks[0].items] == [0, 1, 2, 3]
    assert len(link_tracks(per_frame, min_iou=0.99)) == 4, "boxes that overlap too little start new tracks"
    assert is_video(video) and is_video(video.read_bytes()) and not is_video(b"\x89PNG\r\n\x1a\n....")
    # Two workers search frames in parallel and hand them back in order, faces unchanged.
    parallel = list(detect_in_frames(iter(frames), detector, workers=2))
    assert [t for t, _, _ in parallel] == [t for t, _ in frames]
    assert [faces[0].box for _, _, faces in parallel] == [boxes[0][0] for _, boxes in per_frame]


def test_videos_that_cannot_be_read_or_are_over_the_limits_raise_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    with pytest.raises(VideoDecodeError, match=r"broken\.mp4"):
        list(sample_frames(broken, VideoSettings(), name=str(broken)))
    with pytest.raises(VideoDecodeError, match="no such file"):
        list(sample_frames(tmp_path / "missing.mp4", VideoSettings()))
    clip = write_video(tmp_path / "clip.mp4", seconds=1.0, fps=10)
    with pytest.raises(VideoDecodeError, match="longer than the limit"):
        list(sample_frames(clip, VideoSettings(max_seconds=0.5)))
    with pytest.raises(VideoDecodeError, match="exceed the limit"):
        list(sample_frames(clip, VideoSettings(max_frame_pixels=1000)))
    assert len(list(sample_frames(clip, VideoSettings(frames_per_second=10, max_frames=3)))) == 3


def test_box_overlap() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
