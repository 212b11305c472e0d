"""Options and summary of the demo dataset, and the source entries that read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from facetransfer.demo.faces import DETECTION_FACE_SCALE, SEGMENTATION_FACE_SCALE
from facetransfer.demo.generators import DEFAULT_GENERATORS, get_family
from facetransfer.ingestion.sources import DETECTION_FOLDER, SEGMENTATION_FOLDER

IDENTITY_PATTERN = r"(?P<identity>id\d+)_\d+\.\w+$"
"""Identity of a demo image in its file name (``id00012_1.png`` → ``id00012``)."""


class DemoOptions(BaseModel):
    """What the demo dataset contains.

    The defaults keep the whole demo pipeline (two backbones × segmenter + three detectors)
    within minutes on two CPU cores: 64-px images (the training resolution, so no resize blurs
    the artefacts away), 384 segmentation images, 2 × 192 real and 3 × 128 generated images.

    Attributes:
        seed: the only source of randomness; same options → byte-identical files.
        image_size: side of every image in pixels (even).
        segmentation_images: number of Mut1ny-format image/label pairs.
        real_images: real ArtiFact folders and their image counts.
        jpeg_real_sources: real folders written as JPEG (CelebA-HQ is distributed as JPEG).
        jpeg_quality: inclusive range of JPEG qualities, drawn per image.
        generators: simulated generator families, one ArtiFact folder each.
        fake_images_per_generator: images per generator folder.
        images_per_identity: pictures of each procedural person (different pose and setting).
        artifact_strength: scales every family's up-sampling artefact; 0 (with
            ``inconsistency_rate`` 0) makes generated images equal to real ones.
        inconsistency_rate: share of generated images drawn with semantic inconsistencies
            (see ``facetransfer.demo.inconsistencies``); 0 leaves only the artefacts.
        inconsistency_strength: scales the size of those inconsistencies.
        segmentation_face_scale: range of the face's scale in the Mut1ny-format pictures
            (head shots; at 1 the face is about 40 % of the image wide).
        detection_face_scale: the same in the ArtiFact-format pictures (tighter face crops).
        noise_levels: camera-like noise levels drawn per image (the noise is a sum of four
            integers uniform in [-level, level]: standard deviation 1.6 for 1, 2.8 for 2).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    image_size: int = Field(default=64, ge=16, le=1024, multiple_of=2)
    segmentation_images: int = Field(default=384, ge=0)
    real_images: dict[str, int] = Field(default_factory=lambda: {"ffhq": 192, "celebahq": 192})
    jpeg_real_sources: tuple[str, ...] = ("celebahq",)
    jpeg_quality: tuple[int, int] = (85, 95)
    generators: tuple[str, ...] = DEFAULT_GENERATORS
    fake_images_per_generator: int = Field(default=128, ge=0)
    images_per_identity: int = Field(default=2, ge=1)
    artifact_strength: float = Field(default=1.0, ge=0.0)
    inconsistency_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    inconsistency_strength: float = Field(default=1.0, ge=0.0)
    segmentation_face_scale: tuple[float, float] = SEGMENTATION_FACE_SCALE
    detection_face_scale: tuple[float, float] = DETECTION_FACE_SCALE
    noise_levels: tuple[int, ...] = (1, 2)

    @field_validator("generators")
    @classmethod
    def _known_generators(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            get_family(name)
        return value

    @model_validator(mode="after")
    def _distinct_folders(self) -> DemoOptions:
        clash = set(self.real_images) & set(self.generators)
        if clash:
            raise ValueError(f"names used both as real source and generator: {sorted(clash)}")
        low, high = self.jpeg_quality
        if not 1 <= low <= high <= 100:
            raise ValueError(
                f"jpeg_quality must be an increasing range within 1..100, got {self.jpeg_quality}"
            )
        for name in ("segmentation_face_scale", "detection_face_scale"):
            low, high = getattr(self, name)
            if not 0.3 <= low <= high <= 3.0:
                raise ValueError(f"{name} must be an increasing range within 0.3..3, got {(low, high)}")
        if not self.noise_levels or min(self.noise_levels) < 0:
            raise ValueError(f"noise_levels must be non-negative integers, got {self.noise_levels}")
        return self


@dataclass
class DemoSummary:
    """What ``generate_demo_data`` / ``write_generator_folder`` wrote.

    Attributes:
        out_dir: the output folder.
        options: the options used (JSON-serialisable).
        counts: images written per folder (relative to ``out_dir``).
        mean_abs_diff: per generator family, the mean absolute difference (0-255 scale, over all
            pixels and channels) between each generated image and the real (coherent) picture
            of the same face with the same camera noise: artefact and inconsistencies together.
        artifact_abs_diff: the same difference with the inconsistencies drawn into the real
            picture too: the size of the up-sampling artefact alone.
        inconsistencies: per generator family, how many images show each kind of inconsistency.
        files_written: every file written, metadata included.
        seconds: wall time.
    """

    out_dir: Path
    options: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    mean_abs_diff: dict[str, float] = field(default_factory=dict)
    artifact_abs_diff: dict[str, float] = field(default_factory=dict)
    inconsistencies: dict[str, dict[str, int]] = field(default_factory=dict)
    files_written: int = 0
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        """Images written per second of wall time."""
        return sum(self.counts.values()) / self.seconds if self.seconds > 0 else 0.0

    def source_configs(self, root: str | Path | None = None) -> list[dict[str, Any]]:
        """Source entries that read this demo output (paths relative to ``root`` when given)."""
        base = Path(self.out_dir).absolute()
        if root is not None:
            base = base.relative_to(Path(root).absolute())
        real = sorted(self.options.get("real_images", {}))
        return [
            {
                "name": "mut1ny_demo",
                "format": "mut1ny",
                "path": (base / SEGMENTATION_FOLDER).as_posix(),
                "role": "segmentation",
                "scheme": "mut1ny14",
                "identity_pattern": IDENTITY_PATTERN,
            },
            {
                "name": "artifact_demo",
                "format": "artifact",
                "path": (base / DETECTION_FOLDER).as_posix(),
                "role": "auto",
                "real": real,
                "identity_pattern": IDENTITY_PATTERN,
            },
        ]

    def describe(self) -> str:
        """Multi-line human-readable summary."""
        lines = [f"demo data in {self.out_dir}: {self.files_written} files in {self.seconds:.1f} s"]
        lines += [f"  {folder}: {count} images" for folder, count in sorted(self.counts.items())]
        lines += [
            f"  mean |real - generated| for {name}: {value:.3f} (0-255 scale; "
            f"{self.artifact_abs_diff.get(name, float('nan')):.3f} from the up-sampling artefact alone)"
            for name, value in sorted(self.mean_abs_diff.items())
        ]
        lines += [
            f"  inconsistencies drawn by {name}: "
            + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
            for name, kinds in sorted(self.inconsistencies.items())
        ]
        return "\n".join(lines)
