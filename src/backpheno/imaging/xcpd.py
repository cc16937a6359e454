"""XCP-D outputs as an alternative input to the brain extractor.

XCP-D (PennLINC) writes, per participant (and session) folder ``func/``, in NIfTI mode::

    <run>_space-<space>_atlas-<atlas>_stat-pearsoncorrelation_relmat.tsv   node x node, r
    <run>_space-<space>_atlas-<atlas>_stat-mean_timeseries.tsv             volume x node
    <run>_space-<space>_atlas-<atlas>_stat-alff_bold.tsv                   1 x node (also reho,
                                                                           coverage)
    <run>_space-<space>_desc-linc_qc.tsv                                   mean_fd, censored ...
    <run>_space-<space>[_res-<r>]_desc-denoised_bold.json                  RepetitionTime

and in CIFTI mode the same with ``space-fsLR`` and ``den-91k``, the matrices also as
``*_den-91k_stat-pearsoncorrelation_boldmap.pconn.nii`` and the time series as
``*_den-91k_stat-mean_timeseries.ptseries.nii`` (CIFTI-2, read with nibabel). ``<run>`` is
``sub-<l>[_ses-<l>]_task-<l>[_acq-<l>][_run-<i>]``; when XCP-D concatenates the runs of a task
the matrices have no ``run-`` entity while QC and parcel tables stay per run. Current XCP-D names
the atlas ``atlas-<label>``; some older releases wrote ``seg-<label>``. Both are read. Matrices
restricted to a number of volumes (``desc-<n>volumes``) are not used.

:func:`find_inputs` selects the files of the configured task, space and atlas by their entities
(:mod:`backpheno.imaging.derivatives`); :func:`extract` turns them into the same columns as the
fMRIPrep path (:func:`backpheno.imaging.features.feature_name`): network summaries and edges from
the Pearson matrices (partial correlation from the time series), XCP-D's parcellated ALFF and
ReHo as features, and coverage and ``linc_qc`` as QC covariates. Several matrices (runs) are
averaged weighted by their retained volumes. Seed and grey-matter columns need voxel data and
stay missing with a QC row. Networks come from the configured atlas table when its region names
match the nodes, else they are parsed from Schaefer-style node names (``LH_Vis_1``).
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.extractors import ExtractionResult
from backpheno.imaging import features as feat
from backpheno.imaging.atlas import Atlas, sanitize_name, schaefer_network
from backpheno.imaging.connectivity import correlation_matrix, partial_correlation_matrix
from backpheno.imaging.derivatives import BidsFile, list_files, parse_name, select
from backpheno.imaging.fmriprep import RUN_ENTITIES, choose_space, session_folder
from backpheno.imaging.settings import BrainSettings
from backpheno.imaging.store import connectome_path, write_connectome
from backpheno.io import read_tsv
from backpheno.table import qc_row

#: linc_qc.tsv columns read (all three are required).
QC_COLUMNS = ("mean_fd", "num_censored_volumes", "num_retained_volumes")
#: Input kinds → (suffix, extensions, stat) of the XCP-D file that holds them.
KINDS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "relmat": ("relmat", (".tsv",), "pearsoncorrelation"),
    "pconn": ("boldmap", (".pconn.nii",), "pearsoncorrelation"),
    "timeseries": ("timeseries", (".tsv",), "mean"),
    "ptseries": ("timeseries", (".ptseries.nii",), "mean"),
    "alff": ("bold", (".tsv",), "alff"),
    "reho": ("bold", (".tsv",), "reho"),
    "coverage": ("bold", (".tsv",), "coverage"),
}


def read_relmat(path: str | Path) -> pd.DataFrame:
    """A square correlation matrix from ``*_relmat.tsv`` (index and columns: node names).

    Raises
    ------
    InputError
        If the file is missing, not square, or its row and column names differ.
    """
    path = Path(path)
    frame = read_tsv(path)
    if frame.empty:
        raise InputError("empty connectivity matrix", file=path)
    first = frame.columns[0]
    frame = frame.set_index(first)
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    if frame.shape[0] != frame.shape[1] or list(frame.index) != list(frame.columns):
        raise InputError(f"not a square node × node matrix (shape {frame.shape}, first column "
                         f"{first!r})", file=path)
    values = frame.apply(pd.to_numeric, errors="coerce")
    if values.isna().to_numpy().sum() != frame.isna().to_numpy().sum():
        raise InputError("non-numeric correlation values", file=path)
    return values


def read_pconn(path: str | Path) -> pd.DataFrame:
    """A parcel × parcel matrix from a CIFTI-2 ``.pconn.nii`` (names from its parcel axes).

    Raises
    ------
    InputError
        If the file is not a CIFTI-2 image with parcel axes on both dimensions.
    """
    img, axes = _cifti(path)
    if not all(isinstance(a, nib.cifti2.ParcelsAxis) for a in axes):
        raise InputError("not a parcel × parcel CIFTI-2 matrix (.pconn.nii)", file=path)
    names = [str(n) for n in axes[0].name]
    return pd.DataFrame(np.asarray(img.get_fdata(), dtype=float), index=names,
                        columns=[str(n) for n in axes[1].name])


def read_timeseries(path: str | Path) -> tuple[pd.DataFrame, float | None]:
    """Parcel time series (volume × node) and, from a ``.ptseries.nii``, its step in seconds.

    ``*_stat-mean_timeseries.tsv`` has one column per node; a CIFTI-2 ``.ptseries.nii`` has a
    series axis (its step is the repetition time) and a parcel axis.

    Raises
    ------
    InputError
        If the file is empty or not a series × parcel CIFTI-2 image.
    """
    path = Path(path)
    if path.name.endswith(".ptseries.nii"):
        img, axes = _cifti(path)
        series, parcels = axes
        if not (isinstance(series, nib.cifti2.SeriesAxis)
                and isinstance(parcels, nib.cifti2.ParcelsAxis)):
            raise InputError("not a series × parcel CIFTI-2 image (.ptseries.nii)", file=path)
        step = float(series.step) * {"SECOND": 1.0, "MILLISECOND": 1e-3}.get(series.unit, 1.0)
        frame = pd.DataFrame(np.asarray(img.get_fdata(), dtype=float),
                             columns=[str(n) for n in parcels.name])
        return frame, step
    frame = read_tsv(path)
    if frame.empty:
        raise InputError("empty time-series table", file=path)
    return frame.apply(pd.to_numeric, errors="coerce"), None


def read_parcel_table(path: str | Path) -> pd.Series:
    """One value per node from ``stat-alff|reho|coverage_bold.tsv``.

    XCP-D writes either one row with a column per node, or a ``Node`` column beside one value
    column; both give a Series indexed by node name (NaN for ``n/a``).
    """
    path = Path(path)
    frame = read_tsv(path)
    if frame.empty:
        raise InputError("empty parcel table", file=path)
    if frame.columns[0].lower() in ("node", "name") and frame.shape[1] == 2:
        series = frame.set_index(frame.columns[0]).iloc[:, 0]
    else:
        series = frame.iloc[0]
    series.index = series.index.astype(str)
    return pd.to_numeric(series, errors="coerce")


def read_linc_qc(path: str | Path) -> pd.Series:
    """The first row of ``*_desc-linc_qc.tsv`` with the :data:`QC_COLUMNS` checked."""
    path = Path(path)
    frame = read_tsv(path)
    if frame.empty:
        raise InputError("empty QC table", file=path)
    missing = [c for c in QC_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"XCP-D QC table lacks {missing}", file=path)
    return frame.iloc[0]


def table_atlas(names: list[str], atlas: Atlas | None, label: str) -> Atlas:
    """An atlas of kind ``table`` for the matrix nodes, with networks when they can be known."""
    safe = [sanitize_name(n) for n in names]
    networks: list[str | None]
    lookup = atlas.networks.to_dict() if atlas is not None else {}
    if lookup and all(n in lookup for n in safe):
        networks = [lookup[n] for n in safe]
    else:
        parsed = [schaefer_network(n) for n in names]
        networks = [sanitize_name(n) if n else None for n in parsed]
    regions = pd.DataFrame({"name": safe, "network": pd.Series(networks, dtype=object)})
    citation = atlas.citation if atlas is not None else ""
    return Atlas(label, "table", regions, citation=citation, source="XCP-D")


def find_inputs(dataset: Dataset, participant_id: str, session_id: str,
                settings: BrainSettings) -> dict[str, Path] | None:
    """XCP-D files of one session, keyed ``<kind>/<run>`` (:data:`KINDS`, ``qc``, ``sidecar``).

    ``<run>`` is the run's entities (``run-1``, ``acq-singleband``) or ``task`` for a file
    covering the whole task. Returns ``None`` when the participant has no XCP-D folder for the
    session.

    Raises
    ------
    InputError
        When no matrix (or, for partial correlation and stored time series, no time series) of
        the configured atlas and task exists; the message names what was looked for and the
        atlases found. A missing ``desc-linc_qc.tsv`` is a QC row of :func:`extract`.
    """
    found = session_folder(dataset.derivatives_dir("xcp_d"), participant_id, session_id,
                           settings.sessionless_as)
    if found is None:
        return None
    folder, ses = found
    func = folder / "func"
    where = {"participant": participant_id, "session": session_id}
    files = [f for f in select(list_files(func), ses=ses, task=settings.task) if _wanted_run(
        f, settings)]
    atlas_files = [f for f in files if settings.xcpd_atlas in (f.get("atlas"), f.get("seg"))
                   and f.get("desc") is None]
    if not atlas_files:
        atlases = sorted({f.get("atlas") or f.get("seg") for f in files} - {None})
        raise InputError(f"no XCP-D outputs for atlas {settings.xcpd_atlas} and task "
                         f"{settings.task} (looked for *_task-{settings.task}*_atlas-"
                         f"{settings.xcpd_atlas}_stat-pearsoncorrelation_relmat.tsv, .pconn.nii, "
                         f"stat-mean_timeseries); atlases found: {', '.join(atlases) or 'none'} "
                         "(brain.xcpd_atlas chooses)", file=func, **where)
    space = choose_space(atlas_files, settings.space, f"XCP-D output of atlas "
                         f"{settings.xcpd_atlas}", func, where, [])
    inputs: dict[str, Path] = {}
    for kind, (suffix, extensions, stat) in KINDS.items():
        for f in select(atlas_files, suffix, extensions, stat=stat, space=space):
            inputs[f"{kind}/{_run_label(f)}"] = f.path
    for f in select(files, "qc", (".tsv",), desc="linc", space=space):
        inputs[f"qc/{_run_label(f)}"] = f.path
    for f in select(files, "bold", (".json",), desc="denoised", space=space):
        inputs.setdefault(f"sidecar/{_run_label(f)}", f.path)
    needs = ("timeseries", "ptseries") if _needs_timeseries(settings) else ("relmat", "pconn")
    if not any(key.split("/")[0] in needs for key in inputs):
        raise InputError(f"no XCP-D {' or '.join(needs)} for atlas {settings.xcpd_atlas} in "
                         f"space-{space} (connectivity.kind {settings.connectivity.kind})",
                         file=func, **where)
    return inputs


def extract(inputs: dict[str, Path], settings: BrainSettings, atlas: Atlas | None,
            participant_id: str, session_id: str) -> ExtractionResult:
    """Features of one session from XCP-D outputs (see the module docstring)."""
    where = {"participant": participant_id, "session": session_id}
    qc = {label: read_linc_qc(path) for label, path in _of_kind(inputs, "qc").items()}
    matrices, series = _connectivity_inputs(inputs, settings)
    first = next(iter(matrices.values())) if matrices else next(iter(series.values()))[0]
    nodes = table_atlas(list(first.index if matrices else first.columns),
                        atlas if atlas is not None and atlas.kind != "table" else None,
                        settings.xcpd_atlas or "xcpd")
    source = ("parcel time series (stat-mean_timeseries)"
              if settings.connectivity.kind == "partial_correlation"
              else "Pearson matrices (relmat.tsv / pconn.nii)")
    # the same for every participant: the files used are named in the QC table
    provenance = feat.provenance_text(settings, nodes, {"input": f"XCP-D {source}"})
    rows = feat.codebook(settings, nodes, provenance)
    values = feat.empty_features(rows)
    records = [_record(participant_id, session_id, "xcpd", "ok", _describe(inputs, settings))]
    if not qc:
        records.append(_record(participant_id, session_id, "xcpd: QC", "missing",
                               f"no *_task-{settings.task}*_desc-linc_qc.tsv beside the "
                               "matrices: motion and censoring covariates are missing"))
    values.update(_connectivity_values(matrices, series, qc, nodes, settings, where))
    if settings.amplitude.enabled:
        values.update(_parcel_values(inputs, nodes, settings))
    values.update(_qc_values(qc, inputs, series, nodes, settings))
    _store_timeseries(series, nodes, settings, participant_id, session_id)
    records.extend(_missing_records(values, settings, participant_id, session_id))
    return ExtractionResult({k: float(v) for k, v in values.items()}, rows, records)


def _wanted_run(f: BidsFile, settings: BrainSettings) -> bool:
    if settings.acquisition is not None and f.get("acq") != settings.acquisition:
        return False
    return settings.run is None or f.get("run") is None or (
        f.get("run").lstrip("0") == settings.run.lstrip("0"))


def _run_label(f: BidsFile) -> str:
    return f.label(RUN_ENTITIES) or "task"


def _needs_timeseries(settings: BrainSettings) -> bool:
    return settings.connectivity.kind == "partial_correlation" or (
        settings.timeseries_dir is not None)


def _of_kind(inputs: dict[str, Path], kind: str) -> dict[str, Path]:
    return {key.split("/", 1)[1]: Path(path) for key, path in sorted(inputs.items())
            if key.split("/", 1)[0] == kind}


def _connectivity_inputs(inputs: dict[str, Path], settings: BrainSettings
                         ) -> tuple[dict[str, pd.DataFrame], dict[str, tuple]]:
    """Matrices (relmat, else pconn) and time series (tsv, else ptseries) by run label."""
    matrices = {label: read_relmat(p) for label, p in _of_kind(inputs, "relmat").items()}
    for label, path in _of_kind(inputs, "pconn").items():
        matrices.setdefault(label, read_pconn(path))
    series: dict[str, tuple[pd.DataFrame, float | None]] = {}
    if _needs_timeseries(settings):
        series = {label: read_timeseries(p) for label, p in _of_kind(inputs, "timeseries").items()}
        for label, path in _of_kind(inputs, "ptseries").items():
            series.setdefault(label, read_timeseries(path))
    if settings.connectivity.kind == "partial_correlation":
        matrices = {}
    return matrices, series


def _weight(label: str, qc: dict[str, pd.Series]) -> float:
    """Retained volumes behind a matrix: its run's QC, or every run's for a whole-task matrix."""
    rows = [row for run, row in qc.items() if run == label or label == "task"]
    return float(sum(float(r["num_retained_volumes"]) for r in rows)) if rows else 1.0


def _connectivity_values(matrices: dict[str, pd.DataFrame], series: dict[str, tuple],
                         qc: dict[str, pd.Series], nodes: Atlas, settings: BrainSettings,
                         where: dict) -> dict[str, float]:
    """Network summaries and edges per matrix, averaged weighted by retained volumes."""
    kind = settings.connectivity.kind
    if kind == "partial_correlation" or not matrices:
        matrices = {label: _matrix(frame, nodes, kind) for label, (frame, _) in series.items()}
    per_run, weights = [], []
    for label, matrix in matrices.items():
        if [sanitize_name(n) for n in matrix.index] != nodes.names:
            raise InputError(f"nodes of the {label} matrix differ from the first matrix's",
                             **where)
        per_run.append(feat.connectivity_values(matrix.to_numpy(dtype=float), nodes, settings))
        weights.append(_weight(label, qc))
    if not per_run:
        return {}
    frame = pd.DataFrame(per_run)
    w = pd.Series(weights)
    return (frame.mul(w, axis=0).sum(min_count=1)
            / frame.notna().mul(w, axis=0).sum().replace(0, np.nan)).to_dict()


def _matrix(frame: pd.DataFrame, nodes: Atlas, kind: str) -> pd.DataFrame:
    """Pearson or partial correlation of parcel time series (nodes without signal stay NaN)."""
    data = frame.to_numpy(dtype=float)
    data = data[np.isfinite(data).any(axis=1)]
    r = (partial_correlation_matrix(data) if kind == "partial_correlation"
         else correlation_matrix(data))
    return pd.DataFrame(r, index=nodes.names, columns=nodes.names)


def _parcel_means(inputs: dict[str, Path], kind: str, nodes: Atlas) -> pd.Series | None:
    """A parcel table averaged over runs, indexed by node name."""
    tables = [read_parcel_table(p) for p in _of_kind(inputs, kind).values()]
    if not tables:
        return None
    mean = pd.concat(tables, axis=1).mean(axis=1)
    mean.index = [sanitize_name(n) for n in mean.index]
    return mean.reindex(nodes.names)


def _parcel_values(inputs: dict[str, Path], nodes: Atlas,
                   settings: BrainSettings) -> dict[str, float]:
    """XCP-D's parcellated ALFF and ReHo, per ROI or network (``amplitude.level``)."""
    values: dict[str, float] = {}
    for kind, group in (("alff", "alff_xcpd"), ("reho", "reho")):
        mean = _parcel_means(inputs, kind, nodes)
        if mean is None:
            continue
        units = feat.parcel_units(mean.to_frame("value"), nodes, settings.amplitude.level,
                                  settings)
        values.update({feat.feature_name(group, str(u)): float(v)
                       for u, v in units["value"].items()})
    return values


