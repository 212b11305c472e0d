"""transfer_pipeline: face-parsing data and real/generated images in, a champion detector out.

    ingest_segmentation_data -> split -> validate --> train_segmenter[b] -> evaluate_segmenter[b]
                                                           |  (weights: last, all)
    ingest_detection_data -> split -> validate --+--> train_detector[b x v x seed] -> evaluate_detector[...]
                                                 +--> evaluate_champion (first: the model in service)
    compare_models (Table 1, Table 2, best by mean validation) -+-> register_and_promote (MLflow registry)
                                                           +-> explain_best_detector (regions per generator)

Wiring only: every step calls ``facetransfer``. Run with
``zenml pipeline run pipelines.transfer_pipeline -c zenml_config.yaml``.
"""

from typing import Any

from zenml import pipeline
from zenml.config import ResourceSettings
from zenml.enums import ExecutionMode

from facetransfer.config import (
    DataSettings,
    EvaluationSettings,
    ModelTrainingSettings,
    PromotionSettings,
    RunConfig,
)
from facetransfer.faces.face_settings import FaceSettings
from facetransfer.models import BACKBONES, VARIANTS
from facetransfer.validation import ValidationBounds
from steps import (
    compare_models,
    evaluate_champion,
    evaluate_detector,
    evaluate_segmenter,
    explain_best_detector,
    ingest_detection_data,
    ingest_segmentation_data,
    register_and_promote,
    split_data,
    train_detector,
    train_segmenter,
    validate_detection_data,
    validate_segmentation_data,
)
from steps.hooks import record_failure


@pipeline(
    # Each cached step keys its cache on the library code it runs (steps/caching.py).
    enable_cache=True,
    on_failure=record_failure,
    # A failed step (e.g. data validation) stops the run: nothing downstream, nothing unrelated.
    execution_mode=ExecutionMode.STOP_ON_FAILURE,
)
def transfer_pipeline(
    data: DataSettings,
    validation: ValidationBounds = ValidationBounds(),  # noqa: B008 - immutable pydantic defaults
    segmenter: ModelTrainingSettings = ModelTrainingSettings(),  # noqa: B008
    detector: ModelTrainingSettings = ModelTrainingSettings(),  # noqa: B008
    evaluation: EvaluationSettings = EvaluationSettings(),  # noqa: B008
    promotion: PromotionSettings = PromotionSettings(),  # noqa: B008
    backbones: list[str] = list(BACKBONES),  # noqa: B006
    variants: list[str] = list(VARIANTS),  # noqa: B006
    training_resources: ResourceSettings = ResourceSettings(),  # noqa: B008
    faces: FaceSettings = FaceSettings(),  # noqa: B008
) -> None:
    """Train the face parser per backbone, transfer it into detectors, evaluate, promote.

    Args:
        data: sources, cache, DVC pointer, split.
        validation: bounds of the great-expectations suites.
        segmenter: segmenter training settings.
        detector: detector training settings.
        evaluation: threshold rule and evaluation batch size.
        promotion: selection metric, promotion metric and tolerance, registered model names.
        backbones: backbones to train (``resnet50``, ``mobilenet_v3_large``).
        variants: detector variants per backbone (``none``, ``last``, ``all``).
        training_resources: ZenML resource request of the training steps (e.g. ``gpu_count: 1``),
            so orchestrators that schedule by resources place them on GPU nodes.
        faces: how ``faces: align`` detection sources are cut into aligned face crops.
    """
    config = RunConfig(
        data=data,
        validation=validation,
        segmenter=segmenter,
        detector=detector,
        evaluation=evaluation,
        promotion=promotion,
        backbones=backbones,
        variants=variants,
        training_resources=training_resources.model_dump(exclude_none=True),
        faces=faces,
    )
    segmentation_data, detection_data, reports = _ingest_split_validate(data, validation, promotion, faces)
    champion = evaluate_champion(detection_data, promotion, evaluation)
    segmenter_evaluations, detector_evaluations = [], []
    for backbone in config.backbones:
        model, report, evaluated = _segmenter(
            backbone, segmentation_data, segmenter, data, evaluation, training_resources
        )
        segmenter_evaluations.append(evaluated)
        seeds = config.detector.seed_list()
        detector_evaluations += [
            _detector(
                backbone,
                variant,
                (seed, len(seeds) > 1),
                detection_data,
                (model, report),
                detector,
                data,
                evaluation,
                training_resources,
            )
            for variant in config.variants
            for seed in seeds
        ]
    comparison = compare_models(
        segmenter_evaluations, detector_evaluations, promotion, config.model_dump(mode="json"), champion
    )
    register_and_promote(comparison, champion, *reports, promotion)
    explain_best_detector(comparison, detection_data, evaluation.explain_images_per_generator)


