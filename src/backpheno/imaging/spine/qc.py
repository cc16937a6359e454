"""QC records of one spine measurement: what is missing or flagged, and why."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

QC_FRAME_COLUMNS = ("item", "status", "reason")


@dataclass
class QCLog:
    """Collects ``(item, status, reason)`` rows; status is ``missing`` or ``flagged``."""

    rows: list[dict[str, str]] = field(default_factory=list)

    def add(self, item: str, status: str, reason: str) -> None:
        """Record one problem with ``item`` (a structure or feature name)."""
        if status not in ("missing", "flagged"):
            raise ValueError(f"QC status must be 'missing' or 'flagged', got {status!r}")
        self.rows.append({"item": item, "status": status, "reason": reason})

    def frame(self) -> pd.DataFrame:
        """The records as a DataFrame with columns item, status, reason."""
        return pd.DataFrame(self.rows, columns=list(QC_FRAME_COLUMNS))
