"""``backpheno extract CONFIG``: one feature table, outcomes and a regime export from a dataset.

Writes, under ``out``:

``features.parquet`` (+ ``features.csv``, ``features_codebook.csv/json``, ``features_qc.tsv``)
    The FeatureTable: rows participant × session, the codebook and QC embedded.
``baseline.parquet`` / ``baseline.csv``
    The wide baseline view: one row per participant, participants.tsv columns plus the
    ``ses-V0`` features.
``outcomes.parquet`` / ``outcomes.csv``
    Responder labels, three-level response, stage-2 pathway and continuous targets (PEG percent
    change; improvement of PEG, LBP intensity, ODI, RMDQ, PROMIS PI / PF, positive = better).
``outcomes_codebook.parquet`` / ``outcomes_codebook.csv``
    Unit and direction of every outcome column.
``smart.parquet`` / ``smart.csv`` / ``smart_roles.json``
    The SMART regime export (:mod:`backpheno.regimes.export`).
``extract_summary.json``, ``logs/extract.log``
    Task counts, cache hits and failures.

Per-task results are cached under ``cache`` (default ``out/cache``), so reruns skip finished
work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, Field, model_validator

from backpheno.biomech import EXTRACTOR as BIOMECH_EXTRACTOR
from backpheno.biomech import BiomechSettings
from backpheno.cohort import CohortResult, extract_cohort, write_json_summary
from backpheno.config import InputPath, OutputPath, StrictModel
from backpheno.dataset import DEFAULT_ARMS, DEFAULT_SESSION_WEEKS, Dataset, UnknownPolicy
from backpheno.extractors import Extractor
from backpheno.imaging.brain import EXTRACTOR as BRAIN_EXTRACTOR
from backpheno.imaging.brain import BrainSettings
from backpheno.imaging.freesurfer import EXTRACTOR as FREESURFER_EXTRACTOR
from backpheno.imaging.freesurfer import FreeSurferSettings
from backpheno.imaging.spine import EXTRACTOR as SPINE_EXTRACTOR
from backpheno.imaging.spine import SpineSettings
from backpheno.io import atomic_path
from backpheno.lock import output_lock
from backpheno.outcomes import OutcomeSettings, build_outcomes, outcomes_codebook
from backpheno.questionnaires import QuestionnaireSettings, score_dataset
from backpheno.rcsv import write_r_csv
from backpheno.regimes.export import RegimeExportSettings, export_regime
from backpheno.table import FeatureTable, make_qc


class ExtractConfig(StrictModel):
    """Settings of ``backpheno extract``."""

    dataset: InputPath = Field(description="dataset folder (the one with participants.tsv)")
    out: OutputPath = Field(description="output folder")
    cache: OutputPath | None = Field(None, description="task cache (default: out/cache)")
    n_jobs: int = Field(1, ge=1, le=512, description="local worker processes")
    scheduler_address: str | None = Field(
        None, description="Dask distributed scheduler address (tcp://host:8786); workers "
        "must see the dataset and cache folders")
    arms: list[str] = Field(default_factory=lambda: list(DEFAULT_ARMS), min_length=2,
                            description="the trial's arms: every arm in treatment.tsv (each part "
                            "of an augmented A+B) must be one of them")
    sessions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SESSION_WEEKS), min_length=1,
        description="the trial's sessions: every session_id of a phenotype table must be one "
        "of them")
    unknown_arms: UnknownPolicy = Field(
        "error", description="an arm outside `arms`: error (naming file, line and value) or "
        "drop (the row is dropped and gets a failed QC row)")
    unknown_sessions: UnknownPolicy = Field(
        "error", description="a session outside `sessions`: error or drop (as unknown_arms)")
    deep_sessions: list[str] = Field(default_factory=lambda: ["ses-V0"], min_length=1,
                                     description="sessions the imaging and IMU extractors read")
    questionnaires: QuestionnaireSettings | None = Field(
        description="questionnaire and clinical-test scoring; required (it declares the PGIC "
        "coding), null to skip")
    brain: BrainSettings | None = Field(
        default_factory=BrainSettings,
        description="resting-state fMRI from fMRIPrep derivatives (null to skip)")
    freesurfer: FreeSurferSettings | None = Field(
        None, description="FreeSurfer aseg / aparc statistics as brain features (off unless "
        "given; {} for the defaults)")
    spine: SpineSettings | None = Field(
        default_factory=SpineSettings,
        description="lumbar spine MRI: discs, vertebrae, paraspinal muscles (null to skip)")
    biomech: BiomechSettings | None = Field(
        default_factory=BiomechSettings,
        description="trunk IMU biomechanics (null to skip)")
    outcomes: OutcomeSettings = Field(default_factory=OutcomeSettings)
    regime: RegimeExportSettings = Field(default_factory=RegimeExportSettings)

    @model_validator(mode="after")
    def _freesurfer_session_extracted(self) -> ExtractConfig:
        fs = self.freesurfer
        if fs is not None and not fs.per_session and fs.session not in self.deep_sessions:
            raise ValueError(f"freesurfer.session {fs.session} is not one of deep_sessions "
                             f"{self.deep_sessions}; add it there or change freesurfer.session")
        return self

    @model_validator(mode="after")
    def _configured_sessions(self) -> ExtractConfig:
        rule = self.outcomes.responder
        used = {"deep_sessions": self.deep_sessions,
                "outcomes.responder.baseline_session": [rule.baseline_session],
                "outcomes.responder.followup_session": [rule.followup_session],
                "outcomes.stage2_followup_session": [self.outcomes.stage2_followup_session],
                "outcomes.peg_change_sessions": self.outcomes.peg_change_sessions}
        for key, sessions in used.items():
            unknown = [s for s in sessions if s is not None and s not in self.sessions]
            if unknown:
                raise ValueError(f"{key}: {unknown} not among the configured sessions "
                                 f"{self.sessions}")
        return self


@dataclass
class ExtractRun:
    """Paths written by :func:`run_extract` and the cohort result."""

    result: CohortResult
    outcomes: pd.DataFrame
    paths: dict[str, Path]


def configured_extractors(config: ExtractConfig) -> dict[str, tuple[Extractor, BaseModel]]:
    """The per-participant extractors enabled in ``config``, with their settings."""
    enabled: dict[str, tuple[Extractor, BaseModel]] = {}
    if config.brain is not None:
        enabled["brain"] = (BRAIN_EXTRACTOR, config.brain)
    if config.freesurfer is not None:
        enabled["freesurfer"] = (FREESURFER_EXTRACTOR, config.freesurfer)
    if config.spine is not None:
        enabled["spine"] = (SPINE_EXTRACTOR, config.spine)
    if config.biomech is not None:
        enabled["biomech"] = (BIOMECH_EXTRACTOR, config.biomech)
    return enabled


def cohort_tables(dataset: Dataset, config: ExtractConfig) -> list[FeatureTable]:
    """Tables scored for the whole cohort at once (questionnaires), if configured."""
    if config.questionnaires is None:
        return []
    return [score_dataset(dataset, config.questionnaires)]


def run_extract(config: ExtractConfig) -> ExtractRun:
    """Extract every configured modality, build outcomes and the regime export, write all.

    The output folder is locked for the run (:func:`backpheno.lock.output_lock`): a second
    extract into the same folder stops with an error instead of interleaving.
    """
    with output_lock(config.out, "extract"):
        return _run_extract(config)


def _run_extract(config: ExtractConfig) -> ExtractRun:
    dataset = Dataset(config.dataset, arms=tuple(config.arms), sessions=tuple(config.sessions),
                      unknown_arms=config.unknown_arms, unknown_sessions=config.unknown_sessions)
    out = Path(config.out)
    cache = Path(config.cache) if config.cache is not None else out / "cache"
    result = extract_cohort(dataset, configured_extractors(config), cache,
                            sessions=config.deep_sessions, n_jobs=config.n_jobs,
                            scheduler_address=config.scheduler_address,
                            extra=cohort_tables(dataset, config))
    table = result.table
    table.metadata.update({"config": config.model_dump(mode="json"),
                           "dataset": str(config.dataset)})
    peg = table.data["q.peg.score"] if "q.peg.score" in table.data else None
    outcomes = build_outcomes(dataset, config.outcomes, peg=peg, scores=table.data)
    table.qc = make_qc([*table.qc.to_dict("records"), *dataset.problems])
    paths = table.write(out, "features")
    paths.update(_write_frame(out, "outcomes", outcomes))
    paths.update(_write_frame(out, "outcomes_codebook", outcomes_codebook(outcomes)))
    paths.update(_write_frame(out, "baseline", baseline_view(dataset, table)))
    regime = export_regime(table, outcomes, config.regime, out, "smart")
    paths.update({f"smart_{k}": v for k, v in regime.items()})
    write_json_summary(out / "extract_summary.json", result)
    paths["summary"] = out / "extract_summary.json"
    return ExtractRun(result, outcomes, paths)


def baseline_view(dataset: Dataset, table: FeatureTable, session: str = "ses-V0") -> pd.DataFrame:
    """One row per participant: participants.tsv columns and the baseline features."""
    people = dataset.participants
    features = table.session(session) if len(table.data) else pd.DataFrame(index=people.index)
    return people.join(features, how="left")


def _write_frame(folder: Path, stem: str, frame: pd.DataFrame) -> dict[str, Path]:
    paths = {stem: folder / f"{stem}.parquet", f"{stem}_csv": folder / f"{stem}.csv"}
    with atomic_path(paths[stem]) as tmp:
        frame.to_parquet(tmp)
    write_r_csv(frame, paths[f"{stem}_csv"])
    return paths
