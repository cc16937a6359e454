"""One writer per output folder: a lock file that a second command refuses to share.

:func:`output_lock` creates ``<folder>/.backpheno.lock`` holding the command, process id, host
and start time, in one atomic step (written beside it, then hard-linked into place, which
fails if the lock exists, also on NFS). A second command writing the same folder meets the
file and stops with an error naming the holder. A lock whose process no longer runs on this
host (a killed run) is stale and is taken over; a lock held by another host is never broken
automatically, the message says which file to delete. The lock is re-entrant within one
process (a command calling a library function that locks the same folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from backpheno.errors import InputError

#: Name of the lock file inside the locked folder.
LOCK_NAME = ".backpheno.lock"


@contextlib.contextmanager
def output_lock(folder: str | Path, command: str, create: bool = True) -> Iterator[Path]:
    """Hold the lock of ``folder`` while the block runs.

    Parameters
    ----------
    folder : str or Path
        The output folder.
    command : str
        The command, for the message a second writer gets.
    create : bool
        Create a missing folder; otherwise a missing folder is not locked (a command that
        writes into an existing run directory reports the missing folder itself).

    Raises
    ------
    InputError
        If another live backpheno process holds the folder.
    """
    folder = Path(folder)
    path = folder / LOCK_NAME
    if not create and not folder.is_dir():
        yield path
        return
    folder.mkdir(parents=True, exist_ok=True)
    holder = _read(path)
    if holder is not None and _is_me(holder):
        yield path
        return
    record = json.dumps({"command": command, "pid": os.getpid(), "host": socket.gethostname(),
                         "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    for _ in range(3):
        if _create(path, record):
            break
        holder = _read(path)
        if holder is not None and not _is_stale(holder):
            raise InputError(
                f"output folder is in use by `backpheno {holder.get('command', '?')}` (pid "
                f"{holder.get('pid', '?')} on {holder.get('host', '?')}, since "
                f"{holder.get('started', '?')}); wait for it to finish, or delete the lock "
                "file if that process is gone", file=path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # stale (its process is gone) or unreadable: take it over
    else:  # pragma: no cover - three stale takeovers lost to other processes in a row
        raise InputError("could not take the output folder's lock", file=path)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _create(path: Path, record: str) -> bool:
    """Create ``path`` holding ``record`` in one atomic step; False if it already exists."""
    fd, tmp = tempfile.mkstemp(prefix=f"{LOCK_NAME}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(record)
        try:
            os.link(tmp, path)  # fails if the lock exists; never shows a half-written lock
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def _read(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return None
    return holder if isinstance(holder, dict) else None


def _is_me(holder: dict) -> bool:
    return holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname()


def _is_stale(holder: dict) -> bool:
    """Whether the holder's process is gone (only decidable on this host)."""
    if holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
