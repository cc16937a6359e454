"""``backpheno simulate``: a BEST-like SMART cohort with planted moderators, on disk.

The dataset folder follows the dataset layout of README.md to the letter. Latent traits
(:mod:`backpheno.synth.traits`) drive every observation; the stage-1 response probability under
each arm depends on the traits through arm-specific effects (:mod:`backpheno.synth.design`).
``ground_truth.json`` records the generating parameters and each participant's true response
probability under every arm.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from backpheno import __version__
from backpheno.io import write_json, write_text, write_tsv
from backpheno.progress import parallel_map, setup_logging
from backpheno.synth import brain, design, motion, pain, phenotype, spine, traits
from backpheno.synth.base import ParticipantSpec
from backpheno.synth.config import TRAITS, SimulateConfig

logger = logging.getLogger("backpheno.synth")

#: Per-participant writers of the deep-phenotyping modalities. Each module provides
#: ``write_static(root, config)``, ``write_participant(spec, root, config)`` and ``DRIVES``
#: (``{trait: [feature names it drives]}``).
DEEP_WRITERS: tuple[ModuleType, ...] = (brain, spine, motion)

#: Features driven by the PEG and PGIC answers written here.
PAIN_DRIVES = {
    "nociplastic": ["q.peg.score"],
    "distress": ["q.peg.score"],
    "mechanical": ["q.peg.score"],
}


@dataclass(frozen=True)
class SimulationResult:
    """Where the dataset was written and the tables it was built from."""

    root: Path
    participants: pd.DataFrame
    assignment: pd.DataFrame


def simulate(config: SimulateConfig, out: str | Path, overwrite: bool = False,
             log_file: str | Path | None = None) -> SimulationResult:
    """Write a synthetic dataset folder.

    Parameters
    ----------
    config : SimulateConfig
        Size, seed, sites, arms, response model and modality settings.
    out : str or Path
        Dataset folder to create.
    overwrite : bool
        Replace ``out`` if it exists. Without it an existing non-empty folder is an error.
    log_file : str or Path, optional
        Also log progress to this file (typically ``<out>/logs/simulate.log``).

    Returns
    -------
    SimulationResult
    """
    root = Path(out)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} exists and is not empty; pass overwrite=True")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    if log_file is not None:
        setup_logging(str(log_file))

    rng = np.random.default_rng(config.seed)
    cohort = traits.sample_participants(config, rng)
    assignment = design.assign_smart(cohort, config, rng)
    reductions = pain.pain_reductions(assignment, rng)
    sites = design.site_effects(config)

    _write_dataset_description(root, config)
    _write_participants(root, cohort)
    write_tsv(root / "phenotype" / "treatment.tsv", design.treatment_table(assignment))
    write_json(root / "phenotype" / "treatment.json", _TREATMENT_SIDECAR)
    peg = _with_missing(pain.peg_items(cohort, reductions, assignment, rng), pain.PEG_ITEMS,
                        config.item_missing_rate, rng, keep_sessions=("ses-V0", "ses-V1"))
    write_tsv(root / "phenotype" / "peg.tsv", peg)
    write_json(root / "phenotype" / "peg.json", _peg_sidecar())
    write_tsv(root / "phenotype" / "pgic.tsv", pain.pgic_items(reductions, rng))
    write_json(root / "phenotype" / "pgic.json", _pgic_sidecar())

    drives: dict[str, set[str]] = {t: set(v) for t, v in PAIN_DRIVES.items()}
    phenotype.write_phenotype(root, cohort, assignment, config)
    _merge_drives(drives, phenotype.DRIVES)

    specs = _deep_specs(cohort, config, sites)
    for writer in DEEP_WRITERS:
        writer.write_static(root, config)
        _merge_drives(drives, writer.DRIVES)
    if DEEP_WRITERS and specs:
        parallel_map(_write_deep_participant, specs, n_jobs=config.n_jobs,
                     description="simulating deep phenotypes", root=root, config=config)

    write_json(root / "ground_truth.json",
               _ground_truth(config, cohort, assignment, sites, drives))
    write_text(root / ".bidsignore", "ground_truth.json\nlogs/\n")
    logger.info("wrote %d participants (%d deep) to %s", len(cohort),
                int(cohort["deep_phenotyping"].sum()), root)
    return SimulationResult(root, cohort, assignment)


def _write_deep_participant(spec: ParticipantSpec, root: Path, config: SimulateConfig) -> None:
    for writer in DEEP_WRITERS:
        writer.write_participant(spec, root, config)


def _deep_specs(cohort: pd.DataFrame, config: SimulateConfig,
                sites: dict[str, dict[str, float]]) -> list[ParticipantSpec]:
    specs = []
    for index, (pid, row) in enumerate(cohort.iterrows()):
        if not row["deep_phenotyping"]:
            continue
        for session in config.deep_sessions:
            specs.append(ParticipantSpec(
                participant_id=pid, session_id=session, site=row["site"], age=float(row["age"]),
                sex=row["sex"], bmi=float(row["bmi"]),
                traits={t: float(row[t]) for t in TRAITS}, site_effect=sites[row["site"]],
                seed=config.seed, index=index,
            ))
    return specs


def _with_missing(frame: pd.DataFrame, items: tuple[str, ...], rate: float,
                  rng: np.random.Generator, keep_sessions: tuple[str, ...] = ()) -> pd.DataFrame:
    """Blank out answers at random (never in ``keep_sessions``)."""
    if rate <= 0:
        return frame
    frame = frame.copy()
    eligible = ~frame["session_id"].isin(keep_sessions).to_numpy()
    for item in items:
        hit = eligible & (rng.random(len(frame)) < rate)
        frame.loc[hit, item] = pd.NA
    return frame


def _merge_drives(drives: dict[str, set[str]], new: dict[str, list[str]]) -> None:
    for trait, names in new.items():
        drives.setdefault(trait, set()).update(names)


def _write_dataset_description(root: Path, config: SimulateConfig) -> None:
    write_json(root / "dataset_description.json", {
        "Name": "backpheno synthetic BEST-like cohort",
        "BIDSVersion": "1.10.0",
        "DatasetType": "raw",
        "License": "CC0",
        "GeneratedBy": [{"Name": "backpheno.synth", "Version": __version__,
                         "Description": f"seed {config.seed}, {config.participants} participants"}],
    })


def _write_participants(root: Path, cohort: pd.DataFrame) -> None:
    table = cohort[["site", "age", "sex", "bmi", "deep_phenotyping", "ineligible_arm"]].copy()
    table["deep_phenotyping"] = table["deep_phenotyping"].map({True: "true", False: "false"})
    table["ineligible_arm"] = table["ineligible_arm"].replace("", pd.NA)
    table["age"] = table["age"].astype(int)
    write_tsv(root / "participants.tsv", table.reset_index())
    write_json(root / "participants.json", {
        "participant_id": {"Description": "participant identifier"},
        "site": {"Description": "recruiting and scanning site"},
        "age": {"Description": "age at baseline", "Units": "year"},
        "sex": {"Description": "sex", "Levels": {"F": "female", "M": "male"}},
        "bmi": {"Description": "body-mass index", "Units": "kg/m^2"},
        "deep_phenotyping": {"Description": "took part in the optional deep phenotyping "
                                            "(imaging and instrumented biomechanics)"},
        "ineligible_arm": {"Description": "the one first-stage treatment the participant is "
                                          "contraindicated for (n/a if none); never randomised "
                                          "to it"},
    })


_TREATMENT_SIDECAR = {
    "stage": {"Description": "SMART stage: 1 = first 12 weeks, 2 = weeks 12-24"},
    "arm": {"Description": "treatment received in this stage; 'A+B' means A augmented with B"},
    "randomized": {"Description": "whether this stage's treatment was assigned at random"},
    "tactic": {"Description": "initial (stage 1); continue, augment or switch (stage 2)"},
}


def _peg_sidecar() -> dict:
    return {
        "MeasurementToolMetadata": {"Description": "PEG three-item pain scale (Krebs 2009)"},
        "peg_01": {"Description": "average pain in the past week", "Levels": _range_levels(0, 10)},
        "peg_02": {"Description": "pain interference with enjoyment of life, past week",
                   "Levels": _range_levels(0, 10)},
        "peg_03": {"Description": "pain interference with general activity, past week",
                   "Levels": _range_levels(0, 10)},
    }


def _pgic_sidecar() -> dict:
    return {
        "MeasurementToolMetadata": {"Description": "Patient Global Impression of Change"},
        "pgic_01": {"Description": "overall pain since the start of treatment",
                    "Levels": pain.PGIC_BACPAC_LEVELS, "Coding": "bacpac_0_6"},
    }


def _range_levels(low: int, high: int) -> dict[str, str]:
    return {str(v): str(v) for v in range(low, high + 1)}


def _ground_truth(config: SimulateConfig, cohort: pd.DataFrame, assignment: pd.DataFrame,
                  sites: dict[str, dict[str, float]], drives: dict[str, set[str]]) -> dict:
    people = []
    for pid, row in cohort.iterrows():
        a = assignment.loc[pid]
        people.append({
            "participant_id": pid,
            "site": row["site"],
            "deep_phenotyping": bool(row["deep_phenotyping"]),
            "ineligible_arm": row["ineligible_arm"] or None,
            "traits": {t: float(row[t]) for t in TRAITS},
            "p_response": {arm: float(a[f"p_response_{arm}"]) for arm in config.arms},
            "arm1": a["arm1"],
            "p1": float(a["p1"]),
            "responder": bool(a["responder"]),
            "dropout": bool(a["dropout"]),
            "tactic": a["tactic"] or None,
            "arm2": a["arm2"] or None,
            "p2": None if pd.isna(a["p2"]) else float(a["p2"]),
            "stage2_success": bool(a["stage2_success"]),
        })
    return {
        "generator": {"name": "backpheno.synth", "version": __version__},
        "config": config.model_dump(mode="json", exclude={"n_jobs"}),
        "traits": {t: {"description": traits.TRAIT_DESCRIPTIONS[t],
                       "drives": sorted(drives.get(t, set()))} for t in TRAITS},
        "trait_correlation": traits.TRAIT_CORRELATION.tolist(),
        "response_model": {
            "scale": "logit",
            "formula": "logit p_arm = intercept[arm] + sum_t effects[arm][t] * trait_t",
            "intercept": dict(config.response.intercept),
            "effects": design.effective_effects(config),
            "responder_rule": "PEG reduction >= 30% from ses-V0 to ses-V1",
        },
        "stage2_model": {
            "responders": f"continue; response maintained with p={design.RESPONSE_MAINTAINED}",
            "non_responders": "augment or switch (p=1/2), new arm uniform among eligible others",
            "augment_logit": f"max(eta_arm1, eta_new) + {design.AUGMENT_BONUS} "
                             f"+ {design.STAGE2_PENALTY}",
            "switch_logit": f"eta_new + {design.STAGE2_PENALTY}",
        },
        "site_effects": sites,
        "participants": people,
    }
