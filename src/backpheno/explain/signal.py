"""Which arms' models show evidence of predictive signal.

A contrast's SHAP values are differences of the arms' models. An arm whose model predicts no
better than chance contributes only its fitting noise to every contrast it enters, so moderators
ranked for such a contrast describe noise on that side. The rule (from the training metrics,
``metrics/metrics.json``) marks an arm *without signal* when the interval of its out-of-fold
statistic does not lie above chance, or the statistic's permutation p-value is above ``p_level``,
or it has no fitted model. The statistic is the AUC for a classifier (chance 0.5; the
permutation-widened interval where the run has one, else DeLong's) and the out-of-sample R² for a
regressor (chance 0: no better than predicting the training mean; bootstrap interval).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

#: The AUC of a model without discrimination.
CHANCE_AUC = 0.5
#: The out-of-sample R² of a model that predicts the training mean.
CHANCE_R2 = 0.0
#: Columns of :func:`arm_signal`.
COLUMNS = ["arm", "statistic", "estimate", "ci_low", "ci_high", "chance", "permutation_p",
           "signal", "reason"]


def arm_signal(metrics: Mapping[str, Any], p_level: float = 0.05) -> pd.DataFrame:
    """Evidence of signal per arm from the training metrics.

    Parameters
    ----------
    metrics : mapping
        ``metrics.json`` of a training run (its ``arms`` entry is read) or that entry itself.
    p_level : float
        An arm whose AUC permutation p-value is above this has no evidence of signal.

    Returns
    -------
    DataFrame
        One row per arm: arm, statistic ("AUC" or "R2"), estimate, ci_low, ci_high, chance
        (0.5 or 0), permutation_p, signal (bool), reason (empty when ``signal``).
    """
    arms = metrics.get("arms", metrics)
    rows = []
    for arm, entry in arms.items():
        entry = entry or {}
        statistic, chance, interval = _statistic(entry)
        permutation = entry.get("permutation") or {}
        row = {"arm": arm, "statistic": statistic,
               "estimate": _float(interval.get("estimate")),
               "ci_low": _float(interval.get("ci_low")),
               "ci_high": _float(interval.get("ci_high")), "chance": chance,
               "permutation_p": _float(permutation.get("p_value"))}
        reasons = []
        if entry.get("status", "ok") != "ok":
            reasons.append(f"no fitted model ({entry.get('reason') or entry.get('status')})")
        else:
            if row["ci_low"] <= chance:
                reasons.append(f"{statistic} {row['estimate']:.2f} with interval "
                               f"{row['ci_low']:.2f} to {row['ci_high']:.2f}, not above "
                               f"chance ({chance:g})")
            if row["permutation_p"] > p_level:
                reasons.append(f"{statistic} permutation p {row['permutation_p']:.2f} > "
                               f"{p_level:g}")
        rows.append({**row, "signal": not reasons, "reason": "; ".join(reasons)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _statistic(entry: Mapping[str, Any]) -> tuple[str, float, Mapping[str, Any]]:
    """(name, chance value, interval) of an arm's out-of-fold statistic: R² for a regression
    arm (its metrics have ``r2`` and no ``auc``), else the AUC (widened interval first)."""
    if "r2" in entry and "auc" not in entry:
        return "R2", CHANCE_R2, entry.get("r2") or {}
    return "AUC", CHANCE_AUC, entry.get("auc_widened") or entry.get("auc") or {}


def no_signal_arms(contrast_weights: Mapping[str, float], without: Sequence[str]) -> list[str]:
    """Arms of a contrast (non-zero weight) that are in ``without`` (arms without signal)."""
    return [a for a, w in contrast_weights.items() if w != 0 and a in set(without)]


def _float(value: Any) -> float:
    """A number, NaN where missing (NaN comparisons are False, so a missing value flags
    nothing)."""
    return float("nan") if value is None else float(value)
