"""ComBat: agreement with neuroCombat and the fold-safe behaviours neuroCombat lacks."""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
)

from backpheno.errors import InputError
from backpheno.models.harmonize import (
    ComBat,
    SmallSiteWarning,
    UnseenLevelWarning,
    UnseenSiteWarning,
)

from .conftest import multisite_frame

neurocombat = pytest.importorskip("neuroCombat")
NC_MODULE = importlib.import_module("neuroCombat.neuroCombat")
FEATURES = [f"f{i}" for i in range(20)]


def run_neurocombat(frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch | None = None,
                    **kwargs: object) -> dict:
    """neuroCombat on the same data (features x samples, float64), optionally with its EB
    convergence tolerance tightened to 1e-12."""
    if monkeypatch is not None:
        original = NC_MODULE.it_sol
        monkeypatch.setattr(NC_MODULE, "it_sol",
                            lambda *a, **k: original(*a, conv=1e-12))
    covars = frame[["site", "age", "sex"]].reset_index(drop=True)
    data = frame[FEATURES].to_numpy(dtype=float).T.copy()
    with contextlib.redirect_stdout(io.StringIO()):
        return NC_MODULE.neuroCombat(data, covars, "site", categorical_cols=["sex"],
                                     continuous_cols=["age"], **kwargs)


def combat(**kwargs: object) -> ComBat:
    return ComBat(covariates=["age", "sex"], categorical=["sex"], **kwargs)


