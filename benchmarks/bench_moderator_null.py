"""Benchmark: one permutation of explain's family-wise moderator null, array path against the
previous code path.

Reads a training run directory as ``backpheno explain`` does (default settings: background of
100 drawn within site, every pair and one-vs-rest contrast, arm labels permuted within site x
ineligible arm) and times ``--permutations`` permutations twice in the same process,
interleaved:

reference
    the code path before issue 17, written here from pieces that do not change under it: each
    arm's pipeline cloned and refitted on its permuted rows, the explained participants and the
    background transformed by its preprocessing, ``shap.TreeExplainer(model, data=Zb,
    feature_perturbation="interventional", model_output="probability")`` per arm, values mapped
    to the features and the contrasts summed as DataFrames, mean |SHAP| per contrast.
new
    what :func:`~backpheno.explain.permutation.moderator_permutation_test` runs per draw:
    :func:`~backpheno.explain.moderators.refit_each_arm` and
    :func:`~backpheno.explain.moderators.contrast_importance`.

Both run with the OpenMP / BLAS threads a worker of a ``--jobs``-process pool gets (joblib gives
each ``cores // jobs``; default one job per core). Prints both times per permutation, the ratio,
the largest difference of the null values and the projected wall time of 999 permutations on
``--jobs`` processes (perfect scaling assumed). With
``--scheduler local`` (or an address) it also runs the permutations through
``compute_backend`` on 1, 2, ... workers (``--workers``), checks that the null tables are
identical and prints the scaling efficiency per cluster size. Needs an xgboost run (the demo's
``demo/runs/best_stage1`` after ``make demo``).

    python benchmarks/bench_moderator_null.py demo/runs/best_stage1 [--permutations 3]
        [--jobs 2] [--scheduler local --workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import shap
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from backpheno.explain.moderators import Contrast, arm_contrasts, refit_each_arm
from backpheno.explain.moderators import contrast_importance as new_importance
from backpheno.explain.permutation import moderator_permutation_test, permute_within
from backpheno.explain.run import ExplainConfig, run_inputs
from backpheno.explain.shap import select_background
from backpheno.models.cluster import compute_backend
from backpheno.models.rundir import open_run

INDICATOR = "missingindicator_"


def reference_fit(templates: dict[str, Any], X: pd.DataFrame, y: pd.Series,
                  arm: pd.Series) -> dict[str, Any]:
    """Each arm's pipeline cloned and fitted on its rows (as refit_each_arm did before)."""
    fitted = {}
    for name, model in templates.items():
        rows = np.flatnonzero((arm.astype(str) == name).to_numpy() & y.notna().to_numpy())
        fitted[name] = clone(model).fit(X.iloc[rows], y.iloc[rows].astype(int).to_numpy())
    return fitted


