"""The explain step: SHAP values, moderator rankings, formal tests, credibility, figures.

:func:`explain` works on plain objects (fitted per-arm models, a feature DataFrame, arm labels,
outcomes) and writes everything into one folder; :func:`explain_run_dir` is the thin adapter that
reads a training run directory (``backpheno train``) and writes into ``<run>/explain/``::

    explain/
      summary.json                  settings, background, methods, additivity checks, timings
      background.csv                participant ids of the shared background sample
      shap/arm_shap.parquet         arm x scale x participant: method, base_value, output, features
      shap/contrast_shap.parquet    contrast x scale x participant: base_value, output, features
      tables/moderator_ranking.csv  contrast x scale x feature: mean |SHAP|, rank, direction
      tables/moderator_stability.csv    rank frequency over resamples (if resamples > 0)
      tables/moderator_permutation.csv  permutation p-values of the top moderators (if any):
                                    p_max (family-wise, accounts for the selection) and
                                    p_value (per feature, unadjusted)
      tables/arm_signal.csv         evidence of signal per arm's model (if known)
      tables/moderation.csv         formal arm x moderator interactions (OR, CI, p, q, RD scale;
                                    OLS beta for a continuous outcome)
      tables/moderation_<outcome>.csv   the same for each related outcome
      tables/credibility.csv        ICEMAN-style summary
      tables/constructs.csv         feature -> construct (features correlated >= construct_r)
      figures/*.png, *.svg          beeswarms, ranking heatmap, dependence plots, forest plot
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, model_validator

from backpheno.config import StrictModel
from backpheno.errors import InputError
from backpheno.explain import plots
from backpheno.explain.credibility import iceman_summary
from backpheno.explain.moderation import moderation_table, outcome_family
from backpheno.explain.moderators import (
    arm_contrasts,
    contrast_shap,
    contrast_table,
    moderator_ranking,
    refit_each_arm,
)
from backpheno.explain.permutation import moderator_permutation_test
from backpheno.explain.shap import (
    SCALES,
    explain_arms,
    primary_scale,
    select_background,
    shap_table,
)
from backpheno.explain.signal import arm_signal, no_signal_arms
from backpheno.explain.stability import rank_stability, resample_indices, resample_rankings
from backpheno.io import atomic_path, write_json
from backpheno.models.cluster import compute_backend
from backpheno.models.rundir import ExplainFolder, RunDirectory

logger = logging.getLogger("backpheno.explain")


class StabilitySettings(StrictModel):
    """Resampling for the rank stability of the SHAP moderators."""

    n_resamples: int = Field(10, ge=0, le=10_000, description="0 to skip")
    scheme: Literal["bootstrap", "subsample"] = Field(
        "bootstrap", description="resampling within each arm: with replacement, or a subsample")
    fraction: float = Field(0.8, gt=0, lt=1, description="subsample share per arm")
    top_k: int = Field(5, ge=1, description="stability = share of resamples with rank <= top_k")


class PermutationSettings(StrictModel):
    """Permutation null of the SHAP moderator importance (every arm refitted per draw)."""

    n_permutations: int = Field(0, ge=0, le=100_000, description="0 to skip")
    strata: list[str] = Field(default_factory=lambda: ["site", "ineligible_arm"],
                              description="columns whose combinations arms are permuted within "
                                          "(missing columns are ignored)")
    top_k: int = Field(5, ge=1, description="moderators per contrast reported")


class Hypothesis(StrictModel):
    """A pre-specified moderator hypothesis (ICEMAN item 1)."""

    moderator: str = Field(description="feature name, e.g. q.pcs.total")
    contrast: str = Field(description="e.g. ACT_vs_ESC")
    direction: Literal["+", "-"] = Field(description="+: higher values favour the first arm")
    source: str | None = Field(None, description="protocol / analysis-plan reference")
    evidence: str | None = Field(None, description="prior evidence (ICEMAN item 2)")


class RelatedOutcome(StrictModel):
    """A further outcome analysed for consistency of the moderators (ICEMAN considerations)."""

    column: str = Field(description="outcomes column, e.g. peg_change_v2")
    orientation: Literal["same", "reversed"] = Field(
        "same", description="reversed: a lower value means a better result (PEG change)")


class FormalSettings(StrictModel):
    """The formal moderation table."""

    candidates: Literal["all", "shap_top"] = Field(
        "all", description="all features, or the union of the SHAP top_k of every contrast")
    top_k: int = Field(5, ge=1, description="SHAP top k per contrast (candidates: shap_top)")
    covariates: list[str] = Field(default_factory=lambda: ["site", "age", "sex"],
                                  description="baseline adjustment columns (missing ones are "
                                              "skipped with a warning)")
    categorical: list[str] = Field(default_factory=lambda: ["site", "sex"],
                                   description="covariates entered as categories")
    adjust: Literal["bh", "holm", "by", "bonferroni"] = Field(
        "bh", description="multiplicity adjustment of q within each family of contrasts")
    ols_se: Literal["HC3", "classical"] = Field(
        "HC3", description="standard errors of the least-squares fit of a continuous outcome: "
                           "HC3 (heteroscedasticity-consistent) or classical (model-based); a "
                           "binary outcome's logistic fit uses model-based SEs")
    alpha: float = Field(0.05, gt=0, lt=1, description="q below this flags an interaction")
    level: float = Field(0.95, gt=0.5, lt=1, description="confidence level of the intervals")
    related_outcomes: list[RelatedOutcome] = Field(
        default_factory=list, description="further outcomes for the consistency check")


class FigureSettings(StrictModel):
    """How many moderators the figures show."""

    max_display: int = Field(15, ge=1, description="features per beeswarm and heatmap")
    dependence: int = Field(4, ge=0, description="dependence plots of the strongest moderators")
    forest_rows: int = Field(25, ge=1, description="rows of the forest plot (smallest p first)")
    forest_by: Literal["construct", "feature"] = Field(
        "construct", description="construct: one forest-plot row per construct and contrast (the "
                                 "best-scoring indicator); feature: every indicator")
    construct_r: float = Field(0.8, gt=0, le=1, description="features with |Spearman r| at "
                                                            "least this form one construct")


class ExplainConfig(StrictModel):
    """Settings of ``backpheno explain``."""

    background_size: int = Field(100, ge=1, description="participants in the shared background")
    background_strata: str | None = Field("site", description="sample the background "
                                                              "proportionally within this column")
    contrasts: list[Literal["pair", "one_vs_rest"]] = Field(
        default_factory=lambda: ["pair", "one_vs_rest"], min_length=1,
        description="every pair of arms and/or each arm against the mean of the others")
    scales: list[Literal["log_odds", "probability"]] = Field(
        default_factory=lambda: list(SCALES), min_length=1,
        description="SHAP scales computed (probability is required: moderators are ranked on "
                    "the risk-difference scale)")
    stability: StabilitySettings = Field(default_factory=StabilitySettings,
                                         description="rank stability over resamples")
    permutation: PermutationSettings = Field(default_factory=PermutationSettings,
                                             description="permutation null of the ranking")
    formal: FormalSettings = Field(default_factory=FormalSettings,
                                   description="the formal arm x moderator table")
    hypotheses: list[Hypothesis] = Field(default_factory=list,
                                         description="pre-specified moderator hypotheses")
    figures: FigureSettings = Field(default_factory=FigureSettings,
                                    description="what the figures show")
    signal_p_level: float = Field(
        0.05, gt=0, lt=1, description="an arm whose AUC permutation p-value (training) is above "
                                      "this, or whose AUC interval contains 0.5, has no evidence "
                                      "of signal: its contrasts are marked")
    n_jobs: int = Field(1, ge=1, le=256, description="worker processes of the refits (also the "
                                                     "size of a 'local' Dask cluster)")
    scheduler_address: str | None = Field(
        None, description="Dask distributed scheduler (tcp://host:8786) that runs the stability "
                          "resamples and permutations, or 'local' for a local cluster of n_jobs "
                          "workers; as for train")
    seed: int = Field(0, ge=0, description="background sample, resamples and permutations")

    @model_validator(mode="after")
    def _probability(self) -> ExplainConfig:
        if "probability" not in self.scales:
            raise ValueError("scales must include probability (moderators are ranked on the "
                             "risk-difference scale)")
        return self


@dataclass
class ExplainInputs:
    """What the explain step needs, as plain objects.

    Attributes
    ----------
    models : dict
        Arm -> fitted model: classifiers with ``predict_proba`` (binary outcome) or regressors
        (continuous outcome; explained on the ``outcome`` scale), pipelines or bare estimators.
    X : DataFrame
        Participants to explain (index participant_id) with every column the models read.
    features : list of str
        The original feature columns (explained, tested as moderators).
    y : Series
        Outcome per participant of ``X`` (binary 0/1 or continuous; NA where unknown).
    arm : Series
        Randomised arm per participant of ``X``.
    covariates : DataFrame
        Baseline columns per participant (site, age, sex, ineligible_arm, related outcomes).
    outcome : str
        Name of the outcome (for tables and text).
    formal_arms : list of str, optional
        Arms of the formal moderation table (default: the arms with a model). The regression
        needs no model, so arms whose model could not be fitted can still be analysed.
    templates : dict, optional
        Arm -> unfitted estimator with the final hyper-parameters, cloned and refitted by the
        stability and permutation analyses (default: clones of ``models``). Needed when the
        fitted models do not carry their hyper-parameters, e.g. an xgboost model loaded from
        its JSON file (its scikit-learn parameters read as None).
    signal : DataFrame, optional
        :func:`~backpheno.explain.signal.arm_signal` of the models (arm, signal, reason, ...):
        contrasts with an arm without signal are marked in the tables and figures.
    """

    models: dict[str, Any]
    X: pd.DataFrame
    features: list[str]
    y: pd.Series
    arm: pd.Series
    covariates: pd.DataFrame
    outcome: str = "responder"
    formal_arms: list[str] | None = None
    templates: dict[str, Any] | None = None
    signal: pd.DataFrame | None = None

    @property
    def scale(self) -> str:
        """``outcome`` for regressors (continuous outcome), ``probability`` for classifiers."""
        return primary_scale(self.models)

    def __post_init__(self) -> None:
        for name in ("y", "arm", "covariates"):
            value = getattr(self, name)
            if not value.index.equals(self.X.index):
                setattr(self, name, value.reindex(self.X.index))
        missing = [f for f in self.features if f not in self.X.columns]
        if missing:
            raise InputError(f"features not in X: {missing[:5]}", column=missing[0])
        if not self.models:
            raise InputError("no fitted arm models to explain")

    @property
    def arms(self) -> list[str]:
        return list(self.models)

    @property
    def arms_without_signal(self) -> dict[str, str]:
        """Explained arms whose model shows no evidence of signal -> why."""
        if self.signal is None:
            return {}
        rows = self.signal[~self.signal["signal"].astype(bool)]
        return {a: r for a, r in zip(rows["arm"], rows["reason"], strict=True) if a in self.models}

    @property
    def trial_arms(self) -> list[str]:
        """Arms of the formal moderation analysis."""
        return list(self.formal_arms or self.arms)

    @property
    def training(self) -> pd.Index:
        """Participants randomised to an explained arm with a known outcome."""
        return self._randomised(self.arms)

    @property
    def analysed(self) -> pd.Index:
        """Participants randomised to a formally analysed arm with a known outcome."""
        return self._randomised(self.trial_arms)

    def permutation_strata(self, columns: Sequence[str]) -> pd.Series | None:
        """The combination of ``columns`` (those present in :attr:`covariates`) per training
        participant, the groups arm labels are permuted within; None without such columns."""
        present = [c for c in columns if c in self.covariates.columns]
        if not present:
            return None
        return (self.covariates.loc[self.training, present].astype("string").fillna("n/a")
                .agg("|".join, axis=1))

    def _randomised(self, arms: list[str]) -> pd.Index:
        keep = self.arm.astype("string").isin(arms).fillna(False) & self.y.notna()
        return self.X.index[keep.to_numpy(dtype=bool)]


@dataclass
class ExplainResult:
    """Tables of the explain step and where they were written."""

    ranking: pd.DataFrame
    moderation: pd.DataFrame
    credibility: pd.DataFrame
    stability: pd.DataFrame | None = None
    permutation: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


def explain(inputs: ExplainInputs, settings: ExplainConfig, out: str | Path) -> ExplainResult:
    """Run every part of the moderator analysis and write it into ``out``.

    Parameters
    ----------
    inputs : ExplainInputs
    settings : ExplainConfig
    out : str or Path
        Folder to write (created; its shap/, tables/ and figures/ subfolders are replaced).
    """
    folder = ExplainFolder(Path(out))
    out = folder.root
    unknown = [r.column for r in settings.formal.related_outcomes
               if r.column not in inputs.covariates.columns]
    if unknown:
        raise InputError(f"related outcome columns {unknown} not found", column=unknown[0])
    for sub in folder.parts:
        shutil.rmtree(out / sub, ignore_errors=True)
    started = time.time()
    timings: dict[str, float] = {}
    paths: dict[str, Path] = {}
    X, features = inputs.X, inputs.features
    strata = (inputs.covariates[settings.background_strata]
              if settings.background_strata in inputs.covariates.columns else None)
    background = select_background(X, settings.background_size, settings.seed, strata)
    paths["background"] = _write_csv(folder.background_csv,
                                     pd.DataFrame({"participant_id": background.index}))

    primary = inputs.scale
    scales = [primary] if primary == "outcome" else list(settings.scales)
    outcome_word = inputs.outcome if primary == "outcome" else None
    logger.info("explain: SHAP values of %d arms for %d participants (background %d)",
                len(inputs.models), len(X), len(background))
    tic = time.time()
    per_arm = explain_arms(inputs.models, X, background, scales=scales, features=features)
    timings["arm_shap_s"] = time.time() - tic
    paths["arm_shap"] = _write_parquet(folder.arm_shap_parquet, shap_table(per_arm))

    contrasts = arm_contrasts(inputs.arms, settings.contrasts)
    weak = inputs.arms_without_signal
    marks = {c.name: ",".join(no_signal_arms(c.weights, list(weak))) for c in contrasts}
    if inputs.signal is not None:
        paths["signal"] = _write_csv(folder.table_csv("arm_signal"), inputs.signal)
    tic = time.time()
    by_scale = {scale: contrast_shap(per_arm, contrasts, scale) for scale in scales}
    timings["contrast_shap_s"] = time.time() - tic
    paths["contrast_shap"] = _write_parquet(
        folder.contrast_shap_parquet,
        pd.concat([contrast_table(r).assign(scale=s) for s, r in by_scale.items()],
                  ignore_index=True))
    rd = by_scale[primary]
    ranking = pd.concat([moderator_ranking(r, X[features]).assign(scale=s)
                         for s, r in by_scale.items()], ignore_index=True)
    ranking["no_signal_arms"] = ranking["contrast"].map(marks)
    paths["ranking"] = _write_csv(folder.table_csv("moderator_ranking"), ranking)
    rd_ranking = ranking[ranking["scale"] == primary].drop(columns="scale")

    training = inputs.training
    fit_arms = refit_each_arm(inputs.templates or inputs.models)
    stability = permutation = None
    with compute_backend(settings.scheduler_address, settings.n_jobs) as n_jobs:
        if settings.stability.n_resamples:
            logger.info("explain: rank stability over %d %s resamples (every arm refitted)",
                        settings.stability.n_resamples, settings.stability.scheme)
            tic = time.time()
            samples = resample_indices(inputs.arm.loc[training], settings.stability.n_resamples,
                                       scheme=settings.stability.scheme,
                                       fraction=settings.stability.fraction, seed=settings.seed)
            rankings = resample_rankings(fit_arms, X.loc[training], inputs.y.loc[training],
                                         inputs.arm.loc[training], background, contrasts, samples,
                                         explain=X, features=features, n_jobs=n_jobs)
            stability = rank_stability(rankings, settings.stability.top_k)
            timings["stability_s"] = time.time() - tic
            paths["stability"] = _write_csv(folder.table_csv("moderator_stability"), stability)

        if settings.permutation.n_permutations:
            logger.info("explain: %d permutations of the arm labels (every arm refitted)",
                        settings.permutation.n_permutations)
            tic = time.time()
            null = moderator_permutation_test(
                fit_arms, X.loc[training], inputs.y.loc[training], inputs.arm.loc[training],
                background, contrasts, rd_ranking,
                n_permutations=settings.permutation.n_permutations,
                strata=inputs.permutation_strata(settings.permutation.strata), explain=X,
                features=features, seed=settings.seed, n_jobs=n_jobs)
            permutation = null.table[null.table["rank"] <= settings.permutation.top_k].assign(
                no_signal_arms=lambda t: t["contrast"].map(marks))
            timings["permutation_s"] = time.time() - tic
            paths["permutation"] = _write_csv(folder.table_csv("moderator_permutation"),
                                              permutation)

    tic = time.time()
    candidates = _candidates(settings, features, rd_ranking)
    logger.info("explain: formal moderation of %d candidate moderators", len(candidates))
    formal_data, covariates = _formal_data(inputs, settings)
    formal_contrasts = arm_contrasts(inputs.trial_arms, settings.contrasts)
    formal = _moderation(formal_data, inputs.outcome, candidates, inputs.trial_arms, covariates,
                         settings, formal_contrasts)
    paths["moderation"] = _write_csv(folder.table_csv("moderation"), formal)
    related = {}
    for other in settings.formal.related_outcomes:
        related[other.column] = _moderation(formal_data, other.column, candidates,
                                            inputs.trial_arms, covariates, settings,
                                            formal_contrasts)
        paths[f"moderation_{other.column}"] = _write_csv(
            folder.table_csv(f"moderation_{_safe(other.column)}"), related[other.column])
    timings["formal_s"] = time.time() - tic

    tested = formal[formal["kind"] != "omnibus"].sort_values("p", kind="stable")
    construct = plots.constructs(X, candidates, list(tested["moderator"].unique()),
                                 settings.figures.construct_r)
    paths["constructs"] = _write_csv(folder.table_csv("constructs"),
                                     construct.rename_axis("feature").reset_index())
    credibility = iceman_summary(formal, ranking=rd_ranking, stability=stability,
                                 hypotheses=[h.model_dump() for h in settings.hypotheses],
                                 related=related,
                                 orientation={r.column: 1 if r.orientation == "same" else -1
                                              for r in settings.formal.related_outcomes},
                                 alpha=settings.formal.alpha)
    paths["credibility"] = _write_csv(folder.table_csv("credibility"), credibility)

    logger.info("explain: figures")
    tic = time.time()
    figures = _figures(per_arm, rd, rd_ranking, formal, X, settings, folder.figures, weak,
                       construct, primary, outcome_word)
    paths.update({f"figure_{name}": path for name, path in figures.items()})
    timings["figures_s"] = time.time() - tic

    summary = {
        "outcome": inputs.outcome,
        "task": "regression" if primary == "outcome" else "classification",
        "scale": primary,
        "arms": inputs.arms,
        "n_explained": len(X),
        "n_training": len(training),
        "formal_arms": inputs.trial_arms,
        "n_formal": len(inputs.analysed),
        "n_per_arm": {a: int((inputs.arm.loc[training].astype(str) == a).sum())
                      for a in inputs.arms},
        "n_features": len(features),
        "n_candidates": len(candidates),
        "background": {"size": len(background), "seed": settings.seed,
                       "strata": settings.background_strata if strata is not None else None,
                       "source": "random sample of the explained participants (all arms)"},
        "methods": {f"{a}/{s}": r.method for (a, s), r in per_arm.items()},
        "max_additivity_error": {
            **{f"arm_{s}": max(r.additivity_error() for (_, scale), r in per_arm.items()
                               if scale == s) for s in scales},
            **{f"contrast_{s}": max(c.additivity_error() for c in by_scale[s].values())
               for s in scales}},
        "contrasts": [{"name": c.name, "kind": c.kind, "weights": c.weights,
                       "label": c.describe("E" if primary == "outcome" else "p"),
                       "no_signal_arms": no_signal_arms(c.weights, list(weak))}
                      for c in contrasts],
        "arms_without_signal": weak,
        "signal_p_level": settings.signal_p_level,
        "moderator_permutation": _familywise_summary(permutation),
        "formal_covariates": covariates,
        "permutation_strata": (
            [c for c in settings.permutation.strata if c in inputs.covariates.columns]
            if settings.permutation.n_permutations else []),
        "figures": {name: str(path.relative_to(out)) for name, path in figures.items()},
        "settings": settings.model_dump(mode="json"),
        "timings": {k: round(v, 2) for k, v in {**timings,
                                                  "total_s": time.time() - started}.items()},
    }
    write_json(folder.summary_json, summary)
    paths["summary"] = folder.summary_json
    logger.info("explain: %d participants, %d features, %d contrasts in %.1f s -> %s", len(X),
                len(features), len(contrasts), time.time() - started, out)
    return ExplainResult(ranking, formal, credibility, stability, permutation, summary, paths)


def explain_run_dir(run_dir: str | Path, settings: ExplainConfig | None = None, *,
                    force: bool = False, allow_changed_inputs: bool = False) -> ExplainResult:
    """Explain the final per-arm models of a ``backpheno train`` run directory.

    The run must be ``complete`` (``force`` uses it anyway) and its input files must match the
    checksums of ``inputs.json`` (``allow_changed_inputs`` turns a mismatch into a warning).
    Reads the run with :func:`run_inputs` and writes ``<run_dir>/explain/``.
    """
    from backpheno.models.rundir import open_run

    settings = settings or ExplainConfig()
    run = open_run(run_dir, force=force, allow_changed_inputs=allow_changed_inputs)
    return explain(run_inputs(run, settings.signal_p_level), settings, run.explain.root)


def run_inputs(run: RunDirectory, signal_p_level: float = 0.05) -> ExplainInputs:
    """The :class:`ExplainInputs` of an opened run directory
    (:func:`backpheno.models.rundir.open_run`).

    Reads the resolved configuration (``config.yaml``), rebuilds the training population and
    feature matrix exactly as training did (:func:`backpheno.models.inputs.load_training_data`),
    loads the per-arm models through the hash-checked manifest
    (:func:`backpheno.models.artifacts.load_models`) and marks the arms without signal
    (``signal_p_level``). The stability and permutation refits use the configured pipeline with
    each arm's tuned hyper-parameters (``best_params`` of the manifest), fixed — the inner search
    is not rerun.
    """
    from sklearn.base import clone

    from backpheno.models.artifacts import load_models
    from backpheno.models.inputs import load_training_data
    from backpheno.models.train import make_tuner

    config = run.config()
    loaded = load_models(run)
    if not loaded:
        raise InputError("the run has no fitted arm model (see models/manifest.json)",
                         file=run.manifest_json)
    metrics = run.metrics() if run.metrics_json.is_file() else None
    signal = arm_signal(metrics, signal_p_level) if metrics else None
    data = load_training_data(config)
    pipeline = make_tuner(config, data).pipeline
    templates = {arm: clone(pipeline).set_params(**(m.entry.get("best_params") or {}))
                 for arm, m in loaded.items()}
    first = next(iter(loaded.values()))
    features = list(first.entry.get("feature_columns", data.feature_columns))
    return ExplainInputs(
        models={arm: m.pipeline for arm, m in loaded.items()},
        X=data.X[first.input_columns], features=features,
        y=data.y.astype("Float64").astype(float), arm=data.outcomes[config.arm_column],
        covariates=data.outcomes, outcome=config.target, formal_arms=list(config.arms),
        templates=templates, signal=signal)


# ------------------------------------------------------------------------------ internals


def _candidates(settings: ExplainConfig, features: list[str],
                ranking: pd.DataFrame) -> list[str]:
    if settings.formal.candidates == "all":
        return list(features)
    top = set(ranking.loc[ranking["rank"] <= settings.formal.top_k, "feature"])
    top |= {h.moderator for h in settings.hypotheses}
    return [f for f in features if f in top]


def _formal_data(inputs: ExplainInputs, settings: ExplainConfig
                 ) -> tuple[pd.DataFrame, list[str]]:
    wanted = settings.formal.covariates
    present = [c for c in wanted if c in inputs.covariates.columns and c not in inputs.features]
    absent = [c for c in wanted if c not in present]
    if absent:
        logger.warning("formal moderation: covariates %s not available; not adjusted for", absent)
    training = inputs.analysed
    extra = [r.column for r in settings.formal.related_outcomes if r.column not in present]
    data = inputs.covariates.loc[training, present + extra].copy()
    data = data.join(inputs.X.loc[training, inputs.features])
    data["__outcome__"] = inputs.y.loc[training]
    data["__arm__"] = inputs.arm.loc[training].astype(str)
    return data.rename(columns={"__outcome__": inputs.outcome}), present


def _moderation(data: pd.DataFrame, outcome: str, candidates: list[str], arms: list[str],
                covariates: list[str], settings: ExplainConfig,
                contrasts: Sequence) -> pd.DataFrame:
    cov_type = None
    if outcome_family(data[outcome]) == "gaussian":
        cov_type = "HC3" if settings.formal.ols_se == "HC3" else "nonrobust"
    return moderation_table(data, outcome=outcome, arm="__arm__", moderators=candidates,
                            arms=arms, covariates=covariates,
                            categorical=settings.formal.categorical, contrasts=contrasts,
                            level=settings.formal.level, adjust=settings.formal.adjust,
                            cov_type=cov_type)


def _familywise_summary(permutation: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Per contrast: the top moderator and its family-wise permutation p (the global test of
    any SHAP moderation in the contrast)."""
    if permutation is None or permutation.empty:
        return []
    top = permutation.sort_values("rank").groupby("contrast", sort=False).head(1)
    return [{"contrast": r.contrast, "top_feature": r.feature, "p_familywise": float(r.p_max),
             "p_familywise_all_contrasts": float(r.p_max_all),
             "n_permutations": int(r.n_permutations)} for r in top.itertuples(index=False)]


