"""Coverage of AUC intervals for cross-validated predictions under the null.

Simulates datasets without signal (n = 465, 38 Gaussian features, 30 % responders), runs 5-fold
x 2-repeat cross-validation and reports how often each 95 % interval covers AUC = 0.5:
DeLong on the pooled out-of-fold predictions (what ``metrics.auc`` reports), the
Nadeau-Bengio corrected interval and a LeDell-style fold-averaged interval. The printed ratio
compares the real SD of the cross-validated AUC with the mean DeLong SE — the reason
``metrics.auc_widened`` exists.

    python benchmarks/bench_auc_coverage.py [--model elastic_net|xgboost] [--sims 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import t as student

from backpheno.models.cv import Tuner, nested_cv, outer_splits
from backpheno.models.metrics import delong
from backpheno.models.pipelines import Block, build_pipeline

FOLDS, REPEATS, N, FEATURES = 5, 2, 465, 38


def one(seed: int, model: str) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(N, FEATURES)), columns=[f"q.a.x{i}" for i in range(FEATURES)])
    y = (rng.random(N) < 0.3).astype(int)
    params = {"n_estimators": 100, "max_depth": 2} if model == "xgboost" else {"C": 0.1}
    pipe = build_pipeline([Block("q", tuple(X.columns))], model=model, model_params=params)
    result = nested_cv(Tuner(pipe), X, y, outer_splits(y, n_splits=FOLDS, n_repeats=REPEATS,
                                                       seed=seed))
    mean = result.mean_oof()
    auc, var = delong(mean["y"], mean["p_response"])
    folds = [delong(y[f.split.test], f.proba) for f in result.folds]
    fold_auc = np.array([a for a, _ in folds])
    n_test = len(result.folds[0].split.test)
    nb = np.sqrt((1 / (FOLDS * REPEATS) + n_test / (N - n_test)) * fold_auc.var(ddof=1))
    ledell = np.sqrt(np.mean([v for _, v in folds]) / FOLDS)
    return {"auc": auc, "se": np.sqrt(var), "fold_auc": fold_auc.mean(), "nb": nb,
            "ledell": ledell}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="elastic_net", choices=["elastic_net", "xgboost"])
    parser.add_argument("--sims", type=int, default=100)
    args = parser.parse_args()
    start = time.perf_counter()
    d = pd.DataFrame([one(s, args.model) for s in range(args.sims)])
    covers = lambda est, half: ((est - half <= 0.5) & (0.5 <= est + half)).mean()  # noqa: E731
    tq = student.ppf(0.975, FOLDS * REPEATS - 1)
    print(f"{args.model}, {args.sims} null datasets, {time.perf_counter() - start:.0f} s")
    print(f"pooled OOF AUC: mean {d.auc.mean():.3f}, SD {d.auc.std():.4f}; mean DeLong SE "
          f"{d.se.mean():.4f}; SD / DeLong SE = {d.auc.std() / d.se.mean():.2f}")
    print(f"coverage of 0.5 (nominal 0.95): DeLong {covers(d.auc, 1.96 * d.se):.2f}, "
          f"Nadeau-Bengio {covers(d.fold_auc, tq * d.nb):.2f}, "
          f"LeDell fold-averaged {covers(d.fold_auc, 1.96 * d.ledell):.2f}")


if __name__ == "__main__":
    main()
