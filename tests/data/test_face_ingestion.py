"""``faces: align`` sources on real pixels: whole pictures in, aligned face crops in the manifest.

The pictures are built from scikit-image's public-domain portrait (``tests.face_scenes``): the
portrait itself as a 1024 px JPEG, a 1024x768 photo with two copies of the face turned by +-30
degrees, a picture without a face, one whose only face is about 20 px, and a corrupt file. They
lie in a plain folder (``real/people/`` and ``fake/stylegan/``) ingested once per module; MTCNN
takes about 0.1-0.3 s per picture here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from facetransfer.config import RunConfig
from facetransfer.faces.alignment import align_face, alignment_matrix
from facetransfer.faces.detection import FaceDetector
from facetransfer.faces.face_settings import FaceSettings
from facetransfer.ingestion.errors import SourceConfigError
from facetransfer.ingestion.face_crops import crop_folder
from facetransfer.ingestion.hashing import source_fingerprints
from facetransfer.ingestion.manifest import MANIFEST_COLUMNS, ManifestResult, build_manifest
from facetransfer.ingestion.sources import SourceConfig
from facetransfer.ingestion.splitting import assign_splits
from facetransfer.validation import ValidationBounds
from facetransfer.validation.runner import run_expectations
from facetransfer.validation.suites import (
    face_presence_specs,
    face_presence_table,
    image_specs,
    manifest_table,
)
from tests.data.tree_builders import write_corrupt_png, write_png
from tests.face_scenes import background, paste_face, portrait, write_jpeg

FACE_COLUMNS = ["source_path", "source_sha256", "face_index", "face_box", "face_landmarks", "face_confidence"]
SETTINGS = FaceSettings()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``real/people/``: portrait, empty room; ``fake/stylegan/``: two faces, a tiny face, a corrupt file."""
    root = tmp_path_factory.mktemp("pictures") / "photos"
    write_jpeg(
        root / "real/people/portrait.jpg", cv2.resize(portrait(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    )
    write_png(root / "real/people/empty_room.png", background(600, 800, seed=5))
    crowd = background(768, 1024, seed=3)
    paste_face(crowd, centre=(300, 330), scale=0.9, angle=30.0)  # faces of about 90 and 70 px
    paste_face(crowd, centre=(740, 420), scale=0.75, angle=-30.0)
    write_jpeg(root / "fake/stylegan/crowd.jpg", crowd)
    distant = background(480, 640, seed=6)
    paste_face(distant, centre=(320, 240), scale=0.2, angle=0.0)  # a face of about 20 px
    write_png(root / "fake/stylegan/distant.png", distant)
    write_corrupt_png(root / "fake/stylegan/broken.png")
    return root


def ingest(tree: Path, cache: Path, *, faces: str | None) -> tuple[ManifestResult, int]:
    """``build_manifest`` of the tree (``faces`` unset when ``None``) and its detector calls."""
    options = {} if faces is None else {"faces": faces}
    source = SourceConfig(name="photos", format="folder", path=str(tree), **options)
    calls = []
    original = FaceDetector.detect

    def counted(detector: FaceDetector, image: np.ndarray, **detect_options: Any) -> Any:
        calls.append(image.shape)
        return original(detector, image, **detect_options)

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(FaceDetector, "detect", counted)
        result = build_manifest(
            [source], root=tree.parent, cache_dir=cache, split_ratios=None, faces=SETTINGS
        )
    return result, len(calls)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def aligned(tree: Path, cache: Path) -> tuple[ManifestResult, int]:
    return ingest(tree, cache, faces="align")


@pytest.fixture(scope="module")
def manifest(aligned: tuple[ManifestResult, int]) -> pd.DataFrame:
    return aligned[0].manifest


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def crop_files(cache: Path) -> Iterator[Path]:
    return (path for path in sorted((cache / "faces").rglob("*")) if path.is_file())


def test_each_picture_yields_one_row_per_face_crop(tree: Path, cache: Path, manifest: pd.DataFrame) -> None:
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    by_picture = manifest.groupby("source_path")["face_index"].apply(list).to_dict()
    portrait_path, crowd_path = tree / "real/people/portrait.jpg", tree / "fake/stylegan/crowd.jpg"
    assert by_picture == {str(crowd_path): [0, 1], str(portrait_path): [0]}
    assert manifest.set_index("source_path").loc[str(crowd_path), "label"].tolist() == [1, 1]
    folder = crop_folder(cache, SETTINGS)
    for row in manifest.itertuples():
        crop = Path(row.path)
        assert crop.parent.parent == folder and not crop.is_relative_to(tree)
        assert row.sha256 == sha256_of(crop) and row.source_sha256 == sha256_of(row.source_path)
        assert (row.width, row.height, row.mode) == (SETTINGS.crop_size, SETTINGS.crop_size, "RGB")
        assert cv2.imread(str(crop)).shape == (SETTINGS.crop_size, SETTINGS.crop_size, 3)
        x, y, width, height = json.loads(row.face_box)
        landmarks = np.array(json.loads(row.face_landmarks))
        assert landmarks.shape == (5, 2) and row.face_confidence > SETTINGS.confidence
        assert width > 60 and np.all((landmarks >= [x, y]) & (landmarks <= [x + width, y + height]))
    assert (folder / "key.txt").read_text().startswith(SETTINGS.cache_key())


def test_every_crop_puts_the_eyes_where_the_upright_portrait_has_them(manifest: pd.DataFrame) -> None:
    detector = FaceDetector(SETTINGS)
    upright = detector.detect(portrait()).faces[0]
    reference = align_face(portrait(), upright, size=SETTINGS.crop_size).to_crop(upright.landmarks)[:2]
    for row in manifest.itertuples():
        landmarks = np.array(json.loads(row.face_landmarks))
        matrix = alignment_matrix(landmarks, SETTINGS.crop_size, SETTINGS.margin)
        mapped = landmarks[:2] @ matrix[:, :2].T + matrix[:, 2]
        assert np.abs(mapped - reference).max() < 3.0, (row.source_path, mapped, reference)
        pixels = cv2.cvtColor(cv2.imread(row.path), cv2.COLOR_BGR2RGB)
        eyes = detector.detect(pixels).faces[0].landmarks[:2]
        assert abs(eyes[0, 1] - eyes[1, 1]) < 6.0 and np.abs(eyes - reference).max() < 8.0, (row.path, eyes)


def test_pictures_without_a_usable_face_are_quarantined_and_counted_per_source(
    tree: Path, aligned: tuple[ManifestResult, int]
) -> None:
    result, calls = aligned
    checks = dict(zip(result.quarantine["path"], result.quarantine["check"], strict=True))
    assert checks == {
        str(tree / "real/people/empty_room.png"): "no_face",
        str(tree / "fake/stylegan/distant.png"): "face_too_small",
        str(tree / "fake/stylegan/broken.png"): "corrupt_image",
    }
    reasons = result.quarantine.set_index("check")["reason"]
    assert "min_face_size (40 px)" in reasons["face_too_small"] and "no face found" in reasons["no_face"]
    counts = result.report["sources"]["photos"]["faces"]
    assert counts["people"] == {
        "pictures": 2, "with_faces": 1, "crops": 1, "no_face": 1, "face_too_small": 0, "unreadable": 0
    }  # fmt: skip
    assert counts["stylegan"] == {
        "pictures": 2, "with_faces": 1, "crops": 2, "no_face": 0, "face_too_small": 1, "unreadable": 0
    }  # fmt: skip
    # The corrupt file was quarantined by the image checks and never shown to the detector; pictures
    # without a large face are searched a second time, for small ones.
    assert result.report["faces"]["detector_runs"] == 4 and calls == 6
    assert result.report["quarantine_by_check"] == {"corrupt_image": 1, "face_too_small": 1, "no_face": 1}


def test_a_second_ingestion_reuses_the_crops_without_running_the_detector(
    tree: Path, cache: Path, aligned: tuple[ManifestResult, int]
) -> None:
    first, _ = aligned
    written = {path: path.stat().st_mtime_ns for path in crop_files(cache)}
    again, calls = ingest(tree, cache, faces="align")
    assert calls == 0 and again.report["faces"]["detector_runs"] == 0 and again.report["faces"]["reused"] == 4
    assert {path: path.stat().st_mtime_ns for path in crop_files(cache)} == written
    pd.testing.assert_frame_equal(again.manifest, first.manifest)
    pd.testing.assert_frame_equal(again.quarantine, first.quarantine)
    # Other settings are another cache entry: the crops of one setting never stand in for another's.
    assert crop_folder(cache, SETTINGS.model_copy(update={"margin": 0.8})) != crop_folder(cache, SETTINGS)


def test_as_is_sources_are_read_as_before(tree: Path, tmp_path: Path, manifest: pd.DataFrame) -> None:
    default, default_calls = ingest(tree, tmp_path / "cache", faces=None)
    explicit, explicit_calls = ingest(tree, tmp_path / "cache", faces="as_is")
    pd.testing.assert_frame_equal(explicit.manifest, default.manifest)
    assert default_calls == explicit_calls == 0 and default.report["faces"] is None
    assert not (tmp_path / "cache" / "faces").exists()
    rows = default.manifest
    names = ["crowd.jpg", "distant.png", "empty_room.png", "portrait.jpg"]
    assert sorted(Path(path).name for path in rows["path"]) == names
    assert rows[FACE_COLUMNS].isna().all().all()
    assert rows["sha256"].tolist() == [sha256_of(path) for path in rows["path"]]
    assert default.quarantine["check"].tolist() == ["corrupt_image"]
    # The data identity follows the pictures: aligning a source changes it only by the pictures
    # that yielded no face, never by the crops.
    pictures = rows[rows["sha256"].isin(manifest["source_sha256"])]
    assert source_fingerprints(manifest) == source_fingerprints(pictures)


def test_the_crops_of_one_picture_always_share_a_split(manifest: pd.DataFrame) -> None:
    crowd = manifest["face_index"].notna() & manifest["source_path"].str.endswith("crowd.jpg")
    ratios = (0.5, 0.25, 0.25)
    as_is = manifest.loc[crowd, ["sha256"]].assign(sha256=manifest.loc[crowd, "source_sha256"]).iloc[:1]
    separated_by_crop_hash = 0
    for seed in range(20):
        splits = assign_splits(manifest, ratios=ratios, seed=seed)
        assert splits[crowd].nunique() == 1
        # the same rows keyed by their crops' own hashes would be split apart for some seed
        unlinked = assign_splits(manifest.drop(columns=["source_sha256"]), ratios=ratios, seed=seed)
        separated_by_crop_hash += unlinked[crowd].nunique() > 1
        # a picture keeps the split it had as an as_is file (its group is named by its own hash)
        assert assign_splits(as_is, ratios=ratios, seed=seed).iloc[0] == splits[crowd].iloc[0]
    assert separated_by_crop_hash > 0


def test_great_expectations_bounds_the_share_of_pictures_without_a_face(
    aligned: tuple[ManifestResult, int],
) -> None:
    result, _ = aligned
    faces = face_presence_table(result.manifest, result.quarantine)
    counts = faces.set_index("source")[
        ["pictures", "with_faces", "no_face", "face_too_small", "no_face_share"]
    ]
    assert counts.to_dict("index") == {
        "people": {"pictures": 2, "with_faces": 1, "no_face": 1, "face_too_small": 0, "no_face_share": 0.5},
        "stylegan": {"pictures": 2, "with_faces": 1, "no_face": 0, "face_too_small": 1, "no_face_share": 0.5},
    }
    crossed = result.manifest.assign(split=["train", "train", "test"])  # the crowd's crops apart
    leaking = [spec for spec in image_specs(ValidationBounds()) if spec.name == "sha256_in_one_split"]
    tables = {"faces": faces, "manifest": manifest_table(crossed)}
    outcomes = {}
    for share in (0.5, 0.4):
        specs = [*face_presence_specs(ValidationBounds(max_no_face_share=share)), *leaking]
        outcomes[share] = {outcome.name: outcome for outcome in run_expectations(tables, specs)[0]}
    assert outcomes[0.5]["no_face_share_in_bounds"].success
    assert not outcomes[0.4]["no_face_share_in_bounds"].success
    assert not outcomes[0.5]["sha256_in_one_split"].success
    assert outcomes[0.5]["sha256_in_one_split"].unexpected_count == 2
    assert face_presence_table(result.manifest.iloc[0:0], result.quarantine.iloc[0:0]).empty


def test_faces_settings_are_one_block_of_the_run_and_align_is_for_detection_sources(tree: Path) -> None:
    config = RunConfig.model_validate(
        {"data": {"segmentation_sources": [{"name": "m", "format": "mut1ny", "path": "s"}],
                  "detection_sources": [{"name": "p", "format": "folder", "path": "d", "faces": "align"}]},
         "faces": {"min_face_size": 64, "crop_size": 512}}
    )  # fmt: skip
    assert config.faces == FaceSettings(min_face_size=64, crop_size=512)
    assert config.data.detection_sources[0].faces == "align"
    assert RunConfig.model_validate({"data": config.data.model_dump()}).faces == FaceSettings()
    with pytest.raises(ValidationError, match="only apply to other formats"):
        SourceConfig(name="m", format="mut1ny", path="s", faces="align")
    with pytest.raises(ValidationError, match="faces"):
        SourceConfig(name="p", format="folder", path="d", faces="crop")
    source = SourceConfig(name="photos", format="folder", path=str(tree), faces="align")
    with pytest.raises(SourceConfigError, match="needs a cache_dir"):
        build_manifest([source], root=tree.parent, cache_dir=None)
    with pytest.raises(SourceConfigError, match="inside source folder"):
        build_manifest([source], root=tree.parent, cache_dir=tree / "cache")
    assert not (tree / "cache").exists(), "nothing is written before the configuration is checked"


def test_face_columns_round_trip_through_parquet(aligned: tuple[ManifestResult, int], tmp_path: Path) -> None:
    result, _ = aligned
    result.write(tmp_path / "out")
    again = ManifestResult.read(tmp_path / "out")
    pd.testing.assert_frame_equal(again.manifest, result.manifest)
    assert [type(value) for value in again.manifest["face_index"]] == [int, int, int]
