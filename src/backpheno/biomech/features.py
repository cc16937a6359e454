"""The biomechanics feature catalogue: names, units, meaning, and the per-task result.

Feature names are ``biomech.<task>.<feature>``; asymmetry features use the group names
``lateral`` and ``rotation``. :func:`feature_names` lists every name the extractor emits, in a
fixed order, so every participant has the same columns (NaN where not measurable).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from backpheno import __version__
from backpheno.table import codebook_row

MODALITY = "biomech"
SOURCE = f"backpheno.biomech {__version__}"

TRUNK_TASKS = ("flexion", "extension", "lateralleft", "lateralright", "rotationleft",
               "rotationright")
#: Asymmetry group → (left task, right task).
ASYMMETRY_PAIRS = {"lateral": ("lateralleft", "lateralright"),
                   "rotation": ("rotationleft", "rotationright")}

# name → (unit, description, valid_min, valid_max, direction, role)
_TRUNK = {
    "n_repetitions": ("count", "repetitions detected in the thoracolumbar angle", 0, 50,
                      "higher = more repetitions performed", "covariate"),
    "thoracolumbar_rom_deg": ("deg", "peak thoracolumbar (T12 sensor) angle in the task "
                              "direction relative to standing, mean over repetitions", 0, 180,
                              "higher = larger trunk range of motion", "feature"),
    "lumbar_rom_deg": ("deg", "peak lumbar angle (T12 relative to S1) in the task direction "
                       "relative to standing, mean over repetitions", -30, 120,
                       "higher = larger lumbar range of motion", "feature"),
    "pelvis_rom_deg": ("deg", "peak pelvis (S1 sensor) angle in the task direction relative to "
                       "standing, mean over repetitions", -30, 120,
                       "higher = larger pelvic range of motion", "feature"),
    "lumbopelvic_ratio": ("ratio", "lumbar / thoracolumbar angle at each repetition's peak "
                          "(lumbar contribution to trunk motion, Laird et al. 2016), mean over "
                          "repetitions", -1, 2, "higher = larger lumbar share", "feature"),
    "peak_velocity_dps": ("deg/s", "peak thoracolumbar angular velocity in the task plane, mean "
                          "over repetitions", 0, 1000, "higher = faster movement", "feature"),
    "mean_velocity_dps": ("deg/s", "mean absolute thoracolumbar angular velocity in the task "
                          "plane over each repetition, mean over repetitions", 0, 500,
                          "higher = faster movement", "feature"),
    "peak_acceleration_dps2": ("deg/s^2", "peak thoracolumbar angular acceleration in the task "
                               "plane, mean over repetitions", 0, 20000,
                               "higher = more vigorous movement", "feature"),
    "movement_time_s": ("s", "duration of a repetition (out and back), mean", 0, 60,
                        "higher = slower movement", "feature"),
    "sparc": ("1", "spectral arc length of the T12 angular speed per movement phase (out, "
              "back), mean", -30, 0, "higher (closer to 0) = smoother", "feature"),
    "ldlj": ("1", "log dimensionless jerk (LDLJ-V) of the T12 angular speed per movement phase, "
             "mean", -40, 0, "higher (closer to 0) = smoother", "feature"),
    "rom_cv_pct": ("%", "coefficient of variation of the thoracolumbar ROM across repetitions",
                   0, 200, "higher = less consistent repetitions", "feature"),
}
_ASYMMETRY = {
    "rom_asymmetry_pct": ("%", "symmetry index of the thoracolumbar ROM, "
                          "100 (left - right) / mean(left, right)", -200, 200,
                          "higher = larger to the left", "feature"),
    "velocity_asymmetry_pct": ("%", "symmetry index of the peak angular velocity, "
                               "100 (left - right) / mean(left, right)", -200, 200,
                               "higher = faster to the left", "feature"),
}
_STS = {
    "n_transitions": ("count", "sit-to-stand transitions detected", 0, 50,
                      "higher = more rises", "covariate"),
    "five_times_duration_s": ("s", "five-times sit-to-stand time: onset of the first rise (trunk "
                              "lean) to the end of the fifth rise", 3, 120,
                              "higher = slower, worse function", "feature"),
    "mean_transition_time_s": ("s", "mean duration of the vertical rise of each sit-to-stand "
                               "(pelvis vertical velocity lobe)", 0.2, 10,
                               "higher = slower rising", "feature"),
    "peak_trunk_flexion_deg": ("deg", "peak thoracolumbar flexion during each rise relative to "
                               "upright standing, mean", -30, 120,
                               "higher = more forward trunk lean", "feature"),
    "peak_trunk_flexion_velocity_dps": ("deg/s", "peak thoracolumbar flexion velocity during each "
                                        "rise, mean", 0, 1000, "higher = faster trunk lean",
                                        "feature"),
}
_WALK = {
    "n_walking_bouts": ("count", "walking bouts assembled by mobgap", 0, 1000,
                        "higher = more bouts", "covariate"),
    "walking_duration_s": ("s", "total duration of the walking bouts", 0, 86400,
                           "higher = more walking", "covariate"),
    "n_strides": ("count", "steady-state strides averaged", 0, 100000,
                  "higher = more strides", "covariate"),
    "cadence_spm": ("steps/min", "cadence, mean over steady-state strides (mobgap)", 30, 200,
                    "higher = quicker steps", "feature"),
    "stride_length_m": ("m", "stride length, mean over steady-state strides (mobgap SlZijlstra)",
                        0.1, 2.5, "higher = longer strides", "feature"),
    "walking_speed_mps": ("m/s", "walking speed, mean over steady-state strides (mobgap)", 0.1,
                          2.5, "higher = faster walking", "feature"),
    "stride_duration_s": ("s", "stride duration, mean over steady-state strides", 0.5, 3.0,
                          "higher = slower strides", "feature"),
    "step_regularity_v": ("1", "vertical trunk acceleration autocorrelation at one step (Ad1, "
                          "Moe-Nilssen & Helbostad 2004)", -1, 1,
                          "higher = more regular steps", "feature"),
    "stride_regularity_v": ("1", "vertical trunk acceleration autocorrelation at one stride "
                            "(Ad2)", -1, 1, "higher = more regular strides", "feature"),
    "step_symmetry_v": ("ratio", "Ad1 / Ad2 of the vertical trunk acceleration", -5, 5,
                        "closer to 1 = more symmetric steps", "feature"),
    "step_regularity_ap": ("1", "antero-posterior trunk acceleration autocorrelation at one "
                           "step (Ad1)", -1, 1, "higher = more regular steps", "feature"),
    "stride_regularity_ap": ("1", "antero-posterior trunk acceleration autocorrelation at one "
                             "stride (Ad2)", -1, 1, "higher = more regular strides", "feature"),
    "step_symmetry_ap": ("ratio", "Ad1 / Ad2 of the antero-posterior trunk acceleration", -5, 5,
                         "closer to 1 = more symmetric steps", "feature"),
}

#: Short feature names per task (and asymmetry group).
TASK_FEATURES: dict[str, tuple[str, ...]] = {
    **{task: tuple(_TRUNK) for task in TRUNK_TASKS},
    "sittostand": tuple(_STS),
    "walk": tuple(_WALK),
}
_SPECS = {**{(t, f): _TRUNK[f] for t in TRUNK_TASKS for f in _TRUNK},
          **{(g, f): _ASYMMETRY[f] for g in ASYMMETRY_PAIRS for f in _ASYMMETRY},
          **{("sittostand", f): _STS[f] for f in _STS},
          **{("walk", f): _WALK[f] for f in _WALK}}

_PROVENANCE = {
    "trunk": "mobgap Madgwick (numba) 6-DoF orientation; static-standing baseline levelling; "
             "lumbar = R_S1^-1 R_T12; ISB Cardan YZX; SPARC/LDLJ per Balasubramanian 2015",
    "sittostand": "pelvis vertical velocity from tilt-corrected acceleration (band 0.1-1.5 Hz); "
                  "trunk flexion from T12 orientation relative to standing after the first rise",
    "walk": "mobgap MobilisedPipelineHealthy (GsdIluz, IcdIonescu, CadFromIcDetector, "
            "SlZijlstra ms_all, WsNaive); steady state = bouts without first and last strides; "
            "regularity by unbiased autocorrelation",
}


def feature_name(task: str, feature: str) -> str:
    """``biomech.<task>.<feature>``."""
    return f"{MODALITY}.{task}.{feature}"


def feature_names(tasks: tuple[str, ...] | list[str]) -> list[str]:
    """Every feature the extractor emits for these tasks, in a fixed order."""
    names = [feature_name(t, f) for t in tasks for f in TASK_FEATURES[t]]
    for group, (left, right) in ASYMMETRY_PAIRS.items():
        if left in tasks and right in tasks:
            names += [feature_name(group, f) for f in _ASYMMETRY]
    return names


def codebook_rows(names: list[str]) -> list[dict[str, object]]:
    """One :func:`~backpheno.table.codebook_row` per full feature name."""
    rows = []
    for name in names:
        _, group, short = name.split(".", 2)
        unit, description, low, high, direction, role = _SPECS[(group, short)]
        kind = group if group in ("sittostand", "walk") else "trunk"
        rows.append(codebook_row(
            name, modality=MODALITY, source=SOURCE, unit=unit,
            description=f"{group}: {description}", valid_min=low, valid_max=high,
            direction=direction, provenance=_PROVENANCE[kind], role=role,
        ))
    return rows


@dataclass
class TaskResult:
    """Features of one task recording, with what was detected, for inspection and plots.

    Attributes
    ----------
    task : str
        BIDS task label.
    features : dict
        Short feature name → value (NaN when not measurable).
    status : str
        QC status: ``ok``, ``flagged`` (measured with a caveat), ``failed`` (not measurable) or
        ``missing`` (no recording).
    reason : str
        Why the status is not ``ok`` (several reasons joined by ``"; "``).
    signals : DataFrame, optional
        Time-indexed traces (angles, velocities) for plotting.
    events : DataFrame, optional
        Detected repetitions, transitions or strides.
    details : dict
        Further intermediate results (the static baseline, the fitted mobgap pipeline).
    """

    task: str
    features: dict[str, float]
    status: str = "ok"
    reason: str = ""
    signals: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    details: dict[str, object] = field(default_factory=dict)

    @classmethod
    def unmeasurable(cls, task: str, status: str, reason: str) -> TaskResult:
        """A result with every feature of the task NaN."""
        return cls(task, {f: float("nan") for f in TASK_FEATURES[task]}, status, reason)

    def flag(self, reason: str) -> None:
        """Add a caveat (``ok`` becomes ``flagged``)."""
        if self.status == "ok":
            self.status = "flagged"
        self.reason = f"{self.reason}; {reason}" if self.reason else reason
