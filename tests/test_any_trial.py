"""Any trial, any outcome: a simulated two-arm trial CSV through table -> train -> explain.

Closed form: y = b0 + b1 t + b2 x1 + b3 t x2 + e with 20 nuisance covariates (n = 400); x2 is
the only moderator, x1 only prognostic.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml
from typer.testing import CliRunner

from backpheno.cli import app
from backpheno.config import load_config
from backpheno.explain.moderation import moderation_table
from backpheno.explain.run import ExplainConfig, explain_run_dir
from backpheno.models.config import TrainConfig
from backpheno.models.train import train
from backpheno.synth.trial import simulate_two_arm_trial
from backpheno.trial_table import TableRoles, build_trial_tables

ROLES = {"participant": "participant_id", "arm": "arm", "outcomes": {"y": "higher_is_better"},
         "site": "site", "covariates": ["age", "sex"]}
TRAIN = {"features": "tables/features.parquet", "outcomes": "tables/outcomes.parquet",
         "arm_column": "arm", "arms": [0, 1], "target": "y",
         "cv": {"outer_folds": 5, "inner_folds": 3, "repeats": 1},
         "model": {"params": {"n_estimators": 100}}, "metrics": {"n_bootstrap": 50}}


def run_trial(folder: Path, seed: int, **effects: float):
    """CSV -> `backpheno table` -> train (the YAML above) -> explain; returns (train result,
    explain result, the CSV frame)."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = simulate_two_arm_trial(400, seed=seed, **effects)
    frame.to_csv(folder / "trial.csv", index=False)
    (folder / "roles.yaml").write_text(yaml.safe_dump(ROLES))
    (folder / "train.yaml").write_text(yaml.safe_dump(TRAIN))
    result = CliRunner().invoke(app, ["table", str(folder / "trial.csv"), "--roles",
                                      str(folder / "roles.yaml"), "--out",
                                      str(folder / "tables")])
    assert result.exit_code == 0, result.output
    trained = train(load_config(folder / "train.yaml", TrainConfig), folder / "run")
    explained = explain_run_dir(folder / "run", ExplainConfig(
        stability={"n_resamples": 0}, seed=seed))
    return trained, explained, frame


def ols_reference(frame: pd.DataFrame, cov_type: str):
    data = frame.copy()
    data["x2z"] = (data["x2"] - data["x2"].mean()) / data["x2"].std(ddof=1)
    return smf.ols("y ~ C(arm) * x2z + C(site) + age + C(sex)", data).fit(cov_type=cov_type)


def copy_run(trained, folder: Path) -> Path:
    """A copy of the shared run directory, so re-explaining it leaves the original alone."""
    return Path(shutil.copytree(trained.run_dir.root, folder / "run"))


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    return run_trial(tmp_path_factory.mktemp("any_trial"), seed=1)


def test_regression_is_inferred_and_every_arm_is_scored(recovered):
    trained, _, frame = recovered
    assert trained.task == "regression"
    assert sorted(trained.arms) == ["0", "1"]
    for arm in trained.arms.values():
        assert arm.metrics["r2"]["estimate"] > 0.2
        assert 0.5 < arm.metrics["calibration_slope"]["estimate"] < 1.5
    cf = trained.counterfactual
    assert set(cf.columns) >= {"participant_id", "arm", "prediction", "source"}
    assert cf["prediction"].notna().all() and len(cf) == 2 * len(frame)


def test_the_planted_moderator_ranks_first_and_only_one_contrast_exists(recovered):
    _, explained, _ = recovered
    ranking = explained.ranking
    assert set(ranking["contrast"]) == {"1_vs_0"} and set(ranking["scale"]) == {"outcome"}
    top = ranking.sort_values("rank").iloc[0]
    assert top["feature"] == "x2" and top["direction"] > 0.8
    assert explained.summary["max_additivity_error"]["contrast_outcome"] < 1e-5
    assert set(explained.moderation["kind"]) == {"pair"}
    assert explained.summary["contrasts"][0]["label"] == "E(1) - E(0)"


