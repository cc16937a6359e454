"""Settings of questionnaire scoring (a section of the cohort / extract configuration)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from backpheno.config import InputPath, StrictModel
from backpheno.dataset import DEFAULT_SESSION_WEEKS, check_session_id
from backpheno.errors import InputError


class SdtmInput(StrictModel):
    """BACPAC Minimum Dataset long tables to read instead of ``phenotype/*.tsv``."""

    qs: InputPath | None = Field(None, description="QS domain table (csv, tsv, xpt or sas7bdat)")
    ft: InputPath | None = Field(None, description="FT domain table (physical exam and QST)")
    studyid: str | None = Field(None, description="STUDYID prefix stripped from USUBJID; "
                                                  "default: the table's STUDYID column")


class VisitMap(StrictModel):
    """How SDTM visits become sessions: one column's values mapped to session labels.

    Example (a BACPAC export numbering visits 1, 2, 3, ...)::

        visits:
          column: VISITNUM
          sessions: {1: ses-V0, 2: ses-W06, 3: ses-V1, 4: ses-W18, 5: ses-V2, 6: ses-W36}
          skip: [0]          # screening: rows dropped without a problem

    ``VISITNUM`` values are compared as numbers (``3`` matches ``3.0``); ``VISIT`` names as text,
    ignoring case and surrounding spaces.
    """

    column: Literal["VISITNUM", "VISIT"] = Field(
        "VISITNUM", description="SDTM column naming the visit")
    sessions: dict[str, str] = Field(min_length=1, description="visit -> session label")
    skip: list[str] = Field(default_factory=list,
                            description="visits whose rows are dropped without a problem")

    @field_validator("sessions", mode="before")
    @classmethod
    def _text_keys(cls, value: object) -> object:
        if isinstance(value, dict):
            return {_visit_text(k): v for k, v in value.items()}
        return value

    @field_validator("skip", mode="before")
    @classmethod
    def _text_skip(cls, value: object) -> object:
        if isinstance(value, list):
            return [_visit_text(v) for v in value]
        return value

    @field_validator("sessions")
    @classmethod
    def _session_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for session in value.values():
            try:
                check_session_id(session)
            except InputError as err:
                raise ValueError(err.reason) from None
        return value

    @model_validator(mode="after")
    def _numeric_visitnum(self) -> VisitMap:
        if self.column == "VISITNUM":
            bad = [k for k in [*self.sessions, *self.skip] if not _is_number(k)]
            if bad:
                raise ValueError(f"VISITNUM values must be numbers, got {bad}; map visit names "
                                 "with column: VISIT")
        return self


def _visit_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: The ``visits`` setting: the ``weeks`` preset or an explicit :class:`VisitMap`.
Visits = Annotated[
    Annotated[Literal["weeks"], Tag("preset")] | Annotated[VisitMap, Tag("map")],
    Discriminator(lambda value: "preset" if isinstance(value, str) else "map"),
]


class QuestionnaireSettings(StrictModel):
    """How questionnaires and clinical tests are scored.

    Attributes
    ----------
    pgic_coding : {"bacpac_0_6", "common_1_7", "reversed_1_7"}
        Required: how the dataset numbers the PGIC answers. ``bacpac_0_6``: 0 = very much
        improved .. 6 = very much worse (BACPAC Minimum Dataset); ``common_1_7``: 1 = very much
        improved .. 7 = very much worse (NINDS CDE); ``reversed_1_7``: 1 = very much worse ..
        7 = very much improved.
    invalid_answers : {"error", "set_missing"}
        ``error`` (default): one error listing every invalid answer, duplicated row, unknown or
        missing column. ``set_missing``: set them missing and record each in the QC table.
    instruments : list of str, optional
        Score only these instruments (default: every known instrument found).
    sdtm : SdtmInput, optional
        Read the BACPAC Minimum Dataset long format instead of the BIDS phenotype tables.
    visits : "weeks" or VisitMap
        How SDTM visits become sessions. ``weeks`` (default): ``VISITNUM`` is the week after
        baseline, mapped through ``session_weeks`` (0 → ses-V0, 6 → ses-W06, 12 → ses-V1,
        18 → ses-W18, 24 → ses-V2, 36 → ses-W36). A :class:`VisitMap` maps ``VISITNUM`` values
        (visit numbers 1, 2, 3 ...) or ``VISIT`` names to sessions explicitly.
    session_weeks : dict
        Session label → weeks after baseline: the ``weeks`` preset, and the ``VISITNUM`` that
        :func:`~backpheno.questionnaires.sdtm.write_sdtm` writes.
    """

    pgic_coding: Literal["bacpac_0_6", "common_1_7", "reversed_1_7"]
    invalid_answers: Literal["error", "set_missing"] = "error"
    instruments: list[str] | None = None
    sdtm: SdtmInput | None = None
    visits: Visits = Field(
        "weeks", description="SDTM visits -> sessions: 'weeks' (VISITNUM is weeks after "
        "baseline, through session_weeks) or {column, sessions, skip}")
    session_weeks: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SESSION_WEEKS),
        description="session -> weeks after baseline (the 'weeks' visits preset)")

    @model_validator(mode="before")
    @classmethod
    def _coding_declared(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("pgic_coding") is None:
            raise ValueError(
                "pgic_coding is required: declare how the dataset numbers PGIC answers, "
                "bacpac_0_6 (0 = very much improved .. 6 = very much worse, BACPAC Minimum "
                "Dataset), common_1_7 (1 = very much improved .. 7 = very much worse) or "
                "reversed_1_7 (1 = very much worse .. 7 = very much improved)")
        return data

    @field_validator("instruments")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        from backpheno.questionnaires.registry import INSTRUMENT_NAMES

        if value is None:
            return value
        unknown = sorted(set(value) - set(INSTRUMENT_NAMES))
        if unknown:
            raise ValueError(f"unknown instruments {unknown}; known: {list(INSTRUMENT_NAMES)}")
        return value
