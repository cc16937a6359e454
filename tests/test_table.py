"""FeatureTable: validation, Parquet with embedded codebook, sidecars, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from backpheno.errors import InputError
from backpheno.table import (
    CODEBOOK_COLUMNS,
    QC_COLUMNS,
    FeatureTable,
    codebook_row,
    flag_out_of_range,
    make_codebook,
    make_qc,
    qc_row,
    read_feature_table,
)


def _table():
    index = pd.MultiIndex.from_tuples(
        [("sub-001", "ses-V0"), ("sub-002", "ses-V0"), ("sub-001", "ses-V1")],
        names=["participant_id", "session_id"])
    data = pd.DataFrame({"q.peg.score": [5.0, np.nan, 3.0], "brain.qc.mean_fd": [0.1, 0.2, 0.3]},
                        index=index)
    codebook = make_codebook([
        codebook_row("q.peg.score", modality="q", source="backpheno 0.1 peg", unit="points",
                     description="PEG mean", valid_min=0, valid_max=10,
                     direction="higher = worse pain"),
        codebook_row("brain.qc.mean_fd", modality="brain", source="x", unit="mm",
                     description="mean framewise displacement", role="covariate"),
    ])
    qc = make_qc([{"participant_id": "sub-002", "session_id": "ses-V0", "modality": "q",
                   "item": "peg", "status": "missing", "reason": "2 of 3 items missing"}])
    return FeatureTable(data, codebook, qc, {"config": {"a": 1}})


def test_round_trip_keeps_values_codebook_qc_and_metadata(tmp_path):
    table = _table()
    paths = table.write(tmp_path)
    back = read_feature_table(paths["parquet"])
    pd.testing.assert_frame_equal(back.data, table.data)
    pd.testing.assert_frame_equal(back.codebook, table.codebook, check_dtype=False)
    pd.testing.assert_frame_equal(back.qc, table.qc, check_dtype=False)
    assert back.metadata == {"config": {"a": 1}}
    # the sidecars open without backpheno
    csv = pd.read_csv(paths["csv"], index_col=[0, 1])
    assert csv.shape == table.data.shape
    records = json.loads(paths["codebook_json"].read_text())
    assert [r["name"] for r in records] == ["q.peg.score", "brain.qc.mean_fd"]
    assert set(records[0]) == {*CODEBOOK_COLUMNS, "r_name"}  # the name in the CSV, for R
    assert pd.read_csv(paths["qc"], sep="\t")["status"].tolist() == ["missing"]
    assert not list(tmp_path.glob(".*tmp"))


def test_undocumented_or_duplicated_or_nonnumeric_columns_are_rejected():
    table = _table()
    with pytest.raises(ValueError, match="without a codebook row"):
        FeatureTable(table.data.assign(extra=1.0), table.codebook)
    with pytest.raises(ValueError, match="duplicated"):
        FeatureTable(pd.concat([table.data, table.data.iloc[:1]]), table.codebook)
    with pytest.raises(ValueError, match="non-numeric"):
        FeatureTable(table.data.assign(**{"q.peg.score": "x"}), table.codebook)
    with pytest.raises(ValueError, match="index"):
        FeatureTable(table.data.reset_index(), table.codebook)


def test_codebook_checks():
    with pytest.raises(ValueError, match="role"):
        codebook_row("a.b.c", modality="q", source="s", unit="u", description="d", role="x")
    row = codebook_row("a.b.c", modality="q", source="s", unit="u", description="d")
    assert len(make_codebook([row, row])) == 1
    with pytest.raises(ValueError, match="conflicting"):
        make_codebook([row, {**row, "unit": "other"}])
    with pytest.raises(ValueError, match="QC status"):
        make_qc([{"participant_id": "sub-1", "status": "weird"}])


def test_qc_row_builds_a_record_make_qc_accepts():
    row = qc_row("sub-1", "ses-V0", modality="biomech", item="walk", status="missing",
                 reason="no recording")
    frame = make_qc([row, qc_row("sub-2", "ses-V0", modality="biomech", item="*", status="ok")])
    assert list(frame.columns) == list(QC_COLUMNS)
    assert frame.iloc[0].tolist() == ["sub-1", "ses-V0", "biomech", "walk", "missing",
                                      "no recording"]
    assert frame.iloc[1]["reason"] == ""
    with pytest.raises(ValueError, match="QC status must be one of"):
        qc_row("sub-1", "ses-V0", modality="q", item="*", status="weird")


def test_select_and_session_views():
    table = _table()
    assert table.select("brain").features == ["brain.qc.mean_fd"]
    baseline = table.session("ses-V0")
    assert list(baseline.index) == ["sub-001", "sub-002"]


def test_reading_a_foreign_parquet_is_a_clear_error(tmp_path):
    pq.write_table(__import__("pyarrow").table({"a": [1]}), tmp_path / "x.parquet")
    with pytest.raises(InputError, match="no backpheno codebook"):
        read_feature_table(tmp_path / "x.parquet")
    with pytest.raises(InputError, match="not found"):
        read_feature_table(tmp_path / "missing.parquet")


def test_out_of_range_values_are_flagged_with_feature_value_and_range():
    index = pd.MultiIndex.from_tuples([("sub-1", "ses-V0"), ("sub-2", "ses-V0"),
                                       ("sub-3", "ses-V0")],
                                      names=["participant_id", "session_id"])
    data = pd.DataFrame({"biomech.walk.cadence_spm": [110.0, 400.0, np.nan],
                         "q.peg.score": [0.0, 10.0, -1.0],
                         "brain.x.free": [1e9, -1e9, 0.0]}, index=index)
    codebook = make_codebook([
        codebook_row("biomech.walk.cadence_spm", modality="biomech", source="t",
                     unit="steps/min", description="", valid_min=30, valid_max=200),
        codebook_row("q.peg.score", modality="q", source="t", unit="points", description="",
                     valid_min=0, valid_max=10),
        codebook_row("brain.x.free", modality="brain", source="t", unit="a.u.",
                     description="")])
    table = flag_out_of_range(FeatureTable(data, codebook))
    flagged = table.qc[table.qc["status"] == "flagged"]
    assert flagged[["participant_id", "modality", "item"]].values.tolist() == [
        ["sub-2", "biomech", "biomech.walk.cadence_spm"], ["sub-3", "q", "q.peg.score"]]
    assert flagged["reason"].iloc[0] == ("biomech.walk.cadence_spm = 400 steps/min is outside "
                                         "the codebook's valid range [30, 200]")
    assert table.data.loc[("sub-2", "ses-V0"), "biomech.walk.cadence_spm"] == 400.0