def _qc_values(qc: dict[str, pd.Series], inputs: dict[str, Path], series: dict[str, tuple],
               nodes: Atlas, settings: BrainSettings) -> dict[str, float]:
    """QC covariates over the task's runs: coverage averaged, ``linc_qc`` summed / weighted."""
    name = feat.feature_name
    values: dict[str, float] = {}
    coverage = _parcel_means(inputs, "coverage", nodes)
    if coverage is not None:
        values[name("qc", "roi_coverage_mean")] = float(coverage.mean())
        values[name("qc", "n_rois_low_coverage")] = float(
            (coverage < settings.qc.min_roi_coverage).sum())
    if not qc:
        return values
    censored = np.array([float(r["num_censored_volumes"]) for r in qc.values()])
    retained = np.array([float(r["num_retained_volumes"]) for r in qc.values()])
    fd = np.array([float(r["mean_fd"]) for r in qc.values()])
    total = censored + retained
    if total.sum():
        values[name("qc", "mean_fd_mm")] = float(np.average(fd, weights=total))
        values[name("qc", "pct_censored")] = float(100 * censored.sum() / total.sum())
    values[name("qc", "n_censored")] = float(censored.sum())
    t_r = _repetition_time(inputs, series)
    if t_r is not None:
        values[name("qc", "retained_s")] = float(retained.sum()) * t_r
    return values


