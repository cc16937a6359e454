"""``backpheno train``: one response classifier per treatment arm, honestly evaluated.

For every configured arm: the participants randomised to it with a known target form the
training set; a nested cross-validation (:mod:`backpheno.models.cv`) gives out-of-fold
predictions, which are scored (:mod:`backpheno.models.metrics`) and tested against label
permutations (:mod:`backpheno.models.permutation`); the tuned pipeline is then refitted on all of
the arm's participants and saved (:mod:`backpheno.models.artifacts`). An arm with too few
responders or non-responders for the cross-validation scheme gets the status
``insufficient_data`` and a reason instead of a model; an arm whose fitting fails on bad input
gets ``failed`` — the other arms still run.

Counterfactual predictions: every participant of the population gets a predicted probability of
response under every arm's model — out-of-fold (averaged over repeats) for the arm they were
randomised to, the arm's final model otherwise.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.pipeline import Pipeline

from backpheno.config import TrainConfig
from backpheno.errors import BackphenoError, InputError
from backpheno.io import atomic_path, write_json, write_text
from backpheno.models import artifacts, figures
from backpheno.models.cv import (
    CVResult,
    InnerCV,
    Tuner,
    cv_feasibility,
    nested_cv,
    outer_splits,
)
from backpheno.models.finite import require_finite
from backpheno.models.metrics import (
    calibration_curve,
    delong,
    evaluate,
    flatten,
    per_group,
    widened_auc_ci,
)
from backpheno.models.permutation import PermutationResult, oof_auc, permutation_test
from backpheno.models.pipelines import (
    Block,
    BlockSpec,
    build_pipeline,
    input_columns,
    search_space,
    select_blocks,
)
from backpheno.models.rundir import RunDirectory, environment_info, input_checksums, now
from backpheno.progress import log_to_file, stop_logging_to
from backpheno.table import read_feature_table

logger = logging.getLogger("backpheno.models")

STATUS_OK = "ok"
STATUS_INSUFFICIENT = "insufficient_data"
STATUS_FAILED = "failed"


@dataclass
class TrainingData:
    """Everything the arms are trained on.

    Attributes
    ----------
    X : DataFrame
        Index participant_id (the population); feature columns plus the site / covariate columns
        ComBat needs.
    outcomes : DataFrame
        The outcomes rows of the same participants.
    y : Series
        The target as nullable integers (0/1/NA).
    blocks : list of Block
    """

    X: pd.DataFrame
    outcomes: pd.DataFrame
    y: pd.Series
    blocks: list[Block]

    @property
    def feature_columns(self) -> list[str]:
        return [c for b in self.blocks for c in b.columns]


@dataclass
class ArmResult:
    """What training produced for one arm."""

    arm: str
    status: str
    reason: str = ""
    n: int = 0
    n_responders: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    cv: CVResult | None = None
    permutation: PermutationResult | None = None
    model: Pipeline | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    per_site: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able metrics entry of this arm."""
        out = {"status": self.status, "n": self.n, "n_responders": self.n_responders}
        if self.reason:
            out["reason"] = self.reason
        if self.status == STATUS_OK:
            out.update(self.metrics)
            out["best_params"] = self.best_params
            out["permutation"] = self.permutation.as_dict() if self.permutation else None
            if self.per_site is not None:
                out["per_site"] = self.per_site.to_dict(orient="records")
        return _json_clean(out)


@dataclass
class TrainResult:
    """All arms' results, the counterfactual predictions and where they were written."""

    config: TrainConfig
    arms: dict[str, ArmResult]
    counterfactual: pd.DataFrame
    run_dir: RunDirectory | None = None

    def metrics_table(self) -> pd.DataFrame:
        """One row per arm with the main metrics (flattened)."""
        rows = []
        for arm, result in self.arms.items():
            summary = {k: v for k, v in result.summary().items() if k != "per_site"}
            rows.append({"arm": arm, **flatten(summary)})
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------------- inputs


