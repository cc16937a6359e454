"""``backpheno train``: one outcome model per treatment arm, honestly evaluated.

A binary target (responder) gets classifiers, a continuous one (change in PEG) regressors
(``task``; inferred from the target when not configured).

For every configured arm: the participants randomised to it with a known target form the
training set; a nested cross-validation (:mod:`backpheno.models.cv`) gives out-of-fold
predictions, which are scored (:mod:`backpheno.models.metrics`) and tested against label
permutations (:mod:`backpheno.models.permutation`); the tuned pipeline is then refitted on all of
the arm's participants and saved (:mod:`backpheno.models.artifacts`). An arm with too few
responders or non-responders for the cross-validation scheme gets the status
``insufficient_data`` and a reason instead of a model; an arm whose fitting fails on bad input
gets ``failed`` — the other arms still run.

Counterfactual predictions: every participant of the population gets a predicted probability of
response (or predicted outcome, ``prediction``, for regression) under every
arm's model — out-of-fold (averaged over repeats) for the arm they were randomised to, the
arm's final model otherwise.

:func:`train` runs the stages in order: input loading (:mod:`backpheno.models.inputs`), pipeline
assembly (:func:`make_tuner`), per-arm nested CV and metrics, the permutations of all arms as
one list of tasks, final models (:func:`train_arms`), counterfactual prediction
(:func:`counterfactual_predictions`) and writing outputs (:mod:`backpheno.models.outputs`).
"""

from __future__ import annotations

import functools
import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.pipeline import Pipeline

from backpheno.errors import BackphenoError, ConfigError, InputError
from backpheno.io import json_clean, write_text
from backpheno.lock import output_lock
from backpheno.models.cluster import compute_backend
from backpheno.models.config import TrainConfig
from backpheno.models.cv import (
    PREDICTION_COLUMNS,
    CVProblem,
    CVResult,
    InnerCV,
    Tuner,
    cv_feasibility,
    nested_cvs,
    outer_splits,
    regression_feasibility,
)
from backpheno.models.inputs import TrainingData, load_training_data
from backpheno.models.metrics import (
    calibration_curve,
    delong,
    evaluate,
    flatten,
    per_group,
    widened_auc_ci,
)
from backpheno.models.outputs import write_outputs
from backpheno.models.permutation import (
    PermutationProblem,
    PermutationResult,
    oof_statistic,
    permutation_nulls,
    permutation_result,
)
from backpheno.models.pipelines import (
    build_pipeline,
    input_columns,
    resolve_device,
    search_space,
)
from backpheno.models.regression_metrics import (
    calibration_bins,
    evaluate_regression,
    per_group_regression,
)
from backpheno.models.rundir import (
    STATUS_FAILED,
    STATUS_INSUFFICIENT,
    STATUS_OK,
    RunDirectory,
    now,
)
from backpheno.progress import log_to_file, stop_logging_to

logger = logging.getLogger("backpheno.models")

@dataclass
class ArmResult:
    """What training produced for one arm."""

    arm: str
    status: str
    reason: str = ""
    n: int = 0
    n_responders: int | None = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    cv: CVResult | None = None
    permutation: PermutationResult | None = None
    model: Pipeline | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    per_site: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able metrics entry of this arm."""
        out: dict[str, Any] = {"status": self.status, "n": self.n}
        if self.n_responders is not None:
            out["n_responders"] = self.n_responders
        if self.reason:
            out["reason"] = self.reason
        if self.status == STATUS_OK:
            out.update(self.metrics)
            out["best_params"] = self.best_params
            out["permutation"] = self.permutation.as_dict() if self.permutation else None
            if self.per_site is not None:
                out["per_site"] = self.per_site.to_dict(orient="records")
        return json_clean(out)


@dataclass
class TrainResult:
    """All arms' results, the counterfactual predictions and where they were written."""

    config: TrainConfig
    arms: dict[str, ArmResult]
    counterfactual: pd.DataFrame
    run_dir: RunDirectory | None = None
    task: str = "classification"

    def metrics_table(self) -> pd.DataFrame:
        """One row per arm with the main metrics (flattened)."""
        rows = []
        for arm, result in self.arms.items():
            summary = {k: v for k, v in result.summary().items() if k != "per_site"}
            rows.append({"arm": arm, **flatten(summary)})
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------------- arms


