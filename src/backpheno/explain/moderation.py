"""Formal moderation statistics, as trial papers report them.

For each candidate moderator ``M`` one regression on the randomised participants::

    outcome ~ arm + M_z + arm × M_z + site + covariates

with ``arm`` as treatment dummies (first arm = reference), ``M_z`` the moderator standardised
over the analysed participants (so effects are per SD; a two-valued moderator is coded 0/1 and
left unscaled), ``site`` as dummies and numeric covariates entered linearly (categorical ones as
dummies). A binary outcome is fitted by logistic regression (statsmodels GLM, binomial, logit
link, model-based standard errors by default), a continuous one by least squares with HC3
standard errors. Rows with a missing outcome, arm, moderator or covariate are dropped per
moderator (``n`` says how many remain).

From each fit, for every contrast between arms (pairs ``a - b`` and each arm against the mean of
the others, the same contrasts as the SHAP moderators):

``estimate``, ``ci_low``, ``ci_high``, ``p``
    The interaction on the model's scale: ``L'beta`` with ``L`` picking the arm × M_z
    coefficients (``beta_a - beta_b``; ``beta_a - mean(beta_others)``); Wald test through
    statsmodels' ``t_test``. ``odds_ratio`` / ``or_low`` / ``or_high`` = exp of those for a
    binary outcome.
``rd_estimate``, ``rd_low``, ``rd_high``, ``rd_p`` (binary outcomes)
    The interaction on the additive (risk-difference) scale: how much the risk difference
    between the arms changes per SD of the moderator, averaged over the analysed participants
    (counterfactually under each arm) — the average cross-partial derivative
    ``mean_i d/dM [p_a(x_i) - p_b(x_i)]`` of the fitted logistic model (Ai & Norton 2003), with a
    delta-method standard error from the analytic gradient. We use this marginal-effects
    contrast rather than an identity-link binomial GLM, which often fails to converge or
    predicts outside [0, 1].

With three or more arms, one ``omnibus`` row per moderator tests all arm × M interactions at
once (Wald chi², K - 1 df); a two-arm trial has one contrast and no omnibus row (it would repeat
the pair's test).
``q`` adjusts ``p`` for multiplicity (Benjamini–Hochberg by default, or Holm) within each kind
of row (all pair rows, all one-vs-rest rows, all omnibus rows) across every tested moderator.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

from backpheno.errors import InputError
from backpheno.explain.moderators import Contrast, arm_contrasts
from backpheno.progress import progress_bar

#: A logit coefficient (per SD, per arm, per covariate unit) or standard error beyond these means
#: the likelihood has no finite maximum along some direction (quasi-complete separation);
#: statsmodels then stops at finite but meaningless estimates with huge standard errors.
MAX_LOGIT_COEFFICIENT = 15.0
MAX_LOGIT_SE = 50.0

Family = Literal["auto", "binomial", "gaussian"]
ADJUSTMENTS = {"bh": "fdr_bh", "holm": "holm", "by": "fdr_by", "bonferroni": "bonferroni"}

COLUMNS = (
    "moderator", "contrast", "kind", "family", "n", "moderator_scale", "moderator_sd",
    "estimate", "se", "ci_low", "ci_high", "statistic", "df", "p", "q",
    "odds_ratio", "or_low", "or_high", "rd_estimate", "rd_se", "rd_low", "rd_high", "rd_p",
    "reason",
)


@dataclass(frozen=True)
class ModerationDesign:
    """The numeric design of one moderator's model (what statsmodels is given).

    Attributes
    ----------
    exog : DataFrame
        Intercept, arm dummies, ``M``, arm × ``M``, site dummies, covariates.
    endog : Series
        The outcome (0/1 for a binary outcome).
    arms : list of str
        Arms in order; the first is the reference.
    data : DataFrame
        The analysed rows (arm, standardised moderator and covariates) to rebuild the design
        under another arm.
    moderator_scale : str
        ``"per SD"`` or ``"binary (0/1)"``.
    moderator_sd : float
        SD of the raw moderator over the analysed rows (NaN for a binary moderator).
    arm : str
        Name of the arm column in ``data``.
    covariates : list of str
        Adjustment columns used.
    categorical : frozenset of str
        Covariates coded as dummies.
    """

    exog: pd.DataFrame
    endog: pd.Series
    arms: list[str]
    data: pd.DataFrame
    moderator_scale: str
    moderator_sd: float
    arm: str
    covariates: list[str]
    categorical: frozenset[str]

    def exog_under(self, arm: str) -> pd.DataFrame:
        """The design with every analysed participant set to ``arm`` (other columns as is)."""
        rows = self.data.assign(**{self.arm: arm})
        return _design(rows, arm=self.arm, arms=self.arms, covariates=self.covariates,
                       categorical=self.categorical, like=list(self.exog.columns))


def outcome_family(y: pd.Series) -> str:
    """``"binomial"`` for a 0/1 or boolean outcome, ``"gaussian"`` otherwise."""
    values = pd.unique(y.dropna())
    if pd.api.types.is_bool_dtype(y) or str(y.dtype) == "boolean" or set(values) <= {0, 1}:
        return "binomial"
    return "gaussian"


def moderation_design(data: pd.DataFrame, *, outcome: str, arm: str, moderator: str,
                      arms: Sequence[str], covariates: Sequence[str] = (),
                      categorical: Sequence[str] = ()) -> ModerationDesign:
    """Complete-case design matrix of ``outcome ~ arm * M + covariates`` for one moderator.

    Parameters
    ----------
    data : DataFrame
        One row per participant with the outcome, arm, moderator and covariate columns.
    outcome, arm, moderator : str
        Column names.
    arms : sequence of str
        Arms to analyse (rows of other arms are dropped); the first is the reference.
    covariates : sequence of str
        Adjustment columns (site, age, sex, ...); the moderator itself is skipped.
    categorical : sequence of str
        Covariates entered as dummies (first level sorted = reference); non-numeric covariates
        are categorical whatever this says.
    """
    covariates = [c for c in covariates if c != moderator]
    needed = [outcome, arm, moderator, *covariates]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise InputError(f"moderation data lacks columns {missing}", column=missing[0])
    arms = list(arms)
    frame = data.loc[data[arm].isin(arms), needed].dropna()
    m = frame[moderator].astype(float)
    levels = np.unique(m)
    binary = len(levels) == 2
    sd = float(m.std(ddof=1)) if len(m) > 1 else float("nan")
    if binary:
        m_z = (m == levels[1]).astype(float)
        scale, sd = f"binary ({levels[0]:g} -> {levels[1]:g})", float("nan")
    else:
        m_z = (m - m.mean()) / sd if sd and np.isfinite(sd) else m * np.nan
        scale = "per SD"
    rows = frame.assign(**{"__m": m_z.to_numpy()})
    categorical = frozenset(c for c in covariates if c in set(categorical)
                            or not pd.api.types.is_numeric_dtype(frame[c])
                            or pd.api.types.is_bool_dtype(frame[c]))
    exog = _design(rows, arm=arm, arms=arms, covariates=covariates, categorical=categorical)
    y = frame[outcome]
    if pd.api.types.is_bool_dtype(y) or str(y.dtype) == "boolean":
        y = y.astype(float)
    return ModerationDesign(exog, y.astype(float), arms, rows, scale, sd, arm, covariates,
                            categorical)


def moderation_table(data: pd.DataFrame, *, outcome: str, arm: str, moderators: Sequence[str],
                     arms: Sequence[str] | None = None, covariates: Sequence[str] = (),
                     categorical: Sequence[str] = (), family: Family = "auto",
                     contrasts: Sequence[Contrast] | None = None, level: float = 0.95,
                     adjust: str = "bh", cov_type: str | None = None) -> pd.DataFrame:
    """Treatment × moderator interaction for every candidate moderator and contrast.

    Parameters
    ----------
    data : DataFrame
        One row per participant.
    outcome, arm : str
        Column names.
    moderators : sequence of str
        Candidate moderator columns.
    arms : sequence of str, optional
        Arms to analyse, first = reference (default: sorted levels of ``arm``).
    covariates, categorical : sequence of str
        Adjustment columns (see :func:`moderation_design`).
    family : {"auto", "binomial", "gaussian"}
    contrasts : sequence of Contrast, optional
        Default :func:`~backpheno.explain.moderators.arm_contrasts` of ``arms``.
    level : float
        Confidence level.
    adjust : {"bh", "holm", "by", "bonferroni"}
        Multiplicity adjustment for ``q``.
    cov_type : str, optional
        statsmodels covariance type; default ``"nonrobust"`` (binomial) / ``"HC3"`` (gaussian).

    Returns
    -------
    DataFrame
        The columns of :data:`COLUMNS`, one row per moderator × contrast plus, with three or
        more arms, one omnibus row per moderator. Rows that could not be fitted have NaN
        statistics and a ``reason``.
    """
    if adjust not in ADJUSTMENTS:
        raise InputError(f"unknown multiplicity adjustment {adjust!r}; choose from "
                         f"{sorted(ADJUSTMENTS)}")
    if outcome not in data.columns:
        raise InputError("moderation data lacks the outcome column", column=outcome)
    if arms is None:
        arms = sorted(pd.unique(data[arm].dropna()).astype(str))
    arms = list(arms)
    family = outcome_family(data[outcome]) if family == "auto" else family
    contrasts = list(contrasts) if contrasts is not None else arm_contrasts(arms)
    rows = []
    with progress_bar(len(moderators), f"moderation of {outcome}") as advance:
        for moderator in moderators:
            rows += _moderator_rows(data, outcome=outcome, arm=arm, moderator=moderator,
                                    arms=arms, covariates=covariates, categorical=categorical,
                                    family=family, contrasts=contrasts, level=level,
                                    cov_type=cov_type)
            advance(1)
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    table["q"] = adjust_p(table["p"], table["kind"], ADJUSTMENTS[adjust])
    return table


def fit_moderation(design: ModerationDesign, family: str, cov_type: str | None = None):
    """Fit one moderator's model with statsmodels (GLM binomial or OLS)."""
    if family == "binomial":
        model = sm.GLM(design.endog, design.exog, family=sm.families.Binomial())
        return model.fit(cov_type=cov_type or "nonrobust")
    return sm.OLS(design.endog, design.exog).fit(cov_type=cov_type or "HC3")


