"""Shared helpers of the questionnaire tests."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def promis_reference(reference_dir) -> pd.DataFrame:
    """``shared/reference/promis_4a_tscores.csv``: the sourced PROMIS 4a tables."""
    return pd.read_csv(reference_dir / "promis_4a_tscores.csv")


def answers_with_sum(total: int, n_items: int, low: int = 1, high: int = 5) -> list[int]:
    """Item answers in ``low..high`` that add up to ``total`` (filled from the first item)."""
    assert n_items * low <= total <= n_items * high
    out = [low] * n_items
    rest = total - n_items * low
    for i in range(n_items):
        add = min(rest, high - low)
        out[i] += add
        rest -= add
    return out


def frame(rows: list[dict], session: str = "ses-V0") -> pd.DataFrame:
    """A phenotype table from dicts of answers (participants sub-01, sub-02, ...)."""
    out = pd.DataFrame(rows)
    out.insert(0, "session_id", session)
    out.insert(0, "participant_id", [f"sub-{i + 1:02d}" for i in range(len(rows))])
    return out
