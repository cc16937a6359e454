"""The fast nested CV gives the out-of-fold predictions of the full one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backpheno.models.cv import InnerCV, Tuner, nested_cv, outer_splits
from backpheno.models.fastcv import RowSetCache, fast_nested_cv, fast_path_problem
from backpheno.models.harmonize import ComBat
from backpheno.models.permutation import mean_oof_auc, oof_auc, permutation_test
from backpheno.models.pipelines import Block, build_pipeline, search_space
from models.conftest import arm_data

COMBAT = {"site": "site", "covariates": ["age"], "categorical": [], "min_site_size": 3,
          "small_site": "passthrough"}


def arm_tuner(model: str, space: dict, kind: str = "grid", filter_k: int | None = 4) -> Tuner:
    X, _, _ = arm_data()
    blocks = [Block("q", tuple(c for c in X.columns if c.startswith("q.sim"))),
              Block("brain", tuple(c for c in X.columns if c.startswith("brain.sim")),
                    harmonize=True)]
    pipeline = build_pipeline(blocks, model=model, combat=COMBAT, filter_k=filter_k,
                              model_params={"n_estimators": 15} if model == "xgboost" else {})
    return Tuner(pipeline, search_space(space), InnerCV(3, seed=4), kind=kind, n_iter=3, seed=2)


def by_participant(result_oof: pd.DataFrame) -> np.ndarray:
    return result_oof.sort_values(["repeat", "participant_id"])["p_response"].to_numpy()


@pytest.mark.parametrize(("model", "space", "kind", "filter_k"), [
    ("xgboost", {"max_depth": [1, 2], "filter__k": [3, 6]}, "grid", 4),
    ("elastic_net", {"C": [0.05, 0.5, 5.0]}, "random", 4),
    ("random_forest", {}, "grid", None),
])
def test_same_predictions_as_nested_cv(model: str, space: dict, kind: str,
                                       filter_k: int | None) -> None:
    """Every OOF probability equals nested_cv's (ComBat, filter, imputation, search, model)."""
    X, y, _ = arm_data()
    tuner = arm_tuner(model, space, kind, filter_k)
    assert fast_path_problem(tuner) is None
    splits = outer_splits(y, n_splits=3, n_repeats=2, seed=5)
    slow = nested_cv(tuner, X, y, splits)
    fast = fast_nested_cv(tuner, X, y, splits)
    fast["participant_id"] = X.index[fast["position"]]
    np.testing.assert_allclose(by_participant(fast), by_participant(slow.oof()), rtol=0,
                               atol=1e-12)
    assert mean_oof_auc(fast) == pytest.approx(oof_auc(slow), abs=1e-12)


def test_row_set_cache_fits_each_row_set_once(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y, _ = arm_data()
    tuner = arm_tuner("xgboost", {"max_depth": [1, 2]})
    cache = RowSetCache(tuner.pipeline.named_steps["blocks"], X)
    fits = []
    original = ComBat.fit_data
    monkeypatch.setattr(ComBat, "fit_data", lambda self, data: fits.append(len(data.ids))
                        or original(self, data))
    monkeypatch.setattr(ComBat, "read", lambda self, X: pytest.fail("read again"))
    splits = outer_splits(y, n_splits=4, seed=5)
    fast_nested_cv(tuner, X, y, splits, cache=cache)
    # 4 outer training sets + 4 x 3 inner ones, each fitted once despite 2 candidates
    assert len(fits) == 16
    fits.clear()
    fast_nested_cv(tuner, X, y[::-1].copy(), splits, cache=cache)   # other labels, same folds
    assert len(fits) <= 12   # outer row sets reused; inner ones follow the labels


def test_fast_path_problems() -> None:
    tuner = arm_tuner("xgboost", {"max_depth": [1, 2]})
    assert fast_path_problem(Tuner(tuner.pipeline, tuner.space, scoring="accuracy"))
    assert "label-free" in fast_path_problem(
        Tuner(tuner.pipeline, {"blocks__brain__combat__eb": [True, False]}))


def test_permutation_null_unchanged_by_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y, _ = arm_data(n=90)
    tuner = arm_tuner("xgboost", {"max_depth": [1, 2]})

    def splits(labels: np.ndarray) -> list:
        return outer_splits(labels, n_splits=3, seed=1)

    fast = permutation_test(tuner, X, y, 0.6, splits, n_permutations=3, seed=9)
    monkeypatch.setattr("backpheno.models.permutation.fast_path_problem", lambda t: "off")
    slow = permutation_test(tuner, X, y, 0.6, splits, n_permutations=3, seed=9)
    np.testing.assert_allclose(fast.null, slow.null, rtol=0, atol=1e-12)


def test_grouped_scheme_same_as_nested_cv() -> None:
    """Grouped outer and inner splits (e.g. families or clinics) follow nested_cv too."""
    X, y, _ = arm_data(n=120)
    base = arm_tuner("elastic_net", {"C": [0.1, 1.0]})
    tuner = Tuner(base.pipeline, base.space, InnerCV(3, grouped=True, seed=4))
    groups = np.array([f"g{i % 15}" for i in range(len(y))])
    splits = outer_splits(y, scheme="group_kfold", n_splits=3, groups=groups, seed=2)
    slow = nested_cv(tuner, X, y, splits, groups=groups)
    fast = fast_nested_cv(tuner, X, y, splits, groups)
    fast["participant_id"] = X.index[fast["position"]]
    np.testing.assert_allclose(by_participant(fast), by_participant(slow.oof()), rtol=0,
                               atol=1e-12)
