"""Leakage-safe model pipelines built from feature blocks.

A pipeline is one scikit-learn :class:`~sklearn.pipeline.Pipeline`, so every step is fitted inside
the cross-validation fold it is used in::

    blocks   ColumnTransformer: one branch per feature block (questionnaires, biomech, spine,
             brain, ...); a branch may harmonise its features with ComBat (site and protected
             covariates routed to it as extra columns, consumed there) and then run registered
             block steps (the extension point, e.g. a tangent-space connectivity transformer)
    filter   optional missing-aware univariate filter (top-k Mann-Whitney / Spearman |z|)
    impute   optional SimpleImputer (+ missing indicators)
    scale    optional StandardScaler
    model    xgboost (native missing values), elastic-net logistic regression or random forest;
             the corresponding regressors for a continuous target (``task="regression"``)

Columns whose codebook role is not ``feature`` never enter a block. Block steps are registered
with :func:`register_block_step`; a step factory receives the :class:`Block` and returns an
unfitted transformer that takes the block's (harmonised) features as a DataFrame and returns a
DataFrame.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import DMatrix, XGBClassifier, XGBRegressor
from xgboost import build_info as xgb_build_info
from xgboost import train as xgb_train

from backpheno.errors import ConfigError, InputError
from backpheno.models.harmonize import ComBat
from backpheno.models.select import UnivariateFilter

logger = logging.getLogger("backpheno.models")

#: Model names understood by :func:`make_estimator`.
MODELS = ("xgboost", "elastic_net", "random_forest")

#: Default fixed hyper-parameters per model (overridden by configuration). xgboost uses 64
#: histogram bins instead of 256: per-arm training sets have a few hundred rows, so finer bins
#: add cost (about 3x per tree with 500 features) without resolution.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "xgboost": {"n_estimators": 200, "learning_rate": 0.05, "max_depth": 3, "subsample": 0.8,
                "colsample_bytree": 0.8, "min_child_weight": 1.0, "reg_lambda": 1.0,
                "max_bin": 64},
    "elastic_net": {"C": 0.1, "l1_ratio": 0.5, "max_iter": 5000, "tol": 1e-4},
    "random_forest": {"n_estimators": 300, "min_samples_leaf": 3, "max_features": "sqrt"},
}

#: Devices a model may be asked to train on (``model.device``).
DEVICES = ("cpu", "cuda", "auto")

#: Default fixed hyper-parameters of the regressors (``task: regression``). Elastic net:
#: :class:`~sklearn.linear_model.ElasticNet` (``alpha`` = penalty strength on standardised
#: inputs); random forest: a third of the features per split (Breiman's regression default).
REGRESSION_PARAMS: dict[str, dict[str, Any]] = {
    "xgboost": DEFAULT_PARAMS["xgboost"],
    "elastic_net": {"alpha": 0.1, "l1_ratio": 0.5, "max_iter": 5000, "tol": 1e-4},
    "random_forest": {"n_estimators": 300, "min_samples_leaf": 3, "max_features": 1 / 3},
}

#: Learning tasks: a binary target (classification) or a continuous one (regression).
TASKS = ("classification", "regression")

#: Pipeline step names, in order.
STEPS = ("blocks", "filter", "impute", "scale", "model")


@dataclass(frozen=True)
class Block:
    """A group of feature columns processed together.

    Attributes
    ----------
    name : str
        Branch name (unique).
    columns : tuple of str
        Feature columns of the block.
    harmonize : bool
        Apply ComBat (site + protected covariates) to the block.
    steps : tuple of str
        Registered block steps applied after harmonisation, in order.
    """

    name: str
    columns: tuple[str, ...]
    harmonize: bool = False
    steps: tuple[str, ...] = ()


BlockStepFactory = Callable[[Block], TransformerMixin]
_BLOCK_STEPS: dict[str, BlockStepFactory] = {}
_TRUSTED_STEP_TYPES: dict[str, tuple[str, ...]] = {}


def register_block_step(name: str, factory: BlockStepFactory,
                        trusted_types: Sequence[str] = ()) -> None:
    """Make a block step available to configurations by name.

    Parameters
    ----------
    name : str
        The name used in ``blocks[].steps`` of a training configuration.
    factory : callable
        ``factory(block) -> transformer``: an unfitted scikit-learn transformer that takes the
        block's features (DataFrame) and returns a DataFrame (``set_output`` aware). Fitted inside
        the fold like everything else.
    trusted_types : sequence of str
        Fully qualified type names the fitted transformer contains that skops does not trust by
        default (at least the transformer's own class); saved models containing them load only
        when the step is registered.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"block step names are lower_snake_case, got {name!r}")
    if name == "combat":
        raise ValueError("'combat' is built in: set harmonize: true on the block")
    _BLOCK_STEPS[name] = factory
    _TRUSTED_STEP_TYPES[name] = tuple(trusted_types)


