"""The promotion rule on plain numbers: first run, beating, not beating, per-generator guard."""

import math

import pytest

from facetransfer.registry.promotion import ModelScores, decide_promotion


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
