"""Evaluation: detection and segmentation metrics, model prediction over manifests, plots."""

from facetransfer.evaluation.detection_metrics import (
    THRESHOLD_RULES,
    choose_threshold,
    detection_metrics,
    equal_error_rate,
    grouped_detection_metrics,
)
from facetransfer.evaluation.plots import (
    colorize_mask,
    confusion_matrix_figure,
    detection_confusion_matrix,
    robustness_figure,
    roc_curves_figure,
    save_figure,
    segmentation_overlay_figure,
)
from facetransfer.evaluation.prediction import evaluate_segmenter, predict_scores, segmentation_examples
from facetransfer.evaluation.segmentation_metrics import SegmentationConfusion

__all__ = [
    "THRESHOLD_RULES",
    "SegmentationConfusion",
    "choose_threshold",
    "colorize_mask",
    "confusion_matrix_figure",
    "detection_confusion_matrix",
    "detection_metrics",
    "equal_error_rate",
    "evaluate_segmenter",
    "grouped_detection_metrics",
    "predict_scores",
    "robustness_figure",
    "roc_curves_figure",
    "save_figure",
    "segmentation_examples",
    "segmentation_overlay_figure",
]
