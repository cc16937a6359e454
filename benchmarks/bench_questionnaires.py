"""Benchmark: score every instrument for 100,000 participant-sessions.

Prints, per instrument and in total, the vectorised engine's throughput and its speed-up over
the straightforward row-by-row implementation (:mod:`backpheno.questionnaires.rowwise`: a loop
over rows calling a per-row scorer) measured in the same run. The row-by-row reference is run on
a subsample (``--reference-rows`` per instrument) and scaled linearly to the full size; its
scores on that subsample are checked against the engine's.

Usage::

    PYTHONPATH=src python benchmarks/bench_questionnaires.py [--rows 100000] [--reference-rows 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from backpheno.questionnaires import INSTRUMENT_NAMES, QuestionnaireSettings, get_instrument
from backpheno.questionnaires.api import score_instrument, score_tables
from backpheno.questionnaires.rowwise import score_rows

CODING = "bacpac_0_6"


def synthetic_table(name: str, n: int, rng: np.random.Generator,
                    missing: float = 0.02) -> pd.DataFrame:
    """``n`` participant-sessions of valid answers (a share left missing)."""
    inst = get_instrument(name, CODING)
    data = {"participant_id": [f"sub-{i:06d}" for i in range(n)],
            "session_id": np.full(n, "ses-V0")}
    for it in inst.items:
        if it.values is not None:
            values = rng.choice(np.asarray(it.values), n)
        else:
            values = np.round(rng.uniform(*it.bounds, n), 2)
        data[it.column] = np.where(rng.random(n) < missing, np.nan, values)
    return pd.DataFrame(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reference-rows", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    print(f"{'instrument':<16}{'items':>6}{'engine s':>10}{'rows/s':>12}"
          f"{'row-by-row s*':>15}{'speed-up':>10}")
    tables = {}
    total_engine = total_reference = 0.0
    for name in INSTRUMENT_NAMES:
        table = synthetic_table(name, args.rows, rng)
        tables[name] = table
        start = time.perf_counter()
        result = score_instrument(table, name, pgic_coding=CODING)
        engine = time.perf_counter() - start

        sample = table.iloc[:args.reference_rows]
        start = time.perf_counter()
        reference = score_rows(sample, name, CODING)
        scaled = (time.perf_counter() - start) * len(table) / len(sample)
        np.testing.assert_allclose(result.scores.iloc[:len(sample)].to_numpy(),
                                   reference.to_numpy(), equal_nan=True)

        total_engine += engine
        total_reference += scaled
        items = len(get_instrument(name, CODING).items)
        print(f"{name:<16}{items:>6}{engine:>10.3f}{len(table) / engine:>12,.0f}"
              f"{scaled:>15.1f}{scaled / engine:>10.0f}x")

    start = time.perf_counter()
    features = score_tables(tables, QuestionnaireSettings(pgic_coding=CODING))
    assembled = time.perf_counter() - start
    print("-" * 69)
    print(f"all {len(INSTRUMENT_NAMES)} instruments, {args.rows:,} participant-sessions each:")
    print(f"  engine, instrument by instrument: {total_engine:.2f} s "
          f"({args.rows / total_engine:,.0f} participant-sessions/s through every instrument)")
    print(f"  row-by-row reference (*scaled from {args.reference_rows:,} rows per instrument): "
          f"{total_reference:.1f} s")
    print(f"  speed-up: {total_reference / total_engine:.0f}x")
    print(f"  score_tables -> FeatureTable ({features.data.shape[0]:,} rows x "
          f"{features.data.shape[1]} features, codebook, {len(features.qc):,} QC rows): "
          f"{assembled:.2f} s")


if __name__ == "__main__":
    main()
