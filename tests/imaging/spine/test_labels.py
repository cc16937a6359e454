"""Label schemes: built-in numberings, user-declared schemes, unknown values, version mismatch."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from backpheno.errors import InputError
from backpheno.imaging.spine import (
    BUILTIN_SCHEMES,
    load_scheme,
    measure_sagittal,
    scheme_from_mapping,
    scheme_from_tsv,
)
from backpheno.imaging.spine.labels import STRUCTURES

from .phantoms import Cylinder, grid, rotation, world


@pytest.mark.parametrize(("scheme", "value", "name"), [
    # SPIDER: vertebrae and discs numbered from the bottom, 100 canal, 101-125 partial
    ("spider", 1, "L5"), ("spider", 5, "L1"), ("spider", 6, "T12"), ("spider", 7, None),
    ("spider", 100, "canal"), ("spider", 101, "L5"), ("spider", 201, "L5-S1"),
    ("spider", 205, "L1-L2"),
    # TotalSpineSeg current (tss_map.json): tens = region, units = level; disc = vertebra below + 50
    ("totalspineseg", 1, "cord"), ("totalspineseg", 2, "canal"), ("totalspineseg", 41, "L1"),
    ("totalspineseg", 45, "L5"), ("totalspineseg", 50, "sacrum"), ("totalspineseg", 91, "T12-L1"),
    ("totalspineseg", 95, "L4-L5"), ("totalspineseg", 100, "L5-S1"), ("totalspineseg", 13, None),
    # TotalSpineSeg before Sep 2024 (TotalSegmentator v1 numbering)
    ("totalspineseg-legacy", 18, "L5"), ("totalspineseg-legacy", 22, "L1"),
    ("totalspineseg-legacy", 92, "sacrum"), ("totalspineseg-legacy", 201, "canal"),
    ("totalspineseg-legacy", 202, "L5-S1"), ("totalspineseg-legacy", 206, "L1-L2"),
    # SPINEPS instance mask (VerSe numbering; disc = 100 + vertebra above it)
    ("spineps", 20, "L1"), ("spineps", 24, "L5"), ("spineps", 25, "L6"), ("spineps", 26, "sacrum"),
    ("spineps", 120, "L1-L2"), ("spineps", 124, "L5-S1"), ("spineps", 61, "canal"),
    ("spineps", 224, None),
    ("verse", 19, "T12"), ("verse", 24, "L5"), ("verse", 8, None),
    ("musclemap", 1, "multifidus_right"), ("musclemap", 2, "multifidus_left"),
    ("musclemap", 6, "psoas_left"), ("musclemap", 8, "quadratus_lumborum_left"),
])
def test_builtin_scheme_values(scheme, value, name):
    assert BUILTIN_SCHEMES[scheme].labels[value] == name


def test_builtin_schemes_are_versioned_and_sourced():
    for scheme in BUILTIN_SCHEMES.values():
        assert scheme.version and scheme.source
        assert set(scheme.labels.values()) - {None} <= STRUCTURES
    assert BUILTIN_SCHEMES["spider"].partial == frozenset(range(101, 126))
    assert BUILTIN_SCHEMES["totalspineseg"].vertebra_extent == "whole"


def test_unknown_value_names_file_and_value(tmp_path):
    data = np.zeros((8, 8, 8), np.int16)
    data[2:4, 2:4, 2:4] = 202  # old TotalSpineSeg L5-S disc
    path = tmp_path / "sub-01_dseg.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    with pytest.raises(InputError) as err:
        measure_sagittal(path, scheme="totalspineseg")
    message = str(err.value)
    assert "202" in message and str(path) in message and "totalspineseg" in message


def test_non_integer_labels_are_an_input_error():
    data = np.zeros((6, 6, 6), np.float32)
    data[1, 1, 1] = 1.5
    with pytest.raises(InputError, match="non-integer"):
        scheme_from_mapping({1: "L1"}).split(data)


def test_split_groups_values_and_marks_partial():
    data = np.zeros((6, 6, 6), np.int16)
    data[0, 0, 0], data[1, 1, 1], data[2, 2, 2], data[3, 3, 3] = 1, 101, 201, 7
    found = BUILTIN_SCHEMES["spider"].split(data)
    assert sorted(found.names) == ["L5", "L5-S1"]          # 7 (a thoracic vertebra) is skipped
    assert len(found.voxels["L5"]) == 2 and found.partial == {"L5"}


def test_dseg_tsv_scheme_by_name(tmp_path):
    path = tmp_path / "dseg.tsv"
    path.write_text("index\tname\n1\tL1\n2\tL1-L2\n3\tspinal_canal\n4\tPsoas_Left\n5\tkidney\n")
    scheme = scheme_from_tsv(path)
    assert scheme.labels == {1: "L1", 2: "L1-L2", 3: "canal", 4: "psoas_left", 5: None}
    assert scheme.vertebra_extent == "body"
    assert load_scheme("dseg", dseg_tsv=path).labels == scheme.labels
    bad = tmp_path / "bad.tsv"
    bad.write_text("index\tname\n1\tL1\n1\tL2\n")
    with pytest.raises(InputError, match="repeated index"):
        scheme_from_tsv(bad)
    with pytest.raises(InputError, match="dseg.tsv"):
        load_scheme("dseg")


def test_user_declared_schemes_from_dict_tsv_and_json(tmp_path):
    ivd = {1: "L5-S1", 2: "L4-L5", 3: "L3-L4", 4: "L2-L3", 5: "L1-L2"}
    assert load_scheme(ivd).labels == ivd
    path = tmp_path / "vb3.json"
    path.write_text(json.dumps({"name": "vb3", "labels": {"1": "L1", "2": "L2"},
                                "vertebra_extent": "body"}))
    scheme = load_scheme(path)
    assert scheme.name == "vb3" and scheme.labels == {1: "L1", 2: "L2"}
    with pytest.raises(ValueError, match="unknown structure name"):
        scheme_from_mapping({1: "L7-S1"})
    with pytest.raises(InputError, match="unknown label scheme"):
        load_scheme("totalsegmentator-v9")


def test_scheme_table_lists_every_value():
    table = BUILTIN_SCHEMES["musclemap"].table()
    assert list(table.columns) == ["value", "structure", "partial"]
    assert len(table) == 8


def _two_level_stack():
    """L3 above L4 with the L3-L4 disc between, as label values 1 (upper), 2 (lower), 3 (disc)."""
    affine, shape = grid((3.0, 1.0, 1.0), fov=(60, 80, 110))
    rot = rotation("x", 8.0)
    axis = rot @ [0, 0, 1.0]
    upper = Cylinder(tuple(17.5 * axis), rot, 15.0, 20.0, 25.0)
    lower = Cylinder(tuple(-17.5 * axis), rot, 15.0, 20.0, 25.0)
    disc = Cylinder((0.0, 0.0, 0.0), rot, 15.0, 20.0, 10.0)
    pts = world(affine, shape)
    data = np.zeros(shape, np.int16)
    for value, shape_ in ((1, upper), (2, lower), (3, disc)):
        data[shape_.contains(pts)] = value
    return nib.Nifti1Image(data, affine)


def test_cranio_caudal_order_catches_numbering_mismatch():
    image = _two_level_stack()
    measure_sagittal(image, scheme={1: "L3", 2: "L4", 3: "L3-L4"})  # the right numbering
    with pytest.raises(InputError, match="out of cranio-caudal order"):
        # numbering from the bottom read as from the top (e.g. SPIDER read as VerSe)
        measure_sagittal(image, scheme={1: "L4", 2: "L3", 3: "L3-L4"})
    with pytest.raises(InputError, match="out of cranio-caudal order"):
        # off-by-one disc: the disc between L3 and L4 called L4-L5
        measure_sagittal(image, scheme={1: "L3", 2: "L4", 3: "L4-L5"})
