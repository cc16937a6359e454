"""Brain features of one participant × session from fMRIPrep (or XCP-D) derivatives.

Two ways in:

* notebooks: :func:`extract_run` on one run's files returns a :class:`RunResult` of pandas
  objects (cleaned parcel signals, connectivity matrix, feature values with their codebook, QC)::

      from backpheno.imaging import brain
      result = brain.extract_run(bold, confounds, mask)
      result.features, result.connectivity, result.qc

* the cohort runner: :data:`EXTRACTOR` (modality ``"brain"``) finds a session's files with
  :meth:`BrainExtractor.find_inputs` (:mod:`backpheno.imaging.fmriprep`) and turns them into an
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
``derivatives``   BIDS-derivatives file names: entities parsed, files selected by entity
``fmriprep``      one session's fMRIPrep files (space, resolution, runs, tissue maps)
``inputs``        reading and checking one run's files; the repetition time
``denoise``       nilearn fMRIPrep confound strategies and signal cleaning
``connectivity``  correlation, partial correlation, Fisher z, network summaries
``tangent``       tangent-space connectivity (scikit-learn transformer)
``alff``          ALFF / fALFF
``structural``    grey-matter volumes, FreeSurfer stats readers
``qc``            run QC measures and exclusion rules
``features``      feature names (one builder), codebook rows, values from a matrix
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
    partial_correlation_matrix,
)
from backpheno.imaging.denoise import Denoising, clean_signals, load_confounds
from backpheno.imaging.derivatives import parse_name
from backpheno.imaging.fmriprep import find_session
from backpheno.imaging.inputs import RepetitionTime, load_mask, open_bold, repetition_time
from backpheno.imaging.parcellate import (
    Regions,
    VoxelMoments,
    extract_signals,
    label_regions,
    sphere_regions,
)
from backpheno.imaging.qc import RunQC, framewise_displacement, run_exclusion_reasons, run_qc
from backpheno.imaging.settings import BrainSettings
from backpheno.imaging.store import connectome_path, write_connectome
from backpheno.io import read_tsv
from backpheno.table import qc_row

MODALITY = feat.MODALITY
#: Fewest retained volumes for which signals are cleaned and correlated.
MIN_RETAINED_VOLUMES = 3


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
        Repetition time (s) overriding ``settings.t_r``, the BOLD's JSON sidecar and the NIfTI
        header (in that order of precedence; a QC row says which was used).
    gm_probseg, wm_probseg, csf_probseg : path, optional
        Tissue probability maps for grey-matter volumes and the intracranial volume proxy; a
        path that does not exist gives a ``missing`` QC row naming it.
    participant_id, session_id, run : str, optional
        Named in errors and QC rows.

    Returns
    -------
    RunResult
        A run with too little data after censoring (fewer than 3 volumes, or fewer retained
        seconds than ``qc.min_retained_seconds``) is excluded with a QC row giving the reason,
        not raised.

    Raises
    ------
    InputError
        Missing confounds file, BOLD/mask grid mismatch, a 3-D image where 4-D is expected, no
        repetition time anywhere, NaN voxels in the brain mask, or confounds nilearn cannot use.
    """
    settings = settings or BrainSettings()
    atlas = atlas or load_atlas(settings)
    ctx = _RunContext(participant_id, session_id, run)
    opened = _open_run(bold, confounds, mask, t_r, settings, ctx)
    signals = _parcel_signals(opened, atlas, settings, ctx)
    qc = _measure_qc(opened, signals, settings, ctx)
    usable_raw = _drop_low_coverage(signals.raw, qc, atlas, settings, ctx)
    reasons, too_little = _exclusion_reasons(qc, opened.denoising, settings)
    timeseries, seed_timeseries = _clean(usable_raw, signals, opened.denoising, atlas, settings,
                                         too_little)
    connectivity = _connectivity(timeseries, settings)
    rows = feat.codebook(settings, atlas, feat.provenance_text(settings, atlas))
    values = feat.empty_features(rows)
    if not too_little:
        values.update(_functional_values(connectivity, seed_timeseries, usable_raw, opened,
                                         atlas, settings, ctx))
    values.update({feat.feature_name("qc", k): v
                   for k, v in qc.as_dict(settings.qc.min_roi_coverage).items()})
    if settings.structural.enabled:
        values.update(_structural_values(atlas, settings, gm_probseg, wm_probseg, csf_probseg,
                                         mask, ctx))
    excluded = _apply_exclusion(values, rows, reasons, too_little, settings, ctx)
    ctx.add_nilearn_warnings(opened.denoising.warnings)

    codebook = pd.DataFrame(rows).set_index("name")
    provenance = _provenance(settings, atlas, opened.denoising, opened.bold_file,
                             opened.confounds_path, opened.t_r.seconds)
    result = RunResult(pd.Series(values, dtype=float).reindex(codebook.index), codebook,
                       timeseries, pd.DataFrame(signals.raw, columns=atlas.names),
                       seed_timeseries, connectivity, opened.denoising.confounds,
                       pd.Series(framewise_displacement(opened.confounds_raw),
                                 name="framewise_displacement_mm"),
                       qc, ctx.records, excluded, provenance, opened.denoising)
    _store_connectome(result, atlas, settings, ctx, opened.t_r.seconds)
    return result


