"""FreeSurfer stats as features, checked against the numbers written in real stats files."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from backpheno.imaging.freesurfer import (
    ATLAS_REGIONS,
    EXTRACTOR,
    FreeSurferSettings,
    freesurfer_features,
    stats_paths,
)
from backpheno.imaging.structural import read_aparc_stats
from backpheno.table import make_codebook

ATLASES = ["aparc", "aparc.a2009s", "aparc.DKTatlas", "aparc.pial"]
MEASURES = {"NumVert": "n_vertices", "SurfArea": "area_mm2", "GrayVol": "volume_mm3",
            "ThickAvg": "thickness_mm", "ThickStd": "thickness_sd_mm"}
ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s")
ASEG_ROW = re.compile(r"^\s*\d+\s+\d+\s+\d+\s+([\d.]+)\s+(\S+)\s")
MEASURE = re.compile(r"^# Measure [^,]+, ([^, ]+)[, ].*, ([-+\d.eE]+), \S+\s*$")


def _features(folder, **settings):
    settings = FreeSurferSettings(**settings)
    paths = {key: folder / path.name for key, path in stats_paths(folder, settings).items()}
    return freesurfer_features(paths, settings)


@pytest.fixture(scope="module")
def stats_dir(realdata):
    return realdata / "freesurfer_stats"


@pytest.mark.parametrize("subject", ["soichi", "fabian"])
def test_cortical_values_equal_the_numbers_in_the_files(stats_dir, subject):
    folder = stats_dir / subject
    features, qc, _ = _features(folder, aseg=False, atlases=ATLASES,
                                measures=["n_vertices", "area", "volume", "thickness",
                                          "thickness_sd"])
    checked = 0
    for atlas in ATLASES:
        group = atlas.replace(".", "_")
        for hemi in ("lh", "rh"):
            for line in (folder / f"{hemi}.{atlas}.stats").read_text().splitlines():
                match = ROW.match(line)
                if not match:
                    continue
                region = match.group(1).replace("&", "_and_")
                for column, text in zip(MEASURES, match.groups()[1:], strict=True):
                    name = f"brain.{group}.{hemi}_{region}.{MEASURES[column]}"
                    assert features[name] == float(text), name
                    checked += 1
    assert checked == 5 * 2 * (34 + 74 + 31 + 34)
    assert (qc["status"] == "ok").all() and len(qc) == 8


def test_aseg_values_equal_the_numbers_in_the_file(stats_dir):
    path = stats_dir / "soichi" / "aseg.stats"
    features, qc, codebook = _features(stats_dir / "soichi", atlases=[])
    lines = path.read_text().splitlines()
    volumes = {m.group(2): float(m.group(1)) for m in map(ASEG_ROW.match, lines) if m}
    measures = {m.group(1): float(m.group(2)) for m in map(MEASURE.match, lines) if m}
    assert len(volumes) == 45 and len(measures) == 20
    for name, value in volumes.items():
        assert features[f"brain.aseg.{name}.volume_mm3"] == value
    for short, value in measures.items():
        assert features[f"brain.aseg.{short}"] == value
    assert len(features) == 45 + 20
    assert list(qc["status"]) == ["ok"]
    roles = make_codebook(codebook)["role"]
    assert roles["brain.aseg.eTIV"] == "covariate"
    assert roles["brain.aseg.Left-Hippocampus.volume_mm3"] == "feature"


def test_a_few_values_copied_by_hand(stats_dir):
    soichi, _, codebook = _features(stats_dir / "soichi", atlases=["aparc", "aparc.a2009s"])
    assert soichi["brain.aseg.Left-Thalamus.volume_mm3"] == 8178.8
    assert soichi["brain.aseg.Left-Hippocampus.volume_mm3"] == 4333.5
    assert soichi["brain.aseg.eTIV"] == 1420434.160521
    assert soichi["brain.aparc.lh_superiorfrontal.thickness_mm"] == 2.894
    assert soichi["brain.aparc.lh_insula.volume_mm3"] == 6352
    assert soichi["brain.aparc_a2009s.rh_G_and_S_frontomargin.area_mm2"] == 550
    assert soichi["brain.cortex.lh_mean_thickness_mm"] == 2.39891
    assert soichi["brain.cortex.lh_area_mm2"] == 84858.5
    units = make_codebook(codebook)["unit"]
    assert units["brain.aparc.lh_insula.volume_mm3"] == "mm3"
    assert units["brain.aparc.lh_insula.area_mm2"] == "mm2"
    assert units["brain.aparc.lh_insula.thickness_mm"] == "mm"
    fabian, _, _ = _features(stats_dir / "fabian", aseg=False, atlases=["aparc", "aparc.a2009s"])
    assert fabian["brain.aparc.rh_superiorfrontal.thickness_mm"] == 2.521
    assert fabian["brain.aparc_a2009s.rh_G_and_S_frontomargin.area_mm2"] == 766


def test_freesurfer_6_and_7_files_give_the_same_columns(stats_dir):
    new, _, _ = _features(stats_dir / "soichi", aseg=False, atlases=ATLASES)
    old, _, _ = _features(stats_dir / "fabian", aseg=False, atlases=ATLASES)
    assert list(new.index) == list(old.index)
    assert new.notna().all() and old.notna().all()
    for atlas, regions in ATLAS_REGIONS.items():
        group = atlas.replace(".", "_")
        assert {n.split(".")[2] for n in new.index if n.startswith(f"brain.{group}.lh_")} == {
            f"lh_{r}" for r in regions}


def test_the_freesurfer_6_measure_line_without_its_comma_is_read(stats_dir):
    stats = read_aparc_stats(stats_dir / "fabian" / "lh.aparc.stats")
    assert stats.measure("CortexVol") == 553998.311189
    assert stats.measure("eTIV") == 1670487.274486


def test_missing_files_and_regions_are_nan_with_a_qc_row(stats_dir, tmp_path):
    text = (stats_dir / "soichi" / "lh.aparc.stats").read_text()
    (tmp_path / "lh.aparc.stats").write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("frontalpole")))
    features, qc, _ = _features(tmp_path)
    assert np.isnan(features["brain.aparc.lh_frontalpole.thickness_mm"])
    assert features["brain.aparc.lh_superiorfrontal.thickness_mm"] == 2.894
    assert features[[n for n in features.index if ".rh_" in n or ".aseg." in n]].isna().all()
    problems = qc[qc["status"] != "ok"].set_index("item")
    assert set(problems.index) == {"aseg", "rh.aparc", "lh.aparc.frontalpole"}
    assert (problems["status"] == "missing").all()
    assert "region frontalpole not in lh.aparc.stats" in problems.at["lh.aparc.frontalpole",
                                                                     "reason"]
    assert "rh.aparc.stats" in problems.at["rh.aparc", "reason"]


def test_codebook_is_the_same_whatever_the_files_hold(stats_dir, tmp_path):
    _, _, full = _features(stats_dir / "soichi")
    _, _, empty = _features(tmp_path)
    assert pd.DataFrame(full).equals(pd.DataFrame(empty))
    make_codebook(full + empty)  # identical rows: no conflict when a cohort mixes them


@pytest.mark.parametrize("bad", [{"subject": "{subject}"}, {"subject": "fixed"},
                                 {"atlases": ["aparc", "aparc"]}, {"atlases": ["../x"]},
                                 {"measures": ["thickness", "depth"]}, {"session": "V0"},
                                 {"aseg": False, "atlases": []}])
def test_settings_reject_bad_values(bad):
    with pytest.raises(ValidationError):
        FreeSurferSettings(**bad)


def test_find_inputs_maps_subjects_to_sessions(tmp_path):
    from fake_extractor import make_dataset

    from backpheno.dataset import Dataset

    root = make_dataset(tmp_path / "ds", n=2)
    fs_dir = root / "derivatives" / "fmriprep" / "sourcedata" / "freesurfer"
    (fs_dir / "sub-001" / "stats").mkdir(parents=True)
    (fs_dir / "sub-001" / "stats" / "aseg.stats").write_text("")
    (fs_dir / "sub-002_ses-V1" / "stats").mkdir(parents=True)
    (fs_dir / "sub-002_ses-V1" / "stats" / "lh.aparc.stats").write_text("")
    dataset = Dataset(root)
    once = FreeSurferSettings()
    found = EXTRACTOR.find_inputs(dataset, "sub-001", "ses-V0", once)
    assert found["aseg"] == fs_dir / "sub-001" / "stats" / "aseg.stats"
    assert set(found) == {"aseg", "lh.aparc", "rh.aparc"}
    assert EXTRACTOR.find_inputs(dataset, "sub-001", "ses-V1", once) is None
    assert EXTRACTOR.find_inputs(dataset, "sub-002", "ses-V0", once) is None
    per_session = FreeSurferSettings(subject="{participant}_{session}")
    assert EXTRACTOR.find_inputs(dataset, "sub-002", "ses-V1", per_session)["lh.aparc"].parent \
        == fs_dir / "sub-002_ses-V1" / "stats"
    (fs_dir / "sub-001" / "stats" / "aseg.stats").unlink()
    with pytest.raises(Exception, match="sub-001.*recon-all not finished"):
        EXTRACTOR.find_inputs(dataset, "sub-001", "ses-V0", once)


def test_hemisphere_summaries_come_from_the_first_configured_atlas(stats_dir):
    first_aparc, _, _ = _features(stats_dir / "fabian", aseg=False,
                                  atlases=["aparc", "aparc.a2009s"])
    assert first_aparc["brain.cortex.rh_mean_thickness_mm"] == 2.4817
    assert first_aparc["brain.cortex.rh_area_mm2"] == 99468.9
    first_destrieux, _, _ = _features(stats_dir / "fabian", aseg=False,
                                      atlases=["aparc.a2009s", "aparc"])
    assert first_destrieux["brain.cortex.rh_mean_thickness_mm"] == 2.48151
    assert first_destrieux["brain.cortex.rh_area_mm2"] == 99494.9
    pial, _, _ = _features(stats_dir / "soichi", aseg=False, atlases=["aparc.pial"])
    assert pial["brain.cortex.lh_area_mm2"] == 109814
    brodmann, _, _ = _features(stats_dir / "soichi", aseg=False, atlases=["BA_exvivo"])
    assert np.isnan(brodmann["brain.cortex.lh_mean_thickness_mm"])  # BA_exvivo has none
    line = next(line for line in (stats_dir / "soichi" / "lh.BA_exvivo.stats").read_text()
                .splitlines() if line.startswith("BA1_exvivo "))
    assert brodmann["brain.BA_exvivo.lh_BA1_exvivo.thickness_mm"] == float(line.split()[4])
