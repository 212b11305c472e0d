"""Typed run configuration of ``transfer_pipeline``, built from ``zenml_config.yaml``.

Every tunable of a run lives in the YAML file's ``parameters:`` block; ZenML validates each block
into one of these models and hands them to the steps. The models are plain pydantic, so the CLI
(``facetransfer retrain``) reads the same file with ``load_run_config``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from facetransfer.classes import CLASS_SCHEMES
from facetransfer.evaluation.robustness import PERTURBATIONS, validate_perturbations
from facetransfer.faces.face_settings import FaceSettings
from facetransfer.imaging.checks import DEFAULT_MAX_IMAGE_PIXELS
from facetransfer.imaging.decoding import DEFAULT_MAX_FILE_BYTES
from facetransfer.ingestion.sources import SourceConfig, parse_sources
from facetransfer.ingestion.splitting import validate_ratios
from facetransfer.models import BACKBONES, VARIANTS
from facetransfer.registry.client import DETECTOR_MODEL, SEGMENTER_MODEL
from facetransfer.training.settings import TrainConfig
from facetransfer.validation import ValidationBounds

DETECTION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision")


class DataSettings(BaseModel):
    """Where the data is and how it is split.

    Attributes:
        root: folder that relative paths (sources, cache, DVC file) are resolved against;
            ``.`` is the ZenML repository root (where ``zenml init`` ran).
        cache_dir: file-fact cache (re-ingest hashes no unchanged file) and derived masks.
        dvc_file: the DVC pointer whose md5 is recorded with every run.
        class_scheme: classes of the segmentation masks (``mut1ny14`` or ``mut1ny11``).
        split_ratios: train, validation and test shares.
        split_seed: seed of the (stable, leakage-free) split assignment.
        max_image_pixels: larger images are quarantined (decompression-bomb guard).
        max_file_bytes: larger files are quarantined ``file_too_large`` from their size, unread.
        segmentation_sources: face-parsing sources (Mut1ny, CelebAMask-HQ).
        detection_sources: real and generated image sources (ArtiFact, FFHQ, plain folders).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str = "."
    cache_dir: str = ".local/cache"
    dvc_file: str = "data.dvc"
    class_scheme: str = "mut1ny14"
    split_ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_seed: int = 0
    max_image_pixels: int = Field(default=DEFAULT_MAX_IMAGE_PIXELS, gt=0)
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, gt=0)
    segmentation_sources: list[SourceConfig]
    detection_sources: list[SourceConfig]

    @field_validator("class_scheme")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value not in CLASS_SCHEMES:
            raise ValueError(f"unknown class scheme {value!r}; valid: {', '.join(CLASS_SCHEMES)}")
        return value

    @field_validator("split_ratios")
    @classmethod
    def _ratios_sum_to_one(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        return validate_ratios(value)

    @field_validator("segmentation_sources", "detection_sources")
    @classmethod
    def _unique_names(cls, value: list[SourceConfig]) -> list[SourceConfig]:
        if not value:
            raise ValueError("at least one source is required")
        return parse_sources(value)

    @model_validator(mode="after")
    def _one_class_scheme(self) -> DataSettings:
        """Masks decoded in one scheme must never train a model of another (ids would mean other classes)."""
        mismatched = [
            f"{source.name!r} ({source.scheme})"
            for source in self.segmentation_sources
            if source.scheme != self.class_scheme
        ]
        if mismatched:
            raise ValueError(
                f"segmentation source(s) {', '.join(mismatched)} use another class scheme than "
                f"data.class_scheme ({self.class_scheme}); set `scheme: {self.class_scheme}` on them "
                f"or change data.class_scheme"
            )
        return self

    def resolve(self, path: str, base: str | Path) -> Path:
        """Absolute form of ``path`` (relative to ``root``, itself relative to ``base``)."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (Path(base) / self.root / candidate).absolute()

    @property
    def cache_location(self) -> str:
        """``cache_dir`` joined to ``root`` (still relative to the repository root when both are)."""
        return os.path.join(self.root, self.cache_dir)

    def root_path(self, base: str | Path) -> Path:
        """Absolute data root."""
        return (Path(base) / self.root).absolute()


class ModelTrainingSettings(BaseModel):
    """How one kind of model (segmenter or detector) is trained.

    Attributes:
        pretrained: ``true``: initialise backbones with ImageNet weights when they are in the
            local torch cache (never downloaded; a run records whether they were found);
            ``download``: fetch them through torchvision's download when missing (opt-in, for
            online machines); ``false``: random initialisation.
        train: epochs, batch size, learning rate, patience, image size, device, ...
            (``facetransfer.training.TrainConfig``).
        backbone_overrides: ``train`` fields that differ for one backbone, e.g.
            ``{resnet50: {epochs: 4, learning_rate: 0.0005}}``; a backbone's training steps
            see only its own settings (``for_backbone``), so changing one backbone's override
            reruns only its steps.
        seeds: detectors only: train every variant once per seed (each replaces ``train.seed``).
            ``None`` (the default): once, with ``train.seed``. With several seeds Table 2 shows
            mean ± standard deviation per variant, and the best variant is the one with the best
            mean validation metric (its best seed is registered). Each seed is its own training
            step (cached on its own) and MLflow run (``detector-<backbone>-<variant>-seed<k>``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pretrained: bool | Literal["download"] = True
    train: TrainConfig = Field(default_factory=TrainConfig)
    backbone_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seeds: list[StrictInt] | None = None

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("seeds: give at least one seed, or leave it out to train once with train.seed")
        if any(seed < 0 for seed in value):
            raise ValueError(f"seeds must be non-negative integers, got {value}")
        repeated = sorted({seed for seed in value if value.count(seed) > 1})
        if repeated:
            raise ValueError(f"seeds: {repeated} given more than once (a seed trains the same model twice)")
        return value

    def seed_list(self) -> list[int]:
        """The seeds each variant trains with: ``seeds``, or ``[train.seed]``."""
        return list(self.seeds) if self.seeds is not None else [self.train.seed]

    def for_seed(self, seed: int) -> ModelTrainingSettings:
        """The settings of one seed's training: ``train.seed`` set to ``seed``, no ``seeds`` list."""
        return self.model_copy(update={"train": self.train.model_copy(update={"seed": seed}), "seeds": None})

    @model_validator(mode="after")
    def _check_overrides(self) -> ModelTrainingSettings:
        for backbone in self.backbone_overrides:
            if backbone not in BACKBONES:
                raise ValueError(
                    f"backbone_overrides: unknown backbone {backbone!r}; use one of {', '.join(BACKBONES)}"
                )
            self.for_backbone(backbone)
        return self

    def for_backbone(self, backbone: str) -> ModelTrainingSettings:
        """The settings ``backbone`` trains with: ``train`` with its overrides applied."""
        fields = self.backbone_overrides.get(backbone, {})
        unknown = sorted(set(fields) - set(TrainConfig.model_fields))
        if unknown:
            raise ValueError(f"backbone_overrides.{backbone}: unknown train settings {', '.join(unknown)}")
        merged = {**self.train.model_dump(), **fields}
        try:
            train = TrainConfig.model_validate(merged)
        except (ValueError, TypeError) as error:
            raise ValueError(f"backbone_overrides.{backbone}: {error}") from error
        return ModelTrainingSettings(pretrained=self.pretrained, train=train, seeds=self.seeds)


class EvaluationSettings(BaseModel):
    """How detectors and segmenters are evaluated.

    Attributes:
        threshold_rule: how the decision threshold is chosen on the validation split:
            ``max_f1`` (the threshold maximising F1), ``eer`` (equal error rate) or ``fixed``.
        fixed_threshold: the threshold of the ``fixed`` rule.
        batch_size: inference batch size.
        overlay_examples: test images shown in the segmentation overlay figure.
        robustness: perturbations of the robustness sweep run on each detector's test split
            (``facetransfer.evaluation.robustness.PERTURBATIONS``); an empty list skips it.
        explain_images_per_generator: test images per generator (and real images) whose region
            attribution the run's best detector explains for the per-generator table; 0 skips it.
        bootstrap_resamples: resamples of the class-stratified bootstrap that puts a confidence
            interval on every test metric (``facetransfer.evaluation.intervals``); 0 skips them.
        confidence_level: level of those intervals.
        bootstrap_seed: seed of the resampling (the same scores give the same intervals).
        min_images_for_ci: a generator or source with fewer test images is marked ``*`` ("n <
            min_images_for_ci") in every table: its interval is too wide to read much into.
        calibration: ``temperature`` (default): temperature scaling fitted on the validation
            split; the registered version serves the calibrated fake probabilities, its threshold
            re-expressed so that every decision stays the same (``facetransfer.evaluation.calibration``).
            ``none``: the raw ``sigmoid(logit)``.
        calibration_bins: equal-width bins of [0, 1] of the expected calibration error and the
            reliability diagram.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold_rule: Literal["max_f1", "eer", "fixed"] = "max_f1"
    fixed_threshold: float = Field(default=0.5, gt=0, lt=1)
    batch_size: int = Field(default=64, ge=1)
    overlay_examples: int = Field(default=6, ge=1, le=32)
    robustness: list[str] = Field(default_factory=lambda: list(PERTURBATIONS))
    explain_images_per_generator: int = Field(default=4, ge=0)
    bootstrap_resamples: int = Field(default=1000, ge=0)
    confidence_level: float = Field(default=0.95, gt=0, lt=1)
    bootstrap_seed: int = 0
    min_images_for_ci: int = Field(default=20, ge=0)
    calibration: Literal["temperature", "none"] = "temperature"
    calibration_bins: int = Field(default=15, ge=1)

    @field_validator("robustness")
    @classmethod
    def _known_perturbations(cls, value: list[str]) -> list[str]:
        return validate_perturbations(value)


class PromotionSettings(BaseModel):
    """Which detector is registered and when it replaces the champion.

    Attributes:
        selection_metric: metric on the validation split that picks this run's best detector.
        metric: metric on the current test split that the challenger must beat the champion on.
        tolerance: how much worse than the champion the challenger may be on any generator the
            champion was evaluated on.
        robustness_tolerance: how much lower the challenger's mean ROC-AUC over the robustness
            sweep may be than the champion's (``null`` disables the check).
        absent_generators: a generator the champion was evaluated on that is absent from the
            current test split: ``ignore`` (named in the reason as not compared) or ``block``.
        significance: ``none`` (beating the champion's ``metric`` is enough) or
            ``paired_bootstrap`` (the gain, measured on the same test images, must also have a
            one-sided p-value below ``alpha``).
        alpha: significance level of ``paired_bootstrap``; the reason reports the ``1 - 2 alpha``
            interval of the gain, whose lower end is the one-sided bound.
        bootstrap_resamples: resamples of the paired bootstrap (seeded with 0: reproducible).
        detector_model: registered model name of the detector.
        segmenter_model: registered model name of the segmenter.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    selection_metric: Literal[DETECTION_METRICS] = "f1"  # type: ignore[valid-type]
    metric: Literal[DETECTION_METRICS] = "f1"  # type: ignore[valid-type]
    tolerance: float = Field(default=0.02, ge=0)
    robustness_tolerance: float | None = Field(default=0.05, ge=0)
    absent_generators: Literal["ignore", "block"] = "ignore"
    significance: Literal["none", "paired_bootstrap"] = "none"
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    bootstrap_resamples: int = Field(default=1000, ge=100)
    detector_model: str = DETECTOR_MODEL
    segmenter_model: str = SEGMENTER_MODEL


class RunConfig(BaseModel):
    """All parameters of one ``transfer_pipeline`` run (the YAML ``parameters:`` block).

    ``faces`` is the one ``FaceSettings`` of a run: every ``faces: align`` detection source, real
    and generated alike, is cut into face crops with it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: DataSettings
    faces: FaceSettings = Field(default_factory=FaceSettings)
    validation: ValidationBounds = Field(default_factory=ValidationBounds)
    segmenter: ModelTrainingSettings = Field(default_factory=ModelTrainingSettings)
    detector: ModelTrainingSettings = Field(default_factory=ModelTrainingSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)
    backbones: list[str] = Field(default_factory=lambda: list(BACKBONES))
    variants: list[str] = Field(default_factory=lambda: list(VARIANTS))
    training_resources: dict[str, Any] = Field(default_factory=dict)
    """ZenML ``ResourceSettings`` of the training steps (validated by ZenML, kept opaque here)."""

    @field_validator("backbones")
    @classmethod
    def _known_backbones(cls, value: list[str]) -> list[str]:
        return _known(value, tuple(BACKBONES), "backbone")

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, value: list[str]) -> list[str]:
        return _known(value, VARIANTS, "variant")

    @model_validator(mode="after")
    def _seeds_of_detectors_only(self) -> RunConfig:
        if self.segmenter.seeds is not None:
            raise ValueError(
                "segmenter.seeds: seeds are a detector setting (detector.seeds); the segmenter trains "
                "once, with segmenter.train.seed"
            )
        return self

    @model_validator(mode="after")
    def _class_share_bounds_name_classes_of_the_scheme(self) -> RunConfig:
        """A bound on a class the masks do not have would never be checked: refuse it by name."""
        if "class_share_bounds" not in self.validation.model_fields_set:
            return self  # the defaults, which cover the classes of every scheme
        scheme = CLASS_SCHEMES[self.data.class_scheme]
        unknown = [name for name in self.validation.class_share_bounds if name not in scheme.names]
        if unknown:
            raise ValueError(
                f"validation.class_share_bounds: unknown class {', '.join(map(repr, unknown))} in "
                f"class scheme {scheme.name} (data.class_scheme); its classes: {', '.join(scheme.names)}"
            )
        return self


def _known(values: list[str], valid: tuple[str, ...], what: str) -> list[str]:
    unknown = [v for v in values if v not in valid]
    if unknown or not values:
        raise ValueError(f"{what}s must be a non-empty list of {', '.join(valid)}; got {values}")
    if len(set(values)) != len(values):
        raise ValueError(f"{what}s listed twice: {values}")
    return values


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error.

    Plain ``yaml.safe_load`` keeps the last of two equal keys silently: a second ``detector:``
    block would replace the first one whole. Keys that a merge (``<<: *anchor``) brings in may
    still be overridden, as YAML intends.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in first_line:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} on line {line} (first on line {first_line[key]})",
                        key_node.start_mark,
                    )
                first_line[key] = line
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
        return super().construct_mapping(node, deep=deep)


def read_yaml_document(path: str | Path) -> Any:
    """The YAML document in ``path``, refusing a key given twice in one mapping (naming key and lines).

    Raises:
        ValueError: the file cannot be read, is not valid YAML, or repeats a key.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as stream:  # a stream: error marks name the file
            return yaml.load(stream, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read {path}: {error}") from error


def load_run_config(path: str | Path) -> RunConfig:
    """Read the ``parameters:`` block of a ZenML run configuration file.

    Raises:
        ValueError: the file cannot be read, repeats a key, has no ``parameters:`` block, or a
            value is refused (``pydantic.ValidationError`` is a ``ValueError``).
    """
    path = Path(path)
    document: dict[str, Any] = read_yaml_document(path) or {}
    if "parameters" not in document:
        raise ValueError(f"{path} has no `parameters:` block")
    return RunConfig.model_validate(document["parameters"])