def _ingest_split_validate(
    data: DataSettings, validation: ValidationBounds, promotion: PromotionSettings, faces: FaceSettings
) -> tuple[Any, Any, tuple[Any, Any]]:
    """Both manifests, split and validated, and the two ingestion reports."""
    segmentation_manifest, segmentation_report = ingest_segmentation_data(data=data)
    detection_manifest, detection_report, face_presence = ingest_detection_data(
        data=data, promotion=promotion, faces=faces
    )
    split = (data.split_ratios, data.split_seed)
    segmentation_split, _ = split_data.with_options(substitutions={"kind": "segmentation"})(
        segmentation_manifest, *split, id="split_segmentation_data"
    )
    detection_split, _ = split_data.with_options(substitutions={"kind": "detection"})(
        detection_manifest, *split, id="split_detection_data"
    )
    tolerances = {source.name: source.unknown_color_tolerance for source in data.segmentation_sources}
    segmentation_data, _, _ = validate_segmentation_data(
        segmentation_split, validation, data.class_scheme, tolerances
    )
    detection_data, _, _ = validate_detection_data(detection_split, validation, face_presence)
    return segmentation_data, detection_data, (segmentation_report, detection_report)


def _segmenter(
    backbone: str,
    manifest: Any,
    settings: ModelTrainingSettings,
    data: DataSettings,
    evaluation: EvaluationSettings,
    resources: ResourceSettings,
) -> tuple[Any, Any, Any]:
    """Train and evaluate the segmenter of ``backbone`` (after the champion was measured)."""
    names = {"backbone": backbone}
    settings = settings.for_backbone(backbone)
    model, report = train_segmenter.with_options(substitutions=names, settings={"resources": resources})(
        manifest,
        backbone,
        settings,
        data.class_scheme,
        data.cache_location,
        id=f"train_segmenter_{backbone}",
        after="evaluate_champion",
    )
    evaluated = evaluate_segmenter.with_options(substitutions=names)(
        model,
        manifest,
        report,
        evaluation.batch_size,
        evaluation.overlay_examples,
        data.class_scheme,
        id=f"evaluate_segmenter_{backbone}",
    )
    return model, report, evaluated


def _detector(
    backbone: str,
    variant: str,
    seed: tuple[int, bool],
    manifest: Any,
    segmenter: tuple[Any, Any],
    settings: ModelTrainingSettings,
    data: DataSettings,
    evaluation: EvaluationSettings,
    resources: ResourceSettings,
) -> Any:
    """Train and evaluate one detector variant with one seed; ``none`` does not depend on the segmenter.

    ``seed`` is ``(seed, named)``: with several seeds (``detector.seeds``) step ids, artifact and
    MLflow run names end in ``_seed<k>``; a single seed keeps the names of one-seed runs.
    """
    value, named = seed
    suffix = f"_seed{value}" if named else ""
    names = {"backbone": backbone, "variant": f"{variant}{suffix}"}
    settings = settings.for_backbone(backbone).for_seed(value)
    model, report = segmenter
    transfer = {} if variant == "none" else {"segmenter": model, "segmenter_report": report}
    detector_model, detector_report = train_detector.with_options(
        substitutions=names, settings={"resources": resources}
    )(
        manifest,
        backbone,
        variant,
        settings,
        data.cache_location,
        seed_in_name=named,
        id=f"train_detector_{backbone}_{variant}{suffix}",
        after="evaluate_champion",
        **transfer,
    )
    return evaluate_detector.with_options(substitutions=names)(
        detector_model,
        manifest,
        detector_report,
        evaluation,
        id=f"evaluate_detector_{backbone}_{variant}{suffix}",
    )
