"""Per-run connectome files for models fitted across participants (tangent space, ...).

The brain extractor can write one ``.npz`` per run (``BrainSettings.timeseries_dir``):

``<dir>/<participant>/<participant>_<session>[_run-<r>]_atlas-<atlas>_desc-<strategy>_connectome.npz``

holding

* ``timeseries``: float32 (n_retained, n_regions), cleaned parcel signals (NaN columns: ROIs
  below the coverage threshold);
* ``sample_mask``: int (n_retained,), index of each retained volume in the run;
* ``covariance``: float64 (n_usable, n_usable), Ledoit-Wolf covariance of the usable columns;
* ``correlation``: float32 (n_regions, n_regions), Pearson correlation (NaN for unusable ROIs);
* ``regions``, ``networks``, ``usable``: region names, networks and the usable-column mask;
* ``t_r`` (s) and ``provenance`` (a JSON string with every parameter used).

:func:`load_connectomes` stacks the covariances of many files for
:class:`backpheno.imaging.tangent.TangentSpace` (``input="covariance"``), keeping only regions
usable in every file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.covariance import LedoitWolf

from backpheno.errors import InputError
from backpheno.io import atomic_path


def connectome_path(folder: str | Path, participant_id: str, session_id: str, run: str | None,
                    atlas_name: str, strategy_label: str) -> Path:
    """Where the connectome file of one run goes."""
    desc = "".join(ch for ch in strategy_label.title() if ch.isalnum())
    run_part = f"_{run}" if run else ""
    name = f"{participant_id}_{session_id}{run_part}_atlas-{atlas_name}_desc-{desc}_connectome.npz"
    return Path(folder) / participant_id / name


def write_connectome(path: str | Path, timeseries: pd.DataFrame, sample_mask: np.ndarray,
                     networks: Iterable[str | None], t_r: float,
                     provenance: dict[str, object]) -> Path:
    """Write one run's cleaned signals and connectivity matrices atomically (see module doc)."""
    values = timeseries.to_numpy(dtype=float)
    usable = np.isfinite(values).all(axis=0)
    usable[usable] = values[:, usable].std(axis=0) > 0
    covariance = (LedoitWolf(store_precision=False).fit(values[:, usable]).covariance_
                  if usable.sum() >= 2 else np.full((usable.sum(), usable.sum()), np.nan))
    correlation = np.full((values.shape[1], values.shape[1]), np.nan)
    if usable.sum() >= 2:
        correlation[np.ix_(usable, usable)] = np.corrcoef(values[:, usable], rowvar=False)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(  # uncompressed: ~1 MB per run, written in milliseconds
            handle,
            timeseries=values.astype(np.float32),
            sample_mask=np.asarray(sample_mask, dtype=np.int32),
            covariance=covariance,
            correlation=correlation.astype(np.float32),
            regions=np.array(list(timeseries.columns), dtype=str),
            networks=np.array(["" if n is None else str(n) for n in networks], dtype=str),
            usable=usable,
            t_r=np.float64(t_r),
            provenance=np.array(json.dumps(provenance, default=str)),
        )
    return path


def read_connectome(path: str | Path) -> dict[str, object]:
    """Read a file written by :func:`write_connectome` (``provenance`` parsed from JSON)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("connectome file not found", file=path)
    with np.load(path, allow_pickle=False) as data:
        out = {key: data[key] for key in data.files}
    out["provenance"] = json.loads(str(out["provenance"]))
    out["regions"] = out["regions"].tolist()
    out["networks"] = [n or None for n in out["networks"].tolist()]
    out["t_r"] = float(out["t_r"])
    return out


def load_connectomes(paths: Iterable[str | Path]) -> tuple[list[str], np.ndarray, list[str]]:
    """Stack covariances of several runs on their common usable regions.

    Returns
    -------
    names : list of str
        File stems, in input order.
    covariances : ndarray, shape (n_files, n_common, n_common)
        Ledoit-Wolf covariances re-estimated on the regions usable in every file.
    regions : list of str
        The common regions.
    """
    records = [(Path(p), read_connectome(p)) for p in paths]
    if not records:
        raise ValueError("no connectome files given")
    regions = records[0][1]["regions"]
    for path, record in records[1:]:
        if record["regions"] != regions:
            raise InputError("regions differ from the first connectome file", file=path)
    usable = np.logical_and.reduce([r["usable"] for _, r in records])
    covariances = np.stack([
        LedoitWolf(store_precision=False).fit(r["timeseries"][:, usable].astype(float)).covariance_
        for _, r in records])
    return ([p.name.removesuffix(".npz") for p, _ in records], covariances,
            [name for name, keep in zip(regions, usable, strict=True) if keep])
