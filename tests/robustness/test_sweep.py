"""The reliability sweep: every damage ends in its outcome class, never silent, never a crash."""

from __future__ import annotations

import pytest

from robustness.damages import DAMAGES
from robustness.sweep import INPUT_KINDS, OUTCOMES, outcome_of

COMMANDS = ("extract", "brain-run", "spine-levels", "score", "train", "predict",
            "export-regime", "explain", "report", "simulate")


@pytest.mark.parametrize("damage", [
    pytest.param(d, id=d.id, marks=[pytest.mark.slow] if d.slow else []) for d in DAMAGES])
def test_damage_ends_in_its_outcome_class(damage, request, tmp_path):
    base = request.getfixturevalue("trained_base" if damage.needs_run else "sweep_base")
    ws = base.copy(tmp_path, with_run=damage.needs_run)
    damage.apply(ws)
    run = damage.run(ws)
    outcome, why = outcome_of(damage, run, ws)
    assert outcome == damage.outcome, why


def test_the_sweep_covers_every_input_kind_and_command():
    assert len({d.id for d in DAMAGES}) == len(DAMAGES) >= 60
    assert {d.kind for d in DAMAGES} == set(INPUT_KINDS)
    assert {d.command for d in DAMAGES} == set(COMMANDS)
    assert {d.outcome for d in DAMAGES} <= set(OUTCOMES)
    assert all(d.names for d in DAMAGES if d.outcome != "ok")
    assert all(d.slow for d in DAMAGES if d.needs_run)  # training stays out of the quick run
