"""Synthetic fMRIPrep derivatives with network-structured resting-state signals.

For every deep-phenotyped participant × session this writes, under ``derivatives/fmriprep``, what
fMRIPrep would (the dataset layout of README.md): a 4-D BOLD series on the MNI152NLin2009cAsym grid
at ``config.brain.resolution_mm`` with its JSON sidecar (``RepetitionTime``), the BOLD brain mask,
the confounds table with fMRIPrep's column names (and its JSON with CompCor metadata), and GM / WM
/ CSF probability maps.

Signal model (percent of each voxel's baseline intensity):

* 13 network signals (the Seitzman 2018 networks; each brain voxel belongs to the network of the
  nearest Seitzman ROI within ``ASSIGN_RADIUS_MM``) drawn with a between-network correlation
  matrix. The ``nociplastic`` trait raises the coupling of the pairs in :data:`TRAIT_COUPLING`
  (salience–default mode, salience–dorsal somatomotor, default mode–reward: the cross-network
  hyper-connectivity reported in chronic low back pain, Kim et al. 2019 Pain 160:1594;
  Loggia et al. 2013 Pain 154:24; Baliki et al. 2012 Nat Neurosci 15:1117), the site's
  ``brain_fc_offset`` is added to every between-network correlation, and its
  ``brain_amplitude_scale`` multiplies the neural fluctuation amplitude (ALFF);
* nuisance that denoising must remove: a global signal, physiological noise loading mostly on
  CSF and white matter, slow drift, head-motion regressors leaking into voxels with
  position-dependent loadings, and intensity spikes at high-motion volumes
  (``high_motion_fraction``) that only censoring removes;
* the confounds (global signal, CSF, white matter, DVARS, aCompCor, ...) are computed from the
  synthetic data itself, as fMRIPrep computes them from real data.

Files are gzip level 1 (the BOLD with deflate's run-length strategy) and the BOLD is int16 with
a scale factor, so a 4 mm, 120-volume run takes a few tenths of a second to write.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.spatial import cKDTree
from threadpoolctl import threadpool_limits

from backpheno import __version__
from backpheno.imaging.templates import mni152_grid, template_on_grid
from backpheno.io import atomic_path, atomic_write, write_json, write_tsv
from backpheno.synth.base import ParticipantSpec
from backpheno.synth.config import SimulateConfig

#: Between-network coupling added per SD of the nociplastic trait (correlation units).
TRAIT_COUPLING = {
    ("DefaultMode", "Salience"): 0.15,
    ("Salience", "SomatomotorDorsal"): 0.15,
    ("DefaultMode", "Reward"): 0.15,
}

#: Features the latent traits drive, by exact name (default BrainSettings).
DRIVES = {
    "nociplastic": [
        "brain.fc.DefaultMode__Salience",
        "brain.fc.Salience__SomatomotorDorsal",
        "brain.fc.DefaultMode__Reward",
        "brain.seed.dmn__insula-left",
        "brain.seed.dmn__insula-right",
        "brain.seed.s1back__salience",
        "brain.seed.mpfc__nacc",
    ],
}

#: Voxels within this distance of a Seitzman ROI centre carry that ROI's network signal (mm).
ASSIGN_RADIUS_MM = 9.0
#: Baseline between-network correlation, and a few canonical anti-correlations.
BASE_COUPLING = 0.1
ANTI_COUPLING = {("DefaultMode", "DorsalAttention"): -0.15,
                 ("DefaultMode", "FrontoParietal"): -0.05}
#: AR(1) coefficient of the network signals (low-frequency dominated, like BOLD).
NETWORK_AR = 0.55
#: Amplitudes in percent of baseline.
NETWORK_PCT, NEURAL_NOISE_PCT, THERMAL_NOISE_PCT = 1.0, 0.7, 1.2
GLOBAL_PCT, PHYSIO_PCT, MOTION_PCT_PER_MM, SPIKE_PCT_PER_MM = 0.6, 0.8, 2.0, 4.0

#: Most voxels per mask used for CompCor components (a fixed random subset).
COMPCOR_VOXELS = 1500
TISSUE_BASELINE = {"gm": 1000.0, "wm": 850.0, "csf": 1400.0}
#: Median SD of the volume-to-volume head displacement per axis (mm; log-normal across
#: participants with SD 0.3), giving mean FD around 0.1 mm; a few percent of runs fail QC.
MOTION_STEP_MM = 0.02
#: Motion parameter names in fMRIPrep's confounds table.
MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
_HEAD_RADIUS_MM = 50.0


def write_static(root: str | Path, config: SimulateConfig) -> None:
    """``derivatives/fmriprep/dataset_description.json``."""
    write_json(Path(root) / "derivatives" / "fmriprep" / "dataset_description.json", {
        "Name": "fMRIPrep - synthetic outputs (backpheno.synth.brain)",
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "backpheno.synth.brain", "Version": __version__,
                         "Description": "synthetic fMRIPrep-style derivatives on the "
                                        "MNI152NLin2009cAsym grid at "
                                        f"{config.brain.resolution_mm:g} mm"}],
    })


def write_participant(spec: ParticipantSpec, root: str | Path, config: SimulateConfig) -> None:
    """Write one session's fMRIPrep-style BOLD run, confounds, mask and tissue maps."""
    brain = config.brain
    layout = _layout(float(brain.resolution_mm))
    rng = spec.rng("brain")
    n_volumes, t_r = brain.n_volumes, brain.repetition_time
    # Small dense algebra only: BLAS threads cost more in start-up than they save here.
    with threadpool_limits(1):
        data, confounds, meta = _simulate_run(spec, layout, n_volumes, t_r,
                                              brain.high_motion_fraction, rng)
    func = (Path(root) / "derivatives" / "fmriprep" / spec.participant_id / spec.session_id
            / "func")
    anat = func.parent / "anat"
    stem = f"{spec.participant_id}_{spec.session_id}_task-rest"
    space = "space-MNI152NLin2009cAsym"
    grid = layout["grid"]
    _write_bold(func / f"{stem}_{space}_desc-preproc_bold.nii.gz", data, layout, grid, t_r)
    write_json(func / f"{stem}_{space}_desc-preproc_bold.json", {
        "RepetitionTime": t_r, "TaskName": "rest", "SkullStripped": False,
        "Sources": [f"bids:raw:{spec.participant_id}/{spec.session_id}/func/{stem}_bold.nii.gz"],
    })
    _write_nifti(func / f"{stem}_{space}_desc-brain_mask.nii.gz",
                 layout["mask"].astype(np.uint8), grid)
    write_tsv(func / f"{stem}_desc-confounds_timeseries.tsv", confounds)
    write_json(func / f"{stem}_desc-confounds_timeseries.json", meta)
    prefix = f"{spec.participant_id}_{spec.session_id}_{space}"
    for tissue, values in _tissue_maps(spec, layout, rng).items():
        _write_nifti(anat / f"{prefix}_label-{tissue}_probseg.nii.gz", values, grid)


