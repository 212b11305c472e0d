"""The promotion rule: does a newly trained detector replace the one in service?

A challenger becomes champion only if it beats the champion on the agreed metric on the current
test split, is not worse by more than a tolerance on any generator the champion was evaluated on
(and present in today's test split: absent ones are named, and ``absent_generators`` decides what
their absence means), and its mean ROC-AUC under the robustness sweep is not lower than the
champion's by more than ``robustness_tolerance``. With ``significance="paired_bootstrap"`` the
gain on the agreed metric must also be significant: the one-sided p-value of a paired bootstrap of
both models on the same test images (``facetransfer.evaluation.intervals.paired_bootstrap``) must
be below ``alpha``. Kept free of MLflow so the rule can be tested on plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class ModelScores:
    """Test-split scores of one model: overall, per generator, and under perturbations.

    Attributes:
        overall: metric name → value on the whole test split.
        per_generator: generator → (metric name → value) on that generator's test images
            (with the real test images, so every metric is defined).
        robustness_roc_auc: mean ROC-AUC over the robustness sweep of the test split
            (``facetransfer.evaluation.robustness``); ``None`` when no sweep was run.
    """

    overall: Mapping[str, float]
    per_generator: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    robustness_roc_auc: float | None = None


@dataclass(frozen=True)
class PairedDifference:
    """The challenger's gain over the champion on one metric, measured on the same test images.

    Attributes:
        metric: the metric compared (e.g. ``"f1"``).
        difference: challenger minus champion on all the images both scored.
        ci_low: lower end of the bootstrap interval of the difference.
        ci_high: upper end of that interval.
        confidence_level: level of the interval (``1 - 2 alpha``: its lower end is the one-sided bound).
        p_value: one-sided p-value of "the challenger is no better" (NaN when it could not be
            computed: a class with a single image, an undefined metric).
        n_images: test images both models scored.
        n_resamples: bootstrap resamples.
    """

    metric: str
    difference: float
    ci_low: float
    ci_high: float
    confidence_level: float
    p_value: float
    n_images: int
    n_resamples: int

    def describe(self) -> str:
        """One line for the registry's reason: gain, interval, p-value and what they rest on."""
        return (
            f"paired bootstrap on {self.n_images} test images ({self.n_resamples} resamples): "
            f"{self.metric} gain {self.difference:+.4f}, {self.confidence_level:.0%} interval "
            f"[{self.ci_low:+.4f}, {self.ci_high:+.4f}], one-sided p = {self.p_value:.4f}"
        )


@dataclass(frozen=True)
class PromotionDecision:
    """Outcome of the promotion rule, with the reason a user reads in MLflow."""

    promote: bool
    reason: str
    comparison: pd.DataFrame


ABSENT_GENERATOR_POLICIES = ("ignore", "block")
SIGNIFICANCE_TESTS = ("none", "paired_bootstrap")


