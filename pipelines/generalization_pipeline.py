"""generalization_pipeline: will a detector catch a generator it has never seen?

    ingest_segmentation_data -> split -> validate --> train_segmenter[b]  (transfer_pipeline's step:
                                                           |               served from its cache)
    ingest_detection_data -> split -> validate ----------+--> train_and_score_fold[b x v x fold]
                                                                  |  fold: leave_out g (all but g),
                                                                  |        train_on_one g (only g)
    summarize_generalization (generators x generators ROC-AUC / AP, mean unseen ROC-AUC, transfer table)

Wiring only: every step calls ``facetransfer``. Run with
``zenml pipeline run pipelines.generalization_pipeline -c configs/generalization.yaml``. Its MLflow
run is in the product's experiment (``transfer_pipeline``), next to the runs of the main job.

The ingestion, split, validation and segmenter steps are transfer_pipeline's, invoked with the
same ids and inputs, so with the same ``data``, ``validation`` and ``segmenter`` blocks as
``zenml_config.yaml`` the segmenters come from ZenML's cache once the main job has trained them.
"""

from zenml import pipeline
from zenml.config import ResourceSettings
from zenml.enums import ExecutionMode

from facetransfer.config import DataSettings, EvaluationSettings, ModelTrainingSettings, PromotionSettings
from facetransfer.faces.face_settings import FaceSettings
from facetransfer.models import VARIANTS
from facetransfer.tracking.store import EXPERIMENT_NAME
from facetransfer.validation import ValidationBounds
from facetransfer.workflow.generalization import GeneralizationSettings
from pipelines.transfer_pipeline import _ingest_split_validate
from steps import summarize_generalization, train_and_score_fold, train_segmenter
from steps.hooks import record_failure


@pipeline(
    enable_cache=True,
    on_failure=record_failure,
    execution_mode=ExecutionMode.STOP_ON_FAILURE,
    settings={"experiment_tracker": {"experiment_name": EXPERIMENT_NAME}},
)
def generalization_pipeline(
    data: DataSettings,
    generalization: GeneralizationSettings,
    validation: ValidationBounds = ValidationBounds(),  # noqa: B008 - immutable pydantic defaults
    segmenter: ModelTrainingSettings = ModelTrainingSettings(),  # noqa: B008
    detector: ModelTrainingSettings = ModelTrainingSettings(),  # noqa: B008
    evaluation: EvaluationSettings = EvaluationSettings(),  # noqa: B008
    promotion: PromotionSettings = PromotionSettings(),  # noqa: B008
    backbones: list[str] = ["mobilenet_v3_large"],  # noqa: B006
    variants: list[str] = list(VARIANTS),  # noqa: B006
    training_resources: ResourceSettings = ResourceSettings(),  # noqa: B008
    faces: FaceSettings = FaceSettings(),  # noqa: B008
) -> None:
    """Leave-one-generator-out (and optionally train-on-one) detectors per backbone and variant.

    Args:
        data: sources, cache, DVC pointer, split (as ``zenml_config.yaml``, for the cache).
        generalization: the generators to hold out and whether to train on each alone.
        validation: bounds of the great-expectations suites.
        segmenter: segmenter training settings (as ``zenml_config.yaml``, for the cache).
        detector: detector training settings of every fold (one seed: ``detector.seeds`` may
            name one, not several).
        evaluation: scoring batch size and the bootstrap settings of the intervals.
        promotion: names the registered detector the ingestion report compares against.
        backbones: backbones to train.
        variants: detector variants per backbone (``none``, ``last``, ``all``).
        training_resources: ZenML resource request of the training steps.
        faces: how ``faces: align`` detection sources are cut into aligned face crops.
    """
    if len(detector.seed_list()) > 1:
        raise ValueError(
            f"detector.seeds {detector.seeds}: generalization_pipeline trains each fold once; give one "
            "seed (detector.train.seed) or run the pipeline once per seed"
        )
    detector = detector.for_seed(detector.seed_list()[0])
    segmentation_data, detection_data, _ = _ingest_split_validate(data, validation, promotion, faces)
    folds = []
    for backbone in backbones:
        segmenter_model, segmenter_report = train_segmenter.with_options(
            substitutions={"backbone": backbone}, settings={"resources": training_resources}
        )(
            segmentation_data,
            backbone,
            segmenter.for_backbone(backbone),
            data.class_scheme,
            data.cache_location,
            id=f"train_segmenter_{backbone}",
        )
        for variant in variants:
            transfer = (
                {}
                if variant == "none"
                else {"segmenter": segmenter_model, "segmenter_report": segmenter_report}
            )
            for setting, generator in generalization.folds():
                names = {"backbone": backbone, "variant": variant, "setting": setting, "generator": generator}
                folds.append(
                    train_and_score_fold.with_options(
                        substitutions=names, settings={"resources": training_resources}
                    )(
                        detection_data,
                        backbone,
                        variant,
                        setting,
                        generator,
                        detector.for_backbone(backbone),
                        data.cache_location,
                        evaluation.batch_size,
                        id=f"generalization_{backbone}_{variant}_{setting}_{generator}",
                        **transfer,
                    )
                )
    summarize_generalization(
        folds, evaluation.bootstrap_resamples, evaluation.confidence_level, evaluation.bootstrap_seed
    )