def make_tuner(config: TrainConfig, data: TrainingData) -> Tuner:
    """Pipeline assembly: the pipeline and inner search described by ``config`` for the blocks
    of ``data``."""
    unknown = config.model.unknown_parameters((data.task,))
    if unknown:
        raise ConfigError(f"model hyper-parameters {unknown} do not apply to the {data.task} "
                          f"model {config.model.name} (task {data.task} from the target "
                          f"{config.target}); see docs/training.md")
    combat = {"site": config.combat.site, "covariates": list(config.combat.covariates),
              "categorical": list(config.combat.categorical),
              "unseen_site": config.combat.unseen_site,
              "min_site_size": config.combat.min_site_size,
              "small_site": config.combat.small_site, "eb": config.combat.eb,
              "mean_only": config.combat.mean_only}
    pipeline = build_pipeline(
        data.blocks, model=config.model.name, model_params=config.model.params,
        combat=combat if data.harmonized_columns else None,
        impute=config.preprocess.impute, missing_indicator=config.preprocess.missing_indicator,
        scale=config.preprocess.scale, filter_k=config.preprocess.filter_k, seed=config.seed,
        device=resolve_device(config.model.device) if config.model.name == "xgboost" else "cpu",
        task=data.task)
    space = search_space(config.model.search.space)
    grouped = config.cv.scheme != "stratified_kfold"
    inner = InnerCV(config.cv.inner_folds, grouped, config.seed,
                    stratified=data.task == "classification")
    return Tuner(pipeline, space, inner, kind=config.model.search.kind,
                 n_iter=config.model.search.n_iter, scoring=config.scoring(data.task),
                 seed=config.seed, task=data.task)


def _combat_feasibility(config: TrainConfig, data: TrainingData, rows: pd.Index) -> str | None:
    if not data.harmonized_columns or config.combat.small_site == "passthrough":
        return None
    has_data = data.X.loc[rows, data.harmonized_columns].notna().any(axis=1)
    sites = data.X.loc[rows, config.combat.site][has_data].astype(str)
    fraction = 1.0 if config.cv.scheme == "leave_group_out" else (
        (config.cv.outer_folds - 1) / config.cv.outer_folds)
    if config.model.search.space:
        fraction *= (config.cv.inner_folds - 1) / config.cv.inner_folds
    small = {s: int(n) for s, n in sites.value_counts().items()
             if math.floor(n * fraction) < config.combat.min_site_size}
    if small:
        return (f"site(s) {small} have too few participants with harmonised features for "
                f"ComBat inside the folds (about {fraction:.0%} of a site reaches an inner "
                f"training set; combat.min_site_size={config.combat.min_site_size}); merge "
                "small sites, lower min_site_size or set combat.small_site: passthrough")
    return None


def train_arm(config: TrainConfig, data: TrainingData, arm: str, tuner: Tuner,
              n_jobs: int | None = None) -> ArmResult:
    """Nested CV, metrics, permutation test and final model for one arm (folds and
    permutations in ``n_jobs`` parallel tasks, default ``config.n_jobs``)."""
    return train_arms(config, data, [arm], tuner, n_jobs)[arm]


