"""The cross-generator protocol's library parts: fold manifests, cells, intervals, the transfer table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facetransfer.evaluation.cross_generator import cell_matrix, cross_generator_cells
from facetransfer.evaluation.cross_generator_summary import transfer_table, variant_summary
from facetransfer.workflow.generalization import GeneralizationSettings, fold_manifest

GENERATORS = ("a", "b", "c")


def split_manifest() -> pd.DataFrame:
    """Four real and four generated images of each generator in every split."""
    rows = []
    for split in ("train", "val", "test"):
        rows += [
            {"path": f"{split}/real{i}.png", "label": 0, "generator": None, "split": split} for i in range(4)
        ]
        rows += [
            {"path": f"{split}/{g}{i}.png", "label": 1, "generator": g, "split": split}
            for g in GENERATORS
            for i in range(4)
        ]
    return pd.DataFrame(rows)


def generators_of(frame: pd.DataFrame, split: str) -> set[str]:
    return set(frame.loc[(frame["split"] == split) & (frame["label"] == 1), "generator"])


def test_leave_out_removes_the_generator_from_training_and_validation_only() -> None:
    manifest = split_manifest()
    fold = fold_manifest(manifest, "leave_out", "b")
    assert generators_of(fold, "train") == generators_of(fold, "val") == {"a", "c"}
    assert generators_of(fold, "test") == set(GENERATORS)
    assert (fold["label"] == 0).sum() == (manifest["label"] == 0).sum()


def test_train_on_one_keeps_only_that_generator_for_training() -> None:
    fold = fold_manifest(split_manifest(), "train_on_one", "c")
    assert generators_of(fold, "train") == generators_of(fold, "val") == {"c"}
    assert generators_of(fold, "test") == set(GENERATORS)


def test_a_generator_missing_from_the_data_is_refused_with_the_datas_list() -> None:
    with pytest.raises(ValueError, match=r"'pixel_shuffle'.*a, b, c.*add-generator"):
        fold_manifest(split_manifest(), "leave_out", "pixel_shuffle")


def test_a_fold_without_generated_training_images_is_refused() -> None:
    manifest = split_manifest()
    only_a = manifest[(manifest["label"] == 0) | (manifest["generator"] == "a")]
    with pytest.raises(ValueError, match="train split holds no generated image"):
        fold_manifest(only_a, "leave_out", "a")


def test_settings_refuse_repeated_generators_and_lay_out_the_folds() -> None:
    with pytest.raises(ValueError, match="more than once"):
        GeneralizationSettings(generators=["a", "a"])
    settings = GeneralizationSettings(generators=["a", "b"], train_on_one=True)
    assert settings.folds() == [
        ("leave_out", "a"),
        ("leave_out", "b"),
        ("train_on_one", "a"),
        ("train_on_one", "b"),
    ]


def scores_of(variant: str, held: str, catch: dict[str, float]) -> pd.DataFrame:
    """Test scores of one leave-one-out detector: reals near 0.3, each generator's fakes at ``catch[g]``."""
    rng = np.random.default_rng(len(variant) + ord(held))
    rows = [
        {"path": f"real{i}", "label": 0, "generator": None, "score": 0.3 + 0.1 * rng.random()}
        for i in range(12)
    ]
    rows += [
        {"path": f"{g}{i}", "label": 1, "generator": g, "score": catch[g] + 0.1 * rng.random()}
        for g in GENERATORS
        for i in range(8)
    ]
    return pd.DataFrame(rows).assign(
        backbone="mobilenet_v3_large", variant=variant, setting="leave_out", held_generator=held
    )


def constructed_cells(n_resamples: int = 200):
    """``none`` misses its held-out generator (fakes scored like reals); ``last`` catches every generator."""
    frames, trained = [], {}
    for variant in ("none", "last"):
        for held in GENERATORS:
            catch = {g: 0.8 for g in GENERATORS}
            if variant == "none":
                catch[held] = 0.3
            frames.append(scores_of(variant, held, catch))
            trained[("mobilenet_v3_large", variant, "leave_out", held)] = [g for g in GENERATORS if g != held]
    return cross_generator_cells(
        pd.concat(frames, ignore_index=True), trained, n_resamples=n_resamples, confidence_level=0.95, seed=0
    )


def test_cells_mark_the_held_out_generator_unseen_and_measure_it() -> None:
    cells = constructed_cells()
    table = cells.table
    assert len(table) == 2 * 3 * 3
    assert (table["unseen"] == (table["held_generator"] == table["test_generator"])).all()
    seen = table[~table["unseen"]]
    assert (seen["roc_auc"] == 1.0).all() and (seen["average_precision"] == 1.0).all()
    none_unseen = table[(table["variant"] == "none") & table["unseen"]]
    assert none_unseen["roc_auc"].between(0.2, 0.8).all()  # fakes drawn like the reals: near chance
    assert (
        (table["roc_auc_ci_low"] <= table["roc_auc"]) & (table["roc_auc"] <= table["roc_auc_ci_high"])
    ).all()
    labels = {("mobilenet_v3_large", "none", "leave_out", g): f"all but {g}" for g in GENERATORS}
    matrix = cell_matrix(table, "unseen", labels, list(GENERATORS))
    assert matrix.to_numpy(dtype=bool).tolist() == np.eye(3, dtype=bool).tolist()


def test_transfer_table_tells_a_clear_gain_on_unseen_generators() -> None:
    cells = constructed_cells()
    transfer = transfer_table(cells).set_index("TL")
    assert transfer.loc["—", "reading"] == "baseline"
    last = transfer.loc["Last"]
    assert last["mean ROC-AUC unseen"] == 1.0
    assert last["difference from none"] == pytest.approx(1.0 - transfer.loc["—", "mean ROC-AUC unseen"])
    assert last["difference from none_ci_low"] > 0 and last["reading"] == "transfer helps"
    summary = variant_summary(cells).set_index("TL")
    assert summary.loc["—", "ROC-AUC seen"] == 1.0 and summary.loc["—", "ROC-AUC unseen"] < 0.8
    assert summary.loc["Last", "detectors"] == 3


def test_without_resamples_there_are_values_but_no_intervals() -> None:
    cells = constructed_cells(n_resamples=0)
    assert cells.table["roc_auc"].notna().all() and cells.table["roc_auc_ci_low"].isna().all()
    assert transfer_table(cells).set_index("TL").loc["Last", "reading"].startswith("no interval")


def test_detectors_that_scored_different_images_are_refused() -> None:
    frames = [
        scores_of("none", "a", dict.fromkeys(GENERATORS, 0.8)),
        scores_of("last", "a", dict.fromkeys(GENERATORS, 0.8)),
    ]
    frames[1] = frames[1].iloc[1:]  # one real image missing
    trained = {("mobilenet_v3_large", v, "leave_out", "a"): ["b", "c"] for v in ("none", "last")}
    with pytest.raises(ValueError, match="different test images"):
        cross_generator_cells(pd.concat(frames), trained, n_resamples=0, confidence_level=0.95, seed=0)