def _figures(per_arm: Mapping, rd: Mapping, ranking: pd.DataFrame, formal: pd.DataFrame,
             X: pd.DataFrame, settings: ExplainConfig, folder: Path,
             weak: Mapping[str, str], construct: pd.Series, primary: str = "probability",
             outcome: str | None = None) -> dict[str, Path]:
    figs = {}
    for (arm, scale), result in per_arm.items():
        if scale == primary:
            figs[f"beeswarm_{_safe(arm)}"] = plots.beeswarm(
                result, X, settings.figures.max_display, no_signal=arm in weak,
                outcome=outcome or "response")
    quantity = f"the predicted difference in {outcome}" if outcome else "the risk difference"
    figs["moderator_ranking"] = plots.moderator_heatmap(ranking, settings.figures.max_display,
                                                        no_signal=list(weak), quantity=quantity)
    predictions = pd.DataFrame({arm: r.output for (arm, scale), r in per_arm.items()
                                if scale == primary})
    pairs = ranking[ranking["kind"] == "pair"].sort_values(["rank", "mean_abs_shap"],
                                                           ascending=[True, False])
    shown: list[str] = []
    for row in pairs.itertuples(index=False):
        if len(shown) >= settings.figures.dependence:
            break
        if row.feature in shown:
            continue
        shown.append(row.feature)
        figs[f"dependence_{_safe(row.feature)}__{_safe(row.contrast)}"] = plots.dependence_by_arm(
            row.feature, X, predictions, rd[row.contrast], no_signal=list(weak),
            outcome=outcome)
    pair_rows = formal[formal["kind"] == "pair"]
    if pair_rows["estimate"].notna().any():
        figs["forest_interactions"] = plots.forest_plot(
            pair_rows, settings.figures.forest_rows,
            construct=construct.to_dict() if settings.figures.forest_by == "construct" else None)
    written = plots.write_figures(figs, folder)
    return {name: files["png"] for name, files in written.items()}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def _write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path
