"""Benchmark: label permutations of one arm's nested CV, fast path against the full refit.

Times ``--permutations`` permutations of one arm of a training configuration (default the demo's
``configs/best_stage1.yaml``: 5 x 3 nested CV, xgboost with a 2-point grid, ComBat on two
blocks, top-30 filter) twice in the same run: with the full :func:`nested_cv` refit per
permutation (the code before issue 17) and with :func:`fast_nested_cv`. Checks that both give the
same null values, prints both times, the ratio, and the projected time of 999 permutations of
every arm on ``--jobs`` cores. Needs the demo inputs (``make demo``) or ``--features`` /
``--outcomes``.

    python benchmarks/bench_permutation.py [--config configs/best_stage1.yaml] [--arm ESC]
                                           [--permutations 4] [--jobs 2]
"""

from __future__ import annotations

import argparse
import functools
import time
import warnings
from unittest import mock

import numpy as np
from permutation_problem import add_arguments, arm_problem

from backpheno.models.permutation import permutation_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--permutations", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    config, data, tuner, X, y, splits = arm_problem(args)
    run = functools.partial(permutation_test, tuner, X, y, 0.5, splits,
                            n_permutations=args.permutations,
                            repeats=config.permutation.repeats, seed=config.seed)
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    with mock.patch("backpheno.models.permutation.fast_path_problem", lambda tuner: "off"):
        full = run()
    t_full = (time.perf_counter() - start) / args.permutations
    start = time.perf_counter()
    fast = run()
    t_fast = (time.perf_counter() - start) / args.permutations
    same = np.allclose(full.null, fast.null, rtol=0, atol=1e-12)
    print(f"arm {args.arm}: {len(X)} participants x {len(data.feature_columns)} features, "
          f"{config.cv.outer_folds} x {config.cv.inner_folds} nested CV, "
          f"{config.permutation.repeats} repeat(s) per permutation, 1 core")
    print(f"full refit: {t_full:6.2f} s per permutation")
    print(f"fast path:  {t_fast:6.2f} s per permutation  (same null values: {same})")
    print(f"ratio full / fast: {t_full / t_fast:.2f}x")
    n_arms = len(config.arms)
    for label, seconds in (("full refit", t_full), ("fast path", t_fast)):
        print(f"projected 999 permutations x {n_arms} arms on {args.jobs} cores, {label}: "
              f"{999 * n_arms * seconds / args.jobs / 60:.1f} min")


if __name__ == "__main__":
    main()
