"""Typed training configuration, built by the pipeline from ``zenml_config.yaml``."""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.inputs.transforms import FLIP_MODES

DEVICES = ("auto", "cpu", "cuda")
LEARNING_RATE_SCHEDULES = ("constant", "cosine")
INPUT_MODES = ("resize", "crop")
SAMPLE_CACHES = ("auto", "memory", "disk", "none")
DISTRIBUTED_BACKENDS = ("auto", "gloo", "nccl")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
"""What ``runtime.device.resolve_device`` understands: ``cuda:N`` takes a GPU index, ``cpu`` none."""
_CHOICES = {
    "learning_rate_schedule": LEARNING_RATE_SCHEDULES,
    "input_mode": INPUT_MODES,
    "sample_cache": SAMPLE_CACHES,
    "horizontal_flip": FLIP_MODES,
}

# Strict: a YAML `epochs: true` or `amp: 1` is refused, not coerced (an int is still a float);
# frozen: configs are values (hashable, shared with worker processes unchanged).
_SETTINGS = ConfigDict(extra="forbid", frozen=True, strict=True)


def _one_of(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _finite(key: str, value: float) -> float:
    # YAML's `.nan` and `.inf` are floats: strict typing lets them through, and a NaN passes every
    # comparison-based bound (`nan <= 0` is false), so it would train silently into NaN weights.
    if not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value}")
    return value


class DistributedConfig(BaseModel):
    """Data-parallel training over several processes (``facetransfer.training.distributed``).

    Attributes:
        nproc: processes on this machine; 1 trains in the calling process. With N > 1 the training
            step launches N workers (torch elastic launch), each on 1/N of every batch.
        backend: ``torch.distributed`` backend: ``auto`` (``nccl`` on CUDA, ``gloo`` on CPU),
            ``gloo`` or ``nccl``.
        timeout_s: seconds a process waits in a collective (gradient all-reduce, BatchNorm
            statistics) for the others before failing; a rank that dies is detected within about
            a second by the launcher regardless. Raise it only if ranks legitimately drift apart
            for longer (e.g. a very slow shared file system when the checkpoint is written).
    """

    model_config = _SETTINGS

    nproc: int = 1
    backend: str = "auto"
    timeout_s: float = 600.0

    @field_validator("nproc")
    @classmethod
    def _at_least_one_process(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"TrainConfig.distributed.nproc must be at least 1, got {value}")
        return value

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return _one_of("TrainConfig.distributed.backend", value, DISTRIBUTED_BACKENDS)

    @field_validator("timeout_s")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if _finite("TrainConfig.distributed.timeout_s", value) <= 0:
            raise ValueError(f"TrainConfig.distributed.timeout_s must be positive, got {value}")
        return value


