"""Denoising equals nilearn's fMRIPrep strategies + masker cleaning."""

from __future__ import annotations

import shutil
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.interfaces.fmriprep import load_confounds_strategy
from nilearn.maskers import NiftiLabelsMasker, NiftiSpheresMasker

from backpheno.errors import InputError
from backpheno.imaging.atlas import seitzman_2018
from backpheno.imaging.denoise import clean_signals, load_confounds
from backpheno.imaging.inputs import read_repetition_time
from backpheno.imaging.parcellate import extract_signals, label_regions, sphere_regions
from backpheno.imaging.settings import DenoiseSettings

STRATEGIES = [
    DenoiseSettings(strategy="simple", global_signal=None),
    DenoiseSettings(strategy="simple"),
    DenoiseSettings(),  # default: scrubbing.5 + GSR
    DenoiseSettings(strategy="scrubbing", global_signal=None, fd_threshold=0.2,
                    std_dvars_threshold=3.0),
    DenoiseSettings(strategy="compcor", global_signal=None),
    DenoiseSettings(strategy="simple", low_pass=0.08, high_pass=0.01),
]


def _relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    sd = reference.std(axis=0)
    return float((np.abs(ours - reference) / np.where(sd > 0, sd, 1.0)).max())


@pytest.mark.parametrize("settings", STRATEGIES, ids=lambda s: s.label + (
    "+bandpass" if s.low_pass else ""))
def test_spheres_pipeline_equals_nilearn(sim_run, settings):
    bold = nib.load(str(sim_run.bold))
    mask = np.asarray(nib.load(str(sim_run.mask)).dataobj) > 0
    t_r = read_repetition_time(sim_run.sidecar)
    atlas = seitzman_2018(radius_mm=5.0)
    coords = atlas.regions[["x", "y", "z"]].to_numpy(float)
    regions = sphere_regions(coords, 5.0, atlas.names, bold.shape, bold.affine, mask)
    inside = regions.counts > 0
    (raw,), _ = extract_signals(bold, [regions], mask)
    denoising = load_confounds(sim_run.confounds, settings, t_r, n_volumes=bold.shape[3])
    ours = clean_signals(raw[:, inside], denoising)

    confounds, sample_mask = load_confounds_strategy(
        str(sim_run.bold), denoise_strategy=settings.strategy, **settings.confound_kwargs())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker = NiftiSpheresMasker(coords[inside], radius=5.0, mask_img=str(sim_run.mask),
                                    allow_overlap=True, t_r=t_r, **_masker_clean(settings))
        reference = masker.fit_transform(str(sim_run.bold), confounds=confounds,
                                         sample_mask=sample_mask)
    assert ours.shape == reference.shape
    assert _relative_error(ours, reference) < 1e-5
    assert list(denoising.confounds.columns) == list(confounds.columns)
    if sample_mask is not None:
        np.testing.assert_array_equal(denoising.sample_mask, sample_mask)


def _masker_clean(settings: DenoiseSettings) -> dict:
    kwargs = settings.clean_kwargs()
    clean_args = {"filter": kwargs.pop("filter")}
    return {**kwargs, "clean_args": clean_args}


def test_labels_pipeline_equals_nilearn_with_schaefer(sim_run, realdata):
    labels_img = nib.load(str(realdata / "brain_atlases" / "schaefer2018"
                              / "Schaefer2018_100Parcels_7Networks_order_FSLMNI152_2mm.nii.gz"))
    settings = DenoiseSettings()
    bold = nib.load(str(sim_run.bold))
    mask = np.asarray(nib.load(str(sim_run.mask)).dataobj) > 0
    t_r = read_repetition_time(sim_run.sidecar)
    confounds, sample_mask = load_confounds_strategy(
        str(sim_run.bold), denoise_strategy=settings.strategy, **settings.confound_kwargs())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker = NiftiLabelsMasker(labels_img, mask_img=str(sim_run.mask), t_r=t_r,
                                   **_masker_clean(settings))
        reference = masker.fit_transform(str(sim_run.bold), confounds=confounds,
                                         sample_mask=sample_mask)
        ids = [i for i in masker.region_ids_.values() if i != 0]
    regions = label_regions(labels_img, ids, [str(i) for i in ids], bold.shape, bold.affine,
                            mask)
    (raw,), _ = extract_signals(bold, [regions], mask)
    ours = clean_signals(raw, load_confounds(sim_run.confounds, settings, t_r))
    assert _relative_error(ours, reference) < 1e-5


def test_dvars_censoring_only_when_a_threshold_is_set(realdata, tmp_path):
    """Real fMRIPrep confounds (nilearn's fixture), still (FD 0.05 mm) but with a DVARS spike in
    volumes 20-29: the default (std_dvars_threshold null) censors nothing (nilearn's scrubbing
    preset would apply its own 1.5 if given None); a threshold of 1.5 censors the spike."""
    table = pd.read_csv(realdata / "fmriprep_confounds_real" / "nilearn_fixtures"
                        / "test-v21_desc-confounds_timeseries.tsv", sep="\t")
    table["framewise_displacement"] = 0.05
    table["std_dvars"] = 1.0
    table = table.drop(columns=table.filter(like="motion_outlier").columns)
    still = tmp_path / "still" / "sub-01_task-rest_desc-confounds_timeseries.tsv"
    path = tmp_path / "sub-01_task-rest_desc-confounds_timeseries.tsv"
    still.parent.mkdir()
    table.to_csv(still, sep="\t", index=False, na_rep="n/a")
    table.loc[20:29, "std_dvars"] = 2.0
    table.to_csv(path, sep="\t", index=False, na_rep="n/a")
    baseline = load_confounds(still, DenoiseSettings(), 2.0)    # non-steady-state volumes only
    default = load_confounds(path, DenoiseSettings(), 2.0)
    assert default.n_censored == baseline.n_censored
    assert set(range(20, 30)) <= set(default.sample_mask)
    spiked = load_confounds(path, DenoiseSettings(std_dvars_threshold=1.5), 2.0)
    assert spiked.n_censored >= baseline.n_censored + 10
    assert not set(range(20, 30)) & set(spiked.sample_mask)


