"""ROI-to-ROI connectivity and the summaries a feature table needs.

* :func:`correlation_matrix`: Pearson correlation of cleaned parcel signals (what XCP-D writes as
  ``stat-pearsoncorrelation_relmat``; nilearn's ``ConnectivityMeasure(kind="correlation")``
  shrinks with Ledoit-Wolf by default and so differs slightly);
* :func:`partial_correlation_matrix`: partial correlation from the inverse Ledoit-Wolf
  covariance (cleaned signals are z-scored by default), equal to
  ``ConnectivityMeasure(kind="partial correlation")`` (an unshrunk precision does not exist
  with more regions than volumes);
* :func:`fisher_z`: variance-stabilising ``arctanh``;
* :func:`network_summary`: mean Fisher z within each network and between each pair of networks
  (``brain.fc.<NetA>__<NetB>``, network names sorted);
* :func:`upper_triangle`: every ROI pair as a named vector (``<roiA>__<roiB>``).

Regions whose signal is missing (NaN column: empty or below the coverage threshold) give NaN rows
and columns and are left out of the summaries.
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np
import pandas as pd
from sklearn.covariance import LedoitWolf

#: Correlations are clipped to ±(1 - this) before arctanh so the transform stays finite.
_CLIP = 1e-7


def correlation_matrix(signals: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Pearson correlation between columns; NaN rows/columns for missing or constant signals."""
    values = np.asarray(signals, dtype=float)
    n = values.shape[1]
    out = np.full((n, n), np.nan)
    usable = _usable_columns(values)
    if len(usable) >= 1:
        sub = np.corrcoef(values[:, usable], rowvar=False) if len(usable) > 1 else np.ones((1, 1))
        out[np.ix_(usable, usable)] = sub
    return out


def partial_correlation_matrix(signals: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Partial correlation from the inverse Ledoit-Wolf covariance, as nilearn computes it."""
    values = np.asarray(signals, dtype=float)
    n = values.shape[1]
    out = np.full((n, n), np.nan)
    usable = _usable_columns(values)
    if len(usable) < 2:
        return out
    covariance = LedoitWolf(store_precision=False).fit(values[:, usable]).covariance_
    precision = np.linalg.inv(covariance)
    scale = np.sqrt(np.diag(precision))
    partial = -precision / np.outer(scale, scale)
    np.fill_diagonal(partial, 1.0)
    out[np.ix_(usable, usable)] = partial
    return out


def fisher_z(r: np.ndarray) -> np.ndarray:
    """``arctanh(r)``, with ``r`` clipped to ±(1 - 1e-7); the diagonal of a matrix becomes NaN."""
    r = np.asarray(r, dtype=float)
    z = np.arctanh(np.clip(r, -1 + _CLIP, 1 - _CLIP))
    if z.ndim == 2 and z.shape[0] == z.shape[1]:
        z = z.copy()
        np.fill_diagonal(z, np.nan)
    return z


def network_summary(z: np.ndarray, networks: pd.Series | list,
                    exclude: tuple[str, ...] = ()) -> pd.Series:
    """Mean connectivity within and between networks.

    Parameters
    ----------
    z : ndarray, shape (n_regions, n_regions)
        Symmetric connectivity (typically Fisher z), NaN for missing regions.
    networks : sequence
        Network of each region (missing values are left out).
    exclude : tuple of str
        Networks left out.

    Returns
    -------
    Series
        Indexed ``"<A>__<B>"`` with ``A <= B`` (alphabetical); within-network entries use the
        upper triangle without the diagonal. NaN where a network has no usable region (or a
        within-network summary has fewer than two).
    """
    z = np.asarray(z, dtype=float)
    nets = pd.Series(list(networks), dtype=object)
    names = sorted({n for n in nets.dropna() if n not in exclude})
    members = {name: np.flatnonzero((nets == name).to_numpy()) for name in names}
    values = {}
    for a, b in combinations_with_replacement(names, 2):
        block = z[np.ix_(members[a], members[b])]
        if a == b:
            block = block[np.triu_indices(len(members[a]), k=1)]
        finite = block[np.isfinite(block)]
        values[f"{a}__{b}"] = float(finite.mean()) if finite.size else np.nan
    return pd.Series(values, dtype=float)


def upper_triangle(matrix: np.ndarray, names: list[str]) -> pd.Series:
    """Upper triangle (without diagonal) as a Series indexed ``"<a>__<b>"`` in row order."""
    rows, cols = np.triu_indices(len(names), k=1)
    index = [f"{names[i]}__{names[j]}" for i, j in zip(rows, cols, strict=True)]
    return pd.Series(np.asarray(matrix)[rows, cols], index=index, dtype=float)


def seed_connectivity(seed_signals: pd.DataFrame, pairs: list[tuple[str, str]]) -> pd.Series:
    """Fisher z of the correlation between named seed signals, one value per pair ``a__b``."""
    z = fisher_z(correlation_matrix(seed_signals.to_numpy()))
    position = {name: i for i, name in enumerate(seed_signals.columns)}
    return pd.Series({f"{a}__{b}": z[position[a], position[b]] for a, b in pairs}, dtype=float)


def _usable_columns(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values).all(axis=0)
    varying = np.zeros(values.shape[1], dtype=bool)
    if values.shape[0] > 1:
        varying[finite] = np.nanstd(values[:, finite], axis=0) > 0
    return np.flatnonzero(finite & varying)
