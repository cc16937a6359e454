"""What a synthetic modality writer receives: one participant × session, picklable."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ParticipantSpec:
    """Everything a per-participant writer needs to generate one session's files.

    Attributes
    ----------
    participant_id, session_id : str
        BIDS identifiers (``sub-001``, ``ses-V0``).
    site : str
        Acquisition site.
    age : float
        Years.
    sex : str
        ``"F"`` or ``"M"``.
    bmi : float
        kg/m².
    traits : dict
        Latent trait values (standard normal scale).
    site_effect : dict
        This site's scanner offsets (see :func:`backpheno.synth.design.site_effects`).
    seed : int
        The simulation seed; combine with :meth:`rng` for per-stream randomness.
    index : int
        Position of the participant in the cohort (0-based).
    """

    participant_id: str
    session_id: str
    site: str
    age: float
    sex: str
    bmi: float
    traits: dict[str, float]
    site_effect: dict[str, float]
    seed: int
    index: int
    extra: dict[str, object] = field(default_factory=dict)

    def rng(self, stream: str) -> np.random.Generator:
        """A generator that depends only on (seed, participant, session, stream).

        Results are therefore identical whatever the number of worker processes or the order in
        which participants are generated.
        """
        key = zlib.crc32(f"{self.session_id}/{stream}".encode())
        return np.random.default_rng([self.seed, self.index, key])
