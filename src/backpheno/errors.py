"""Exceptions that name what is wrong and where.

Every error raised for bad input says which participant, session, file, column or configuration
key is at fault, so a user can fix the input without reading a traceback.
"""

from __future__ import annotations

from pathlib import Path


class BackphenoError(Exception):
    """Base class of every error backpheno raises on purpose."""


class InputError(BackphenoError, ValueError):
    """Bad input data: a file, column, value or participant that does not follow the contract.

    Parameters
    ----------
    message : str
        What is wrong, in words a user understands.
    participant : str, optional
        Participant identifier (``sub-XXX``) the problem belongs to.
    session : str, optional
        Session identifier (``ses-XX``).
    file : str or Path, optional
        The offending file.
    column : str, optional
        The offending column or item.
    """

    def __init__(
        self,
        message: str,
        *,
        participant: str | None = None,
        session: str | None = None,
        file: str | Path | None = None,
        column: str | None = None,
    ) -> None:
        self.participant = participant
        self.session = session
        self.file = None if file is None else str(file)
        self.column = column
        self.reason = message
        where = [
            f"{label} {value}"
            for label, value in (
                ("participant", participant),
                ("session", session),
                ("file", self.file),
                ("column", column),
            )
            if value is not None
        ]
        super().__init__(f"{'; '.join(where)}: {message}" if where else message)


class ConfigError(BackphenoError, ValueError):
    """An invalid configuration; the message lists every offending key path."""