def _tangent_step(block) -> Any:
    from backpheno.imaging.tangent import EdgeTangentSpace

    return EdgeTangentSpace()


register_block_step(
    "tangent", _tangent_step,
    trusted_types=("backpheno.imaging.tangent.EdgeTangentSpace",
                   "backpheno.imaging.tangent.TangentSpace"))


def block_steps() -> tuple[str, ...]:
    """Names of the registered block steps."""
    return tuple(sorted(_BLOCK_STEPS))


def trusted_step_types() -> tuple[str, ...]:
    """Type names declared by the registered block steps (for loading saved models)."""
    return tuple(t for types in _TRUSTED_STEP_TYPES.values() for t in types)


@dataclass(frozen=True)
class BlockSpec:
    """How to pick a block's columns from a codebook (what configurations describe)."""

    name: str
    modalities: tuple[str, ...]
    include: str | None = None
    exclude: str | None = None
    harmonize: bool = False
    steps: tuple[str, ...] = field(default_factory=tuple)


def select_blocks(codebook: pd.DataFrame, columns: Sequence[str],
                  specs: Sequence[BlockSpec]) -> list[Block]:
    """Resolve block specifications against a codebook.

    Only columns with ``role == "feature"`` are used. A column matched by several blocks is an
    error; a block that matches nothing is dropped (the caller decides whether that is fatal).

    Parameters
    ----------
    codebook : DataFrame
        Indexed by feature name with ``modality`` and ``role`` columns.
    columns : sequence of str
        Columns available in the data, in order.
    specs : sequence of BlockSpec
    """
    role = codebook["role"] if "role" in codebook.columns else pd.Series("feature", codebook.index)
    usable = [c for c in columns if c in codebook.index and role.get(c) == "feature"]
    blocks, owner = [], {}
    for spec in specs:
        unknown = [s for s in spec.steps if s not in _BLOCK_STEPS]
        if unknown:
            raise ConfigError(f"block {spec.name!r}: unknown steps {unknown}; registered: "
                              f"{list(block_steps())}")
        chosen = [c for c in usable if codebook.loc[c, "modality"] in spec.modalities
                  and (spec.include is None or re.search(spec.include, c))
                  and (spec.exclude is None or not re.search(spec.exclude, c))]
        for c in chosen:
            if c in owner:
                raise ConfigError(f"feature {c!r} is in blocks {owner[c]!r} and {spec.name!r}")
            owner[c] = spec.name
        if chosen:
            blocks.append(Block(spec.name, tuple(chosen), spec.harmonize, tuple(spec.steps)))
    return blocks


@functools.cache
def cuda_available() -> bool:
    """Whether xgboost can train on a CUDA GPU here (it silently uses the CPU otherwise; this
    trains a one-tree model on two rows and reads back the device xgboost settled on)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        booster = xgb_train({"device": "cuda", "tree_method": "hist"},
                            DMatrix(np.zeros((2, 1)), label=[0.0, 1.0]), 1)
    return json.loads(booster.save_config())["learner"]["generic_param"]["device"] != "cpu"


def resolve_device(device: str) -> str:
    """The xgboost device for a ``model.device`` setting: ``cpu``; ``cuda`` (an error naming the
    key when xgboost sees no GPU); ``auto`` (``cuda`` when there is a GPU, else ``cpu``)."""
    if device not in DEVICES:
        raise ConfigError(f"model.device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if device == "cuda":
        raise ConfigError("model.device is 'cuda' but xgboost sees no usable CUDA GPU on this "
                          f"machine (xgboost built with CUDA: "
                          f"{bool(xgb_build_info().get('USE_CUDA'))}); use device: cpu, or "
                          "auto to use a GPU only where there is one")
    logger.info("model.device auto: no CUDA GPU visible to xgboost, training on the CPU")
    return "cpu"


def make_estimator(name: str, params: Mapping[str, Any] | None = None,
                   seed: int = 0, device: str = "cpu",
                   task: str = "classification") -> BaseEstimator:
    """An unfitted classifier (or regressor) with backpheno's defaults, ``params`` on top.

    Classification: ``xgboost`` is :class:`xgboost.XGBClassifier` (hist trees, one thread,
    NaN = missing) on ``device`` (``cpu`` or ``cuda``, see :func:`resolve_device`);
    ``elastic_net`` is :class:`~sklearn.linear_model.LogisticRegression` with the saga solver
    and an elastic-net penalty (``l1_ratio`` in [0, 1], ``C`` = inverse strength);
    ``random_forest`` is :class:`~sklearn.ensemble.RandomForestClassifier`.

    Regression (``task="regression"``): :class:`xgboost.XGBRegressor` (squared error, on
    ``device``), :class:`~sklearn.linear_model.ElasticNet` (``alpha``, ``l1_ratio``) and
    :class:`~sklearn.ensemble.RandomForestRegressor`, defaults in :data:`REGRESSION_PARAMS`.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {MODELS}")
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of {TASKS}")
    regression = task == "regression"
    defaults = REGRESSION_PARAMS if regression else DEFAULT_PARAMS
    merged = {**defaults[name], **dict(params or {})}
    if name == "xgboost":
        base = {"tree_method": "hist", "n_jobs": 1, "random_state": seed, "device": device}
        if regression:
            return XGBRegressor(**{**base, "objective": "reg:squarederror",
                                   "eval_metric": "rmse", **merged})
        return XGBClassifier(**{**base, "objective": "binary:logistic", "eval_metric": "logloss",
                                **merged})
    if name == "elastic_net":
        if regression:
            return ElasticNet(**{"random_state": seed, **merged})
        return LogisticRegression(**{"solver": "saga", "random_state": seed, **merged})
    forest = RandomForestRegressor if regression else RandomForestClassifier
    return forest(**{"n_jobs": 1, "random_state": seed, **merged})