def train_arms(config: TrainConfig, data: TrainingData, arms: Sequence[str], tuner: Tuner,
               n_jobs: int | None = None) -> dict[str, ArmResult]:
    """:func:`train_arm` for several arms, their folds and permutations as flat lists of tasks.

    The outer folds of every arm's nested CV are the tasks of one parallel map
    (:func:`~backpheno.models.cv.nested_cvs`), then the permuted runs of every arm those of
    another (:func:`~backpheno.models.permutation.permutation_nulls`), so ``n_jobs`` workers (or
    a Dask cluster) stay busy across arms instead of waiting at the end of each arm; then each
    arm's metrics, p-value and final model. An arm whose fitting fails on the input fails alone.
    """
    n_jobs = config.n_jobs if n_jobs is None else n_jobs
    results: dict[str, ArmResult] = {}
    problems: dict[str, PermutationProblem] = {}
    for arm in arms:
        results[arm], problem = _arm_problem(config, data, arm, tuner)
        if problem is not None:
            problems[arm] = problem
    cv_problems = [CVProblem(p.tuner, p.X, p.y, p.make_splits(p.y, n_repeats=config.cv.repeats),
                             p.groups, name=f"{arm}: nested CV")
                   for arm, p in problems.items()]
    cvs = nested_cvs(cv_problems, n_jobs,
                     description=f"nested CV of {len(problems)} arm(s)") if problems else []
    for arm, cv in zip(list(problems), cvs, strict=True):
        result = results[arm]
        try:
            if isinstance(cv, str):
                raise InputError(cv)
            result.cv = cv
            (_score_regression if data.task == "regression" else _score)(config, data, result)
        except BackphenoError as err:
            _fail(result, err)
            del problems[arm]
    permuted = [arm for arm in problems if config.permutation.n_permutations]
    nulls = dict(zip(permuted, permutation_nulls(
        [replace(problems[arm], make_splits=functools.partial(
            problems[arm].make_splits, n_repeats=config.permutation.repeats))
         for arm in permuted], n_jobs,
        description=f"permutations of {len(permuted)} arm(s)") if permuted else [],
        strict=True))
    for arm, result in results.items():
        if result.status == STATUS_OK:
            _finish_arm(config, result, problems[arm], nulls.get(arm), tuner)
        _log_arm(result)
    return results


def _arm_problem(config: TrainConfig, data: TrainingData, arm: str,
                 tuner: Tuner) -> tuple[ArmResult, PermutationProblem | None]:
    """One arm's result so far and its data as a permutation problem (``make_splits`` still
    taking ``n_repeats``), or ``None`` when the arm cannot be trained (the reason is on the
    result)."""
    arm_rows = data.outcomes[config.arm_column].astype(str) == arm
    labelled = arm_rows & data.y.notna()
    rows = data.outcomes.index[labelled.to_numpy()]
    regression = data.task == "regression"
    y = data.y.loc[rows].to_numpy(dtype=float if regression else int)
    result = ArmResult(arm, STATUS_OK, n=len(rows),
                       n_responders=None if regression else int(y.sum()))
    logger.info("arm %s: %d participants", arm, len(rows))
    groups = (data.outcomes.loc[rows, config.cv.groups].astype(str).to_numpy()
              if config.cv.groups and config.cv.scheme != "stratified_kfold" else None)
    if regression:
        reason = regression_feasibility(y, scheme=config.cv.scheme,
                                        n_splits=config.cv.outer_folds,
                                        inner_splits=config.cv.inner_folds,
                                        min_size=config.cv.min_class_size, groups=groups)
    else:
        reason = cv_feasibility(y, scheme=config.cv.scheme, n_splits=config.cv.outer_folds,
                                inner_splits=config.cv.inner_folds,
                                min_class_size=config.cv.min_class_size, groups=groups,
                                label="responders")
    reason = reason or _combat_feasibility(config, data, rows)
    if reason:
        result.status, result.reason = STATUS_INSUFFICIENT, f"arm {arm}: {reason}"
        logger.warning("%s; no model for this arm", result.reason)
        return result, None
    make_splits = functools.partial(outer_splits, scheme=config.cv.scheme,
                                    n_splits=config.cv.outer_folds, groups=groups,
                                    seed=config.seed, task=data.task)
    strata = (data.outcomes.loc[rows, config.permutation.strata].astype(str).to_numpy()
              if config.permutation.strata else None)
    return result, PermutationProblem(tuner, data.X.loc[rows], y, make_splits,
                                      config.permutation.n_permutations, groups, strata,
                                      repeats=config.permutation.repeats, seed=config.seed)


