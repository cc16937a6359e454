"""The synthetic questionnaire, clinical-test and QST generator."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backpheno.dataset import Dataset
from backpheno.io import read_json, read_tsv
from backpheno.questionnaires import QuestionnaireSettings, get_instrument, score_dataset
from backpheno.synth import design, phenotype, traits
from backpheno.synth.config import SimulateConfig

WRITTEN = phenotype.WRITTEN


@pytest.fixture(scope="module")
def scored(small_cohort):
    return score_dataset(Dataset(small_cohort), QuestionnaireSettings(pgic_coding="bacpac_0_6"))


@pytest.fixture(scope="module")
def larger(tmp_path_factory):
    """400 participants: enough to see each trait's effects."""
    config = SimulateConfig(participants=400, seed=11, item_missing_rate=0.0)
    rng = np.random.default_rng(11)
    cohort = traits.sample_participants(config, rng)
    assignment = design.assign_smart(cohort, config, rng)
    root = tmp_path_factory.mktemp("phenotype")
    phenotype.write_phenotype(root, cohort, assignment, config)
    tables = {name: read_tsv(root / "phenotype" / f"{name}.tsv") for name in WRITTEN}
    from backpheno.questionnaires import score_tables

    data = score_tables(tables, QuestionnaireSettings(pgic_coding="bacpac_0_6")).data
    return data, cohort, assignment


def test_every_instrument_is_written_with_official_columns_and_a_sidecar(small_cohort):
    folder = small_cohort / "phenotype"
    for name in WRITTEN:
        table = read_tsv(folder / f"{name}.tsv")
        inst = get_instrument(name)
        assert list(table.columns) == ["participant_id", "session_id", *inst.columns]
        assert set(table["session_id"]) == set(phenotype.SESSIONS)
        sidecar = read_json(folder / f"{name}.json")
        assert set(sidecar) == {"MeasurementToolMetadata", *inst.columns}
    promis = read_tsv(folder / "promis_sleep_6a.tsv")
    assert {"Sleep109", "Sleep116", "Sleep72"} <= set(promis.columns)


def test_every_instrument_but_peg_and_pgic_is_written():
    from backpheno.questionnaires import INSTRUMENT_NAMES

    assert set(WRITTEN) == set(INSTRUMENT_NAMES) - {"peg", "pgic"}


@pytest.mark.parametrize(("form", "parent"), [
    ("promis_pi_4a", "promis29"), ("promis_pf_4a", "promis_pf_6b"), ("promis_sleep_4a", "promis29"),
    ("phq2", "phq9"), ("gad2", "gad7"), ("pcs6", "pcs"), ("tsk11", "tsk17"),
])
def test_shared_items_have_the_same_answer_in_every_form(small_cohort, form, parent):
    short, full = (get_instrument(n) for n in (form, parent))
    a = read_tsv(small_cohort / "phenotype" / f"{form}.tsv")
    b = read_tsv(small_cohort / "phenotype" / f"{parent}.tsv")
    by_code = {it.code: it.column for it in full.items}
    for it in short.items:
        pd.testing.assert_series_equal(a[it.column], b[by_code[it.code]], check_names=False)


def test_dropouts_have_no_follow_up_rows(small_cohort):
    truth = json.loads((small_cohort / "ground_truth.json").read_text())
    dropped = {p["participant_id"] for p in truth["participants"] if p["dropout"]}
    table = read_tsv(small_cohort / "phenotype" / "odi.tsv")
    follow_up = set(table.loc[table["session_id"] != "ses-V0", "participant_id"])
    assert dropped and not dropped & follow_up
    assert dropped <= set(table.loc[table["session_id"] == "ses-V0", "participant_id"])


def test_answers_are_missing_at_the_configured_rate(small_cohort):
    table = read_tsv(small_cohort / "phenotype" / "rmdq.tsv")
    rate = table.filter(like="rmdq_").isna().to_numpy().mean()
    assert 0.0 < rate < 0.03  # test config: item_missing_rate 0.01


def test_answers_are_valid_and_scores_in_range(scored):
    assert len(scored.data) > 0
    for feature, row in scored.codebook.iterrows():
        values = scored.data[feature].dropna()
        if not np.isnan(row["valid_min"]):
            assert (values >= row["valid_min"]).all(), feature
        if not np.isnan(row["valid_max"]):
            assert (values <= row["valid_max"]).all(), feature


def test_drives_name_existing_features(scored):
    for trait, features in phenotype.DRIVES.items():
        assert set(features) <= set(scored.data.columns), trait


SIGNS = {
    "nociplastic": {"q.acr2016.wpi": 1, "q.widespread.count": 1, "q.qst.ppt_lumbar_kgcm2": -1,
                    "q.qst.ts_lumbar": 1, "q.promis_sleep_6a.t_score": 1,
                    "q.promis_fat_4a.t_score": 1, "q.sleepdur.hours": -1},
    "distress": {"q.promis_anx_4a.t_score": 1, "q.promis_dep_4a.t_score": 1, "q.phq9.total": 1,
                 "q.gad7.total": 1, "q.pcs.total": 1},
    "fear_avoidance": {"q.tsk17.total": 1, "q.fabq.physical_activity": 1,
                       "q.physical_exam.lumbar_flexion_deg": -1},
    "mechanical": {"q.odi.percent": 1, "q.rmdq.total": 1,
                   "q.physical_exam.lumbar_flexion_deg": -1,
                   "q.physical_exam.gait_speed_mps": -1},
}


@pytest.mark.parametrize("trait", sorted(SIGNS))
def test_traits_drive_their_features_at_baseline(larger, trait):
    data, cohort, _ = larger
    baseline = data.xs("ses-V0", level="session_id").join(cohort[trait])
    for feature, sign in SIGNS[trait].items():
        r = baseline[[feature, trait]].corr().iloc[0, 1]
        assert sign * r > 0.25, (feature, r)


def test_responders_improve_more_at_v1(larger):
    data, _, assignment = larger
    change = (data.xs("ses-V1", level="session_id")["q.promis_pi_4a.t_score"]
              - data.xs("ses-V0", level="session_id")["q.promis_pi_4a.t_score"]).dropna()
    responder = assignment.loc[change.index, "responder"]
    assert change[responder].mean() < change[~responder].mean() - 2.0
    odi = (data.xs("ses-V1", level="session_id")["q.odi.percent"]
           - data.xs("ses-V0", level="session_id")["q.odi.percent"]).dropna()
    assert odi[assignment.loc[odi.index, "responder"]].mean() < 0


def test_same_seed_same_answers(tmp_path):
    config = SimulateConfig(participants=20, seed=5)
    outs = []
    for k in range(2):
        rng = np.random.default_rng(5)
        cohort = traits.sample_participants(config, rng)
        assignment = design.assign_smart(cohort, config, rng)
        phenotype.write_phenotype(tmp_path / str(k), cohort, assignment, config)
        outs.append(read_tsv(tmp_path / str(k) / "phenotype" / "qst.tsv"))
    pd.testing.assert_frame_equal(*outs)
