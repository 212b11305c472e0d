"""Evaluation: detection and segmentation metrics, calibration, model prediction over manifests, plots."""

from facetransfer.evaluation.calibration import (
    Calibration,
    TemperatureScaledDetector,
    calibrated_scores,
    calibrated_threshold,
    calibration_table,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
    reliability_bins,
    reliability_figure,
    score_logits,
)
from facetransfer.evaluation.detection_metrics import (
    THRESHOLD_RULES,
    choose_threshold,
    detection_metrics,
    equal_error_rate,
    grouped_detection_metrics,
)
from facetransfer.evaluation.interval_tables import FEW_IMAGES, format_interval, interval_markdown
from facetransfer.evaluation.intervals import (
    INTERVAL_METRICS,
    interval_keys,
    metric_intervals,
    paired_bootstrap,
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
    "FEW_IMAGES",
    "INTERVAL_METRICS",
    "THRESHOLD_RULES",
    "Calibration",
    "SegmentationConfusion",
    "TemperatureScaledDetector",
    "calibrated_scores",
    "calibrated_threshold",
    "calibration_table",
    "choose_threshold",
    "colorize_mask",
    "confusion_matrix_figure",
    "detection_confusion_matrix",
    "detection_metrics",
    "equal_error_rate",
    "evaluate_segmenter",
    "expected_calibration_error",
    "fit_calibration",
    "fit_temperature",
    "format_interval",
    "grouped_detection_metrics",
    "interval_keys",
    "interval_markdown",
    "metric_intervals",
    "paired_bootstrap",
    "predict_scores",
    "reliability_bins",
    "reliability_figure",
    "robustness_figure",
    "roc_curves_figure",
    "save_figure",
    "score_logits",
    "segmentation_examples",
    "segmentation_overlay_figure",
]
