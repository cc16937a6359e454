"""Settings of the spine extractor (the ``spine`` section of an extract configuration)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from backpheno.config import StrictModel
from backpheno.dataset import MUSCLES
from backpheno.imaging.spine.labels import SPINE_MUSCLES

#: A label scheme: a built-in name, ``"dseg"``, a .tsv / .json path, or ``{value: name}``.
SchemeSpec = str | dict[int, str | None]


class SpineSettings(StrictModel):
    """How spine label maps are read and which thresholds apply.

    Attributes
    ----------
    sagittal_scheme, axial_scheme
        Label scheme of the sagittal (vertebrae, discs, canal) and axial (muscles) label maps:
        ``"dseg"`` (the dataset's ``derivatives/spineseg/dseg.tsv``), a built-in scheme
        (``spider``, ``totalspineseg``, ``totalspineseg-legacy``, ``spineps``, ``verse``,
        ``musclemap``), a path to a .tsv / .json scheme, or an inline ``{value: name}`` mapping.
    vertebra_extent
        ``auto`` trusts the scheme; ``body`` / ``whole`` say whether vertebra labels cover the
        vertebral body only or the whole vertebra (then the body is cut out between the discs).
    degeneration_threshold
        Nucleus/CSF T2 ratio below which a disc counts as degenerated. 0.5 is a starting point
        (about Pfirrmann III and worse on T2 FSE); calibrate it against graded discs of your
        scanners.
    height_index_reference
        Vertebral bodies a disc height is divided by: the mean of both neighbours, or the upper
        one only (for data whose S1 is part of a whole-sacrum label).
    muscles
        Paraspinal muscles to report.
    fat_fraction_scale
        Multiplies fat-fraction maps (0.01 for maps stored in percent).
    """

    sagittal_scheme: SchemeSpec = "dseg"
    axial_scheme: SchemeSpec = "dseg"
    vertebra_extent: Literal["auto", "body", "whole"] = "auto"
    degeneration_threshold: float = Field(0.5, gt=0.0, lt=2.0)
    height_index_reference: Literal["adjacent_mean", "upper"] = "adjacent_mean"
    muscles: list[str] = Field(default_factory=lambda: list(MUSCLES), min_length=1)
    fat_fraction_scale: float = Field(1.0, gt=0.0)

    @field_validator("muscles")
    @classmethod
    def _known_muscles(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SPINE_MUSCLES))
        if unknown:
            raise ValueError(f"unknown muscles {unknown}; known: {list(SPINE_MUSCLES)}")
        if len(set(value)) != len(value):
            raise ValueError("muscles must be unique")
        return value