def _finish_arm(config: TrainConfig, result: ArmResult, problem: PermutationProblem,
                null: np.ndarray | str | None, tuner: Tuner) -> None:
    """Permutation p-value (from the arm's ``null``) and final model of an arm whose nested CV
    ran; the arm fails if a permuted run or the final fit fails on the input."""
    assert result.cv is not None
    if isinstance(null, str):
        _fail(result, null)
        return
    if null is not None:
        result.permutation = permutation_result(
            oof_statistic(result.cv, problem.repeats), null, task=tuner.task, seed=config.seed,
            tail=config.permutation.tail, tail_p_threshold=config.permutation.tail_p_threshold)
        if tuner.task != "regression":
            result.metrics["auc_widened"] = widened_auc_ci(
                result.metrics["auc"], result.permutation.null, config.metrics.level)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result.model, result.best_params, _ = tuner.fit(problem.X, problem.y,
                                                            problem.groups)
    except BackphenoError as err:
        _fail(result, err)
        return
    messages = sorted({str(w.message) for w in caught})
    for message in messages[:3]:
        logger.warning("arm %s, final model: %s", result.arm, message)
    if len(messages) > 3:
        logger.warning("arm %s, final model: %d more warnings", result.arm, len(messages) - 3)


def _fail(result: ArmResult, err: BackphenoError | str) -> None:
    result.status, result.reason = STATUS_FAILED, f"arm {result.arm}: {err}"
    result.model = None
    logger.error("%s", result.reason)


def _score(config: TrainConfig, data: TrainingData, result: ArmResult) -> None:
    assert result.cv is not None
    mean = result.cv.mean_oof()
    y = mean["y"].to_numpy(dtype=int)
    p = mean["p_response"].to_numpy(dtype=float)
    threshold = (mean["train_prevalence"].to_numpy(dtype=float)
                 if config.metrics.threshold == "prevalence" else float(config.metrics.threshold))
    metrics = evaluate(y, p, threshold=threshold, level=config.metrics.level,
                       n_bootstrap=config.metrics.n_bootstrap, seed=config.seed)
    long = result.cv.oof()
    per_repeat = [delong(g["y"].to_numpy(), g["p_response"].to_numpy())[0]
                  for _, g in long.groupby("repeat")]
    metrics["auc_repeats"] = {"mean": float(np.mean(per_repeat)),
                              "sd": float(np.std(per_repeat, ddof=1)) if len(per_repeat) > 1
                              else float("nan"), "n": len(per_repeat)}
    metrics["threshold"] = ("training-fold prevalence" if config.metrics.threshold == "prevalence"
                            else float(config.metrics.threshold))
    metrics["cv"] = {"scheme": config.cv.scheme, "outer_folds": config.cv.outer_folds,
                     "inner_folds": config.cv.inner_folds, "repeats": config.cv.repeats}
    result.metrics = metrics
    site_column = config.combat.site
    if site_column in data.outcomes.columns:
        sites = data.outcomes.loc[mean.index, site_column].astype(str).to_numpy()
        result.per_site = per_group(y, p, sites, threshold=threshold, level=config.metrics.level,
                                    min_size=config.metrics.min_group_size)
    result.calibration = calibration_curve(y, p, config.metrics.calibration_bins,
                                           config.metrics.level)


