"""The SMART regime export agrees with the simulator's design and ground truth."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.outcomes import OutcomeSettings, build_outcomes, peg_scores
from backpheno.regimes.export import RegimeExportSettings, export_regime, r_safe, smart_table
from backpheno.table import FeatureTable, codebook_row, make_codebook


@pytest.fixture(scope="module")
def inputs(small_cohort):
    data = Dataset(small_cohort)
    peg = peg_scores(data)
    table = FeatureTable(
        peg.rename("q.peg.score").to_frame(),
        make_codebook([codebook_row("q.peg.score", modality="q", source="test", unit="points",
                                    description="PEG")]))
    outcomes = build_outcomes(data, OutcomeSettings(), peg=peg)
    truth = json.loads((small_cohort / "ground_truth.json").read_text())
    return table, outcomes, pd.DataFrame(truth["participants"]).set_index("participant_id")


def test_design_columns_match_ground_truth(inputs):
    table, outcomes, truth = inputs
    frame, roles = smart_table(table, outcomes, RegimeExportSettings())
    frame = frame.set_index("id")
    assert list(frame.index) == list(truth.index)
    assert (frame["A1"] == truth["arm1"]).all()
    np.testing.assert_allclose(frame["p1"], truth["p1"])
    known = frame["R"].notna()
    assert (frame.loc[known, "R"] == truth.loc[known, "responder"].astype(float)).all()
    stage2 = truth["p2"].notna()
    np.testing.assert_allclose(frame.loc[stage2, "p2"], truth.loc[stage2, "p2"])
    assert frame.loc[~stage2, "p2"].isna().all()
    np.testing.assert_allclose(frame["W"], 1 / (frame["p1"] * frame["p2"]))
    responders = truth["tactic"] == "continue"
    assert frame.loc[responders, "A2"].isna().all()
    rerandomised = truth["tactic"].isin(["augment", "switch"])
    assert (frame.loc[rerandomised, "A2"] == truth.loc[rerandomised, "arm2"]).all()
    np.testing.assert_allclose(frame["Y"], -outcomes["peg_change_v2"].to_numpy())
    # prototypical SMART weights: 2 x stage-1 arms for responders ...
    assert set(frame.loc[responders, "W"].round(6)) <= {3.0, 4.0}


def test_roles_cover_every_column_and_blocks_are_labelled(inputs):
    table, outcomes, _ = inputs
    frame, roles = smart_table(table, outcomes, RegimeExportSettings())
    assert set(roles["columns"]) == set(frame.columns)
    assert roles["columns"]["X1_q_peg_score"] == {
        "role": "X1", "feature": "q.peg.score", "session": "ses-V0", "unit": "points",
        "description": "PEG"}
    assert roles["columns"]["X2_q_peg_score"]["session"] == "ses-V1"
    for column in frame.columns:
        assert column == r_safe(column)


def test_written_files_and_bad_outcome_column(inputs, tmp_path):
    table, outcomes, _ = inputs
    paths = export_regime(table, outcomes, RegimeExportSettings(), tmp_path)
    frame = pd.read_parquet(paths["parquet"])
    csv = pd.read_csv(paths["csv"])
    assert frame.shape == csv.shape
    assert json.loads(paths["roles"].read_text())["columns"]["W"]["role"] == "W"
    with pytest.raises(InputError, match="outcome column"):
        smart_table(table, outcomes, RegimeExportSettings(outcome="nope"))


def test_counterfactual_predictions_become_prediction_columns(inputs):
    table, outcomes, _ = inputs
    arms = ["ESC", "ACT", "EBEM", "DUL"]
    rows = [{"participant_id": pid, "arm": arm, "p_response": 0.1 * (i % 7) + 0.01 * j}
            for i, pid in enumerate(outcomes.index) for j, arm in enumerate(arms)]
    counterfactual = pd.DataFrame(rows)
    frame, roles = smart_table(table, outcomes, RegimeExportSettings(), counterfactual)
    for arm in arms:
        assert roles["columns"][f"P1_{arm}"]["role"] == "prediction"
    expected = counterfactual.set_index(["participant_id", "arm"])["p_response"]
    first = outcomes.index[3]
    row = frame.set_index("id").loc[first]
    assert row["P1_DUL"] == pytest.approx(expected[(first, "DUL")])


def test_continuous_predictions_and_outcome_direction_are_stated(inputs):
    table, outcomes, _ = inputs
    rows = [{"participant_id": pid, "arm": arm, "prediction": -3.0 * i + j}
            for i, pid in enumerate(outcomes.index) for j, arm in enumerate(["ESC", "ACT"])]
    frame, roles = smart_table(table, outcomes, RegimeExportSettings(), pd.DataFrame(rows))
    assert "continuous target" in roles["columns"]["P1_ACT"]["description"]
    assert frame.set_index("id").loc[outcomes.index[2], "P1_ACT"] == pytest.approx(-5.0)
    assert roles["columns"]["Y"]["direction"] == "higher is better"
    assert roles["columns"]["Y"]["type"] == "continuous"


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R (Rscript) is not installed")
def test_r_reads_the_export_and_its_stage2_lm_matches_statsmodels(inputs, tmp_path):
    """The documented R recipe (docs/regimes.md): read smart.csv, fit the weighted stage-2
    regression among re-randomised non-responders; same coefficients as statsmodels' WLS."""
    import statsmodels.formula.api as smf

    table, outcomes, _ = inputs
    paths = export_regime(table, outcomes, RegimeExportSettings(), tmp_path)
    script = """
d <- read.csv(commandArgs(TRUE)[1])
stopifnot(is.numeric(d$R), is.numeric(d$W), is.character(d$A2_tactic))
s2 <- subset(d, R == 0 & A2_tactic %in% c("augment", "switch"))
s2$A2_switch <- as.integer(s2$A2_tactic == "switch")
fit <- lm(Y ~ X2_q_peg_score * A2_switch, data = s2)
write.csv(data.frame(term = names(coef(fit)), estimate = unname(coef(fit))),
          commandArgs(TRUE)[2], row.names = FALSE)
"""
    out = tmp_path / "coef.csv"
    done = subprocess.run(["Rscript", "-e", script, str(paths["csv"]), str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    r = pd.read_csv(out).set_index("term")["estimate"].rename({"(Intercept)": "Intercept"})
    frame = pd.read_parquet(paths["parquet"])
    s2 = frame[(frame["R"] == 0) & frame["A2_tactic"].isin(["augment", "switch"])].copy()
    s2["A2_switch"] = (s2["A2_tactic"] == "switch").astype(int)
    python = smf.ols("Y ~ X2_q_peg_score * A2_switch", data=s2).fit().params
    assert len(r) == 4
    np.testing.assert_allclose(r.to_numpy(), python.reindex(r.index).to_numpy(), rtol=1e-8)
