"""Every extracted value checked against its codebook's valid range.

A value outside ``[valid_min, valid_max]`` is kept (it may be a true extreme) but gets a
``flagged`` QC row naming the feature, the value and the range, so an impossible number (a
negative volume, a cadence of 400 steps/min) never passes unnoticed into a model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backpheno.table import FeatureTable, make_qc

#: Relative slack on a bound, for floating-point round-off (a proportion of 1.0000000001).
_SLACK = 1e-9


def out_of_range(data: pd.DataFrame, codebook: pd.DataFrame) -> list[dict[str, object]]:
    """``flagged`` QC records for each value of ``data`` outside its codebook range.

    Parameters
    ----------
    data : DataFrame
        Indexed by (participant_id, session_id), one column per feature.
    codebook : DataFrame
        Indexed by feature name with ``valid_min``, ``valid_max``, ``unit`` and ``modality``.
    """
    rows: list[dict[str, object]] = []
    for name in data.columns:
        if name not in codebook.index:
            continue
        low, high = codebook.at[name, "valid_min"], codebook.at[name, "valid_max"]
        values = data[name].to_numpy(dtype=float)
        bad = np.zeros(len(values), bool)
        if pd.notna(low):
            bad |= values < low - _SLACK * max(abs(low), 1.0)
        if pd.notna(high):
            bad |= values > high + _SLACK * max(abs(high), 1.0)
        unit = codebook.at[name, "unit"]
        for i in np.flatnonzero(bad):
            pid, session = data.index[i]
            rows.append({
                "participant_id": pid, "session_id": session,
                "modality": codebook.at[name, "modality"], "item": name, "status": "flagged",
                "reason": f"{name} = {values[i]:.6g} {unit} is outside the codebook's valid "
                          f"range [{_bound(low)}, {_bound(high)}]"})
    return rows


def flag_out_of_range(table: FeatureTable) -> FeatureTable:
    """The table with a ``flagged`` QC row added for each out-of-range value."""
    rows = out_of_range(table.data, table.codebook)
    if rows:
        table.qc = make_qc([*table.qc.to_dict("records"), *rows])
    return table


def _bound(value: float) -> str:
    return "none" if pd.isna(value) else f"{value:g}"
