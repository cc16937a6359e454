"""``backpheno spine-levels``: the per-level table of one label map on the command line."""

from __future__ import annotations

from typer.testing import CliRunner

from backpheno.cli import app

IVD = "1=L5-S1,2=L4-L5,3=L3-L4,4=L2-L3,5=L1-L2"


def test_spine_levels_prints_the_table(realdata, tmp_path):
    folder = realdata / "lumbar_spine_sagittal"
    out = tmp_path / "levels.tsv"
    result = CliRunner().invoke(app, ["spine-levels", str(folder / "IVD_20_labels.nii.gz"),
                                      "--scheme", IVD, "--image",
                                      str(folder / "IVD_20_image.nii.gz"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "L4-L5" in result.output and "mean_height_mm" in result.output
    assert out.is_file()


def test_spine_levels_reports_a_scheme_mismatch(realdata):
    folder = realdata / "lumbar_spine_sagittal"
    result = CliRunner().invoke(app, ["spine-levels", str(folder / "VB3_01_labels.nii.gz"),
                                      "--scheme", IVD])
    assert result.exit_code == 2
    assert "out of cranio-caudal order" in result.output


def test_spine_levels_axial(realdata):
    folder = realdata / "musclemap_lumbar_axial"
    labels = folder / "sub_0001_ses-abdomen_dseg.nii.gz"
    result = CliRunner().invoke(app, ["spine-levels", str(labels),
                                      "--scheme", "musclemap", "--axial"])
    assert result.exit_code == 0, result.output
    assert "multifidus_left" in result.output and "csa_mm2" in result.output
