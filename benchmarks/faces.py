"""Cost of the face stage: detect + align per photo, per video frame, next to the detector model.

Scenes are press-photo-like: the head of scikit-image's public-domain astronaut portrait pasted,
scaled (faces of ~90-190 px) and rotated (up to 20 degrees), onto a blurred-noise-and-gradient
background (``tests/face_scenes.py``). Measured, each on 1 and 2 threads (OpenCV's DNN and torch):

1. photos: MTCNN detection + FFHQ alignment of every face, ms per photo, at 1024x768 and
   1920x1080 with 1 and 3 faces;
2. video: a 720p MP4 (``mp4v``) of one moving face, written to a temp dir, sampled at every
   frame, each frame detected and its faces aligned: frames per second (decoding included);
3. model: the detector model's forward pass (``DeepLabV3PlusDetector``, mobilenet_v3_large,
   random weights: the cost does not depend on what they learned) on the aligned crops of the
   photos, normalised at 256 px, as one batch: crops per second.

Each timing is repeated (``--repeats``, ``--video-repeats``): the table shows the median and the
best wall time and the median CPU time of the process. On a machine shared with other jobs the
wall time includes waiting for a core; on 1 thread the CPU time is what the work costs a core.
Figures, not assertions; the goals of issue 16 are printed next to them. ``faces found`` must
equal the number of faces pasted, or the timing is of a detector that missed (or invented) faces.

Usage:
    python benchmarks/faces.py [--repeats 5] [--video-repeats 3] [--video-seconds 1.2] [--min-face-size 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from facetransfer.environment import quiet_third_party_telemetry
from facetransfer.faces.alignment import AlignedFace, align_face
from facetransfer.faces.detection import FaceDetector
from facetransfer.faces.face_settings import FaceSettings
from facetransfer.faces.video import VideoSettings, detect_in_frames, sample_frames

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: test scene builders
from tests.face_scenes import background, paste_face

BACKBONE = "mobilenet_v3_large"
CROP_SIZE = 256
PHOTO_GOAL_MS = 150.0
VIDEO_GOAL_FPS = 8.0

HEADS: dict[tuple[int, int, int], list[tuple[tuple[float, float], float, float]]] = {
    # (width, height, faces) -> [(centre, scale, angle)]; scale 1.0 gives a ~90 px face box.
    (1024, 768, 1): [((500, 380), 1.3, 10.0)],
    (1024, 768, 3): [((190, 330), 1.0, -20.0), ((510, 420), 1.2, 5.0), ((830, 350), 1.45, 20.0)],
    (1920, 1080, 1): [((1000, 520), 2.0, -10.0)],
    (1920, 1080, 3): [((380, 480), 1.3, 20.0), ((960, 560), 1.7, -5.0), ((1530, 500), 2.1, -20.0)],
}
"""Where the heads go in each photo."""


def press_photo(width: int, height: int, faces: int) -> np.ndarray:
    """A ``width`` x ``height`` RGB picture with ``faces`` pasted heads (see ``HEADS``)."""
    scene = background(height, width, seed=width + faces)
    for centre, scale, angle in HEADS[(width, height, faces)]:
        paste_face(scene, centre=centre, scale=scale, angle=angle)
    return scene


def write_video(path: Path, *, seconds: float, fps: int) -> Path:
    """A 1280x720 MP4 (``mp4v``) in which one head crosses the picture, turning by up to 15 degrees."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1280, 720))
    scenery = background(720, 1280, seed=7)
    try:
        frames = round(seconds * fps)
        for index in range(frames):
            progress = index / max(frames - 1, 1)
            frame = scenery.copy()
            angle = 15.0 * np.sin(6 * progress)
            paste_face(frame, centre=(300 + 680 * progress, 380), scale=1.2, angle=angle)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def detect_and_align(detector: FaceDetector, image: np.ndarray) -> list[AlignedFace]:
    """What the face stage does to one picture: find the faces, cut each out aligned."""
    settings = detector.settings
    return [
        align_face(image, face, size=settings.crop_size, margin=settings.margin)
        for face in detector.detect(image).faces
    ]


@dataclass(frozen=True)
class Timing:
    """Seconds per call of some work: median and best wall time, median CPU time of this process.

    On a shared machine the wall time includes waiting for a core; the CPU time does not (on one
    thread it is what the work costs a core).
    """

    median: float
    best: float
    cpu: float

    def per(self, items: int) -> Timing:
        """The same timing per item of a call that handled ``items``."""
        return Timing(self.median / items, self.best / items, self.cpu / items)


def timed(work: Callable[[], object], repeats: int, *, warm_up: bool = True) -> Timing:
    """``repeats`` timed calls of ``work`` (after one untimed call unless ``warm_up`` is False)."""
    if warm_up:
        work()
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    return Timing(statistics.median(walls), min(walls), statistics.median(cpus))


def table_row(scene: str, threads: int, timing: Timing, unit: str, faces: str) -> dict[str, object]:
    """One line of the printed table."""
    return {
        "scene": scene,
        "threads": threads,
        "ms median": 1000 * timing.median,
        "ms best": 1000 * timing.best,
        "CPU ms": 1000 * timing.cpu,
        "per second": 1 / timing.median,
        "unit": unit,
        "faces found": faces,
    }


def set_threads(count: int) -> None:
    """Threads of OpenCV (MTCNN runs on its DNN module) and of torch (the detector model)."""
    cv2.setNumThreads(count)
    torch.set_num_threads(count)


