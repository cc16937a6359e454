"""Find the repetitions of a trunk movement in an angle trace.

A repetition is an excursion of the task-direction angle (positive in the direction of the task,
zero at the static baseline) from rest to a peak and back. Peaks must exceed ``min_rom_deg`` and
``min_height_fraction`` of the largest excursion, be separated by ``min_separation_s`` and stand
out by half their height (so a wobble near the peak is not a new repetition). Each repetition
starts where the angle last rose through ``onset_fraction`` of its peak and ends where it next
falls below it; the outward phase runs from start to peak, the return phase from peak to end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import find_peaks

from backpheno.docstrings import fill_doc

REPETITION_COLUMNS = ("start", "peak", "end", "start_s", "peak_s", "end_s", "peak_deg",
                      "complete")


@fill_doc
def detect_repetitions(angle_deg: np.ndarray, sampling_rate_hz: float, *,
                       min_rom_deg: float = 5.0, min_height_fraction: float = 0.5,
                       onset_fraction: float = 0.05,
                       min_separation_s: float = 1.0) -> pd.DataFrame:
    """Repetitions of a movement in a task-direction angle trace.

    Parameters
    ----------
    angle_deg : array
        Angle in the task direction (deg), zero at the static baseline.
    %(sampling_rate_hz)s
    min_rom_deg : float
        Smallest peak (deg) that counts as movement.
    min_height_fraction : float
        Peaks below this fraction of the largest peak are ignored.
    onset_fraction : float
        Start/end threshold as a fraction of each repetition's peak.
    min_separation_s : float
        Shortest time between two peaks (s).

    Returns
    -------
    DataFrame
        One row per repetition with sample indices ``start``, ``peak``, ``end``, their times
        (s), ``peak_deg`` and ``complete`` (False when the recording ends before the return).
    """
    angle = np.asarray(angle_deg, float)
    if len(angle) == 0 or not np.isfinite(angle).all() or angle.max() < min_rom_deg:
        return pd.DataFrame(columns=list(REPETITION_COLUMNS))
    height = max(min_rom_deg, min_height_fraction * float(angle.max()))
    peaks, _ = find_peaks(angle, height=height, prominence=0.5 * height,
                          distance=max(1, int(round(min_separation_s * sampling_rate_hz))))
    rows = []
    floor = 0
    for peak in peaks:
        if peak < floor:
            continue
        threshold = onset_fraction * angle[peak]
        below = np.flatnonzero(angle[floor:peak] <= threshold)
        start = floor + (int(below[-1]) + 1 if len(below) else 0)
        after = np.flatnonzero(angle[peak:] <= threshold)
        complete = len(after) > 0
        end = peak + int(after[0]) if complete else len(angle) - 1
        rows.append({"start": start, "peak": int(peak), "end": end,
                     "start_s": start / sampling_rate_hz, "peak_s": peak / sampling_rate_hz,
                     "end_s": end / sampling_rate_hz, "peak_deg": float(angle[peak]),
                     "complete": complete})
        floor = end + 1
    return pd.DataFrame(rows, columns=list(REPETITION_COLUMNS))
