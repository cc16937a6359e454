"""Null calibration of the permutation test: under a global null its p-values are uniform.

Many datasets without any association between features and label are each tested with the
procedure ``train`` uses (observed statistic from :func:`nested_cv`, permuted runs through the
fast path). The share of p <= alpha must lie in the 99 % Clopper-Pearson interval around the
observed share, for alpha = 0.05 and 0.1. The quick case runs in the default suite; the slow one
adds an inner grid search, ComBat and more datasets.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from backpheno.models.cv import InnerCV, Tuner, nested_cv, outer_splits
from backpheno.models.permutation import oof_auc, permutation_test
from backpheno.models.pipelines import Block, build_pipeline, search_space


def null_dataset(seed: int, n: int = 48) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"q.x{i}" for i in range(6)])
    X.loc[rng.random(n) < 0.2, "q.x5"] = np.nan
    X["site"] = rng.choice(["a", "b"], n)
    X["age"] = rng.normal(50, 10, n)
    y = (rng.random(n) < 0.4).astype(int)
    y[:2] = [0, 1]
    return X, y


def p_values(n_datasets: int, n_permutations: int, search: bool) -> np.ndarray:
    columns = [f"q.x{i}" for i in range(6)]
    blocks = [Block("q", tuple(columns[:3])), Block("b", tuple(columns[3:]), harmonize=search)]
    combat = {"site": "site", "covariates": ["age"], "categorical": [], "min_site_size": 3,
              "small_site": "passthrough"}
    pipeline = build_pipeline(blocks, model="elastic_net", combat=combat, filter_k=3,
                              model_params={"C": 0.5})
    space = search_space({"C": [0.05, 1.0]}) if search else {}
    tuner = Tuner(pipeline, space, InnerCV(3, seed=1))
    make_splits = functools.partial(outer_splits, n_splits=3, seed=2)
    out = []
    for seed in range(n_datasets):
        X, y = null_dataset(seed)
        observed = oof_auc(nested_cv(tuner, X, y, make_splits(y)))
        result = permutation_test(tuner, X, y, observed, make_splits,
                                  n_permutations=n_permutations, seed=1000 + seed)
        out.append(result.p_value)
    return np.asarray(out)


def assert_calibrated(p: np.ndarray) -> None:
    for alpha in (0.05, 0.1):
        hits = int(np.sum(p <= alpha + 1e-12))
        interval = binomtest(hits, len(p), alpha).proportion_ci(0.99)
        print(f"share of p <= {alpha}: {hits}/{len(p)} = {hits / len(p):.3f}, 99 % interval "
              f"[{interval.low:.3f}, {interval.high:.3f}]")          # shown with pytest -s
        assert interval.low <= alpha <= interval.high, (alpha, hits, len(p))


def test_null_calibration_quick() -> None:
    assert_calibrated(p_values(n_datasets=40, n_permutations=19, search=False))


@pytest.mark.slow
def test_null_calibration_full() -> None:
    assert_calibrated(p_values(n_datasets=300, n_permutations=19, search=True))
