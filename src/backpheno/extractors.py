"""The contract between per-participant extractors and the cohort runner.

A per-participant extractor (brain, spine, biomechanics) is a module-level object following
:class:`Extractor`: it finds its input files for one participant × session, and turns those files
plus settings into an :class:`ExtractionResult`. ``extract`` is a pure function of the files and
the settings, so the cohort runner can cache results keyed by the input files' checksums, the
settings and the package version, run participants in parallel processes, and isolate failures
(an exception becomes a ``failed`` QC row for that participant and modality).

Questionnaires are scored vectorised over the whole cohort instead
(:func:`backpheno.questionnaires.score_dataset`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from backpheno.dataset import Dataset


@dataclass
class ExtractionResult:
    """Features of one participant × session × modality.

    Attributes
    ----------
    features : dict
        Feature name → value (float; NaN when not measurable, with a QC row saying why).
    codebook : list of dict
        One :func:`backpheno.table.codebook_row` per feature name in ``features``.
    qc : list of dict
        QC records with the keys of :data:`backpheno.table.QC_COLUMNS`.
    """

    features: dict[str, float]
    codebook: list[dict[str, object]]
    qc: list[dict[str, object]] = field(default_factory=list)


class Extractor(Protocol):
    """What the cohort runner needs from a per-participant modality."""

    #: Modality name used in feature names, the codebook and the QC table.
    modality: str
    #: The pydantic settings model of this modality (a section of the extract config).
    settings_model: type[BaseModel]

    def find_inputs(self, dataset: Dataset, participant_id: str, session_id: str,
                    settings: BaseModel) -> dict[str, Path] | None:
        """Input files of one participant × session, or ``None`` when the session has none.

        Raises :class:`~backpheno.errors.InputError` when some but not all required files exist.
        """

    def extract(self, inputs: dict[str, Path], settings: BaseModel, participant_id: str,
                session_id: str) -> ExtractionResult:
        """Features from the files found by :meth:`find_inputs`."""
