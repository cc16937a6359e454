"""Tangent-space connectivity as a scikit-learn transformer (fit inside cross-validation folds).

The tangent-space parametrisation (Varoquaux et al. 2010, MICCAI; Dadi et al. 2019, NeuroImage
192:115-134) whitens every participant's covariance matrix by the group's geometric mean ``M``
and takes the matrix logarithm: ``T_i = logm(M^-1/2 C_i M^-1/2)``. ``M`` is learnt from the
training participants, so the transformer must be fitted inside each fold; fitting it on the
whole cohort leaks the test participants into the features.

:class:`TangentSpace` accepts

* ``input="covariance"``: an array ``(n, R, R)`` or a list of ``(R, R)`` covariance matrices
  (for example the ``covariance`` arrays of :func:`backpheno.imaging.store.load_connectomes`);
* ``input="timeseries"``: a list of ``(T_i, R)`` cleaned parcel signals, turned into covariances
  with ``cov_estimator`` (Ledoit-Wolf by default, as nilearn);
* ``input="vectorized"``: a 2-D array ``(n, R(R+1)/2)`` of covariances vectorised as
  :func:`nilearn.connectome.sym_matrix_to_vec` does (diagonal divided by sqrt(2)), so the
  transformer can sit on a block of columns in a scikit-learn ``Pipeline``.

Unlike ``nilearn.connectome.ConnectivityMeasure``, a single participant can be transformed (a
test fold of one), and the geometric mean is computed with batched eigen-decompositions.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.covariance import LedoitWolf
from sklearn.utils.validation import check_is_fitted


class TangentSpace(TransformerMixin, BaseEstimator):
    """Tangent-space embedding of covariance matrices around their geometric mean.

    Parameters
    ----------
    input : {"covariance", "timeseries", "vectorized"}
        What ``X`` holds (see the module docstring).
    cov_estimator : estimator, optional
        scikit-learn covariance estimator for ``input="timeseries"`` (default Ledoit-Wolf).
    discard_diagonal : bool
        Leave the diagonal out of the output vectors.
    max_iter : int
        Iterations of the geometric-mean gradient descent.
    tol : float
        Stopping tolerance on the norm of the mean log-map divided by the matrix size.
    region_names : list of str, optional
        Names used in :meth:`get_feature_names_out` (``<a>__<b>``); default ``r0`` ...

    Attributes
    ----------
    mean_ : ndarray, shape (R, R)
        Geometric mean of the training covariances.
    whitening_ : ndarray, shape (R, R)
        ``mean_ ** -1/2``.
    n_regions_ : int
        R.
    n_features_in_ : int
        Columns of ``X`` for ``input="vectorized"``; R otherwise.
    """

    def __init__(self, input: Literal["covariance", "timeseries", "vectorized"] = "covariance",
                 cov_estimator=None, discard_diagonal: bool = False, max_iter: int = 30,
                 tol: float = 1e-7, region_names: list[str] | None = None) -> None:
        self.input = input
        self.cov_estimator = cov_estimator
        self.discard_diagonal = discard_diagonal
        self.max_iter = max_iter
        self.tol = tol
        self.region_names = region_names

    def fit(self, X, y=None) -> TangentSpace:
        """Learn the geometric mean of the training covariances."""
        self._check_params()
        covariances = self._covariances(X, reset=True)
        self.mean_ = geometric_mean(covariances, max_iter=self.max_iter, tol=self.tol)
        self.whitening_ = _map_eigenvalues(lambda v: 1.0 / np.sqrt(v), self.mean_)
        return self

    def transform(self, X) -> np.ndarray:
        """Vectorised tangent-space coordinates, one row per participant."""
        check_is_fitted(self, "mean_")
        covariances = self._covariances(X, reset=False)
        whitened = self.whitening_ @ covariances @ self.whitening_
        logs = _map_eigenvalues(np.log, whitened)
        return sym_to_vec(logs, discard_diagonal=self.discard_diagonal)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names ``<a>__<b>`` of the upper-triangle entries (row-major, diagonal optional)."""
        check_is_fitted(self, "mean_")
        names = self.region_names or [f"r{i}" for i in range(self.n_regions_)]
        k = 1 if self.discard_diagonal else 0
        rows, cols = np.triu_indices(self.n_regions_, k=k)
        # sym_to_vec orders entries like nilearn (lower triangle, row-major) = upper, column-major
        order = np.lexsort((rows, cols))
        return np.array([f"tangent.{names[rows[i]]}__{names[cols[i]]}" for i in order],
                        dtype=object)

    def _check_params(self) -> None:
        if self.input not in ("covariance", "timeseries", "vectorized"):
            raise ValueError(f"input must be 'covariance', 'timeseries' or 'vectorized', got "
                             f"{self.input!r}")
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not self.tol > 0:
            raise ValueError(f"tol must be positive, got {self.tol!r}")

    def _covariances(self, X, reset: bool) -> np.ndarray:
        if self.input == "timeseries":
            estimator = LedoitWolf(store_precision=False) if self.cov_estimator is None else (
                clone(self.cov_estimator))
            series = [np.asarray(x, dtype=float) for x in X]
            if not series or any(s.ndim != 2 for s in series):
                raise ValueError("input='timeseries' expects a list of 2-D (time, region) arrays")
            covariances = np.stack([estimator.fit(s).covariance_ for s in series])
            n_features = covariances.shape[1]
        elif self.input == "vectorized":
            vectors = np.asarray(X, dtype=float)
            if vectors.ndim != 2:
                raise ValueError(f"input='vectorized' expects a 2-D array, got {vectors.ndim}-D")
            covariances = vec_to_sym(vectors)
            n_features = vectors.shape[1]
        else:
            covariances = np.asarray(X, dtype=float)
            if covariances.ndim == 2:
                covariances = covariances[None]
            if covariances.ndim != 3 or covariances.shape[1] != covariances.shape[2]:
                raise ValueError("input='covariance' expects square matrices, shape (n, R, R)")
            n_features = covariances.shape[1]
        if len(covariances) == 0:
            raise ValueError("no covariance matrices given")
        if not np.all(np.isfinite(covariances)):
            raise ValueError("covariance matrices contain NaN or infinite values")
        if not np.allclose(covariances, np.swapaxes(covariances, 1, 2), atol=1e-8):
            raise ValueError("covariance matrices must be symmetric")
        if np.linalg.eigvalsh(covariances).min() <= 0:
            raise ValueError("covariance matrices must be positive definite")
        if reset:
            self.n_regions_ = covariances.shape[1]
            self.n_features_in_ = n_features
        elif covariances.shape[1] != self.n_regions_:
            raise ValueError(f"fitted on {self.n_regions_} regions, got {covariances.shape[1]}")
        return covariances


