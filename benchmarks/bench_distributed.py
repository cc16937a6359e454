"""Benchmark: permutations of every arm on a Dask LocalCluster, scaling with the workers.

Runs ``--permutations`` label permutations of each arm of a training configuration (default the
demo's ``configs/best_stage1.yaml``, 4 arms; needs ``make demo`` or ``--features`` /
``--outcomes``) as one flat list of tasks on a :class:`distributed.LocalCluster` of 1, 2, ...
single-threaded workers (``--workers``), through the code path ``backpheno train --scheduler``
uses (:func:`permutation_nulls`). Checks that every cluster size gives the same null values and
prints the wall time, the speed-up and the scaling efficiency (speed-up / workers) per cluster
size. On a machine with fewer free cores than workers the efficiency measures the machine, not
the code.

    python benchmarks/bench_distributed.py [--workers 1 2] [--permutations 4] [--arms ESC DUL]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from distributed import Client, LocalCluster
from permutation_problem import add_arguments, permutation_problems

from backpheno.models.cluster import compute_backend
from backpheno.models.permutation import permutation_nulls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--permutations", type=int, default=4, help="per arm")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--arms", nargs="+", help="default: every arm of the configuration")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    problems = permutation_problems(args, args.arms, args.permutations)
    times, nulls = {}, {}
    for workers in args.workers:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(lambda: warnings.simplefilter("ignore"))
            with compute_backend(client, workers) as n_jobs:
                start = time.perf_counter()
                nulls[workers] = np.concatenate(permutation_nulls(problems, n_jobs))
                times[workers] = time.perf_counter() - start
    base = args.workers[0]
    same = all(np.array_equal(nulls[w], nulls[base]) for w in args.workers)
    print(f"{len(problems)} arm(s) x {args.permutations} permutations as one list of tasks; "
          f"same null values on every cluster size: {same}")
    for workers in args.workers:
        speedup = times[base] * base / times[workers]
        print(f"{workers} worker(s): {times[workers]:7.1f} s  speed-up {speedup:.2f}x  "
              f"efficiency {speedup / workers:.0%}")


if __name__ == "__main__":
    main()
