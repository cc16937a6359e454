"""Settings of questionnaire scoring (a section of the cohort / extract configuration)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from backpheno.config import InputPath, StrictModel
from backpheno.dataset import DEFAULT_SESSION_WEEKS


class SdtmInput(StrictModel):
    """BACPAC Minimum Dataset long tables to read instead of ``phenotype/*.tsv``."""

    qs: InputPath | None = Field(None, description="QS domain table (csv, tsv, xpt or sas7bdat)")
    ft: InputPath | None = Field(None, description="FT domain table (physical exam and QST)")
    studyid: str | None = Field(None, description="STUDYID prefix stripped from USUBJID; "
                                                  "default: the table's STUDYID column")


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
    session_weeks : dict
        Session label → weeks after baseline, used to map SDTM ``VISITNUM`` to sessions.
    """

    pgic_coding: Literal["bacpac_0_6", "common_1_7", "reversed_1_7"]
    invalid_answers: Literal["error", "set_missing"] = "error"
    instruments: list[str] | None = None
    sdtm: SdtmInput | None = None
    session_weeks: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SESSION_WEEKS))

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
