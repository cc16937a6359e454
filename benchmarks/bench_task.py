"""Benchmark: the regression path beside the classification path on the same cohort.

Simulates a two-arm trial (``backpheno.synth.trial``; default 1,000 participants, 100 nuisance
covariates), turns it into the feature and outcomes tables with ``backpheno.trial_table`` and
times ``backpheno train`` (5 outer x 3 inner folds, 2-point xgboost grid, final refit, metrics,
figures, models) and ``explain`` (no resampling) twice on the same features and folds seed: with
the continuous outcome ``y`` (regressors) and with its median split ``y_high`` (classifiers).
Prints both wall times and their ratio.

    python benchmarks/bench_task.py [--participants 1000] [--nuisance 100] [--jobs 1]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from backpheno.config import validate_config
from backpheno.explain.run import ExplainConfig, explain_run_dir
from backpheno.models.config import TrainConfig
from backpheno.models.train import train
from backpheno.synth.trial import simulate_two_arm_trial
from backpheno.trial_table import TableRoles, build_trial_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--nuisance", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    logging.getLogger("backpheno").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="backpheno_bench_task_"))
    frame = simulate_two_arm_trial(args.participants, n_nuisance=args.nuisance, seed=0)
    tables = build_trial_tables(frame, TableRoles(arm="arm", outcomes=["y"], site="site",
                                                  covariates=["age", "sex"]))
    tables.features.write(work)
    outcomes = tables.outcomes.assign(y_high=(tables.outcomes["y"] > tables.outcomes["y"]
                                              .median()).astype(int))
    outcomes.to_parquet(work / "outcomes.parquet")
    timings = {}
    for task, target in (("classification", "y_high"), ("regression", "y")):
        config = validate_config({
            "name": task, "features": str(work / "features.parquet"),
            "outcomes": str(work / "outcomes.parquet"), "output": str(work / "runs"),
            "arm_column": "arm", "arms": ["0", "1"], "target": target, "task": task,
            "model": {"name": "xgboost", "params": {"n_estimators": 100},
                      "search": {"space": {"max_depth": [1, 2]}}},
            "cv": {"outer_folds": 5, "inner_folds": 3, "repeats": 1},
            "metrics": {"n_bootstrap": 200}, "n_jobs": args.jobs, "seed": 1}, TrainConfig)
        tic = time.perf_counter()
        result = train(config, work / "runs" / task)
        trained = time.perf_counter() - tic
        explain_run_dir(result.run_dir.root, ExplainConfig(stability={"n_resamples": 0}))
        timings[task] = (trained, time.perf_counter() - tic - trained)
    n_features = len(tables.report["features"])
    print(f"{args.participants} participants x {n_features} features, 2 arms, "
          f"{args.jobs} job(s)")
    for task, (trained, explained) in timings.items():
        print(f"{task:>15}: train {trained:6.1f} s   explain {explained:6.1f} s")
    ratio = sum(timings["regression"]) / sum(timings["classification"])
    print(f"regression / classification (train + explain): {ratio:.2f}")


if __name__ == "__main__":
    main()
