"""Which arms' models show evidence of predictive signal.

A contrast's SHAP values are differences of the arms' models. An arm whose model predicts no
better than chance contributes only its fitting noise to every contrast it enters, so moderators
ranked for such a contrast describe noise on that side. The rule (from the training metrics,
``metrics/metrics.json``) marks an arm *without signal* when its out-of-fold AUC interval contains
0.5 (the permutation-widened interval where the run has one, else DeLong's), or the permutation
p-value of its AUC is above ``p_level``, or it has no fitted model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

#: The AUC of a model without discrimination.
CHANCE_AUC = 0.5


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
        One row per arm: arm, auc, auc_low, auc_high, permutation_p, signal (bool), reason
        (empty when ``signal``).
    """
    arms = metrics.get("arms", metrics)
    rows = []
    for arm, entry in arms.items():
        entry = entry or {}
        auc = entry.get("auc_widened") or entry.get("auc") or {}
        permutation = entry.get("permutation") or {}
        row = {"arm": arm, "auc": _float(auc.get("estimate")), "auc_low": _float(auc.get("ci_low")),
               "auc_high": _float(auc.get("ci_high")),
               "permutation_p": _float(permutation.get("p_value"))}
        reasons = []
        if entry.get("status", "ok") != "ok":
            reasons.append(f"no fitted model ({entry.get('reason') or entry.get('status')})")
        else:
            if row["auc_low"] <= CHANCE_AUC <= row["auc_high"]:
                reasons.append(f"AUC {row['auc']:.2f} with interval {row['auc_low']:.2f}-"
                               f"{row['auc_high']:.2f} containing {CHANCE_AUC}")
            if row["permutation_p"] > p_level:
                reasons.append(f"AUC permutation p {row['permutation_p']:.2f} > {p_level:g}")
        rows.append({**row, "signal": not reasons, "reason": "; ".join(reasons)})
    return pd.DataFrame(rows, columns=["arm", "auc", "auc_low", "auc_high", "permutation_p",
                                       "signal", "reason"])


def no_signal_arms(contrast_weights: Mapping[str, float], without: Sequence[str]) -> list[str]:
    """Arms of a contrast (non-zero weight) that are in ``without`` (arms without signal)."""
    return [a for a, w in contrast_weights.items() if w != 0 and a in set(without)]


def _float(value: Any) -> float:
    """A number, NaN where missing (NaN comparisons are False, so a missing value flags
    nothing)."""
    return float("nan") if value is None else float(value)
