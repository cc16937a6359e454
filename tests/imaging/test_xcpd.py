"""XCP-D outputs as input: readers, file discovery and the shared feature columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.imaging import brain, xcpd
from backpheno.imaging.settings import BrainSettings

NODES = ["LH_Vis_1", "LH_Vis_2", "RH_Default_1", "RH_Default_2", "RH_Default_3"]


def _write_xcpd(root, pid="sub-01", entity="seg", atlas="4S156Parcels", matrix=None,
                nodes=NODES):
    func = root / "derivatives" / "xcp_d" / pid / "ses-V0" / "func"
    func.mkdir(parents=True, exist_ok=True)
    if matrix is None:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((100, len(nodes)))
        matrix = np.corrcoef(x, rowvar=False)
    frame = pd.DataFrame(matrix, index=pd.Index(nodes, name="Node"), columns=nodes)
    stem = f"{pid}_ses-V0_task-rest"
    relmat = func / (f"{stem}_space-MNI152NLin2009cAsym_{entity}-{atlas}"
                     "_stat-pearsoncorrelation_relmat.tsv")
    frame.to_csv(relmat, sep="\t", na_rep="n/a")
    pd.DataFrame({"mean_fd": [0.12], "num_censored_volumes": [10], "num_retained_volumes": [190],
                  "num_dummy_volumes": [0]}).to_csv(
        func / f"{stem}_space-MNI152NLin2009cAsym_desc-linc_qc.tsv", sep="\t", index=False)
    (func / f"{stem}_space-MNI152NLin2009cAsym_desc-denoised_bold.json").write_text(
        json.dumps({"RepetitionTime": 0.8}), encoding="utf-8")
    pd.DataFrame({"participant_id": [pid], "site": ["a"], "age": [30], "sex": ["M"],
                  "deep_phenotyping": ["true"]}).to_csv(root / "participants.tsv", sep="\t",
                                                        index=False)
    return relmat, matrix


@pytest.mark.parametrize("entity", ["seg", "atlas"])
def test_xcpd_session_features(tmp_path, entity):
    relmat, matrix = _write_xcpd(tmp_path, entity=entity)
    settings = BrainSettings(input="xcpd", xcpd_atlas="4S156Parcels")
    inputs = brain.EXTRACTOR.find_inputs(Dataset(tmp_path), "sub-01", "ses-V0", settings)
    assert inputs["relmat/task"] == relmat and "qc/task" in inputs and "sidecar/task" in inputs
    result = brain.EXTRACTOR.extract(inputs, settings, "sub-01", "ses-V0")
    z = np.arctanh(np.where(np.eye(len(matrix), dtype=bool), 0.0, matrix))
    assert result.features["brain.fc.Vis__Vis"] == pytest.approx(z[0, 1])
    assert result.features["brain.fc.Default__Vis"] == pytest.approx(z[:2, 2:].mean())
    assert result.features["brain.fc.Default__Default"] == pytest.approx(
        np.mean([z[2, 3], z[2, 4], z[3, 4]]))
    assert result.features["brain.qc.mean_fd_mm"] == 0.12
    assert result.features["brain.qc.pct_censored"] == pytest.approx(5.0)
    assert result.features["brain.qc.retained_s"] == pytest.approx(190 * 0.8)
    assert np.isnan(result.features["brain.seed.mpfc__nacc"])
    assert any(r["status"] == "missing" and "voxel-based" in r["item"] for r in result.qc)
    roles = {r["name"]: r["role"] for r in result.codebook}
    assert roles["brain.qc.mean_fd_mm"] == "covariate"


def test_xcpd_matrix_gives_the_same_summaries_as_the_fmriprep_path(sim_run, tmp_path):
    run = brain.extract_run(sim_run.bold, sim_run.confounds, sim_run.mask,
                            settings=BrainSettings(qc={"exclude_flagged_runs": False}))
    names = list(run.connectivity.index)
    _write_xcpd(tmp_path, matrix=run.connectivity.to_numpy(), nodes=names)
    settings = BrainSettings(input="xcpd", xcpd_atlas="4S156Parcels")
    inputs = xcpd.find_inputs(Dataset(tmp_path), "sub-01", "ses-V0", settings)
    result = brain.EXTRACTOR.extract(inputs, settings, "sub-01", "ses-V0")
    for name in ("brain.fc.DefaultMode__Salience", "brain.fc.Visual__Visual"):
        assert np.isfinite(run.features[name])
        assert result.features[name] == pytest.approx(run.features[name], abs=1e-9)


def test_readers_reject_malformed_files(tmp_path):
    path = tmp_path / "x_relmat.tsv"
    pd.DataFrame({"Node": ["a", "b"], "a": [1.0, 0.2]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match="not a square"):
        xcpd.read_relmat(path)
    settings = BrainSettings(input="xcpd", xcpd_atlas="Other")
    _write_xcpd(tmp_path)
    with pytest.raises(InputError, match="no XCP-D outputs for atlas Other.*atlases found: "
                                         "4S156Parcels"):
        xcpd.find_inputs(Dataset(tmp_path), "sub-01", "ses-V0", settings)
    assert xcpd.find_inputs(Dataset(tmp_path), "sub-02", "ses-V0", settings) is None
    with pytest.raises(ValueError, match="xcpd_atlas"):
        BrainSettings(input="xcpd")
