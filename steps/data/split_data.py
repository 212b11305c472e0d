"""Step: leakage-free train/val/test split of a manifest."""

from typing import Annotated

import pandas as pd
from zenml import step

from facetransfer.config import DataSettings
from facetransfer.workflow.ingestion import split
from steps.materializers import ContentHashedDataFrameMaterializer


@step(output_materializers={"{kind}_split_manifest": ContentHashedDataFrameMaterializer})
def split_data(
    manifest: pd.DataFrame, data: DataSettings
) -> tuple[Annotated[pd.DataFrame, "{kind}_split_manifest"], Annotated[dict, "{kind}_split_report"]]:
    """Assign each row to train, val or test.

    Seeded and stable (a file keeps its split when others are added); identical files and
    images of one identity always share a split.

    Args:
        manifest: an unsplit manifest.
        data: split ratios and seed.

    Returns:
        The split manifest and counts per split and per stratum.
    """
    split_manifest, report = split(manifest, data)
    return split_manifest, report
