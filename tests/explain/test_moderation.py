"""Formal moderation table: identical to statsmodels' formula API for the same model; the
risk-difference interaction equals statsmodels' delta method on its own predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.stats._delta_method import NonlinearDeltaCov
from statsmodels.stats.multitest import multipletests

from backpheno.errors import InputError
from backpheno.explain.moderation import (
    fit_moderation,
    moderation_design,
    moderation_table,
    outcome_family,
    risk_difference_interaction,
)

ARMS = ["ESC", "ACT", "DUL"]
COVARIATES = ["site", "age", "sex"]
FORMULA = "y ~ C(arm, Treatment('{ref}')) * mz + C(site) + age + C(sex)"


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 600
    frame = pd.DataFrame({
        "arm": rng.choice(ARMS, n), "m": rng.normal(3, 2, n), "noise": rng.normal(size=n),
        "site": rng.choice(["s1", "s2", "s3"], n), "age": rng.normal(50, 10, n),
        "sex": rng.choice(["F", "M"], n), "flag": rng.integers(0, 2, n).astype(float)},
        index=pd.Index([f"sub-{i:03d}" for i in range(n)], name="participant_id"))
    eta = -0.3 + 0.6 * (frame["m"] - 3) / 2 * (frame["arm"] == "ACT") + 0.01 * (frame["age"] - 50)
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    frame["change"] = 2.0 * frame["m"] * (frame["arm"] == "DUL") + rng.normal(0, 3, n)
    frame.loc[frame.index[::15], "m"] = np.nan
    return frame


def complete(trial: pd.DataFrame) -> pd.DataFrame:
    data = trial.dropna(subset=["m"]).copy()
    data["mz"] = (data["m"] - data["m"].mean()) / data["m"].std()
    return data


def test_logistic_interactions_match_statsmodels(trial):
    table = moderation_table(trial, outcome="y", arm="arm", moderators=["m", "noise"], arms=ARMS,
                             covariates=COVARIATES)
    data = complete(trial)
    for ref in ARMS:
        fit = smf.glm(FORMULA.format(ref=ref), data, family=sm.families.Binomial()).fit()
        ci = fit.conf_int()
        for other in ARMS:
            if other == ref:
                continue
            term = f"C(arm, Treatment('{ref}'))[T.{other}]:mz"
            rows = table[table["moderator"] == "m"].set_index("contrast")
            if f"{other}_vs_{ref}" in rows.index:
                row, sign = rows.loc[f"{other}_vs_{ref}"], 1.0
            else:  # reported in the other orientation
                row, sign = rows.loc[f"{ref}_vs_{other}"], -1.0
            assert row["n"] == len(data)
            assert sign * row["estimate"] == pytest.approx(fit.params[term], rel=1e-6)
            assert row["se"] == pytest.approx(fit.bse[term], rel=1e-6)
            assert row["p"] == pytest.approx(fit.pvalues[term], rel=1e-6)
            low, high = sorted([sign * row["ci_low"], sign * row["ci_high"]])
            assert low == pytest.approx(ci.loc[term, 0], rel=1e-6)
            assert high == pytest.approx(ci.loc[term, 1], rel=1e-6)
            assert row["odds_ratio"] == pytest.approx(np.exp(row["estimate"]))


def test_one_vs_rest_and_omnibus_match_statsmodels_wald_tests(trial):
    table = moderation_table(trial, outcome="y", arm="arm", moderators=["m"], arms=ARMS,
                             covariates=COVARIATES)
    fit = smf.glm(FORMULA.format(ref="ESC"), complete(trial), family=sm.families.Binomial()).fit()
    names = list(fit.params.index)
    act, dul = (names.index(f"C(arm, Treatment('ESC'))[T.{a}]:mz") for a in ("ACT", "DUL"))
    L = np.zeros(len(names))
    L[act], L[dul] = 1.0, -0.5  # ACT - mean(ESC, DUL); ESC's interaction is 0
    test = fit.t_test(L)
    row = table[table["contrast"] == "ACT_vs_rest"].iloc[0]
    assert row["estimate"] == pytest.approx(float(test.effect[0]), rel=1e-6)
    assert row["p"] == pytest.approx(float(test.pvalue), rel=1e-6)
    R = np.zeros((2, len(names)))
    R[0, act] = R[1, dul] = 1.0
    wald = fit.wald_test(R, scalar=True, use_f=False)
    omnibus = table[table["kind"] == "omnibus"].iloc[0]
    assert omnibus["statistic"] == pytest.approx(float(wald.statistic), rel=1e-6)
    assert omnibus["p"] == pytest.approx(float(wald.pvalue), rel=1e-6)
    assert omnibus["df"] == 2


def test_continuous_outcome_uses_ols_with_hc3(trial):
    table = moderation_table(trial, outcome="change", arm="arm", moderators=["m"], arms=ARMS,
                             covariates=COVARIATES)
    fit = smf.ols(FORMULA.format(ref="ESC").replace("y ~", "change ~"), complete(trial)
                  ).fit(cov_type="HC3")
    term = "C(arm, Treatment('ESC'))[T.DUL]:mz"
    row = table[table["contrast"] == "DUL_vs_ESC"].iloc[0]
    assert row["family"] == "gaussian"
    assert row["estimate"] == pytest.approx(fit.params[term], rel=1e-6)
    assert row["se"] == pytest.approx(fit.bse[term], rel=1e-6)
    assert row["p"] == pytest.approx(fit.pvalues[term], rel=1e-6)
    assert np.isnan(row["odds_ratio"]) and np.isnan(row["rd_estimate"])


def test_risk_difference_interaction_matches_statsmodels_delta_method(trial):
    data = complete(trial)
    fit = smf.glm(FORMULA.format(ref="ESC"), data, family=sm.families.Binomial()).fit()
    h = 1e-5

    def cross_partial(params: np.ndarray) -> np.ndarray:
        total = 0.0
        for arm, weight in {"ACT": 1.0, "ESC": -1.0}.items():
            up = fit.model.predict(params, _exog(fit, data.assign(arm=arm, mz=data["mz"] + h)))
            down = fit.model.predict(params, _exog(fit, data.assign(arm=arm, mz=data["mz"] - h)))
            total += weight * np.mean((up - down) / (2 * h))
        return np.atleast_1d(total)

    reference = NonlinearDeltaCov(cross_partial, fit.params.to_numpy(),
                                  fit.cov_params().to_numpy())
    design = moderation_design(trial, outcome="y", arm="arm", moderator="m", arms=ARMS,
                               covariates=COVARIATES)
    ours = fit_moderation(design, "binomial")
    value, se = risk_difference_interaction(design, ours.params.to_numpy(),
                                            ours.cov_params().to_numpy(), {"ACT": 1.0, "ESC": -1.0})
    assert value == pytest.approx(float(reference.predicted()[0]), rel=1e-5)
    assert se == pytest.approx(float(reference.se_vectorized()[0]), rel=1e-4)
    row = moderation_table(trial, outcome="y", arm="arm", moderators=["m"], arms=ARMS,
                           covariates=COVARIATES)
    row = row[row["contrast"] == "ACT_vs_ESC"].iloc[0]
    assert row["rd_estimate"] == pytest.approx(value)
    assert row["rd_low"] == pytest.approx(value - 1.959964 * se, rel=1e-5)


def _exog(fit, frame: pd.DataFrame) -> np.ndarray:
    import patsy

    info = fit.model.data.orig_exog.design_info
    return np.asarray(patsy.build_design_matrices([info], frame)[0])


def test_q_values_are_benjamini_hochberg_within_each_family(trial):
    table = moderation_table(trial, outcome="y", arm="arm", moderators=["m", "noise", "age"],
                             arms=ARMS, covariates=COVARIATES)
    for kind in ("pair", "one_vs_rest", "omnibus"):
        rows = table[table["kind"] == kind]
        np.testing.assert_allclose(rows["q"], multipletests(rows["p"], method="fdr_bh")[1])
    holm = moderation_table(trial, outcome="y", arm="arm", moderators=["m", "noise"], arms=ARMS,
                            covariates=COVARIATES, adjust="holm")
    rows = holm[holm["kind"] == "pair"]
    np.testing.assert_allclose(rows["q"], multipletests(rows["p"], method="holm")[1])


def test_moderator_that_is_also_a_covariate_is_not_adjusted_for_itself(trial):
    table = moderation_table(trial, outcome="y", arm="arm", moderators=["age"], arms=ARMS,
                             covariates=COVARIATES)
    assert table["n"].iloc[0] == len(trial)
    assert table["estimate"].notna().sum() == 6


def test_binary_moderator_is_coded_zero_one(trial):
    table = moderation_table(trial, outcome="y", arm="arm", moderators=["flag"], arms=ARMS)
    data = trial.assign(mz=trial["flag"])
    fit = smf.glm("y ~ C(arm, Treatment('ESC')) * mz", data, family=sm.families.Binomial()).fit()
    row = table[table["contrast"] == "ACT_vs_ESC"].iloc[0]
    assert row["moderator_scale"].startswith("binary")
    assert row["estimate"] == pytest.approx(fit.params["C(arm, Treatment('ESC'))[T.ACT]:mz"])


def test_unfittable_moderators_get_a_reason_not_a_crash(trial):
    data = trial.assign(constant=1.0, empty=np.nan)
    table = moderation_table(data, outcome="y", arm="arm", moderators=["constant", "empty", "m"],
                             arms=ARMS, covariates=COVARIATES)
    assert table.loc[table["moderator"] == "constant", "reason"].str.contains("constant").all()
    assert table.loc[table["moderator"] == "empty", "reason"].notna().all()
    assert table.loc[table["moderator"] == "m", "p"].notna().all()
    assert table.loc[table["moderator"] != "m", "q"].isna().all()


def test_separation_is_reported(trial):
    data = trial.copy()
    data["y"] = ((data["arm"] == "ACT") & (data["m"] > 3)).astype(int)
    table = moderation_table(data, outcome="y", arm="arm", moderators=["m"], arms=ARMS)
    assert table["reason"].notna().all()


def test_quasi_complete_separation_gives_a_reason_not_an_estimate(trial):
    """A rare binary moderator present only among one arm's responders: statsmodels converges
    to finite but divergent estimates; the table must not report them."""
    data = trial.copy()
    data["rare"] = 0
    hit = data.index[(data["arm"] == ARMS[1]) & (data["y"] == 1)][:4]
    data.loc[hit, "rare"] = 1
    table = moderation_table(data, outcome="y", arm="arm", moderators=["rare"], arms=ARMS)
    assert table["reason"].str.contains("separation|not estimable").all()
    assert table["odds_ratio"].isna().all()


def test_bad_arguments(trial):
    with pytest.raises(InputError, match="outcome"):
        moderation_table(trial, outcome="missing", arm="arm", moderators=["m"])
    with pytest.raises(InputError, match="adjustment"):
        moderation_table(trial, outcome="y", arm="arm", moderators=["m"], adjust="fdr")
    assert outcome_family(trial["y"]) == "binomial"
    assert outcome_family(trial["change"]) == "gaussian"
    assert outcome_family(trial["y"].astype("boolean")) == "binomial"


def test_moderator_level_in_one_arm_only_is_not_estimable():
    rng = np.random.default_rng(4)
    n = 120
    data = pd.DataFrame({"arm": np.repeat(["a", "b"], n // 2), "y": rng.normal(size=n)})
    data["m"] = 0.0
    data.loc[data.index[:3], "m"] = 1.0           # only in arm a
    table = moderation_table(data, outcome="y", arm="arm", moderators=["m"], arms=["a", "b"])
    assert table["estimate"].isna().all()
    assert "not estimable" in table["reason"].iloc[0]
