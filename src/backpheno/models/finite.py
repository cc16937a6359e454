"""Refuse non-finite feature values before they reach a model.

scikit-learn and xgboost treat ``NaN`` as missing (imputed or routed), but ``inf`` and
``-inf`` are either rejected deep inside a pipeline with a library traceback or, worse, scaled
into every other value. A feature table with such values is bad input: the error names the
columns and participants so the upstream extraction can be fixed (or the values set to
missing deliberately).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.errors import InputError


def require_finite(X: pd.DataFrame, columns: list[str], file: str | Path | None = None) -> None:
    """Raise InputError if any of ``columns`` of ``X`` holds ``inf`` or ``-inf``.

    Parameters
    ----------
    X : DataFrame
        Indexed by participant_id; ``NaN`` (missing) is allowed.
    columns : list of str
        The feature columns to check (numeric).
    file : str or Path, optional
        The feature table, named in the error.
    """
    values = X[columns].to_numpy(dtype=float)
    bad = np.isinf(values)
    if not bad.any():
        return
    cols = [columns[j] for j in np.flatnonzero(bad.any(axis=0))]
    rows = [str(X.index[i]) for i in np.flatnonzero(bad.any(axis=1))]
    raise InputError(
        f"{int(bad.sum())} infinite feature value(s) in {len(cols)} column(s) "
        f"{cols[:5]}{' ...' if len(cols) > 5 else ''} for participant(s) "
        f"{rows[:5]}{' ...' if len(rows) > 5 else ''}; fix the extraction or set them to "
        "missing (n/a) to have them imputed", file=file, column=cols[0],
        participant=rows[0] if len(rows) == 1 else None)
