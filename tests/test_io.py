"""Atomic writes never leave a half-written file under the final name."""

from __future__ import annotations

import pandas as pd
import pytest

from backpheno.errors import InputError
from backpheno.io import atomic_path, atomic_write, read_json, read_tsv, write_json, write_tsv


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("new partial")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_keeps_suffixes_and_renames(tmp_path):
    target = tmp_path / "a" / "img.nii.gz"
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".nii.gz") and tmp.parent == target.parent
        tmp.write_bytes(b"x")
        assert not target.exists()
    assert target.read_bytes() == b"x"


def test_tsv_round_trip_with_bids_missing_values(tmp_path):
    frame = pd.DataFrame({"participant_id": ["sub-1", "sub-2"], "x": [1.5, None]})
    write_tsv(tmp_path / "t.tsv", frame)
    assert "n/a" in (tmp_path / "t.tsv").read_text()
    back = read_tsv(tmp_path / "t.tsv")
    assert back["x"].isna().tolist() == [False, True]


def test_clear_errors_for_missing_or_broken_files(tmp_path):
    with pytest.raises(InputError, match="not found") as err:
        read_tsv(tmp_path / "nope.tsv")
    assert "nope.tsv" in str(err.value)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")
    write_json(tmp_path / "ok.json", {"a": 1})
    assert read_json(tmp_path / "ok.json") == {"a": 1}


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0)
    os.umask(mask)
    write_json(tmp_path / "a.json", {"a": 1})
    with atomic_path(tmp_path / "b.nii.gz") as tmp:
        tmp.write_bytes(b"x")
    for name in ("a.json", "b.nii.gz"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o666 & ~mask, oct(mode)
