"""The promotion rule on plain numbers: first run, beating, not beating, per-generator guard."""

import math

import pytest

from facetransfer.promotion import ModelScores, decide_promotion


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
