"""Turn any exception met while processing input files into an error that names its input.

Libraries fail in their own words (``EOFError`` for a truncated ``.nii.gz``, ``TypeError:
Invalid comparison between dtype=str and float``, ``Found zero norm quaternions``). At the
boundaries where backpheno knows which files a piece of work read (a cohort task, a command's
file arguments, one motion task), :func:`named_error` checks those files for corruption and
returns an :class:`~backpheno.errors.InputError` naming the participant, session and the corrupt
file (or the files involved), with the library's words kept after them.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from backpheno.errors import BackphenoError, InputError
from backpheno.io import ragged_line

#: Bytes read at a time when checking a compressed file.
_CHUNK = 1 << 20
#: Files checked inside a folder argument (a run directory): the small, structured ones.
_FOLDER_CHECKED = (".json", ".tsv", ".parquet")
#: A TSV column with at most this share of non-numeric cells is taken for a numeric one.
_MOSTLY_NUMERIC = 0.05


def file_problem(path: str | Path) -> str | None:
    """Why a file cannot be read as its extension says, or None if it reads.

    Checks a gzip stream to its end (truncation, bad CRC), a NIfTI file's size against its
    header, JSON syntax, a Parquet file's end markers, and a TSV's encoding, field counts and
    numeric columns (a word among numbers).
    """
    path = Path(path)
    if not path.is_file():
        return None if path.exists() else "file not found"
    name = path.name.lower()
    try:
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                while handle.read(_CHUNK):
                    pass
        if name.endswith((".nii", ".nii.gz")):
            return _nifti_problem(path)
        if name.endswith(".json"):
            json.loads(path.read_text(encoding="utf-8"))
        if name.endswith(".tsv"):
            return _tsv_problem(path)
        if name.endswith(".parquet"):
            return _parquet_problem(path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        return f"truncated or corrupt compressed file ({type(err).__name__}: {err})"
    except OSError as err:
        return f"unreadable file ({type(err).__name__}: {err})"
    except pd.errors.EmptyDataError:
        return "empty file"
    except pd.errors.ParserError as err:
        return f"cannot parse TSV ({err})"
    except UnicodeDecodeError as err:
        return f"not UTF-8 text ({err})"
    except json.JSONDecodeError as err:
        return f"not valid JSON ({err})"
    return None


def named_error(err: BaseException, files: Iterable[str | Path | None] = (), *,
                participant: str | None = None, session: str | None = None,
                doing: str = "") -> BackphenoError:
    """An error naming where ``err`` happened; backpheno's own errors are returned as they are.

    Parameters
    ----------
    err : exception
        What was raised.
    files : iterable of path
        The files the failed work read; the first one with a :func:`file_problem` is named.
        A folder stands for the JSON, TSV and Parquet files directly inside it.
    participant, session : str, optional
        Where the work belonged.
    doing : str
        What was being done (``"computing walk features"``), for the message.
    """
    if isinstance(err, BackphenoError):
        return err
    paths = [Path(f) for f in files if f is not None]
    paths += [child for folder in paths if folder.is_dir() for child in sorted(folder.iterdir())
              if child.is_file() and child.suffix in _FOLDER_CHECKED]
    words = f"{type(err).__name__}: {err}".rstrip(": ")
    for path in paths:
        problem = file_problem(path)
        if problem is not None:
            message = problem if words in problem else f"{problem} [{words}]"
            return InputError(message, participant=participant, session=session, file=path)
    context = f"{doing} failed" if doing else "failed"
    single = paths[0] if len(paths) == 1 else None
    listed = "" if len(paths) < 2 else f" (inputs: {', '.join(p.name for p in paths)})"
    return InputError(f"{context}: {words}{listed}", participant=participant, session=session,
                      file=single)


def _nifti_problem(path: Path) -> str | None:
    import nibabel as nib
    import numpy as np

    try:
        image = nib.load(str(path))
    except Exception as err:  # noqa: BLE001 - nibabel raises several unrelated types
        return f"not a readable NIfTI image ({type(err).__name__}: {err})"
    header = image.header
    offset = getattr(image.dataobj, "offset", header.get_data_offset())
    expected = int(offset) + int(np.prod(image.shape)) * header.get_data_dtype().itemsize
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as handle:
            size = 0
            while chunk := handle.read(_CHUNK):
                size += len(chunk)
    else:
        size = path.stat().st_size
    if size < expected:
        return f"truncated NIfTI image: {size} bytes of the {expected} its header announces"
    return None


def _tsv_problem(path: Path) -> str | None:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    ragged = ragged_line(path, frame.shape[1])
    if ragged is not None:
        return ragged
    for column in frame.columns:
        values = frame[column][~frame[column].isin(["", "n/a"])]
        numbers = pd.to_numeric(values, errors="coerce")
        odd = numbers.isna()
        if len(values) and odd.any() and odd.mean() <= _MOSTLY_NUMERIC:
            first = odd.idxmax()
            return (f"column {column}: non-numeric value {values[first]!r} on line {first + 2} "
                    "of a numeric column")
    return None


def _parquet_problem(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(4)
        handle.seek(max(path.stat().st_size - 4, 0))
        tail = handle.read(4)
    if head != b"PAR1" or tail != b"PAR1":
        return "not a Parquet file, or a truncated one (no PAR1 marker at both ends)"
    return None