def decide_promotion(
    challenger: ModelScores,
    champion: ModelScores | None,
    *,
    metric: str,
    tolerance: float,
    champion_generators: list[str] | None = None,
    robustness_tolerance: float | None = None,
    absent_generators: str = "ignore",
    significance: str = "none",
    alpha: float = 0.05,
    paired: PairedDifference | None = None,
) -> PromotionDecision:
    """Apply the promotion rule.

    Args:
        challenger: scores of the new model on the current test split.
        champion: scores of the model in service on the same split, or ``None`` if none exists.
        metric: the agreed metric (e.g. ``"f1"``); higher is better.
        tolerance: how much worse than the champion the challenger may be on a single generator.
        champion_generators: generators the champion was evaluated on before (the per-generator
            guard applies to these); defaults to every generator in ``champion.per_generator``.
        robustness_tolerance: how much lower the challenger's mean robustness ROC-AUC may be than
            the champion's; ``None`` disables the check.
        absent_generators: what a guarded generator missing from the current test split means:
            ``ignore`` (it cannot be compared; the reason says so) or ``block`` (no promotion
            without comparing every generator the champion was evaluated on).
        significance: ``none`` (beating the champion's ``metric`` is enough) or
            ``paired_bootstrap`` (the gain must also have a one-sided p-value below ``alpha`` in
            ``paired``; without ``paired`` the challenger is not promoted).
        alpha: significance level of the ``paired_bootstrap`` test.
        paired: the paired bootstrap of challenger minus champion on ``metric`` on the same test
            images; its p-value and interval go into the reason and the comparison table.

    Returns:
        The decision, its reason (naming the generators compared and those absent, and the
        p-value when the gain is tested) and a comparison table (overall, per generator,
        robustness).
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if absent_generators not in ABSENT_GENERATOR_POLICIES:
        raise ValueError(
            f"absent_generators must be one of {ABSENT_GENERATOR_POLICIES}, got {absent_generators!r}"
        )
    if metric not in challenger.overall:
        raise KeyError(f"metric {metric!r} missing from the challenger's scores {sorted(challenger.overall)}")
    _check_significance(significance, alpha, paired, metric)
    comparison = comparison_table(challenger, champion, metric=metric, paired=paired)
    if champion is None:
        return PromotionDecision(True, "no champion yet: the first registered model is promoted", comparison)

    tested = significance == "paired_bootstrap"
    evidence = f" ({paired.describe()})" if tested and paired is not None else ""
    new, old = challenger.overall[metric], champion.overall.get(metric, math.nan)
    if math.isnan(new):
        return PromotionDecision(False, f"challenger {metric} is undefined on the test split", comparison)
    if not math.isnan(old) and not new > old:
        reason = (
            f"challenger {metric} {new:.4f} does not beat champion {metric} {old:.4f} "
            f"on the current test split{evidence}"
        )
        return PromotionDecision(False, reason, comparison)
    if tested:
        untested = _untested_gain(paired, alpha)
        if untested:
            reason = f"challenger beats champion overall ({new:.4f} > {old:.4f}) but {untested}"
            return PromotionDecision(False, reason, comparison)

    guarded = sorted(champion_generators if champion_generators is not None else champion.per_generator)
    compared, absent, regressions = _per_generator_guard(challenger, champion, guarded, metric, tolerance)
    coverage = _coverage_text(compared, absent)
    if absent and absent_generators == "block":
        reason = (
            f"challenger beats champion overall ({new:.4f} > {old:.4f}) but {coverage}; "
            "promotion.absent_generators is 'block'"
        )
        return PromotionDecision(False, reason, comparison)
    if regressions:
        reason = f"challenger beats champion overall ({new:.4f} > {old:.4f}) but regresses beyond " + (
            f"tolerance on: {'; '.join(regressions)} ({coverage})"
        )
        return PromotionDecision(False, reason, comparison)
    robust_problem, robust_text = _robustness_guard(challenger, champion, robustness_tolerance)
    if robust_problem:
        reason = f"challenger beats champion overall ({new:.4f} > {old:.4f}) but {robust_text}"
        return PromotionDecision(False, reason, comparison)
    significant = f"; the gain is significant at alpha {alpha:g}{evidence}" if tested else ""
    return PromotionDecision(
        True,
        f"challenger {metric} {new:.4f} beats champion {old:.4f}{significant}; within {tolerance:g} of "
        f"it on every generator compared ({coverage}); {robust_text}",
        comparison,
    )


def _check_significance(
    significance: str, alpha: float, paired: PairedDifference | None, metric: str
) -> None:
    if significance not in SIGNIFICANCE_TESTS:
        raise ValueError(f"significance must be one of {SIGNIFICANCE_TESTS}, got {significance!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if paired is not None and paired.metric != metric:
        raise ValueError(f"the paired bootstrap compares {paired.metric!r}, the rule's metric is {metric!r}")


def _untested_gain(paired: PairedDifference | None, alpha: float) -> str | None:
    """Why the gain does not count under ``paired_bootstrap``; ``None`` when it is significant."""
    if paired is None:
        return (
            "the gain cannot be tested: no per-image test scores of both models on the same images "
            "(promotion.significance is 'paired_bootstrap')"
        )
    if math.isnan(paired.p_value):
        return f"the gain cannot be tested ({paired.describe()})"
    if paired.p_value >= alpha:
        return f"the gain is not significant: {paired.describe()} >= alpha {alpha:g}"
    return None


def _per_generator_guard(
    challenger: ModelScores, champion: ModelScores, guarded: list[str], metric: str, tolerance: float
) -> tuple[list[str], list[str], list[str]]:
    """``(compared, absent, regressions)`` over the generators the champion was evaluated on."""
    compared, absent, regressions = [], [], []
    for generator in guarded:
        old_g = _value(champion.per_generator.get(generator, {}), metric)
        new_g = _value(challenger.per_generator.get(generator, {}), metric)
        if math.isnan(old_g) and math.isnan(new_g):
            absent.append(generator)  # not in the current test split: nothing to compare
            continue
        compared.append(generator)
        if math.isnan(new_g):
            regressions.append(f"{generator}: no test images for the challenger")
        elif not math.isnan(old_g) and new_g < old_g - tolerance:
            regressions.append(f"{generator}: {new_g:.4f} < {old_g:.4f} - {tolerance:g}")
    return compared, absent, regressions


def _coverage_text(compared: list[str], absent: list[str]) -> str:
    text = f"compared on {', '.join(compared) or 'no generator'}"
    if absent:
        text += f"; not compared, absent from the current test split: {', '.join(absent)}"
    return text


def _robustness_guard(
    challenger: ModelScores, champion: ModelScores, tolerance: float | None
) -> tuple[bool, str]:
    """``(blocks, text)`` of the robustness comparison (mean sweep ROC-AUC)."""
    if tolerance is None:
        return False, "robustness not checked (promotion.robustness_tolerance is off)"
    new, old = _optional(challenger.robustness_roc_auc), _optional(champion.robustness_roc_auc)
    if math.isnan(new) or math.isnan(old):
        missing = "challenger" if math.isnan(new) else "champion"
        return False, f"robustness not compared (the {missing} has no robustness sweep)"
    if new < old - tolerance:
        return True, (
            f"its mean robustness ROC-AUC {new:.4f} is below the champion's {old:.4f} by more than "
            f"promotion.robustness_tolerance {tolerance:g}"
        )
    return False, f"mean robustness ROC-AUC {new:.4f} vs champion {old:.4f} (tolerance {tolerance:g})"


def _value(metrics: Mapping[str, float], metric: str) -> float:
    value = metrics.get(metric, math.nan)
    return math.nan if value is None else float(value)


def comparison_table(
    challenger: ModelScores,
    champion: ModelScores | None,
    *,
    metric: str,
    paired: PairedDifference | None = None,
) -> pd.DataFrame:
    """Champion vs challenger on ``metric``, overall and per generator, with the difference.

    With ``paired``, the overall row also holds the paired bootstrap's ``p_value`` and the interval
    of the difference (``delta_ci_low`` / ``delta_ci_high``). ``few_images`` marks generators
    that either model's evaluation flagged as having too few test images for a reliable interval.
    """
    scopes = [
        "overall",
        *sorted(set(challenger.per_generator) | set(champion.per_generator if champion else {})),
    ]
    rows = []
    for scope in scopes:
        new = _score(challenger, scope, metric)
        old = _score(champion, scope, metric) if champion else math.nan
        row = {"scope": scope, "metric": metric, "champion": old, "challenger": new, "delta": new - old}
        if scope == "overall" and paired is not None:
            row |= {"delta_ci_low": paired.ci_low, "delta_ci_high": paired.ci_high, "p_value": paired.p_value}
        rows.append(row | {"few_images": _few_images(challenger, scope) or _few_images(champion, scope)})
    robust_new = _optional(challenger.robustness_roc_auc)
    robust_old = _optional(champion.robustness_roc_auc) if champion else math.nan
    if not (math.isnan(robust_new) and math.isnan(robust_old)):
        rows.append(
            {
                "scope": "robustness (mean over perturbations)",
                "metric": "roc_auc",
                "champion": robust_old,
                "challenger": robust_new,
                "delta": robust_new - robust_old,
                "few_images": False,
            }
        )
    return pd.DataFrame(rows)


def _few_images(scores: ModelScores | None, scope: str) -> bool:
    return scores is not None and bool(scores.per_generator.get(scope, {}).get("few_images", False))


def _optional(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _score(scores: ModelScores, scope: str, metric: str) -> float:
    return _value(scores.overall if scope == "overall" else scores.per_generator.get(scope, {}), metric)