def contrast_vector(design: ModerationDesign, weights: dict[str, float]) -> np.ndarray:
    """``L`` such that ``L'beta`` is the contrast's interaction (arm × M coefficients)."""
    L = np.zeros(design.exog.shape[1])
    columns = list(design.exog.columns)
    for arm, w in weights.items():
        if arm != design.arms[0]:
            L[columns.index(f"arm[{arm}]:M")] += w
    return L


def risk_difference_interaction(design: ModerationDesign, params: np.ndarray,
                                cov: np.ndarray, weights: dict[str, float],
                                exog_by_arm: dict[str, np.ndarray] | None = None
                                ) -> tuple[float, float]:
    """Average cross-partial derivative of the contrast's risk difference in ``M`` and its
    delta-method standard error.

    ``g(beta) = mean_i sum_a w_a p_ai (1 - p_ai) (beta_M + beta_{a:M})`` where ``p_ai`` is the
    fitted probability of participant i under arm a (all other columns as observed).
    ``exog_by_arm`` may hold the designs :meth:`ModerationDesign.exog_under` gives (reused
    across contrasts).
    """
    params = np.asarray(params, dtype=float)
    columns = list(design.exog.columns)
    value, gradient = 0.0, np.zeros(len(params))
    for arm, w in weights.items():
        X = (exog_by_arm[arm] if exog_by_arm is not None
             else design.exog_under(arm).to_numpy(dtype=float))
        c = np.zeros(len(params))
        c[columns.index("M")] = 1.0
        if arm != design.arms[0]:
            c[columns.index(f"arm[{arm}]:M")] = 1.0
        p = 1.0 / (1.0 + np.exp(-(X @ params)))
        slope = float(c @ params)
        dens = p * (1 - p)
        value += w * float(np.mean(dens * slope))
        gradient += w * (np.mean((dens * (1 - 2 * p) * slope)[:, None] * X, axis=0)
                         + np.mean(dens) * c)
    se = float(np.sqrt(gradient @ cov @ gradient))
    return value, se


