"""The expectations of the data suites and the tables they run on.

Every expectation has a stable name (stored in the GX expectation's ``meta``) so a failure can be
named in messages, reports and tests. Properties that are not a column of the manifest (a hash
present in two splits, the size of a generator) become derived columns or small summary tables
computed with pandas first; GX then checks them like any other column.

Tables:

* ``manifest``: the manifest plus ``splits_per_sha256`` (a face crop counts with the picture it was
  cut from, ``source_sha256``), ``splits_per_identity``, ``rows_per_generator`` and
  ``rows_per_source``.
* ``splits``: one row per split (train, val, test) with ``n_real``, ``n_fake``, ``min_label_count``.
* ``masks``: ``facetransfer.validation.mask_statistics`` of the segmentation rows.
* ``faces``: ``face_presence_table``: per ``faces: align`` source, the pictures that yielded a face
  crop and those quarantined without one (it needs the ingestion's quarantine table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from facetransfer.ingestion.splitting import SPLITS
from facetransfer.quarantine import QuarantineCheck
from facetransfer.validation.bounds import ValidationBounds


@dataclass(frozen=True)
class ExpectationSpec:
    """One named expectation.

    Attributes:
        name: stable identifier (``sha256_in_one_split``, ...).
        description: what it checks, in words.
        table: ``manifest``, ``splits`` or ``masks``.
        expectation: GX expectation class name in ``great_expectations.expectations``.
        arguments: keyword arguments of that class.
        row_level: failing rows identify bad data rows (they can be quarantined).
    """

    name: str
    description: str
    table: str
    expectation: str
    arguments: dict[str, Any] = field(default_factory=dict)
    row_level: bool = True

    def build(self, expectations_module: Any) -> Any:
        """The GX expectation object, its ``meta`` carrying the name."""
        factory = getattr(expectations_module, self.expectation)
        return factory(**self.arguments, meta={"name": self.name}, description=self.description)


def manifest_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The manifest with the derived columns its expectations check."""
    table = frame.copy()
    table["splits_per_sha256"] = table.groupby("sha256", dropna=False)["split"].transform("nunique")
    if "source_sha256" in table and table["source_sha256"].notna().any():
        # the crops of a picture, and any identical copy of the picture itself, are one file here
        picture = table["source_sha256"].where(table["source_sha256"].notna(), table["sha256"])
        per_picture = table.groupby(picture)["split"].transform("nunique")
        table["splits_per_sha256"] = np.maximum(table["splits_per_sha256"], per_picture)
    if "identity" in table and table["identity"].notna().any():
        table["splits_per_identity"] = table.groupby("identity")["split"].transform("nunique")
    else:
        table["splits_per_identity"] = pd.Series(float("nan"), index=table.index)
    generators = table["generator"] if "generator" in table else pd.Series(None, index=table.index)
    table["rows_per_generator"] = generators.map(generators.value_counts()).astype("float64")
    table["rows_per_source"] = table["source"].map(table["source"].value_counts())
    return table