def build_pipeline(
    blocks: Sequence[Block],
    *,
    model: str = "xgboost",
    model_params: Mapping[str, Any] | None = None,
    combat: Mapping[str, Any] | None = None,
    impute: str = "auto",
    missing_indicator: bool = True,
    scale: str = "auto",
    filter_k: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    task: str = "classification",
) -> Pipeline:
    """Assemble the fold-safe pipeline (see the module docstring).

    Parameters
    ----------
    blocks : sequence of Block
    model : {"xgboost", "elastic_net", "random_forest"}
    model_params : mapping, optional
        Fixed model hyper-parameters.
    combat : mapping, optional
        Keyword arguments of :class:`~backpheno.models.harmonize.ComBat` (``site``,
        ``covariates``, ``categorical``, ``unseen_site``, ``min_site_size``, ``eb``,
        ``mean_only``); required when a block harmonises.
    impute : {"auto", "none", "median", "mean"}
        ``auto``: none for xgboost (native missing handling), median otherwise.
    missing_indicator : bool
        Add indicator columns for features with missing values when imputing.
    scale : {"auto", "none", "standard"}
        ``auto``: standardise for elastic net only.
    filter_k : int, optional
        Keep the k features with the strongest univariate association (Mann-Whitney z for a
        binary target, Spearman z for a continuous one; fitted in the fold).
    seed : int
        Random state of the model.
    device : {"cpu", "cuda"}
        Where xgboost trains (ignored by the other models).
    task : {"classification", "regression"}
        Classifier or regressor (see :func:`make_estimator`).
    """
    if not blocks:
        raise InputError("no feature block has any feature; check the blocks' modalities against "
                         "the feature table's codebook")
    if any(b.harmonize for b in blocks) and combat is None:
        raise ConfigError("a block harmonises but no ComBat settings were given")
    branches = []
    for block in blocks:
        columns = list(block.columns)
        steps: list[tuple[str, Any]] = []
        if block.harmonize:
            settings = dict(combat or {})
            extra = [settings.get("site", "site"), *settings.get("covariates", ())]
            columns = columns + [c for c in extra if c not in columns]
            steps.append(("combat", ComBat(features=list(block.columns), **settings)))
        steps += [(name, _BLOCK_STEPS[name](block)) for name in block.steps]
        branch = Pipeline(steps) if steps else "passthrough"
        branches.append((block.name, branch, columns))
    transformer = ColumnTransformer(branches, remainder="drop", verbose_feature_names_out=False)

    impute = ("none" if model == "xgboost" else "median") if impute == "auto" else impute
    scale = ("standard" if model == "elastic_net" else "none") if scale == "auto" else scale
    pipeline = Pipeline([
        ("blocks", transformer),
        ("filter", UnivariateFilter(k=filter_k) if filter_k else "passthrough"),
        ("impute", "passthrough" if impute == "none" else
         SimpleImputer(strategy=impute, add_indicator=missing_indicator)),
        ("scale", StandardScaler() if scale == "standard" else "passthrough"),
        ("model", make_estimator(model, model_params, seed,
                                 device if model == "xgboost" else "cpu", task)),
    ])
    return pipeline.set_output(transform="pandas")


def search_space(space: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """Prefix hyper-parameter names for the pipeline: bare names go to the model step
    (``max_depth`` -> ``model__max_depth``); names containing ``__`` are used as given
    (``filter__k``)."""
    return {(k if "__" in k else f"model__{k}"): list(v) for k, v in space.items()}


def check_params(pipeline: Pipeline, params: Mapping[str, Any]) -> list[str]:
    """Names in ``params`` (pipeline form) that ``pipeline`` does not accept."""
    valid = set(pipeline.get_params(deep=True))
    return [k for k in params if k not in valid]


def input_columns(pipeline: Pipeline) -> list[str]:
    """Every column the pipeline reads (features plus site / covariate columns), in order."""
    transformer: ColumnTransformer = pipeline.named_steps["blocks"]
    seen: dict[str, None] = {}
    for _, _, columns in transformer.transformers:
        for c in columns:
            seen.setdefault(c, None)
    return list(seen)
