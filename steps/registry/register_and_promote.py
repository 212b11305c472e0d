"""Step: register the best models and promote the detector if it beats the champion."""

from typing import Annotated

from zenml import step

from facetransfer.config import PromotionSettings
from facetransfer.workflow.ingestion import run_data_identity
from facetransfer.workflow.registration import register_and_promote as register
from steps.context import provenance_tags


@step(enable_cache=False, experiment_tracker=True)
def register_and_promote(
    comparison: dict,
    champion: dict,
    segmentation_report: dict,
    detection_report: dict,
    promotion: PromotionSettings,
) -> Annotated[dict, "promotion_decision"]:
    """Register ``face-segmenter`` and ``deepfake-detector`` versions; move the ``champion`` alias
    only if the new detector beats the champion on the current test split and stays within the
    tolerance on every generator the champion was evaluated on (else alias ``challenger``).

    Returns:
        The decision and its reason, the registered versions and the comparison rows.
    """
    data_hash = run_data_identity(segmentation_report["data_identity"], detection_report["data_identity"])
    tags = provenance_tags(
        data_hash=data_hash,
        data_dvc_md5=detection_report.get("data_dvc_md5") or "untracked",
        segmentation_data_hash=segmentation_report["data_hash"],
        detection_data_hash=detection_report["data_hash"],
    )
    faces = (detection_report.get("faces") or {}).get("settings")
    return register(comparison, champion, settings=promotion, provenance=tags, faces=faces)
