"""Write small BIDS-motion recordings by hand for the biomechanics tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.io import write_tsv


def write_motion(folder: Path, values: np.ndarray, channels: list[dict], sidecar: dict,
                 stem: str = "sub-01_ses-V0_task-flexion_tracksys-imu",
                 channels_json: dict | None = None) -> Path:
    """Write ``<stem>_motion.tsv`` (no header), ``_channels.tsv`` and ``_motion.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}_motion.tsv"
    frame = pd.DataFrame(values)
    frame.to_csv(path, sep="\t", header=False, index=False, na_rep="n/a")
    write_tsv(folder / f"{stem}_channels.tsv", pd.DataFrame(channels))
    (folder / f"{stem}_motion.json").write_text(json.dumps(sidecar))
    if channels_json is not None:
        (folder / f"{stem}_channels.json").write_text(json.dumps(channels_json))
    return path


def imu_channels(points=("T12", "S1"), acc_unit="m/s^2", gyr_unit="deg/s") -> list[dict]:
    """Channel rows: for each point ACCEL x/y/z then GYRO x/y/z."""
    rows = []
    for point in points:
        for kind, prefix, unit in (("ACCEL", "acc", acc_unit), ("GYRO", "gyr", gyr_unit)):
            for axis in "xyz":
                rows.append({"name": f"{point}_{prefix}_{axis}", "component": axis,
                             "type": kind, "tracked_point": point, "units": unit})
    return rows
