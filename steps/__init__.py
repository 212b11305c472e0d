"""ZenML steps of the pipelines: thin wrappers that call ``facetransfer``, one per file."""

from steps.data.ingest_detection_data import ingest_detection_data
from steps.data.ingest_segmentation_data import ingest_segmentation_data
from steps.data.split_data import split_data
from steps.evaluation.compare_models import compare_models
from steps.evaluation.evaluate_champion import evaluate_champion
from steps.evaluation.evaluate_detector import evaluate_detector
from steps.evaluation.evaluate_segmenter import evaluate_segmenter
from steps.evaluation.explain_best_detector import explain_best_detector
from steps.evaluation.summarize_generalization import summarize_generalization
from steps.evaluation.train_and_score_fold import train_and_score_fold
from steps.registry.register_and_promote import register_and_promote
from steps.training.train_detector import train_detector
from steps.training.train_segmenter import train_segmenter
from steps.validation.validate_detection_data import validate_detection_data
from steps.validation.validate_segmentation_data import validate_segmentation_data

__all__ = [
    "compare_models",
    "evaluate_champion",
    "evaluate_detector",
    "evaluate_segmenter",
    "explain_best_detector",
    "ingest_detection_data",
    "ingest_segmentation_data",
    "register_and_promote",
    "split_data",
    "summarize_generalization",
    "train_and_score_fold",
    "train_detector",
    "train_segmenter",
    "validate_detection_data",
    "validate_segmentation_data",
]
