"""The BACPAC Minimum Dataset long format: same answers in either format, same scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.questionnaires import (
    AnswerError,
    QuestionnaireSettings,
    SdtmInput,
    VisitMap,
    score_dataset,
    score_tables,
)
from backpheno.questionnaires.sdtm import read_sdtm, write_sdtm

# Participant SMART-0201-00001, week 0, of the BACPAC Minimum Dataset example data
# (Vincent-Toups/bacpac_val source_data/QSmd_err.csv): (QSSCAT, QSTESTCD, QSSTRESN, QSDRVFL).
# Derived rows (QSDRVFL = Y) carry the Minimum Dataset's own scores.
ANX = "PROMIS Emotional Distress - Anxiety"
DEP = "PROMIS Emotional Distress - Depression"
PCS = "Pain Catastrophizing Scale"
PI = "PROMIS Pain Interference"
PF = "PROMIS Physical Function"
SLEEP = "PROMIS Sleep Disturbance"
LBPDF = "Low Back Pain Duration and Frequency"
RAD = "Radicular Low Back Pain"
PSOM = "Abbreviated Pain Somatization"
WPI = "Widespread Pain Inventory"
MDS_QS = [
    ("GAD", "GAD01", "2", ""), ("GAD", "GAD02", "2", ""), ("GAD", "GAD2RAW", "4", "Y"),
    (ANX, "EDANX01", "1", ""),
    (ANX, "EDANX40", "1", ""),
    (ANX, "EDANX41", "5", ""),
    (ANX, "EDANX53", "2", ""),
    (ANX, "PRANX4AR", "9", "Y"),
    (ANX, "PRANX4AT", "57.7", "Y"),
    ("PHQ", "PHQ01", "1", ""), ("PHQ", "PHQ02", "3", ""), ("PHQ", "PHQ2RAW", "4", "Y"),
    (DEP, "EDDEP04", "4", ""),
    (DEP, "EDDEP06", "1", ""),
    (DEP, "EDDEP29", "1", ""),
    (DEP, "EDDEP41", "1", ""),
    (DEP, "PRDEP4AT", "53.9", "Y"),
    ("Current Opioid Use", "OPIOID01", "1", ""),
    (PCS, "PCS10", "1", ""), (PCS, "PCS11", "4", ""),
    (PCS, "PCS13", "4", ""), (PCS, "PCS4", "2", ""),
    (PCS, "PCS5", "0", ""), (PCS, "PCS6", "1", ""),
    (PCS, "PCSRAW", "12", "Y"),
    (LBPDF, "LBPDF01", "2", ""),
    (LBPDF, "LBPDF02", "1", ""),
    ("Low Back Pain Intensity", "LBPPINT1", "4", ""),
    ("PEG", "PEG1", "6", ""), ("PEG", "PEG2", "10", ""), ("PEG", "PEG3", "1", ""),
    ("PEG", "PEGSCORE", "5.6667", "Y"),
    (PI, "PAININ22", "5", ""), (PI, "PAININ31", "2", ""),
    (PI, "PAININ34", "5", ""), (PI, "PAININ9", "1", ""),
    (PI, "PRPI4AT", "62.5", "Y"),
    (RAD, "RADLBP1", "0", ""), (RAD, "RADLBP2", "0", ""),
    (PSOM, "PSOM1", "1", ""),
    (PSOM, "PSOM2", "3", ""),
    ("Patient Global Impression of Change", "PGIC1", ".", ""),
    (PF, "PFA11", "1", ""), (PF, "PFA21", "2", ""),
    (PF, "PFA23", "5", ""), (PF, "PFA53", "2", ""),
    (PF, "PFB1", "1", ""), (PF, "PFC12", "3", ""),
    (PF, "PRPF6BR", "14", "Y"),
    (SLEEP, "PRSD6AT", "66.5", "Y"),
    (SLEEP, "SLEEP108", "5", ""), (SLEEP, "SLEEP109", "4", ""),
    (SLEEP, "SLEEP116", "5", ""), (SLEEP, "SLEEP20", "5", ""),
    (SLEEP, "SLEEP44", "2", ""), (SLEEP, "SLEEP72", "5", ""),
    ("Sleep Duration", "PSQI4", "3.1833", ""),
    ("TAPS", "TAPS1Q1", "0", ""), ("TAPS", "TAPS1Q4", "4", ""),
    *[(WPI, f"PNAREA{i}", v, "") for i, v in
      zip(range(1, 8), "1011101", strict=True)],
    (WPI, "WDSPPNUM", "5", "Y"),
]

#: The Minimum Dataset's derived scores for these answers, and backpheno's feature for each.
MDS_DERIVED = {
    "q.gad2.total": 4, "q.promis_anx_4a.raw": 9, "q.promis_anx_4a.t_score": 57.7,
    "q.phq2.total": 4, "q.promis_dep_4a.t_score": 53.9, "q.pcs6.total": 12,
    "q.peg.score": 5.6667, "q.promis_pi_4a.t_score": 62.5, "q.promis_pf_6b.raw": 14,
    "q.promis_sleep_6a.t_score": 66.5, "q.widespread.count": 5, "q.sleepdur.hours": 3.1833,
    "q.opioid.daily_use": 1, "q.lbpint.score": 4, "q.psom.score": 4,
}

# The same participant's FT rows (bacpac_val source_data/ft.csv):
# (FTTESTCD, FTLOC, FTREPNUM, FTSTRESN, FTSTAT, FTREASND, FTDRVFL)
MDS_FT = [
    ("CPMPPT", "", "1", "4", "", "", ""), ("CPMPPT", "", "2", "4", "", "", ""),
    ("SIT2ST5X", "", ".", "13.6", "", "", ""),
    ("WALK4M", "", "1", "1.2", "", "", ""), ("WALK4M", "", "2", "1.2", "", "", ""),
    ("HIPIRD", "", ".", "34.7", "", "", ""),
    ("LEXTNS1", "", ".", "9.8", "", "", ""), ("LEXTNT12", "", ".", "28.2", "", "", ""),
    ("LEXTNTOT", "", ".", "18.4", "", "", "Y"), ("LFLEXS1", "", ".", "30.8", "", "", ""),
    ("LFLEXT12", "", ".", "62", "", "", ""), ("LFLEXTOT", "", ".", "31.2", "", "", "Y"),
    ("LOWBPAIN", "", ".", "3", "", "", ""),
    *[("PPTTEST", loc, rep, "3.4", "", "", "") for loc, rep in
      (("Lower Back", "1"), ("Lower Back", "2"), ("Lower Back", "3"), ("Trapezius", "1"),
       ("Trapezius", "2"), ("Trapezius", "3"))],
    ("LINGPN15", "Lumbar Region", "1", "4", "", "", ""),
    ("LINGPN15", "Lumbar Region", "2", ".", "Not done", "No lingering pain", ""),
    ("LINGPN15", "Lumbar Region", "3", "10", "", "", ""),
    ("LINGPN15", "Volar Forearm", "1", "8", "", "", ""),
    ("LINGPN15", "Volar Forearm", "2", ".", "Not done", "No lingering pain", ""),
    ("LINGPN15", "Volar Forearm", "3", "4", "", "", ""),
    ("LINGPN30", "Lumbar Region", "1", "7", "", "", ""),
    ("LINGPN30", "Lumbar Region", "2", ".", "Not done", "No lingering pain", ""),
    ("LINGPN30", "Lumbar Region", "3", "10", "", "", ""),
    ("LINGPN30", "Volar Forearm", "1", "3", "", "", ""),
    ("LINGPN30", "Volar Forearm", "2", ".", "Not done", "No lingering pain", ""),
    ("LINGPN30", "Volar Forearm", "3", "0", "", "", ""),
    ("MDPTS", "Lumbar Region", ".", "1.667", "", "", "Y"),
    *[("PNTSUM01", "Lumbar Region", str(t), v, "", "", "") for t, v in zip((1, 2, 3), "054",
                                                                           strict=True)],
    *[("PNTSUM10", "Lumbar Region", str(t), v, "", "", "") for t, v in zip((1, 2, 3), "257",
                                                                           strict=True)],
    ("TMWTOTD", "", ".", "151.6", "", "", ""),
]

MDS_FT_DERIVED = {
    "q.physical_exam.lumbar_flexion_deg": 31.2,   # LFLEXTOT
    "q.physical_exam.lumbar_extension_deg": 18.4,  # LEXTNTOT
    "q.qst.ts_lumbar": 1.667,                      # MDPTS, lumbar
    "q.qst.ts_lumbar_after15": 4.667,              # PTSMN15S, lumbar
    "q.qst.ts_lumbar_after30": 5.667,              # PTSMN30S, lumbar
    "q.qst.ts_forearm_after15": 4.0,               # PTSMN15S, forearm
    "q.qst.ts_forearm_after30": 1.0,               # PTSMN30S, forearm
}


def _qs(rows=MDS_QS, with_label: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["QSSCAT", "QSTESTCD", "QSSTRESN", "QSDRVFL"])
    frame.insert(0, "USUBJID", "SMART-0201-00001")
    frame.insert(0, "STUDYID", "SMART")
    frame["VISITNUM"] = "0"
    return frame if with_label else frame.drop(columns="QSSCAT")


def _ft() -> pd.DataFrame:
    frame = pd.DataFrame(MDS_FT, columns=["FTTESTCD", "FTLOC", "FTREPNUM", "FTSTRESN", "FTSTAT",
                                          "FTREASND", "FTDRVFL"])
    frame.insert(0, "USUBJID", "SMART-0201-00001")
    frame.insert(0, "STUDYID", "SMART")
    frame["VISITNUM"] = "0"
    return frame


SETTINGS = QuestionnaireSettings(pgic_coding="bacpac_0_6")


@pytest.mark.parametrize("with_label", [True, False])
def test_minimum_dataset_example_reproduces_its_derived_scores(with_label):
    tables = read_sdtm(_qs(with_label=with_label), _ft())
    table = score_tables(tables, SETTINGS)
    row = table.data.loc[("sub-020100001", "ses-V0")]
    for feature, expected in {**MDS_DERIVED, **MDS_FT_DERIVED}.items():
        assert row[feature] == pytest.approx(expected, abs=6e-4), feature
    assert np.isnan(row["q.pgic.score"])
    # the short forms come out as the Minimum Dataset's forms, not as the forms they contain
    assert {"promis_pf_6b", "promis_sleep_6a", "pcs6", "phq2", "gad2"} <= set(tables)
    assert not {"promis_pf_4a", "promis_sleep_4a", "pcs", "phq9"} & set(tables)


def test_cpm_and_ppt_from_the_example():
    table = score_tables(read_sdtm(ft=_ft()), SETTINGS).data.iloc[0]
    assert table["q.qst.ppt_lumbar_kgcm2"] == pytest.approx(3.4)
    assert table["q.qst.cpm_abs_kgcm2"] == pytest.approx(0.6)
    assert table["q.qst.cpm_pct"] == pytest.approx(100 * 0.6 / 3.4)
    assert table["q.physical_exam.walk4m_time_s"] == pytest.approx(1.2)


def test_sdtm_problems_are_listed_together():
    qs = _qs()
    qs.loc[len(qs)] = ["SMART", "SMART-0201-00001", "PEG", "PEG9", "3", "", "0"]
    qs.loc[len(qs)] = ["SMART", "SMART-0201-00002", "PEG", "PEG1", "3", "", "7"]
    qs.loc[len(qs)] = ["SMART", "SMART-0201-00001", "PROMIS Pain Interference", "PAININ9", "2",
                       "", "0"]
    qs.loc[len(qs)] = ["SMART", "SMART-0201-00003", "PEG", "PEG2", "ten", "", "0"]
    qs.loc[len(qs)] = ["SMART", "SMART-0201-00003", "", "XYZ1", "1", "", "0"]
    with pytest.raises(AnswerError) as err:
        read_sdtm(qs)
    problems = err.value.offenders["problem"].str.split(" ").str[0].tolist()
    columns = err.value.offenders["column"].tolist()
    assert sorted(zip(columns, problems, strict=True)) == sorted([
        ("PEG9", "QSTESTCD"), ("PEG1", "VISITNUM"), ("PAININ9", "duplicated"),
        ("PEG2", "QSSTRESN"), ("XYZ1", "unknown")])


def test_incomplete_unlabelled_forms_are_reported_not_guessed():
    qs = _qs(with_label=False)
    qs = qs[qs["QSTESTCD"] != "PAININ34"]
    with pytest.raises(AnswerError, match="could not be assigned"):
        read_sdtm(qs)
    tables = read_sdtm(qs, instruments=["promis_pi_4a"])
    assert set(tables) == {"promis_pi_4a"}
    assert tables["promis_pi_4a"]["PAININ34"].isna().all()
    assert tables["promis_pi_4a"]["PAININ9"].tolist() == [1]


def test_bids_and_sdtm_give_identical_feature_tables(small_cohort, tmp_path):
    dataset = Dataset(small_cohort)
    bids = score_dataset(dataset, SETTINGS)
    paths = write_sdtm(dataset, tmp_path / "sdtm")
    settings = QuestionnaireSettings(pgic_coding="bacpac_0_6",
                                     sdtm=SdtmInput(qs=paths["qs"], ft=paths["ft"]))
    sdtm = score_dataset(dataset, settings)
    assert list(sdtm.data.columns) == list(bids.data.columns)
    assert sdtm.data.index.equals(bids.data.index)
    np.testing.assert_array_equal(sdtm.data.to_numpy(), bids.data.to_numpy())
    pd.testing.assert_frame_equal(sdtm.qc.reset_index(drop=True), bids.qc.reset_index(drop=True))
    assert len(bids.data.columns) > 60 and bids.data.notna().any().all()


def test_unlabelled_export_gives_the_same_scores(small_cohort, tmp_path):
    dataset = Dataset(small_cohort)
    names = ["promis_pi_4a", "promis_sleep_6a", "peg", "pcs", "tsk17", "qst"]
    tables = {n: dataset.phenotype(n) for n in names}
    paths = write_sdtm(tables, tmp_path)
    qs = pd.read_csv(paths["qs"], dtype=str).drop(columns=["QSSCAT"])
    got = read_sdtm(qs, paths["ft"])
    assert set(got) == set(names)
    direct = score_tables(tables, SETTINGS).data
    again = score_tables(got, SETTINGS).data.loc[direct.index, direct.columns]
    np.testing.assert_array_equal(again.to_numpy(), direct.to_numpy())


def test_minimum_dataset_pgic_coding_is_enforced(tmp_path):
    path = tmp_path / "qs.csv"
    _qs().to_csv(path, index=False)
    settings = QuestionnaireSettings(pgic_coding="common_1_7", sdtm=SdtmInput(qs=path))
    with pytest.raises(InputError, match="bacpac_0_6"):
        score_dataset(None, settings)
    table = score_dataset(None, QuestionnaireSettings(pgic_coding="bacpac_0_6",
                                                      sdtm=SdtmInput(qs=path)))
    assert table.data.loc[("sub-020100001", "ses-V0"), "q.peg.score"] == pytest.approx(17 / 3)


def test_writer_converts_pgic_to_the_minimum_dataset_coding(tmp_path):
    pgic = pd.DataFrame({"participant_id": ["sub-1", "sub-2"], "session_id": ["ses-V1"] * 2,
                         "pgic_01": [1, 7]})
    paths = write_sdtm({"pgic": pgic}, tmp_path, pgic_coding="common_1_7")
    qs = pd.read_csv(paths["qs"])
    assert qs["QSSTRESN"].tolist() == [0, 6] and (qs["VISITNUM"] == 12).all()
    back = read_sdtm(paths["qs"])["pgic"]
    assert back["pgic_01"].tolist() == [0, 6]


def test_reading_and_scoring_problems_come_in_one_error(tmp_path):
    qs = _qs()
    qs.loc[len(qs)] = ["SMART", "SMART-0201-00001", "PEG", "PEG9", "3", "", "0"]
    qs.loc[qs["QSTESTCD"] == "PAININ9", "QSSTRESN"] = "8"
    path = tmp_path / "qs.csv"
    qs.to_csv(path, index=False)
    settings = QuestionnaireSettings(pgic_coding="bacpac_0_6", sdtm=SdtmInput(qs=path))
    with pytest.raises(AnswerError) as err:
        score_dataset(None, settings)
    assert sorted(err.value.offenders["column"]) == ["PAININ9", "PEG9"]
    lenient = settings.model_copy(update={"invalid_answers": "set_missing"})
    table = score_dataset(None, lenient)
    assert sorted(table.qc.loc[table.qc["status"] == "flagged", "item"]) == [
        "peg.PEG9", "promis_pi_4a.PAININ9"]
    assert table.data["q.peg.score"].iloc[0] == pytest.approx(17 / 3)


def test_derived_rows_are_recomputed_even_without_the_derived_flag():
    qs = _qs().assign(QSDRVFL="")
    qs.loc[qs["QSTESTCD"] == "PEGSCORE", "QSSTRESN"] = "9.9"  # a wrong stored score is ignored
    ft = _ft().assign(FTDRVFL="")
    table = score_tables(read_sdtm(qs, ft), SETTINGS).data.iloc[0]
    assert table["q.peg.score"] == pytest.approx(17 / 3)
    assert table["q.physical_exam.lumbar_flexion_deg"] == pytest.approx(31.2)


#: A BACPAC-style export numbering its visits instead of giving weeks.
VISIT_NUMBERS = {0: 1, 6: 2, 12: 3, 18: 4, 24: 5, 36: 6}
VISIT_NAMES = {0: "Baseline", 6: "Week 6", 12: "Visit 1 (Week 12)", 18: "Week 18",
               24: "Visit 2 (Week 24)", 36: "Week 36"}
NUMBERS_TO_SESSIONS = {1: "ses-V0", 2: "ses-W06", 3: "ses-V1", 4: "ses-W18", 5: "ses-V2",
                       6: "ses-W36"}


def _numbered_export(dataset, folder):
    """write_sdtm's tables with VISITNUM as visit numbers and VISIT as visit names."""
    paths = write_sdtm(dataset, folder)
    for path in paths.values():
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        weeks = frame["VISITNUM"].astype(float).astype(int)
        frame["VISITNUM"] = weeks.map(VISIT_NUMBERS).astype(str)
        frame["VISIT"] = weeks.map(VISIT_NAMES)
        frame.to_csv(path, index=False)
    return paths