def _repetition_time(inputs: dict[str, Path], series: dict[str, tuple]) -> float | None:
    """``RepetitionTime`` of a denoised-BOLD sidecar, else the step of a ``.ptseries.nii``."""
    for path in _of_kind(inputs, "sidecar").values():
        meta = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(meta, dict) and meta.get("RepetitionTime"):
            return float(meta["RepetitionTime"])
    steps = [step for _, step in series.values() if step]
    return steps[0] if steps else None


def _store_timeseries(series: dict[str, tuple], nodes: Atlas, settings: BrainSettings,
                      participant_id: str, session_id: str) -> None:
    """Write each run's parcel time series for cross-participant models (``timeseries_dir``)."""
    if settings.timeseries_dir is None:
        return
    for label, (frame, step) in series.items():
        data = frame.set_axis(nodes.names, axis=1)
        data = data[np.isfinite(data.to_numpy(dtype=float)).any(axis=1)]
        path = connectome_path(settings.timeseries_dir, participant_id, session_id,
                               None if label == "task" else label, nodes.name, "xcpd")
        write_connectome(path, data, np.arange(len(data)), nodes.regions["network"].tolist(),
                         step if step else np.nan, {"input": "XCP-D time series"})


def _describe(inputs: dict[str, Path], settings: BrainSettings) -> str:
    used = sorted(Path(p).name for k, p in inputs.items() if not k.startswith("sidecar/"))
    first = parse_name(used[0])
    space = first.get("space") if first is not None else None
    how = "configured" if settings.space is not None else "chosen by default"
    return f"space-{space} ({how}); files: {', '.join(used)}"


