"""PROPr: the vectorised utility function against a literal port of the published R function."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from backpheno.questionnaires import score
from backpheno.questionnaires.tables import PROPR_DOMAINS, propr_score

from .conftest import answers_with_sum, frame


def _r_port(thetas):
    """``propr.maut.function.201709`` written as the R original: an if-cascade per domain."""
    model = json.loads(resources.files("backpheno").joinpath("data", "propr_201709.json")
                       .read_text(encoding="utf-8"))
    product = 1.0
    for domain, theta in zip(PROPR_DOMAINS, thetas, strict=True):
        spec = model["domains"][domain]
        turns, slopes, intercepts = spec["turns"], spec["slopes"], spec["intercepts"]
        value = spec["below"]
        for i in range(len(slopes)):
            if turns[i] <= theta < turns[i + 1]:
                value = intercepts[i] + theta * slopes[i]
        if turns[-1] <= theta:
            value = spec["above"]
        product *= 1 + model["C"] * spec["corner"] * value
    return round(1 - model["to_dead"] * (product - 1) / model["C"], 3)


def test_published_constants_are_those_of_the_r_function():
    model = json.loads(resources.files("backpheno").joinpath("data", "propr_201709.json")
                       .read_text(encoding="utf-8"))
    assert model["C"] == -0.9991828 and model["to_dead"] == 1.021915
    corners = {d: model["domains"][d]["corner"] for d in PROPR_DOMAINS}
    assert corners == {"cognition": 0.6350450, "depression": 0.6661641, "fatigue": 0.6386135,
                       "pain": 0.6529680, "physical": 0.6883584, "sleep": 0.5629657,
                       "social": 0.6112686}


def test_vectorised_propr_equals_the_r_port():
    rng = np.random.default_rng(7)
    t = rng.normal(50, 12, size=(2000, 7))
    t[:10] = np.array([[20, 80, 80, 80, 20, 80, 20], [80, 20, 20, 20, 80, 20, 80]] * 5)
    expected = np.array([_r_port((row - 50) / 10) for row in t])
    np.testing.assert_array_equal(propr_score(*t.T), expected)


def test_propr_extremes():
    best = propr_score(*[np.array([v]) for v in (80, 20, 20, 20, 80, 20, 80)])
    worst = propr_score(*[np.array([v]) for v in (20, 80, 80, 80, 20, 80, 20)])
    assert best[0] == 1.0
    assert worst[0] == pytest.approx(-0.022, abs=1e-9)
    assert np.isnan(propr_score(*[np.array([np.nan])] * 7)[0])


def test_promis29_plus_2_gives_propr():
    from backpheno.questionnaires.instruments.promis import COGNITION_ITEMS, DOMAIN_ITEMS

    row = {}
    for key in ("pf", "anx", "dep", "fat", "sleep", "sr", "pi"):
        row.update(zip([i for i, _ in DOMAIN_ITEMS[key]], answers_with_sum(12, 4), strict=True))
    row["Global07"] = 5
    row.update(zip([i for i, _ in COGNITION_ITEMS], (3, 4), strict=True))
    scores = score(frame([row]), "promis29").iloc[0]
    assert scores["q.promis29.cognition_t_score"] == 47.3  # raw 7 in the 2a table
    t = [scores[f"q.promis29.{p}t_score"] for p in ("cognition_", "dep_", "fatigue_", "pi_",
                                                    "pf_", "sleep_", "social_")]
    assert scores["q.promis29.propr"] == _r_port([(v - 50) / 10 for v in t])
