"""Permutation test: exact p-value formula, strata, reproducibility."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from backpheno.errors import InputError
from backpheno.models.cv import InnerCV, Tuner, nested_cv, outer_splits
from backpheno.models.permutation import (
    PermutationProblem,
    oof_auc,
    permutation_nulls,
    permutation_test,
    permute_labels,
)
from backpheno.models.pipelines import Block, build_pipeline


def tuner_and_data(signal: float, seed: int = 0) -> tuple[Tuner, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 80
    y = np.array([0, 1] * (n // 2))
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["q.a.x0", "q.a.x1", "q.a.x2"])
    X["q.a.x0"] += signal * y
    pipe = build_pipeline([Block("q", tuple(X.columns))], model="elastic_net",
                          model_params={"C": 1.0})
    return Tuner(pipe, {}, InnerCV(3)), X, y


def splits_for(y: np.ndarray) -> list:
    return outer_splits(y, n_splits=4, seed=0)


def test_permute_labels_within_strata() -> None:
    rng = np.random.default_rng(0)
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    strata = np.array(["a"] * 4 + ["b"] * 4)
    for _ in range(20):
        out = permute_labels(y, rng, strata)
        assert out[:4].sum() == 2 and out[4:].sum() == 1


@pytest.mark.parametrize(("signal", "small", "seed"), [(2.0, True, 0), (0.0, False, 2)])
def test_p_value(signal: float, small: bool, seed: int) -> None:
    """With signal the observed AUC beats every permutation (p = 1 / (n + 1)); without, one
    fixed null draw (data seed 2, observed AUC 0.47) gives an unremarkable p."""
    tuner, X, y = tuner_and_data(signal, seed)
    observed = oof_auc(nested_cv(tuner, X, y, splits_for(y)))
    result = permutation_test(tuner, X, y, observed, splits_for, n_permutations=9, seed=1)
    assert len(result.null) == 9
    expected = (1 + np.sum(result.null >= observed - 1e-12)) / 10
    assert result.p_value == pytest.approx(expected)
    if small:
        assert observed > 0.8 and result.p_value == pytest.approx(0.1)
    else:
        assert result.p_value > 0.3
    assert result.as_dict()["n_permutations"] == 9


def test_permutations_are_reproducible_in_parallel() -> None:
    tuner, X, y = tuner_and_data(0.5)
    run = functools.partial(permutation_test, tuner, X, y, 0.6, splits_for, n_permutations=2,
                            seed=3)
    np.testing.assert_array_equal(run(n_jobs=1).null, run(n_jobs=2).null)
    assert not np.array_equal(run(n_jobs=1).null, run(n_jobs=1, seed=4).null)


def test_tail_option_states_the_method() -> None:
    tuner, X, y = tuner_and_data(2.0, 0)
    observed = oof_auc(nested_cv(tuner, X, y, splits_for(y)))
    plain = permutation_test(tuner, X, y, observed, splits_for, n_permutations=5, seed=1)
    assert plain.as_dict()["p_method"] == "empirical"
    tail = permutation_test(tuner, X, y, observed, splits_for, n_permutations=5, seed=1,
                            tail="gpd", tail_p_threshold=0.5)
    summary = tail.as_dict()
    assert summary["p_empirical"] == pytest.approx(plain.p_value)
    # 5 null values are too few exceedances for any fit: the permutation p stays, labelled
    assert summary["p_method"] == "empirical (tail fit rejected)"
    assert tail.p_value == pytest.approx(plain.p_value)


def test_an_arm_whose_permuted_runs_fail_does_not_stop_the_others() -> None:
    """permutation_nulls runs several arms' permutations as one list of tasks: an arm whose
    permuted runs fail on the input gets the error message, the other its null values."""
    tuner, X, y = tuner_and_data(0.5)
    columns = tuple(X.columns)
    broken = X.assign(site=np.where(np.arange(len(X)) % 2, "a", "b"), age=50.0)
    broken.loc[3, "age"] = np.nan                     # a participant with data, no covariate
    combat = {"site": "site", "covariates": ["age"], "categorical": [], "min_site_size": 3}
    pipe = build_pipeline([Block("q", columns, harmonize=True)], model="elastic_net",
                          combat=combat)
    good = PermutationProblem(tuner, X, y, splits_for, n_permutations=3, seed=1)
    bad = PermutationProblem(Tuner(pipe, {}, InnerCV(3)), broken, y, splits_for,
                             n_permutations=2, seed=1)
    null, message = permutation_nulls([good, bad])
    np.testing.assert_array_equal(null, permutation_test(tuner, X, y, 0.5, splits_for,
                                                         n_permutations=3, seed=1).null)
    assert isinstance(message, str) and "age" in message and "3" in message
    with pytest.raises(InputError, match="permuted run.*age"):
        permutation_test(bad.tuner, broken, y, 0.5, splits_for, n_permutations=2)
