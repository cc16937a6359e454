"""Benchmark: full nested cross-validation for 4 arms, 1,000 participants x 500 features.

Simulates a 1,000-participant cohort (no images; every participant treated as deep-phenotyped
in the stand-in tables), builds 500 features (200 questionnaire, 100 biomechanics, 100 spine and
100 brain, imaging harmonised with ComBat inside the folds) and times ``backpheno train`` —
5 outer x 3 inner folds, a 2-point xgboost grid, final refit, metrics, figures, models — with
1 and then 2 worker processes. Prints both wall times and the speed-up (1 job / 2 jobs).

    python benchmarks/bench_train.py [--participants 1000] [--jobs 1 2]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from backpheno.config import validate_config
from backpheno.models.config import TrainConfig
from backpheno.synth import simulate
from backpheno.synth.config import SimulateConfig
from backpheno.synth.model_inputs import write_model_inputs

FEATURES = {"q": 200, "biomech": 100, "spine": 100, "brain": 100}


def settings(features: Path, outcomes: Path, out: Path, n_jobs: int) -> TrainConfig:
    return validate_config({
        "name": f"bench-{n_jobs}", "features": str(features), "outcomes": str(outcomes),
        "output": str(out), "population": "all",
        "model": {"name": "xgboost", "params": {"n_estimators": 100},
                  "search": {"space": {"max_depth": [1, 2]}}},
        "cv": {"outer_folds": 5, "inner_folds": 3, "repeats": 1},
        "metrics": {"n_bootstrap": 200}, "n_jobs": n_jobs, "seed": 1,
    }, TrainConfig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    logging.getLogger("backpheno").setLevel(logging.WARNING)
    from backpheno.models.train import train

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        simulate(SimulateConfig(participants=args.participants, deep_fraction=0.0, seed=2),
                 root / "dataset")
        features, outcomes = write_model_inputs(root / "dataset", root / "inputs",
                                                n_features=FEATURES, deep_fraction=1.0)
        times = {}
        for n_jobs in args.jobs:
            start = time.perf_counter()
            result = train(settings(features, outcomes, root / "runs", n_jobs),
                           root / "runs" / f"jobs{n_jobs}")
            times[n_jobs] = time.perf_counter() - start
            aucs = ", ".join(f"{a} {r.metrics['auc']['estimate']:.3f}"
                             for a, r in result.arms.items() if r.status == "ok")
            n = sum(r.n for r in result.arms.values())
            print(f"n_jobs={n_jobs}: {times[n_jobs]:7.1f} s  ({n} labelled participants over "
                  f"{len(result.arms)} arms, {sum(FEATURES.values())} features; OOF AUC {aucs})")
    base = args.jobs[0]
    for n_jobs in args.jobs[1:]:
        print(f"speed-up {base} -> {n_jobs} jobs: {times[base] / times[n_jobs]:.2f}x")


if __name__ == "__main__":
    main()
