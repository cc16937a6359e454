"""Fold-safe ComBat site harmonisation as a scikit-learn transformer.

:class:`ComBat` implements the location/scale model of Johnson, Li & Rabinovic (2007,
Biostatistics 8:118) with parametric empirical-Bayes shrinkage, as in neuroCombat (Fortin et al.
2017/2018), but split into ``fit`` and ``transform`` so it can live inside a cross-validation fold:

- ``fit`` estimates the covariate effects, the pooled variance and the per-site location
  (gamma*) and scale (delta*) adjustments from the training rows only.
- ``transform`` harmonises any rows from the sites seen at fit, down to a single participant.
  Covariate effects are preserved using each new participant's *own* covariates (neuroCombat's
  ``neuroCombatFromTraining`` adds the training-average covariate effect instead).
- Rows from a site not seen at fit follow ``unseen_site``: ``"error"`` raises, ``"passthrough"``
  returns them uncorrected with an :class:`UnseenSiteWarning`.
- A site with fewer than ``min_site_size`` participants with data in the training data follows
  ``small_site``: ``"error"`` (default) refuses to fit, naming the site; ``"passthrough"`` leaves
  the site out of the estimation and its rows uncorrected, with a :class:`SmallSiteWarning`.
  Under ``"passthrough"`` a site present in the training data only through rows without any
  feature value (participants without imaging) counts as a small site too; under ``"error"``
  it is simply not seen (``unseen_site`` applies to its rows with data later).

Model, for feature j of participant i at site s with covariate row x_i::

    y_ij = alpha_j + x_i' beta_j + gamma_sj + delta_sj * eps_ij

Harmonised value: ``(z_ij - gamma*_sj) / sqrt(delta*_sj) * sqrt(var_j) + alpha_j + x_i' beta_j``
with ``z_ij = (y_ij - alpha_j - x_i' beta_j) / sqrt(var_j)``. ``alpha_j`` is the grand mean (the
site intercepts averaged with weights equal to the site sizes), ``var_j`` the pooled residual
variance (divisor n, as in neuroCombat).

Missing values: estimates ignore NaN (per-feature least squares on the observed rows, site moments
over observed values, EB iterations with the observed counts; a site-feature with no observed value
gets the prior mean of its site), and NaN stays NaN in the output. Rows without any observed
feature (participants without imaging) are ignored entirely: their site and covariates may be
missing and they do not count towards ``min_site_size``. Features that are constant or
have fewer than two observed values in the training data are passed through unchanged and listed
in ``constant_features_``.

A categorical covariate level not seen at fit (possible in small training folds) gets the
reference level's effect, with an :class:`UnseenLevelWarning`.

Only pre-randomisation covariates may be preserved: a covariate whose name looks like an arm,
response, outcome or label column, or whose values equal ``y`` given to ``fit``, is refused
(preserving the label in ComBat leaks it into the test fold; Nieto et al., Neurocomputing 2026).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from backpheno.errors import InputError

#: Covariate names refused by default (case-insensitive search): post-randomisation variables.
FORBIDDEN_COVARIATES = (
    r"respon|outcome|target|label|^y$|(^|_)arm|tactic|random|treat|change|improv|pgic|success"
)

#: Policies for unseen sites (transform) and too-small sites (fit).
SITE_POLICIES = ("error", "passthrough")


class UnseenSiteWarning(UserWarning):
    """Rows from a site not seen at fit were returned without harmonisation."""


class SmallSiteWarning(UserWarning):
    """A site too small to estimate was left out of ComBat and its rows left uncorrected."""


class UnseenLevelWarning(UserWarning):
    """A categorical covariate level absent at fit was given the reference level's effect."""


