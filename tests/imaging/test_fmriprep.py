"""fMRIPrep discovery on a real derivatives tree (OpenNeuro ds000001, fMRIPrep 20.2.0)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.imaging import brain
from backpheno.imaging.derivatives import parse_name
from backpheno.imaging.fmriprep import find_session
from backpheno.imaging.settings import BrainSettings

LAYOUT = "fmriprep_layout_ds000001"
SUBJECTS = ("sub-10", "sub-11", "sub-13", "sub-16")
TASK = "balloonanalogrisktask"
SPACE = "space-MNI152NLin2009cAsym_res-2"


def _dataset(root: Path, fmriprep: Path, subjects=SUBJECTS) -> Dataset:
    pd.DataFrame({"participant_id": list(subjects), "site": "a", "age": 30, "sex": "F",
                  "deep_phenotyping": "true"}).to_csv(root / "participants.tsv", sep="\t",
                                                      index=False)
    (root / "derivatives").mkdir()
    (root / "derivatives" / "fmriprep").symlink_to(fmriprep)
    return Dataset(root)


@pytest.fixture(scope="module")
def layout(realdata) -> Path:
    return realdata / LAYOUT


def test_entities_of_real_names():
    f = parse_name(f"sub-16_task-{TASK}_run-1_space-MNI152NLin6Asym_desc-smoothAROMAnonaggr_"
                   "bold.nii.gz")
    assert f.entities == {"sub": "16", "task": TASK, "run": "1", "space": "MNI152NLin6Asym",
                          "desc": "smoothAROMAnonaggr"}
    assert (f.suffix, f.extension) == ("bold", ".nii.gz")
    assert parse_name("dataset_description.json") is None
    assert parse_name("sub-16_task-x_run-1_AROMAnoiseICs.csv").suffix == "AROMAnoiseICs"


@pytest.mark.parametrize("pid", SUBJECTS)
def test_every_subject_and_run_is_found_with_the_right_files(layout, tmp_path, pid):
    dataset = _dataset(tmp_path, layout)
    settings = BrainSettings(task=TASK)
    inputs = brain.EXTRACTOR.find_inputs(dataset, pid, "ses-V0", settings)
    func = layout / pid / "func"
    anat = layout / pid / "anat"
    expected = {}
    for run in (1, 2, 3):
        stem = f"{pid}_task-{TASK}_run-{run}"
        expected.update({
            f"run-{run}/bold": func / f"{stem}_{SPACE}_desc-preproc_bold.nii.gz",
            f"run-{run}/sidecar": func / f"{stem}_{SPACE}_desc-preproc_bold.json",
            f"run-{run}/confounds": func / f"{stem}_desc-confounds_timeseries.tsv",
            f"run-{run}/mask": func / f"{stem}_{SPACE}_desc-brain_mask.nii.gz",
        })
    for key, label in (("gm", "GM"), ("wm", "WM"), ("csf", "CSF")):
        expected[f"anat/{key}"] = anat / f"{pid}_{SPACE}_label-{label}_probseg.nii.gz"
    rel = {k: Path(v).relative_to(dataset.derivatives_dir("fmriprep")) for k, v in inputs.items()}
    assert rel == {k: v.relative_to(layout) for k, v in expected.items()}
    assert all(path.is_file() for path in expected.values())
    found = find_session(dataset.derivatives_dir("fmriprep"), pid, "ses-V0", settings)
    assert (found.space, found.resolution) == ("MNI152NLin2009cAsym", "2")
    assert found.notes == ["space-MNI152NLin2009cAsym used by default (found: "
                           "MNI152NLin2009cAsym; brain.space chooses)"]


def test_choices_and_clear_reasons(layout, tmp_path):
    dataset = _dataset(tmp_path, layout)
    fmriprep = dataset.derivatives_dir("fmriprep")
    one = find_session(fmriprep, "sub-10", "ses-V0", BrainSettings(task=TASK, run="02"))
    assert [r.label for r in one.runs] == ["run-2"]
    # ICA-AROMA's MNI152NLin6Asym output is not a preprocessed BOLD
    with pytest.raises(InputError, match="no preprocessed BOLD in space-MNI152NLin6Asym "
                                         r"\(brain.space\); spaces found: MNI152NLin2009cAsym"):
        find_session(fmriprep, "sub-10", "ses-V0", BrainSettings(task=TASK,
                                                                 space="MNI152NLin6Asym"))
    with pytest.raises(InputError, match=r"no file with res-1 \(brain.resolution\); found: res-2"):
        find_session(fmriprep, "sub-10", "ses-V0", BrainSettings(task=TASK, resolution="1"))
    with pytest.raises(InputError, match=f"task-rest.*tasks with a preprocessed BOLD here: "
                                         f"{TASK}") as err:
        brain.EXTRACTOR.find_inputs(dataset, "sub-10", "ses-V0", BrainSettings())
    assert "sub-10" in str(err.value)
    assert find_session(fmriprep, "sub-10", "ses-V1", BrainSettings(task=TASK)) is None
    assert find_session(fmriprep, "sub-10", "ses-V0",
                        BrainSettings(task=TASK, sessionless_as=None)) is None


def _copy_names(source: Path, target: Path) -> None:
    """The file names of a subject's func and anat folders (sidecars copied, images empty)."""
    for folder in ("func", "anat"):
        (target / folder).mkdir(parents=True)
        for path in (source / folder).iterdir():
            if path.suffix == ".json":
                shutil.copy(path, target / folder / path.name)
            else:
                (target / folder / path.name).touch()


