"""Tangent-space transformer: equal to nilearn, fitted inside folds, scikit-learn compatible."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from nilearn.connectome import ConnectivityMeasure, sym_matrix_to_vec
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
)

from backpheno.imaging.tangent import TangentSpace, sym_to_vec, vec_to_sym


@pytest.fixture
def timeseries():
    rng = np.random.default_rng(0)
    mixing = rng.standard_normal((6, 6))
    return [rng.standard_normal((60, 6)) @ (mixing + 0.3 * rng.standard_normal((6, 6)))
            for _ in range(12)]


def _nilearn_tangent(train, test):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measure = ConnectivityMeasure(kind="tangent", vectorize=True).fit(train)
        return measure, measure.transform(test)


def test_equals_nilearn_tangent_on_timeseries(timeseries):
    reference_model, reference = _nilearn_tangent(timeseries[:8], timeseries[8:])
    model = TangentSpace(input="timeseries").fit(timeseries[:8])
    np.testing.assert_allclose(model.mean_, reference_model.mean_, atol=1e-8)
    np.testing.assert_allclose(model.transform(timeseries[8:]), reference, atol=1e-7)


def test_covariance_and_vectorized_inputs_agree(timeseries):
    covariances = TangentSpace(input="timeseries")._covariances(timeseries, reset=True)
    vectors = sym_to_vec(covariances)
    np.testing.assert_allclose(vectors, sym_matrix_to_vec(covariances), atol=1e-12)
    np.testing.assert_allclose(vec_to_sym(vectors), covariances, atol=1e-12)
    a = TangentSpace().fit(covariances[:8]).transform(covariances[8:])
    b = TangentSpace(input="vectorized").fit(vectors[:8]).transform(vectors[8:])
    np.testing.assert_allclose(a, b, atol=1e-10)


def test_mean_depends_only_on_the_training_fold(timeseries):
    covariances = TangentSpace(input="timeseries")._covariances(timeseries, reset=True)
    model = TangentSpace().fit(covariances[:8])
    mean = model.mean_.copy()
    first = model.transform(covariances[8:])
    changed = covariances.copy()
    changed[8:] *= 3.0  # test participants change, the fitted mean must not
    model.transform(changed[8:])
    np.testing.assert_array_equal(model.mean_, mean)
    refit = TangentSpace().fit(covariances)  # leaking the test fold changes the embedding
    assert not np.allclose(refit.transform(covariances[8:]), first)
    single = model.transform(covariances[8:9])  # a test fold of one works (nilearn refuses)
    np.testing.assert_allclose(single, first[:1])


def test_inside_a_cross_validated_pipeline(timeseries):
    covariances = TangentSpace(input="timeseries")._covariances(timeseries * 3, reset=True)
    y = np.tile([0, 1], len(covariances) // 2)
    vectors = sym_to_vec(covariances)
    pipeline = make_pipeline(TangentSpace(input="vectorized"), LogisticRegression())
    scores = cross_val_score(pipeline, vectors, y, cv=KFold(3))
    assert scores.shape == (3,)


def test_scikit_learn_conventions(timeseries):
    covariances = TangentSpace(input="timeseries")._covariances(timeseries, reset=True)
    estimator = TangentSpace(region_names=list("abcdef"))
    check_no_attributes_set_in_init("TangentSpace", estimator)
    check_get_params_invariance("TangentSpace", estimator)
    with pytest.raises(NotFittedError):
        estimator.transform(covariances)
    fitted = clone(estimator).set_output(transform="pandas").fit(covariances)
    out = fitted.transform(covariances)
    assert isinstance(out, pd.DataFrame)
    assert out.shape == (len(covariances), 21)
    assert out.columns[0] == "tangent.a__a" and out.columns[1] == "tangent.a__b"
    assert fitted.n_features_in_ == 6
    with pytest.raises(ValueError, match="positive definite"):
        TangentSpace().fit(-covariances)
    with pytest.raises(ValueError, match="input must be"):
        TangentSpace(input="matrix").fit(covariances)
    with pytest.raises(ValueError, match="fitted on 6 regions"):
        fitted.transform(covariances[:, :4, :4])


def _edge_frame(timeseries, missing=()):
    """brain.edge.<a>__<b> Fisher-z columns as the brain extractor writes them."""
    regions = [f"roi{i}" for i in range(timeseries[0].shape[1])]
    rows, cols = np.triu_indices(len(regions), k=1)
    records = []
    for series in timeseries:
        r = np.corrcoef(series, rowvar=False)
        records.append({f"brain.edge.{regions[a]}__{regions[b]}": np.arctanh(r[a, b])
                        for a, b in zip(rows, cols, strict=True)})
    frame = pd.DataFrame(records, index=[f"sub-{i:02d}" for i in range(len(timeseries))])
    frame.iloc[list(missing)] = np.nan
    return frame


def test_edge_block_step_equals_tangent_space_on_the_correlation_matrices(timeseries):
    from backpheno.imaging.tangent import EdgeTangentSpace

    edges = _edge_frame(timeseries)
    step = EdgeTangentSpace().fit(edges)
    correlations = np.stack([np.corrcoef(s, rowvar=False) for s in timeseries])
    reference = TangentSpace(input="covariance").fit(correlations)
    np.testing.assert_allclose(step.transform(edges), reference.transform(correlations),
                               atol=1e-8)
    names = step.get_feature_names_out()
    assert len(names) == len(reference.get_feature_names_out())
    assert all(n.startswith("tangent.roi") for n in names)


def test_edge_block_step_skips_missing_rows(timeseries):
    from backpheno.imaging.tangent import EdgeTangentSpace

    edges = _edge_frame(timeseries, missing=(1, 4))
    step = EdgeTangentSpace().fit(edges)
    out = step.transform(edges)
    assert np.isnan(out[[1, 4]]).all() and np.isfinite(np.delete(out, [1, 4], axis=0)).all()
    complete = edges.dropna()
    np.testing.assert_allclose(step.tangent_.mean_, EdgeTangentSpace().fit(complete)
                               .tangent_.mean_)


def test_edge_columns_must_cover_every_pair():
    from backpheno.imaging.tangent import EdgeTangentSpace

    frame = pd.DataFrame({"brain.edge.a__b": [0.1, 0.2], "brain.edge.a__c": [0.1, 0.3]})
    with pytest.raises(ValueError, match="every pair"):
        EdgeTangentSpace().fit(frame)
    with pytest.raises(ValueError, match="not an edge column"):
        EdgeTangentSpace().fit(pd.DataFrame({"brain.fc.x": [0.1, 0.2]}))


def test_tangent_is_a_registered_training_block_step(timeseries):
    from backpheno.models.pipelines import BlockSpec, block_steps, build_pipeline, select_blocks
    from backpheno.table import codebook_row, make_codebook

    assert "tangent" in block_steps()
    edges = _edge_frame(timeseries * 3, missing=(2,))
    edges.index = [f"sub-{i:02d}" for i in range(len(edges))]
    y = np.arange(len(edges)) % 2
    codebook = make_codebook([codebook_row(c, modality="brain", source="t", unit="z",
                                           description=c) for c in edges.columns])
    blocks = select_blocks(codebook, list(edges.columns),
                           [BlockSpec("connectome", ("brain",), include=r"^brain\.edge\.",
                                      steps=("tangent",))])
    pipe = build_pipeline(blocks, model="elastic_net").fit(edges, y)
    step = pipe.named_steps["blocks"].named_transformers_["connectome"].named_steps["tangent"]
    complete = edges.dropna()
    np.testing.assert_allclose(step.tangent_.mean_,
                               type(step)().fit(complete).tangent_.mean_, atol=1e-10)
    assert pipe.predict_proba(edges).shape == (len(edges), 2)
