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
    assert "not above chance (0.5)" in table.loc["CHANCE", "reason"]
    assert "AUC permutation p 0.55 > 0.05" in table.loc["CHANCE", "reason"]
    assert "chance" not in table.loc["NOISY_P", "reason"]
    assert "too few responders" in table.loc["NONE", "reason"]
    assert table.loc["GOOD", "reason"] == ""
    assert arm_signal(metrics, p_level=0.25).set_index("arm").loc["NOISY_P", "signal"]


def test_an_auc_interval_below_chance_is_not_signal():
    metrics = {"BELOW": {"auc": {"estimate": 0.35, "ci_low": 0.28, "ci_high": 0.42}}}
    row = arm_signal(metrics).iloc[0]
    assert not row["signal"]
    assert "0.28 to 0.42, not above chance" in row["reason"]


def test_regression_arms_are_judged_by_out_of_sample_r2():
    metrics = {"arms": {
        "GOOD": {"status": "ok", "r2": {"estimate": 0.2, "ci_low": 0.1, "ci_high": 0.3},
                 "permutation": {"p_value": 0.01, "statistic": "out-of-fold R2"}},
        "NULL": {"status": "ok", "r2": {"estimate": -0.03, "ci_low": -0.12, "ci_high": 0.04},
                 "permutation": {"p_value": 0.6}},
        "NOISY_P": {"status": "ok", "r2": {"estimate": 0.08, "ci_low": 0.01, "ci_high": 0.15},
                    "permutation": {"p_value": 0.2}}}}
    table = arm_signal(metrics).set_index("arm")
    assert table["signal"].to_dict() == {"GOOD": True, "NULL": False, "NOISY_P": False}
    assert set(table["statistic"]) == {"R2"}
    assert (table["chance"] == 0).all()
    assert "R2 -0.03 with interval -0.12 to 0.04, not above chance (0)" in table.loc[
        "NULL", "reason"]
    assert table.loc["NOISY_P", "reason"] == "R2 permutation p 0.20 > 0.05"


def test_contrast_arms_without_signal():
    assert no_signal_arms({"ACT": 1.0, "ESC": -1.0}, ["ESC"]) == ["ESC"]
    assert no_signal_arms({"ACT": 1.0, "DUL": -1.0, "ESC": 0.0}, ["ESC"]) == []
