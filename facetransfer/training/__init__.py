"""Training: configuration, device policy, losses, loops, checkpoints and the two training tasks.

The pipeline steps call ``train_segmenter`` and ``train_detector``; the lower-level pieces
(``fit``, ``train_one_epoch``, ``evaluate``) are public for custom loops and tests.
"""

from facetransfer.runtime.device import DeviceSettings, device_settings, resolve_device
from facetransfer.training.distributed import DistributedTrainingError
from facetransfer.training.fit import EpochCallback, FitResult, fit
from facetransfer.training.loop import DetectionTask, SegmentationTask, evaluate, train_one_epoch
from facetransfer.training.losses import (
    detection_criterion,
    detection_pos_weight,
    median_frequency_weights,
    pixel_class_counts,
    segmentation_criterion,
)
from facetransfer.training.results import DetectorTrainingResult, SegmenterTrainingResult, TrainingResult
from facetransfer.training.settings import DistributedConfig, TrainConfig
from facetransfer.training.tasks import train_detector, train_segmenter

__all__ = [
    "DetectionTask",
    "DetectorTrainingResult",
    "DeviceSettings",
    "DistributedConfig",
    "DistributedTrainingError",
    "EpochCallback",
    "FitResult",
    "SegmentationTask",
    "SegmenterTrainingResult",
    "TrainConfig",
    "TrainingResult",
    "detection_criterion",
    "detection_pos_weight",
    "device_settings",
    "evaluate",
    "fit",
    "median_frequency_weights",
    "pixel_class_counts",
    "resolve_device",
    "segmentation_criterion",
    "train_detector",
    "train_one_epoch",
    "train_segmenter",
]
