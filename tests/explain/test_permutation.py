"""Permutation null of the SHAP moderator importance (arm labels permuted within strata)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backpheno.errors import InputError
from backpheno.explain.moderators import arm_contrasts, rank_moderators, refit_each_arm
from backpheno.explain.permutation import _p_values, moderator_permutation_test, permute_within
from backpheno.explain.stability import resample_indices, resample_rankings
from backpheno.models.cluster import compute_backend


def test_permutation_within_strata_keeps_each_stratum():
    labels = pd.Series(list("AABBCCAABBCC"), index=[f"p{i}" for i in range(12)])
    strata = pd.Series(["s1"] * 6 + ["s2"] * 6, index=labels.index)
    rng = np.random.default_rng(0)
    moved = 0
    for _ in range(20):
        permuted = permute_within(labels, strata, rng)
        assert permuted.index.equals(labels.index)
        for stratum in ("s1", "s2"):
            rows = strata == stratum
            assert sorted(permuted[rows]) == sorted(labels[rows])
        moved += int((permuted != labels).any())
    assert moved > 0
    assert sorted(permute_within(labels, None, rng)) == sorted(labels)


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Two arms, 'mod' flips the response between them, 'noise' does nothing."""
    rng = np.random.default_rng(5)
    n = 300
    X = pd.DataFrame({"mod": rng.normal(size=n), "noise": rng.normal(size=n)},
                     index=pd.Index([f"p{i}" for i in range(n)], name="participant_id"))
    arm = pd.Series(np.resize(["A", "B"], n), index=X.index)
    eta = np.where(arm == "B", 2.0, -2.0) * X["mod"]
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float), index=X.index)
    return X, y, arm


def test_planted_moderator_beats_the_null_and_noise_does_not(planted):
    from sklearn.linear_model import LogisticRegression

    X, y, arm = planted
    fit_arms = refit_each_arm({"A": LogisticRegression(), "B": LogisticRegression()})
    models = fit_arms(X, y, arm)
    contrasts = arm_contrasts(["A", "B"])
    background = X.iloc[:50]
    observed = rank_moderators(models, X, background, contrasts)
    strata = pd.Series(np.resize(["s1", "s2", "s3"], len(X)), index=X.index)
    null = moderator_permutation_test(fit_arms, X, y, arm, background, contrasts, observed,
                                      n_permutations=9, strata=strata, seed=1)
    table = null.table.set_index("feature")
    assert table.loc["mod", "p_value"] == pytest.approx(0.1)  # the smallest possible: 1 / 10
    assert table.loc["mod", "p_max"] == pytest.approx(0.1)
    assert table.loc["noise", "p_value"] > 0.1
    assert (table["p_max"] >= table["p_value"]).all()
    assert (table["p_max_all"] >= table["p_max"]).all()
    assert (table["n_permutations"] == 9).all()
    assert set(null.null["permutation"]) == set(range(9))
    assert len(null.null) == 9 * 2  # one contrast, two features
    means = null.null.groupby(["contrast", "feature"], observed=True)["mean_abs_shap"].mean()
    np.testing.assert_allclose(means.loc[("B_vs_A", "mod")], table.loc["mod", "null_mean"])
    again = moderator_permutation_test(fit_arms, X, y, arm, background, contrasts, observed,
                                       n_permutations=9, strata=strata, seed=1)
    pd.testing.assert_frame_equal(null.table, again.table)


def test_p_values_count_the_own_contrast_and_overall_maxima():
    """Phipson-Smyth p-values of a hand-made null (4 permutations, 2 contrasts, 3 features),
    counted one by one: own feature, max over the contrast, max over everything."""
    null = np.array([[[0.1, 0.5, 0.0], [0.2, 0.1, 0.3]],
                     [[0.4, 0.2, 0.1], [0.1, 0.1, 0.1]],
                     [[0.3, 0.3, 0.3], [0.0, 0.6, 0.2]],
                     [[0.0, 0.1, 0.2], [0.2, 0.2, 0.2]]])
    observed = pd.DataFrame({"contrast": ["c1", "c1", "c2"], "feature": ["a", "c", "b"],
                             "mean_abs_shap": [0.35, 0.25, 0.25], "rank": [1, 2, 1]})
    table = _p_values(observed, null, ["c1", "c2"], ["a", "b", "c"]).set_index(
        ["contrast", "feature"])
    # c1/a = 0.35: own draws 0.1 0.4 0.3 0.0 -> 1 >=; c1 maxima 0.5 0.4 0.3 0.2 -> 2;
    # overall maxima 0.5 0.4 0.6 0.2 -> 3
    assert table.loc[("c1", "a"), ["p_value", "p_max", "p_max_all"]].tolist() == [0.4, 0.6, 0.8]
    # c1/c = 0.25: own 0.0 0.1 0.3 0.2 -> 1; c1 maxima -> 3; overall -> 3
    assert table.loc[("c1", "c"), ["p_value", "p_max", "p_max_all"]].tolist() == [0.4, 0.8, 0.8]
    # c2/b = 0.25: own 0.1 0.1 0.6 0.2 -> 1; c2 maxima 0.3 0.1 0.6 0.2 -> 2; overall -> 3
    assert table.loc[("c2", "b"), ["p_value", "p_max", "p_max_all"]].tolist() == [0.4, 0.6, 0.8]
    assert table.loc[("c1", "a"), "null_mean"] == pytest.approx(0.2)
    q95 = np.quantile([0.1, 0.4, 0.3, 0.0], 0.95)
    assert table.loc[("c1", "a"), "null_q95"] == pytest.approx(q95)
    assert (table["n_permutations"] == 4).all()


