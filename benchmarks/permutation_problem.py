"""The permutation problems that bench_permutation.py and bench_distributed.py time."""

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
from backpheno.models.permutation import PermutationProblem
from backpheno.models.train import make_tuner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both benchmarks share: training config, its inputs, the arm."""
    parser.add_argument("--config", default="configs/best_stage1.yaml")
    parser.add_argument("--features")
    parser.add_argument("--outcomes")
    parser.add_argument("--arm", default="ESC")


def training_problem(args: argparse.Namespace) -> tuple[TrainConfig, TrainingData, Any]:
    """(config, data, tuner) of the configuration, as ``train`` sets them up."""
    overrides = {k: v for k, v in (("features", args.features), ("outcomes", args.outcomes)) if v}
    config = load_config(args.config, TrainConfig, overrides)
    data = load_training_data(config)
    return config, data, make_tuner(config, data)


def arm_data(config: TrainConfig, data: TrainingData, arm: str) -> tuple[
        pd.DataFrame, np.ndarray, Callable]:
    """(X, y, make_splits) of one arm, as ``train`` sets up its permutation test."""
    arm_rows = data.outcomes[config.arm_column].astype(str) == arm
    rows = data.outcomes.index[(arm_rows & data.y.notna()).to_numpy()]
    X, y = data.X.loc[rows], data.y.loc[rows].to_numpy(dtype=int)
    splits = functools.partial(outer_splits, scheme=config.cv.scheme,
                               n_splits=config.cv.outer_folds, seed=config.seed,
                               n_repeats=config.permutation.repeats)
    return X, y, splits


def arm_problem(args: argparse.Namespace) -> tuple[
        TrainConfig, TrainingData, Any, pd.DataFrame, np.ndarray, Callable]:
    """(config, data, tuner, X, y, make_splits) of the arm ``--arm``."""
    config, data, tuner = training_problem(args)
    return config, data, tuner, *arm_data(config, data, args.arm)


def permutation_problems(args: argparse.Namespace, arms: list[str] | None,
                         n_permutations: int) -> list[PermutationProblem]:
    """Each arm's permutation problem (default every arm of the configuration)."""
    config, data, tuner = training_problem(args)
    return [PermutationProblem(tuner, *arm_data(config, data, arm), n_permutations,
                               repeats=config.permutation.repeats, seed=config.seed)
            for arm in arms or config.arms]