def geometric_mean(covariances: np.ndarray, max_iter: int = 30, tol: float = 1e-7) -> np.ndarray:
    """Geometric (Riemannian) mean of SPD matrices by gradient descent (Fletcher & Joshi 2007).

    Follows nilearn's ``_geometric_mean``: start from the arithmetic mean, step along the mean
    log-map, halve the step when the gradient norm grows, stop when ``norm / size < tol``.
    """
    covariances = np.asarray(covariances, dtype=float)
    mean = covariances.mean(axis=0)
    norm_old = np.inf
    step = 1.0
    for _ in range(max_iter):
        values, vectors = np.linalg.eigh(mean)
        inv_sqrt = (vectors / np.sqrt(values)) @ vectors.T
        logs = _map_eigenvalues(np.log, inv_sqrt @ covariances @ inv_sqrt)
        log_mean = logs.mean(axis=0)
        if not np.all(np.isfinite(log_mean)):
            raise FloatingPointError("geometric mean diverged (non-finite log-map)")
        norm = np.linalg.norm(log_mean)
        sqrt_mean = (vectors * np.sqrt(values)) @ vectors.T
        mean = sqrt_mean @ _map_eigenvalues(np.exp, step * log_mean) @ sqrt_mean
        if norm < norm_old:
            norm_old = norm
        elif norm > norm_old:
            step /= 2.0
            norm = norm_old
        if norm / mean.size < tol:
            break
    return mean


def sym_to_vec(matrices: np.ndarray, discard_diagonal: bool = False) -> np.ndarray:
    """Vectorise symmetric matrices like :func:`nilearn.connectome.sym_matrix_to_vec`.

    Lower triangle in row-major order; diagonal entries are divided by sqrt(2) (so the
    Euclidean norm of the vector is the Frobenius norm of the matrix over sqrt(2)), or left out.
    """
    matrices = np.asarray(matrices, dtype=float)
    n = matrices.shape[-1]
    rows, cols = np.tril_indices(n, k=-1 if discard_diagonal else 0)
    values = matrices[..., rows, cols]
    if not discard_diagonal:
        values = np.where(rows == cols, values / np.sqrt(2), values)
    return values