@pytest.mark.parametrize("se", ["HC3", "classical"])
def test_formal_interaction_equals_statsmodels_ols(recovered, tmp_path, se):
    trained, explained, frame = recovered
    if se != "HC3":
        explained = explain_run_dir(copy_run(trained, tmp_path), ExplainConfig(
            stability={"n_resamples": 0}, formal={"ols_se": se}))
    fit = ols_reference(frame, "HC3" if se == "HC3" else "nonrobust")
    row = explained.moderation.set_index("moderator").loc["x2"]
    term = "C(arm)[T.1]:x2z"
    low, high = fit.conf_int().loc[term]
    assert row["family"] == "gaussian"
    for ours, theirs in ((row["estimate"], fit.params[term]), (row["se"], fit.bse[term]),
                         (row["ci_low"], low), (row["ci_high"], high),
                         (row["p"], fit.pvalues[term])):
        assert ours == pytest.approx(theirs, abs=1e-8, rel=1e-8)
    assert row["q"] < 0.05


def test_without_a_moderator_no_interaction_passes_fdr():
    frame = simulate_two_arm_trial(400, b3=0.0, seed=3)
    tables = build_trial_tables(frame, TableRoles(**ROLES))
    data = tables.outcomes.join(tables.features.session("ses-V0"))
    table = moderation_table(data, outcome="y", arm="arm", moderators=tables.report["features"],
                             arms=["0", "1"], covariates=["site", "age", "sex"],
                             categorical=["site", "sex"])
    assert len(table) == 22 and (table["q"] >= 0.05).all()


@pytest.mark.slow
def test_no_interaction_passes_fdr_over_seeds():
    passing = 0
    for seed in range(20):
        frame = simulate_two_arm_trial(400, b3=0.0, seed=100 + seed)
        tables = build_trial_tables(frame, TableRoles(**ROLES))
        data = tables.outcomes.join(tables.features.session("ses-V0"))
        table = moderation_table(data, outcome="y", arm="arm",
                                 moderators=tables.report["features"], arms=["0", "1"],
                                 covariates=["site", "age", "sex"], categorical=["site", "sex"])
        passing += int((table["q"] < 0.05).any())
    assert passing <= 2  # BH at 0.05 controls the FDR (= FWER under the global null) at 5 %


@pytest.mark.slow
def test_the_planted_moderator_ranks_first_in_19_of_20_seeds(tmp_path):
    first = 0
    for seed in range(20):
        _, explained, _ = run_trial(tmp_path / f"seed{seed}", seed=200 + seed)
        first += int(explained.ranking.sort_values("rank").iloc[0]["feature"] == "x2")
    assert first >= 19


def test_report_words_follow_the_outcome_and_the_two_arms(recovered):
    from backpheno.explain.report import build_report

    trained, _, _ = recovered
    text = build_report(trained.run_dir.root)
    assert "xgboost regressor per arm (0, 1)" in text
    assert "predicted difference in y (the one contrast between the two arms)" in text
    assert "least-squares regression (HC3 standard errors)" in text
    for untrue in ("against the mean of the others", "responder", "odds ratio",
                   "risk difference", "risk-difference", "spine (spine", "ineligible",
                   "permutations of the arm"):
        assert untrue not in text, untrue


def test_stability_and_permutation_null_run_on_the_outcome_scale(recovered, tmp_path):
    trained, _, _ = recovered
    explained = explain_run_dir(copy_run(trained, tmp_path), ExplainConfig(
        stability={"n_resamples": 2}, permutation={"n_permutations": 2}))
    assert set(explained.stability["contrast"]) == {"1_vs_0"}
    assert "x2" in set(explained.permutation["feature"])
    assert explained.summary["permutation_strata"] == ["site"]
