"""Saved models: no pickle, identical predictions after loading, hashes and allow-list checked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from backpheno.errors import InputError
from backpheno.models.artifacts import load_model, load_models, save_model, write_manifest
from backpheno.models.pipelines import BlockSpec, build_pipeline, select_blocks
from backpheno.models.rundir import RunDirectory

from .conftest import arm_data

COMBAT = {"site": "site", "covariates": ["age", "sex"], "categorical": ["sex"],
          "min_site_size": 3}


def fitted(model: str) -> tuple[Pipeline, object]:
    X, y, codebook = arm_data(seed=3)
    specs = [BlockSpec("q", ("q",)), BlockSpec("brain", ("brain",), harmonize=True)]
    params = {"n_estimators": 10} if model != "elastic_net" else {}
    pipe = build_pipeline(select_blocks(codebook, list(X.columns), specs), model=model,
                          model_params=params, combat=COMBAT, filter_k=6)
    return pipe.fit(X, y), X


@pytest.mark.parametrize(("model", "files"), [
    ("xgboost", {"preprocess.skops", "model.json"}),
    ("elastic_net", {"model.skops"}),
    ("random_forest", {"model.skops"}),
])
def test_round_trip_gives_identical_predictions(model, files, tmp_path) -> None:
    pipe, X = fitted(model)
    entry = save_model(pipe, tmp_path / "arm")
    assert set(entry["files"]) == files
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))
    loaded = load_model(tmp_path / "arm", entry)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    if model == "xgboost":
        json.loads((tmp_path / "arm" / "model.json").read_text())   # plain JSON booster


def test_changed_file_is_refused(tmp_path) -> None:
    pipe, _ = fitted("xgboost")
    entry = save_model(pipe, tmp_path / "arm")
    booster = tmp_path / "arm" / "model.json"
    booster.write_text(booster.read_text().replace('"base_score"', '"base_score" '))
    with pytest.raises(InputError, match="model.json.*SHA-256"):
        load_model(tmp_path / "arm", entry)
    (tmp_path / "arm" / "preprocess.skops").unlink()
    with pytest.raises(InputError, match="missing"):
        load_model(tmp_path / "arm", entry)


class Sneaky(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):  # noqa: ANN001
        return self

    def transform(self, X):  # noqa: ANN001
        return X


def test_types_outside_the_allow_list_are_refused(tmp_path) -> None:
    pipe, X = fitted("elastic_net")
    sneaky = Pipeline([("sneaky", Sneaky()), *pipe.steps])
    (tmp_path / "arm").mkdir()
    sio.dump(sneaky, tmp_path / "arm" / "model.skops")
    from backpheno.io import file_sha256

    entry = {"kind": "sklearn", "files": {"model.skops":
                                          file_sha256(tmp_path / "arm" / "model.skops")}}
    with pytest.raises(InputError, match="Sneaky"):
        load_model(tmp_path / "arm", entry)


def test_manifest_and_load_models(tmp_path) -> None:
    pipe, X = fitted("elastic_net")
    models = tmp_path / "models"
    entry = save_model(pipe, models / "ACT")
    write_manifest(RunDirectory(tmp_path),
                   {"ACT": {"status": "ok", **entry, "input_columns": list(X.columns),
                            "feature_columns": [], "covariate_columns": []},
                    "ESC": {"status": "insufficient_data", "reason": "few"}},
                   {"name": "demo"})
    manifest = json.loads((models / "manifest.json").read_text())
    assert manifest["format"] == "backpheno-models/1"
    assert {"xgboost", "scikit-learn", "skops", "backpheno"} <= set(manifest["packages"])
    loaded = load_models(tmp_path)
    assert list(loaded) == ["ACT"] and loaded["ACT"].input_columns == list(X.columns)


def test_a_model_trained_for_cuda_loads_and_predicts_on_the_cpu(tmp_path) -> None:
    """model.json keeps no device: a run trained with ``model.device: cuda`` (here: the
    estimator set to CUDA after fitting, which is what the saved booster would carry) is read
    back as a plain CPU model with the same predictions."""
    import warnings

    pipe, X = fitted("xgboost")
    expected = pipe.predict_proba(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # xgboost: no visible GPU, using the CPU
        pipe[-1].set_params(device="cuda")
        entry = save_model(pipe, tmp_path / "arm")
    assert "cuda" not in (tmp_path / "arm" / "model.json").read_text()
    loaded = load_model(tmp_path / "arm", entry)
    assert loaded[-1].get_params()["device"] in (None, "cpu")
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=0, atol=1e-6)
