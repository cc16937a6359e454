"""Summed-score EAP tables from item calibrations (the method behind the PROMIS tables)."""

from __future__ import annotations

import numpy as np

from backpheno.questionnaires.irt import category_probabilities, draw_responses, summed_score_table
from backpheno.questionnaires.tables import promis_item_parameters, promis_tables

SLEEP_4A = ("Sleep109", "Sleep116", "Sleep20", "Sleep44")
SLEEP_6A = (*SLEEP_4A, "Sleep108", "Sleep72")


def _calibrations(items):
    params = promis_item_parameters().set_index("item")
    return [(params.at[i, "slope"], params.loc[i, ["b1", "b2", "b3", "b4"]].tolist())
            for i in items]


def test_method_reproduces_the_official_sleep_4a_table(promis_reference):
    official = promis_reference[promis_reference["domain"] == "Sleep Disturbance"]
    derived = summed_score_table(_calibrations(SLEEP_4A))
    np.testing.assert_array_equal(derived["raw_sum"], official["raw_sum"])
    np.testing.assert_allclose(derived["t_score"], official["t_score"])
    np.testing.assert_allclose(derived["se"], official["se"])


def test_shipped_sleep_6a_table_is_the_derived_one():
    derived = summed_score_table(_calibrations(SLEEP_6A))
    shipped = promis_tables()["sleep_6a"]
    assert shipped.raw_range == (6, 30)
    np.testing.assert_allclose(shipped.values[:, 0], derived["t_score"])
    np.testing.assert_allclose(shipped.values[:, 1], derived["se"])
    # BACPAC Minimum Dataset example (Vincent-Toups/bacpac_val source_data/QSmd_err.csv,
    # SMART-0201-00001 week 0): PRSD6AR 26 -> PRSD6AT 66.5, the Minimum Dataset's own lookup.
    assert shipped.rows[26][0] == 66.5


def test_category_probabilities_sum_to_one_and_shift_with_theta():
    theta = np.linspace(-3, 3, 7)
    p = category_probabilities(theta, 2.0, [-1.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    expected = p @ np.arange(5)
    assert np.all(np.diff(expected) > 0)


def test_drawn_responses_follow_the_model():
    rng = np.random.default_rng(0)
    theta = np.full(40_000, 0.5)
    thresholds = np.array([[-1.0, 0.0, 1.0, 2.0]])
    drawn = draw_responses(theta, np.array([1.7]), thresholds, rng)[:, 0]
    frequencies = np.bincount(drawn, minlength=5) / len(drawn)
    expected = category_probabilities(np.array([0.5]), 1.7, thresholds[0])[0]
    np.testing.assert_allclose(frequencies, expected, atol=0.01)
