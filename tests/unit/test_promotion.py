"""The promotion rule on plain numbers: first run, beating, not beating, per-generator guard,
and the paired bootstrap test on constructed score sets."""

import math

import numpy as np
import pytest

from facetransfer.evaluation import detection_metrics, paired_bootstrap
from facetransfer.registry.promotion import ModelScores, PromotionDecision, decide_promotion


def scores(f1: float, **per_generator: float) -> ModelScores:
    return ModelScores(overall={"f1": f1}, per_generator={g: {"f1": v} for g, v in per_generator.items()})


def test_first_model_is_promoted():
    decision = decide_promotion(scores(0.5, a=0.5), None, metric="f1", tolerance=0.0)
    assert decision.promote
    assert "no champion" in decision.reason
    assert math.isnan(decision.comparison.set_index("scope").loc["overall", "champion"])


def test_challenger_that_beats_champion_everywhere_is_promoted():
    decision = decide_promotion(
        scores(0.9, a=0.9, b=0.9), scores(0.8, a=0.8, b=0.8), metric="f1", tolerance=0.0
    )
    assert decision.promote
    table = decision.comparison.set_index("scope")
    assert table.loc["overall", "delta"] == pytest.approx(0.1)
    assert set(table.index) == {"overall", "a", "b"}


@pytest.mark.parametrize("challenger_f1", [0.8, 0.79])
def test_challenger_must_strictly_beat_champion(challenger_f1):
    decision = decide_promotion(scores(challenger_f1), scores(0.8), metric="f1", tolerance=1.0)
    assert not decision.promote
    assert "does not beat" in decision.reason


def test_regression_on_a_champion_generator_beyond_tolerance_blocks_promotion():
    champion = scores(0.80, a=0.95, b=0.70)
    challenger = scores(0.85, a=0.90, b=0.90)  # a drops by 0.05
    strict = decide_promotion(challenger, champion, metric="f1", tolerance=0.02)
    lenient = decide_promotion(challenger, champion, metric="f1", tolerance=0.10)
    assert not strict.promote
    assert "a: 0.9000 < 0.9500" in strict.reason
    assert lenient.promote


def test_only_generators_the_champion_was_evaluated_on_are_guarded():
    champion = scores(0.80, a=0.95, c=0.99)  # c is new: the champion never saw it before
    challenger = scores(0.85, a=0.95, c=0.50)
    decision = decide_promotion(challenger, champion, metric="f1", tolerance=0.0, champion_generators=["a"])
    assert decision.promote


def test_negative_tolerance_and_unknown_metric_are_rejected():
    with pytest.raises(ValueError, match="tolerance"):
        decide_promotion(scores(0.9), None, metric="f1", tolerance=-0.1)
    with pytest.raises(KeyError, match="roc_auc"):
        decide_promotion(scores(0.9), None, metric="roc_auc", tolerance=0.0)


def robust(f1: float, robustness: float | None, **per_generator: float) -> ModelScores:
    base = scores(f1, **per_generator)
    return ModelScores(base.overall, base.per_generator, robustness_roc_auc=robustness)


def test_a_challenger_less_robust_than_the_champion_beyond_tolerance_is_turned_down():
    champion, challenger = robust(0.80, 0.90, a=0.8), robust(0.85, 0.80, a=0.85)
    blocked = decide_promotion(challenger, champion, metric="f1", tolerance=0.0, robustness_tolerance=0.05)
    assert not blocked.promote
    assert "mean robustness ROC-AUC 0.8000 is below the champion's 0.9000" in blocked.reason
    allowed = decide_promotion(challenger, champion, metric="f1", tolerance=0.0, robustness_tolerance=0.15)
    assert allowed.promote and "0.8000 vs champion 0.9000" in allowed.reason
    off = decide_promotion(challenger, champion, metric="f1", tolerance=0.0, robustness_tolerance=None)
    assert off.promote and "not checked" in off.reason
    row = allowed.comparison.set_index("scope").loc["robustness (mean over perturbations)"]
    assert row["delta"] == pytest.approx(-0.1)


def test_a_champion_without_a_sweep_is_compared_on_the_rest_and_the_reason_says_so():
    decision = decide_promotion(
        robust(0.9, 0.7, a=0.9),
        robust(0.8, None, a=0.8),
        metric="f1",
        tolerance=0.0,
        robustness_tolerance=0.0,
    )
    assert decision.promote and "the champion has no robustness sweep" in decision.reason


def test_the_reason_names_compared_and_absent_generators_and_absence_can_block():
    # The champion was evaluated on a, b, c; today's test split only holds a (sources changed).
    champion, challenger = scores(0.80, a=0.80), scores(0.90, a=0.90)
    generators = ["a", "b", "c"]
    ignored = decide_promotion(
        challenger, champion, metric="f1", tolerance=0.0, champion_generators=generators
    )
    assert ignored.promote
    assert "compared on a" in ignored.reason
    assert "not compared, absent from the current test split: b, c" in ignored.reason
    blocked = decide_promotion(
        challenger,
        champion,
        metric="f1",
        tolerance=0.0,
        champion_generators=generators,
        absent_generators="block",
    )
    assert not blocked.promote and "absent from the current test split: b, c" in blocked.reason
    nothing = decide_promotion(challenger, scores(0.8), metric="f1", tolerance=0.0, champion_generators=["x"])
    assert "compared on no generator" in nothing.reason