def adjust_p(p: pd.Series, groups: pd.Series, method: str = "fdr_bh") -> pd.Series:
    """Multiplicity-adjusted p-values within each group (NaN p stays NaN)."""
    q = pd.Series(np.nan, index=p.index)
    for _, index in p.groupby(groups).groups.items():
        values = p.loc[index]
        ok = values.notna()
        if ok.any():
            q.loc[values.index[ok]] = multipletests(values[ok].to_numpy(), method=method)[1]
    return q


# ------------------------------------------------------------------------------ internals


def _moderator_rows(data: pd.DataFrame, *, outcome: str, arm: str, moderator: str,
                    arms: list[str], covariates: Sequence[str], categorical: Sequence[str],
                    family: str, contrasts: list[Contrast], level: float,
                    cov_type: str | None) -> list[dict]:
    base = {"moderator": moderator, "family": family}
    omnibus = len(arms) > 2
    kinds = [(c.name, c.kind) for c in contrasts] + ([("all_arms", "omnibus")] if omnibus
                                                     else [])
    try:
        design = moderation_design(data, outcome=outcome, arm=arm, moderator=moderator,
                                   arms=arms, covariates=covariates, categorical=categorical)
    except InputError as err:
        return [{**base, "contrast": n, "kind": k, "n": 0, "reason": err.reason} for n, k in kinds]
    base.update(n=len(design.endog), moderator_scale=design.moderator_scale,
                moderator_sd=design.moderator_sd)
    reason = _unfittable(design, arms)
    if reason is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", sm.tools.sm_exceptions.PerfectSeparationWarning)
                warnings.filterwarnings("ignore", category=RuntimeWarning)
                result = fit_moderation(design, family, cov_type)
            if not np.all(np.isfinite(result.bse)):
                reason = "non-finite standard errors (separation or collinearity)"
            elif family == "binomial" and (np.max(np.abs(result.params)) > MAX_LOGIT_COEFFICIENT
                                           or np.max(result.bse) > MAX_LOGIT_SE):
                reason = ("quasi-complete separation: a logit coefficient diverged "
                          f"(|beta| > {MAX_LOGIT_COEFFICIENT:g} or SE > {MAX_LOGIT_SE:g}); "
                          "no interaction estimate")
        except (np.linalg.LinAlgError, ValueError,
                sm.tools.sm_exceptions.PerfectSeparationWarning) as err:
            reason = f"model could not be fitted: {err}"
    if reason is not None:
        return [{**base, "contrast": n, "kind": k, "reason": reason} for n, k in kinds]

    z = stats.norm.ppf(0.5 + level / 2)
    exog_by_arm = ({a: design.exog_under(a).to_numpy(dtype=float) for a in arms}
                   if family == "binomial" else None)
    rows = []
    for contrast in contrasts:
        L = contrast_vector(design, contrast.weights)
        test = result.t_test(L[None, :])
        estimate, se = float(np.ravel(test.effect)[0]), float(np.ravel(test.sd)[0])
        low, high = (float(v) for v in np.ravel(test.conf_int(alpha=1 - level)))
        row = {**base, "contrast": contrast.name, "kind": contrast.kind, "estimate": estimate,
               "se": se, "ci_low": low, "ci_high": high,
               "statistic": float(np.ravel(test.tvalue)[0]),
               "df": float(test.df_denom) if getattr(test, "distribution", "") == "t" else np.nan,
               "p": float(np.ravel(test.pvalue)[0])}
        if family == "binomial":
            row.update(odds_ratio=np.exp(estimate), or_low=np.exp(low), or_high=np.exp(high))
            rd, rd_se = risk_difference_interaction(design, result.params.to_numpy(),
                                                    result.cov_params().to_numpy(),
                                                    contrast.weights, exog_by_arm)
            row.update(rd_estimate=rd, rd_se=rd_se, rd_low=rd - z * rd_se,
                       rd_high=rd + z * rd_se, rd_p=float(2 * stats.norm.sf(abs(rd / rd_se))))
        rows.append(row)
    if not omnibus:
        return rows
    R = np.array([contrast_vector(design, {a: 1.0}) for a in arms[1:]])
    wald = result.wald_test(R, scalar=True, use_f=False)
    rows.append({**base, "contrast": "all_arms", "kind": "omnibus",
                 "statistic": float(wald.statistic), "df": float(len(arms) - 1),
                 "p": float(wald.pvalue)})
    return rows