def vec_to_sym(vectors: np.ndarray) -> np.ndarray:
    """Inverse of :func:`sym_to_vec` (with the diagonal)."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=float))
    n = int(round((np.sqrt(8 * vectors.shape[1] + 1) - 1) / 2))
    if n * (n + 1) // 2 != vectors.shape[1]:
        raise ValueError(f"{vectors.shape[1]} values do not form a symmetric matrix with diagonal")
    rows, cols = np.tril_indices(n)
    out = np.zeros((len(vectors), n, n))
    out[:, rows, cols] = vectors
    out[:, cols, rows] = vectors
    index = np.arange(n)
    out[:, index, index] *= np.sqrt(2)
    return out


def _map_eigenvalues(function, matrices: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrices)
    return (vectors * function(values)[..., None, :]) @ np.swapaxes(vectors, -1, -2)


class EdgeTangentSpace(TransformerMixin, BaseEstimator):
    """Tangent-space embedding of a block of ``brain.edge.<a>__<b>`` connectivity columns.

    The brain extractor exports every ROI pair's Fisher-z correlation when
    ``connectivity.edges`` is on. This transformer rebuilds each participant's correlation
    matrix from those columns (``tanh`` of the values, unit diagonal), learns the geometric mean
    of the training participants' matrices and returns tangent-space coordinates
    (:class:`TangentSpace`, diagonal included). It is the ``tangent`` block step of training
    configurations, so the reference mean is fitted inside every cross-validation fold.

    Rows with any missing edge (participants without imaging, runs excluded by QC) are left out
    of the fit and get NaN outputs, which the models handle like any missing block.

    Parameters
    ----------
    fisher_z : bool
        Whether the columns are Fisher-z values (the extractor's default) or correlations.
    max_iter, tol
        Passed to :class:`TangentSpace`.

    Attributes
    ----------
    regions_ : list of str
        Region names in matrix order, parsed from the column names.
    pairs_ : tuple of ndarray
        Row and column index in the region matrix of every input column.
    tangent_ : TangentSpace
        The fitted embedding.
    feature_names_in_ : ndarray
        Input column names.
    """

    def __init__(self, fisher_z: bool = True, max_iter: int = 30, tol: float = 1e-7) -> None:
        self.fisher_z = fisher_z
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y=None) -> EdgeTangentSpace:
        """Parse the edge names and fit the geometric mean on the complete rows."""
        frame = self._frame(X)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.regions_, self.pairs_ = _edge_layout(list(frame.columns))
        complete = frame.notna().all(axis=1).to_numpy()
        if complete.sum() < 2:
            raise ValueError("the tangent step needs at least two participants with every "
                             f"edge observed, got {int(complete.sum())}")
        self.tangent_ = TangentSpace(input="covariance", max_iter=self.max_iter, tol=self.tol,
                                     region_names=self.regions_)
        self.tangent_.fit(self._matrices(frame.to_numpy(dtype=float)[complete]))
        return self

    def transform(self, X):
        """Tangent coordinates; NaN rows for participants with a missing edge."""
        check_is_fitted(self, "tangent_")
        frame = self._frame(X)
        if list(frame.columns) != list(self.feature_names_in_):
            raise ValueError("the tangent step got other edge columns than it was fitted on")
        values = frame.to_numpy(dtype=float)
        complete = np.isfinite(values).all(axis=1)
        n_out = len(self.get_feature_names_out())
        out = np.full((len(values), n_out), np.nan)
        if complete.any():
            out[complete] = self.tangent_.transform(self._matrices(values[complete]))
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``tangent.<a>__<b>`` for every region pair and diagonal entry."""
        check_is_fitted(self, "tangent_")
        return self.tangent_.get_feature_names_out()

    def _frame(self, X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            names = getattr(self, "feature_names_in_", None)
            if names is None:
                raise ValueError("the tangent step needs a DataFrame with brain.edge.* columns")
            return pd.DataFrame(np.asarray(X, dtype=float), columns=list(names))
        return X

    def _matrices(self, values: np.ndarray) -> np.ndarray:
        r = np.tanh(values) if self.fisher_z else values
        n = len(self.regions_)
        matrices = np.repeat(np.eye(n)[None], len(r), axis=0)
        i, j = self.pairs_
        matrices[:, i, j] = r
        matrices[:, j, i] = r
        return matrices

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _edge_layout(columns: list[str]) -> tuple[list[str], tuple[np.ndarray, np.ndarray]]:
    """Region order and (row, column) index of every ``<prefix>.<a>__<b>`` column.

    Raises
    ------
    ValueError
        If a column is not an edge name or the edges do not cover every pair of regions.
    """
    pairs = []
    for column in columns:
        name = column.rsplit(".", 1)[-1]
        if "__" not in name:
            raise ValueError(f"{column!r} is not an edge column (<prefix>.<regionA>__<regionB>)")
        a, b = name.split("__", 1)
        pairs.append((a, b))
    regions = list(dict.fromkeys(r for pair in pairs for r in pair))
    index = {r: k for k, r in enumerate(regions)}
    n = len(regions)
    if len(set(frozenset(p) for p in pairs)) != n * (n - 1) // 2 or any(a == b for a, b in pairs):
        raise ValueError(f"the edge columns must cover every pair of their {n} regions exactly "
                         f"once; got {len(pairs)} columns")
    rows = np.array([index[a] for a, _ in pairs])
    cols = np.array([index[b] for _, b in pairs])
    return regions, (rows, cols)
