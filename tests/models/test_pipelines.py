"""Block selection, pipeline assembly and the block-step extension point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from backpheno.errors import ConfigError, InputError
from backpheno.models import pipelines
from backpheno.models.harmonize import ComBat
from backpheno.models.pipelines import (
    Block,
    BlockSpec,
    build_pipeline,
    check_params,
    input_columns,
    make_estimator,
    register_block_step,
    search_space,
    select_blocks,
)

from .conftest import arm_data

COMBAT = {"site": "site", "covariates": ["age", "sex"], "categorical": ["sex"],
          "min_site_size": 3}
SPECS = [BlockSpec("questionnaires", ("q",)), BlockSpec("brain", ("brain",), harmonize=True)]


def test_blocks_use_only_feature_role_columns() -> None:
    X, _, codebook = arm_data()
    blocks = select_blocks(codebook, list(X.columns), SPECS)
    used = [c for b in blocks for c in b.columns]
    assert "brain.qc.mean_fd" not in used and "q.peg.change_v1" not in used
    assert len(used) == 10 and blocks[1].harmonize
    only_items = select_blocks(codebook, list(X.columns),
                               [BlockSpec("q", ("q",), include=r"item_[01]$")])
    assert only_items[0].columns == ("q.sim.item_0", "q.sim.item_1")


def test_overlapping_blocks_and_unknown_steps_are_refused() -> None:
    X, _, codebook = arm_data()
    with pytest.raises(ConfigError, match="is in blocks"):
        select_blocks(codebook, list(X.columns), [BlockSpec("a", ("q",)), BlockSpec("b", ("q",))])
    with pytest.raises(ConfigError, match="unknown steps"):
        select_blocks(codebook, list(X.columns), [BlockSpec("a", ("q",), steps=("nope",))])


@pytest.mark.parametrize("model", ["xgboost", "elastic_net", "random_forest"])
def test_every_model_fits_with_missing_blocks(model: str) -> None:
    X, y, codebook = arm_data()
    blocks = select_blocks(codebook, list(X.columns), SPECS)
    params = {"n_estimators": 10} if model != "elastic_net" else {}
    pipe = build_pipeline(blocks, model=model, model_params=params, combat=COMBAT, filter_k=6)
    proba = pipe.fit(X, y).predict_proba(X)[:, 1]
    assert np.isfinite(proba).all()
    assert isinstance(pipe.named_steps["blocks"].named_transformers_["brain"].steps[0][1], ComBat)
    impute = pipe.named_steps["impute"]
    assert (impute == "passthrough") == (model == "xgboost")
    assert (pipe.named_steps["scale"] != "passthrough") == (model == "elastic_net")
    assert input_columns(pipe)[-3:] == ["site", "age", "sex"]


def test_no_block_and_missing_combat_settings_are_errors() -> None:
    with pytest.raises(InputError, match="no feature block"):
        build_pipeline([])
    with pytest.raises(ConfigError, match="ComBat"):
        build_pipeline([Block("b", ("x",), harmonize=True)])


def test_search_space_names_and_check() -> None:
    space = search_space({"max_depth": [2, 3], "filter__k": [5]})
    assert space == {"model__max_depth": [2, 3], "filter__k": [5]}
    X, _, codebook = arm_data()
    pipe = build_pipeline(select_blocks(codebook, list(X.columns), SPECS[:1]), filter_k=3)
    assert check_params(pipe, {**space, "model__bogus": [1]}) == ["model__bogus"]
    assert make_estimator("elastic_net", {"C": 2.0}).C == 2.0


class Doubler(TransformerMixin, BaseEstimator):
    """A stand-in plug-in step: multiplies its block by 2, learns the column means."""

    def fit(self, X, y=None):  # noqa: ANN001
        self.means_ = np.asarray(X, dtype=float).mean(axis=0)
        self.names_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X):  # noqa: ANN001
        return pd.DataFrame(2 * np.asarray(X, dtype=float), index=X.index, columns=self.names_)

    def get_feature_names_out(self, input_features=None):  # noqa: ANN001
        return self.names_


def test_registered_block_step_is_fitted_inside_the_pipeline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipelines, "_BLOCK_STEPS", {})
    monkeypatch.setattr(pipelines, "_TRUSTED_STEP_TYPES", {})
    register_block_step("double", lambda block: Doubler(),
                        trusted_types=["tests.models.test_pipelines.Doubler"])
    assert pipelines.block_steps() == ("double",)
    assert pipelines.trusted_step_types() == ("tests.models.test_pipelines.Doubler",)
    X, y, codebook = arm_data()
    specs = [BlockSpec("questionnaires", ("q",), steps=("double",))]
    pipe = build_pipeline(select_blocks(codebook, list(X.columns), specs), model="elastic_net")
    pipe.fit(X, y)
    step = pipe.named_steps["blocks"].named_transformers_["questionnaires"].named_steps["double"]
    np.testing.assert_allclose(step.means_, X[list(step.names_)].mean().to_numpy())
    with pytest.raises(ValueError, match="built in"):
        register_block_step("combat", lambda block: Doubler())
