"""The model.device setting: CPU by default, CUDA only when asked and present."""

from __future__ import annotations

import numpy as np
import pytest

from backpheno.errors import ConfigError
from backpheno.models.pipelines import cuda_available, make_estimator, resolve_device

GPU = cuda_available()


def test_cpu_is_the_default() -> None:
    assert make_estimator("xgboost").get_params()["device"] == "cpu"
    assert resolve_device("cpu") == "cpu"


@pytest.mark.skipif(GPU, reason="a GPU is present")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"model.device is 'cuda' but xgboost sees no usable"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


def test_cuda_only_for_xgboost() -> None:
    from pydantic import ValidationError

    from backpheno.models.config import ModelSettings

    with pytest.raises(ValidationError, match="xgboost only"):
        ModelSettings(name="elastic_net", device="cuda")
    assert ModelSettings(device="auto").device == "auto"


@pytest.mark.skipif(not GPU, reason="needs a CUDA GPU")
def test_gpu_predictions_match_the_cpu() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20))
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    params = {"n_estimators": 100, "subsample": 1.0, "colsample_bytree": 1.0}
    cpu = make_estimator("xgboost", params, device="cpu").fit(X, y).predict_proba(X)[:, 1]
    gpu = make_estimator("xgboost", params, device="cuda").fit(X, y).predict_proba(X)[:, 1]
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)
