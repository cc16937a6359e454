"""Grey-matter volumes (closed form) and FreeSurfer stats readers (real-derived samples)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from backpheno.errors import InputError
from backpheno.imaging.atlas import Atlas, load_label_atlas
from backpheno.imaging.structural import (
    aseg_volumes_ml,
    read_aparc_stats,
    read_aseg_stats,
    regional_gm_volume,
    tiv_proxy_ml,
    total_volume_ml,
)

#: FreeSurferColorLUT names of the aseg structures used below.
ASEG_NAMES = {
    4: "Left-Lateral-Ventricle", 10: "Left-Thalamus", 11: "Left-Caudate", 12: "Left-Putamen",
    13: "Left-Pallidum", 16: "Brain-Stem", 17: "Left-Hippocampus", 18: "Left-Amygdala",
    26: "Left-Accumbens-area", 43: "Right-Lateral-Ventricle", 49: "Right-Thalamus",
    50: "Right-Caudate", 51: "Right-Putamen", 52: "Right-Pallidum", 53: "Right-Hippocampus",
    54: "Right-Amygdala", 58: "Right-Accumbens-area",
}


def test_gm_volume_of_a_cube_is_probability_times_voxels_times_voxel_volume(tmp_path):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    gm = np.zeros((10, 10, 10), dtype=np.float32)
    gm[2:5, 2:6, 2:7] = 0.6  # 3 x 4 x 5 = 60 voxels of 8 mm3
    labels = np.zeros((10, 10, 10), dtype=np.int32)
    labels[2:5, 2:6, 2:7] = 1
    labels[6:8, 6:8, 6:8] = 2  # no grey matter there
    table = tmp_path / "atlas_dseg.tsv"
    pd.DataFrame({"index": [1, 2], "name": ["cube", "empty"],
                  "network": ["A", "B"]}).to_csv(table, sep="\t", index=False)
    atlas = load_label_atlas(nib.Nifti1Image(labels, affine), table)
    volumes = regional_gm_volume(nib.Nifti1Image(gm, affine), atlas)
    assert volumes["cube"] == pytest.approx(0.6 * 60 * 8 / 1000)
    assert volumes["empty"] == 0.0
    assert total_volume_ml(nib.Nifti1Image(gm, affine)) == pytest.approx(0.6 * 60 * 8 / 1000)


def test_gm_volume_of_a_sphere_region():
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    gm = np.ones((21, 21, 21), dtype=np.float32)
    regions = pd.DataFrame({"name": ["s"], "network": ["A"], "x": [10.0], "y": [10.0],
                            "z": [10.0], "radius_mm": [3.0]})
    volumes = regional_gm_volume(nib.Nifti1Image(gm, affine), Atlas("s", "spheres", regions))
    ijk = np.indices((21, 21, 21)).reshape(3, -1).T
    expected = (np.linalg.norm(ijk - 10, axis=1) <= 3.0).sum() / 1000
    assert volumes["s"] == pytest.approx(expected)


def test_tiv_proxy_prefers_tissue_maps_then_mask():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    ones = np.full((5, 5, 5), 1 / 3, dtype=np.float32)
    img = nib.Nifti1Image(ones, affine)
    tiv, how = tiv_proxy_ml(img, img, img)
    assert tiv == pytest.approx(125 * 8 / 1000) and "GM, WM and CSF" in how
    mask = nib.Nifti1Image(np.ones((5, 5, 5), dtype=np.uint8), affine)
    assert tiv_proxy_ml(img, None, None, mask) == (pytest.approx(1.0), "brain mask volume")
    assert np.isnan(tiv_proxy_ml()[0])


def test_probability_map_out_of_range_is_an_error():
    bad = nib.Nifti1Image(np.full((3, 3, 3), 2.0, dtype=np.float32), np.eye(4))
    with pytest.raises(InputError, match="outside 0..1"):
        total_volume_ml(bad, "gm.nii.gz")


def _write_aseg_stats_from_real_segmentation(realdata, path):
    """aseg.stats in mri_segstats' documented layout, with values measured on real data."""
    seg = nib.load(str(realdata / "brain_t1" / "aparc.a2009s+aseg.mgz"))
    norm = np.asarray(nib.load(str(realdata / "brain_t1" / "norm.mgz")).dataobj,
                      dtype=float).ravel()
    labels = np.asarray(seg.dataobj).astype(np.int32).ravel()
    voxel = float(abs(np.linalg.det(seg.affine[:3, :3])))
    ids = sorted(ASEG_NAMES)
    compact = np.searchsorted(ids, labels)
    known = (compact < len(ids)) & (np.asarray(ids)[np.minimum(compact, len(ids) - 1)] == labels)
    counts = np.bincount(compact[known], minlength=len(ids))
    sums = np.bincount(compact[known], weights=norm[known], minlength=len(ids))
    squares = np.bincount(compact[known], weights=norm[known] ** 2, minlength=len(ids))
    extremes = pd.Series(norm[known]).groupby(compact[known]).agg(["min", "max"])
    lows, highs = extremes["min"].to_numpy(), extremes["max"].to_numpy()
    rows, expected = [], {}
    for index, seg_id in enumerate(ids):
        name, count = ASEG_NAMES[seg_id], int(counts[index])
        mean = sums[index] / count
        sd = np.sqrt(squares[index] / count - mean**2)
        expected[name] = (count, count * voxel / 1000, mean)
        rows.append(f"{index + 1:3d} {seg_id:4d} {count:8d} {count * voxel:10.1f}  {name:<28s}"
                    f"{mean:9.4f} {sd:9.4f} {lows[index]:9.4f} {highs[index]:9.4f} "
                    f"{highs[index] - lows[index]:9.4f}")
    brain = int((labels > 0).sum())
    header = [
        "# Title Segmentation Statistics ",
        "# ",
        "# generating_program mri_segstats",
        "# cmdline mri_segstats --seg mri/aseg.mgz --sum stats/aseg.stats --pv mri/norm.mgz",
        "# subjectname bert",
        f"# Measure BrainSeg, BrainSegVol, Brain Segmentation Volume, {brain * voxel:.6f}, mm^3",
        "# Measure EstimatedTotalIntraCranialVol, eTIV, Estimated Total Intracranial Volume, "
        "1555436.113839, mm^3",
        "# SegVolFile mri/aseg.mgz ",
        "# ColorTable FreeSurferColorLUT.txt",
        f"# NRows {len(rows)} ",
        "# NTableCols 10 ",
        "# ColHeaders  Index SegId NVoxels Volume_mm3 StructName normMean normStdDev normMin "
        "normMax normRange  ",
    ]
    path.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    return expected, brain * voxel