@lru_cache(maxsize=4)
def _layout(resolution_mm: float) -> dict:
    """Grid, mask, tissue weights, network membership and motion loadings (cached)."""
    from nilearn.datasets import fetch_coords_seitzman_2018

    grid = mni152_grid(resolution_mm)
    gm = template_on_grid("gm", resolution_mm).get_fdata(dtype=np.float32)
    wm = template_on_grid("wm", resolution_mm).get_fdata(dtype=np.float32)
    mask = np.asarray(template_on_grid("brain_mask", resolution_mm).dataobj) > 0
    mask &= (gm + wm) > 0.2
    index = np.flatnonzero(mask.ravel(order="F"))
    gm_v = gm.ravel(order="F")[index]
    wm_v = wm.ravel(order="F")[index]
    csf_v = np.clip(1.0 - gm_v - wm_v, 0.0, 1.0)
    world = grid.world_coordinates(index)

    atlas = fetch_coords_seitzman_2018()
    networks = np.asarray(atlas.networks)
    keep = networks != "unassigned"
    names = sorted(set(networks[keep]))
    centres = atlas.rois[["x", "y", "z"]].to_numpy(float)[keep]
    roi_network = np.array([names.index(n) for n in networks[keep]])
    distance, nearest = cKDTree(centres).query(world, distance_upper_bound=ASSIGN_RADIUS_MM)
    network = np.where(np.isfinite(distance), roi_network[np.minimum(nearest, len(centres) - 1)],
                       -1)

    centre = world.mean(axis=0)
    rel = (world - centre) / _HEAD_RADIUS_MM
    edge = np.clip(np.linalg.norm(rel, axis=1), 0.0, 2.0)
    loadings = np.stack([rel[:, 0], rel[:, 1], rel[:, 2], rel[:, 1] * rel[:, 2],
                         rel[:, 0] * rel[:, 2], rel[:, 0] * rel[:, 1]], axis=1)
    baseline = (gm_v * TISSUE_BASELINE["gm"] + wm_v * TISSUE_BASELINE["wm"]
                + csf_v * TISSUE_BASELINE["csf"]).astype(np.float64)
    wm_voxels = np.flatnonzero(wm_v > 0.9)
    csf_voxels = np.flatnonzero(csf_v > 0.7)
    subset = np.random.default_rng(0)
    compcor = {name: np.sort(subset.choice(v, size=min(COMPCOR_VOXELS, len(v)), replace=False))
               for name, v in (("CSF", csf_voxels), ("WM", wm_voxels),
                               ("combined", np.union1d(csf_voxels, wm_voxels)),
                               ("brain", np.arange(len(index))))}
    return {
        "grid": grid, "mask": mask, "index": index, "gm": gm_v, "wm": wm_v, "csf": csf_v,
        "network": network, "network_names": names, "loadings": loadings, "edge": edge,
        "baseline": baseline, "wm_voxels": wm_voxels, "csf_voxels": csf_voxels,
        "compcor": compcor,
    }