@dataclass(frozen=True)
class ComBatData:
    """ComBat's input read once from a DataFrame (:meth:`ComBat.read`): the features as one
    float array, the site and categorical covariates as integer codes into their sorted text
    levels. :meth:`take` selects rows without any DataFrame work, so the folds of a
    cross-validation fit row sets of one read (:mod:`backpheno.models.fastcv`).

    Attributes
    ----------
    ids : ndarray of object
        Row labels (participant ids, for messages).
    features : tuple of str
    values : ndarray, shape (n_rows, n_features)
        NaN where missing.
    has_data : ndarray of bool
        Rows with at least one observed feature.
    site : ndarray of int
        Code of each row's site in ``site_levels`` (-1: missing).
    site_levels : ndarray of str
        The sites as text, sorted.
    covariates : tuple
        Per covariate ``(values, levels, missing)``: float values and ``None`` (continuous;
        values ``None`` when the column is not numeric) or codes and sorted text levels
        (categorical); ``missing`` marks missing rows.
    """

    ids: np.ndarray
    features: tuple[str, ...]
    values: np.ndarray
    has_data: np.ndarray
    site: np.ndarray
    site_levels: np.ndarray
    covariates: tuple[tuple[np.ndarray | None, np.ndarray | None, np.ndarray], ...]

    def take(self, rows: np.ndarray) -> ComBatData:
        """The rows at positions ``rows``."""
        return replace(self, ids=self.ids[rows], values=self.values[rows],
                       has_data=self.has_data[rows], site=self.site[rows],
                       covariates=tuple((None if v is None else v[rows], levels, missing[rows])
                                        for v, levels, missing in self.covariates))


