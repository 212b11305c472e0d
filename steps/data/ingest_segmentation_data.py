"""Step: read the face-parsing sources into a manifest (DVC-aware)."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from facetransfer.config import DataSettings
from facetransfer.workflow.ingestion import ingest_and_log
from steps.context import project_root
from steps.materializers import ContentHashedDataFrameMaterializer


@step(
    enable_cache=False,  # must look at the files; downstream caching follows the manifest's content
    experiment_tracker=True,
    output_materializers={"segmentation_manifest": ContentHashedDataFrameMaterializer},
)
def ingest_segmentation_data(
    data: DataSettings,
) -> tuple[Annotated[pd.DataFrame, "segmentation_manifest"], Annotated[dict, "segmentation_ingest_report"]]:
    """Build the segmentation manifest (image + mask pairs) of the configured sources.

    Args:
        data: data settings (sources, cache, DVC pointer).

    Returns:
        The unsplit manifest and the ingestion report (DVC md5, per-source fingerprints, counts,
        quarantined files with their reasons).
    """
    manifest, report = ingest_and_log(data, "segmentation", base=project_root())
    log_metadata(
        {
            "data_hash": report["data_hash"],
            "data_dvc_md5": str(report["data_dvc_md5"]),
            "rows": len(manifest),
            "quarantined": report["quarantined"],
        },
        infer_artifact=True,
        artifact_name="segmentation_manifest",
    )
    return manifest, report
