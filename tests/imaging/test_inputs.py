"""Repetition time: configured, from the sidecar, else from the NIfTI header, with a QC note."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from backpheno.errors import InputError
from backpheno.imaging.inputs import header_repetition_time, repetition_time

PACKAGED = "brain_fmri_small_packaged"


def _image(tr: float, unit: str = "sec") -> nib.Nifti1Image:
    img = nib.Nifti1Image(np.zeros((2, 2, 2, 4), np.float32), np.eye(4))
    img.header.set_xyzt_units("mm", unit)
    img.header["pixdim"][4] = tr
    return img


@pytest.mark.parametrize(("name", "expected"), [("nipy_functional.nii.gz", 2.0),
                                                ("nitime_fmri1.nii.gz", 1.35)])
def test_header_tr_of_real_files(realdata, name, expected):
    seconds, text = header_repetition_time(nib.load(str(realdata / PACKAGED / name)))
    assert seconds == pytest.approx(expected)
    assert text.endswith("sec")


def test_header_units_are_applied():
    assert header_repetition_time(_image(2000, "msec"))[0] == pytest.approx(2.0)
    assert header_repetition_time(_image(800_000, "usec"))[0] == pytest.approx(0.8)
    # nibabel's example4d says 2000 "sec": not a plausible TR, so not used
    assert header_repetition_time(_image(2000, "sec"))[0] is None
    assert header_repetition_time(_image(0))[0] is None


def test_sidecar_wins_and_a_disagreement_is_flagged(tmp_path):
    bold = tmp_path / "sub-1_task-rest_bold.nii.gz"
    sidecar = tmp_path / "sub-1_task-rest_bold.json"
    sidecar.write_text(json.dumps({"RepetitionTime": 2.0}), encoding="utf-8")
    same = repetition_time(_image(2.01), bold)
    assert (same.seconds, same.source, same.flagged) == (2.0, "sidecar", False)
    other = repetition_time(_image(2.5), bold)
    assert (other.seconds, other.source, other.flagged) == (2.0, "sidecar", True)
    assert "pixdim[4] = 2.5 sec" in other.note and "1%" in other.note
    configured = repetition_time(_image(2.5), bold, override=1.5)
    assert (configured.seconds, configured.source) == (1.5, "configured")


def test_header_used_without_sidecar_and_error_without_both(tmp_path):
    bold = tmp_path / "sub-1_task-rest_bold.nii.gz"
    found = repetition_time(_image(1.35), bold)
    assert (found.seconds, found.source) == (1.35, "header")
    assert "no sidecar sub-1_task-rest_bold.json" in found.note
    with pytest.raises(InputError, match="pass --tr or set brain.t_r") as err:
        repetition_time(_image(0), bold, participant="sub-1")
    assert "sub-1_task-rest_bold.json" in str(err.value) and "sub-1" in str(err.value)