class ComBat(TransformerMixin, BaseEstimator):
    """ComBat harmonisation fitted on training data and applied to any rows of the seen sites.

    Parameters
    ----------
    site : str
        Column of ``X`` holding the site (batch) label.
    covariates : sequence of str
        Columns of ``X`` whose effects are preserved (pre-randomisation only: age, sex, ...).
    categorical : sequence of str
        The subset of ``covariates`` that are categorical (one-hot coded, first level dropped).
    features : sequence of str, optional
        Columns to harmonise; default every column other than ``site`` and ``covariates``.
    unseen_site : {"error", "passthrough"}
        What ``transform`` does with rows from a site not seen at fit.
    min_site_size : int
        Fewest participants with data a site needs in the training data.
    small_site : {"error", "passthrough"}
        What ``fit`` does with a smaller site: refuse, or leave it uncorrected (at fit and
        transform) with a warning.
    eb : bool
        Empirical-Bayes shrinkage of the site effects (parametric priors). ``False`` uses the
        per-site least-squares estimates.
    mean_only : bool
        Adjust site means only (delta* = 1).
    forbidden : str
        Regular expression of covariate names refused as post-randomisation variables.
    tol : float
        Relative convergence tolerance of the EB iterations.
    max_iter : int
        Maximum EB iterations per site.

    Attributes
    ----------
    features_ : ndarray of str
        Output columns, in input order.
    constant_features_ : list of str
        Features passed through unchanged (constant or < 2 observed values at fit).
    sites_ : ndarray of str
        Sites whose effects were estimated (sorted).
    small_sites_ : list of str
        Sites left uncorrected because they had fewer than ``min_site_size`` participants with
        data (``small_site="passthrough"`` only).
    site_counts_ : ndarray of int
        Participants with at least one observed feature per site.
    categories_ : dict
        Levels of each categorical covariate (first is the reference).
    design_columns_ : list of str
        Covariate design columns (after one-hot coding).
    grand_mean_, var_pooled_ : ndarray, shape (n_features,)
        alpha_j and var_j (NaN for constant features).
    beta_ : ndarray, shape (n_design_columns, n_features)
        Covariate effects.
    gamma_hat_, delta_hat_ : ndarray, shape (n_sites, n_features)
        Per-site least-squares location and scale on the standardised scale.
    gamma_star_, delta_star_ : ndarray, shape (n_sites, n_features)
        The adjustments applied (EB posterior means when ``eb``).
    eb_ : bool
        Whether EB shrinkage was used (``False`` when fewer than two features can be harmonised).
    """

    def __init__(
        self,
        site: str = "site",
        covariates: Sequence[str] = (),
        categorical: Sequence[str] = (),
        features: Sequence[str] | None = None,
        unseen_site: str = "error",
        min_site_size: int = 5,
        small_site: str = "error",
        eb: bool = True,
        mean_only: bool = False,
        forbidden: str = FORBIDDEN_COVARIATES,
        tol: float = 1e-4,
        max_iter: int = 1000,
    ) -> None:
        self.site = site
        self.covariates = covariates
        self.categorical = categorical
        self.features = features
        self.unseen_site = unseen_site
        self.min_site_size = min_site_size
        self.small_site = small_site
        self.eb = eb
        self.mean_only = mean_only
        self.forbidden = forbidden
        self.tol = tol
        self.max_iter = max_iter

    # ------------------------------------------------------------------ fit

    def fit(self, X: pd.DataFrame, y: object = None) -> ComBat:
        """Estimate covariate effects, pooled variance and site adjustments from ``X``.

        Parameters
        ----------
        X : DataFrame
            Features plus the ``site`` and ``covariates`` columns.
        y : array-like, optional
            Only used to refuse a covariate that equals the label.
        """
        self._check_params()
        X = _require_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self._check_covariates(X, y)
        return self.fit_data(self._read(X, self._feature_columns(X)))

    def read(self, X: pd.DataFrame) -> ComBatData:
        """``X`` read once for :meth:`fit_data` / :meth:`transform_data` on row subsets.

        A fold loop reads its whole frame once and fits row sets of it
        (``read(X).take(rows)``): the same numbers as :meth:`fit` on ``X.iloc[rows]``
        (:mod:`backpheno.models.fastcv`). ``y`` is not checked here: the label is never read.
        """
        self._check_params()
        X = _require_frame(X)
        self._check_covariates(X, None)
        return self._read(X, self._feature_columns(X))

    def fit_data(self, data: ComBatData) -> ComBat:
        """:meth:`fit` on data already read by :meth:`read` (no DataFrame work)."""
        self._check_params()
        features = list(data.features)
        values = data.values
        present = np.unique(data.site[data.site >= 0])
        data = data.take(np.flatnonzero(data.has_data))   # rows without data carry nothing
        _require_site(data, self.site)
        codes, counts = np.unique(data.site, return_counts=True)
        if self.small_site == "passthrough":       # present only through rows without data
            codes = np.concatenate([codes, np.setdiff1d(present, codes)])
            counts = np.concatenate([counts, np.zeros(len(codes) - len(counts), dtype=int)])
        sites = data.site_levels[codes]
        small = [(str(s), int(c)) for s, c in zip(sites, counts, strict=True)
                 if c < self.min_site_size]
        listed = ", ".join(f"{s!r} ({c})" for s, c in small)
        if small and self.small_site == "error":
            raise InputError(
                f"ComBat: site {listed} has fewer than min_site_size={self.min_site_size} "
                "participants with data in the training data; merge it with another site, drop "
                "it, lower min_site_size, or set small_site='passthrough'", column=self.site)
        if small:
            warnings.warn(f"ComBat: site {listed} has fewer than min_site_size="
                          f"{self.min_site_size} participants with data; left uncorrected",
                          SmallSiteWarning, stacklevel=2)
        self.small_sites_ = [s for s, _ in small]
        keep = counts >= self.min_site_size
        data = data.take(np.flatnonzero(np.isin(data.site, codes[keep])))
        self.sites_ = sites[keep].astype(str)
        self.site_counts_ = counts[keep].astype(int)
        self.categories_ = self._categories(data)
        covariate_design, self.design_columns_ = self._covariate_design(data)

        batch = np.searchsorted(codes[keep], data.site)
        Y, Z = data.values, covariate_design
        if len(self.sites_):
            self._check_rank(batch, Z)

        n_obs = np.isfinite(Y).sum(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN features
            spread = (np.nanmax(Y, axis=0) - np.nanmin(Y, axis=0) if len(Y)
                      else np.full(len(features), np.nan))
        harmonized = (n_obs >= 2) & np.isfinite(spread) & (spread > 0) & (len(self.sites_) > 0)
        self.features_ = np.asarray(features, dtype=object)
        self.harmonized_ = harmonized
        self.constant_features_ = [f for f, h in zip(features, harmonized, strict=True) if not h]

        p, k, m = values.shape[1], Z.shape[1], len(self.sites_)
        self.grand_mean_ = np.full(p, np.nan)
        self.var_pooled_ = np.full(p, np.nan)
        self.beta_ = np.full((k, p), np.nan)
        self.gamma_hat_ = np.full((m, p), np.nan)
        self.delta_hat_ = np.full((m, p), np.nan)
        self.gamma_star_ = np.zeros((m, p))
        self.delta_star_ = np.ones((m, p))
        self.eb_ = bool(self.eb)
        self.n_iter_ = np.zeros(m, dtype=int)
        cols = np.flatnonzero(harmonized)
        if len(cols) == 0:
            return self

        grand, beta, var = _standardisation(Y[:, cols], batch, Z, m)
        self.grand_mean_[cols], self.beta_[:, cols], self.var_pooled_[cols] = grand, beta, var
        S3 = _by_site((Y[:, cols] - grand - Z @ beta) / np.sqrt(var), batch, m)
        gamma_hat, delta_hat = _site_moments(S3, self.mean_only)
        self.gamma_hat_[:, cols], self.delta_hat_[:, cols] = gamma_hat, delta_hat
        if self.eb_ and len(cols) < 2:
            warnings.warn("ComBat: fewer than two features can be harmonised; empirical Bayes "
                          "needs several, so least-squares site effects are used", UserWarning,
                          stacklevel=2)
            self.eb_ = False
        if self.eb_:
            gamma_star, delta_star = self._empirical_bayes(S3, gamma_hat, delta_hat)
        else:
            gamma_star = np.where(np.isfinite(gamma_hat), gamma_hat, 0.0)
            delta_star = np.where(np.isfinite(delta_hat), delta_hat, 1.0)
        self.gamma_star_[:, cols], self.delta_star_[:, cols] = gamma_star, delta_star
        return self

    def _empirical_bayes(self, S3: np.ndarray, gamma_hat: np.ndarray,
                         delta_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g_bar = np.nanmean(gamma_hat, axis=1)
        t2 = np.nanvar(gamma_hat, axis=1, ddof=1)
        if self.mean_only:
            # as in sva::ComBat and neuroCombat: postmean with n = 1 and delta = 1
            g = (t2[:, None] * gamma_hat + g_bar[:, None]) / (t2[:, None] + 1.0)
            return (np.where(np.isfinite(g), g, g_bar[:, None]), np.ones_like(delta_hat))
        a_prior, b_prior = _inverse_gamma_prior(delta_hat)
        gamma_star = np.where(np.isfinite(gamma_hat), gamma_hat, 0.0)
        delta_star = np.where(np.isfinite(delta_hat), delta_hat, 1.0)
        fit = np.flatnonzero(np.isfinite(t2) & np.isfinite(a_prior) & np.isfinite(b_prior))
        if len(fit):
            gamma_star[fit], delta_star[fit], self.n_iter_[fit] = _it_sol(
                S3[fit], gamma_hat[fit], delta_hat[fit], g_bar[fit], t2[fit], a_prior[fit],
                b_prior[fit], self.tol, self.max_iter, sites=self.sites_[fit])
        return gamma_star, delta_star

    # ------------------------------------------------------------ transform

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Harmonise the feature columns of ``X`` (rows of any subset of the seen sites).

        Returns
        -------
        DataFrame
            The harmonised features (``features_``), same index as ``X``.
        """
        check_is_fitted(self, "gamma_star_")
        X = _require_frame(X)
        missing = [c for c in [*self.features_, self.site, *self.covariates] if c not in X.columns]
        if missing:
            raise InputError(f"ComBat.transform: columns missing from the input: {missing[:10]}")
        out = self.transform_data(self._read(X, list(self.features_)))
        return pd.DataFrame(out, index=X.index, columns=list(self.features_))

    def transform_data(self, data: ComBatData) -> np.ndarray:
        """:meth:`transform` of data read by :meth:`read` (its features in ``features_``
        order); returns the harmonised values as an array."""
        check_is_fitted(self, "gamma_star_")
        if data.features != tuple(self.features_):
            raise InputError("ComBat.transform_data: the data were read with other features "
                             f"than the fit's ({len(data.features)} vs {len(self.features_)})")
        values, has_data = data.values, data.has_data
        _require_site(data.take(np.flatnonzero(has_data)), self.site)
        position = np.searchsorted(self.sites_, data.site_levels)
        found = position < len(self.sites_)
        found[found] = self.sites_[position[found]] == data.site_levels[found]
        level_batch = np.where(found, position, -1)
        level_small = np.isin(data.site_levels, self.small_sites_)
        code = np.where(has_data, data.site, 0)       # every row with data has a site
        if not len(data.site_levels):
            level_batch, level_small = np.full(1, -1), np.zeros(1, dtype=bool)
        known = has_data & (level_batch[code] >= 0)
        small = has_data & level_small[code]
        if small.any():
            warnings.warn(f"ComBat: {int(small.sum())} row(s) from site(s) "
                          f"{_names(data.site_levels, code[small])} too small at fit returned "
                          "uncorrected", SmallSiteWarning, stacklevel=2)
        unseen = has_data & ~known & ~small
        if unseen.any():
            names = _names(data.site_levels, code[unseen])
            if self.unseen_site == "error":
                raise InputError(
                    f"ComBat: site(s) {names} were not in the training data; set "
                    "unseen_site='passthrough' to leave their rows uncorrected", column=self.site)
            warnings.warn(f"ComBat: site(s) {names} were not in the training data; "
                          f"{int(unseen.sum())} row(s) returned without harmonisation",
                          UnseenSiteWarning, stacklevel=2)
        out = values.copy()
        cols = np.flatnonzero(self.harmonized_)
        rows = np.flatnonzero(known)
        if len(cols) and len(rows):
            design, _ = self._covariate_design(data.take(rows))
            batch = level_batch[code[rows]]
            mean = self.grand_mean_[cols] + design @ self.beta_[:, cols]
            sd = np.sqrt(self.var_pooled_[cols])
            z = (values[np.ix_(rows, cols)] - mean) / sd
            z = (z - self.gamma_star_[np.ix_(batch, cols)]) / np.sqrt(
                self.delta_star_[np.ix_(batch, cols)])
            out[np.ix_(rows, cols)] = z * sd + mean
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """The harmonised feature names (site and covariate columns are consumed)."""
        check_is_fitted(self, "features_")
        return np.asarray(self.features_, dtype=object)

    def estimates(self) -> pd.DataFrame:
        """Long table of the fitted site adjustments: site, feature, gamma_hat, delta_hat,
        gamma_star, delta_star (harmonised features only)."""
        check_is_fitted(self, "gamma_star_")
        cols = np.flatnonzero(self.harmonized_)
        frames = []
        for b, s in enumerate(self.sites_):
            frames.append(pd.DataFrame({
                "site": s, "feature": self.features_[cols],
                "gamma_hat": self.gamma_hat_[b, cols], "delta_hat": self.delta_hat_[b, cols],
                "gamma_star": self.gamma_star_[b, cols], "delta_star": self.delta_star_[b, cols],
            }))
        return pd.concat(frames, ignore_index=True)

    # -------------------------------------------------------------- helpers

    def _check_params(self) -> None:
        for name in ("unseen_site", "small_site"):
            if getattr(self, name) not in SITE_POLICIES:
                raise InputError(f"ComBat: {name} must be one of {SITE_POLICIES}, "
                                 f"got {getattr(self, name)!r}")
        if int(self.min_site_size) < 1:
            raise InputError(f"ComBat: min_site_size must be >= 1, got {self.min_site_size}")
        unknown = set(self.categorical) - set(self.covariates)
        if unknown:
            raise InputError(f"ComBat: categorical names columns that are not covariates: "
                             f"{sorted(unknown)}")
        if self.site in self.covariates:
            raise InputError(f"ComBat: the site column {self.site!r} cannot also be a covariate")

    def _check_covariates(self, X: pd.DataFrame, y: object) -> None:
        needed = [self.site, *self.covariates]
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise InputError(f"ComBat: site/covariate columns missing from the input: {missing}")
        pattern = re.compile(self.forbidden, re.IGNORECASE)
        for name in self.covariates:
            if pattern.search(str(name)):
                raise InputError(
                    f"ComBat: covariate {name!r} looks like a post-randomisation variable (arm, "
                    "response, outcome or label); only pre-randomisation covariates (age, sex, "
                    "...) may be preserved, otherwise the label leaks into the test fold",
                    column=str(name))
        if y is None:
            return
        labels = pd.Series(np.asarray(y).ravel(), index=X.index)
        for name in self.covariates:
            column = X[name]
            if _same_partition(column, labels):
                raise InputError(
                    f"ComBat: covariate {name!r} carries the same information as the label y; "
                    "preserving it would leak the label into the test fold", column=str(name))

    def _feature_columns(self, X: pd.DataFrame) -> list[str]:
        reserved = {self.site, *self.covariates}
        if self.features is None:
            return [c for c in X.columns if c not in reserved]
        missing = [c for c in self.features if c not in X.columns]
        if missing:
            raise InputError(f"ComBat: features missing from the input: {missing[:10]}")
        clash = reserved & set(self.features)
        if clash:
            raise InputError(f"ComBat: {sorted(clash)} cannot be both features and site/covariates")
        return list(self.features)

    def _read(self, X: pd.DataFrame, features: list[str]) -> ComBatData:
        values = _numeric(X, features)
        site = _codes(X[self.site])
        covariates = []
        for name in self.covariates:
            column = X[name]
            if name in self.categorical:
                covariates.append(_codes(column))
                continue
            try:
                numbers = column.to_numpy(dtype=float, na_value=np.nan)
            except (TypeError, ValueError):
                numbers = None
            covariates.append((numbers, None, column.isna().to_numpy()))
        return ComBatData(np.asarray(X.index, dtype=object), tuple(features), values,
                          np.isfinite(values).any(axis=1), site[0], site[1], tuple(covariates))

    def _categories(self, data: ComBatData) -> dict[str, list[str]]:
        categories = {}
        for name, (codes, levels, missing) in zip(self.covariates, data.covariates, strict=True):
            if name not in self.categorical:
                continue
            if missing.any():
                raise InputError(f"ComBat: categorical covariate has missing values for "
                                 f"{_first_ids(data.ids[missing])}", column=name)
            categories[name] = levels[np.unique(codes)].tolist()
        return categories

    def _covariate_design(self, data: ComBatData) -> tuple[np.ndarray, list[str]]:
        blocks, names = [], []
        for name, (numbers, levels, missing) in zip(self.covariates, data.covariates,
                                                    strict=True):
            if missing.any():
                raise InputError(f"ComBat: covariate has missing values for "
                                 f"{_first_ids(data.ids[missing])}", column=name)
            if name in self.categorical:
                known = self.categories_[name]
                unknown = sorted(set(_names(levels, numbers)) - set(known))
                if unknown:
                    warnings.warn(f"ComBat: level(s) {unknown} of covariate {name!r} were not in "
                                  f"the training data (known: {known}); their effect is taken "
                                  "as the reference level's", UnseenLevelWarning, stacklevel=3)
                for level in known[1:]:
                    code = np.flatnonzero(levels == level)
                    blocks.append((numbers == (code[0] if len(code) else -1)).astype(float))
                    names.append(f"{name}[{level}]")
            else:
                if numbers is None:
                    raise InputError("ComBat: continuous covariate is not numeric; list it in "
                                     "categorical if it is a category", column=name)
                blocks.append(numbers)
                names.append(name)
        design = np.column_stack(blocks) if blocks else np.zeros((len(data.ids), 0))
        return design, names

    def _check_rank(self, batch: np.ndarray, Z: np.ndarray) -> None:
        full = np.column_stack([np.eye(len(self.sites_))[batch], Z])
        if np.linalg.matrix_rank(full) < full.shape[1]:
            raise InputError(
                "ComBat: the covariates are collinear with site in the training data (for "
                "example a category present at one site only, or a constant covariate); their "
                "effects cannot be told apart from site effects. Covariates: "
                f"{list(self.covariates)}")

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.two_d_array = True
        tags.input_tags.string = True
        return tags


# ------------------------------------------------------------------ the algorithm


def _standardisation(Y: np.ndarray, batch: np.ndarray, Z: np.ndarray,
                     n_sites: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature least squares of Y on [site one-hot, Z] ignoring NaN.

    Returns the grand mean (site intercepts weighted by observed site sizes), the covariate
    effects and the pooled residual variance (divisor = observed count).
    """
    p = Y.shape[1]
    design = np.column_stack([np.eye(n_sites)[batch], Z])
    finite = np.isfinite(Y)
    grand = np.empty(p)
    beta = np.empty((Z.shape[1], p))
    var = np.empty(p)
    packed = np.ascontiguousarray(np.packbits(finite, axis=0).T)   # one key per feature
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    for index, column in enumerate(first):     # features sharing a missingness pattern
        cols = np.flatnonzero(inverse.ravel() == index)
        rows = np.flatnonzero(finite[:, column])
        coef, *_ = np.linalg.lstsq(design[rows], Y[np.ix_(rows, cols)], rcond=None)
        counts = np.bincount(batch[rows], minlength=n_sites).astype(float)
        grand[cols] = counts @ coef[:n_sites] / counts.sum()
        beta[:, cols] = coef[n_sites:]
        resid = Y[np.ix_(rows, cols)] - design[rows] @ coef
        var[cols] = (resid**2).mean(axis=0)
    return grand, beta, var


def _by_site(S: np.ndarray, batch: np.ndarray, n_sites: int) -> np.ndarray:
    """The rows of ``S`` per site, shape (n_sites, largest site, n_features), NaN-padded: the
    sites' sums run over their own rows in order, so each site's estimates are those of its
    rows alone (padding adds zeros)."""
    sizes = np.bincount(batch, minlength=n_sites)
    out = np.full((n_sites, sizes.max(initial=0), S.shape[1]), np.nan)
    for b in range(n_sites):
        out[b, :sizes[b]] = S[batch == b]
    return out


def _site_moments(S3: np.ndarray, mean_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-site mean and variance (ddof=1) of the standardised data by site (:func:`_by_site`),
    ignoring NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gamma = np.nanmean(S3, axis=1)
        delta = np.ones_like(gamma) if mean_only else np.nanvar(S3, axis=1, ddof=1)
    delta[delta == 0] = 1.0
    return gamma, delta


def _inverse_gamma_prior(delta_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Method-of-moments inverse-gamma hyperparameters (a, b) of each site's variances (rows
    of ``delta_hat``)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a site with < 2 rows has no variances
        mean = np.nanmean(delta_hat, axis=1)
        var = np.nanvar(delta_hat, axis=1, ddof=1)
        # scalar powers per site: an array power rounds differently in the last bit
        a = [(2 * s2 + m**2) / s2 for m, s2 in zip(mean, var, strict=True)]
        b = [(m * s2 + m**3) / s2 for m, s2 in zip(mean, var, strict=True)]
        return np.asarray(a, dtype=float), np.asarray(b, dtype=float)


def _it_sol(S3: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray, g_bar: np.ndarray,
            t2: np.ndarray, a: np.ndarray, b: np.ndarray, tol: float, max_iter: int,
            sites: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parametric EB posterior of the sites' location and scale (Johnson et al. 2007, eq. 3.1),
    iterated for all sites at once; each site stops at its own convergence.

    ``S3`` holds the standardised rows by site (:func:`_by_site`); ``g_hat``, ``d_hat`` are
    (n_sites, n_features); ``g_bar``, ``t2``, ``a``, ``b`` per site. Returns gamma*, delta* and
    the iterations per site.
    """
    g_bar, t2, a, b = g_bar[:, None], t2[:, None], a[:, None], b[:, None]
    n = np.isfinite(S3).sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        prior_delta = np.where(a > 1, b / (a - 1.0), 1.0)
    g_old = np.where(np.isfinite(g_hat), g_hat, g_bar)
    d_old = np.where(np.isfinite(d_hat), d_hat, prior_delta)
    g_hat_filled = np.where(np.isfinite(g_hat), g_hat, g_bar)
    gamma, delta = g_old.copy(), d_old.copy()
    n_iter = np.full(len(g_hat), max_iter)
    active = np.arange(len(g_hat))
    for iteration in range(1, max_iter + 1):
        g_new = (t2 * n * g_hat_filled + d_old * g_bar) / (t2 * n + d_old)
        sum2 = np.nansum((S3 - g_new[:, None, :]) ** 2, axis=1)
        d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            g_change = np.nanmax(np.abs(g_new - g_old) / np.abs(g_old), axis=1)
            d_change = np.nanmax(np.abs(d_new - d_old) / d_old, axis=1)
        change = np.where(d_change > g_change, d_change, g_change)   # NaN: not converged
        gamma[active], delta[active] = g_new, d_new
        done = change <= tol
        n_iter[active[done]] = iteration
        keep = ~done
        if not keep.any():
            return gamma, delta, n_iter
        active, S3, n, g_hat_filled = active[keep], S3[keep], n[keep], g_hat_filled[keep]
        g_bar, t2, a, b = g_bar[keep], t2[keep], a[keep], b[keep]
        g_old, d_old = g_new[keep], d_new[keep]
    for site in sites[active]:
        warnings.warn(f"ComBat: empirical Bayes did not converge for site {site!r} in "
                      f"{max_iter} iterations", ConvergenceWarning, stacklevel=3)
    return gamma, delta, n_iter


# ------------------------------------------------------------------ input helpers


def _require_frame(X: object) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise InputError("ComBat needs a pandas DataFrame with named site and covariate columns, "
                         f"got {type(X).__name__}")
    return X


def _numeric(X: pd.DataFrame, columns: list[str]) -> np.ndarray:
    dtypes = dict(zip(X.columns, X.dtypes, strict=True))
    bad = [c for c in columns if not pd.api.types.is_numeric_dtype(dtypes[c])]
    if bad:
        raise InputError(f"ComBat: non-numeric feature columns {bad[:10]}", column=str(bad[0]))
    return X[columns].to_numpy(dtype=float, na_value=np.nan)


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, sorted text levels, missing) of a label column; missing rows get code -1."""
    missing = column.isna().to_numpy()
    text = column[~missing].astype(str).to_numpy(dtype=object).astype(str)
    levels, inverse = np.unique(text, return_inverse=True)
    codes = np.full(len(column), -1, dtype=np.int64)
    codes[~missing] = inverse.ravel()
    return codes, levels, missing


def _names(levels: np.ndarray, codes: np.ndarray) -> list[str]:
    """Sorted distinct labels of ``codes``."""
    return levels[np.unique(codes)].tolist()


def _require_site(data: ComBatData, column: str) -> None:
    missing = data.site < 0
    if missing.any():
        raise InputError(f"ComBat: site is missing for {_first_ids(data.ids[missing])}",
                         column=column)


def _same_partition(column: pd.Series, labels: pd.Series) -> bool:
    """True when ``column`` determines ``labels`` exactly (same grouping, up to coding)."""
    if column.isna().any() or labels.isna().any() or labels.nunique() < 2:
        return False
    a = pd.factorize(column.astype(str))[0]
    b = pd.factorize(labels.astype(str))[0]
    pairs = pd.Series(list(zip(a, b, strict=True)))
    return pairs.nunique() == len(np.unique(a)) == len(np.unique(b))


def _first_ids(index: Sequence[object], n: int = 5) -> str:
    ids = [str(i) for i in index[:n]]
    more = f" and {len(index) - n} more" if len(index) > n else ""
    return f"participant(s) {', '.join(ids)}{more}"
