"""CSV sidecars for R: TRUE/FALSE logicals, NA, R-safe names; read by R itself where installed."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from backpheno.rcsv import r_frame, r_name, r_names, write_r_csv

RSCRIPT = shutil.which("Rscript")


def test_r_names_follow_what_read_csv_keeps():
    assert r_name("q.promis.anx_t_score") == "q.promis.anx_t_score"  # unchanged
    assert r_name("brain.fc.DMN-SAL") == "brain.fc.DMN_SAL"
    assert r_name("1st visit") == "X1st_visit"
    assert r_name("_hidden") == "X_hidden"
    assert r_name(".5x") == "X.5x" and r_name(".ok") == ".ok"
    assert r_name("TRUE") == "XTRUE"
    with pytest.raises(ValueError, match="both become 'a_b'"):
        r_names(["a-b", "a_b"])


def test_logical_columns_become_true_false_and_missing_na(tmp_path):
    frame = pd.DataFrame({"flag": [True, False, True], "nullable": pd.array([True, None, False],
                                                                           dtype="boolean"),
                          "obj": [True, None, np.False_], "n": [1.0, np.nan, 3.0],
                          "text": ["a", None, "c"], "x-y": [1, 2, 3]},
                         index=pd.Index(["p1", "p2", "p3"], name="participant_id"))
    out = r_frame(frame)
    assert list(out.columns) == ["flag", "nullable", "obj", "n", "text", "x_y"]
    assert out["flag"].tolist() == ["TRUE", "FALSE", "TRUE"]
    assert out["nullable"].iloc[0] == "TRUE" and pd.isna(out["nullable"].iloc[1])
    assert out["obj"].iloc[2] == "FALSE"
    path = write_r_csv(frame, tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "participant_id,flag,nullable,obj,n,text,x_y"
    assert lines[2] == "p2,FALSE,NA,NA,NA,NA,2"


@pytest.mark.skipif(RSCRIPT is None, reason="R (Rscript) is not installed")
def test_r_reads_logicals_and_names_and_fits_a_stage2_lm(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({
        "id": [f"sub-{i:03d}" for i in range(n)], "responder": rng.random(n) < 0.4,
        "brain.fc.DMN-SAL": rng.normal(size=n),
        "A2": np.where(np.arange(n) % 2 == 0, "augment", "switch"),
        "Y": rng.normal(size=n)})
    frame.loc[3, "Y"] = np.nan
    path = write_r_csv(frame, tmp_path / "smart.csv", index=False)
    script = """
d <- read.csv(commandArgs(TRUE)[1])
stopifnot(is.logical(d$responder), identical(names(d)[3], "brain.fc.DMN_SAL"))
stopifnot(sum(is.na(d$Y)) == 1)
fit <- lm(Y ~ brain.fc.DMN_SAL * A2, data = d, subset = !responder)
cat(sprintf("%d %d\\n", sum(d$responder), nobs(fit)))
"""
    done = subprocess.run([RSCRIPT, "-e", script, str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    responders, used = map(int, done.stdout.split())
    assert responders == int(frame["responder"].sum())
    assert used == int((~frame["responder"] & frame["Y"].notna()).sum())