def network_correlation(names: list[str], traits: dict[str, float],
                        site_effect: dict[str, float]) -> np.ndarray:
    """Between-network correlation of one participant (positive definite)."""
    k = len(names)
    corr = np.full((k, k), BASE_COUPLING + site_effect.get("brain_fc_offset", 0.0))
    for (a, b), value in ANTI_COUPLING.items():
        if a in names and b in names:
            i, j = names.index(a), names.index(b)
            corr[i, j] = corr[j, i] = value + site_effect.get("brain_fc_offset", 0.0)
    for (a, b), beta in TRAIT_COUPLING.items():
        if a in names and b in names:
            i, j = names.index(a), names.index(b)
            corr[i, j] += beta * traits.get("nociplastic", 0.0)
            corr[j, i] = corr[i, j]
    corr = np.clip(corr, -0.6, 0.8)
    np.fill_diagonal(corr, 1.0)
    values, vectors = np.linalg.eigh(corr)
    corr = (vectors * np.maximum(values, 0.05)) @ vectors.T
    scale = np.sqrt(np.diag(corr))
    return corr / np.outer(scale, scale)


def _simulate_run(spec: ParticipantSpec, layout: dict, n_volumes: int, t_r: float,
                  high_motion_fraction: float, rng: np.random.Generator):
    """Voxel time series (float32, voxels × volumes), confounds table and its JSON."""
    names = layout["network_names"]
    corr = network_correlation(names, spec.traits, spec.site_effect)
    white = rng.standard_normal((len(names), n_volumes))
    smooth = lfilter([1.0], [1.0, -NETWORK_AR], white, axis=1)
    smooth = (smooth - smooth.mean(axis=1, keepdims=True)) / smooth.std(axis=1, keepdims=True)
    networks = (np.linalg.cholesky(corr) @ smooth).astype(np.float32)

    motion, fd, spikes = _motion(n_volumes, high_motion_fraction, rng)
    amplitude = spec.site_effect.get("brain_amplitude_scale", 1.0)
    t = np.arange(n_volumes)
    global_signal = lfilter([1.0], [1.0, -0.7], rng.standard_normal(n_volumes))
    physio = rng.standard_normal(n_volumes)
    drift = (t - t.mean()) / n_volumes
    motion_mm = motion - motion.mean(axis=0)
    motion_mm[:, 3:] *= _HEAD_RADIUS_MM
    spike_course = np.where(spikes, -SPIKE_PCT_PER_MM * np.nan_to_num(fd), 0.0)

    # Independent voxel noise: neural (scaled by the site amplitude) plus thermal, one draw.
    noise_sd = np.hypot(amplitude * NEURAL_NOISE_PCT, THERMAL_NOISE_PCT)
    signal = rng.standard_normal((len(layout["index"]), n_volumes), dtype=np.float32)
    signal *= np.float32(noise_sd)
    member = layout["network"]
    assigned = member >= 0
    signal[assigned] += np.float32(amplitude * NETWORK_PCT) * networks[member[assigned]]
    # Every nuisance term is a spatial loading times a time course: one low-rank product.
    slope = rng.normal(0.0, 1.0, len(member))
    loadings = np.column_stack([
        GLOBAL_PCT * (layout["gm"] + 0.5 * layout["wm"]),
        PHYSIO_PCT * (0.3 * layout["gm"] + 1.0 * layout["wm"] + 2.5 * layout["csf"]),
        MOTION_PCT_PER_MM * layout["loadings"],
        slope,
        layout["edge"],
    ]).astype(np.float32)
    courses = np.vstack([global_signal, physio, motion_mm.T, drift, spike_course]
                        ).astype(np.float32)
    signal += loadings @ courses
    scale = (layout["baseline"] / 100.0).astype(np.float32)[:, None]
    signal *= scale
    signal += layout["baseline"].astype(np.float32)[:, None]
    confounds, meta = _confounds(signal, layout, motion, fd, t_r)
    return signal, confounds, meta