def test_aseg_stats_reader_on_a_sample_from_real_freesurfer_data(realdata, tmp_path):
    path = tmp_path / "aseg.stats"
    expected, brain_volume = _write_aseg_stats_from_real_segmentation(realdata, path)
    stats = read_aseg_stats(path)
    assert stats.measure("eTIV") == pytest.approx(1555436.113839)
    assert stats.measure("BrainSegVol") == pytest.approx(brain_volume, rel=1e-6)
    assert stats.header["subjectname"] == "bert"
    volumes = aseg_volumes_ml(stats)
    for name, (count, ml, norm_mean) in expected.items():
        row = stats.table.set_index("StructName").loc[name]
        assert row["NVoxels"] == count
        assert volumes[name] == pytest.approx(ml, abs=1e-4)
        assert row["normMean"] == pytest.approx(norm_mean, abs=1e-4)
    assert 2 < volumes["Left-Hippocampus"] < 6  # a human hippocampus, mL


def test_aparc_stats_reader(tmp_path):
    path = tmp_path / "lh.aparc.stats"
    path.write_text("\n".join([
        "# Table of FreeSurfer cortical parcellation anatomical statistics ",
        "# hemi lh ",
        "# Measure Cortex, NumVert, Number of Vertices, 131502, unitless",
        "# Measure Cortex, WhiteSurfArea, White Surface Total Area, 89134.7, mm^2",
        "# Measure Cortex, MeanThickness, Mean Thickness, 2.47151, mm",
        "# ColHeaders StructName NumVert SurfArea GrayVol ThickAvg ThickStd MeanCurv GausCurv "
        "FoldInd CurvInd",
        "bankssts                                 1466    990   2624  2.729 0.434     0.108     "
        "0.019       11     1.1",
        "caudalanteriorcingulate                  1005    680   1940  2.613 0.682     0.125     "
        "0.024       12     0.9",
    ]) + "\n", encoding="utf-8")
    stats = read_aparc_stats(path)
    assert stats.header["hemi"] == "lh"
    assert stats.measure("MeanThickness") == pytest.approx(2.47151)
    with pytest.raises(KeyError, match="several"):
        stats.measure("Cortex")
    assert stats.table.loc[1, "ThickAvg"] == pytest.approx(2.613)
    with pytest.raises(InputError, match="missing columns"):
        read_aseg_stats(path)


def test_malformed_stats_files_are_named(tmp_path):
    path = tmp_path / "aseg.stats"
    path.write_text("# Measure BrainSeg, BrainSegVol\n1 2 3\n", encoding="utf-8")
    with pytest.raises(InputError, match="aseg.stats"):
        read_aseg_stats(path)
    path.write_text("# ColHeaders Index StructName Volume_mm3\n1 Left 3 extra\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2: 4 fields"):
        read_aseg_stats(path)
    with pytest.raises(InputError, match="not found"):
        read_aseg_stats(tmp_path / "missing.stats")