def _write_run(func: Path, stem: str, confounds: pd.DataFrame, bold: nib.Nifti1Image) -> None:
    bold.header.set_xyzt_units("mm", "sec")
    bold.header["pixdim"][4] = 2.0
    bold.to_filename(func / f"{stem}_{SPACE}_desc-preproc_bold.nii.gz")
    mask = np.ones(bold.shape[:3], np.uint8)
    nib.Nifti1Image(mask, bold.affine).to_filename(
        func / f"{stem}_{SPACE}_desc-brain_mask.nii.gz")
    confounds.to_csv(func / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", index=False,
                     na_rep="n/a")


def test_a_fully_censored_run_is_excluded_and_the_other_runs_count(layout, realdata, tmp_path,
                                                                  random_4d):
    """Real names and sidecars, small images; run 3 moves in every volume (real nilearn table)."""
    pid = "sub-16"
    fmriprep = tmp_path / "fmriprep"
    _copy_names(layout / pid, fmriprep / pid)
    table = pd.read_csv(realdata / "fmriprep_confounds_real" / "nilearn_fixtures"
                        / "test-v21_desc-confounds_timeseries.tsv", sep="\t")
    func = fmriprep / pid / "func"
    for run in (1, 2, 3):
        confounds = table.copy()
        if run < 3:  # a still participant; run 3 keeps the real table's high motion
            confounds["framewise_displacement"] = 0.05
            confounds["std_dvars"] = 1.0
            confounds = confounds.drop(columns=confounds.filter(like="motion_outlier").columns)
        img = random_4d(shape=(8, 8, 6), n_volumes=len(table), seed=run)
        _write_run(func, f"{pid}_task-{TASK}_run-{run}", confounds, img)
    labels = np.zeros(img.shape[:3], np.int32)
    labels[:4, :4, :] = 1
    labels[:4, 4:, :] = 2
    labels[4:, :4, :] = 3
    labels[4:, 4:, :] = 4
    atlas_img = tmp_path / "atlas.nii.gz"
    nib.Nifti1Image(labels, img.affine).to_filename(atlas_img)
    atlas_table = tmp_path / "atlas_dseg.tsv"
    pd.DataFrame({"index": [1, 2, 3, 4], "name": ["a", "b", "c", "d"],
                  "network": ["N1", "N1", "N2", "N2"]}).to_csv(atlas_table, sep="\t", index=False)
    settings = BrainSettings.model_validate({
        "task": TASK, "atlas": {"builtin": None, "image": atlas_img, "table": atlas_table},
        "structural": {"enabled": False}, "qc": {"min_retained_seconds": 20,
                                                 "max_mean_fd_mm": None,
                                                 "max_high_motion_fraction": None}})
    root = tmp_path / "ds"
    root.mkdir()
    dataset = _dataset(root, fmriprep, (pid,))
    inputs = brain.EXTRACTOR.find_inputs(dataset, pid, "ses-V0", settings)
    result = brain.EXTRACTOR.extract(inputs, settings, pid, "ses-V0")

    run3 = [r for r in result.qc if r["item"] == "run run-3"]
    assert run3[0]["status"] == "missing"
    assert "only 0 of 30 volumes retained after censoring" in run3[0]["reason"]
    assert "excluded" in run3[0]["reason"]
    nilearn = [r["reason"] for r in result.qc if r["item"] == "run run-3: nilearn"]
    assert any(m.startswith("All volumes were marked as motion outliers.") for m in nilearn)
    assert any(r["item"] == "runs" and "2 of 3 runs passed QC" in r["reason"]
               for r in result.qc)
    assert np.isfinite(result.features["brain.fc.N1__N2"])
    singles = [brain.extract_run(inputs[f"run-{i}/bold"], inputs[f"run-{i}/confounds"],
                                 inputs[f"run-{i}/mask"], settings=settings) for i in (1, 2)]
    expected = np.average([s.features["brain.fc.N1__N2"] for s in singles],
                          weights=[s.n_retained for s in singles])
    assert result.features["brain.fc.N1__N2"] == pytest.approx(expected)
    assert result.features["brain.qc.n_censored"] == pytest.approx(
        30 + sum(s.features["brain.qc.n_censored"] for s in singles))
    tr_rows = [r for r in result.qc if r["item"] == "run run-1: repetition time"]
    sidecar = f"{pid}_task-{TASK}_run-1_{SPACE}_desc-preproc_bold.json"
    assert tr_rows[0]["reason"] == f"TR 2 s from {sidecar}"
    assert "space-MNI152NLin2009cAsym (default choice" in result.qc[0]["reason"]