def read_outcomes(path: str | Path) -> pd.DataFrame:
    """Read the outcomes Parquet (index or column ``participant_id``, one row per participant)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("outcomes table not found", file=path)
    frame = pd.read_parquet(path)
    if frame.index.name != "participant_id":
        if "participant_id" not in frame.columns:
            raise InputError("outcomes table has no participant_id index or column", file=path,
                             column="participant_id")
        frame = frame.set_index("participant_id")
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()].unique()[:5].tolist()
        raise InputError(f"outcomes table has duplicated participants {dup}", file=path)
    return frame


def binary_target(values: pd.Series, column: str, file: Path | None = None) -> pd.Series:
    """The target as nullable Int64 0/1; refuses anything that is not binary."""
    if pd.api.types.is_bool_dtype(values) or str(values.dtype) == "boolean":
        return values.astype("boolean").astype("Int64")
    if pd.api.types.is_numeric_dtype(values):
        observed = set(pd.unique(values.dropna()))
        if observed <= {0, 1}:
            return values.astype("Int64")
    observed = sorted(map(str, pd.unique(values.dropna())))[:6]
    raise InputError(f"target must be binary (boolean or 0/1), found values {observed}; "
                     "multi-class and continuous targets are not supported by train",
                     column=column, file=file)


def load_training_data(config: TrainConfig) -> TrainingData:
    """Read and check the feature table and the outcomes, select the population and blocks.

    Raises
    ------
    InputError
        Missing columns, no rows for the session, an empty population or no features.
    """
    table = read_feature_table(config.features)
    features = table.session(config.session)
    if features.empty:
        raise InputError(f"no rows for session {config.session}", file=config.features)
    outcomes = read_outcomes(config.outcomes)
    _require_columns(outcomes, _needed_columns(config), config.outcomes)

    population = outcomes
    if config.population == "deep":
        population = population[population[config.deep_column].astype("boolean").fillna(False)]
    for column, allowed in config.subset.items():
        population = population[population[column].isin(allowed)]
    missing_rows = population.index.difference(features.index)
    if len(missing_rows):
        logger.warning("%d participants of the population have no %s row in the feature table "
                       "and are left out (e.g. %s)", len(missing_rows), config.session,
                       list(missing_rows[:3]))
    keep = population.index.intersection(features.index, sort=False)
    if len(keep) == 0:
        raise InputError("no participant is both in the population (population / subset) and "
                         "in the feature table", file=config.outcomes)
    population = population.loc[keep]

    specs = [BlockSpec(b.name, tuple(b.modalities), b.include, b.exclude, b.harmonize,
                       tuple(b.steps)) for b in config.blocks]
    blocks = select_blocks(table.codebook, list(features.columns), specs)
    if not blocks:
        raise InputError("no feature matches the configured blocks (modalities "
                         f"{sorted({m for b in config.blocks for m in b.modalities})}, role "
                         "feature)", file=config.features)
    for spec in specs:
        if spec.name not in {b.name for b in blocks}:
            logger.warning("block %s has no features in this table; skipped", spec.name)
    columns = [c for b in blocks for c in b.columns]
    X = features.loc[keep, columns].astype(float)
    require_finite(X, columns, config.features)
    aux = _aux_columns(config, blocks)
    clash = set(aux) & set(X.columns)
    if clash:
        raise InputError(f"outcomes columns {sorted(clash)} clash with feature names")
    for column in aux:
        X[column] = population[column]
    _check_combat_inputs(X, blocks, aux, config.outcomes)
    y = binary_target(population[config.target], config.target, config.outcomes)
    return TrainingData(X, population, y, blocks)


def _needed_columns(config: TrainConfig) -> list[str]:
    needed = [config.arm_column, config.target, *config.subset]
    if config.population == "deep":
        needed.append(config.deep_column)
    if any(b.harmonize for b in config.blocks):
        needed += [config.combat.site, *config.combat.covariates]
    for optional in (config.cv.groups, config.permutation.strata):
        if optional:
            needed.append(optional)
    return list(dict.fromkeys(needed))


def _aux_columns(config: TrainConfig, blocks: list[Block]) -> list[str]:
    if any(b.harmonize for b in blocks):
        return [config.combat.site, *config.combat.covariates]
    return []


def _check_combat_inputs(X: pd.DataFrame, blocks: list[Block], aux: list[str],
                         file: Path) -> None:
    """Site and covariates must be known for everyone with harmonised features."""
    harmonized = [c for b in blocks if b.harmonize for c in b.columns]
    if not harmonized:
        return
    with_data = X[harmonized].notna().any(axis=1)
    for column in aux:
        lacking = X.index[with_data & X[column].isna()]
        if len(lacking):
            raise InputError(f"missing for {len(lacking)} participant(s) with harmonised "
                             f"features (ComBat needs it), e.g. {list(lacking[:5])}",
                             file=file, column=column)


def _require_columns(frame: pd.DataFrame, columns: list[str], file: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"outcomes table lacks columns {missing} named in the configuration",
                         file=file, column=missing[0])


# --------------------------------------------------------------------------------- arms


def make_tuner(config: TrainConfig, blocks: list[Block]) -> Tuner:
    """The pipeline and inner search described by ``config``."""
    combat = {"site": config.combat.site, "covariates": list(config.combat.covariates),
              "categorical": list(config.combat.categorical),
              "unseen_site": config.combat.unseen_site,
              "min_site_size": config.combat.min_site_size,
              "small_site": config.combat.small_site, "eb": config.combat.eb,
              "mean_only": config.combat.mean_only}
    pipeline = build_pipeline(
        blocks, model=config.model.name, model_params=config.model.params,
        combat=combat if any(b.harmonize for b in blocks) else None,
        impute=config.preprocess.impute, missing_indicator=config.preprocess.missing_indicator,
        scale=config.preprocess.scale, filter_k=config.preprocess.filter_k, seed=config.seed)
    space = search_space(config.model.search.space)
    grouped = config.cv.scheme != "stratified_kfold"
    return Tuner(pipeline, space, InnerCV(config.cv.inner_folds, grouped, config.seed),
                 kind=config.model.search.kind, n_iter=config.model.search.n_iter,
                 scoring=config.model.search.scoring, seed=config.seed)


def _splits(y: np.ndarray, *, scheme: str, n_splits: int, n_repeats: int,
            groups: np.ndarray | None, seed: int) -> list:
    return outer_splits(y, scheme=scheme, n_splits=n_splits, n_repeats=n_repeats,
                        groups=groups, seed=seed)


def _combat_feasibility(config: TrainConfig, data: TrainingData, rows: pd.Index) -> str | None:
    harmonized = [c for b in data.blocks if b.harmonize for c in b.columns]
    if not harmonized or config.combat.small_site == "passthrough":
        return None
    has_data = data.X.loc[rows, harmonized].notna().any(axis=1)
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


def train_arm(config: TrainConfig, data: TrainingData, arm: str, tuner: Tuner) -> ArmResult:
    """Nested CV, metrics, permutation test and final model for one arm."""
    arm_rows = data.outcomes[config.arm_column].astype(str) == arm
    labelled = arm_rows & data.y.notna()
    rows = data.outcomes.index[labelled.to_numpy()]
    y = data.y.loc[rows].to_numpy(dtype=int)
    result = ArmResult(arm, STATUS_OK, n=len(rows), n_responders=int(y.sum()))
    groups = (data.outcomes.loc[rows, config.cv.groups].astype(str).to_numpy()
              if config.cv.groups and config.cv.scheme != "stratified_kfold" else None)
    reason = cv_feasibility(y, scheme=config.cv.scheme, n_splits=config.cv.outer_folds,
                            inner_splits=config.cv.inner_folds,
                            min_class_size=config.cv.min_class_size, groups=groups,
                            label="responders") or _combat_feasibility(config, data, rows)
    if reason:
        result.status, result.reason = STATUS_INSUFFICIENT, f"arm {arm}: {reason}"
        logger.warning("%s; no model for this arm", result.reason)
        return result

    X = data.X.loc[rows]
    make_splits = functools.partial(_splits, scheme=config.cv.scheme,
                                    n_splits=config.cv.outer_folds, groups=groups,
                                    seed=config.seed)
    try:
        result.cv = nested_cv(tuner, X, y, make_splits(y, n_repeats=config.cv.repeats),
                              groups=groups, n_jobs=config.n_jobs,
                              description=f"{arm}: nested CV")
        _score(config, data, result)
        if config.permutation.n_permutations:
            repeats = config.permutation.repeats
            result.permutation = permutation_test(
                tuner, X, y, oof_auc(result.cv, repeats),
                functools.partial(make_splits, n_repeats=repeats),
                n_permutations=config.permutation.n_permutations, groups=groups,
                strata=(data.outcomes.loc[rows, config.permutation.strata].astype(str).to_numpy()
                        if config.permutation.strata else None),
                repeats=repeats, n_jobs=config.n_jobs, seed=config.seed,
                description=f"{arm}: permutations")
            result.metrics["auc_widened"] = widened_auc_ci(
                result.metrics["auc"], result.permutation.null, config.metrics.level)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result.model, result.best_params, _ = tuner.fit(X, y, groups)
        messages = sorted({str(w.message) for w in caught})
        for message in messages[:3]:
            logger.warning("arm %s, final model: %s", arm, message)
        if len(messages) > 3:
            logger.warning("arm %s, final model: %d more warnings", arm, len(messages) - 3)
    except BackphenoError as err:
        result.status, result.reason = STATUS_FAILED, f"arm {arm}: {err}"
        result.model = None
        logger.error("%s", result.reason)
    return result


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


# ----------------------------------------------------------------------- counterfactual


def predict_with_fallback(model: Pipeline, X: pd.DataFrame, site_column: str | None) -> np.ndarray:
    """``predict_proba[:, 1]``; if the input is refused (e.g. a site ComBat never saw, with
    ``unseen_site='error'``), predict site by site, then participant by participant within a
    refused site, and leave refused participants NaN (logged)."""
    try:
        return model.predict_proba(X)[:, 1]
    except InputError as err:
        if site_column is None or site_column not in X.columns:
            raise
        logger.warning("prediction refused (%s); predicting site by site", err)
    out = np.full(len(X), np.nan)
    sites = X[site_column].astype(str).fillna("n/a")
    for site, index in X.groupby(sites, observed=True).indices.items():
        try:
            out[index] = model.predict_proba(X.iloc[index])[:, 1]
            continue
        except InputError:
            pass
        for i in index:
            try:
                out[i] = model.predict_proba(X.iloc[[i]])[0, 1]
            except InputError as err:
                logger.warning("no prediction for %s (site %s): %s", X.index[i], site, err)
    return out


def counterfactual_predictions(config: TrainConfig, data: TrainingData,
                               arms: dict[str, ArmResult]) -> pd.DataFrame:
    """Every participant x every arm: p_response and where it came from.

    Columns: participant_id, arm, p_response, source (``oof`` for the randomised arm's
    out-of-fold prediction, ``model`` for the arm's final model, ``none`` where the arm has no
    model), randomized_arm, in_training (participant trained that arm's model), eligible (the arm
    is not the participant's contraindicated arm).
    """
    randomized = data.outcomes[config.arm_column].astype(str)
    ineligible = (data.outcomes["ineligible_arm"].astype(object)
                  if "ineligible_arm" in data.outcomes.columns else None)
    site_column = config.combat.site if config.combat.site in data.X.columns else None
    frames = []
    for arm, result in arms.items():
        frame = pd.DataFrame({"participant_id": data.X.index, "arm": arm,
                              "p_response": np.nan, "source": "none",
                              "randomized_arm": randomized.to_numpy(),
                              "in_training": False})
        if result.status == STATUS_OK and result.model is not None and result.cv is not None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frame["p_response"] = predict_with_fallback(result.model, data.X, site_column)
            for message in sorted({str(w.message) for w in caught}):
                logger.warning("arm %s, counterfactual predictions: %s", arm, message)
            frame["source"] = "model"
            oof = result.cv.mean_oof()["p_response"]
            own = frame["participant_id"].isin(oof.index).to_numpy()
            frame.loc[own, "p_response"] = oof.reindex(frame.loc[own, "participant_id"]).to_numpy()
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

    Parameters
    ----------
    config : TrainConfig
    run_dir : str or Path, optional
        The run directory to create; default ``<config.output>/<name>-<timestamp>``.
    overwrite : bool
        Replace an existing non-empty run directory.
    """
    run = RunDirectory.create(run_dir or config.output / RunDirectory.default_name(config.name),
                              overwrite=overwrite)
    handler = log_to_file(run.log)
    started = time.time()
    resolved = config.model_dump(mode="json")
    try:
        run.write_status(status="running", started=now(), name=config.name)
        write_text(run.config, yaml.safe_dump(resolved, sort_keys=False))
        write_json(run.environment, environment_info())
        write_json(run.inputs, input_checksums({"features": config.features,
                                                "outcomes": config.outcomes}))
        data = load_training_data(config)
        logger.info("population: %d participants, %d features in %d blocks (%s)", len(data.X),
                    len(data.feature_columns), len(data.blocks),
                    ", ".join(f"{b.name}={len(b.columns)}" for b in data.blocks))
        tuner = make_tuner(config, data.blocks)
        arms = {}
        for arm in config.arms:
            logger.info("arm %s", arm)
            arms[arm] = train_arm(config, data, arm, tuner)
            _log_arm(arms[arm])
        counterfactual = counterfactual_predictions(config, data, arms)
        result = TrainResult(config, arms, counterfactual, run)
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
    auc = result.metrics["auc"]
    message = (f"arm {result.arm}: n={result.n} ({result.n_responders} responders), OOF AUC "
               f"{auc['estimate']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}]")
    if result.permutation is not None:
        message += f", permutation p={result.permutation.p_value:.3f}"
    logger.info(message)


def write_outputs(run: RunDirectory, result: TrainResult, data: TrainingData,
                  columns: list[str], resolved: dict[str, Any]) -> None:
    """Write predictions, metrics, models + manifest and figures into ``run``."""
    config = result.config
    ok = {a: r for a, r in result.arms.items() if r.status == STATUS_OK}
    site = config.combat.site if config.combat.site in data.outcomes.columns else None

    oof = [r.cv.oof().assign(arm=a) for a, r in ok.items() if r.cv is not None]
    oof_mean = [r.cv.mean_oof().reset_index().assign(arm=a) for a, r in ok.items()
                if r.cv is not None]
    _write_parquet(run.oof, _with_site(oof, data, site, ["participant_id", "arm", "repeat"]))
    _write_parquet(run.oof_mean, _with_site(oof_mean, data, site, ["participant_id", "arm"]))
    _write_parquet(run.counterfactual, result.counterfactual)

    write_json(run.metrics_json, _json_clean({
        "name": config.name, "target": config.target, "arm_column": config.arm_column,
        "population": config.population, "model": config.model.name,
        "definitions": METRIC_DEFINITIONS,
        "arms": {a: r.summary() for a, r in result.arms.items()}}))
    _write_csv(run.metrics_csv, result.metrics_table())
    _write_csv(run.per_site, _stack({a: r.per_site for a, r in ok.items()}))
    _write_csv(run.calibration, _stack({a: r.calibration for a, r in ok.items()}))
    _write_csv(run.cv_folds, _stack({a: r.cv.fold_table() for a, r in ok.items() if r.cv}))
    _write_csv(run.permutation_null, _stack({
        a: pd.DataFrame({"permutation": np.arange(len(r.permutation.null)),
                         "auc": r.permutation.null})
        for a, r in ok.items() if r.permutation is not None}))

    entries: dict[str, dict[str, Any]] = {}
    for arm, r in result.arms.items():
        entry: dict[str, Any] = {"status": r.status, "n_train": r.n,
                                 "n_responders": r.n_responders}
        if r.reason:
            entry["reason"] = r.reason
        if r.status == STATUS_OK and r.model is not None:
            entry.update(artifacts.save_model(r.model, run.models / arm))
            entry["input_columns"] = columns
            entry["feature_columns"] = data.feature_columns
            entry["covariate_columns"] = [c for c in columns if c not in data.feature_columns]
            entry["best_params"] = _json_clean(r.best_params)
        entries[arm] = entry
    artifacts.write_manifest(run.models, entries, resolved)

    for arm, r in ok.items():
        if r.cv is None:
            continue
        mean = r.cv.mean_oof()
        y, p = mean["y"].to_numpy(int), mean["p_response"].to_numpy(float)
        long = r.cv.oof()
        repeats = [(g["y"].to_numpy(), g["p_response"].to_numpy())
                   for _, g in long.groupby("repeat")]
        title = f"{arm}: out-of-fold ({r.n} participants, {r.n_responders} responders)"
        figures.roc_figure(y, p, r.metrics, title, run.figures / f"roc_{arm}.png",
                           repeats if len(repeats) > 1 else None)
        figures.calibration_figure(y, p, r.calibration, r.metrics, title,
                                   run.figures / f"calibration_{arm}.png")


#: Short definitions written into metrics.json next to the numbers.
METRIC_DEFINITIONS = {
    "predictions": "out-of-fold probabilities averaged over CV repeats",
    "auc": "area under the ROC curve; 95% CI by DeLong (fast midrank algorithm)",
    "auc_repeats": "AUC of each repeat separately: mean and SD across repeats",
    "auc_widened": "same AUC, CI with se = max(DeLong SE, SD of the permutation null AUCs): "
                   "adds model-fitting variability that DeLong ignores (>= 10 permutations)",
    "brier": "mean squared error of the probabilities; CI by stratified bootstrap",
    "scaled_brier": "1 - Brier / (prevalence * (1 - prevalence))",
    "balanced_accuracy": "(sensitivity + specificity) / 2, p >= threshold predicted responder",
    "calibration_slope": "b in logit P(y=1) = a + b*logit(p); ideal 1; Wald CI",
    "calibration_intercept": "calibration-in-the-large: a in logit P(y=1) = a + offset(logit(p)); "
                             "ideal 0; Wald CI",
    "oe_ratio": "observed / expected responders; CI exp(log(O/E) +- z/sqrt(O))",
    "ici": "integrated calibration index: mean |p - lowess(y ~ p)|; e50/e90/emax likewise",
    "permutation": "p = (1 + #{AUC_perm >= AUC_obs}) / (1 + n); labels permuted, whole nested CV "
                   "refitted; statistic = AUC of OOF predictions over the first "
                   "permutation.repeats repeats",
}


def _with_site(frames: list[pd.DataFrame], data: TrainingData, site: str | None,
               order: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=order)
    frame = pd.concat(frames, ignore_index=True)
    if site is not None:
        frame["site"] = data.outcomes[site].reindex(frame["participant_id"]).astype(str).to_numpy()
    first = [c for c in order if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def _stack(tables: dict[str, pd.DataFrame | None]) -> pd.DataFrame:
    frames = [t.assign(arm=a)[["arm", *t.columns]] for a, t in tables.items()
              if t is not None and len(t)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["arm"])


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _json_clean(obj: Any) -> Any:
    """NaN / inf -> None and numpy scalars -> Python, recursively (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _json_clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
