"""Folds and permutations (of one arm, or of several arms as one list of tasks) on a Dask
cluster give what 1 and 2 local jobs give, and what each arm run alone gives."""

from __future__ import annotations

import numpy as np
import pytest

from backpheno.models.cluster import compute_backend
from backpheno.models.cv import CVProblem, nested_cv, nested_cvs, outer_splits
from backpheno.models.permutation import (
    PermutationProblem,
    permutation_nulls,
    permutation_test,
)
from models.test_permutation import splits_for, tuner_and_data


def arms() -> list[PermutationProblem]:
    """Two arms' permutation problems: different data, sizes and permutation counts."""
    problems = []
    for signal, seed, n_permutations in ((0.8, 3, 3), (0.0, 4, 2)):
        tuner, X, y = tuner_and_data(signal, seed=seed)
        problems.append(PermutationProblem(tuner, X, y, splits_for, n_permutations, seed=5))
    return problems


def run(scheduler: object, n_jobs: int) -> tuple[np.ndarray, ...]:
    tuner, X, y = tuner_and_data(0.8, seed=3)
    with compute_backend(scheduler, n_jobs) as jobs:
        cv = nested_cv(tuner, X, y, outer_splits(y, n_splits=4, n_repeats=2, seed=1),
                       n_jobs=jobs, description="cv")
        null = permutation_test(tuner, X, y, 0.6, splits_for, n_permutations=4, seed=5,
                                n_jobs=jobs).null
        per_arm = permutation_nulls(arms(), jobs)      # both arms' permutations in one list
        cvs = nested_cvs([CVProblem(a.tuner, a.X, a.y, outer_splits(a.y, n_splits=4, seed=1))
                          for a in arms()], jobs)   # both arms' folds in one list
    return (cv.oof()["p_response"].to_numpy(), null, *per_arm,
            *(c.oof()["p_response"].to_numpy() for c in cvs))


def test_same_results_with_1_job_2_jobs_and_dask() -> None:
    distributed = pytest.importorskip("distributed")
    one = run(None, 1)
    two = run(None, 2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dask = run(client, 2)
        assert len(client.scheduler_info()["workers"]) == 2
    for result in (two, dask):
        assert len(result) == len(one)
        for values, expected in zip(result, one, strict=True):
            np.testing.assert_array_equal(values, expected)
    for problem, null, oof in zip(arms(), one[2:4], one[4:], strict=True):   # each arm alone
        alone = permutation_test(problem.tuner, problem.X, problem.y, 0.6, splits_for,
                                 n_permutations=problem.n_permutations, seed=5)
        np.testing.assert_array_equal(null, alone.null)
        cv = nested_cv(problem.tuner, problem.X, problem.y,
                       outer_splits(problem.y, n_splits=4, seed=1))
        np.testing.assert_array_equal(oof, cv.oof()["p_response"].to_numpy())


def test_local_cluster_by_name() -> None:
    pytest.importorskip("distributed")
    np.testing.assert_array_equal(run("local", 2)[1], run(None, 1)[1])


def test_train_config_accepts_a_scheduler() -> None:
    from backpheno.models.config import TrainConfig

    fields = TrainConfig.model_fields
    assert "scheduler_address" in fields and fields["scheduler_address"].default is None
