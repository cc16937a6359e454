"""``backpheno extract`` with a ``freesurfer:`` section on a small dataset of real stats files."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from backpheno.cli import app
from backpheno.config import load_config
from backpheno.errors import ConfigError
from backpheno.extract import ExtractConfig, configured_extractors, run_extract
from backpheno.table import read_feature_table

runner = CliRunner()
SUBJECTS = {"sub-001": "soichi", "sub-002": "fabian"}


def _dataset(root, realdata):
    """Four participants: two FreeSurfer subjects (real stats files), one none, one unfinished."""
    (root / "phenotype").mkdir(parents=True)
    people = ["sub-001", "sub-002", "sub-003", "sub-004"]
    pd.DataFrame({"participant_id": people, "site": "s1", "age": 50, "sex": "F",
                  "deep_phenotyping": "true"}).to_csv(root / "participants.tsv", sep="\t",
                                                       index=False)
    pd.DataFrame({"participant_id": people, "stage": 1, "arm": "ESC", "randomized": "true"}
                 ).to_csv(root / "phenotype" / "treatment.tsv", sep="\t", index=False)
    pd.DataFrame({"participant_id": people * 2, "session_id": ["ses-V0"] * 4 + ["ses-V1"] * 4,
                  "peg_01": 6, "peg_02": 6, "peg_03": [6] * 4 + [3] * 4}
                 ).to_csv(root / "phenotype" / "peg.tsv", sep="\t", index=False)
    subjects = root / "derivatives" / "fmriprep" / "sourcedata" / "freesurfer"
    for pid, source in SUBJECTS.items():
        shutil.copytree(realdata / "freesurfer_stats" / source, subjects / pid / "stats")
    (subjects / "sub-004" / "stats").mkdir(parents=True)
    return root


def _config(tmp_path, dataset, section="freesurfer: {atlases: [aparc, aparc.a2009s]}\n"):
    path = tmp_path / "extract.yaml"
    path.write_text(f"dataset: {dataset}\nout: {tmp_path / 'out'}\n"
                    "questionnaires: {pgic_coding: bacpac_0_6, instruments: [peg]}\n"
                    "brain: null\nspine: null\nbiomech: null\n" + section)
    return path


def test_extract_writes_freesurfer_features_codebook_and_qc(realdata, tmp_path):
    dataset = _dataset(tmp_path / "ds", realdata)
    config = _config(tmp_path, dataset)
    result = runner.invoke(app, ["extract", str(config), "--allow-failures"])
    assert result.exit_code == 0, result.output
    table = read_feature_table(tmp_path / "out" / "features.parquet")
    soichi, fabian = (table.data.loc[(pid, "ses-V0")] for pid in SUBJECTS)
    assert soichi["brain.aseg.eTIV"] == 1420434.160521
    assert soichi["brain.aparc.lh_superiorfrontal.thickness_mm"] == 2.894
    assert fabian["brain.aparc_a2009s.rh_G_and_S_frontomargin.area_mm2"] == 766
    assert pd.isna(fabian["brain.aseg.eTIV"])
    assert table.data.loc[("sub-001", "ses-V1"), "q.peg.score"] == 5
    codebook = table.codebook
    assert codebook.at["brain.aseg.eTIV", "role"] == "covariate"
    assert codebook.at["brain.aparc.lh_superiorfrontal.thickness_mm", "modality"] == "brain"
    qc = table.qc[table.qc["modality"] == "freesurfer"].set_index(["participant_id", "item"])
    assert qc.at[("sub-002", "aseg"), "status"] == "missing"
    assert qc.at[("sub-003", "*"), "status"] == "missing"
    assert (qc.loc["sub-004", "status"] == "failed").all()
    assert "recon-all not finished" in qc.loc["sub-004", "reason"].iloc[0]
    assert (qc.loc["sub-001", "status"] == "ok").all()

    again = runner.invoke(app, ["extract", str(config), "--allow-failures"])
    assert again.exit_code == 0, again.output
    summary = json.loads((tmp_path / "out" / "extract_summary.json").read_text())
    assert summary["n_cached"] == summary["n_tasks"] == 2


def test_one_freesurfer_subject_per_session(realdata, tmp_path):
    dataset = _dataset(tmp_path / "ds", realdata)
    subjects = dataset / "derivatives" / "fmriprep" / "sourcedata" / "freesurfer"
    shutil.copytree(subjects / "sub-001", subjects / "sub-001_ses-V1")
    (subjects / "sub-001" / "stats" / "aseg.stats").unlink()
    config = load_config(_config(tmp_path, dataset, "deep_sessions: [ses-V0, ses-V1]\n"
                                 "freesurfer: {subject: '{participant}_{session}'}\n"),
                         ExtractConfig)
    assert config.freesurfer.per_session
    subjects.joinpath("sub-001").rename(subjects / "sub-001_ses-V0")
    data = run_extract(config).result.table.data
    assert pd.isna(data.loc[("sub-001", "ses-V0"), "brain.aseg.eTIV"])
    assert data.loc[("sub-001", "ses-V1"), "brain.aseg.eTIV"] == 1420434.160521
    assert data.loc[("sub-001", "ses-V1"), "brain.aparc.lh_superiorfrontal.thickness_mm"] \
        == data.loc[("sub-001", "ses-V0"), "brain.aparc.lh_superiorfrontal.thickness_mm"]


def test_freesurfer_session_must_be_extracted(tmp_path, realdata):
    dataset = _dataset(tmp_path / "ds", realdata)
    with pytest.raises(ConfigError, match="freesurfer.session ses-V1 is not one of"):
        load_config(_config(tmp_path, dataset, "freesurfer: {session: ses-V1}\n"),
                    ExtractConfig)
    assert "freesurfer" not in configured_extractors(
        load_config(_config(tmp_path, dataset, ""), ExtractConfig))
