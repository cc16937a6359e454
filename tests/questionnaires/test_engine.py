"""Input checks: one error lists every offender; the opt-in policy sets them missing with QC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backpheno.questionnaires import AnswerError, score
from backpheno.questionnaires.api import score_instrument

from .conftest import frame

PI = ("PAININ9", "PAININ22", "PAININ31", "PAININ34")


def _bad_table() -> pd.DataFrame:
    table = frame([dict(zip(PI, row, strict=True)) for row in
                   ([3, 4, 2, 3], [7, 4, 2, 3], ["x", 1, 1, 1], [1, 1, 1, 1], [2, 2, 0, 9])])
    table.loc[3, "participant_id"] = "sub-02"  # sub-02 ses-V0 twice
    table["note"] = "free text"                 # unknown column
    return table.drop(columns="PAININ34").assign(PAININ34=[3, 3, 1, 1, 9])


def test_one_error_lists_every_offender():
    with pytest.raises(AnswerError) as err:
        score(_bad_table(), "promis_pi_4a")
    offenders = err.value.offenders
    problems = set(zip(offenders["participant_id"].fillna(""), offenders["column"].fillna(""),
                       offenders["problem"].str.split(" ").str[0], strict=True))
    assert problems == {
        ("sub-02", "PAININ9", "out"),       # 7 on a 1-5 item
        ("sub-03", "PAININ9", "not"),       # "x"
        ("sub-05", "PAININ31", "out"),      # 0
        ("sub-05", "PAININ34", "out"),      # 9
        ("sub-02", "", "duplicated"),
        ("", "note", "unknown"),
    }
    message = str(err.value)
    for fragment in ("sub-02 ses-V0 promis_pi_4a.PAININ9", "sub-03 ses-V0", "sub-05 ses-V0",
                     "duplicated participant-session row (2 rows)", "promis_pi_4a.note",
                     "allowed 1..5", "value 'x'"):
        assert fragment in message


def test_missing_item_column_is_reported():
    table = frame([dict(PAININ9=1, PAININ22=1, PAININ31=1)])
    with pytest.raises(AnswerError, match="PAININ34: item column missing"):
        score(table, "promis_pi_4a")


def test_set_missing_policy_records_every_problem_in_qc():
    result = score_instrument(_bad_table(), "promis_pi_4a", invalid_answers="set_missing")
    scores = result.scores["q.promis_pi_4a.t_score"]
    # sub-01 valid; sub-02 duplicated -> dropped; sub-03 / sub-05 have answers set missing
    assert list(scores.index.get_level_values("participant_id")) == ["sub-01", "sub-03", "sub-05"]
    assert scores.loc[("sub-01", "ses-V0")] == 61.2
    assert scores.drop(("sub-01", "ses-V0")).isna().all()
    qc = result.qc
    flagged = qc[qc["status"] == "flagged"]
    assert len(flagged) == 6
    assert set(flagged["item"]) == {"promis_pi_4a.PAININ9", "promis_pi_4a.PAININ31",
                                    "promis_pi_4a.PAININ34", "promis_pi_4a", "promis_pi_4a.note"}
    assert flagged["reason"].str.contains("set missing|rows dropped|ignored").all()
    missing = qc[qc["status"] == "missing"]
    assert set(missing["participant_id"]) == {"sub-03", "sub-05"}
    assert (missing["item"] == "q.promis_pi_4a.raw").all()


def test_invalid_identifiers_are_reported():
    table = frame([dict(zip(PI, (1, 1, 1, 1), strict=True))] * 2)
    table.loc[0, "participant_id"] = "001"
    table.loc[1, "session_id"] = "V0"
    with pytest.raises(AnswerError) as err:
        score(table, "promis_pi_4a")
    assert set(err.value.offenders["column"]) == {"participant_id", "session_id"}


def test_tables_without_identifiers_keep_their_index():
    table = pd.DataFrame({c: [1, 5] for c in PI}, index=["a", "b"])
    out = score(table, "promis_pi_4a")
    assert list(out.index) == ["a", "b"]
    assert out["q.promis_pi_4a.t_score"].tolist() == [41.6, 75.6]
    table.loc["b", "PAININ9"] = 6
    with pytest.raises(AnswerError, match="row b promis_pi_4a.PAININ9"):
        score(table, "promis_pi_4a")


def test_optional_cognition_columns_absent_skip_cognition_and_propr_silently():
    from backpheno.questionnaires.instruments.promis import DOMAIN_ITEMS

    row = {i: 3 for key in DOMAIN_ITEMS for i, _ in DOMAIN_ITEMS[key]} | {"Global07": 4}
    result = score_instrument(frame([row]), "promis29")
    assert result.qc.empty
    assert result.scores["q.promis29.propr"].isna().all()
    assert result.scores["q.promis29.pi_t_score"].notna().all()
    row |= {"PC43_2r": 3, "PC44_2r": None}
    result = score_instrument(frame([row]), "promis29")
    assert result.qc["item"].tolist() == ["q.promis29.cognition_raw"]


def test_strings_from_tsv_files_are_numbers():
    table = frame([dict(zip(PI, ("3", "4", "2", " 3 "), strict=True))])
    assert score(table, "promis_pi_4a")["q.promis_pi_4a.raw"].item() == 12


def test_unknown_policy_and_instrument():
    from backpheno.errors import InputError

    with pytest.raises(InputError, match="invalid_answers"):
        score(frame([{}]), "peg", invalid_answers="ignore")
    with pytest.raises(InputError, match="unknown instrument"):
        score(frame([{}]), "sf36")


def test_fractional_answers_are_out_of_range_on_integer_items():
    table = frame([dict(zip(PI, (2.5, 1, 1, 1), strict=True))])
    with pytest.raises(AnswerError, match="out of range"):
        score(table, "promis_pi_4a")


def test_missing_answers_are_never_imputed():
    rows = [dict(zip(PI, (np.nan, np.nan, np.nan, np.nan), strict=True))]
    result = score_instrument(frame(rows), "promis_pi_4a")
    assert result.scores.isna().all(axis=None)
    assert result.qc["reason"].item().startswith("4 items of 4 missing")


def test_blank_and_na_text_cells_are_missing_answers():
    table = frame([dict(zip(PI, ("3", "", "n/a", 2), strict=True))]).astype(object)
    result = score_instrument(table, "promis_pi_4a")
    assert result.scores.isna().all(axis=None)
    assert result.qc["reason"].item().startswith("2 items of 4 missing")
