"""Synthetic BEST-like cohort with planted moderators (the embedded demo data)."""

from backpheno.synth.cohort import SimulationResult, simulate

__all__ = ["SimulationResult", "simulate"]
