"""Writing outputs of ``backpheno train``: predictions, metrics, models with their manifest and
figures, each at its place in the :class:`~backpheno.models.rundir.RunDirectory`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backpheno.io import atomic_path, json_clean, write_json
from backpheno.models import artifacts, figures
from backpheno.models.inputs import TrainingData
from backpheno.models.rundir import STATUS_OK, RunDirectory

if TYPE_CHECKING:
    from backpheno.models.train import TrainResult

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
    _write_parquet(run.counterfactual_parquet, result.counterfactual)

    regression = result.task == "regression"
    write_json(run.metrics_json, json_clean({
        "name": config.name, "target": config.target, "task": result.task,
        "arm_column": config.arm_column,
        "population": config.population, "model": config.model.name,
        "definitions": REGRESSION_DEFINITIONS if regression else METRIC_DEFINITIONS,
        "arms": {a: r.summary() for a, r in result.arms.items()}}))
    _write_csv(run.metrics_csv, result.metrics_table())
    _write_csv(run.per_site, _stack({a: r.per_site for a, r in ok.items()}))
    _write_csv(run.calibration, _stack({a: r.calibration for a, r in ok.items()}))
    _write_csv(run.cv_folds, _stack({a: r.cv.fold_table() for a, r in ok.items() if r.cv}))
    _write_csv(run.permutation_null, _stack({
        a: pd.DataFrame({"permutation": np.arange(len(r.permutation.null)),
                         "r2" if regression else "auc": r.permutation.null})
        for a, r in ok.items() if r.permutation is not None}))

    entries: dict[str, dict[str, Any]] = {}
    for arm, r in result.arms.items():
        entry: dict[str, Any] = {"status": r.status, "n_train": r.n, "task": result.task}
        if r.n_responders is not None:
            entry["n_responders"] = r.n_responders
        if r.reason:
            entry["reason"] = r.reason
        if r.status == STATUS_OK and r.model is not None:
            entry.update(artifacts.save_model(r.model, run.models / arm))
            entry["input_columns"] = columns
            entry["feature_columns"] = data.feature_columns
            entry["covariate_columns"] = [c for c in columns if c not in data.feature_columns]
            entry["best_params"] = json_clean(r.best_params)
        entries[arm] = entry
    artifacts.write_manifest(run, entries, resolved)

    for arm, r in ok.items():
        if r.cv is None:
            continue
        if regression:
            mean = r.cv.mean_oof()
            figures.observed_predicted_figure(
                mean["y"].to_numpy(float), mean[r.cv.column].to_numpy(float), r.metrics,
                f"{arm}: out-of-fold ({r.n} participants)", config.target,
                run.figure_png("calibration", arm))
            continue
        mean = r.cv.mean_oof()
        y, p = mean["y"].to_numpy(int), mean["p_response"].to_numpy(float)
        long = r.cv.oof()
        repeats = [(g["y"].to_numpy(), g["p_response"].to_numpy())
                   for _, g in long.groupby("repeat")]
        title = f"{arm}: out-of-fold ({r.n} participants, {r.n_responders} responders)"
        figures.roc_figure(y, p, r.metrics, title, run.figure_png("roc", arm),
                           repeats if len(repeats) > 1 else None)
        figures.calibration_figure(y, p, r.calibration, r.metrics, title,
                                   run.figure_png("calibration", arm))


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
                   "permutation.repeats repeats; p_method says what gave p_value: 'empirical' "
                   "(this formula), 'gpd tail' (generalised Pareto fit to the null's upper tail, "
                   "Winkler et al. 2016, with permutation.tail: gpd; p_empirical keeps the "
                   "formula's value) or 'empirical (tail fit rejected)'",
}


#: The same for a continuous target (``task: regression``).
REGRESSION_DEFINITIONS = {
    "predictions": "out-of-fold predicted outcome averaged over CV repeats (unstratified folds)",
    "r2": "out-of-sample R2 = 1 - SSE / SST; CI by bootstrap of participants",
    "r2_repeats": "R2 of each repeat separately: mean and SD across repeats",
    "rmse": "root mean squared error (outcome unit); CI by bootstrap",
    "mae": "mean absolute error (outcome unit); CI by bootstrap",
    "calibration_slope": "b in observed = a + b*predicted (OLS); ideal 1; t CI",
    "calibration_intercept": "calibration-in-the-large: mean(observed - predicted); ideal 0; t CI",
    "permutation": "p = (1 + #{R2_perm >= R2_obs}) / (1 + n); target permuted, whole nested CV "
                   "refitted; statistic = R2 of OOF predictions over the first "
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