@dataclass
class _RunContext:
    """Who and which run the QC rows of one :func:`extract_run` call are about."""

    participant_id: str | None
    session_id: str | None
    run: str | None
    records: list[dict[str, object]] = field(default_factory=list)

    @property
    def item(self) -> str:
        return f"run {self.run}" if self.run else "run"

    @property
    def where(self) -> dict[str, str | None]:
        return {"participant": self.participant_id, "session": self.session_id}

    def record(self, what: str | None, status: str, reason: str) -> None:
        item = f"{self.item}: {what}" if what else self.item
        self.records.append(_record(self.participant_id, self.session_id, item, status, reason))

    def add_nilearn_warnings(self, messages: list[str]) -> None:
        for message in dict.fromkeys(messages):  # whole messages, each once
            self.record("nilearn", "ok", message)


@dataclass
class _OpenedRun:
    img: nib.Nifti1Image
    bold_file: Path | None
    confounds_path: Path
    confounds_raw: pd.DataFrame
    mask_data: np.ndarray | None
    t_r: RepetitionTime
    denoising: Denoising


@dataclass
class _Signals:
    raw: np.ndarray
    seed_raw: np.ndarray
    regions: Regions
    seeds: Regions
    moments: VoxelMoments


def _open_run(bold, confounds, mask, t_r: float | None, settings: BrainSettings,
              ctx: _RunContext) -> _OpenedRun:
    """Check and open the run's files; choose the repetition time; select confounds."""
    bold_file = None if isinstance(bold, nib.spatialimages.SpatialImage) else Path(bold)
    confounds_path = Path(confounds)
    if not confounds_path.is_file():
        raise InputError("confounds file not found", file=confounds_path, **ctx.where)
    img = open_bold(bold, ctx.participant_id, ctx.session_id)
    override = t_r if t_r is not None else settings.t_r
    tr = repetition_time(img, bold_file, override, ctx.participant_id, ctx.session_id)
    ctx.record("repetition time", "flagged" if tr.flagged else "ok", tr.note)
    mask_data = None if mask is None else load_mask(mask, img, bold_file, ctx.participant_id,
                                                    ctx.session_id)
    denoising = load_confounds(confounds_path, settings.denoise, tr.seconds,
                               n_volumes=img.shape[3])
    return _OpenedRun(img, bold_file, confounds_path, read_tsv(confounds_path), mask_data, tr,
                      denoising)


def _parcel_signals(opened: _OpenedRun, atlas: Atlas, settings: BrainSettings,
                    ctx: _RunContext) -> _Signals:
    """Atlas and seed signals and voxel moments in one pass over the BOLD data."""
    shape, affine = opened.img.shape[:3], opened.img.affine
    regions = compile_regions(atlas, shape, affine, opened.mask_data)
    seeds = seed_regions(settings, shape, affine, opened.mask_data)
    (raw, seed_raw), moments = extract_signals(opened.img, [regions, seeds], opened.mask_data,
                                               block_volumes=settings.block_volumes)
    if moments.nonfinite.any():
        inside = "inside the brain mask " if opened.mask_data is not None else ""
        raise InputError(f"{int(moments.nonfinite.sum())} voxels {inside}hold NaN or infinite "
                         "values", file=opened.bold_file, **ctx.where)
    return _Signals(raw, seed_raw, regions, seeds, moments)


def _measure_qc(opened: _OpenedRun, signals: _Signals, settings: BrainSettings,
                ctx: _RunContext) -> RunQC:
    try:
        return run_qc(opened.confounds_raw, opened.denoising, opened.t_r.seconds,
                      signals.regions, signals.moments, settings.qc.fd_limit_mm)
    except KeyError:
        raise InputError("confounds table lacks the framewise_displacement column",
                         file=opened.confounds_path, column="framewise_displacement",
                         **ctx.where) from None