@pytest.mark.parametrize("visits", [
    VisitMap(sessions=NUMBERS_TO_SESSIONS),
    VisitMap(column="VISIT", sessions={"BASELINE": "ses-V0", "week 6": "ses-W06",
                                       "Visit 1 (Week 12)": "ses-V1", "Week 18": "ses-W18",
                                       "Visit 2 (Week 24)": "ses-V2", "Week 36": "ses-W36"}),
], ids=["VISITNUM", "VISIT"])
def test_visit_numbers_score_like_the_bids_tables_once_mapped(small_cohort, tmp_path, visits):
    dataset = Dataset(small_cohort)
    bids = score_dataset(dataset, SETTINGS)
    paths = _numbered_export(dataset, tmp_path)
    settings = QuestionnaireSettings(pgic_coding="bacpac_0_6", visits=visits,
                                     sdtm=SdtmInput(qs=paths["qs"], ft=paths["ft"]))
    sdtm = score_dataset(dataset, settings)
    assert sdtm.data.index.equals(bids.data.index)
    pd.testing.assert_frame_equal(sdtm.data, bids.data)
    pd.testing.assert_frame_equal(sdtm.qc.reset_index(drop=True), bids.qc.reset_index(drop=True))


def test_unmapped_visit_numbers_are_one_problem_with_count_and_fix(small_cohort, tmp_path):
    paths = _numbered_export(Dataset(small_cohort), tmp_path)
    qs = pd.read_csv(paths["qs"], dtype=str)
    unmapped = int((qs["VISITNUM"] != "6").sum())  # visit 6 reads as week 6 under 'weeks'
    settings = QuestionnaireSettings(pgic_coding="bacpac_0_6", sdtm=SdtmInput(qs=paths["qs"]))
    with pytest.raises(AnswerError) as err:
        score_dataset(None, settings)
    message = str(err.value)
    assert unmapped > 1000 and len(err.value.offenders) >= unmapped
    assert len(message.splitlines()) <= 20
    visit_line = next(line for line in message.splitlines() if "VISITNUM is not" in line)
    assert f"{unmapped:,} rows, e.g. sub-" in visit_line
    assert "questionnaires.visits" in visit_line and "--visit" in visit_line


