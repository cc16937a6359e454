"""Small, safe file helpers: atomic writes, BIDS TSV and JSON I/O, file checksums.

Everything backpheno writes goes through :func:`atomic_write` (temporary file in the same folder,
then :func:`os.replace`), so a killed process never leaves a half-written file under a final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backpheno.errors import InputError


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


#: Permissions of written files: what ``open()`` would give under the current umask (temporary
#: files from :func:`tempfile.mkstemp` are private, 0600, and keep that mode when renamed).
_FILE_MODE = _umask_mode()

#: How BIDS writes a missing value in a TSV cell.
NA_VALUE = "n/a"


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[Any]:
    """Open a temporary file beside ``path`` and move it into place only on success.

    Parameters
    ----------
    path : str or Path
        Final file name. Parent folders are created.
    mode : str
        ``"w"`` for text or ``"wb"`` for bytes.
    **kwargs
        Passed to :func:`open` (for example ``encoding``).

    Yields
    ------
    file object
        The open temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, _FILE_MODE)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Give a temporary path beside ``path`` for writers that want a file name.

    Libraries such as nibabel or pyarrow write to a path themselves; this yields a temporary name
    with the same suffixes (so format detection still works) and renames it on success.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    prefix = f".{path.name.removesuffix(suffix)}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _FILE_MODE)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_json(path: str | Path, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON atomically; numpy scalars and arrays are converted."""
    write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, naming the file in the error if it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err})", file=path) from None


def write_tsv(path: str | Path, df: pd.DataFrame, index: bool = False) -> None:
    """Write a BIDS TSV atomically: tab separated, missing values as ``n/a``."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        df.to_csv(handle, sep="\t", index=index, na_rep=NA_VALUE, lineterminator="\n")


def read_tsv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a BIDS TSV with ``n/a`` (and empty cells) as missing values.

    Raises
    ------
    InputError
        If the file does not exist or cannot be parsed, a line has more or fewer fields than
        the header, or a numeric column holds ``inf``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    try:
        frame = pd.read_csv(path, sep="\t", na_values=[NA_VALUE, ""], keep_default_na=False,
                            **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot parse TSV ({err})", file=path) from None
    ragged = ragged_line(path, frame.shape[1])
    if ragged is not None:
        raise InputError(f"cannot parse TSV ({ragged})", file=path)
    numeric = frame.select_dtypes("number")
    infinite = np.isinf(numeric.to_numpy(float))
    if infinite.any():
        row, col = (int(v[0]) for v in infinite.nonzero())
        raise InputError(f"infinite value on line {row + 2} (write n/a for a missing value)",
                         file=path, column=str(numeric.columns[col]))
    return frame


def ragged_line(path: str | Path, n_fields: int, header: bool = True) -> str | None:
    """The first line of a TSV whose field count differs from ``n_fields``, described.

    pandas pads a short row with missing values without a word; a BIDS TSV has the same
    number of fields on every line (blank lines are ignored).
    """
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if number == 1 and header:
                continue
            count = line.rstrip("\r\n").count("\t") + 1
            if line.strip() and count != n_fields:
                return f"line {number} has {count} fields, expected {n_fields}"
    return None


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def json_clean(obj: Any) -> Any:
    """NaN / inf -> None and numpy scalars -> Python, recursively (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