def _drop_low_coverage(raw: np.ndarray, qc: RunQC, atlas: Atlas, settings: BrainSettings,
                       ctx: _RunContext) -> np.ndarray:
    """Parcel signals with ROIs below the coverage threshold set to NaN (and a QC row)."""
    low = qc.low_coverage_rois(settings.qc.min_roi_coverage)
    usable = raw.copy()
    usable[:, np.isin(atlas.names, low)] = np.nan
    if low:
        ctx.record("ROI coverage", "flagged",
                   f"{len(low)} of {len(atlas.names)} ROIs below "
                   f"{settings.qc.min_roi_coverage:.0%} coverage, treated as missing: "
                   f"{', '.join(low[:10])}{f' and {len(low) - 10} more' if len(low) > 10 else ''}")
    return usable


def _exclusion_reasons(qc: RunQC, denoising: Denoising,
                       settings: BrainSettings) -> tuple[list[str], bool]:
    """Why the run fails QC, and whether too few volumes are left to compute anything."""
    reasons = run_exclusion_reasons(qc, settings.qc)
    retained = len(denoising.sample_mask)
    too_little = retained < MIN_RETAINED_VOLUMES
    if too_little:
        reasons.append(f"only {retained} of {denoising.n_volumes} volumes retained after "
                       "censoring")
    return reasons, too_little