def _score_regression(config: TrainConfig, data: TrainingData, result: ArmResult) -> None:
    assert result.cv is not None
    column = result.cv.column
    mean = result.cv.mean_oof()
    y = mean["y"].to_numpy(dtype=float)
    p = mean[column].to_numpy(dtype=float)
    metrics = evaluate_regression(y, p, level=config.metrics.level,
                                  n_bootstrap=config.metrics.n_bootstrap, seed=config.seed)
    per_repeat = [evaluate_regression(g["y"], g[column], n_bootstrap=0)["r2"]["estimate"]
                  for _, g in result.cv.oof().groupby("repeat")]
    metrics["r2_repeats"] = {"mean": float(np.mean(per_repeat)),
                             "sd": float(np.std(per_repeat, ddof=1)) if len(per_repeat) > 1
                             else float("nan"), "n": len(per_repeat)}
    metrics["cv"] = {"scheme": config.cv.scheme, "outer_folds": config.cv.outer_folds,
                     "inner_folds": config.cv.inner_folds, "repeats": config.cv.repeats,
                     "stratified": False}
    result.metrics = metrics
    site_column = config.combat.site
    if site_column in data.outcomes.columns:
        sites = data.outcomes.loc[mean.index, site_column].astype(str).to_numpy()
        result.per_site = per_group_regression(y, p, sites,
                                               min_size=config.metrics.min_group_size)
    result.calibration = calibration_bins(y, p, config.metrics.calibration_bins,
                                          config.metrics.level)


# ----------------------------------------------------------------------- counterfactual