def reference_arm_values(model: Any, X: pd.DataFrame, background: pd.DataFrame,
                         features: list[str]) -> pd.DataFrame:
    """Probability-scale interventional TreeSHAP of one xgboost pipeline, mapped to features."""
    preprocess, booster = model[:-1], model.steps[-1][1]
    Z, Zb = (pd.DataFrame(np.asarray(preprocess.transform(frame), dtype=float), index=frame.index,
                          columns=[str(c) for c in preprocess.get_feature_names_out()])
             for frame in (X, background[X.columns]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(booster, data=Zb, feature_perturbation="interventional",
                                       model_output="probability")
        values = explainer.shap_values(Z, check_additivity=False)
    known = set(features)
    origins = [c[len(INDICATOR):] if c.startswith(INDICATOR) and c[len(INDICATOR):] in known
               else c for c in Z.columns]
    frame = pd.DataFrame(values, index=X.index, columns=Z.columns)
    mapped = frame.T.groupby(pd.Index(origins), sort=False).sum().T
    extra = [c for c in mapped.columns if c not in known]
    return mapped.reindex(columns=features + extra, fill_value=0.0).astype(float)


def reference_importance(models: dict[str, Any], X: pd.DataFrame, background: pd.DataFrame,
                         contrasts: list[Contrast], features: list[str]) -> pd.DataFrame:
    """Contrasts × features mean |SHAP| of the risk difference, with DataFrames."""
    per_arm = {arm: reference_arm_values(m, X, background, features) for arm, m in models.items()}
    columns: list[str] = []
    for values in per_arm.values():
        columns += [c for c in values.columns if c not in columns]
    per_arm = {a: v.reindex(columns=columns, fill_value=0.0) for a, v in per_arm.items()}
    rows = {}
    for contrast in contrasts:
        values = sum(w * per_arm[a] for a, w in contrast.weights.items())
        rows[contrast.name] = values.abs().mean()
    return pd.DataFrame(rows).T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--permutations", type=int, default=3)
    parser.add_argument("--jobs", type=int, help="worker processes of the projection (default: "
                                                 "this machine's cores)")
    parser.add_argument("--scheduler", help="'local' or a Dask scheduler address: also time "
                                            "the permutations on 1, 2, ... workers")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    settings = ExplainConfig()
    inputs = run_inputs(open_run(args.run_dir, force=True, allow_changed_inputs=True),
                        settings.signal_p_level)
    if inputs.scale != "probability":
        parser.error("the reference path explains xgboost classifiers: give a classification run")
    X, features, training = inputs.X, inputs.features, inputs.training
    strata = (inputs.covariates[settings.background_strata]
              if settings.background_strata in inputs.covariates.columns else None)
    background = select_background(X, settings.background_size, settings.seed, strata)
    contrasts = arm_contrasts(inputs.arms, settings.contrasts)
    templates = inputs.templates or inputs.models
    Xt, yt, armt = X.loc[training], inputs.y.loc[training], inputs.arm.loc[training]
    within = inputs.permutation_strata(settings.permutation.strata)
    seeds = np.random.SeedSequence(settings.seed).spawn(args.permutations)
    fit_arms = refit_each_arm(templates)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = args.jobs or cores
    times: dict[str, list[float]] = {"reference": [], "new": []}
    worst = 0.0
    limit = threadpool_limits(max(1, cores // jobs))
    for seed in seeds:
        permuted = permute_within(armt, within, np.random.default_rng(seed))
        start = time.perf_counter()
        old = reference_importance(reference_fit(templates, Xt, yt, permuted), X, background,
                                   contrasts, features)
        times["reference"].append(time.perf_counter() - start)
        start = time.perf_counter()
        new = new_importance(fit_arms(Xt, yt, permuted), X, background, contrasts,
                             features=features)
        times["new"].append(time.perf_counter() - start)
        aligned = old.reindex(index=[c.name for c in contrasts], columns=new.features)
        worst = max(worst, float(np.max(np.abs(aligned.to_numpy() - new.mean_abs))))
    limit.restore_original_limits()
    ref, fast = np.median(times["reference"]), np.median(times["new"])
    print(f"{len(inputs.arms)} arms, {len(training)} training rows, {len(X)} explained, "
          f"background {len(background)}, {len(contrasts)} contrasts, {len(features)} features; "
          f"{args.permutations} permutations (median s per permutation)")
    print(f"reference {ref:6.2f} s   new {fast:6.2f} s   ratio {ref / fast:5.2f}x   "
          f"max |difference| of the null values {worst:.2e}")
    print(f"999 permutations on {jobs} process(es), {max(1, cores // jobs)} thread(s) each: "
          f"reference {999 * ref / jobs / 60:5.1f} min, new {999 * fast / jobs / 60:5.1f} min "
          f"(perfect scaling assumed)")
    if args.scheduler:
        scaling(args, fit_arms, Xt, yt, armt, within, background, contrasts, X, features,
                inputs)


def scaling(args: argparse.Namespace, fit_arms: Any, Xt: pd.DataFrame, yt: pd.Series,
            armt: pd.Series, within: pd.Series | None, background: pd.DataFrame,
            contrasts: list[Contrast], X: pd.DataFrame, features: list[str],
            inputs: Any) -> None:
    """The same permutation test through compute_backend on each cluster size (``local``), or
    once on the cluster at ``--scheduler``."""
    from distributed import Client, LocalCluster

    observed = new_importance(inputs.models, X, background, contrasts,
                              features=features).ranking()
    n = args.permutations * max(args.workers)
    sizes = args.workers if args.scheduler == "local" else [0]
    times, tables = {}, {}
    for size in sizes:
        cluster = (LocalCluster(n_workers=size, threads_per_worker=1, processes=True,
                                dashboard_address=None) if size else None)
        client = Client(cluster if cluster is not None else args.scheduler)
        try:
            workers = len(client.scheduler_info()["workers"])
            client.run(lambda: warnings.simplefilter("ignore"))
            with compute_backend(client, workers) as n_jobs:
                start = time.perf_counter()
                tables[workers] = moderator_permutation_test(
                    fit_arms, Xt, yt, armt, background, contrasts, observed, n_permutations=n,
                    strata=within, explain=X, features=features, n_jobs=n_jobs).table
                times[workers] = time.perf_counter() - start
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    base = min(times)
    same = all(t.equals(tables[base]) for t in tables.values())
    print(f"Dask ({args.scheduler}): {n} permutations; the same null table on every cluster "
          f"size: {same}")
    for workers in sorted(times):
        speedup = times[base] / times[workers]
        print(f"{workers} worker(s): {times[workers]:7.1f} s ({times[workers] / n:.2f} s per "
              f"permutation)  speed-up {speedup:.2f}x  efficiency {speedup * base / workers:.0%}")


if __name__ == "__main__":
    main()
