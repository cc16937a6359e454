"""Treatment-specific response classifiers: fold-safe ComBat, leakage-safe pipelines, nested
cross-validation, TRIPOD-style metrics, permutation tests, artifacts and prediction.

Public API (imported lazily, so ``import backpheno.models`` stays cheap)::

    ComBat                      harmonize.py   fold-safe ComBat transformer
    UnivariateFilter            select.py      NaN-aware top-k univariate filter
    Block, BlockSpec, select_blocks, build_pipeline, make_estimator, register_block_step
                                pipelines.py
    outer_splits, InnerCV, Tuner, nested_cv, cv_feasibility
                                cv.py
    evaluate, auc_ci, delong, calibration_slope, calibration_intercept, oe_ratio,
    calibration_curve, per_group
                                metrics.py
    permutation_test            permutation.py
    fast_nested_cv, fast_path_problem
                                fastcv.py      label-free work once per row set (permutations)
    tail_p_value, fit_tail      tail.py        generalised Pareto tail approximation
    compute_backend             cluster.py     local processes or a Dask cluster
    train, TrainResult          train.py
    save_model, load_models     artifacts.py
    predict_run                 predict.py
    RunDirectory, open_run      rundir.py
    TrainConfig                 config.py
"""

from __future__ import annotations

from backpheno.lazy import lazy_exports

_EXPORTS = {
    "ComBat": "harmonize",
    "UnseenSiteWarning": "harmonize",
    "UnivariateFilter": "select",
    "Block": "pipelines",
    "BlockSpec": "pipelines",
    "select_blocks": "pipelines",
    "build_pipeline": "pipelines",
    "make_estimator": "pipelines",
    "register_block_step": "pipelines",
    "outer_splits": "cv",
    "InnerCV": "cv",
    "Tuner": "cv",
    "nested_cv": "cv",
    "cv_feasibility": "cv",
    "evaluate": "metrics",
    "auc_ci": "metrics",
    "delong": "metrics",
    "calibration_slope": "metrics",
    "calibration_intercept": "metrics",
    "oe_ratio": "metrics",
    "calibration_curve": "metrics",
    "per_group": "metrics",
    "permutation_test": "permutation",
    "fast_nested_cv": "fastcv",
    "fast_path_problem": "fastcv",
    "tail_p_value": "tail",
    "fit_tail": "tail",
    "compute_backend": "cluster",
    "train": "train",
    "TrainResult": "train",
    "save_model": "artifacts",
    "load_models": "artifacts",
    "predict_run": "predict",
    "RunDirectory": "rundir",
    "open_run": "rundir",
    "TrainConfig": "config",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