def test_many_kinds_of_problem_still_print_at_most_20_lines():
    offenders = pd.DataFrame({"participant_id": "sub-1", "session_id": "ses-V0",
                              "instrument": "inst", "column": "c", "value": None,
                              "problem": [f"problem {i}" for i in range(30)]})
    lines = str(AnswerError(offenders)).splitlines()
    assert len(lines) == 20
    assert lines[1] == "  - sub-1 ses-V0 inst.c: problem 0"
    assert lines[-1].startswith("  ... and 12 more line(s) of problems")
    few = str(AnswerError(offenders.head(3).assign(problem="same"))).splitlines()
    assert len(few) == 4  # three rows of one problem are listed one by one


def test_visit_map_names_skips_and_validation():
    qs = pd.concat([_qs().assign(VISITNUM="-1"), _qs().assign(VISITNUM="1")])
    visits = VisitMap(sessions={1: "ses-V0"}, skip=[-1])
    tables = read_sdtm(qs, visits=visits)
    assert tables["peg"]["session_id"].tolist() == ["ses-V0"]
    with pytest.raises(AnswerError, match="VISITNUM is not one of the mapped visits"):
        read_sdtm(qs, visits=VisitMap(sessions={"1.0": "ses-V0"}))
    named = _qs().assign(VISIT=" baseline ")
    tables = read_sdtm(named, visits=VisitMap(column="VISIT", sessions={"Baseline": "ses-V1"}))
    assert set(tables["peg"]["session_id"]) == {"ses-V1"}
    for bad in ({"sessions": {"one": "ses-V0"}}, {"sessions": {1: "V0"}}, {"sessions": {}},
                {"column": "VISITDY", "sessions": {1: "ses-V0"}}):
        with pytest.raises(ValidationError):
            VisitMap(**bad)
    with pytest.raises(InputError, match="QS table: visits.column is VISIT"):
        read_sdtm(qs, visits=VisitMap(column="VISIT", sessions={"x": "ses-V0"}))
