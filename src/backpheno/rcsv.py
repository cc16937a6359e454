"""CSV sidecars that R reads as they are (``read.csv(path)``, no extra arguments).

* Logical columns are written ``TRUE`` / ``FALSE`` (R reads ``True`` / ``False`` as text);
  missing values are ``NA`` in every column.
* Column names are R-safe (:func:`r_name`): what ``read.csv`` would otherwise rewrite with
  ``make.names`` (``-`` and other symbols become ``.``, a leading digit gets an ``X``) is rewritten
  here, so the name R shows is the name in the file. Feature names made of letters, digits, ``.``
  and ``_`` (nearly all) are kept; the codebook sidecars carry an ``r_name`` column with the name
  of every feature in the CSV files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.io import atomic_path

#: Words R does not accept as bare names (``?Reserved``).
R_RESERVED = frozenset({
    "if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE",
    "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "in"})


def r_name(name: str) -> str:
    """The R-safe spelling of a column name: every character other than a letter, digit, ``.``
    or ``_`` becomes ``_``; a name that does not start with a letter (or a dot not followed by a
    digit) gets an ``X`` in front, as does a reserved word.

    Examples: ``brain.fc.DMN-SAL`` -> ``brain.fc.DMN_SAL``; ``1st`` -> ``X1st``.
    """
    safe = re.sub(r"[^A-Za-z0-9._]", "_", str(name))
    if not re.match(r"[A-Za-z]|\.(?![0-9])", safe) or safe in R_RESERVED:
        safe = "X" + safe
    return safe


def r_names(names: Iterable[str]) -> dict[str, str]:
    """Name -> R-safe name for several columns.

    Raises
    ------
    ValueError
        If two names map to the same R name.
    """
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in names:
        safe = r_name(name)
        if safe in seen and seen[safe] != name:
            raise ValueError(f"columns {seen[safe]!r} and {name!r} both become {safe!r} in R")
        seen[safe] = name
        mapping[name] = safe
    return mapping


def r_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with R-safe column and index names and logical columns as ``TRUE``/``FALSE``."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if _is_logical(values):
            out[column] = values.astype("boolean").map({True: "TRUE", False: "FALSE"},
                                                       na_action="ignore").astype(object)
    out = out.rename(columns=r_names(out.columns))
    out.index = out.index.set_names([None if n is None else r_name(n) for n in out.index.names])
    return out


def write_r_csv(frame: pd.DataFrame, path: str | Path, index: bool = True) -> Path:
    """Write :func:`r_frame` of ``frame`` atomically (``NA`` for missing values)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        r_frame(frame).to_csv(tmp, index=index, na_rep="NA")
    return path


def _is_logical(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values) or str(values.dtype) == "boolean":
        return True
    if values.dtype != object:
        return False
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, bool | np.bool_) for v in present)