def score_sets(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """200 test images (100 real, 100 fake) and a champion's scores that get about 3 in 4 right."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(100), np.ones(100)].astype(int)
    return labels, 1 / (1 + np.exp(-rng.normal(1.4 * labels - 0.7, 1.0)))


def paired_case(labels: np.ndarray, challenger: np.ndarray, champion: np.ndarray) -> dict:
    """The rule's inputs for two score sets on the same images, both at threshold 0.5."""
    return {
        "challenger": ModelScores(overall=detection_metrics(labels, challenger, 0.5)),
        "champion": ModelScores(overall=detection_metrics(labels, champion, 0.5)),
        "paired": paired_bootstrap(
            labels, challenger, champion, metric="f1", challenger_threshold=0.5, champion_threshold=0.5
        ),
    }


def decide_paired(case: dict, **rule) -> PromotionDecision:
    return decide_promotion(
        case["challenger"],
        case["champion"],
        metric="f1",
        tolerance=0.0,
        significance="paired_bootstrap",
        alpha=0.05,
        paired=case["paired"],
        **rule,
    )


def test_paired_bootstrap_promotes_a_clearly_better_challenger_with_its_p_value():
    labels, champion = score_sets()
    better = np.where(labels == 1, 0.9, 0.1)
    decision = decide_paired(paired_case(labels, better, champion))
    assert decision.promote
    assert "the gain is significant at alpha 0.05" in decision.reason
    assert "one-sided p = 0.0010" in decision.reason and "90% interval [+" in decision.reason
    overall = decision.comparison.set_index("scope").loc["overall"]
    assert (
        overall["p_value"] < 0.05
        and 0 < overall["delta_ci_low"] < overall["delta"] < overall["delta_ci_high"]
    )


def test_paired_bootstrap_refuses_an_equal_challenger_and_says_why():
    labels, champion = score_sets()
    decision = decide_paired(paired_case(labels, champion.copy(), champion))
    assert not decision.promote
    assert "does not beat" in decision.reason and "one-sided p = 1.0000" in decision.reason


def test_paired_bootstrap_refuses_a_gain_within_the_noise_that_plain_comparison_promotes():
    labels, champion = score_sets()
    # Catches 5 fakes the champion missed, misses 3 it caught: 2 more right out of 200 images,
    # a higher F1 that resampling the images easily reverses.
    caught = np.flatnonzero((labels == 1) & (champion < 0.5))[:5]
    missed = np.flatnonzero((labels == 1) & (champion >= 0.5))[:3]
    challenger = champion.copy()
    challenger[caught], challenger[missed] = 0.9, 0.1
    case = paired_case(labels, challenger, champion)
    assert case["challenger"].overall["f1"] > case["champion"].overall["f1"]
    plain = decide_promotion(case["challenger"], case["champion"], metric="f1", tolerance=0.0)
    assert plain.promote
    tested = decide_paired(case)
    assert not tested.promote
    assert "the gain is not significant" in tested.reason and ">= alpha 0.05" in tested.reason
    assert case["paired"].p_value >= 0.05 and case["paired"].ci_low <= 0


def test_paired_bootstrap_without_paired_scores_refuses_and_bad_settings_are_rejected():
    labels, champion = score_sets()
    case = paired_case(labels, np.where(labels == 1, 0.9, 0.1), champion)
    untested = decide_paired({**case, "paired": None})
    assert not untested.promote and "cannot be tested" in untested.reason
    first = decide_paired({**case, "champion": None})
    assert first.promote, "the first model needs no test"
    with pytest.raises(ValueError, match="significance"):
        decide_promotion(case["challenger"], None, metric="f1", tolerance=0.0, significance="t_test")
    with pytest.raises(ValueError, match="alpha"):
        decide_promotion(case["challenger"], None, metric="f1", tolerance=0.0, alpha=0.5)
    with pytest.raises(ValueError, match="compares 'f1'"):
        decide_promotion(case["challenger"], None, metric="accuracy", tolerance=0.0, paired=case["paired"])


def test_comparison_table_marks_generators_with_few_test_images():
    challenger = ModelScores({"f1": 0.9}, {"a": {"f1": 0.9, "few_images": True}, "b": {"f1": 0.9}})
    champion = ModelScores({"f1": 0.8}, {"a": {"f1": 0.8}, "b": {"f1": 0.8, "few_images": False}})
    table = decide_promotion(challenger, champion, metric="f1", tolerance=0.0).comparison.set_index("scope")
    assert table["few_images"].to_dict() == {"overall": False, "a": True, "b": False}
