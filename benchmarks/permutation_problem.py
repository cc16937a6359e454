"""The one-arm permutation problem that bench_permutation.py and bench_distributed.py time."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from backpheno.config import load_config
from backpheno.models.config import TrainConfig
from backpheno.models.cv import outer_splits
from backpheno.models.inputs import TrainingData, load_training_data
from backpheno.models.train import make_tuner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both benchmarks share: training config, its inputs, the arm."""
    parser.add_argument("--config", default="configs/best_stage1.yaml")
    parser.add_argument("--features")
    parser.add_argument("--outcomes")
    parser.add_argument("--arm", default="ESC")


def arm_problem(args: argparse.Namespace) -> tuple[
        TrainConfig, TrainingData, Any, pd.DataFrame, np.ndarray, Callable]:
    """(config, data, tuner, X, y, make_splits) of one arm, as ``train`` sets up its
    permutation test."""
    overrides = {k: v for k, v in (("features", args.features), ("outcomes", args.outcomes)) if v}
    config = load_config(args.config, TrainConfig, overrides)
    data = load_training_data(config)
    tuner = make_tuner(config, data)
    arm_rows = data.outcomes[config.arm_column].astype(str) == args.arm
    rows = data.outcomes.index[(arm_rows & data.y.notna()).to_numpy()]
    X, y = data.X.loc[rows], data.y.loc[rows].to_numpy(dtype=int)
    splits = functools.partial(outer_splits, scheme=config.cv.scheme,
                               n_splits=config.cv.outer_folds, seed=config.seed,
                               n_repeats=config.permutation.repeats)
    return config, data, tuner, X, y, splits
