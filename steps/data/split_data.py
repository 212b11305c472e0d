"""Step: leakage-free train/val/test split of a manifest."""

from typing import Annotated

import pandas as pd
from zenml import step

from facetransfer.workflow.ingestion import split
from steps.caching import library_cache_policy, step_library_code
from steps.materializers import ContentHashedDataFrameMaterializer

library_code = step_library_code(__name__)


@step(
    cache_policy=library_cache_policy(__name__),
    output_materializers={"{kind}_split_manifest": ContentHashedDataFrameMaterializer},
)
def split_data(
    manifest: pd.DataFrame, split_ratios: tuple[float, float, float], split_seed: int
) -> tuple[Annotated[pd.DataFrame, "{kind}_split_manifest"], Annotated[dict, "{kind}_split_report"]]:
    """Assign each row to train, val or test.

    Seeded and stable (a file keeps its split when others are added); identical files and
    images of one identity always share a split.

    Args:
        manifest: an unsplit manifest.
        split_ratios: train, validation and test shares (``data.split_ratios``).
        split_seed: the split seed (``data.split_seed``).

    Returns:
        The split manifest and counts per split and per stratum.
    """
    # Unpacked on purpose: ZenML reads a returned tuple literal as two outputs.
    split_manifest, report = split(manifest, split_ratios, split_seed)
    return split_manifest, report