def measure_photos(
    detector: FaceDetector, photos: dict[str, tuple[np.ndarray, int]], threads: int, repeats: int
) -> tuple[list[dict[str, object]], list[AlignedFace]]:
    """One row per photo; also returns the aligned crops of all photos (the model's batch)."""
    rows, crops = [], []
    for name, (image, pasted) in photos.items():
        timing = timed(lambda image=image: detect_and_align(detector, image), repeats)
        aligned = detect_and_align(detector, image)
        crops += aligned
        rows.append(table_row(name, threads, timing, "photo", f"{len(aligned)} of {pasted}"))
    return rows, crops


def measure_video(detector: FaceDetector, video: Path, threads: int, repeats: int) -> dict[str, object]:
    """Sampling (every frame) + detection + alignment of the whole video, per frame."""
    every_frame = VideoSettings(frames_per_second=60.0, max_frames=100_000)
    counts: list[int] = []

    def run() -> None:
        counts.clear()
        # the product's video path: frames decoded in order, searched `threads` at a time
        for _, frame, faces in detect_in_frames(sample_frames(video, every_frame), detector, workers=threads):
            counts.append(len([align_face(frame, face, size=256) for face in faces]))

    # No warm-up run: the photos have built this thread's networks; the first read of the file is timed.
    timing = timed(run, repeats, warm_up=False).per(len(counts))
    with_face = sum(count == 1 for count in counts)
    return table_row(
        f"video 1280x720, 1 face, {len(counts)} frames",
        threads,
        timing,
        "frame",
        f"1 in {with_face} of {len(counts)} frames",
    )


def measure_model(crops: list[AlignedFace], threads: int, repeats: int) -> dict[str, object]:
    """Forward pass of the detector model on the crops as one normalised batch."""
    from facetransfer.inputs.preprocessing import Preprocessing
    from facetransfer.models import DeepLabV3PlusDetector

    preprocessing = Preprocessing.for_backbone(BACKBONE, CROP_SIZE)
    batch = torch.from_numpy(
        np.stack(
            [preprocessing.normalize(preprocessing.finish(preprocessing.stage_one(c.pixels))) for c in crops]
        )
    )
    torch.manual_seed(0)
    model = DeepLabV3PlusDetector(BACKBONE, "last").eval()
    with torch.inference_mode():
        timing = timed(lambda: model(batch), repeats).per(len(crops))
    scene = f"model forward, {BACKBONE}, {CROP_SIZE} px, batch {len(crops)}"
    return table_row(scene, threads, timing, "crop", "")


def main() -> None:
    """Build the scenes, time every stage on each thread count, print one table and the goals."""
    quiet_third_party_telemetry()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    parser.add_argument("--video-repeats", type=int, default=3, help="timed runs of the whole video")
    parser.add_argument("--video-seconds", type=float, default=1.2, help="length of the 25 fps video")
    parser.add_argument("--min-face-size", type=int, default=40, help="FaceSettings.min_face_size")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    detector = FaceDetector(FaceSettings(min_face_size=args.min_face_size, crop_size=CROP_SIZE))
    photos = {
        f"photo {width}x{height}, {faces} face{'s' if faces > 1 else ''}": (
            press_photo(width, height, faces),
            faces,
        )
        for width, height, faces in HEADS
    }
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="facetransfer-faces-") as folder:
        video = write_video(Path(folder) / "moving_face.mp4", seconds=args.video_seconds, fps=25)
        for threads in args.threads:
            set_threads(threads)
            photo_rows, crops = measure_photos(detector, photos, threads, args.repeats)
            rows += photo_rows
            rows.append(measure_video(detector, video, threads, args.video_repeats))
            if crops:  # no face found anywhere: nothing to feed the model (the table shows why)
                rows.append(measure_model(crops, threads, args.repeats))
    print(
        f"face stage: MTCNN (OpenCV DNN) + FFHQ alignment, min_face_size {args.min_face_size}, "
        f"{CROP_SIZE} px crops; median/best of {args.repeats} runs ({args.video_repeats} for the video), "
        "per second from the median:"
    )
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.1f}"))
    print_goals(table, args.min_face_size)


def print_goals(table: pd.DataFrame, min_face_size: int) -> None:
    """The issue's two goals next to the figures that answer them."""
    photos = table[(table["threads"] == 1) & table["scene"].str.startswith("photo 1024x768")]
    if not photos.empty:
        wall, cpu = photos["ms median"].max(), photos["CPU ms"].max()
        print(
            f"goal: detect + align of a 1024x768 photo <= {PHOTO_GOAL_MS:.0f} ms per core: slowest scene on "
            f"1 thread {wall:.0f} ms wall ({_verdict(wall <= PHOTO_GOAL_MS)}), "
            f"{cpu:.0f} ms CPU ({_verdict(cpu <= PHOTO_GOAL_MS)})"
        )
    video = table[(table["threads"] == 2) & (table["unit"] == "frame")]
    if not video.empty:
        median_fps, best_fps = video["per second"].iloc[0], 1000 / video["ms best"].iloc[0]
        print(
            f"goal: >= {VIDEO_GOAL_FPS:.0f} video frames per second at 720p on 2 cores with a minimum face "
            f"size of 40 px: {median_fps:.1f} frames/s median ({_verdict(median_fps >= VIDEO_GOAL_FPS)}), "
            f"{best_fps:.1f} best, at min_face_size {min_face_size}"
        )


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


if __name__ == "__main__":
    main()
