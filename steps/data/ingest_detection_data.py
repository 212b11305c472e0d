"""Step: read the real and generated image sources into a manifest (DVC-aware)."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from facetransfer.config import DataSettings, PromotionSettings
from facetransfer.faces.face_settings import FaceSettings
from facetransfer.workflow.ingestion import ingest_and_log
from steps.context import project_root
from steps.materializers import ContentHashedDataFrameMaterializer


@step(
    enable_cache=False,  # must look at the files; downstream caching follows the manifest's content
    experiment_tracker=True,
    output_materializers={
        "detection_manifest": ContentHashedDataFrameMaterializer,
        "detection_face_presence": ContentHashedDataFrameMaterializer,
    },
)
def ingest_detection_data(
    data: DataSettings, promotion: PromotionSettings, faces: FaceSettings
) -> tuple[
    Annotated[pd.DataFrame, "detection_manifest"],
    Annotated[dict, "detection_ingest_report"],
    Annotated[pd.DataFrame, "detection_face_presence"],
]:
    """Build the detection manifest and list the generators the champion has never seen.

    Args:
        data: data settings (sources, cache, DVC pointer).
        promotion: names the registered detector whose champion is compared against.
        faces: how ``faces: align`` sources are cut into aligned face crops.

    Returns:
        The unsplit manifest, the ingestion report (including ``new_generators``) and, per
        ``faces: align`` source, the pictures with and without a face crop (for validation).
    """
    manifest, report = ingest_and_log(
        data, "detection", base=project_root(), detector_model=promotion.detector_model, faces=faces
    )
    metadata = {key: report[key] for key in ("data_hash", "quarantined", "generators", "new_generators")}
    log_metadata(
        {**metadata, "data_dvc_md5": str(report["data_dvc_md5"]), "rows": len(manifest)},
        infer_artifact=True,
        artifact_name="detection_manifest",
    )
    return manifest, report, pd.DataFrame(report.pop("face_presence"))
