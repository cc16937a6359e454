"""Which arms' models show evidence of signal (AUC interval, permutation p, fitted model)."""

from __future__ import annotations

from backpheno.explain.signal import arm_signal, no_signal_arms


def test_the_rule_flags_chance_intervals_large_permutation_p_and_missing_models():
    metrics = {"arms": {
        "GOOD": {"status": "ok", "auc": {"estimate": 0.7, "ci_low": 0.62, "ci_high": 0.78},
                 "permutation": {"p_value": 0.01}},
        "CHANCE": {"status": "ok", "auc": {"estimate": 0.5, "ci_low": 0.42, "ci_high": 0.58},
                   "permutation": {"p_value": 0.55}},
        "NOISY_P": {"status": "ok", "auc": {"estimate": 0.6, "ci_low": 0.52, "ci_high": 0.68},
                    "permutation": {"p_value": 0.2}},
        # DeLong excludes 0.5 but the permutation-widened interval does not: widened wins
        "WIDE": {"status": "ok", "auc": {"estimate": 0.58, "ci_low": 0.51, "ci_high": 0.65},
                 "auc_widened": {"estimate": 0.58, "ci_low": 0.47, "ci_high": 0.69}},
        "NO_PERM": {"status": "ok", "auc": {"estimate": 0.6, "ci_low": 0.52, "ci_high": 0.68}},
        "NONE": {"status": "insufficient_data", "reason": "too few responders"}}}
    table = arm_signal(metrics, p_level=0.05).set_index("arm")
    assert table["signal"].to_dict() == {"GOOD": True, "CHANCE": False, "NOISY_P": False,
                                         "WIDE": False, "NO_PERM": True, "NONE": False}
    assert "containing 0.5" in table.loc["CHANCE", "reason"]
    assert "permutation p 0.55 > 0.05" in table.loc["CHANCE", "reason"]
    assert "containing" not in table.loc["NOISY_P", "reason"]
    assert "too few responders" in table.loc["NONE", "reason"]
    assert table.loc["GOOD", "reason"] == ""
    assert arm_signal(metrics, p_level=0.25).set_index("arm").loc["NOISY_P", "signal"]


def test_contrast_arms_without_signal():
    assert no_signal_arms({"ACT": 1.0, "ESC": -1.0}, ["ESC"]) == ["ESC"]
    assert no_signal_arms({"ACT": 1.0, "DUL": -1.0, "ESC": 0.0}, ["ESC"]) == []
