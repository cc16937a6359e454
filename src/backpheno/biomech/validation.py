"""Compare walking features with a reference system on the Mobilise-D lab example recordings.

The recordings are mobgap's example lab data (``data/lab/<cohort>/<participant>/data.mat``, a
McRoberts MM+ lower-back IMU at 100 Hz), read with mobgap's own Matlab loader
(:class:`mobgap.data.GenericMobilisedDataset`). The reference is the per-trial mean cadence,
walking speed and stride length of the INDIP multi-sensor system
(``reference_summary_per_trial.csv`` beside the data). A trial whose reference has no walking
bout gets missing reference values and a QC reason, never an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.biomech.features import TaskResult
from backpheno.biomech.gait import gait_features
from backpheno.biomech.io import IMU_COLUMNS, ImuRecording
from backpheno.biomech.settings import BiomechSettings
from backpheno.errors import InputError

COMPARISON_COLUMNS = (
    "cohort", "participant", "test", "trial", "reference", "ref_cadence_spm", "cadence_spm",
    "cadence_error_pct", "ref_walking_speed_mps", "walking_speed_mps", "walking_speed_error_pct",
    "ref_stride_length_m", "stride_length_m", "status", "reason",
)


def mobilised_lab_recordings(root: str | Path, test: str | None = "Test5"):
    """Yield ``(cohort, participant, test, trial, ImuRecording)`` for the lab example data.

    Parameters
    ----------
    root : str or Path
        The ``mobgap_mobilised_lab`` folder (holding ``example_data/data/lab``).
    test : str, optional
        Only this test (``Test5`` = straight walking, ``Test11`` = daily-living course).
    """
    from mobgap.data import GenericMobilisedDataset

    lab = Path(root) / "example_data" / "data" / "lab"
    paths = sorted(lab.glob("*/*/data.mat"))
    if not paths:
        raise InputError("no data.mat files under example_data/data/lab", file=root)
    dataset = GenericMobilisedDataset(paths, test_level_names=("time_measure", "test", "trial"),
                                      parent_folders_as_metadata=["cohort", "participant_id"],
                                      measurement_condition="laboratory")
    for datapoint in dataset:
        cohort, participant, _, trial_test, trial = datapoint.group_label
        if test is not None and trial_test != test:
            continue
        height = datapoint.participant_metadata["sensor_height_m"]
        samples = datapoint.data_ss[list(IMU_COLUMNS)].reset_index(drop=True)
        recording = ImuRecording({"S1": samples},
                                 float(datapoint.sampling_rate_hz), task="walk",
                                 source=paths[0].parent.parent.parent / cohort / participant,
                                 participant=f"{cohort}{participant}",
                                 metadata={"SensorHeight": {"S1": height}})
        yield cohort, participant, trial_test, trial, recording


def compare_with_reference(root: str | Path, *, reference: str = "INDIP", test: str = "Test5",
                           settings: BiomechSettings | None = None) -> pd.DataFrame:
    """Per-trial cadence and speed from :func:`gait_features` against the reference system.

    Returns
    -------
    DataFrame
        Columns :data:`COMPARISON_COLUMNS`; errors are ``100 (estimate - reference) /
        reference``. ``status``/``reason`` say why a comparison is missing (no reference
        walking bout, or no gait found by the pipeline).
    """
    root = Path(root)
    summary = pd.read_csv(root / "reference_summary_per_trial.csv", dtype={"pid": str})
    summary = summary[summary["ref"] == reference].set_index(["cohort", "pid", "test", "trial"])
    rows = []
    for cohort, participant, trial_test, trial, recording in mobilised_lab_recordings(root, test):
        result: TaskResult = gait_features(recording, settings)
        ref = summary.loc[(cohort, participant, trial_test, trial)]
        row = {"cohort": cohort, "participant": participant, "test": trial_test, "trial": trial,
               "reference": reference, "ref_cadence_spm": ref["mean_cadence"],
               "cadence_spm": result.features["cadence_spm"],
               "ref_walking_speed_mps": ref["mean_speed"],
               "walking_speed_mps": result.features["walking_speed_mps"],
               "ref_stride_length_m": ref["mean_stride_len"],
               "stride_length_m": result.features["stride_length_m"],
               "status": result.status, "reason": result.reason}
        for name in ("cadence", "walking_speed"):
            unit = "spm" if name == "cadence" else "mps"
            ref_value, value = row[f"ref_{name}_{unit}"], row[f"{name}_{unit}"]
            row[f"{name}_error_pct"] = 100 * (value - ref_value) / ref_value
        if int(ref["n_wb"]) == 0 or not np.isfinite(ref["mean_cadence"]):
            row["status"] = "missing"
            row["reason"] = (f"the {reference} reference has no walking bout in this trial; "
                             "nothing to compare")
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
