"""Lookup tables shipped as package data: PROMIS summed-score tables and the PROPr model.

``backpheno/data/promis_tscores.csv``
    One row per (table, raw_sum) with t_score, se and the source of the numbers. Tables:
    ``pi_4a``, ``pf_4a``, ``anx_4a``, ``dep_4a``, ``fat_4a``, ``sleep_4a``, ``sr_4a`` (official
    HealthMeasures tables, two agreeing public transcriptions), ``sleep_6a`` (derived from the
    published item calibrations, see :mod:`~backpheno.questionnaires.irt`) and ``cog_2a``
    (Cognitive Function - Abilities 2a of the PROMIS-29+2, one public transcription).
``backpheno/data/promis_item_parameters.csv``
    Graded-response calibrations used to derive ``sleep_6a``.
``backpheno/data/propr_201709.json``
    Breakpoints, slopes, intercepts and constants of the PROPr multi-attribute utility function
    (Dewitt et al. 2018, R function ``propr.maut.function.201709``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ScoreTable:
    """A raw-sum → (T-score, SE) table with contiguous raw sums.

    Attributes
    ----------
    name : str
        Table key.
    offset : int
        Lowest raw sum.
    values : ndarray, shape (n, 2)
        T-score and SE for raw sums ``offset .. offset + n - 1``.
    source : str
        Where the numbers come from.
    """

    name: str
    offset: int
    values: np.ndarray
    source: str

    @cached_property
    def rows(self) -> dict[int, tuple[float, float]]:
        """``{raw_sum: (t_score, se)}``."""
        return {self.offset + i: (float(t), float(s)) for i, (t, s) in enumerate(self.values)}

    @property
    def t_range(self) -> tuple[float, float]:
        """Smallest and largest tabulated T-score."""
        return float(self.values[:, 0].min()), float(self.values[:, 0].max())

    @property
    def raw_range(self) -> tuple[int, int]:
        """Smallest and largest raw sum."""
        return self.offset, self.offset + len(self.values) - 1


def _data_file(name: str):
    return resources.files("backpheno").joinpath("data", name)


@cache
def promis_tables() -> dict[str, ScoreTable]:
    """Every shipped PROMIS summed-score table, keyed by table name."""
    with _data_file("promis_tscores.csv").open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle)
    tables = {}
    for name, sub in frame.groupby("table", sort=False):
        sub = sub.sort_values("raw_sum")
        raw = sub["raw_sum"].to_numpy()
        if not np.array_equal(raw, np.arange(raw[0], raw[0] + len(raw))):
            raise ValueError(f"PROMIS table {name} has gaps in its raw sums")
        tables[name] = ScoreTable(name, int(raw[0]), sub[["t_score", "se"]].to_numpy(float),
                                  str(sub["source"].iloc[0]))
    return tables


@cache
def promis_item_parameters() -> pd.DataFrame:
    """Graded-response calibrations (bank, item, slope, b1..b4, source) shipped as data."""
    with _data_file("promis_item_parameters.csv").open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


@cache
def propr_model() -> dict:
    """The PROPr 2017-09 model parameters (see module docstring)."""
    with _data_file("propr_201709.json").open("r", encoding="utf-8") as handle:
        return json.load(handle)


#: PROPr domain order of the original function's input vector.
PROPR_DOMAINS = ("cognition", "depression", "fatigue", "pain", "physical", "sleep", "social")


def propr_disutility(domain: str, theta: np.ndarray) -> np.ndarray:
    """Single-attribute disutility of one PROPr domain (piecewise linear in theta).

    Reproduces the ``if`` cascade of ``propr.maut.function.201709``: below the first breakpoint
    the domain's worst (or best) value, on ``[turn_i, turn_{i+1})`` the i-th line, from the last
    breakpoint on the other end value. NaN stays NaN.
    """
    spec = propr_model()["domains"][domain]
    turns = np.asarray(spec["turns"])
    slopes = np.asarray(spec["slopes"])
    intercepts = np.asarray(spec["intercepts"])
    theta = np.asarray(theta, dtype=float)
    idx = np.searchsorted(turns, theta, side="right") - 1
    inside = (idx >= 0) & (idx < len(slopes))
    safe = np.clip(idx, 0, len(slopes) - 1)
    out = np.where(idx < 0, spec["below"], spec["above"]).astype(float)
    out = np.where(inside, intercepts[safe] + theta * slopes[safe], out)
    return np.where(np.isnan(theta), np.nan, out)


def propr_score(*t_scores: np.ndarray) -> np.ndarray:
    """PROPr utility (dead = 0, full health = 1) from the seven domain T-scores.

    Parameters
    ----------
    *t_scores : arrays
        T-scores in the order of :data:`PROPR_DOMAINS` (cognition, depression, fatigue, pain
        interference, physical function, sleep disturbance, social roles). Thetas are
        ``(T - 50) / 10``.

    Returns
    -------
    array
        ``round(1 - 1.021915 * MAUD, 3)``; NaN where any domain is missing.
    """
    if len(t_scores) != len(PROPR_DOMAINS):
        raise ValueError(f"PROPr needs {len(PROPR_DOMAINS)} domain T-scores")
    model = propr_model()
    c_big = model["C"]
    product = 1.0
    for domain, t in zip(PROPR_DOMAINS, t_scores, strict=True):
        theta = (np.asarray(t, dtype=float) - 50.0) / 10.0
        corner = model["domains"][domain]["corner"]
        product = product * (1.0 + c_big * corner * propr_disutility(domain, theta))
    maud = (product - 1.0) / c_big
    return np.round(1.0 - model["to_dead"] * maud, 3)