def _motion(n_volumes: int, high_motion_fraction: float, rng: np.random.Generator):
    """Six rigid-body parameters (mm, rad), Power FD (mm) and the spike volumes."""
    scale = float(np.exp(rng.normal(np.log(MOTION_STEP_MM), 0.3)))
    steps = rng.normal(0.0, scale, (n_volumes, 6))
    steps[:, 3:] /= _HEAD_RADIUS_MM
    n_spikes = int(round(high_motion_fraction * n_volumes))
    spikes = np.zeros(n_volumes, dtype=bool)
    if n_spikes:
        where = rng.choice(np.arange(1, n_volumes), size=min(n_spikes, n_volumes - 1),
                           replace=False)
        spikes[where] = True
        jump = rng.uniform(0.05, 0.25, (len(where), 6)) * rng.choice([-1, 1], (len(where), 6))
        jump[:, 3:] /= _HEAD_RADIUS_MM
        steps[where] += jump
    motion = np.cumsum(steps, axis=0)
    motion -= motion[0]
    diff = np.abs(np.diff(motion, axis=0))
    fd = np.concatenate([[np.nan], diff[:, :3].sum(axis=1)
                         + _HEAD_RADIUS_MM * diff[:, 3:].sum(axis=1)])
    return motion, fd, spikes


