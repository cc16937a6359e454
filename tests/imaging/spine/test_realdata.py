"""Real lumbar MRI (shared/realdata): plausible per-level values and exact labelled volumes.

* ``lumbar_spine_sagittal/IVD_*``: 1.5 T T2 of asymptomatic young adults, discs labelled
  1 = L5-S1 ... 5 = L1-L2 (Menezes-Reis et al. 2016, Quant Imaging Med Surg).
* ``lumbar_spine_sagittal/VB3_*``: 3 T water-fat images, vertebral bodies 1..5 = L1..L5 (Burian
  et al. 2019, BMC Musculoskelet Disord).
* ``musclemap_lumbar_axial``: MuscleMap's lumbar labels (multifidus, erector spinae, psoas,
  quadratus lumborum; right/left).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from backpheno.imaging.spine import measure_muscles, measure_sagittal, scheme_from_mapping

IVD = scheme_from_mapping({1: "L5-S1", 2: "L4-L5", 3: "L3-L4", 4: "L2-L3", 5: "L1-L2"},
                          name="ivd-menezes-reis-2016", version="fastcleverseg")
VB3 = scheme_from_mapping({1: "L1", 2: "L2", 3: "L3", 4: "L4", 5: "L5"},
                          name="vb3-burian-2019", version="fastcleverseg")
IVD_CASES = ["IVD_11", "IVD_20", "IVD_25", "IVD_42", "IVD_46"]
VB3_CASES = ["VB3_01", "VB3_02", "VB3_03", "VB3_04", "VB3_05"]

#: Published adult per-side cross-sectional areas (mm²), mean ± 2 SD over the lumbar levels:
#: multifidus 2.8-9.6 cm² (L2-L5; Kalichman et al. 2017, Biomed Res Int 2017:2562957, Table 1,
#: SD up to 2.7) and 1.8-5.7 cm² (L1-L5, weight-bearing MRI of 10 young women, "Morphometry of
#: lumbar muscles in the seated posture with weight-bearing MR scans"); erector spinae
#: 16.3-20.0 cm² at L3-L5 (Fortin, in Kalichman 2017, SD 4.4) and up to 13.9 ± 2.2 cm² mid-lumbar
#: in the seated study, tapering caudally; psoas 1.9 ± 1.1 (L1) to 12.1 ± 2.5 cm² (L5) in the
#: seated study.
PUBLISHED_CSA_MM2 = {"multifidus": (120.0, 1400.0), "erector_spinae": (500.0, 2900.0),
                     "psoas": (50.0, 1700.0)}


def _case(realdata, name):
    folder = realdata / "lumbar_spine_sagittal"
    return folder / f"{name}_labels.nii.gz", folder / f"{name}_image.nii.gz"


def _label_counts(path):
    values, counts = np.unique(np.asarray(nib.load(path).dataobj), return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


@pytest.mark.parametrize("case", IVD_CASES)
def test_ivd_discs_are_plausible(realdata, case):
    labels, image = _case(realdata, case)
    result = measure_sagittal(labels, image, scheme=IVD)
    discs = result.levels[result.levels["kind"] == "disc"]
    print(f"\n{case}\n", discs[["volume_ml", "mean_height_mm", "central_height_mm",
                                "tilt_deg"]].round(2).to_string())
    assert (discs["status"] == "ok").all()
    assert discs["volume_ml"].between(3.0, 20.0).all()
    assert discs["mean_height_mm"].between(3.0, 15.0).all()
    assert discs["central_height_mm"].between(3.0, 15.0).all()
    # central disc at least as tall as its rim-excluded mean (biconvex discs)
    assert (discs["central_height_mm"] >= discs["mean_height_mm"] - 0.3).all()
    # lordosis: the lumbosacral disc is the most tilted
    assert discs["tilt_deg"].idxmax() == "L5-S1"
    # volumes are exactly the labelled voxel volume (1 mm isotropic: count x 1 mm³)
    counts = _label_counts(labels)
    voxel_ml = abs(np.linalg.det(nib.load(labels).affine[:3, :3])) / 1000.0
    for value, name in IVD.labels.items():
        assert discs.loc[name, "volume_ml"] == pytest.approx(counts[value] * voxel_ml, rel=0.005)
    # no canal, no vertebrae in these labels: the dependent features are missing with reasons
    assert discs["csf_ratio"].isna().all() and discs["height_index"].isna().all()
    assert result.qc["reason"].str.contains("no canal label").sum() == 5


@pytest.mark.parametrize("case", VB3_CASES)
def test_vb3_vertebral_bodies_are_plausible(realdata, case):
    labels, image = _case(realdata, case)
    result = measure_sagittal(labels, image, scheme=VB3)
    bodies = result.levels.loc[["L1", "L2", "L3", "L4", "L5"]]
    print(f"\n{case}\n", bodies[["volume_ml", "height_mm", "tilt_deg", "axis_source"]]
          .round(2).to_string())
    assert (bodies["status"] == "ok").all()
    assert bodies["height_mm"].between(20.0, 32.0).all()
    assert bodies["volume_ml"].between(20.0, 60.0).all()
    assert (bodies["tilt_deg"] < 35.0).all()
    counts = _label_counts(labels)
    for value, name in VB3.labels.items():
        assert bodies.loc[name, "volume_ml"] == pytest.approx(counts[value] / 1000.0, rel=0.005)


def test_musclemap_areas_fall_in_the_published_adult_range(realdata):
    folder = realdata / "musclemap_lumbar_axial"
    result = measure_muscles(folder / "sub_0001_ses-abdomen_dseg.nii.gz", scheme="musclemap")
    table = result.muscles
    print("\n", table[["n_slices", "csa_mm2", "max_csa_mm2", "volume_ml"]].round(1).to_string())
    assert (table["status"] == "ok").all()
    for muscle, (low, high) in PUBLISHED_CSA_MM2.items():
        for side in ("left", "right"):
            assert low <= table.loc[f"{muscle}_{side}", "csa_mm2"] <= high, (muscle, side)
            assert table.loc[f"{muscle}_{side}", "max_csa_mm2"] <= high
    # the labelled volume is reproduced exactly: voxels x voxel volume
    image = nib.load(folder / "sub_0001_ses-abdomen_dseg.nii.gz")
    counts = _label_counts(folder / "sub_0001_ses-abdomen_dseg.nii.gz")
    voxel_ml = abs(np.linalg.det(image.affine[:3, :3])) / 1000.0
    assert table.loc["multifidus_right", "volume_ml"] == pytest.approx(counts[1] * voxel_ml)
    # left and right muscles are where the affine says (RAS x: right > 0 > left of the midline)
    assert table.loc["psoas_left", "centroid_x"] < table.loc["psoas_right", "centroid_x"]
    assert isinstance(result.per_slice, pd.DataFrame) and len(result.per_slice) == 20
