"""docs/reliability.md is generated from the sweep and must not go stale."""

from __future__ import annotations

from robustness.write_doc import DOC, render


def test_reliability_doc_matches_the_sweep():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/reliability.md is stale: run PYTHONPATH=src:tests python "
        "tests/robustness/write_doc.py")