def _unfittable(design: ModerationDesign, arms: list[str]) -> str | None:
    if design.moderator_scale == "per SD" and not (design.moderator_sd > 0):
        return "moderator is constant among the analysed participants"
    n, k = design.exog.shape
    if n < k + 2:
        return f"too few complete rows ({n}) for {k} parameters"
    present = set(design.exog.columns[design.exog.abs().sum() > 0])
    absent = [a for a in arms[1:] if f"arm[{a}]" not in present]
    if absent or design.endog.nunique() < 2:
        return f"arms without analysed participants {absent}" if absent else "outcome is constant"
    rank = np.linalg.matrix_rank(design.exog.to_numpy(dtype=float))
    if rank < k:
        return (f"collinear design (rank {rank} of {k} columns): the arm x moderator "
                "interaction is not estimable, e.g. a moderator level present in one arm only")
    return None


def _design(rows: pd.DataFrame, *, arm: str, arms: list[str], covariates: Sequence[str],
            categorical: frozenset[str], like: list[str] | None = None) -> pd.DataFrame:
    """Intercept, arm dummies, M, arm × M, covariates (dummies for categorical ones).

    With ``like``, the columns are aligned to an existing design (counterfactual arms)."""
    m = rows["__m"].to_numpy(dtype=float)
    columns: dict[str, np.ndarray] = {"Intercept": np.ones(len(rows))}
    arm_values = rows[arm].astype(str).to_numpy()
    for a in arms[1:]:
        columns[f"arm[{a}]"] = (arm_values == a).astype(float)
    columns["M"] = m
    for a in arms[1:]:
        columns[f"arm[{a}]:M"] = columns[f"arm[{a}]"] * m
    for c in covariates:
        values = rows[c]
        if c in categorical:
            levels = sorted(pd.unique(values.astype(str)))
            for level in levels[1:]:
                columns[f"{c}[{level}]"] = (values.astype(str).to_numpy() == level).astype(float)
        else:
            columns[c] = values.to_numpy(dtype=float)
    frame = pd.DataFrame(columns, index=rows.index)
    if like is not None:
        frame = frame.reindex(columns=like, fill_value=0.0)
    return frame