def splits_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Real and generated image counts of each split (a missing split counts zero)."""
    counts = frame.groupby(["split", "label"]).size().unstack("label", fill_value=0)
    counts = counts.reindex(index=list(SPLITS), columns=[0, 1], fill_value=0)
    table = pd.DataFrame(
        {"split": list(SPLITS), "n_real": counts[0].to_numpy(), "n_fake": counts[1].to_numpy()}
    )
    table["min_label_count"] = table[["n_real", "n_fake"]].min(axis=1)
    return table


NO_CROP_CHECKS = (QuarantineCheck.NO_FACE.value, QuarantineCheck.FACE_TOO_SMALL.value)
"""Quarantine checks of pictures that yielded no face crop."""


def face_presence_table(frame: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    """Per ``faces: align`` source: pictures with a face crop, pictures without, and their share.

    Args:
        frame: the manifest (crop rows carry ``source_path``).
        quarantine: the ingestion's quarantine table (``source``, ``check``).

    Returns:
        Columns ``source``, ``with_faces``, ``no_face``, ``face_too_small``, ``pictures`` and
        ``no_face_share`` (``(no_face + face_too_small) / pictures``); no row for sources whose
        pictures were used as they are.
    """
    crops = frame[frame["source_path"].notna()] if "source_path" in frame else frame.iloc[0:0]
    with_faces = crops.groupby("source")["source_path"].nunique()
    without = quarantine[quarantine["check"].isin(NO_CROP_CHECKS)]
    counts = without.groupby(["source", "check"]).size().unstack("check", fill_value=0)
    sources = sorted(set(with_faces.index) | set(counts.index))
    counts = counts.reindex(index=sources, columns=list(NO_CROP_CHECKS), fill_value=0)
    table = pd.DataFrame(
        {
            "source": sources,
            "with_faces": with_faces.reindex(sources, fill_value=0).to_numpy(dtype="int64"),
            **{check: counts[check].to_numpy(dtype="int64") for check in NO_CROP_CHECKS},
        }
    )
    without_crop = table["no_face"] + table["face_too_small"]
    table["pictures"] = table["with_faces"] + without_crop
    table["no_face_share"] = (without_crop / table["pictures"]).astype("float64")
    return table


def _spec(
    name: str, description: str, table: str, expectation: str, *, row_level: bool = True, **arguments: Any
) -> ExpectationSpec:
    return ExpectationSpec(name, description, table, expectation, arguments, row_level)


_NOT_NULL = "ExpectColumnValuesToNotBeNull"
_BETWEEN = "ExpectColumnValuesToBeBetween"
_IN_SET = "ExpectColumnValuesToBeInSet"
_MEAN_BETWEEN = "ExpectColumnMeanToBeBetween"


def image_specs(bounds: ValidationBounds) -> list[ExpectationSpec]:
    """Expectations every manifest must meet (detection and segmentation)."""
    width, height = (bounds.min_width, bounds.max_width), (bounds.min_height, bounds.max_height)
    modes = list(bounds.allowed_modes)
    return [
        _spec("path_not_null", "every row has an image path", "manifest", _NOT_NULL, column="path"),
        _spec("sha256_not_null", "every row has a content hash", "manifest", _NOT_NULL, column="sha256"),
        _spec("width_in_bounds", f"width within {list(width)} px", "manifest", _BETWEEN,
              column="width", min_value=width[0], max_value=width[1]),
        _spec("height_in_bounds", f"height within {list(height)} px", "manifest", _BETWEEN,
              column="height", min_value=height[0], max_value=height[1]),
        _spec("mode_allowed", f"image mode in {modes}", "manifest", _IN_SET, column="mode", value_set=modes),
        _spec("split_known", f"split in {list(SPLITS)}", "manifest", _IN_SET,
              column="split", value_set=list(SPLITS)),
        _spec("sha256_in_one_split", "identical files (same sha256), and the face crops of one picture, "
              "never in two splits", "manifest", _BETWEEN, column="splits_per_sha256", max_value=1),
        _spec("identity_in_one_split", "one identity never in two splits", "manifest", _BETWEEN,
              column="splits_per_identity", max_value=1),
        _spec("source_min_images", f"every source has at least {bounds.min_images_per_source} images",
              "manifest", _BETWEEN, column="rows_per_source", min_value=bounds.min_images_per_source),
    ]  # fmt: skip


def detection_specs(bounds: ValidationBounds) -> list[ExpectationSpec]:
    """Expectations of a detection manifest (real vs generated)."""
    # The mean label is the fake share f; real:fake = (1 - f) / f, so r in [a, b] <=> f in [1/(1+b), 1/(1+a)].
    low, high = 1.0 / (1.0 + bounds.max_real_to_fake), 1.0 / (1.0 + bounds.min_real_to_fake)
    ratio = f"[{bounds.min_real_to_fake}, {bounds.max_real_to_fake}]"
    minimum = bounds.min_images_per_generator
    return [
        *image_specs(bounds),
        _spec("label_binary", "label is 0 (real) or 1 (generated)", "manifest", _IN_SET,
              column="label", value_set=[0, 1]),
        _spec("generator_min_images", f"every generator has at least {minimum} images", "manifest",
              _BETWEEN, column="rows_per_generator", min_value=minimum),
        _spec("real_fake_ratio_in_bounds", f"real:generated ratio within {ratio} (generated share "
              f"within [{low:.3f}, {high:.3f}])", "manifest", _MEAN_BETWEEN, row_level=False,
              column="label", min_value=low, max_value=high),
        _spec("split_has_both_labels", "every split has real and generated images", "splits", _BETWEEN,
              row_level=False, column="min_label_count", min_value=1),
    ]  # fmt: skip


def face_presence_specs(bounds: ValidationBounds) -> list[ExpectationSpec]:
    """Expectations of the ``faces`` table (``face_presence_table``) of a detection manifest."""
    share = bounds.max_no_face_share
    return [
        _spec("no_face_share_in_bounds", f"at most {share:.0%} of the pictures of each faces: align source "
              "yield no face crop (no_face or face_too_small)", "faces", _BETWEEN, row_level=False,
              column="no_face_share", max_value=share),
    ]  # fmt: skip


def segmentation_specs(bounds: ValidationBounds, class_names: list[str]) -> list[ExpectationSpec]:
    """Expectations of segmentation data: the manifest's images and the per-mask statistics."""
    share = bounds.min_face_share
    specs = [
        *image_specs(bounds),
        _spec("mask_path_not_null", "every segmentation image has a mask", "manifest", _NOT_NULL,
              column="mask_path"),
        _spec("mask_readable", "every mask file can be decoded", "masks", _IN_SET,
              column="readable", value_set=[True]),
        _spec("no_unknown_mask_colors", "no mask has more pixels of a colour/index outside the class scheme "
              "than its source's unknown_color_tolerance", "masks", "ExpectColumnPairValuesAToBeGreaterThanB",
              column_A="unknown_tolerance", column_B="unknown_pixels", or_equal=True),
        _spec("mask_size_matches_image", "every mask has its image's size", "masks", _IN_SET,
              column="size_matches", value_set=[True]),
        _spec("face_present", f"the face class is present in at least {share:.0%} of masks", "masks", _IN_SET,
              column="face_present", value_set=[True], mostly=share),
    ]  # fmt: skip
    for name in class_names:
        if name in bounds.class_share_bounds:
            low, high = bounds.class_share_bounds[name]
            specs.append(
                _spec(
                    f"class_share_{name}",
                    f"mean pixel share of {name} within [{low}, {high}]",
                    "masks",
                    _MEAN_BETWEEN,
                    row_level=False,
                    column=f"share_{name}",
                    min_value=low,
                    max_value=high,
                )
            )
    return specs
