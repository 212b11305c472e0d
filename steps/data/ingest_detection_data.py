"""Step: read the real and generated image sources into a manifest (DVC-aware)."""

import logging
from typing import Annotated

import mlflow
import pandas as pd
from zenml import log_metadata, step

from facetransfer.config import DataSettings, PromotionSettings
from facetransfer.tracking.runs import log_json, log_table
from facetransfer.workflow.champion import champion_version, new_generators
from facetransfer.workflow.ingestion import ingest
from steps.context import project_root
from steps.materializers import ContentHashedDataFrameMaterializer

logger = logging.getLogger(__name__)


@step(
    enable_cache=False,  # must look at the files; downstream caching follows the manifest's content
    experiment_tracker=True,
    output_materializers={"detection_manifest": ContentHashedDataFrameMaterializer},
)
def ingest_detection_data(
    data: DataSettings, promotion: PromotionSettings
) -> tuple[Annotated[pd.DataFrame, "detection_manifest"], Annotated[dict, "detection_ingest_report"]]:
    """Build the detection manifest and list the generators the champion has never seen.

    Args:
        data: data settings (sources, cache, DVC pointer).
        promotion: names the registered detector whose champion is compared against.

    Returns:
        The unsplit manifest and the ingestion report, including ``new_generators``.
    """
    manifest, quarantine, report = ingest(data, "detection", base=project_root())
    champion = champion_version(promotion.detector_model)
    report["new_generators"] = new_generators(manifest, champion)
    report["champion_version"] = None if champion is None else str(champion.version)
    if champion is not None and report["new_generators"]:
        logger.info(
            "new generators since champion v%s: %s", champion.version, ", ".join(report["new_generators"])
        )
    mlflow.set_tags(
        {
            "data.generators": ",".join(report["generators"]),
            "data.new_generators": ",".join(report["new_generators"]) or "none",
        }
    )
    log_table(quarantine, "data/detection_quarantine")
    log_json(report.pop("sources"), "data/detection_sources.json")  # per-source reader reports
    log_json(report, "data/detection_ingest_report.json")
    log_metadata(
        {
            "data_hash": report["data_hash"],
            "data_dvc_md5": str(report["data_dvc_md5"]),
            "rows": len(manifest),
            "quarantined": len(quarantine),
            "generators": report["generators"],
            "new_generators": report["new_generators"],
        },
        infer_artifact=True,
        artifact_name="detection_manifest",
    )
    return manifest, report
