"""Declarations of every instrument backpheno scores (one module per family)."""

from backpheno.questionnaires.instruments import (
    beliefs,
    clinical,
    function,
    mood,
    other,
    pain,
    promis,
    widespread,
)

__all__ = ["beliefs", "clinical", "function", "mood", "other", "pain", "promis", "widespread"]
