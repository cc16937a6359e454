"""BIDS-derivatives file names: entities parsed, files selected by entity.

fMRIPrep and XCP-D name every output ``<key>-<value>_..._<suffix><extension>`` (BIDS
derivatives, BEP012/BEP017). :func:`parse_name` splits a name into its entities, suffix and
extension; :func:`select` keeps the files whose entities match, so discovery never depends on a
fixed name pattern (``res-2`` or ``acq-`` between other entities are read, not globbed over).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class BidsFile:
    """One file name split into entities (``{"sub": "01", "run": "1", ...}``), suffix, extension."""

    path: Path
    entities: dict[str, str] = field(hash=False)
    suffix: str
    extension: str

    def get(self, key: str) -> str | None:
        """The value of an entity, ``None`` when absent."""
        return self.entities.get(key)

    def label(self, keys: tuple[str, ...]) -> str:
        """``key-value`` pairs of ``keys`` present in the name, joined by ``_`` (``""`` if none)."""
        return "_".join(f"{k}-{self.entities[k]}" for k in keys if k in self.entities)


def parse_name(path: str | Path) -> BidsFile | None:
    """Entities, suffix and extension of a BIDS file name; ``None`` if it is not one.

    Examples
    --------
    >>> f = parse_name("sub-1_task-rest_run-2_space-MNI152NLin6Asym_res-2_desc-preproc_bold.nii")
    >>> f.entities["res"], f.suffix, f.extension
    ('2', 'bold', '.nii')
    """
    path = Path(path)
    name = path.name
    stem, dot, rest = name.partition(".")
    parts = stem.split("_")
    if len(parts) < 2 or not parts[0].startswith("sub-"):
        return None
    entities: dict[str, str] = {}
    for part in parts[:-1]:
        key, sep, value = part.partition("-")
        if not sep or not key or not value or key in entities:
            return None
        entities[key] = value
    suffix = parts[-1]
    if "-" in suffix:
        return None
    return BidsFile(path, entities, suffix, dot + rest)


def list_files(folder: Path) -> list[BidsFile]:
    """Every BIDS-named file directly in ``folder``, sorted by name (empty if no folder)."""
    if not folder.is_dir():
        return []
    parsed = (parse_name(p) for p in sorted(folder.iterdir()) if p.is_file())
    return [f for f in parsed if f is not None]


def select(files: list[BidsFile], suffix: str | None = None,
           extensions: tuple[str, ...] | None = None, **entities: str | None) -> list[BidsFile]:
    """Files with this suffix and extension whose entities match.

    Each keyword is an entity: a string must equal the file's value, ``None`` requires the
    entity to be absent. Entities not named are not constrained.
    """
    out = []
    for f in files:
        if suffix is not None and f.suffix != suffix:
            continue
        if extensions is not None and f.extension not in extensions:
            continue
        if all(f.get(key) == wanted for key, wanted in entities.items()):
            out.append(f)
    return out
