"""Library exceptions become errors naming the corrupt file, participant and session."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pandas as pd

from backpheno.errors import ConfigError, InputError
from backpheno.failures import file_problem, named_error


def _image(path, shape=(4, 4, 4, 5)):
    nib.save(nib.Nifti1Image(np.arange(np.prod(shape), dtype=np.float32).reshape(shape),
                             np.eye(4)), str(path))
    return path


def test_intact_files_have_no_problem(tmp_path):
    (tmp_path / "a.json").write_text('{"a": 1}')
    pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}).to_csv(tmp_path / "a.tsv", sep="\t",
                                                         index=False)
    pd.DataFrame({"x": [1.0]}).to_parquet(tmp_path / "a.parquet")
    for name in ("a.json", "a.tsv", "a.parquet"):
        assert file_problem(tmp_path / name) is None
    assert file_problem(_image(tmp_path / "a.nii.gz")) is None
    assert file_problem(_image(tmp_path / "a.nii")) is None


def test_truncated_and_garbled_files_are_recognised(tmp_path):
    gz = _image(tmp_path / "bold.nii.gz")
    gz.write_bytes(gz.read_bytes()[:-40])
    assert "truncated" in file_problem(gz)
    nii = _image(tmp_path / "bold.nii")
    nii.write_bytes(nii.read_bytes()[:-40])
    assert "truncated NIfTI image" in file_problem(nii)
    with gzip.open(tmp_path / "noise.nii.gz", "wb") as handle:
        handle.write(b"\x00" * 100)
    assert "NIfTI" in file_problem(tmp_path / "noise.nii.gz")
    (tmp_path / "x.json").write_text('{"a": ')
    assert "not valid JSON" in file_problem(tmp_path / "x.json")
    (tmp_path / "x.parquet").write_bytes(b"PAR1 then nothing")
    assert "Parquet" in file_problem(tmp_path / "x.parquet")
    (tmp_path / "c.tsv").write_text("a\tb\n1\t2\n3\n")
    assert file_problem(tmp_path / "c.tsv") == "line 3 has 1 fields, expected 2"
    (tmp_path / "d.tsv").write_text("a\tb\n" + "1\t2\n" * 30 + "1\tabc\n")
    assert "column b: non-numeric value 'abc' on line 32" in file_problem(tmp_path / "d.tsv")


def test_named_error_names_the_corrupt_input_and_keeps_the_library_words(tmp_path):
    good = _image(tmp_path / "mask.nii.gz")
    bad = _image(tmp_path / "bold.nii.gz")
    bad.write_bytes(bad.read_bytes()[:60])
    try:
        np.asarray(nib.load(str(bad)).dataobj)
    except Exception as raised:  # noqa: BLE001 - whatever nibabel raises is wrapped
        err = named_error(raised, [good, bad], participant="sub-1", session="ses-V0")
    assert isinstance(err, InputError)
    assert err.file == str(bad) and err.participant == "sub-1" and err.session == "ses-V0"
    assert "truncated" in str(err)


def test_without_a_corrupt_file_the_inputs_are_listed(tmp_path):
    a, b = _image(tmp_path / "a.nii.gz"), _image(tmp_path / "b.nii.gz")
    err = named_error(TypeError("Invalid comparison"), [a, b], doing="scoring")
    assert str(err) == ("scoring failed: TypeError: Invalid comparison "
                        "(inputs: a.nii.gz, b.nii.gz)")
    one = named_error(ValueError("zero norm"), [a], participant="sub-2")
    assert one.file == str(a) and "participant sub-2" in str(one)
    own = ConfigError("x: bad")
    assert named_error(own, [a]) is own


def test_a_folder_stands_for_its_structured_files(tmp_path):
    (tmp_path / "run.json").write_text("{")
    err = named_error(ValueError("boom"), [tmp_path])
    assert err.file == str(tmp_path / "run.json")