class TrainConfig(BaseModel):
    """Hyper-parameters and runtime options of one training run.

    Attributes:
        epochs: maximum number of epochs.
        batch_size: samples per optimisation step.
        learning_rate: Adam learning rate (paper: 1e-3).
        learning_rate_schedule: ``constant`` (paper) or ``cosine``: decay per epoch from
            ``learning_rate`` towards 0 over ``epochs`` (a short run ends with small, precise steps).
        patience: epochs without a lower validation loss before stopping early.
        min_epochs: epochs always run before early stopping may end the run (0: from the first
            epoch, as before). A detector can sit at the ln 2 plateau for its first epochs and
            take off later; stopping there leaves a detector at chance. At or above ``epochs``
            early stopping never acts (not an error: a backbone override may shorten ``epochs``).
        image_size: side of the square the model sees; a multiple of 32.
        input_mode: detectors only: ``resize`` (the paper's: the whole image resized to
            ``image_size``) or ``crop`` (an ``image_size`` crop: random in training, the centre in
            evaluation and serving; keeps a generator's pixel-level traces). Segmenters: ``resize``.
        load_size: ``crop`` only: the shorter side images are resized to before cropping
            (``None``: crop at the image's own resolution).
        num_workers: DataLoader worker processes; ``None`` picks per device (0 on CPU, where the
            two compute threads need the cores; several on CUDA).
        seed: seed of initialisation, shuffling and augmentation.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"`` (``"cuda:N"`` also accepted).
        amp: mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling) and
            channels-last memory format; ignored on CPU.
        max_batches_per_epoch: cap on training batches per epoch (quick runs); ``None``: all.
        sample_cache: where decoded, resized images are kept between epochs: ``memory``,
            ``disk`` (files keyed by content and preprocessing under the data cache folder, reused
            by later runs), ``none``, or ``auto`` (memory up to ~2 GB, disk beyond).
        deterministic: request deterministic kernels (CPU runs are reproducible either way; on
            CUDA this trades some speed for bitwise-repeatable runs).
        augment: apply the training augmentation.
        cpu_threads: intra-op CPU threads during training; ``None`` keeps torch's default (one
            per core). On a machine shared with other busy processes, 1 avoids a collapse
            measured at 10-40x on 2 cores (threads waiting at barriers for descheduled partners).
        batch_norm_recalibration_batches: training batches over which BatchNorm statistics are
            re-estimated after each epoch, before validation (see
            ``facetransfer.training.loop.recalibrate_batch_norm``); 0 disables it.
        class_weight_power: segmentation only: exponent of the median-frequency class weights
            (1: original balancing, 0.5: square root, 0: unweighted; see
            ``facetransfer.training.losses``).
        transferred_learning_rate_scale: detectors only: learning-rate multiplier of the layers
            that start from a trained model (backbone, ASPP and decoder copied from the segmenter
            for ``last``/``all``; the backbone when ImageNet weights were loaded for ``none``).
            The new detection head always trains at ``learning_rate``; fine-tuning practice puts
            transferred layers at 0.1x or less so the first steps of a random head do not
            destroy them. 1 (the paper's single rate) by default.
        horizontal_flip: detectors only: the training flip (half the images), ``grid`` (mirror, then
            one column right so every pixel keeps its column parity and a generator's period-2
            up-sampling traces keep their sign), ``mirror`` (the plain flip of earlier
            versions: inverts those traces on half the fakes, which left detectors at the ln 2
            plateau) or ``none``. Segmenters always use the paper's plain flip with label swap.
        blur_jpeg_prob: detectors only: probability of each of Gaussian blur (sigma ~ U[0, 3])
            and JPEG re-compression (quality ~ U[30, 100]) in training augmentation (CNNDetection's
            "Blur+JPEG (p)"; 0 disables them).
        distributed: data-parallel processes (``DistributedConfig``; a mapping is accepted).
            ``batch_size`` stays the global batch: each of N processes takes ``batch_size / N``,
            so N changes the speed, not the optimisation (and is not part of the checkpoint key).
    """

    model_config = _SETTINGS

    epochs: int = 30
    batch_size: int = 8
    learning_rate: float = 1e-3
    learning_rate_schedule: str = "constant"
    patience: int = 5
    min_epochs: int = 0
    image_size: int = 128
    num_workers: int | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    max_batches_per_epoch: int | None = None
    sample_cache: str = "auto"
    deterministic: bool = True
    augment: bool = True
    cpu_threads: int | None = None
    batch_norm_recalibration_batches: int = 16
    class_weight_power: float = 1.0
    input_mode: str = "resize"
    load_size: int | None = None
    horizontal_flip: str = "grid"
    blur_jpeg_prob: float = 0.0
    transferred_learning_rate_scale: float = 1.0
    # A mapping is validated into a DistributedConfig (nested models accept dicts in strict mode).
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)

    @field_validator("epochs", "batch_size", "patience")
    @classmethod
    def _at_least_one(cls, value: int, info: ValidationInfo) -> int:
        if value < 1:
            raise ValueError(f"TrainConfig.{info.field_name} must be at least 1, got {value}")
        return value

    @field_validator("learning_rate", "transferred_learning_rate_scale")
    @classmethod
    def _positive(cls, value: float, info: ValidationInfo) -> float:
        if _finite(f"TrainConfig.{info.field_name}", value) <= 0:
            raise ValueError(f"TrainConfig.{info.field_name} must be positive, got {value}")
        return value

    @field_validator("batch_norm_recalibration_batches", "class_weight_power", "min_epochs")
    @classmethod
    def _not_negative(cls, value: float, info: ValidationInfo) -> float:
        if _finite(f"TrainConfig.{info.field_name}", value) < 0:
            raise ValueError(f"TrainConfig.{info.field_name} must be >= 0, got {value}")
        return value

    @field_validator("num_workers")
    @classmethod
    def _workers_or_none(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError(f"TrainConfig.num_workers must be >= 0 or None, got {value}")
        return value

    @field_validator("cpu_threads", "max_batches_per_epoch")
    @classmethod
    def _at_least_one_or_none(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"TrainConfig.{info.field_name} must be >= 1 or None, got {value}")
        return value

    @field_validator("learning_rate_schedule", "input_mode", "sample_cache", "horizontal_flip")
    @classmethod
    def _known_choice(cls, value: str, info: ValidationInfo) -> str:
        return _one_of(f"TrainConfig.{info.field_name}", value, _CHOICES[str(info.field_name)])

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not DEVICE_PATTERN.fullmatch(value):
            raise ValueError(
                f"TrainConfig.device must be one of {', '.join(DEVICES)} or cuda:N (N a GPU index), "
                f"got {value!r}"
            )
        return value

    @field_validator("image_size")
    @classmethod
    def _multiple_of_32(cls, value: int) -> int:
        if value < 32 or value % 32:
            raise ValueError(f"TrainConfig.image_size must be a positive multiple of 32, got {value}")
        return value

    @field_validator("blur_jpeg_prob")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"TrainConfig.blur_jpeg_prob must be within [0, 1], got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.batch_size % self.distributed.nproc:
            raise ValueError(
                f"TrainConfig.batch_size is the global batch, split evenly over distributed.nproc "
                f"processes: {self.batch_size} is not a multiple of {self.distributed.nproc}"
            )
        if self.load_size is not None and (self.input_mode != "crop" or self.load_size < self.image_size):
            raise ValueError(
                f"TrainConfig.load_size ({self.load_size}) needs input_mode 'crop' and must be at least "
                f"image_size ({self.image_size})"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (for logging as run parameters)."""
        return self.model_dump()

    def preprocessing(self, backbone: str) -> Preprocessing:
        """The model's input settings: mode, sizes and ``backbone``'s normalisation."""
        return Preprocessing.for_backbone(backbone, self.image_size, self.input_mode, self.load_size)