def null_and_stability(planted, scheduler: object, n_jobs: int
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Permutation table, null draws and resample rankings of the planted trial (xgboost),
    run through compute_backend as explain runs them."""
    import xgboost as xgb

    X, y, arm = planted
    model = xgb.XGBClassifier(n_estimators=15, max_depth=2, n_jobs=1, random_state=0)
    fit_arms = refit_each_arm({"A": model, "B": model})
    contrasts = arm_contrasts(["A", "B"])
    background = X.iloc[:40]
    observed = rank_moderators(fit_arms(X, y, arm), X, background, contrasts)
    strata = pd.Series(np.resize(["s1", "s1", "s2", "s2"], len(X)), index=X.index)
    samples = resample_indices(arm, 3, seed=4)
    with compute_backend(scheduler, n_jobs) as jobs:
        null = moderator_permutation_test(fit_arms, X, y, arm, background, contrasts, observed,
                                          n_permutations=6, strata=strata, seed=3, n_jobs=jobs)
        rankings = resample_rankings(fit_arms, X, y, arm, background, contrasts, samples,
                                     n_jobs=jobs)
    return null.table, null.null, pd.concat(rankings, ignore_index=True)


def test_same_null_and_stability_with_1_job_2_jobs_and_dask(planted):
    distributed = pytest.importorskip("distributed")
    one = null_and_stability(planted, None, 1)
    two = null_and_stability(planted, None, 2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, distributed.get_task_stream(client) as tasks:
        dask = null_and_stability(planted, client, 2)
        assert len(client.scheduler_info()["workers"]) == 2
    assert len(tasks.data) >= 2  # the draws ran on the cluster
    assert one[0]["p_value"].min() < one[0]["p_value"].max()  # the null tells features apart
    for result in (two, dask):
        for frame, expected in zip(result, one, strict=True):
            pd.testing.assert_frame_equal(frame, expected, check_exact=True)


def test_permutation_needs_at_least_one_draw(planted):
    X, y, arm = planted
    with pytest.raises(InputError):
        moderator_permutation_test(lambda *a: {}, X, y, arm, X, [], pd.DataFrame(),
                                   n_permutations=0)


def test_family_wise_p_accounts_for_selecting_the_top_feature_without_moderators():
    """Two arms, no moderator, 20 noise features: the top feature's own-null p is small by
    selection; its family-wise (max-T) p is not."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    n, p = 300, 20
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{i}" for i in range(p)],
                     index=pd.Index([f"p{i}" for i in range(n)], name="participant_id"))
    arm = pd.Series(np.resize(["A", "B"], n), index=X.index)
    eta = 0.8 * X["x0"] - 0.3  # prognostic, the same in both arms
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float), index=X.index)
    fit_arms = refit_each_arm({"A": LogisticRegression(), "B": LogisticRegression()})
    contrasts = arm_contrasts(["A", "B"])
    observed = rank_moderators(fit_arms(X, y, arm), X, X.iloc[:60], contrasts)
    table = moderator_permutation_test(fit_arms, X, y, arm, X.iloc[:60], contrasts, observed,
                                       n_permutations=19, seed=1).table
    top = table[table["rank"] == 1].iloc[0]
    assert top["p_value"] == pytest.approx(0.05)  # the smallest possible, by selection
    assert top["p_max"] > 0.05
    assert top["p_max_all"] >= top["p_max"]
    assert (table["p_max"] >= table["p_value"]).all()


@pytest.mark.slow
def test_family_wise_p_of_the_top_feature_on_null_cohorts(tmp_path, make_cohort, booster):
    """Slow (about 1 min on two cores): ten simulated 600-participant trials without
    moderators, xgboost per arm, 19 permutations within site. The top feature over all six
    pairs of arms has a family-wise p (max over every feature of every pair) above 0.05 in at
    least 9 of the 10 seeds; prints every pair's top feature with its per-feature and
    family-wise p (under the null, each pair's family-wise p is at most 0.05 in 1 of 20
    draws)."""
    from backpheno.explain.shap import select_background

    arms = ["ESC", "ACT", "EBEM", "DUL"]
    rows = []
    for seed in range(10):
        cohort = make_cohort(tmp_path / f"s{seed}", 600, seed, False)
        known = cohort.y.notna()
        X, y, arm = cohort.X[known], cohort.y[known], cohort.outcomes.loc[known, "arm1"]
        fit_arms = refit_each_arm({a: booster() for a in arms})
        background = select_background(X, 60, seed=0)
        contrasts = arm_contrasts(arms, ["pair"])
        observed = rank_moderators(fit_arms(X, y, arm), X, background, contrasts)
        table = moderator_permutation_test(fit_arms, X, y, arm, background, contrasts, observed,
                                           n_permutations=19,
                                           strata=cohort.outcomes.loc[known, "site"],
                                           seed=seed).table
        rows.append(table[table["rank"] == 1].assign(seed=seed))
        print(rows[-1][["seed", "contrast", "feature", "p_value", "p_max", "p_max_all"]]
              .to_string(index=False), flush=True)
    result = pd.concat(rows, ignore_index=True)
    top = result.sort_values("observed", ascending=False).groupby("seed").head(1)
    print(top[["seed", "contrast", "feature", "p_value", "p_max_all"]].to_string(index=False))
    print(f"pairs with family-wise p <= 0.05: {(result['p_max'] <= 0.05).sum()} of "
          f"{len(result)}; per-feature p <= 0.05: {(result['p_value'] <= 0.05).sum()}")
    assert (top["p_max_all"] > 0.05).sum() >= 9, top
