"""Brain features of one participant × session from fMRIPrep (or XCP-D) derivatives.

Two ways in:

* notebooks: :func:`extract_run` on one run's files returns a :class:`RunResult` of pandas
  objects (cleaned parcel signals, connectivity matrix, feature values with their codebook, QC)::

      from backpheno.imaging import brain
      result = brain.extract_run(bold, confounds, mask)
      result.features, result.connectivity, result.qc

* the cohort runner: :data:`EXTRACTOR` (modality ``"brain"``) finds a session's files with
  :meth:`BrainExtractor.find_inputs` and turns them into an
  :class:`~backpheno.extractors.ExtractionResult`; runs of a session that pass QC are averaged
  (weighted by retained volumes).

One run is processed in a single pass over the BOLD data (:mod:`backpheno.imaging.parcellate`):
atlas regions, seed spheres and voxel moments are accumulated together, then the parcel signals
are denoised with nilearn (:mod:`backpheno.imaging.denoise`), correlated
(:mod:`backpheno.imaging.connectivity`), and summarised into the columns listed in
:mod:`backpheno.imaging.features`. Defaults and their sources are in
:mod:`backpheno.imaging.settings`.

Modules of the brain modality, one concept each:

================  ==========================================================================
``templates``     the MNI152NLin2009cAsym grid and nilearn's offline templates
``atlas``         label and coordinate atlases (Seitzman 2018 offline default)
``parcellate``    the one-pass parcellation kernel (equal to nilearn's maskers)
``inputs``        reading and checking one fMRIPrep run's files
``denoise``       nilearn fMRIPrep confound strategies and signal cleaning
``connectivity``  correlation, partial correlation, Fisher z, network summaries
``tangent``       tangent-space connectivity (scikit-learn transformer)
``alff``          ALFF / fALFF
``structural``    grey-matter volumes, FreeSurfer stats readers
``qc``            run QC measures and exclusion rules
``features``      feature names and codebook rows
``store``         per-run connectome files for cross-participant models
``xcpd``          XCP-D outputs as input
``settings``      pydantic settings with documented, cited defaults
================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.extractors import ExtractionResult
from backpheno.imaging import features as feat
from backpheno.imaging import structural, xcpd
from backpheno.imaging.alff import alff_falff
from backpheno.imaging.atlas import Atlas, load_label_atlas, load_sphere_atlas, seitzman_2018
from backpheno.imaging.connectivity import (
    correlation_matrix,
    fisher_z,
    network_summary,
    partial_correlation_matrix,
    upper_triangle,
)
from backpheno.imaging.denoise import Denoising, clean_signals, load_confounds
from backpheno.imaging.inputs import load_mask, open_bold, read_repetition_time, sidecar_path
from backpheno.imaging.parcellate import Regions, extract_signals, label_regions, sphere_regions
from backpheno.imaging.qc import RunQC, framewise_displacement, run_exclusion_reasons, run_qc
from backpheno.imaging.settings import BrainSettings
from backpheno.imaging.store import connectome_path, write_connectome
from backpheno.io import read_tsv

MODALITY = feat.MODALITY


@dataclass
class RunResult:
    """Everything extracted from one BOLD run.

    Attributes
    ----------
    features : Series
        Column name → value for every codebook row (NaN where not measurable or excluded).
    codebook : DataFrame
        One row per column (see :mod:`backpheno.imaging.features`).
    timeseries : DataFrame
        Cleaned parcel signals of the retained volumes (index: volume number; NaN columns for
        ROIs below the coverage threshold).
    raw_timeseries : DataFrame
        Mean signal of every parcel for every volume, before denoising.
    seed_timeseries : DataFrame
        Cleaned seed-region signals.
    connectivity : DataFrame
        ROI × ROI Pearson (or partial) correlation of ``timeseries``.
    confounds : DataFrame
        The confound regressors used.
    framewise_displacement : Series
        FD per volume (mm), for plots.
    qc : RunQC
        QC measures.
    qc_records : list of dict
        QC rows (item, status, reason) for this run.
    excluded : bool
        The run failed a QC threshold and its features are NaN (``exclude_flagged_runs``).
    provenance : dict
        Every parameter used.
    """

    features: pd.Series
    codebook: pd.DataFrame
    timeseries: pd.DataFrame
    raw_timeseries: pd.DataFrame
    seed_timeseries: pd.DataFrame
    connectivity: pd.DataFrame
    confounds: pd.DataFrame
    framewise_displacement: pd.Series
    qc: RunQC
    qc_records: list[dict[str, object]]
    excluded: bool
    provenance: dict[str, object]
    denoising: Denoising = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def n_retained(self) -> int:
        """Volumes left after censoring."""
        return len(self.timeseries)


def load_atlas(settings: BrainSettings) -> Atlas:
    """The atlas configured in ``settings.atlas`` (cached per process)."""
    return _load_atlas_cached(settings.atlas.model_dump_json())


@lru_cache(maxsize=8)
def _load_atlas_cached(atlas_json: str) -> Atlas:
    from backpheno.imaging.settings import AtlasSettings

    config = AtlasSettings.model_validate_json(atlas_json)
    if config.builtin == "seitzman2018":
        atlas = seitzman_2018(config.radius_mm)
    elif config.image is not None:
        atlas = load_label_atlas(config.image, config.table, name=config.name,
                                 citation=config.citation, network_column=config.network_column)
    else:
        atlas = load_sphere_atlas(config.table, name=config.name, radius_mm=config.radius_mm,
                                  citation=config.citation)
    if config.name and atlas.name != config.name:
        atlas = Atlas(config.name, atlas.kind, atlas.regions, atlas.labels_img, atlas.citation,
                      atlas.source)
    return atlas


def compile_regions(atlas: Atlas, shape, affine, mask: np.ndarray | None) -> Regions:
    """The atlas's regions on a data grid, masked (labels or spheres as nilearn's maskers)."""
    if atlas.kind == "labels":
        return label_regions(atlas.labels_img, atlas.regions["label"].tolist(), atlas.names,
                             shape, affine, mask)
    return sphere_regions(atlas.regions[["x", "y", "z"]].to_numpy(float),
                          atlas.regions["radius_mm"].to_numpy(float), atlas.names, shape, affine,
                          mask)


def seed_regions(settings: BrainSettings, shape, affine, mask: np.ndarray | None) -> Regions:
    """One sphere region per seed coordinate, named ``<seed>:<i>``."""
    coords, radii, names = [], [], []
    for seed in settings.connectivity.seeds:
        for index, xyz in enumerate(seed.coordinates):
            coords.append(xyz)
            radii.append(seed.radius_mm)
            names.append(f"{seed.name}:{index}")
    if not coords:
        return Regions((), np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64),
                       tuple(int(s) for s in shape[:3]), np.asarray(affine, float))
    return sphere_regions(np.asarray(coords, float), np.asarray(radii, float), names, shape,
                          affine, mask)


def extract_run(bold: str | Path | nib.Nifti1Image, confounds: str | Path,
                mask: str | Path | nib.Nifti1Image | None = None, *,
                atlas: Atlas | None = None, settings: BrainSettings | None = None,
                t_r: float | None = None, gm_probseg: str | Path | None = None,
                wm_probseg: str | Path | None = None, csf_probseg: str | Path | None = None,
                participant_id: str | None = None, session_id: str | None = None,
                run: str | None = None) -> RunResult:
    """Denoised parcel signals, connectivity, ALFF, GM volumes and QC of one BOLD run.

    Parameters
    ----------
    bold : path or Nifti1Image
        fMRIPrep ``*_desc-preproc_bold.nii.gz`` (4-D).
    confounds : path
        fMRIPrep ``*_desc-confounds_timeseries.tsv`` (its JSON beside it for CompCor).
    mask : path or Nifti1Image, optional
        fMRIPrep ``*_desc-brain_mask.nii.gz`` on the BOLD grid. Without it every atlas voxel is
        used and coverage only reflects the field of view.
    atlas : Atlas, optional
        Regions; default from ``settings.atlas`` (Seitzman 2018).
    settings : BrainSettings, optional
        Defaults documented in :mod:`backpheno.imaging.settings`.
    t_r : float, optional
        Repetition time (s); read from the BOLD's JSON sidecar when not given.
    gm_probseg, wm_probseg, csf_probseg : path, optional
        Tissue probability maps for grey-matter volumes and the intracranial volume proxy.
    participant_id, session_id, run : str, optional
        Named in errors and QC rows.

    Returns
    -------
    RunResult

    Raises
    ------
    InputError
        Missing confounds file, BOLD/mask grid mismatch, a 3-D image where 4-D is expected, a
        repetition time missing from the sidecar, NaN voxels in the brain mask, or confounds
        nilearn cannot use.
    """
    settings = settings or BrainSettings()
    atlas = atlas or load_atlas(settings)
    where = {"participant": participant_id, "session": session_id}
    bold_file = None if isinstance(bold, nib.spatialimages.SpatialImage) else Path(bold)
    confounds_path = Path(confounds)
    if not confounds_path.is_file():
        raise InputError("confounds file not found", file=confounds_path, **where)
    img = open_bold(bold, participant_id, session_id)
    if t_r is None:
        if bold_file is None:
            raise InputError("t_r is required when the BOLD series is given as an image", **where)
        t_r = read_repetition_time(sidecar_path(bold_file), participant_id, session_id)
    mask_data = None if mask is None else load_mask(mask, img, bold_file, participant_id,
                                                    session_id)
    denoising = load_confounds(confounds_path, settings.denoise, t_r, n_volumes=img.shape[3])
    confounds_raw = read_tsv(confounds_path)

    shape, affine = img.shape[:3], img.affine
    atlas_regions = compile_regions(atlas, shape, affine, mask_data)
    seeds = seed_regions(settings, shape, affine, mask_data)
    (raw, seed_raw), moments = extract_signals(img, [atlas_regions, seeds], mask_data,
                                               block_volumes=settings.block_volumes)
    if moments.nonfinite.any():
        raise InputError(f"{int(moments.nonfinite.sum())} voxels "
                         f"{'inside the brain mask ' if mask_data is not None else ''}hold NaN or "
                         "infinite values", file=bold_file, **where)
    try:
        qc = run_qc(confounds_raw, denoising, t_r, atlas_regions, moments,
                    settings.qc.fd_limit_mm)
    except KeyError:
        raise InputError("confounds table lacks the framewise_displacement column",
                         file=confounds_path, column="framewise_displacement", **where) from None

    rows = feat.codebook(settings, atlas, feat.provenance_text(settings, atlas))
    provenance = _provenance(settings, atlas, denoising, bold_file, confounds_path, t_r)
    values = feat.empty_features(rows)
    item = f"run {run}" if run else "run"
    records: list[dict[str, object]] = []

    low = qc.low_coverage_rois(settings.qc.min_roi_coverage)
    usable_raw = raw.copy()
    usable_raw[:, np.isin(atlas.names, low)] = np.nan
    if low:
        records.append(_record(participant_id, session_id, f"{item}: ROI coverage", "flagged",
                               f"{len(low)} of {len(atlas.names)} ROIs below "
                               f"{settings.qc.min_roi_coverage:.0%} coverage, treated as "
                               f"missing: {', '.join(low[:10])}{' ...' if len(low) > 10 else ''}"))
    retained = len(denoising.sample_mask)
    reasons = run_exclusion_reasons(qc, settings.qc)
    if retained < 3:
        reasons.append(f"only {retained} volumes retained after censoring")
    index_retained = pd.Index(denoising.sample_mask, name="volume")
    if retained >= 3:
        cleaned = clean_signals(usable_raw, denoising)
        seed_signals = _seed_signals(seed_raw, seeds, settings)
        cleaned_seeds = clean_signals(seed_signals.to_numpy(), denoising)
    else:
        cleaned = np.full((retained, len(atlas.names)), np.nan)
        seed_signals = _seed_signals(seed_raw, seeds, settings)
        cleaned_seeds = np.full((retained, seed_signals.shape[1]), np.nan)
    timeseries = pd.DataFrame(cleaned, index=index_retained, columns=atlas.names)
    seed_timeseries = pd.DataFrame(cleaned_seeds, index=index_retained,
                                   columns=list(seed_signals.columns))
    if settings.connectivity.kind == "correlation":
        r = correlation_matrix(cleaned)
    else:
        r = partial_correlation_matrix(cleaned)
    connectivity = pd.DataFrame(r, index=atlas.names, columns=atlas.names)

    if retained >= 3:
        values.update(_connectivity_values(r, atlas, settings))
        values.update(_seed_values(seed_timeseries, settings, records, participant_id,
                                   session_id, item))
        if settings.amplitude.enabled:
            values.update(_amplitude_values(usable_raw, denoising, t_r, atlas, settings))
        _flag_empty_networks(values, settings, records, participant_id, session_id, item)
    values.update({f"brain.qc.{k}": v
                   for k, v in qc.as_dict(settings.qc.min_roi_coverage).items()})
    if settings.structural.enabled:
        values.update(_structural_values(atlas, settings, gm_probseg, wm_probseg, csf_probseg,
                                         mask, records, participant_id, session_id))

    excluded = bool(reasons) and settings.qc.exclude_flagged_runs
    if reasons:
        action = "excluded (features set to missing)" if excluded else "kept (exclusion disabled)"
        records.append(_record(participant_id, session_id, item, "flagged",
                               f"{'; '.join(reasons)}; run {action}"))
        if excluded:
            roles = feat.feature_roles(rows)
            for name in roles.index[roles == "feature"]:
                if not name.startswith(("brain.gmv.",)):
                    values[name] = np.nan
    else:
        records.append(_record(participant_id, session_id, item, "ok", ""))
    records.extend(_record(participant_id, session_id, f"{item}: nilearn", "ok", w)
                   for w in denoising.warnings[:3])

    codebook = pd.DataFrame(rows).set_index("name")
    features = pd.Series(values, dtype=float).reindex(codebook.index)
    fd = pd.Series(framewise_displacement(confounds_raw), name="framewise_displacement_mm")
    result = RunResult(features, codebook, timeseries, pd.DataFrame(raw, columns=atlas.names),
                       seed_timeseries, connectivity, denoising.confounds, fd, qc, records,
                       excluded, provenance, denoising)
    if settings.timeseries_dir is not None and participant_id and session_id:
        path = connectome_path(settings.timeseries_dir, participant_id, session_id, run,
                               atlas.name, settings.denoise.label)
        write_connectome(path, timeseries, denoising.sample_mask,
                         atlas.regions["network"].tolist(), t_r, provenance)
    return result


def combine_runs(results: list[RunResult], participant_id: str | None = None,
                 session_id: str | None = None) -> tuple[pd.Series, list[dict[str, object]]]:
    """Session-level values from several runs.

    Feature columns: mean over the runs that were not excluded, weighted by retained volumes.
    QC covariates: censored counts and retained time summed, mean FD and high-motion fraction
    weighted by run length, tSNR and coverage averaged. Structural columns come from the first
    run (they do not depend on the run).
    """
    if len(results) == 1:
        return results[0].features, list(results[0].qc_records)
    codebook = results[0].codebook
    frame = pd.DataFrame([r.features for r in results])
    kept = [i for i, r in enumerate(results) if not r.excluded]
    out = pd.Series(np.nan, index=codebook.index, dtype=float)
    feature_cols = codebook.index[(codebook["role"] == "feature")
                                  & ~codebook.index.str.startswith("brain.gmv.")]
    if kept:
        weights = np.array([results[i].n_retained for i in kept], dtype=float)
        block = frame.iloc[kept][feature_cols]
        weighted = (block.mul(weights, axis=0)).sum(min_count=1) / (
            block.notna().mul(weights, axis=0).sum().replace(0, np.nan))
        out[feature_cols] = weighted
    static = codebook.index[codebook.index.str.startswith(("brain.gmv.", "brain.anat."))]
    out[static] = frame.iloc[0][static]
    volumes = np.array([r.qc.n_volumes for r in results], dtype=float)
    qc = {
        "mean_fd_mm": np.average(frame["brain.qc.mean_fd_mm"], weights=volumes),
        "high_motion_fraction": np.average(frame["brain.qc.high_motion_fraction"],
                                           weights=volumes),
        "n_censored": frame["brain.qc.n_censored"].sum(),
        "pct_censored": 100 * frame["brain.qc.n_censored"].sum() / volumes.sum(),
        "retained_s": frame["brain.qc.retained_s"].sum(),
        "tsnr_median": frame["brain.qc.tsnr_median"].mean(),
        "roi_coverage_mean": frame["brain.qc.roi_coverage_mean"].mean(),
        "n_rois_low_coverage": frame["brain.qc.n_rois_low_coverage"].max(),
    }
    for key, value in qc.items():
        out[f"brain.qc.{key}"] = float(value)
    records = [rec for r in results for rec in r.qc_records]
    records.append(_record(participant_id, session_id, "runs", "ok" if kept else "flagged",
                           f"{len(kept)} of {len(results)} runs passed QC and were averaged"
                           if kept else "every run failed QC"))
    return out, records


@dataclass(frozen=True)
class BrainExtractor:
    """The brain modality for the cohort runner (see :class:`backpheno.extractors.Extractor`)."""

    modality: str = MODALITY
    settings_model: type[BrainSettings] = BrainSettings

    def find_inputs(self, dataset: Dataset, participant_id: str, session_id: str,
                    settings: BrainSettings) -> dict[str, Path] | None:
        """Files of one session: ``<run>/bold|confounds|mask|sidecar`` and ``anat/<tissue>``.

        Returns ``None`` when the participant has no derivative folder for the session; raises
        :class:`InputError` when the folder exists but a required file is missing.
        """
        if settings.input == "xcpd":
            return xcpd.find_inputs(dataset, participant_id, session_id, settings)
        func = dataset.derivatives_dir("fmriprep") / participant_id / session_id / "func"
        if not func.is_dir():
            return None
        where = {"participant": participant_id, "session": session_id}
        pattern = (f"{participant_id}_{session_id}_task-{settings.task}"
                   f"{'_run-' + settings.run if settings.run else '*'}_space-{settings.space}"
                   "*_desc-preproc_bold.nii*")
        bolds = sorted(func.glob(pattern))
        if not bolds:
            raise InputError(f"no BOLD series matching {pattern}", file=func, **where)
        inputs: dict[str, Path] = {}
        prefix = f"{participant_id}_{session_id}_task-{settings.task}"
        for bold in bolds:
            stem = bold.name.split("_space-")[0]
            # entities between task and space (run-1, acq-mb_run-2, ...) name the run
            run = stem[len(prefix):].strip("_") or "run"
            files = {
                "bold": bold,
                "sidecar": sidecar_path(bold),
                "confounds": func / f"{stem}_desc-confounds_timeseries.tsv",
                "mask": bold.with_name(bold.name.replace("_desc-preproc_bold",
                                                         "_desc-brain_mask")),
            }
            for key, path in files.items():
                if not path.is_file():
                    raise InputError(f"{key} file of {bold.name} is missing", file=path, **where)
                inputs[f"{run}/{key}"] = path
        inputs.update(_anat_inputs(dataset, participant_id, session_id, settings))
        return inputs

    def extract(self, inputs: dict[str, Path], settings: BrainSettings, participant_id: str,
                session_id: str) -> ExtractionResult:
        """Features of one session (runs that pass QC averaged)."""
        if settings.input == "xcpd":
            return xcpd.extract(inputs, settings, load_atlas(settings), participant_id,
                                session_id)
        runs = sorted({key.split("/")[0] for key in inputs if not key.startswith("anat/")})
        results = []
        for run in runs:
            results.append(extract_run(
                inputs[f"{run}/bold"], inputs[f"{run}/confounds"], inputs[f"{run}/mask"],
                settings=settings, t_r=read_repetition_time(inputs[f"{run}/sidecar"],
                                                            participant_id, session_id),
                gm_probseg=inputs.get("anat/gm"), wm_probseg=inputs.get("anat/wm"),
                csf_probseg=inputs.get("anat/csf"), participant_id=participant_id,
                session_id=session_id, run=None if run == "run" else run))
        values, records = combine_runs(results, participant_id, session_id)
        codebook = results[0].codebook.reset_index().to_dict(orient="records")
        return ExtractionResult({k: float(v) for k, v in values.items()}, codebook, records)


#: The brain extractor used by the cohort runner.
EXTRACTOR = BrainExtractor()


def _anat_inputs(dataset: Dataset, participant_id: str, session_id: str,
                 settings: BrainSettings) -> dict[str, Path]:
    base = dataset.derivatives_dir("fmriprep") / participant_id
    found = {}
    for folder, prefix in ((base / session_id / "anat", f"{participant_id}_{session_id}"),
                           (base / "anat", participant_id)):
        for key, suffix in (("gm", "label-GM_probseg"), ("wm", "label-WM_probseg"),
                            ("csf", "label-CSF_probseg")):
            path = folder / f"{prefix}_space-{settings.space}_{suffix}.nii.gz"
            if path.is_file() and f"anat/{key}" not in found:
                found[f"anat/{key}"] = path
    return found


def _seed_signals(seed_raw: np.ndarray, seeds: Regions, settings: BrainSettings) -> pd.DataFrame:
    """Average the sphere signals of each seed (spheres without voxels are skipped)."""
    columns = {}
    names = list(seeds.names)
    for seed in settings.connectivity.seeds:
        members = [i for i, n in enumerate(names) if n.split(":")[0] == seed.name
                   and seeds.counts[i] > 0]
        columns[seed.name] = (np.nanmean(seed_raw[:, members], axis=1) if members
                              else np.full(seed_raw.shape[0], np.nan))
    return pd.DataFrame(columns)


def _connectivity_values(r: np.ndarray, atlas: Atlas, settings: BrainSettings) -> dict:
    conn = settings.connectivity
    z = fisher_z(r)
    values = {}
    group = "fc" if conn.kind == "correlation" else "pfc"
    if conn.network_summaries:
        summary = network_summary(z, atlas.regions["network"].tolist(),
                                  tuple(settings.atlas.exclude_networks))
        values.update({f"brain.{group}.{k}": v for k, v in summary.items()})
    if conn.edges:
        edge_group = "edge" if conn.kind == "correlation" else "pedge"
        values.update({f"brain.{edge_group}.{k}": v
                       for k, v in upper_triangle(z, atlas.names).items()})
    return values


def _seed_values(seed_timeseries: pd.DataFrame, settings: BrainSettings, records: list,
                 participant_id, session_id, item: str) -> dict:
    z = fisher_z(correlation_matrix(seed_timeseries.to_numpy()))
    position = {name: i for i, name in enumerate(seed_timeseries.columns)}
    values = {}
    missing = [c for c in seed_timeseries.columns if seed_timeseries[c].isna().all()]
    for pair in settings.connectivity.seed_pairs:
        values[f"brain.seed.{pair.a}__{pair.b}"] = z[position[pair.a], position[pair.b]]
    if missing:
        records.append(_record(participant_id, session_id, f"{item}: seeds", "flagged",
                               f"seed regions without voxels in the brain mask: "
                               f"{', '.join(missing)}; their pairs are missing"))
    return values


def _amplitude_values(raw: np.ndarray, denoising: Denoising, t_r: float, atlas: Atlas,
                      settings: BrainSettings) -> dict:
    amp = settings.amplitude
    regressed = clean_signals(raw, denoising, overrides={"standardize": None, "low_pass": None,
                                                         "high_pass": None})
    mean_signal = raw[denoising.sample_mask].mean(axis=0)  # NaN for ROIs treated as missing
    table = alff_falff(regressed, denoising.sample_mask, denoising.n_volumes, t_r, amp.band_hz,
                       mean_signal)
    table.index = atlas.names
    if amp.level == "roi":
        units = table
    else:
        nets = atlas.regions.set_index("name")["network"]
        units = table.groupby(nets.reindex(table.index).to_numpy()).mean()
        units = units.reindex(atlas.network_names(tuple(settings.atlas.exclude_networks)))
    values = {}
    for unit_name, row in units.iterrows():
        values[f"brain.alff.{unit_name}"] = row["alff_pct"]
        values[f"brain.falff.{unit_name}"] = row["falff"]
    return values


def _structural_values(atlas: Atlas, settings: BrainSettings, gm, wm, csf, mask,
                       records: list, participant_id, session_id) -> dict:
    values: dict[str, float] = {}
    if gm is None:
        records.append(_record(participant_id, session_id, "grey-matter volumes", "missing",
                               "no GM probability map (label-GM_probseg) for this session"))
        return values
    gm_img = nib.load(str(gm))
    volumes = structural.regional_gm_volume(gm_img, atlas, file=gm)
    if settings.structural.level == "roi":
        values.update({f"brain.gmv.{k}": v for k, v in volumes.items()})
    else:
        nets = atlas.regions.set_index("name")["network"].reindex(volumes.index)
        sums = volumes.groupby(nets.to_numpy()).sum()
        for network in atlas.network_names(tuple(settings.atlas.exclude_networks)):
            values[f"brain.gmv.{network}"] = float(sums.get(network, np.nan))
    values["brain.gmv.total"] = structural.total_volume_ml(gm_img, gm)
    tissue = [nib.load(str(p)) if p is not None else None for p in (wm, csf)]
    mask_img = mask if isinstance(mask, nib.spatialimages.SpatialImage) else (
        nib.load(str(mask)) if mask is not None else None)
    tiv, how = structural.tiv_proxy_ml(gm_img, tissue[0], tissue[1], mask_img)
    values["brain.anat.tiv_proxy_ml"] = tiv
    if how != "sum of GM, WM and CSF probability maps":
        records.append(_record(participant_id, session_id, "intracranial volume", "flagged",
                               f"TIV proxy from {how} (WM/CSF probability maps missing)"))
    return values


def _flag_empty_networks(values: dict, settings: BrainSettings, records: list,
                         participant_id, session_id, item: str) -> None:
    group = "fc" if settings.connectivity.kind == "correlation" else "pfc"
    missing = sorted(k for k, v in values.items()
                     if k.startswith(f"brain.{group}.") and not np.isfinite(v))
    if missing and settings.connectivity.network_summaries:
        records.append(_record(participant_id, session_id, f"{item}: network summaries",
                               "flagged", f"{len(missing)} network summaries missing (networks "
                               f"without usable ROIs): {', '.join(missing[:6])}"
                               f"{' ...' if len(missing) > 6 else ''}"))


def _provenance(settings: BrainSettings, atlas: Atlas, denoising: Denoising,
                bold_file: Path | None, confounds: Path, t_r: float) -> dict[str, object]:
    return {
        "extractor": feat.SOURCE,
        "atlas": atlas.describe(),
        "atlas_citation": atlas.citation,
        "denoise_label": settings.denoise.label,
        **denoising.provenance(),
        "connectivity_kind": settings.connectivity.kind,
        "seeds": {s.name: {"coordinates": s.coordinates, "radius_mm": s.radius_mm,
                           "source": s.source} for s in settings.connectivity.seeds},
        "alff_band_hz": list(settings.amplitude.band_hz),
        "qc_thresholds": settings.qc.model_dump(mode="json"),
        "t_r": t_r,
        "bold": None if bold_file is None else bold_file.name,
        "confounds_file": confounds.name,
    }


def _record(participant_id, session_id, item: str, status: str, reason: str) -> dict:
    return {"participant_id": participant_id, "session_id": session_id, "modality": MODALITY,
            "item": item, "status": status, "reason": reason}
