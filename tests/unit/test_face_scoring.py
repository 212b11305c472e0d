"""Whole photos and videos through every scoring path: one row per face, the same scores everywhere."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from PIL import Image

from facetransfer.cli import main
from facetransfer.faces.alignment import align_face
from facetransfer.faces.detection import FaceDetector
from tests.face_scenes import faceless_photo, group_photo, portrait, write_jpeg, write_video
from tests.http_server import running
from tests.unit import test_serving

registry = test_serving.registry  # the module's fixtures: a store with a registered champion
served = test_serving.served

pytestmark = pytest.mark.usefixtures("registry")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pictures")
    scene, _ = group_photo()
    upright = FaceDetector().detect(portrait()).faces[0]
    crop = align_face(portrait(), upright, size=256).pixels
    return {
        "group": write_jpeg(folder / "group.jpg", scene),
        "empty": write_jpeg(folder / "empty.jpg", faceless_photo()),
        "crop": write_jpeg(folder / "crop.jpg", crop),
        "clip": write_video(folder / "clip.mp4", seconds=2.0, fps=10),
        "still": write_video(folder / "still.mp4", seconds=1.0, fps=10, with_face=False),
    }


def _paths(pictures: dict[str, Path], *names: str) -> pd.DataFrame:
    return pd.DataFrame({"path": [str(pictures[name]) for name in names]})


def test_a_group_photo_gets_one_row_per_face_and_an_image_verdict(served, pictures) -> None:
    scored = served.predict(_paths(pictures, "group", "empty", "crop"))
    group = scored[scored["input_index"] == 0]
    assert len(group) == 3 and group["face_found"].all() and list(group["face_index"]) == [0, 1, 2]
    assert group["error"].isna().all() and group["detector_confidence"].gt(0.9).all()
    boxes = [json.loads(box) for box in group["box"]]
    assert all(len(box) == 4 and box[2] >= 40 for box in boxes)
    assert all(len(json.loads(points)) == 5 for points in group["landmarks"])
    assert (group["image_fake_probability"] == group["fake_probability"].max()).all()
    verdict = "fake" if group["fake_probability"].max() >= group["threshold"].iloc[0] else "real"
    assert set(group["image_prediction"]) == {verdict}

    empty = scored[scored["input_index"] == 1]
    assert len(empty) == 1 and not empty["face_found"].iloc[0] and empty["error"].isna().all()
    whole = served.predict(_paths(pictures, "empty"), params={"faces": "off"})
    assert empty["fake_probability"].iloc[0] == pytest.approx(whole["fake_probability"].iloc[0], abs=1e-7)

    crop = scored[scored["input_index"] == 2]
    assert len(crop) == 1 and crop["face_found"].iloc[0], "a face crop is scored as it is, face recorded"
    as_is = served.predict(_paths(pictures, "crop"), params={"faces": "off"})
    assert crop["fake_probability"].iloc[0] == pytest.approx(as_is["fake_probability"].iloc[0], abs=1e-7)


def test_align_mode_makes_a_faceless_picture_an_error_row_and_scores_the_rest(served, pictures) -> None:
    scored = served.predict(_paths(pictures, "empty", "group"), params={"faces": "align"})
    empty = scored[scored["input_index"] == 0]
    assert (
        len(empty) == 1
        and "no face found" in empty["error"].iloc[0]
        and "empty.jpg" in empty["error"].iloc[0]
    )
    assert scored.loc[scored["input_index"] == 1, "error"].isna().sum() == 3
    off = served.predict(_paths(pictures, "group"), params={"faces": "off"})
    assert len(off) == 1 and not off["face_found"].iloc[0]
    with pytest.raises(mlflow.exceptions.MlflowException, match="faces must be one of"):
        served.predict(_paths(pictures, "group"), params={"faces": "sideways"})


def test_a_video_becomes_one_row_per_face_track(served, pictures) -> None:
    scored = served.predict(_paths(pictures, "clip", "still"))
    clip = scored[scored["input_index"] == 0]
    assert len(clip) == 1 and clip["face_found"].iloc[0] and clip["frames"].iloc[0] == 4
    series = json.loads(clip["track_scores"].iloc[0])
    assert [round(t, 2) for t, _ in series] == [0.0, 0.5, 1.0, 1.5]
    assert clip["fake_probability"].iloc[0] == pytest.approx(sum(p for _, p in series) / 4, abs=1e-6)
    still = scored[scored["input_index"] == 1]
    assert len(still) == 1 and not still["face_found"].iloc[0] and still["frames"].iloc[0] == 2
    broken = served.predict(pd.DataFrame({"image": pd.Series([b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40])}))
    assert "cannot read video" in broken["error"].iloc[0]


def test_cli_pyfunc_and_http_give_the_same_per_face_scores(
    served, registry: MlflowClient, pictures, tmp_path: Path
) -> None:

    from facetransfer.scoring.app import create_app

    direct = served.predict(_paths(pictures, "group", "clip"))
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["predict", str(pictures["group"]), str(pictures["clip"]), "--plots", str(tmp_path / "plots")],
    )
    assert result.exit_code == 0, result.output
    cli = pd.read_csv(io.StringIO(result.stdout))
    assert list(cli["fake_probability"].round(6)) == list(direct["fake_probability"].round(6))
    assert f"image {pictures['group']}: " in result.output and "3 faces" in result.output
    assert f"video {pictures['clip']}: " in result.output and "1 tracks" in result.output
    plots = list((tmp_path / "plots").glob("*.png"))
    assert len(plots) == 1 and Image.open(plots[0]).size[0] > 100

    files = [
        ("files", ("group.jpg", pictures["group"].read_bytes(), "image/jpeg")),
        ("files", ("clip.mp4", pictures["clip"].read_bytes(), "video/mp4")),
    ]
    with running(create_app(served)) as base:
        answer = requests.post(f"{base}/api/score?explain=false", files=files, timeout=120)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [row["name"] for row in results] == ["group.jpg"] * 3 + ["clip.mp4"]
    assert [round(row["fake_probability"], 6) for row in results] == list(direct["fake_probability"].round(6))
    assert all(len(row["box"]) == 4 for row in results[:3]) and len(results[3]["track_scores"]) == 4


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_fifo_named_like_a_video_is_an_error_row_not_a_hang(served, pictures, tmp_path: Path) -> None:
    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    scored = served.predict(pd.DataFrame({"path": [str(fifo), str(pictures["empty"])]}))
    assert "FIFO" in scored["error"].iloc[0] and "stream.mp4" in scored["error"].iloc[0]
    assert scored["error"].iloc[1] is None