def test_estimates_and_data_match_neurocombat(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = multisite_frame()
    ref = run_neurocombat(frame, monkeypatch)
    model = combat(tol=1e-12).fit(frame)
    np.testing.assert_allclose(model.gamma_star_, ref["estimates"]["gamma.star"], atol=1e-6)
    np.testing.assert_allclose(model.delta_star_, ref["estimates"]["delta.star"], rtol=1e-6)
    np.testing.assert_allclose(model.gamma_hat_, ref["estimates"]["gamma_hat"], atol=1e-6)
    np.testing.assert_allclose(model.var_pooled_, ref["estimates"]["var.pooled"].ravel(),
                               rtol=1e-6)
    # neuroCombat casts continuous covariates to float32, hence 1e-6 rather than 1e-12
    np.testing.assert_allclose(model.transform(frame).to_numpy(), ref["data"].T, atol=1e-5)


def test_default_tolerance_matches_neurocombat_defaults() -> None:
    frame = multisite_frame(seed=3)
    ref = run_neurocombat(frame)
    out = combat().fit_transform(frame)
    np.testing.assert_allclose(out.to_numpy(), ref["data"].T, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("kwargs", [{"eb": False}, {"mean_only": True}])
def test_variants_match_neurocombat(kwargs: dict) -> None:
    frame = multisite_frame(seed=5)
    ref = run_neurocombat(frame, **kwargs)
    model = combat(**kwargs).fit(frame)
    np.testing.assert_allclose(model.gamma_star_, ref["estimates"]["gamma.star"], atol=1e-6)
    np.testing.assert_allclose(model.delta_star_, ref["estimates"]["delta.star"], rtol=1e-6)
    np.testing.assert_allclose(model.transform(frame).to_numpy(), ref["data"].T, atol=1e-5)


def test_site_effects_are_removed() -> None:
    frame = multisite_frame(n=600, seed=1)
    out = combat().fit_transform(frame)
    raw_means = frame.groupby("site")[FEATURES].mean().mean(axis=1)
    new_means = out.groupby(frame["site"])[FEATURES].mean().mean(axis=1)
    assert raw_means.max() - raw_means.min() > 1.2
    assert new_means.max() - new_means.min() < 0.15
    new_sd = out.groupby(frame["site"])[FEATURES].std().mean(axis=1)
    assert new_sd.max() / new_sd.min() < 1.15


def test_any_subset_down_to_one_participant() -> None:
    frame = multisite_frame()
    model = combat().fit(frame)
    full = model.transform(frame)
    one = model.transform(frame.iloc[[7]])
    pd.testing.assert_frame_equal(one, full.iloc[[7]])
    only_s2 = frame[frame["site"] == "s2"]
    pd.testing.assert_frame_equal(model.transform(only_s2), full.loc[only_s2.index])


def from_training(data: np.ndarray, site: np.ndarray, est: dict) -> np.ndarray:
    """neuroCombatFromTraining's arithmetic (neuroCombat 0.2.12; the function itself fails on
    numpy >= 2.3 with "only 0-dimensional arrays can be converted"): the training-average
    covariate effect ``mod.mean.mean(axis=1)`` replaces each new participant's own."""
    index = [list(est["batches"]).index(s) for s in site]
    mean = (est["stand.mean"][:, 0] + est["mod.mean"].mean(axis=1))[:, None]
    z = (data - mean) / np.sqrt(est["var.pooled"])
    z = (z - est["gamma.star"][index].T) / np.sqrt(est["delta.star"][index].T)
    return z * np.sqrt(est["var.pooled"]) + mean


def test_new_participants_keep_their_own_covariate_effects() -> None:
    """Transforming the training rows reproduces neuroCombat's output (each row's own covariate
    effect); neuroCombatFromTraining's average-effect shortcut does not."""
    frame = multisite_frame(seed=2)
    ref = run_neurocombat(frame)
    ours = combat().fit(frame).transform(frame).to_numpy()
    theirs = from_training(frame[FEATURES].to_numpy(dtype=float).T, frame["site"].to_numpy(),
                           ref["estimates"]).T
    np.testing.assert_allclose(ours, ref["data"].T, rtol=1e-3, atol=1e-3)
    assert np.abs(theirs - ref["data"].T).max() > 0.2


def test_unseen_site_error_policy_names_the_site() -> None:
    model = combat().fit(multisite_frame())
    new = multisite_frame(n=10, seed=9, sites=("s1", "s9"))
    with pytest.raises(InputError, match="s9"):
        model.transform(new)


def test_unseen_site_passthrough_policy_warns_and_leaves_rows_uncorrected() -> None:
    model = combat(unseen_site="passthrough").fit(multisite_frame())
    new = multisite_frame(n=30, seed=9, sites=("s1", "s9"))
    with pytest.warns(UnseenSiteWarning, match="s9"):
        out = model.transform(new)
    unseen = new["site"] == "s9"
    pd.testing.assert_frame_equal(out[unseen], new.loc[unseen, FEATURES])
    assert not np.allclose(out[~unseen].to_numpy(), new.loc[~unseen, FEATURES].to_numpy())


def test_small_site_is_refused_by_name() -> None:
    frame = multisite_frame()
    frame.loc[frame.index[:3], "site"] = "tiny"
    with pytest.raises(InputError, match=r"'tiny' \(3\).*min_site_size=5"):
        combat().fit(frame)
    assert combat(min_site_size=3).fit(frame).sites_.tolist() == ["s1", "s2", "s3", "tiny"]


def test_one_participant_site_does_not_turn_output_into_nan() -> None:
    """neuroHarmonize returns all-NaN output with a one-subject site; here it is either refused
    (default) or, if allowed, shrunk to the site prior and finite everywhere."""
    frame = multisite_frame()
    frame.loc[frame.index[0], "site"] = "single"
    with pytest.raises(InputError, match="single"):
        combat().fit(frame)
    out = combat(min_site_size=1).fit_transform(frame)
    assert np.isfinite(out.to_numpy()).all()


def test_constant_features_pass_through_and_are_recorded() -> None:
    frame = multisite_frame()
    with_constant = frame.assign(const=3.0)
    model = combat().fit(with_constant)
    assert model.constant_features_ == ["const"]
    out = model.transform(with_constant)
    assert (out["const"] == 3.0).all()
    pd.testing.assert_frame_equal(out[FEATURES], combat().fit_transform(frame))


def test_missing_values_are_ignored_in_estimation_and_kept_in_output() -> None:
    frame = multisite_frame(n=300, seed=4)
    rng = np.random.default_rng(0)
    holes = frame.copy()
    mask = rng.random((len(frame), len(FEATURES))) < 0.1
    holes[FEATURES] = holes[FEATURES].mask(mask)
    holes.loc[holes.index[:40], FEATURES] = np.nan          # participants without imaging
    model = combat().fit(holes)
    out = model.transform(holes)
    assert np.array_equal(out.isna().to_numpy(), holes[FEATURES].isna().to_numpy())
    assert np.isfinite(model.gamma_star_).all() and np.isfinite(model.delta_star_).all()
    complete = combat().fit(frame)
    np.testing.assert_allclose(model.gamma_star_, complete.gamma_star_, atol=0.15)


def test_site_without_observations_for_a_feature_gets_the_site_prior() -> None:
    frame = multisite_frame(n=200, seed=6)
    frame.loc[frame["site"] == "s2", "f3"] = np.nan
    model = combat().fit(frame)
    b = list(model.sites_).index("s2")
    others = [j for j in range(len(FEATURES)) if j != 3]
    assert model.gamma_star_[b, 3] == pytest.approx(np.mean(model.gamma_hat_[b, others]))
    assert model.transform(frame)["f3"][frame["site"] == "s2"].isna().all()


@pytest.mark.parametrize("name", ["responder", "arm1", "response3", "tactic2", "peg_change_v1"])
def test_post_randomisation_covariates_are_refused(name: str) -> None:
    frame = multisite_frame().assign(**{name: 1.0})
    with pytest.raises(InputError, match="post-randomisation"):
        ComBat(covariates=["age", name]).fit(frame)


def test_covariate_equal_to_the_label_is_refused() -> None:
    frame = multisite_frame()
    y = (frame["sex"] == "F").astype(int).to_numpy()
    with pytest.raises(InputError, match="same information as the label"):
        combat().fit(frame, y)


def test_bad_covariates_are_named() -> None:
    frame = multisite_frame()
    model = combat().fit(frame)
    other = frame.copy()
    other.loc[other.index[0], "sex"] = "X"
    with pytest.warns(UnseenLevelWarning, match=r"\['X'\] of covariate 'sex'"):
        out = model.transform(other)
    reference = frame.iloc[[0]].assign(sex="F")     # F is the reference (first) level
    pd.testing.assert_frame_equal(out.iloc[[0]], model.transform(reference))
    other = frame.copy()
    other.loc[other.index[2], "age"] = np.nan
    with pytest.raises(InputError, match="sub-002"):
        model.transform(other)
    confounded = frame.assign(scanner=frame["site"].eq("s1").map({True: "a", False: "b"}))
    with pytest.raises(InputError, match="collinear"):
        ComBat(covariates=["scanner"], categorical=["scanner"], features=FEATURES).fit(confounded)


def test_single_feature_falls_back_to_least_squares() -> None:
    frame = multisite_frame()[["f0", "site", "age", "sex"]]
    with pytest.warns(UserWarning, match="empirical Bayes"):
        model = combat().fit(frame)
    assert not model.eb_
    np.testing.assert_allclose(model.gamma_star_, model.gamma_hat_)


def test_scikit_learn_conventions() -> None:
    frame = multisite_frame()
    original = frame.copy()
    model = combat()
    check_parameters_default_constructible("ComBat", model)
    check_no_attributes_set_in_init("ComBat", model)
    check_get_params_invariance("ComBat", model)
    with pytest.raises(NotFittedError):
        model.transform(frame)
    assert model.fit(frame) is model
    pd.testing.assert_frame_equal(frame, original)
    assert model.n_features_in_ == 23 and list(model.get_feature_names_out()) == FEATURES
    pd.testing.assert_frame_equal(clone(model).fit_transform(frame), model.transform(frame))
    assert clone(model).get_params() == model.get_params()
    for output in ("pandas", "default"):
        out = clone(model).set_output(transform=output).fit_transform(frame)
        assert isinstance(out, pd.DataFrame) and out.index.equals(frame.index)
    with pytest.raises(InputError, match="DataFrame"):
        clone(model).fit(frame[FEATURES].to_numpy())


def test_inside_a_column_transformer() -> None:
    frame = multisite_frame().assign(other=1.5)
    columns = [*FEATURES, "site", "age", "sex"]
    ct = ColumnTransformer([("combat", combat(features=FEATURES), columns),
                            ("rest", "passthrough", ["other"])],
                           verbose_feature_names_out=False).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ct.fit_transform(frame)
    assert list(out.columns) == [*FEATURES, "other"]
    alone = combat().fit_transform(frame.drop(columns="other"))
    pd.testing.assert_frame_equal(out[FEATURES], alone)


def test_rows_without_data_need_no_site_or_covariates() -> None:
    frame = multisite_frame()
    frame.loc[frame.index[:10], FEATURES] = np.nan
    frame.loc[frame.index[:5], ["site", "age"]] = [np.nan, np.nan]
    model = combat().fit(frame)
    assert model.site_counts_.sum() == len(frame) - 10
    out = model.transform(frame)
    assert out.iloc[:10].isna().all().all() and out.iloc[10:].notna().all().all()


def test_small_site_passthrough_policy() -> None:
    frame = multisite_frame(n=150)
    frame.loc[frame.index[:3], "site"] = "tiny"
    with pytest.warns(SmallSiteWarning, match="tiny"):
        model = combat(small_site="passthrough").fit(frame)
    assert model.small_sites_ == ["tiny"] and "tiny" not in model.sites_
    reference = combat().fit(frame.iloc[3:])
    np.testing.assert_array_equal(model.gamma_star_, reference.gamma_star_)
    with pytest.warns(SmallSiteWarning):
        out = model.transform(frame)
    pd.testing.assert_frame_equal(out.iloc[:3], frame.iloc[:3][FEATURES])
    pd.testing.assert_frame_equal(out.iloc[3:], reference.transform(frame.iloc[3:]))
    with pytest.warns(SmallSiteWarning):
        nothing = combat(small_site="passthrough", min_site_size=1000).fit(frame)
    with pytest.warns(SmallSiteWarning):
        pd.testing.assert_frame_equal(nothing.transform(frame), frame[FEATURES])


def test_site_without_data_in_training_is_small_under_passthrough() -> None:
    frame = multisite_frame(n=150)
    frame.loc[frame["site"] == "s3", FEATURES] = np.nan
    new = multisite_frame(n=30, seed=8)
    with pytest.warns(SmallSiteWarning):
        model = combat(small_site="passthrough").fit(frame)
        out = model.transform(new)
    assert model.small_sites_ == ["s3"]
    s3 = new["site"] == "s3"
    pd.testing.assert_frame_equal(out[s3], new.loc[s3, FEATURES])
    with pytest.raises(InputError, match="s3"):
        combat().fit(frame).transform(new)


def awkward_frame(seed: int) -> pd.DataFrame:
    """Rows without data (some without site or age), holes, a two-participant site, a site
    only in the held-out rows, a categorical covariate."""
    rng = np.random.default_rng(seed)
    frame = multisite_frame(n=120, seed=seed, sites=("s1", "s2", "s3", "s4"))
    frame[FEATURES] = frame[FEATURES].mask(rng.random((len(frame), len(FEATURES))) < 0.05)
    empty = (rng.random(len(frame)) < 0.3) & (np.arange(len(frame)) >= 2)
    frame.loc[empty, FEATURES] = np.nan
    frame.loc[empty & (rng.random(len(frame)) < 0.5), ["site", "age"]] = [np.nan, np.nan]
    frame.loc[frame.index[:2], "site"] = "tiny"
    frame.loc[frame.index[-3:], "site"] = "new"
    return frame


@pytest.mark.parametrize("kwargs", [{}, {"eb": False}, {"mean_only": True}])
def test_row_subsets_of_one_read_equal_fits_on_the_sliced_frames(kwargs: dict) -> None:
    """What the fast nested CV does (read the frame once, fit and apply on row subsets) gives
    the estimator's numbers on the sliced frames, warnings and errors included."""
    policy = {"min_site_size": 3, "small_site": "passthrough", "unseen_site": "passthrough"}
    for seed in range(8):
        frame = awkward_frame(seed)
        rng = np.random.default_rng(seed)
        train = np.r_[0, 1, np.sort(rng.choice(np.arange(2, len(frame) - 3), 78, replace=False))]
        test = np.setdiff1d(np.arange(len(frame)), train)
        data = combat(**policy, **kwargs).read(frame)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sliced = combat(**policy, **kwargs).fit(frame.iloc[train])
            expected = sliced.transform(frame.iloc[test]).to_numpy()
        with warnings.catch_warnings(record=True) as again:
            warnings.simplefilter("always")
            subset = combat(**policy, **kwargs).fit_data(data.take(train))
            values = subset.transform_data(data.take(test))
        assert [str(w.message) for w in again] == [str(w.message) for w in caught]
        assert {SmallSiteWarning, UnseenSiteWarning} <= {w.category for w in caught}
        assert subset.small_sites_ == sliced.small_sites_ == ["tiny"]
        assert subset.categories_ == sliced.categories_
        for name in ("gamma_star_", "delta_star_", "beta_", "var_pooled_"):
            np.testing.assert_allclose(getattr(subset, name), getattr(sliced, name), rtol=0,
                                       atol=1e-12)
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
    row = next(i for i in train if data.has_data[i] and frame["site"].iloc[i] in subset.sites_)
    frame.loc[frame.index[row], "sex"] = "X"           # a level unseen at fit, then errors
    with pytest.warns(UnseenLevelWarning, match="'X'"):
        subset.transform_data(combat(**policy).read(frame).take([row]))
    frame.loc[frame.index[train[6]], "site"] = np.nan
    with pytest.raises(InputError, match="site is missing"):
        combat(**policy).fit_data(combat(**policy).read(frame).take(train))
    with pytest.warns(SmallSiteWarning), pytest.raises(InputError, match="'new'"):
        combat(min_site_size=3, small_site="passthrough").fit_data(data.take(train)) \
            .transform_data(data.take(test))
