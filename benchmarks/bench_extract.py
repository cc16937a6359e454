"""Cohort extraction: scaling from 1 to 2 workers and orchestration overhead.

Prints, for the demo cohort (or ``--dataset``), the extraction time of the per-participant
extractors called directly in a loop (the reference), through the cohort runner with 1 worker
(overhead: caching, checksums, QC assembly; aim <= 10 %) and with 2 workers (scaling
efficiency T1 / (2 T2); aim >= 80 %). Every runner pass starts from an empty cache.

    python benchmarks/bench_extract.py [--dataset DIR] [--participants N]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from backpheno.cohort import extract_cohort, plan_tasks
from backpheno.config import load_config
from backpheno.dataset import Dataset
from backpheno.extract import ExtractConfig, configured_extractors
from backpheno.synth import simulate
from backpheno.synth.config import SimulateConfig

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="existing dataset (default: simulate)")
    parser.add_argument("--participants", type=int, default=None,
                        help="simulate this many participants instead of the demo size")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_extract_"))
    try:
        root = args.dataset
        if root is None:
            sim = load_config(REPO / "configs" / "demo_simulate.yaml", SimulateConfig,
                              {"participants": args.participants})
            root = work / "dataset"
            start = time.perf_counter()
            simulate(sim, root)
            print(f"simulated {sim.participants} participants in "
                  f"{time.perf_counter() - start:.1f} s")
        config = load_config(REPO / "configs" / "demo_extract.yaml", ExtractConfig,
                             {"dataset": str(root.resolve()), "out": str(work / "out")})
        dataset = Dataset(root)
        extractors = configured_extractors(config)
        tasks, _ = plan_tasks(dataset, extractors, config.deep_sessions)
        print(f"{len(tasks)} per-participant tasks over {sorted(extractors)}")

        start = time.perf_counter()
        for task in tasks:
            extractor, settings = extractors[task.modality]
            extractor.extract(task.inputs, settings, task.participant_id, task.session_id)
        direct = time.perf_counter() - start

        timings = {}
        for n_jobs in (1, 2):
            cache = work / f"cache{n_jobs}"
            start = time.perf_counter()
            extract_cohort(dataset, extractors, cache, sessions=config.deep_sessions,
                           n_jobs=n_jobs)
            timings[n_jobs] = time.perf_counter() - start
        print(f"direct loop (reference):   {direct:8.2f} s")
        print(f"cohort runner, 1 worker:   {timings[1]:8.2f} s  overhead "
              f"{100 * (timings[1] / direct - 1):+.1f} % (aim <= 10 %)")
        print(f"cohort runner, 2 workers:  {timings[2]:8.2f} s  speed-up "
              f"{timings[1] / timings[2]:.2f}x, scaling efficiency "
              f"{100 * timings[1] / (2 * timings[2]):.0f} % (aim >= 80 %)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
