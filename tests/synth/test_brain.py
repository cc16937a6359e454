"""Synthetic fMRIPrep derivatives: file contract, confounds, determinism, planted effects."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.interfaces.fmriprep import load_confounds_strategy

from backpheno.config import load_config
from backpheno.dataset import Dataset
from backpheno.imaging import brain as extractor
from backpheno.imaging.features import codebook
from backpheno.imaging.settings import BrainSettings
from backpheno.imaging.templates import mni152_grid
from backpheno.synth import brain, simulate
from backpheno.synth.base import ParticipantSpec
from backpheno.synth.cohort import DEEP_WRITERS
from backpheno.synth.config import SimulateConfig

REPO = Path(__file__).resolve().parents[2]


def _files(root: Path, pid: str) -> dict[str, Path]:
    func = root / "derivatives" / "fmriprep" / pid / "ses-V0" / "func"
    stem = f"{pid}_ses-V0_task-rest"
    space = "space-MNI152NLin2009cAsym"
    anat = func.parent / "anat"
    return {
        "bold": func / f"{stem}_{space}_desc-preproc_bold.nii.gz",
        "sidecar": func / f"{stem}_{space}_desc-preproc_bold.json",
        "mask": func / f"{stem}_{space}_desc-brain_mask.nii.gz",
        "confounds": func / f"{stem}_desc-confounds_timeseries.tsv",
        "confounds_json": func / f"{stem}_desc-confounds_timeseries.json",
        "gm": anat / f"{pid}_ses-V0_{space}_label-GM_probseg.nii.gz",
        "wm": anat / f"{pid}_ses-V0_{space}_label-WM_probseg.nii.gz",
        "csf": anat / f"{pid}_ses-V0_{space}_label-CSF_probseg.nii.gz",
    }


@pytest.fixture(scope="module")
def config() -> SimulateConfig:
    return load_config(REPO / "configs" / "test_simulate.yaml", SimulateConfig)


@pytest.fixture(scope="module")
def deep(small_cohort):
    participants = Dataset(small_cohort).participants
    return participants.index[participants["deep_phenotyping"].astype(bool)].tolist()


def test_registered_and_drives_name_real_columns():
    assert brain in DEEP_WRITERS
    atlas = extractor.load_atlas(BrainSettings())
    names = {row["name"] for row in codebook(BrainSettings(), atlas, "")}
    assert set(brain.DRIVES["nociplastic"]) <= names


def test_files_follow_the_fmriprep_contract(small_cohort, deep, config):
    root = small_cohort
    assert json.loads((root / "derivatives" / "fmriprep" / "dataset_description.json")
                      .read_text())["DatasetType"] == "derivative"
    participants = Dataset(root).participants
    shallow = participants.index[~participants["deep_phenotyping"].astype(bool)][0]
    assert not (root / "derivatives" / "fmriprep" / shallow).exists()
    files = _files(root, deep[0])
    assert all(path.is_file() for path in files.values())
    grid = mni152_grid(config.brain.resolution_mm)
    bold = nib.load(str(files["bold"]))
    assert bold.shape == grid.shape + (config.brain.n_volumes,)
    np.testing.assert_allclose(bold.affine, grid.affine)
    assert bold.header.get_zooms()[3] == config.brain.repetition_time
    assert json.loads(files["sidecar"].read_text())["RepetitionTime"] == \
        config.brain.repetition_time
    mask = nib.load(str(files["mask"]))
    assert mask.shape == grid.shape and np.allclose(mask.affine, grid.affine)
    gm = nib.load(str(files["gm"])).get_fdata()
    assert 0 <= gm.min() and gm.max() <= 1 and gm.sum() > 0


def test_confounds_have_fmriprep_columns_and_work_with_every_nilearn_strategy(small_cohort, deep):
    files = _files(small_cohort, deep[0])
    table = pd.read_csv(files["confounds"], sep="\t")
    for base in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "global_signal",
                 "csf", "white_matter"):
        for suffix in ("", "_derivative1", "_power2", "_derivative1_power2"):
            assert base + suffix in table.columns
    for column in ("framewise_displacement", "std_dvars", "dvars", "rmsd", "a_comp_cor_00",
                   "c_comp_cor_00", "w_comp_cor_00", "t_comp_cor_00", "cosine00"):
        assert column in table.columns
    assert np.isnan(table.loc[0, "framewise_displacement"])
    meta = json.loads(files["confounds_json"].read_text())
    assert meta["a_comp_cor_00"]["Mask"] == "combined"
    for strategy in ("simple", "scrubbing", "compcor"):
        confounds, _ = load_confounds_strategy(str(files["bold"]), denoise_strategy=strategy)
        assert confounds.notna().all().all() and confounds.shape[1] > 6


def test_confounds_are_computed_from_the_data(small_cohort, deep, config):
    files = _files(small_cohort, deep[1])
    data = nib.load(str(files["bold"])).get_fdata(dtype=np.float32)
    mask = np.asarray(nib.load(str(files["mask"])).dataobj) > 0
    table = pd.read_csv(files["confounds"], sep="\t")
    global_signal = data[mask].mean(axis=0)
    np.testing.assert_allclose(table["global_signal"], global_signal, rtol=1e-4)
    fd = table["framewise_displacement"].to_numpy()
    spikes = int(round(config.brain.high_motion_fraction * config.brain.n_volumes))
    assert (fd[1:] > 0.5).sum() >= spikes - 1
    # motion contaminates the signal: DVARS follows FD (QC-FC style coupling)
    assert np.corrcoef(fd[1:], table["dvars"].to_numpy()[1:])[0, 1] > 0.3


def test_deterministic_per_participant(tmp_path, config):
    spec = ParticipantSpec("sub-001", "ses-V0", "site01", 50.0, "F", 25.0,
                           {"nociplastic": 1.0, "distress": 0.0, "mechanical": 0.0,
                            "fear_avoidance": 0.0},
                           {"brain_fc_offset": 0.0, "brain_amplitude_scale": 1.0}, 3, 0)
    for folder in ("a", "b"):
        brain.write_participant(spec, tmp_path / folder, config)
    a, b = _files(tmp_path / "a", "sub-001"), _files(tmp_path / "b", "sub-001")
    assert a["confounds"].read_bytes() == b["confounds"].read_bytes()
    np.testing.assert_array_equal(np.asarray(nib.load(str(a["bold"])).dataobj),
                                  np.asarray(nib.load(str(b["bold"])).dataobj))


def test_site_effects_and_trait_enter_the_network_coupling():
    names = ["DefaultMode", "Reward", "Salience", "SomatomotorDorsal", "Visual"]
    base = brain.network_correlation(names, {"nociplastic": 0.0}, {})
    offset = brain.network_correlation(names, {"nociplastic": 0.0}, {"brain_fc_offset": 0.05})
    high = brain.network_correlation(names, {"nociplastic": 1.5}, {})
    i, j = names.index("DefaultMode"), names.index("Salience")
    v = names.index("Visual")
    assert offset[i, v] - base[i, v] == pytest.approx(0.05, abs=0.01)
    assert high[i, j] - base[i, j] == pytest.approx(1.5 * brain.TRAIT_COUPLING[
        ("DefaultMode", "Salience")], abs=0.03)
    assert np.linalg.eigvalsh(high).min() > 0


@pytest.fixture(scope="module")
def effect_cohort(tmp_path_factory):
    """40 deep participants at 8 mm: enough to recover the planted correlations."""
    config = SimulateConfig.model_validate({
        "participants": 40, "deep_fraction": 1.0, "seed": 11,
        "brain": {"resolution_mm": 8.0, "n_volumes": 100}})
    root = tmp_path_factory.mktemp("brain_effect") / "dataset"
    simulate(config, root)
    return root


def test_planted_nociplastic_effect_is_recovered(effect_cohort):
    truth = json.loads((effect_cohort / "ground_truth.json").read_text())
    traits = {p["participant_id"]: p["traits"]["nociplastic"] for p in truth["participants"]}
    dataset = Dataset(effect_cohort)
    settings = BrainSettings(qc={"exclude_flagged_runs": False}, amplitude={"enabled": False},
                             structural={"enabled": False})
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pid in dataset.participant_ids:
            inputs = extractor.EXTRACTOR.find_inputs(dataset, pid, "ses-V0", settings)
            rows[pid] = extractor.EXTRACTOR.extract(inputs, settings, pid, "ses-V0").features
    table = pd.DataFrame(rows).T
    trait = pd.Series(traits).reindex(table.index)
    planted = [n for n in brain.DRIVES["nociplastic"] if n.startswith("brain.fc.")]
    others = [c for c in table.columns if c.startswith("brain.fc.") and c not in planted]
    r_planted = table[planted].corrwith(trait)
    r_others = table[others].corrwith(trait).abs()
    print("correlation with nociplastic:", r_planted.round(3).to_dict(),
          "median |r| of other network pairs:", round(float(r_others.median()), 3))
    assert (r_planted > 0.25).all() and r_planted.mean() > 0.4
    assert r_planted.mean() > r_others.quantile(0.9)
    assert "brain.fc.DefaultMode__Salience" in truth["traits"]["nociplastic"]["drives"]