def test_provenance_records_every_parameter(sim_run):
    denoising = load_confounds(sim_run.confounds, DenoiseSettings(), 2.0)
    record = denoising.provenance()
    assert record["denoise_strategy"] == "scrubbing"
    assert record["confounds.fd_threshold"] == 0.5
    assert record["confounds.std_dvars_threshold"] is None
    assert record["confounds.global_signal"] == "basic"
    assert record["clean.standardize"] == "zscore_sample" and record["clean.t_r"] == 2.0
    assert "global_signal" in record["confound_columns"]
    assert record["n_censored"] == denoising.n_censored > 0


def test_missing_confounds_file_is_named(tmp_path):
    with pytest.raises(InputError, match="confounds file not found") as err:
        load_confounds(tmp_path / "sub-1_desc-confounds_timeseries.tsv", DenoiseSettings(), 2.0)
    assert "sub-1_desc-confounds_timeseries.tsv" in str(err.value)


def test_pre_1_2_fmriprep_table_is_rejected_with_the_file_named(realdata):
    old = (realdata / "fmriprep_confounds_real" / "ds000031_neurocaps"
           / "sub-01_ses-002_task-rest_run-001_desc-confounds_timeseries.tsv")
    with pytest.raises(InputError, match="nilearn could not select") as err:
        load_confounds(old, DenoiseSettings(strategy="simple"), 1.2)
    assert old.name in str(err.value)


def test_real_fmriprep_21_table_with_every_strategy(realdata, tmp_path):
    source = realdata / "fmriprep_confounds_real" / "nilearn_fixtures"
    for suffix in (".tsv", ".json"):
        shutil.copy(source / f"test-v21_desc-confounds_timeseries{suffix}",
                    tmp_path / f"sub-01_task-rest_desc-confounds_timeseries{suffix}")
    path = tmp_path / "sub-01_task-rest_desc-confounds_timeseries.tsv"
    simple = load_confounds(path, DenoiseSettings(strategy="simple"), 2.0)
    assert simple.n_censored == 3  # three non-steady-state volumes in the fixture
    compcor = load_confounds(path, DenoiseSettings(strategy="compcor", global_signal=None), 2.0)
    assert any(c.startswith("a_comp_cor") for c in compcor.confounds.columns)
    (path.with_suffix(".json")).unlink()
    with pytest.raises(InputError) as err:
        load_confounds(path, DenoiseSettings(strategy="compcor", global_signal=None), 2.0)
    assert path.name in str(err.value)


def test_confounds_of_another_length_are_rejected(sim_run):
    with pytest.raises(InputError, match="rows but the BOLD run has 7 volumes"):
        load_confounds(sim_run.confounds, DenoiseSettings(), 2.0, n_volumes=7)


def test_strategy_options_are_validated():
    with pytest.raises(ValueError, match="only apply to strategy 'scrubbing'"):
        DenoiseSettings(strategy="simple", fd_threshold=0.3)
    with pytest.raises(ValueError, match="compcor"):
        DenoiseSettings(strategy="scrubbing", n_compcor=5)
    assert DenoiseSettings().label == "scrubbing.5+gsr"


def test_a_fully_censored_run_gives_an_empty_sample_mask_and_nilearns_reason(realdata,
                                                                            tmp_path):
    """The real high-motion nilearn fixture: every volume is an outlier (not an error)."""
    source = realdata / "fmriprep_confounds_real" / "nilearn_fixtures"
    for suffix in (".tsv", ".json"):
        shutil.copy(source / f"test-v21_desc-confounds_timeseries{suffix}",
                    tmp_path / f"sub-1_desc-confounds_timeseries{suffix}")
    denoising = load_confounds(tmp_path / "sub-1_desc-confounds_timeseries.tsv",
                               DenoiseSettings(), t_r=2.0)
    assert len(denoising.sample_mask) == 0 and denoising.n_censored == denoising.n_volumes == 30
    assert any(w.startswith("All volumes were marked as motion outliers.")
               for w in denoising.warnings)


def test_nilearn_messages_are_kept_whole(realdata, tmp_path):
    """A pre-1.2 fMRIPrep table: nilearn lists every column; the message must not be cut."""
    table = realdata / "fmriprep_confounds_real" / "ds000031_neurocaps" / (
        "sub-01_ses-002_task-rest_run-001_desc-confounds_timeseries.tsv")
    path = tmp_path / table.name
    shutil.copy(table, path)
    last_column = table.read_text(encoding="utf-8").splitlines()[0].split("\t")[-1]
    with pytest.raises(InputError, match="We only support fmriprep outputs >= 1.2.0") as err:
        load_confounds(path, DenoiseSettings(), t_r=2.0)
    assert f"'{last_column}'" in str(err.value)
