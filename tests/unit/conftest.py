"""Fixtures of the library unit tests: tiny synthetic faces and real/fake images written to tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from PIL import Image

from facetransfer.classes import MUT1NY_14
from facetransfer.environment import quiet_third_party_telemetry
from facetransfer.tracking.store import ensure_experiment

quiet_third_party_telemetry()


@pytest.fixture(scope="session", autouse=True)
def _one_cpu_thread() -> None:
    """One intra-op thread per test process.

    Measured on the 2-core build machine: with torch's default two threads, these tests took
    ~5 minutes instead of ~25 s whenever another process kept a core busy (threads waiting at
    barriers for a descheduled partner); one thread is immune to that.
    """
    torch.set_num_threads(1)


# Class id -> base RGB colour of the synthetic photo (not the label colour), so that classes
# are learnable from appearance.
APPEARANCE = {
    0: (30, 60, 90),
    1: (210, 170, 140),
    2: (20, 20, 20),
    3: (40, 40, 40),
    4: (190, 120, 100),
    5: (200, 150, 120),
    6: (180, 140, 110),
    7: (170, 40, 60),
    8: (60, 40, 20),
    9: (80, 50, 30),
    10: (110, 70, 20),
}


def _ellipse(size: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def synthetic_face(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A cartoon face: ``(image (size, size, 3) uint8, class ids (size, size) uint8)``.

    The subject's features marked ``left_*`` lie on the image's left half.
    """
    s = size / 64.0
    cx, cy = 32 * s + rng.uniform(-2, 2) * s, 34 * s + rng.uniform(-2, 2) * s
    ids = np.zeros((size, size), dtype=np.uint8)
    parts = [
        (10, (cx, cy - 8 * s, 19 * s, 18 * s)),
        (5, (cx - 18 * s, cy, 4 * s, 6 * s)),
        (6, (cx + 18 * s, cy, 4 * s, 6 * s)),
        (1, (cx, cy + 2 * s, 15 * s, 19 * s)),
        (8, (cx - 7 * s, cy - 7 * s, 4 * s, 1.5 * s)),
        (9, (cx + 7 * s, cy - 7 * s, 4 * s, 1.5 * s)),
        (2, (cx - 7 * s, cy - 3 * s, 3 * s, 2 * s)),
        (3, (cx + 7 * s, cy - 3 * s, 3 * s, 2 * s)),
        (4, (cx, cy + 3 * s, 2 * s, 4 * s)),
        (7, (cx, cy + 11 * s, 6 * s, 2 * s)),
    ]
    for class_id, (ex, ey, rx, ry) in parts:
        ids[_ellipse(size, ex, ey, rx, ry)] = class_id
    colours = np.array([APPEARANCE.get(i, (0, 0, 0)) for i in range(MUT1NY_14.num_classes)], dtype=np.float32)
    image = colours[ids] + rng.normal(0, 8, size=(size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8), ids


@pytest.fixture
def write_segmentation_data(tmp_path: Path) -> Callable[..., pd.DataFrame]:
    """Factory writing ``count`` faces (PNG) with Mut1ny colour masks; returns the manifest rows."""

    def write(count: int, size: int = 64, seed: int = 0, name: str = "faces") -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for index in range(count):
            image, ids = synthetic_face(rng, size)
            image_path, mask_path = folder / f"{index:03d}.png", folder / f"{index:03d}_mask.png"
            Image.fromarray(image).save(image_path)
            Image.fromarray(MUT1NY_14.encode_mask(ids)).save(mask_path)
            rows.append({"path": str(image_path), "mask_path": str(mask_path), "mask_encoding": "color"})
        return pd.DataFrame(rows)

    return write


@pytest.fixture
def write_detection_data(tmp_path: Path) -> Callable[..., pd.DataFrame]:
    """Factory writing trivially separable real (dark, smooth) and fake (bright, striped) images."""

    def write(count: int, size: int = 64, seed: int = 0, name: str = "detection") -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for index in range(count):
            label = index % 2
            base = rng.normal(70 + 120 * label, 10, size=(size, size, 3))
            if label:
                base[:, ::2] += 40  # one-pixel vertical stripes: an "up-sampling artefact"
            path = folder / f"{index:03d}.png"
            Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(path)
            rows.append({"path": str(path), "label": label, "generator": "stripes" if label else None})
        return pd.DataFrame(rows)

    return write


@pytest.fixture
def mlflow_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real MLflow store (SQLite in ``tmp_path``) as the active tracking URI, with the experiment."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=ensure_experiment(uri, tmp_path))
    yield MlflowClient(uri)
    mlflow.set_tracking_uri("")
