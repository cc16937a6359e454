"""Fixtures for the brain imaging tests: one simulated fMRIPrep run and small synthetic images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from backpheno.dataset import Dataset


@dataclass(frozen=True)
class RunFiles:
    """Paths of one simulated fMRIPrep run."""

    participant_id: str
    session_id: str
    bold: Path
    sidecar: Path
    confounds: Path
    mask: Path
    gm: Path
    wm: Path
    csf: Path


def run_files(root: Path, participant_id: str, session_id: str = "ses-V0") -> RunFiles:
    func = root / "derivatives" / "fmriprep" / participant_id / session_id / "func"
    anat = func.parent / "anat"
    stem = f"{participant_id}_{session_id}_task-rest"
    space = "space-MNI152NLin2009cAsym"
    anat_prefix = f"{participant_id}_{session_id}_{space}"
    return RunFiles(
        participant_id, session_id,
        bold=func / f"{stem}_{space}_desc-preproc_bold.nii.gz",
        sidecar=func / f"{stem}_{space}_desc-preproc_bold.json",
        confounds=func / f"{stem}_desc-confounds_timeseries.tsv",
        mask=func / f"{stem}_{space}_desc-brain_mask.nii.gz",
        gm=anat / f"{anat_prefix}_label-GM_probseg.nii.gz",
        wm=anat / f"{anat_prefix}_label-WM_probseg.nii.gz",
        csf=anat / f"{anat_prefix}_label-CSF_probseg.nii.gz",
    )


@pytest.fixture(scope="session")
def deep_ids(small_cohort: Path) -> list[str]:
    """Deep-phenotyped participants of the small simulated cohort."""
    participants = Dataset(small_cohort).participants
    return participants.index[participants["deep_phenotyping"].astype(bool)].tolist()


@pytest.fixture(scope="session")
def sim_run(small_cohort: Path, deep_ids: list[str]) -> RunFiles:
    """The first deep participant's simulated run."""
    return run_files(small_cohort, deep_ids[0])


def _random_4d(shape=(12, 14, 10), n_volumes=40, seed=0, dtype=np.float32,
               affine=None) -> nib.Nifti1Image:
    """A 4-D image with a realistic mean/SD ratio (mean ~1000, SD ~1 %)."""
    rng = np.random.default_rng(seed)
    base = 800 + 400 * rng.random(shape)
    shared = rng.standard_normal(n_volumes)
    data = base[..., None] * (1 + 0.01 * (rng.standard_normal(shape + (n_volumes,))
                                          + 0.5 * shared))
    affine = np.diag([3.0, 3.0, 3.0, 1.0]) if affine is None else affine
    return nib.Nifti1Image(np.asfortranarray(data.astype(dtype)), affine)


@pytest.fixture(scope="session")
def random_4d():
    """Factory of random 4-D images: ``random_4d(shape, n_volumes, seed, dtype, affine)``."""
    return _random_4d


@pytest.fixture(scope="session")
def brain_run_files():
    """Factory: ``brain_run_files(root, participant_id, session_id)`` → :class:`RunFiles`."""
    return run_files