def _confounds(data: np.ndarray, layout: dict, motion: np.ndarray, fd: np.ndarray,
               t_r: float) -> tuple[pd.DataFrame, dict]:
    """fMRIPrep's confounds computed from the synthetic data, and the JSON sidecar.

    Global, CSF and white-matter signals are means over the brain mask and over CSF / WM voxels;
    DVARS is the RMS of the volume-to-volume difference, standardised by its median (fMRIPrep
    standardises by a model-based expectation); CompCor components are principal components of
    high-passed, standardised voxel series (a fixed random subset of at most
    ``COMPCOR_VOXELS`` voxels per mask).
    """
    n_volumes = data.shape[1]
    columns: dict[str, np.ndarray] = {}
    compcor_masks = layout["compcor"]
    series = {
        "global_signal": data.mean(axis=0, dtype=np.float64),
        "csf": data[layout["csf_voxels"]].mean(axis=0, dtype=np.float64),
        "white_matter": data[layout["wm_voxels"]].mean(axis=0, dtype=np.float64),
    }
    for name in ("global_signal", "csf", "white_matter"):
        _with_expansions(columns, name, series[name])
    columns["csf_wm"] = data[compcor_masks["combined"]].mean(axis=0, dtype=np.float64)
    delta = np.diff(data, axis=1)
    np.square(delta, out=delta)
    dvars = np.concatenate([[np.nan], np.sqrt(delta.mean(axis=0, dtype=np.float64))])
    columns["dvars"] = dvars
    columns["std_dvars"] = dvars / np.nanmedian(dvars)
    columns["framewise_displacement"] = fd
    columns["rmsd"] = np.concatenate([[np.nan], np.sqrt((np.diff(motion, axis=0)[:, :3] ** 2)
                                                        .sum(axis=1))])
    cosines = _cosine_basis(n_volumes, t_r)
    meta: dict[str, dict] = {}
    for prefix, mask_name, n in (("c", "CSF", 3), ("w", "WM", 3), ("a", "combined", 5)):
        voxels = compcor_masks[mask_name]
        comps, singular, explained = _principal_components(
            _residualise(data[voxels].T.astype(np.float64), cosines), n)
        for i in range(comps.shape[1]):
            name = f"{prefix}_comp_cor_{i:02d}"
            columns[name] = comps[:, i]
            meta[name] = {"Method": "aCompCor", "Mask": mask_name, "Retained": True,
                          "SingularValue": float(singular[i]),
                          "VarianceExplained": float(explained[i]),
                          "CumulativeVarianceExplained": float(explained[: i + 1].sum())}
    sample = compcor_masks["brain"]
    variance = data[sample].var(axis=1)
    top = sample[np.argsort(variance)[-max(3, len(sample) // 50):]]
    comps, singular, explained = _principal_components(
        _residualise(data[top].T.astype(np.float64), cosines), 3)
    for i in range(comps.shape[1]):
        name = f"t_comp_cor_{i:02d}"
        columns[name] = comps[:, i]
        meta[name] = {"Method": "tCompCor", "Retained": True, "SingularValue": float(singular[i]),
                      "VarianceExplained": float(explained[i]),
                      "CumulativeVarianceExplained": float(explained[: i + 1].sum())}
    for i in range(cosines.shape[1]):
        columns[f"cosine{i:02d}"] = cosines[:, i]
    for i, name in enumerate(MOTION):
        _with_expansions(columns, name, motion[:, i])
    outliers = np.flatnonzero((np.nan_to_num(fd) > 0.5)
                              | (np.nan_to_num(columns["std_dvars"]) > 1.5))
    for i, volume in enumerate(outliers):
        column = np.zeros(n_volumes)
        column[volume] = 1.0
        columns[f"motion_outlier{i:02d}"] = column
    frame = pd.DataFrame(columns)
    for name in MOTION + ("global_signal", "csf", "white_matter"):
        meta.setdefault(name, {"Method": "synthetic (backpheno.synth.brain)"})
    return frame.round(6), meta


def _with_expansions(columns: dict, name: str, values: np.ndarray) -> None:
    derivative = np.concatenate([[np.nan], np.diff(values)])
    columns[name] = values
    columns[f"{name}_derivative1"] = derivative
    columns[f"{name}_power2"] = values**2
    columns[f"{name}_derivative1_power2"] = derivative**2


def _cosine_basis(n_volumes: int, t_r: float, period_cut_s: float = 128.0) -> np.ndarray:
    """fMRIPrep / SPM discrete cosine high-pass basis (without the constant)."""
    order = int(np.floor(2 * n_volumes * t_r / period_cut_s))
    t = np.arange(n_volumes)
    if order < 1:
        return np.zeros((n_volumes, 0))
    k = np.arange(1, order + 1)
    return np.sqrt(2.0 / n_volumes) * np.cos(np.pi * np.outer(2 * t + 1, k) / (2 * n_volumes))


def _residualise(values: np.ndarray, regressors: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(np.column_stack([np.ones(len(values)), regressors]))
    return values - q @ (q.T @ values)


def _principal_components(values: np.ndarray, n: int):
    """Leading temporal components of standardised voxel series (via the time × time Gram)."""
    values = values - values.mean(axis=0)
    values = values / np.where(values.std(axis=0) > 0, values.std(axis=0), 1.0)
    eigenvalues, vectors = np.linalg.eigh(values @ values.T)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    n = min(n, len(eigenvalues))
    explained = eigenvalues / eigenvalues.sum()
    return vectors[:, order[:n]], np.sqrt(eigenvalues[:n]), explained[:n]


def _tissue_maps(spec: ParticipantSpec, layout: dict, rng: np.random.Generator) -> dict:
    """GM / WM / CSF probability maps with age-related grey-matter loss and noise."""
    shape = layout["grid"].shape
    atrophy = float(np.clip(1.0 - 0.003 * (spec.age - 50.0) + rng.normal(0, 0.03), 0.7, 1.2))
    gm = np.clip(layout["gm"] * atrophy + rng.normal(0, 0.02, len(layout["gm"])), 0, 1)
    wm = np.clip(layout["wm"], 0, 1 - gm)
    csf = np.clip(1 - gm - wm, 0, 1) * (layout["gm"] + layout["wm"] > 0.2)
    maps = {}
    for name, values in (("GM", gm), ("WM", wm), ("CSF", csf)):
        volume = np.zeros(int(np.prod(shape)), dtype=np.float32)
        volume[layout["index"]] = values
        maps[name] = volume.reshape(shape, order="F")
    return maps


def _write_bold(path: Path, data: np.ndarray, layout: dict, grid, t_r: float) -> None:
    """int16 with a scale factor (0.25 intensity units, ~2 % of the noise SD), gzip level 1.

    The gzip stream uses deflate's run-length strategy (``Z_RLE``): standard gzip any reader
    inflates, ~25 % faster to write and smaller than the default strategy on this data (long
    zero runs outside the brain, noise inside).
    """
    n_volumes = data.shape[1]
    slope = 0.25
    volume = np.zeros((int(np.prod(grid.shape)), n_volumes), dtype=np.int16, order="F")
    data /= slope
    np.round(data, out=data)
    volume[layout["index"]] = np.clip(data, -32767, 32767)
    img = nib.Nifti1Image(volume.reshape(grid.shape + (n_volumes,), order="F"), grid.affine)
    img.header.set_slope_inter(slope, 0.0)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms(img.header.get_zooms()[:3] + (t_r,))
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS, 9, zlib.Z_RLE)
    with atomic_write(path, "wb") as handle:
        handle.write(compressor.compress(img.to_bytes()))
        handle.write(compressor.flush())


def _write_nifti(path: Path, data: np.ndarray, grid) -> None:
    img = nib.Nifti1Image(np.asarray(data), grid.affine)
    img.header.set_xyzt_units("mm")
    _save(img, path)


def _save(img: nib.Nifti1Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