def _clean(usable_raw: np.ndarray, signals: _Signals, denoising: Denoising, atlas: Atlas,
           settings: BrainSettings, too_little: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Denoised parcel and seed signals of the retained volumes (NaN when too few)."""
    index = pd.Index(denoising.sample_mask, name="volume")
    seed_signals = _seed_signals(signals.seed_raw, signals.seeds, settings)
    retained = len(denoising.sample_mask)
    if too_little:
        cleaned = np.full((retained, len(atlas.names)), np.nan)
        cleaned_seeds = np.full((retained, seed_signals.shape[1]), np.nan)
    else:
        cleaned = clean_signals(usable_raw, denoising)
        cleaned_seeds = clean_signals(seed_signals.to_numpy(), denoising)
    return (pd.DataFrame(cleaned, index=index, columns=atlas.names),
            pd.DataFrame(cleaned_seeds, index=index, columns=list(seed_signals.columns)))


def _connectivity(timeseries: pd.DataFrame, settings: BrainSettings) -> pd.DataFrame:
    """ROI x ROI Pearson or partial correlation (``connectivity.kind``)."""
    data = timeseries.to_numpy()
    if len(data) < MIN_RETAINED_VOLUMES:
        r = np.full((data.shape[1], data.shape[1]), np.nan)
    elif settings.connectivity.kind == "correlation":
        r = correlation_matrix(data)
    else:
        r = partial_correlation_matrix(data)
    return pd.DataFrame(r, index=timeseries.columns, columns=timeseries.columns)


def _functional_values(connectivity: pd.DataFrame, seed_timeseries: pd.DataFrame,
                       usable_raw: np.ndarray, opened: _OpenedRun, atlas: Atlas,
                       settings: BrainSettings, ctx: _RunContext) -> dict[str, float]:
    """Connectivity, seed and amplitude columns of a run with enough data."""
    values = feat.connectivity_values(connectivity.to_numpy(), atlas, settings)
    values.update(_seed_values(seed_timeseries, settings, ctx))
    if settings.amplitude.enabled:
        values.update(_amplitude_values(usable_raw, opened.denoising, opened.t_r.seconds, atlas,
                                        settings))
    _flag_empty_networks(values, settings, ctx)
    return values


def _apply_exclusion(values: dict[str, float], rows: list[dict[str, object]],
                     reasons: list[str], too_little: bool, settings: BrainSettings,
                     ctx: _RunContext) -> bool:
    """Write the run's QC verdict; blank its functional features when it is excluded."""
    if not reasons:
        ctx.record(None, "ok", "")
        return False
    excluded = settings.qc.exclude_flagged_runs or too_little
    action = ("excluded (features set to missing)" if excluded
              else "kept (exclusion disabled)")
    ctx.record(None, "missing" if too_little else "flagged", f"{'; '.join(reasons)}; run {action}")
    if excluded:
        roles = feat.feature_roles(rows)
        for name in roles.index[roles == "feature"]:
            if feat.group_of(name) != "gmv":
                values[name] = np.nan
    return excluded


def _store_connectome(result: RunResult, atlas: Atlas, settings: BrainSettings,
                      ctx: _RunContext, t_r: float) -> None:
    """Write the run's connectome file when ``timeseries_dir`` is set (not for excluded runs)."""
    if settings.timeseries_dir is None or not ctx.participant_id or not ctx.session_id:
        return
    if len(result.timeseries) < MIN_RETAINED_VOLUMES:
        return
    path = connectome_path(settings.timeseries_dir, ctx.participant_id, ctx.session_id, ctx.run,
                           atlas.name, settings.denoise.label)
    write_connectome(path, result.timeseries, result.denoising.sample_mask,
                     atlas.regions["network"].tolist(), t_r, result.provenance)


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
    groups = codebook.index.map(feat.group_of)
    feature_cols = codebook.index[(codebook["role"] == "feature") & (groups != "gmv")]
    if kept:
        weights = np.array([results[i].n_retained for i in kept], dtype=float)
        block = frame.iloc[kept][feature_cols]
        weighted = (block.mul(weights, axis=0)).sum(min_count=1) / (
            block.notna().mul(weights, axis=0).sum().replace(0, np.nan))
        out[feature_cols] = weighted
    static = codebook.index[groups.isin(["gmv", "anat"])]
    out[static] = frame.iloc[0][static]
    volumes = np.array([r.qc.n_volumes for r in results], dtype=float)
    measure = {key: frame[feat.feature_name("qc", key)] for key in feat.QC_MEASURES}
    qc = {
        "mean_fd_mm": np.average(measure["mean_fd_mm"], weights=volumes),
        "high_motion_fraction": np.average(measure["high_motion_fraction"], weights=volumes),
        "n_censored": measure["n_censored"].sum(),
        "pct_censored": 100 * measure["n_censored"].sum() / volumes.sum(),
        "retained_s": measure["retained_s"].sum(),
        "tsnr_median": measure["tsnr_median"].mean(),
        "roi_coverage_mean": measure["roi_coverage_mean"].mean(),
        "n_rois_low_coverage": measure["n_rois_low_coverage"].max(),
    }
    for key, value in qc.items():
        out[feat.feature_name("qc", key)] = float(value)
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
        """Files of one session: ``<run>/bold|confounds|mask[|sidecar]`` and ``anat/<tissue>``.

        Returns ``None`` when the participant has no derivative folder for the session; raises
        :class:`InputError` when the folder exists but a required file is missing (see
        :func:`backpheno.imaging.fmriprep.find_session`).
        """
        if settings.input == "xcpd":
            return xcpd.find_inputs(dataset, participant_id, session_id, settings)
        found = find_session(dataset.derivatives_dir("fmriprep"), participant_id, session_id,
                             settings)
        return None if found is None else found.as_inputs()

    def extract(self, inputs: dict[str, Path], settings: BrainSettings, participant_id: str,
                session_id: str) -> ExtractionResult:
        """Features of one session (runs that pass QC averaged)."""
        if settings.input == "xcpd":
            return xcpd.extract(inputs, settings, load_atlas(settings), participant_id,
                                session_id)
        runs = sorted({key.split("/")[0] for key in inputs if not key.startswith("anat/")})
        results, failed, errors = [], [], []
        for run in runs:
            try:
                results.append(extract_run(
                    inputs[f"{run}/bold"], inputs[f"{run}/confounds"], inputs[f"{run}/mask"],
                    settings=settings, gm_probseg=inputs.get("anat/gm"),
                    wm_probseg=inputs.get("anat/wm"), csf_probseg=inputs.get("anat/csf"),
                    participant_id=participant_id, session_id=session_id,
                    run=None if run == "run" else run))
            except InputError as err:  # one unreadable run leaves the others
                errors.append(err)
                failed.append(_record(participant_id, session_id, f"run {run}", "failed",
                                      str(err)))
        if not results:
            raise errors[0]
        values, records = combine_runs(results, participant_id, session_id)
        records[:0] = [_record(participant_id, session_id, "inputs",
                               *_describe_inputs(inputs, runs, settings)), *failed]
        codebook = results[0].codebook.reset_index().to_dict(orient="records")
        return ExtractionResult({k: float(v) for k, v in values.items()}, codebook, records)


#: The brain extractor used by the cohort runner.
EXTRACTOR = BrainExtractor()


def _describe_inputs(inputs: dict[str, Path], runs: list[str],
                     settings: BrainSettings) -> tuple[str, str]:
    """QC status and text: which BOLD series were read, in which space and resolution, and why.

    Flagged when the space is not an MNI template (the atlases are in MNI millimetres).
    """
    parsed = parse_name(inputs[f"{runs[0]}/bold"])
    space = (parsed.get("space") if parsed is not None else None) or ""
    res = parsed.get("res") if parsed is not None else None
    how = "configured" if settings.space is not None else "default choice; brain.space changes it"
    res_text = f", res-{res}" if res else ""
    text = (f"{len(runs)} run(s) of task-{settings.task} in space-{space} ({how}){res_text}: "
            f"{', '.join(Path(inputs[f'{r}/bold']).name for r in runs)}")
    if not space.startswith("MNI"):
        return "flagged", (f"{text}; space-{space} is not an MNI template: atlas regions in MNI "
                           "millimetres do not line up with it")
    return "ok", text


def _seed_signals(seed_raw: np.ndarray, seeds: Regions, settings: BrainSettings) -> pd.DataFrame:
    """Average the sphere signals of each seed (spheres without voxels are skipped)."""
    columns = {}
    names = list(seeds.names)
    for seed in settings.connectivity.seeds:
        members = [i for i, n in enumerate(names) if n.split(":")[0] == seed.name
                   and seeds.counts[i] > 0]
        columns[seed.name] = (np.nanmean(seed_raw[:, members], axis=1) if members
                              else np.full(seed_raw.shape[0], np.nan))
    return pd.DataFrame(columns, index=pd.RangeIndex(seed_raw.shape[0]))


def _seed_values(seed_timeseries: pd.DataFrame, settings: BrainSettings,
                 ctx: _RunContext) -> dict:
    z = fisher_z(correlation_matrix(seed_timeseries.to_numpy()))
    position = {name: i for i, name in enumerate(seed_timeseries.columns)}
    values = {}
    missing = [c for c in seed_timeseries.columns if seed_timeseries[c].isna().all()]
    for pair in settings.connectivity.seed_pairs:
        values[feat.feature_name("seed", pair.a, pair.b)] = z[position[pair.a], position[pair.b]]
    if missing:
        ctx.record("seeds", "flagged", f"seed regions without voxels in the brain mask: "
                                       f"{', '.join(missing)}; their pairs are missing")
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
    units = feat.parcel_units(table, atlas, amp.level, settings)
    values = {}
    for unit_name, row in units.iterrows():
        values[feat.feature_name("alff", unit_name)] = row["alff_pct"]
        values[feat.feature_name("falff", unit_name)] = row["falff"]
    return values


def _structural_values(atlas: Atlas, settings: BrainSettings, gm, wm, csf, mask,
                       ctx: _RunContext) -> dict:
    values: dict[str, float] = {}
    where = (ctx.participant_id, ctx.session_id)
    if gm is None or not Path(gm).is_file():
        looked = f"looked for {Path(gm).name}" if gm is not None else "none given"
        ctx.records.append(_record(*where, "grey-matter volumes", "missing",
                                   f"no GM probability map (label-GM_probseg; {looked})"))
        return values
    gm_img = nib.load(str(gm))
    volumes = structural.regional_gm_volume(gm_img, atlas, file=gm)
    if settings.structural.level == "roi":
        values.update({feat.feature_name("gmv", k): v for k, v in volumes.items()})
    else:
        nets = atlas.regions.set_index("name")["network"].reindex(volumes.index)
        sums = volumes.groupby(nets.to_numpy()).sum()
        for network in atlas.network_names(tuple(settings.atlas.exclude_networks)):
            values[feat.feature_name("gmv", network)] = float(sums.get(network, np.nan))
    values[feat.feature_name("gmv", "total")] = structural.total_volume_ml(gm_img, gm)
    tissue = [nib.load(str(p)) if p is not None and Path(p).is_file() else None
              for p in (wm, csf)]
    mask_img = mask if isinstance(mask, nib.spatialimages.SpatialImage) else (
        nib.load(str(mask)) if mask is not None else None)
    tiv, how = structural.tiv_proxy_ml(gm_img, tissue[0], tissue[1], mask_img)
    values[feat.feature_name("anat", "tiv_proxy_ml")] = tiv
    if how != "sum of GM, WM and CSF probability maps":
        ctx.records.append(_record(*where, "intracranial volume", "flagged",
                                   f"TIV proxy from {how} (WM/CSF probability maps missing)"))
    return values


def _flag_empty_networks(values: dict, settings: BrainSettings, ctx: _RunContext) -> None:
    group, _ = feat.connectivity_groups(settings.connectivity.kind)
    missing = sorted(k for k, v in values.items()
                     if feat.group_of(k) == group and not np.isfinite(v))
    if missing and settings.connectivity.network_summaries:
        ctx.record("network summaries", "flagged",
                   f"{len(missing)} network summaries missing (networks without usable ROIs): "
                   f"{', '.join(missing)}")


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
    return qc_row(participant_id, session_id, modality=MODALITY, item=item, status=status,
                  reason=reason)
