"""Benchmark: label permutations of one arm's nested CV: full refit, previous and current fast path.

Times ``--permutations`` permutations of one arm of a training configuration (default the demo's
``configs/best_stage1.yaml``: 5 x 3 nested CV, xgboost with a 2-point grid, ComBat on two
blocks, top-30 filter) three times in the same run, interleaved: with the full
:func:`nested_cv` refit per permutation (the code before issue 17), with the previous fast path
(``models/fastcv.py`` as of commit ``--previous``, read from git, with ComBat fitted on
DataFrames) and with the current :func:`fast_nested_cv`. Checks that all give the same null
values, prints the time per permutation of each, the ratios, and the projected time of 999
permutations of every arm on ``--jobs`` cores (default this machine's). Needs the demo inputs
(``make demo``) or ``--features`` / ``--outcomes``.

    python benchmarks/bench_permutation.py [--config configs/best_stage1.yaml] [--arm ESC]
                                           [--permutations 4] [--jobs N] [--previous 64bbb77]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import subprocess
import time
import types
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
from permutation_problem import add_arguments, arm_problem

from backpheno.models.permutation import permutation_test

#: The last commit before ComBat ran on arrays in the fast path (issue 17, second part).
PREVIOUS = "64bbb77"


def previous_fast_path(commit: str) -> types.ModuleType | None:
    """``backpheno.models.fastcv`` as of ``commit`` (None when git cannot show it)."""
    root = Path(__file__).resolve().parents[1]
    shown = subprocess.run(["git", "show", f"{commit}:src/backpheno/models/fastcv.py"],
                           cwd=root, capture_output=True, text=True, check=False)
    if shown.returncode:
        return None
    module = types.ModuleType(f"fastcv_{commit}")
    exec(compile(shown.stdout, module.__name__, "exec"), module.__dict__)   # noqa: S102
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--permutations", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=os.cpu_count(),
                        help="cores of the projection (default: this machine's, %(default)s)")
    parser.add_argument("--previous", default=PREVIOUS,
                        help="commit of the previous fast path (default %(default)s)")
    args = parser.parse_args()
    config, data, tuner, X, y, splits = arm_problem(args)
    run = functools.partial(permutation_test, tuner, X, y, 0.5, splits,
                            n_permutations=args.permutations,
                            repeats=config.permutation.repeats, seed=config.seed)
    warnings.simplefilter("ignore")
    previous = previous_fast_path(args.previous)
    paths = {"full refit": mock.patch("backpheno.models.permutation.fast_path_problem",
                                      lambda tuner: "off"),
             "fast path": contextlib.nullcontext()}
    if previous is not None:
        paths["previous fast path"] = mock.patch(
            "backpheno.models.permutation.fast_nested_cv", previous.fast_nested_cv)
    else:
        print(f"(commit {args.previous} not in this repository: previous fast path not timed)")
    seconds = {name: 0.0 for name in paths}
    nulls = {}
    for _ in range(2):                        # interleaved: same machine load for each path
        for name, patch in paths.items():
            start = time.perf_counter()
            with patch:
                nulls[name] = run().null
            seconds[name] += time.perf_counter() - start
    per = {name: s / (2 * args.permutations) for name, s in seconds.items()}
    same = all(np.allclose(null, nulls["fast path"], rtol=0, atol=1e-12)
               for null in nulls.values())
    print(f"arm {args.arm}: {len(X)} participants x {len(data.feature_columns)} features, "
          f"{config.cv.outer_folds} x {config.cv.inner_folds} nested CV, "
          f"{config.permutation.repeats} repeat(s) per permutation, 1 core, "
          f"{args.permutations} permutations x 2 rounds")
    for name, value in per.items():
        print(f"{name + ':':20s}{value:6.3f} s per permutation")
    print(f"same null values on every path: {same}")
    for name, value in per.items():
        if name != "fast path":
            print(f"ratio {name} / fast path: {value / per['fast path']:.2f}x")
    n_arms = len(config.arms)
    for name, value in per.items():
        print(f"projected 999 permutations x {n_arms} arms on {args.jobs} cores, {name}: "
              f"{999 * n_arms * value / args.jobs / 60:.1f} min")


if __name__ == "__main__":
    main()
