"""XCP-D outputs as an alternative input to the brain extractor.

XCP-D (PennLINC) writes, per run and atlas, ``*_stat-pearsoncorrelation_relmat.tsv`` (a square
Pearson correlation matrix whose first column ``Node`` names the parcels; ``n/a`` for parcels
below its coverage threshold) and ``*_desc-linc_qc.tsv`` (one row: ``mean_fd``,
``num_censored_volumes``, ``num_retained_volumes``, ...). The atlas entity is ``seg-<label>`` in
recent releases and ``atlas-<label>`` in older ones; both are found.

:func:`relmat_features` turns a matrix into the same ``brain.fc.<A>__<B>`` (and, if configured,
``brain.edge``) columns the fMRIPrep path produces, so both inputs share one codebook. Seed,
ALFF and grey-matter columns need voxel data and are left missing with a QC row. Networks come
from the configured atlas table when its region names match the matrix's nodes, else they are
parsed from Schaefer-style node names (``LH_Vis_1`` / ``7Networks_LH_Vis_1``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.extractors import ExtractionResult
from backpheno.imaging import features as feat
from backpheno.imaging.atlas import Atlas, sanitize_name, schaefer_network
from backpheno.imaging.connectivity import fisher_z, network_summary, upper_triangle
from backpheno.imaging.settings import BrainSettings
from backpheno.io import read_tsv

#: linc_qc.tsv columns → our QC covariate names.
QC_COLUMNS = {"mean_fd": "mean_fd_mm", "num_censored_volumes": "n_censored"}


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


def read_linc_qc(path: str | Path) -> pd.Series:
    """The first row of ``*_desc-linc_qc.tsv`` as a Series."""
    path = Path(path)
    frame = read_tsv(path)
    if frame.empty:
        raise InputError("empty QC table", file=path)
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
    return Atlas(label, "table", regions, citation=citation, source="XCP-D relmat")


def relmat_features(relmat: pd.DataFrame, atlas: Atlas, settings: BrainSettings) -> dict:
    """Network summaries (and optional edges) of an XCP-D Pearson matrix, Fisher z."""
    z = fisher_z(relmat.to_numpy(dtype=float))
    values = {}
    if settings.connectivity.network_summaries:
        summary = network_summary(z, atlas.regions["network"].tolist(),
                                  tuple(settings.atlas.exclude_networks))
        values.update({f"brain.fc.{k}": v for k, v in summary.items()})
    if settings.connectivity.edges:
        values.update({f"brain.edge.{k}": v for k, v in upper_triangle(z, atlas.names).items()})
    return values


def find_inputs(dataset: Dataset, participant_id: str, session_id: str,
                settings: BrainSettings) -> dict[str, Path] | None:
    """XCP-D files of one session (``relmat``, ``qc`` and, if present, ``sidecar``)."""
    func = dataset.derivatives_dir("xcp_d") / participant_id / session_id / "func"
    if not func.is_dir():
        return None
    where = {"participant": participant_id, "session": session_id}
    prefix = f"{participant_id}_{session_id}_task-{settings.task}"
    relmats = sorted(
        p for entity in ("seg", "atlas")
        for p in func.glob(f"{prefix}*_{entity}-{settings.xcpd_atlas}_stat-pearsoncorrelation"
                           "_relmat.tsv"))
    if settings.run:
        relmats = [p for p in relmats if f"_run-{settings.run}_" in p.name]
    if not relmats:
        raise InputError(f"no XCP-D relmat for atlas {settings.xcpd_atlas} and task "
                         f"{settings.task}", file=func, **where)
    if len(relmats) > 1:
        raise InputError(f"{len(relmats)} XCP-D relmat files match; set brain.run to choose one "
                         f"({', '.join(p.name for p in relmats[:3])})", file=func, **where)
    relmat = relmats[0]
    stem = relmat.name.split("_space-")[0].split("_seg-")[0].split("_atlas-")[0]
    qcs = sorted(func.glob(f"{stem}*_desc-linc_qc.tsv"))
    if not qcs:
        raise InputError(f"XCP-D QC table ({stem}*_desc-linc_qc.tsv) is missing", file=func,
                         **where)
    inputs = {"relmat": relmat, "qc": qcs[0]}
    sidecars = sorted(func.glob(f"{stem}*_desc-denoised_bold.json"))
    if sidecars:
        inputs["sidecar"] = sidecars[0]
    return inputs


def extract(inputs: dict[str, Path], settings: BrainSettings, atlas: Atlas | None,
            participant_id: str, session_id: str) -> ExtractionResult:
    """Features of one session from XCP-D outputs."""
    relmat = read_relmat(inputs["relmat"])
    nodes = table_atlas(list(relmat.index), atlas if atlas is not None and atlas.kind != "table"
                        else None, settings.xcpd_atlas or "xcpd")
    provenance = feat.provenance_text(settings, nodes, {"input": "XCP-D relmat + linc QC"})
    rows = feat.codebook(settings, nodes, provenance)
    values = feat.empty_features(rows)
    values.update(relmat_features(relmat, nodes, settings))
    qc = read_linc_qc(inputs["qc"])
    missing_cols = [c for c in ("mean_fd", "num_censored_volumes", "num_retained_volumes")
                    if c not in qc.index]
    if missing_cols:
        raise InputError(f"XCP-D QC table lacks {missing_cols}", file=inputs["qc"],
                         participant=participant_id, session=session_id)
    censored = float(qc["num_censored_volumes"])
    retained = float(qc["num_retained_volumes"])
    values["brain.qc.mean_fd_mm"] = float(qc["mean_fd"])
    values["brain.qc.n_censored"] = censored
    values["brain.qc.pct_censored"] = 100 * censored / (censored + retained) if (
        censored + retained) else np.nan
    if "sidecar" in inputs:
        meta = json.loads(Path(inputs["sidecar"]).read_text(encoding="utf-8"))
        if "RepetitionTime" in meta:
            values["brain.qc.retained_s"] = retained * float(meta["RepetitionTime"])
    records = [_record(participant_id, session_id, "xcpd", "ok",
                       f"connectivity from {Path(inputs['relmat']).name}")]
    unavailable = [name for name in values if name.startswith(
        ("brain.seed.", "brain.alff.", "brain.falff.", "brain.gmv.", "brain.anat."))]
    if unavailable:
        records.append(_record(participant_id, session_id, "xcpd: voxel-based features",
                               "missing", "seed, ALFF and grey-matter columns need the BOLD "
                               "series and tissue maps; XCP-D input gives parcel matrices only"))
    nets = [k for k in values if k.startswith("brain.fc.") and not np.isfinite(values[k])]
    if nets:
        records.append(_record(participant_id, session_id, "xcpd: network summaries", "flagged",
                               f"{len(nets)} network summaries missing (nodes without networks "
                               f"or below XCP-D's coverage threshold)"))
    return ExtractionResult({k: float(v) for k, v in values.items()}, rows, records)


def _record(participant_id, session_id, item: str, status: str, reason: str) -> dict:
    return {"participant_id": participant_id, "session_id": session_id,
            "modality": feat.MODALITY, "item": item, "status": status, "reason": reason}