def predict_values(model: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """A classifier's ``predict_proba[:, 1]`` or a regressor's ``predict``."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return np.asarray(model.predict(X), dtype=float)


def predict_with_fallback(model: Pipeline, X: pd.DataFrame, site_column: str | None) -> np.ndarray:
    """:func:`predict_values`; if the input is refused (e.g. a site ComBat never saw, with
    ``unseen_site='error'``), predict site by site, then participant by participant within a
    refused site, and leave refused participants NaN (logged)."""
    try:
        return predict_values(model, X)
    except InputError as err:
        if site_column is None or site_column not in X.columns:
            raise
        logger.warning("prediction refused (%s); predicting site by site", err)
    out = np.full(len(X), np.nan)
    sites = X[site_column].astype(str).fillna("n/a")
    for site, index in X.groupby(sites, observed=True).indices.items():
        try:
            out[index] = predict_values(model, X.iloc[index])
            continue
        except InputError:
            pass
        for i in index:
            try:
                out[i] = predict_values(model, X.iloc[[i]])[0]
            except InputError as err:
                logger.warning("no prediction for %s (site %s): %s", X.index[i], site, err)
    return out


def counterfactual_predictions(config: TrainConfig, data: TrainingData,
                               arms: dict[str, ArmResult]) -> pd.DataFrame:
    """Every participant x every arm: the prediction and where it came from.

    Columns: participant_id, arm, p_response (classification) or prediction (regression: the
    predicted outcome), source (``oof`` for the randomised arm's
    out-of-fold prediction, ``model`` for the arm's final model, ``none`` where the arm has no
    model), randomized_arm, in_training (participant trained that arm's model), eligible (the arm
    is not the participant's contraindicated arm).
    """
    randomized = data.outcomes[config.arm_column].astype(str)
    ineligible = (data.outcomes["ineligible_arm"].astype(object)
                  if "ineligible_arm" in data.outcomes.columns else None)
    site_column = config.combat.site if config.combat.site in data.X.columns else None
    column = PREDICTION_COLUMNS[data.task]
    frames = []
    for arm, result in arms.items():
        frame = pd.DataFrame({"participant_id": data.X.index, "arm": arm,
                              column: np.nan, "source": "none",
                              "randomized_arm": randomized.to_numpy(),
                              "in_training": False})
        if result.status == STATUS_OK and result.model is not None and result.cv is not None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frame[column] = predict_with_fallback(result.model, data.X, site_column)
            for message in sorted({str(w.message) for w in caught}):
                logger.warning("arm %s, counterfactual predictions: %s", arm, message)
            frame["source"] = "model"
            oof = result.cv.mean_oof()[column]
            own = frame["participant_id"].isin(oof.index).to_numpy()
            frame.loc[own, column] = oof.reindex(frame.loc[own, "participant_id"]).to_numpy()
            frame.loc[own, "source"] = "oof"
            frame["in_training"] = own
        frame["eligible"] = (True if ineligible is None
                             else (ineligible.astype(str).to_numpy() != arm))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------- the run


def train(config: TrainConfig, run_dir: str | Path | None = None, *,
          overwrite: bool = False) -> TrainResult:
    """Train, evaluate and save every arm; write the run directory.

    The run directory is locked while training (:func:`backpheno.lock.output_lock`): a second
    ``train``, ``explain`` or ``report`` on it stops with an error naming the holder.

    Parameters
    ----------
    config : TrainConfig
    run_dir : str or Path, optional
        The run directory to create; default ``<config.output>/<name>-<timestamp>``.
    overwrite : bool
        Replace an existing non-empty run directory.
    """
    path = Path(run_dir or config.output / RunDirectory.default_name(config.name))
    with output_lock(path, "train"):
        return _train(config, RunDirectory.create(path, overwrite=overwrite))


def _train(config: TrainConfig, run: RunDirectory) -> TrainResult:
    """:func:`train` into the created, locked run directory ``run``."""
    handler = log_to_file(run.log)
    started = time.time()
    resolved = config.model_dump(mode="json")
    try:
        run.write_status(status="running", started=now(), name=config.name)
        write_text(run.config_yaml, yaml.safe_dump(resolved, sort_keys=False))
        run.write_environment()
        run.write_inputs({"features": config.features, "outcomes": config.outcomes})
        data = load_training_data(config)
        used = {b.name for b in data.blocks}
        resolved.update(task=data.task, population=data.population,
                        blocks=[b for b in resolved["blocks"] if b["name"] in used])
        write_text(run.config_yaml, yaml.safe_dump(resolved, sort_keys=False))
        logger.info("population: %d participants, %d features in %d blocks (%s)", len(data.X),
                    len(data.feature_columns), len(data.blocks),
                    ", ".join(f"{b.name}={len(b.columns)}" for b in data.blocks))
        tuner = make_tuner(config, data)
        with compute_backend(config.scheduler_address, config.n_jobs) as n_jobs:
            arms = train_arms(config, data, config.arms, tuner, n_jobs)
        counterfactual = counterfactual_predictions(config, data, arms)
        result = TrainResult(config, arms, counterfactual, run, data.task)
        write_outputs(run, result, data, input_columns(tuner.pipeline), resolved)
        run.write_status(status="complete", finished=now(),
                         seconds=round(time.time() - started, 1),
                         arms={a: r.status for a, r in arms.items()})
        return result
    except BaseException as err:
        run.write_status(status="failed", finished=now(), error=str(err))
        raise
    finally:
        stop_logging_to(handler)


def _log_arm(result: ArmResult) -> None:
    if result.status != STATUS_OK:
        return
    if "r2" in result.metrics:
        r2, rmse = result.metrics["r2"], result.metrics["rmse"]
        message = (f"arm {result.arm}: n={result.n}, OOF R2 {r2['estimate']:.3f} "
                   f"[{r2['ci_low']:.3f}, {r2['ci_high']:.3f}], RMSE {rmse['estimate']:.3g}")
        if result.permutation is not None:
            message += f", permutation p={result.permutation.p_value:.3f}"
        logger.info(message)
        return
    auc = result.metrics["auc"]
    message = (f"arm {result.arm}: n={result.n} ({result.n_responders} responders), OOF AUC "
               f"{auc['estimate']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}]")
    if result.permutation is not None:
        message += (f", permutation p={result.permutation.p_value:.3g} "
                    f"({result.permutation.method})")
    logger.info(message)


