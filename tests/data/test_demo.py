"""Demo data: determinism, exact masks, subtle generator artefacts, real formats."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tree_builders import TINY_DEMO

from facetransfer.classes import MUT1NY_14, load_class_mask
from facetransfer.demo import DemoOptions, generate_demo_data, write_generator_folder
from facetransfer.demo.generators import SimulatedGenerator
from facetransfer.demo.inconsistencies import COHERENT, sample_inconsistencies
from facetransfer.ingestion.errors import DemoDataError
from facetransfer.ingestion.manifest import build_manifest

TINY_DEMO_DIGEST = "f542dffe6e965f039f8f080777f0ab52ab5ea10c18fdbcffffc3b4e119cf70db"
"""SHA-256 over (relative path, content) of every file ``TINY_DEMO`` writes: the same on every machine."""


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    generate_demo_data(tmp_path / "a", TINY_DEMO)
    generate_demo_data(tmp_path / "b", TINY_DEMO)
    generate_demo_data(tmp_path / "c", TINY_DEMO, seed=1)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c")


def test_tiny_demo_matches_the_recorded_digest(tmp_path: Path) -> None:
    """Guards data.dvc reproducibility: a change here means regenerated demo data gets a new md5."""
    generate_demo_data(tmp_path / "data", TINY_DEMO)
    assert tree_digest(tmp_path / "data") == TINY_DEMO_DIGEST


def test_images_of_one_identity_do_not_depend_on_the_count(tmp_path: Path) -> None:
    generate_demo_data(tmp_path / "small", TINY_DEMO)
    generate_demo_data(tmp_path / "large", TINY_DEMO, segmentation_images=12)
    name = "segmentation/images/id00001_1.png"
    assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "large" / name).read_bytes()


def test_masks_use_exactly_the_14_class_palette_and_every_class_occurs(
    demo_root: tuple[Path, object],
) -> None:
    root, _ = demo_root
    labels = sorted((root / "segmentation" / "labels").glob("*.png"))
    present = np.zeros(MUT1NY_14.num_classes, dtype=bool)
    for path in labels:
        decoded = load_class_mask(path, encoding="color", scheme=MUT1NY_14)
        assert decoded.unknown_pixels == 0, path
        present[np.unique(decoded.class_ids)] = True
    assert present.all(), [name for name, seen in zip(MUT1NY_14.names, present, strict=True) if not seen]


def test_layout_is_the_real_mut1ny_and_artifact_formats(demo_root: tuple[Path, object]) -> None:
    root, summary = demo_root
    xml = (root / "segmentation" / "training.xml").read_text(encoding="utf-8")
    assert (
        '<srcimg name="images\\id00000_0.png"/>' in xml and '<labelimg name="labels\\id00000_0.png"/>' in xml
    )
    header = (root / "detection" / "tconv" / "metadata.csv").read_text().splitlines()[0]
    assert header == "image_path,target,category"
    with Image.open(next((root / "detection" / "celebahq" / "images").iterdir())) as image:
        assert image.format == "JPEG" and image.size == (64, 64)
    assert summary.counts == {  # type: ignore[attr-defined]
        "segmentation": 64, "detection/celebahq": 48, "detection/ffhq": 48,
        "detection/tconv": 32, "detection/nearest_conv": 32, "detection/bilinear_conv": 32,
    }  # fmt: skip


def test_generated_images_differ_from_real_ones_by_a_small_nonzero_amount(
    demo_root: tuple[Path, object],
) -> None:
    _, summary = demo_root
    differences = summary.mean_abs_diff  # type: ignore[attr-defined]
    assert set(differences) == {"tconv", "nearest_conv", "bilinear_conv"}
    for family, value in differences.items():
        assert 0.5 < value < 8.0, (family, value)


def test_strength_zero_gives_the_real_picture_and_families_differ() -> None:
    rng = np.random.default_rng(0)
    face = rng.random((32, 32, 3)) * 255
    noise, low_noise = rng.random((32, 32, 3)), rng.random((16, 16, 3))
    assert np.array_equal(
        SimulatedGenerator("tconv", seed=0, strength=0).generate(face, noise, low_noise), face + noise
    )
    outputs = [
        SimulatedGenerator(name, seed=0).generate(face, noise, low_noise)
        for name in ("tconv", "pixel_shuffle")
    ]
    assert not np.allclose(outputs[0], outputs[1])


def test_generated_faces_carry_semantic_inconsistencies_at_the_configured_rate(tmp_path: Path) -> None:
    coherent = write_generator_folder(tmp_path / "a", "tconv", count=6, image_size=32, inconsistency_rate=0)
    assert coherent.inconsistencies == {"tconv": {}}
    assert coherent.mean_abs_diff["tconv"] == coherent.artifact_abs_diff["tconv"]
    flawed = write_generator_folder(tmp_path / "b", "tconv", count=6, image_size=32)
    assert sum(flawed.inconsistencies["tconv"].values()) >= 6  # every image, one or two kinds
    assert flawed.mean_abs_diff["tconv"] > flawed.artifact_abs_diff["tconv"]
    # The up-sampling artefact is the same whether or not the face is incoherent.
    assert abs(flawed.artifact_abs_diff["tconv"] - coherent.artifact_abs_diff["tconv"]) < 0.5


def test_inconsistencies_are_visible_kinds_in_family_proportions() -> None:
    def draw(family: str, seed: int, **visible: bool):
        return sample_inconsistencies(
            np.random.default_rng(seed),
            family,
            strength=1.0,
            count=2,
            iris=np.array([70.0, 45, 25]),
            **visible,
        )

    hidden = [draw("bilinear_conv", seed, mouth_open=False, glasses=False) for seed in range(100)]
    assert all(len(f.kinds) == 2 and not {"teeth", "lenses"} & set(f.kinds) for f in hidden)
    counts = {
        family: Counter(
            k for seed in range(300) for k in draw(family, seed, mouth_open=True, glasses=True).kinds
        )
        for family in ("tconv", "bilinear_conv")
    }
    assert counts["tconv"]["eye_size"] > 2 * counts["bilinear_conv"]["eye_size"]
    assert counts["bilinear_conv"]["iris_color"] > 2 * counts["tconv"]["iris_color"]
    zero = sample_inconsistencies(
        np.random.default_rng(0),
        "tconv",
        strength=0.0,
        count=2,
        mouth_open=True,
        glasses=True,
        iris=np.zeros(3),
    )
    assert zero is COHERENT


def test_demo_data_is_read_by_the_real_readers_without_quarantine(demo_manifest) -> None:
    result = demo_manifest
    assert result.quarantine.empty
    assert result.manifest["identity"].notna().all()
    assert set(result.manifest.loc[result.manifest["label"] == 1, "generator"]) == {
        "tconv",
        "nearest_conv",
        "bilinear_conv",
    }


def test_one_generator_folder_in_both_layouts_and_refusal_to_overwrite(tmp_path: Path) -> None:
    summary = write_generator_folder(tmp_path / "new", "pixel_shuffle", count=4, image_size=32)
    assert summary.counts == {"pixel_shuffle": 4} and (tmp_path / "new" / "metadata.csv").is_file()
    plain = write_generator_folder(
        tmp_path / "plain", "pixel_shuffle", count=3, layout="folder", image_size=32
    )
    assert len(list((tmp_path / "plain").glob("*.png"))) == 3 and plain.mean_abs_diff["pixel_shuffle"] > 0
    with pytest.raises(DemoDataError, match="not empty"):
        write_generator_folder(tmp_path / "new", "pixel_shuffle", count=4)
    config = {"name": "new", "format": "artifact", "path": str(tmp_path / "new"), "role": "fake"}
    assert len(build_manifest([config], root=tmp_path).manifest) == 4


def test_invalid_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown generator family"):
        DemoOptions(generators=("stylegan9",))
    with pytest.raises(ValueError, match="both as real source and generator"):
        DemoOptions(real_images={"tconv": 4})
