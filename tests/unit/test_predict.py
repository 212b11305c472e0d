"""``facetransfer predict``: bad files get a row with their reason, the good ones are scored anyway."""

from __future__ import annotations

import io
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from facetransfer.cli import main
from facetransfer.imaging.checks import ImageTooLargeError
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.scoring.scorer import prepare
from tests.data.bad_inputs.entry_points import register_tiny_detector
from tests.data.tree_builders import random_image, write_huge_png, write_png, write_truncated_jpeg


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite registry whose ``deepfake-detector@champion`` is a tiny detector (16 px)."""
    return register_tiny_detector(tmp_path_factory.mktemp("registry") / "store")


def predict(registry: str, *arguments: str) -> tuple[int, str, str]:
    try:
        result = CliRunner().invoke(main, ["predict", *arguments], env={"MLFLOW_TRACKING_URI": registry})
    finally:
        mlflow.set_tracking_uri("")
    return result.exit_code, result.stdout, result.output


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mixed"
    for index in range(3):
        write_png(folder / f"good{index}.png", random_image(index, 16))
    write_truncated_jpeg(folder / "cut.jpg")
    (folder / "notes.png").write_text("not an image")
    return folder


def test_one_bad_image_costs_no_other_its_score(registry: str, mixed_folder: Path, tmp_path: Path) -> None:
    code, stdout, output = predict(registry, str(mixed_folder), "--root", str(tmp_path))
    assert code == 0, output
    frame = pd.read_csv(io.StringIO(stdout)).set_index("path")
    assert list(frame.columns) == [
        "input_index", "face_index", "face_found", "box", "landmarks", "detector_confidence",
        "fake_probability", "prediction", "threshold", "model_version", "error",
        "image_fake_probability", "image_prediction", "frames", "track_scores",
    ]  # fmt: skip
    assert not frame["face_found"].any(), "random noise holds no face: scored whole, as before faces"
    bad = {Path(path).name: error for path, error in frame["error"].dropna().items()}
    assert sorted(bad) == ["cut.jpg", "notes.png"]
    assert all(name in error for name, error in bad.items()), bad  # each reason names its file
    scored = frame[frame["error"].isna()]
    assert sorted(Path(path).name for path in scored.index) == ["good0.png", "good1.png", "good2.png"]
    assert set(scored["prediction"]) <= {"real", "fake"}
    assert frame.loc[[p for p in frame.index if Path(p).name in bad], "fake_probability"].isna().all()
    assert "2 of 5 images could not be scored" in output
    # The good images get exactly the scores they get without the bad ones beside them.
    alone = [str(mixed_folder / f"good{index}.png") for index in range(3)]
    code, stdout, _ = predict(registry, *alone, "--root", str(tmp_path))
    again = pd.read_csv(io.StringIO(stdout)).set_index("path")
    assert code == 0
    np.testing.assert_allclose(again["fake_probability"], scored.loc[again.index, "fake_probability"])


def test_strict_fails_on_any_bad_image_but_still_writes_every_row(
    registry: str, mixed_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    code, _, output = predict(
        registry, str(mixed_folder), "--root", str(tmp_path), "--output", str(out), "--strict"
    )
    assert code == 1 and "could not be scored" in output
    frame = pd.read_csv(out)
    assert len(frame) == 5 and frame["fake_probability"].notna().sum() == 3


def test_nothing_scorable_is_a_failure_naming_the_file(registry: str, tmp_path: Path) -> None:
    write_truncated_jpeg(tmp_path / "cut.jpg")
    code, _, output = predict(registry, str(tmp_path / "cut.jpg"), "--root", str(tmp_path))
    assert code == 1 and "1 of 1 images could not be scored" in output and "cut.jpg" in output
    assert "Traceback" not in output


PRE32 = Preprocessing.for_backbone("resnet50", 32)


def test_preparing_an_image_returns_an_error_instead_of_raising(tmp_path: Path) -> None:
    good = write_png(tmp_path / "good.png", random_image(1, 32))
    bomb = write_huge_png(tmp_path / "bomb.png")
    prepared = prepare(str(good), PRE32)
    assert prepared.error is None and prepared.pixels is not None and prepared.pixels.shape == (32, 32, 3)
    for path, text in ((bomb, "30000x30000"), (tmp_path / "missing.png", "missing.png")):
        failed = prepare(str(path), PRE32)
        assert failed.pixels is None and failed.error is not None
        assert text in failed.error and path.name in failed.error


def test_loader_refuses_an_image_bomb_from_its_header(tmp_path: Path) -> None:
    bomb = write_huge_png(tmp_path / "bomb.png")
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png is 30000x30000"):
        PRE32.load(bomb)


def test_a_sixteen_bit_image_scores_like_its_eight_bit_copy(registry: str, tmp_path: Path) -> None:
    # It used to decode all white (Pillow's convert("RGB") clips 16-bit values) and score "fake".
    from PIL import Image

    gray = (np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "eight.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(tmp_path / "white.png")
    code, stdout, output = predict(registry, str(tmp_path), "--root", str(tmp_path))
    assert code == 0, output
    scores = {
        Path(p).name: s for p, s in pd.read_csv(io.StringIO(stdout))[["path", "fake_probability"]].values
    }
    # The same pixels after decoding give the very same score; a white image (what Pillow's own
    # conversion made of it) scores differently, however little this untrained detector moves.
    assert scores["sixteen.png"] == scores["eight.png"]
    assert scores["sixteen.png"] != scores["white.png"]
