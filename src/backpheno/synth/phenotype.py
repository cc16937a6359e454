"""Synthetic questionnaires, clinical tests and QST, driven by the latent traits.

Every instrument of :mod:`backpheno.questionnaires` except PEG / PGIC (written by the cohort
core) is written at ``ses-V0``, ``ses-V1`` and ``ses-V2`` as item-level answers under the
official item IDs / naming rules, with a JSON sidecar, answers left empty at
``config.item_missing_rate``, and no rows after a participant's dropout. Forms that share items
(PROMIS-29 and the PROMIS short forms, PHQ-9 and PHQ-2, GAD-7 and GAD-2, PCS-13 and its 6-item
form, TSK-17 and TSK-11) carry the same answer for the same item at the same visit: answers are
drawn once per item code, as in the Minimum Dataset where each item is asked once.

Item answers come from a graded-response model: each construct (pain interference, physical
function, catastrophizing ...) is a linear combination of the four latent traits plus a stable
person effect and session noise; answers are drawn from item category thresholds on that latent
(:func:`backpheno.questionnaires.irt.draw_responses`), reverse-keyed items are written reversed.
At follow-up the construct moves towards health by ``improvement`` times the participant's
treatment success (stage-1 response at V1, stage-2 success at V2). Clinical tests and QST are
continuous measurements built the same way (lower pressure pain thresholds and more temporal
summation with the nociplastic trait, less lumbar flexion with fear-avoidance and mechanical
load, ...). :data:`DRIVES` lists the features each trait drives.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.io import write_json, write_tsv
from backpheno.questionnaires.irt import draw_responses
from backpheno.questionnaires.registry import get_instrument
from backpheno.questionnaires.spec import Instrument
from backpheno.synth.config import TRAITS, SimulateConfig

SESSIONS = ("ses-V0", "ses-V1", "ses-V2")


@dataclass(frozen=True)
class Construct:
    """A latent construct measured by a group of items.

    Attributes
    ----------
    loadings : mapping
        Trait → weight on the construct (the construct has unit variance at baseline).
    offset : float
        Construct mean relative to the middle of the item thresholds (negative: answers sit
        low on the scale).
    improvement : float
        Change of the construct at full treatment success, signed in the direction of the
        scored values (negative for symptoms, positive for function).
    columns : tuple of str, optional
        Items measured by this construct (default: all items of the instrument).
    shift : mapping
        Per-item threshold shift (positive: the item is endorsed less often).
    slope : float
        Item discrimination.
    spread : float
        Half-width of the threshold range.
    """

    loadings: Mapping[str, float]
    offset: float = 0.0
    improvement: float = -0.6
    columns: tuple[str, ...] | None = None
    shift: Mapping[str, float] = field(default_factory=dict)
    slope: float = 2.0
    spread: float = 1.4


def _c(prefix: str, numbers) -> tuple[str, ...]:
    return tuple(f"{prefix}_{n:02d}" for n in numbers)


#: How the answers of each questionnaire are generated.
ITEM_MODELS: dict[str, tuple[Construct, ...]] = {
    "lbpint": (Construct({"nociplastic": 0.4, "distress": 0.25, "mechanical": 0.35},
                         offset=0.3, improvement=-1.0, spread=2.0),),
    "promis_pi_4a": (Construct({"nociplastic": 0.4, "distress": 0.3, "mechanical": 0.3,
                                "fear_avoidance": 0.2}, offset=0.5, improvement=-0.9, slope=2.8),),
    "promis_pf_6b": (Construct({"nociplastic": -0.3, "mechanical": -0.4, "fear_avoidance": -0.3},
                               offset=0.5, improvement=0.7, slope=2.8),),
    "promis_anx_4a": (Construct({"distress": 0.8, "nociplastic": 0.2}, offset=-0.6,
                                improvement=-0.4, slope=2.8),),
    "promis_dep_4a": (Construct({"distress": 0.85}, offset=-0.8, improvement=-0.4, slope=2.8),),
    "promis_fat_4a": (Construct({"nociplastic": 0.6, "distress": 0.3}, offset=0.0,
                                improvement=-0.5, slope=2.8),),
    "promis_sleep_6a": (Construct({"nociplastic": 0.6, "distress": 0.3}, offset=0.1,
                                  improvement=-0.5, slope=2.5),),
    "promis_sr_4a": (Construct({"distress": -0.4, "nociplastic": -0.3, "mechanical": -0.2},
                               offset=0.2, improvement=0.6, slope=2.8),),
    "odi": (Construct({"mechanical": 0.4, "nociplastic": 0.3, "fear_avoidance": 0.3},
                      offset=-0.9, improvement=-0.7, spread=1.6),),
    "rmdq": (Construct({"mechanical": 0.4, "nociplastic": 0.3, "fear_avoidance": 0.25},
                       offset=-0.1, improvement=-0.7, slope=1.5, spread=1.2),),
    "pcs": (Construct({"distress": 0.7, "fear_avoidance": 0.3}, offset=-0.4, improvement=-0.5,
                      spread=1.5),),
    "tsk17": (Construct({"fear_avoidance": 0.8, "distress": 0.2}, offset=-0.2, improvement=-0.4,
                        spread=1.3),),
    "fabq": (Construct({"fear_avoidance": 0.8}, offset=0.2, improvement=-0.4,
                       columns=_c("fabq", (1, 2, 3, 4, 5))),
             Construct({"fear_avoidance": 0.5, "distress": 0.3}, offset=-0.1, improvement=-0.3,
                       columns=_c("fabq", range(6, 17)))),
    "cpaq8": (Construct({"distress": -0.5, "fear_avoidance": -0.4}, offset=0.1,
                        improvement=0.4, columns=_c("cpaq8", (1, 2, 3, 6))),
              Construct({"fear_avoidance": -0.4, "distress": -0.3}, offset=-0.1,
                        improvement=0.3, columns=_c("cpaq8", (4, 5, 7, 8)))),
    "acr2016": (Construct({"nociplastic": 0.85}, offset=-1.5, improvement=-0.3, slope=1.6,
                          columns=_c("acr2016", range(1, 20)),
                          shift={"acr2016_17": -4.0, "acr2016_16": -0.8, "acr2016_15": -0.5,
                                 "acr2016_09": -0.8, "acr2016_12": -0.8,
                                 "acr2016_01": 0.8, "acr2016_05": 0.8}),
                Construct({"nociplastic": 0.6, "distress": 0.3}, offset=-0.4,
                          improvement=-0.4, columns=_c("acr2016", range(20, 26))),
                Construct({"nociplastic": 0.3}, offset=3.0, improvement=0.0,
                          columns=("acr2016_26",))),
    "widespread": (Construct({"nociplastic": 0.85}, offset=-0.6, improvement=-0.3, slope=1.6,
                             shift={"widespread_04": -0.5, "widespread_05": -0.5,
                                    "widespread_07": -0.5}),),
    "psom": (Construct({"nociplastic": 0.6, "distress": 0.3}, offset=-0.5, improvement=-0.2),),
    "phq9": (Construct({"distress": 0.85}, offset=-0.9, improvement=-0.4, spread=1.2,
                       shift={"phq9_09": 2.2}),),
    "gad7": (Construct({"distress": 0.85}, offset=-0.9, improvement=-0.3, spread=1.2),),
    "startback": (Construct({"mechanical": 0.4, "nociplastic": 0.3, "fear_avoidance": 0.2},
                            offset=0.2, improvement=-0.7, slope=1.6,
                            columns=_c("startback", range(1, 5))),
                  Construct({"distress": 0.6, "fear_avoidance": 0.4}, offset=-0.3,
                            improvement=-0.6, slope=1.6, columns=_c("startback", range(5, 10)))),
    "opioid": (Construct({"nociplastic": 0.3, "mechanical": 0.3}, offset=-2.0,
                         improvement=-0.3, slope=2.5),),
    # the PROMIS-29+2 items not in the short forms above
    "promis29": (Construct({"nociplastic": 0.4, "distress": 0.25, "mechanical": 0.35},
                           offset=0.2, improvement=-1.0, spread=2.0, columns=("Global07",)),
                 Construct({"distress": -0.4, "nociplastic": -0.4}, offset=0.6, improvement=0.3,
                           slope=2.5, columns=("PC43_2r", "PC44_2r"))),
}
#: Tables written from the answers drawn for :data:`ITEM_MODELS` (shared item codes) and the
#: clinical measurements.
QUESTIONNAIRES = ("lbpint", "promis_pi_4a", "promis_pf_4a", "promis_anx_4a", "promis_dep_4a",
                  "promis_fat_4a", "promis_sleep_4a", "promis_sr_4a", "promis_pf_6b",
                  "promis_sleep_6a", "promis29", "odi", "rmdq", "pcs", "pcs6", "tsk17", "tsk11",
                  "fabq", "cpaq8", "acr2016", "widespread", "psom", "phq2", "phq9", "gad2",
                  "gad7", "startback", "opioid")
WRITTEN = (*QUESTIONNAIRES, "sleepdur", "physical_exam", "qst")

#: The main score of each instrument a trait drives.
_HEADLINE_DRIVES: dict[str, list[str]] = {
    "nociplastic": [
        "q.acr2016.wpi", "q.acr2016.sss", "q.acr2016.polysymptomatic_distress",
        "q.widespread.count", "q.psom.score", "q.promis_sleep_6a.t_score",
        "q.promis_fat_4a.t_score", "q.promis_pi_4a.t_score", "q.lbpint.score",
        "q.qst.ppt_lumbar_kgcm2", "q.qst.ppt_trapezius_kgcm2", "q.qst.ts_lumbar",
        "q.qst.ts_forearm", "q.qst.cpm_abs_kgcm2", "q.sleepdur.hours",
        "q.promis29.propr", "q.promis29.cognition_t_score",
    ],
    "distress": [
        "q.promis_anx_4a.t_score", "q.promis_dep_4a.t_score", "q.phq9.total", "q.gad7.total",
        "q.pcs.total", "q.promis_sr_4a.t_score", "q.cpaq8.activity_engagement",
        "q.startback.psychosocial", "q.fabq.work", "q.phq2.total", "q.gad2.total",
        "q.pcs6.total", "q.promis29.propr",
    ],
    "mechanical": [
        "q.odi.percent", "q.rmdq.total", "q.promis_pf_6b.raw", "q.lbpint.score",
        "q.physical_exam.lumbar_flexion_deg", "q.physical_exam.lumbar_extension_deg",
        "q.physical_exam.sts5_time_s", "q.physical_exam.gait_speed_mps",
        "q.promis_pf_4a.t_score", "q.promis29.pf_t_score",
    ],
    "fear_avoidance": [
        "q.tsk17.total", "q.tsk17.tsk11_total", "q.fabq.physical_activity",
        "q.cpaq8.pain_willingness", "q.pcs.total", "q.physical_exam.lumbar_flexion_deg",
        "q.physical_exam.sts5_time_s", "q.odi.percent", "q.tsk11.total",
    ],
}

#: Scores that carry the same answers as a listed score: the raw sum of a T-score, the PROMIS-29
#: domain made of the same four items, the other short form of the same bank, PCS subscales,
#: and the short forms scored inside their long forms.
_SIBLINGS: dict[str, tuple[str, ...]] = {
    "q.promis_pi_4a.t_score": ("q.promis29.pi_raw", "q.promis29.pi_t_score",
                               "q.promis29.pain_intensity"),
    "q.promis_pf_4a.t_score": ("q.promis29.pf_raw", "q.promis29.pf_t_score"),
    "q.promis_anx_4a.t_score": ("q.promis29.anx_raw", "q.promis29.anx_t_score"),
    "q.promis_dep_4a.t_score": ("q.promis29.dep_raw", "q.promis29.dep_t_score"),
    "q.promis_fat_4a.t_score": ("q.promis29.fatigue_raw", "q.promis29.fatigue_t_score"),
    "q.promis_sleep_6a.t_score": ("q.promis_sleep_4a.raw", "q.promis_sleep_4a.t_score",
                                  "q.promis29.sleep_raw", "q.promis29.sleep_t_score"),
    "q.promis_sr_4a.t_score": ("q.promis29.social_raw", "q.promis29.social_t_score"),
    "q.promis29.cognition_t_score": ("q.promis29.cognition_raw",),
    "q.pcs.total": ("q.pcs.rumination", "q.pcs.magnification", "q.pcs.helplessness",
                    "q.pcs.sf6_total"),
    "q.phq9.total": ("q.phq9.phq2_total",),
    "q.gad7.total": ("q.gad7.gad2_total",),
}


def _complete(drives: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for trait, names in drives.items():
        full = list(names)
        for name in names:
            if name.endswith(".t_score"):
                full.append(name.removesuffix("t_score") + "raw")
            full.extend(_SIBLINGS.get(name, ()))
        out[trait] = sorted(set(full))
    return out


#: Features each latent trait drives (names of the scores backpheno.questionnaires produces):
#: the headline scores above plus every score that carries the same answers.
DRIVES: dict[str, list[str]] = _complete(_HEADLINE_DRIVES)


def write_phenotype(root: str | Path, cohort: pd.DataFrame, assignment: pd.DataFrame,
                    config: SimulateConfig) -> None:
    """Write every questionnaire, the physical exam and QST tables under ``root/phenotype``.

    Parameters
    ----------
    root : path
        Dataset folder.
    cohort : DataFrame
        Participants with traits (:func:`backpheno.synth.traits.sample_participants`).
    assignment : DataFrame
        SMART assignment with ``responder``, ``stage2_success`` and ``dropout``.
    config : SimulateConfig
        ``seed`` and ``item_missing_rate`` are used.
    """
    folder = Path(root) / "phenotype"
    rng = np.random.default_rng([config.seed, zlib.crc32(b"phenotype")])
    rows = _session_rows(cohort, assignment, rng)
    traits = rows[list(TRAITS)].to_numpy()
    person = rows["person"].to_numpy()
    success = rows["success"].to_numpy()
    n_people = len(cohort)
    by_code: dict[str, np.ndarray] = {}
    for name, constructs in ITEM_MODELS.items():
        inst = get_instrument(name)
        answers = _answers(inst, constructs, traits, person, success, n_people, rng)
        by_code.update({inst.item(c).code: v for c, v in answers.items()})
    measured = {"sleepdur": {"sleepdur_01": _sleep_hours(traits, person, success, n_people, rng)},
                "physical_exam": _physical_exam(rows, traits, person, success, n_people, rng),
                "qst": _qst(traits, person, success, n_people, rng)}
    for name, values in measured.items():
        inst = get_instrument(name)
        by_code.update({inst.item(c).code: v for c, v in values.items()})
    rate = config.item_missing_rate
    for code in sorted(by_code):
        if rate > 0:
            values = np.asarray(by_code[code], dtype=float)
            by_code[code] = np.where(rng.random(len(values)) < rate, np.nan, values)
    for name in WRITTEN:
        _write(folder, get_instrument(name), rows, by_code)


def _session_rows(cohort: pd.DataFrame, assignment: pd.DataFrame,
                  rng: np.random.Generator) -> pd.DataFrame:
    """One row per participant and session with traits and treatment success (0 at V0)."""
    n = len(cohort)
    responder = assignment.loc[cohort.index, "responder"].to_numpy(dtype=bool)
    stage2 = assignment.loc[cohort.index, "stage2_success"].to_numpy(dtype=bool)
    dropout = assignment.loc[cohort.index, "dropout"].to_numpy(dtype=bool)
    success = {
        "ses-V0": np.zeros(n),
        "ses-V1": np.where(responder, rng.uniform(0.6, 1.0, n), rng.uniform(-0.1, 0.3, n)),
        "ses-V2": np.where(stage2, rng.uniform(0.6, 1.0, n), rng.uniform(-0.1, 0.3, n)),
    }
    frames = []
    for session in SESSIONS:
        frame = cohort[list(TRAITS) + ["age"]].copy()
        frame["person"] = np.arange(n)
        frame["success"] = success[session]
        frame.insert(0, "session_id", session)
        if session != "ses-V0":
            frame = frame[~dropout]
        frames.append(frame)
    out = pd.concat(frames).rename_axis("participant_id").reset_index()
    return out.sort_values(["participant_id", "session_id"], kind="stable").reset_index(drop=True)


def _latent(construct: Construct, traits: np.ndarray, person: np.ndarray, success: np.ndarray,
            n_people: int, rng: np.random.Generator, session_sd: float = 0.3) -> np.ndarray:
    weights = np.array([construct.loadings.get(t, 0.0) for t in TRAITS])
    unique = np.sqrt(max(0.05, 1.0 - float(weights @ weights)))
    stable = rng.normal(0.0, unique, n_people)[person]
    return (construct.offset + traits @ weights + stable + construct.improvement * success
            + rng.normal(0.0, session_sd, len(person)))


def _answers(inst: Instrument, constructs: tuple[Construct, ...], traits: np.ndarray,
             person: np.ndarray, success: np.ndarray, n_people: int,
             rng: np.random.Generator) -> dict[str, np.ndarray]:
    answers = {}
    for construct in constructs:
        columns = construct.columns or inst.columns
        items = [inst.item(c) for c in columns]
        k = len(items[0].values)
        base = (np.linspace(-construct.spread, construct.spread, k - 1) if k > 2
                else np.zeros(1))
        thresholds = np.array([base + rng.normal(0.0, 0.15) + construct.shift.get(c, 0.0)
                               for c in columns])
        slopes = np.full(len(columns), construct.slope)
        eta = _latent(construct, traits, person, success, n_people, rng)
        levels = draw_responses(eta, slopes, thresholds, rng)
        for j, item in enumerate(items):
            values = np.asarray(item.values)
            index = (len(values) - 1 - levels[:, j]) if item.reverse else levels[:, j]
            answers[item.column] = values[np.clip(index, 0, len(values) - 1)]
    return answers


def _sleep_hours(traits, person, success, n_people, rng) -> np.ndarray:
    construct = Construct({"nociplastic": -0.5, "distress": -0.3}, improvement=0.3)
    eta = _latent(construct, traits, person, success, n_people, rng)
    return np.clip(np.round((6.4 + 0.9 * eta) * 4) / 4, 2.0, 12.0)


def _physical_exam(rows, traits, person, success, n_people, rng) -> dict[str, np.ndarray]:
    n = len(rows)
    age = (rows["age"].to_numpy(dtype=float) - 50.0) / 13.5
    flex = _latent(Construct({"mechanical": -0.45, "fear_avoidance": -0.45}, improvement=0.5),
                   traits, person, success, n_people, rng)
    ext = _latent(Construct({"mechanical": -0.4, "fear_avoidance": -0.35}, improvement=0.4),
                  traits, person, success, n_people, rng)
    slow = _latent(Construct({"mechanical": 0.4, "fear_avoidance": 0.35, "nociplastic": 0.2},
                             improvement=-0.4), traits, person, success, n_people, rng)
    pelvis_flex = rng.normal(30.0, 8.0, n_people)[person] + rng.normal(0, 2.0, n)
    pelvis_ext = rng.normal(9.0, 4.0, n_people)[person] + rng.normal(0, 1.5, n)
    lumbar_flex = np.clip(40.0 + 9.0 * flex, 5.0, 80.0)
    lumbar_ext = np.clip(17.0 + 5.0 * ext, 0.0, 40.0)
    speed = np.clip(1.15 - 0.12 * slow - 0.05 * age, 0.4, 1.8)
    return {
        "flexion_s1": np.round(pelvis_flex, 1),
        "flexion_t12": np.round(pelvis_flex + lumbar_flex, 1),
        "extension_s1": np.round(pelvis_ext, 1),
        "extension_t12": np.round(pelvis_ext + lumbar_ext, 1),
        "sts5_time": np.round(np.exp(np.log(11.5) + 0.18 * slow + 0.06 * age), 1),
        "walk4m_time_1": np.round(4.0 / speed * np.exp(rng.normal(0, 0.05, n)), 2),
        "walk4m_time_2": np.round(4.0 / speed * np.exp(rng.normal(0, 0.05, n)), 2),
        "walk2min_distance": np.round(np.clip(speed * 120.0 * 1.15 + rng.normal(0, 8, n),
                                              20.0, 350.0), 1),
    }


def _qst(traits, person, success, n_people, rng) -> dict[str, np.ndarray]:
    n = len(person)
    sensitive = _latent(Construct({"nociplastic": 0.75, "distress": 0.1}, improvement=-0.2),
                        traits, person, success, n_people, rng, session_sd=0.2)
    out: dict[str, np.ndarray] = {}
    for site, base in (("lumbar", 4.6), ("trapezius", 4.4)):
        local = rng.normal(0.0, 0.15, n_people)[person]
        level = np.log(base) - 0.32 * sensitive + local
        for t in (1, 2, 3):
            value = np.exp(level + rng.normal(0.0, 0.08, n))
            out[f"ppt_{site}_{t}"] = np.round(np.clip(value, 0.3, 15.0), 1)
    trapezius = np.mean([out[f"ppt_trapezius_{t}"] for t in (1, 2, 3)], axis=0)
    efficiency = 0.15 - 0.07 * sensitive + rng.normal(0.0, 0.08, n)
    contraindicated = (rng.random(n_people) < 0.08)[person]
    for t in (1, 2):
        value = trapezius * (1.0 + efficiency) * np.exp(rng.normal(0.0, 0.05, n))
        out[f"cpm_ppt_{t}"] = np.where(contraindicated, np.nan,
                                       np.round(np.clip(value, 0.3, 15.0), 1))
    for site, summation in (("lumbar", 1.6), ("forearm", 1.3)):
        first_level = 1.8 + 0.6 * sensitive + rng.normal(0.0, 0.8, n_people)[person]
        for t in (1, 2, 3):
            first = np.clip(np.round(first_level + rng.normal(0.0, 0.7, n)), 0, 10)
            tenth = np.clip(np.round(first + summation + 1.0 * sensitive
                                     + rng.normal(0.0, 1.0, n)), 0, 10)
            after15 = np.clip(np.round(0.45 * tenth - 0.8 + 0.5 * sensitive
                                       + rng.normal(0.0, 0.7, n)), 0, 10)
            after30 = np.clip(np.round(after15 - 0.7 + rng.normal(0.0, 0.5, n)), 0, after15)
            out[f"ts_{site}_first_{t}"] = first + 0.0
            out[f"ts_{site}_tenth_{t}"] = tenth + 0.0
            out[f"ts_{site}_after15_{t}"] = after15 + 0.0
            out[f"ts_{site}_after30_{t}"] = after30 + 0.0
    return out


def _write(folder: Path, inst: Instrument, rows: pd.DataFrame,
           by_code: dict[str, np.ndarray]) -> None:
    """One phenotype table and its sidecar, each item taken from the answers to its code."""
    table = rows[["participant_id", "session_id"]].copy()
    for item in inst.items:
        values = np.asarray(by_code[item.code], dtype=float)
        table[item.column] = pd.array(values, dtype="Int64") if item.values is not None \
            else values
    write_tsv(folder / f"{inst.name}.tsv", table)
    write_json(folder / f"{inst.name}.json", sidecar(inst))


def sidecar(inst: Instrument) -> dict:
    """BIDS phenotype sidecar of an instrument: tool description, one entry per item."""
    out: dict[str, object] = {"MeasurementToolMetadata": {
        "Description": inst.title, "Citation": inst.citation}}
    for item in inst.items:
        entry: dict[str, object] = {"Description": item.label, "SDTMCode": item.code}
        if item.values is not None:
            entry["Levels"] = {f"{v:g}": f"{v:g}" for v in item.values}
        else:
            entry["Units"] = item.unit
            entry["Minimum"], entry["Maximum"] = item.bounds
        out[item.column] = entry
    return out
