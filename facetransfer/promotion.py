"""The promotion rule: does a newly trained detector replace the one in service?

A challenger becomes champion only if it beats the champion on the agreed metric on the current
test split, and is not worse by more than a tolerance on any generator the champion was
evaluated on. Kept free of MLflow so the rule can be tested on plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class ModelScores:
    """Test-split scores of one model: overall and per generator.

    Attributes:
        overall: metric name → value on the whole test split.
        per_generator: generator → (metric name → value) on that generator's test images
            (with the real test images, so every metric is defined).
    """

    overall: Mapping[str, float]
    per_generator: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotionDecision:
    """Outcome of the promotion rule, with the reason a user reads in MLflow."""

    promote: bool
    reason: str
    comparison: pd.DataFrame


def decide_promotion(
    challenger: ModelScores,
    champion: ModelScores | None,
    *,
    metric: str,
    tolerance: float,
    champion_generators: list[str] | None = None,
) -> PromotionDecision:
    """Apply the promotion rule.

    Args:
        challenger: scores of the new model on the current test split.
        champion: scores of the model in service on the same split, or ``None`` if none exists.
        metric: the agreed metric (e.g. ``"f1"``); higher is better.
        tolerance: how much worse than the champion the challenger may be on a single generator.
        champion_generators: generators the champion was evaluated on before (the per-generator
            guard applies to these); defaults to every generator in ``champion.per_generator``.

    Returns:
        The decision, its reason and a comparison table (overall + per generator).
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if metric not in challenger.overall:
        raise KeyError(f"metric {metric!r} missing from the challenger's scores {sorted(challenger.overall)}")
    comparison = comparison_table(challenger, champion, metric=metric)
    if champion is None:
        return PromotionDecision(True, "no champion yet: the first registered model is promoted", comparison)

    new, old = challenger.overall[metric], champion.overall.get(metric, math.nan)
    if math.isnan(new):
        return PromotionDecision(False, f"challenger {metric} is undefined on the test split", comparison)
    if not math.isnan(old) and not new > old:
        reason = (
            f"challenger {metric} {new:.4f} does not beat champion {metric} {old:.4f} "
            "on the current test split"
        )
        return PromotionDecision(False, reason, comparison)

    guarded = champion_generators if champion_generators is not None else list(champion.per_generator)
    regressions = []
    for generator in sorted(guarded):
        old_g = champion.per_generator.get(generator, {}).get(metric, math.nan)
        new_g = challenger.per_generator.get(generator, {}).get(metric, math.nan)
        if math.isnan(old_g):
            continue
        if math.isnan(new_g):
            regressions.append(f"{generator}: no test images for the challenger")
        elif new_g < old_g - tolerance:
            regressions.append(f"{generator}: {new_g:.4f} < {old_g:.4f} - {tolerance:g}")
    if regressions:
        reason = f"challenger beats champion overall ({new:.4f} > {old:.4f}) but regresses beyond " + (
            f"tolerance on: {'; '.join(regressions)}"
        )
        return PromotionDecision(False, reason, comparison)
    return PromotionDecision(
        True,
        f"challenger {metric} {new:.4f} beats champion {old:.4f} and stays within {tolerance:g} "
        f"of it on every generator the champion was evaluated on ({', '.join(sorted(guarded)) or 'none'})",
        comparison,
    )


def comparison_table(challenger: ModelScores, champion: ModelScores | None, *, metric: str) -> pd.DataFrame:
    """Champion vs challenger on ``metric``, overall and per generator, with the difference."""
    scopes = [
        "overall",
        *sorted(set(challenger.per_generator) | set(champion.per_generator if champion else {})),
    ]
    rows = []
    for scope in scopes:
        new = _score(challenger, scope, metric)
        old = _score(champion, scope, metric) if champion else math.nan
        rows.append(
            {"scope": scope, "metric": metric, "champion": old, "challenger": new, "delta": new - old}
        )
    return pd.DataFrame(rows)


def _score(scores: ModelScores, scope: str, metric: str) -> float:
    source = scores.overall if scope == "overall" else scores.per_generator.get(scope, {})
    value = source.get(metric, math.nan)
    return math.nan if value is None else float(value)