def _missing_records(values: dict[str, float], settings: BrainSettings, participant_id: str,
                     session_id: str) -> list[dict]:
    records = []
    voxel = [n for n in values if feat.group_of(n) in ("seed", "alff", "falff", "gmv", "anat")]
    if voxel:
        records.append(_record(participant_id, session_id, "xcpd: voxel-based features",
                               "missing", "seed, ALFF/fALFF and grey-matter columns need the "
                               "BOLD series and tissue maps; XCP-D input gives parcel outputs "
                               "only (XCP-D's own ALFF and ReHo are in brain.alff_xcpd.* and "
                               "brain.reho.*)"))
    parcel = [n for n in values if feat.group_of(n) in ("alff_xcpd", "reho")
              and not np.isfinite(values[n])]
    if parcel:
        records.append(_record(participant_id, session_id, "xcpd: ALFF / ReHo", "missing",
                               f"{len(parcel)} parcellated ALFF/ReHo values missing "
                               "(stat-alff_bold.tsv / stat-reho_bold.tsv absent, or nodes "
                               "below XCP-D's coverage threshold)"))
    group, _ = feat.connectivity_groups(settings.connectivity.kind)
    nets = [n for n in values if feat.group_of(n) == group and not np.isfinite(values[n])]
    if nets:
        records.append(_record(participant_id, session_id, "xcpd: network summaries", "flagged",
                               f"{len(nets)} network summaries missing (nodes without networks "
                               f"or below XCP-D's coverage threshold)"))
    return records


def _cifti(path: str | Path) -> tuple[nib.Cifti2Image, tuple]:
    path = Path(path)
    if not path.is_file():
        raise InputError("CIFTI file not found", file=path)
    try:
        img = nib.load(str(path))
        axes = (img.header.get_axis(0), img.header.get_axis(1))
    except Exception as err:  # nibabel raises several unrelated exception types
        raise InputError(f"cannot read CIFTI-2 file ({err})", file=path) from None
    return img, axes


def _record(participant_id, session_id, item: str, status: str, reason: str) -> dict:
    return qc_row(participant_id, session_id, modality=feat.MODALITY, item=item, status=status,
                  reason=reason)
