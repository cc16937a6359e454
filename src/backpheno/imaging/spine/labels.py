"""Label schemes: named, versioned mappings from a segmenter's label values to backpheno's names.

Every spine label map is read through a :class:`LabelScheme` that turns the segmenter's integer
values into the structure names of :mod:`backpheno.dataset` (``L1`` ... ``S1``, ``L1-L2`` ...
``L5-S1``, ``canal``, ``multifidus_left`` ...). Values a scheme knows but backpheno does not
measure (cervical vertebrae, endplates ...) map to ``None`` and are skipped; a value the scheme
does not know is an :class:`~backpheno.errors.InputError` naming the file and the value, because it
means the label map and the scheme do not belong together.

Built-in schemes (:data:`BUILTIN_SCHEMES`):

``spider``
    SPIDER lumbar MRI dataset (van der Graaf et al. 2024, Sci Data 11:264; grand-challenge
    docs): vertebrae 1-25 numbered from the bottom (L5 = 1), 100 spinal canal, 101-125 partially
    visible vertebrae, discs 201-225 numbered from the bottom (L5-S1 = 201).
``totalspineseg``
    TotalSpineSeg's current scheme (``resources/labels_maps/tss_map.json``, since Sep 2024):
    1 cord, 2 canal, 41-45 L1-L5, 46 L6, 50 sacrum, 91 T12-L1, 92-95 L1-L2 ... L4-L5, 100 L5-S.
``totalspineseg-legacy``
    TotalSpineSeg before Sep 2024 (TotalSegmentator-v1 numbering, README of that time): 18-22
    L5 ... L1, 23 T12, 92 sacrum, 200 cord, 201 canal, 202 L5-S ... 207 T12-L1.
``spineps``
    SPINEPS instance mask with VERIDAH labels (VerSe numbering: L1 = 20 ... L5 = 24, L6 = 25,
    sacrum 26, T13 28; the disc below vertebra X is 100 + X, its endplate 200 + X), plus 60
    spinal cord and 61 spinal canal copied from the SPINEPS subregion mask.
``verse``
    VerSe vertebra labels (C1 = 1 ... L5 = 24, L6 = 25, sacrum 26, T13 28).
``musclemap``
    MuscleMap's lumbar (abdomen) model: 1/2 multifidus right/left, 3/4 erector spinae
    right/left, 5/6 psoas major right/left, 7/8 quadratus lumborum right/left.
``dseg``
    Not a fixed table: built from the dataset's ``derivatives/spineseg/dseg.tsv`` by name
    (:func:`scheme_from_tsv`).

Users declare their own numbering with :func:`scheme_from_mapping` (a dict) or a TSV / JSON file
(:func:`load_scheme`). Whole-vertebra labels (every built-in vertebra scheme) are reduced to the
vertebral body before measuring (:func:`backpheno.imaging.spine.vertebrae.isolate_body`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from backpheno.dataset import DISCS, MUSCLES, VERTEBRAE
from backpheno.errors import InputError
from backpheno.io import read_json, read_tsv

#: Vertebrae backpheno knows, cranial to caudal. ``L6`` marks a lumbosacral transitional
#: vertebra; ``sacrum`` is a whole-sacrum label (not an S1 body).
SPINE_VERTEBRAE = ("T12", *VERTEBRAE[:5], "L6", "S1", "sacrum")
#: Discs backpheno knows (``L5-L6`` and ``L6-S1`` only with a transitional L6).
SPINE_DISCS = ("T12-L1", *DISCS[:4], "L5-L6", DISCS[4], "L6-S1")
#: Paraspinal muscles: the dataset contract's six plus quadratus lumborum.
SPINE_MUSCLES = (*MUSCLES, "quadratus_lumborum_left", "quadratus_lumborum_right")
#: Cranio-caudal order of the vertebrae and discs, used to validate a label map.
CRANIOCAUDAL_ORDER = (
    "T12", "T12-L1", "L1", "L1-L2", "L2", "L2-L3", "L3", "L3-L4", "L4", "L4-L5", "L5",
    "L5-L6", "L6", "L5-S1", "L6-S1", "S1", "sacrum",
)
#: Every structure name a scheme may map to.
STRUCTURES = frozenset((*SPINE_VERTEBRAE, *SPINE_DISCS, "canal", "cord", *SPINE_MUSCLES))

#: Other spellings accepted in a dseg.tsv ``name`` column.
ALIASES = {
    "spinal_canal": "canal", "csf": "canal", "thecal_sac": "canal",
    "spinal_cord": "cord", "sc": "cord",
    "psoas_major_left": "psoas_left", "psoas_major_right": "psoas_right",
}

Extent = Literal["body", "whole"]


@dataclass(frozen=True)
class LabelledStructures:
    """Voxels of each named structure in one label map.

    Attributes
    ----------
    voxels : dict
        Structure name → integer voxel indices, shape (n, 3).
    partial : frozenset
        Names the segmenter marked as partially visible (SPIDER 101-125).
    """

    voxels: dict[str, np.ndarray]
    partial: frozenset[str] = frozenset()

    def __contains__(self, name: str) -> bool:
        return name in self.voxels

    @property
    def names(self) -> list[str]:
        """Structure names present, in label-map order of first value."""
        return list(self.voxels)


@dataclass(frozen=True)
class LabelScheme:
    """A named, versioned mapping from label values to structure names.

    Parameters
    ----------
    name, version : str
        Identify the scheme in provenance (``"totalspineseg"``, ``"tss_map.json 2024-09"``).
    source : str
        Where the numbering is documented.
    labels : mapping
        Label value → structure name (one of :data:`STRUCTURES`) or ``None`` for a structure
        the segmenter labels but backpheno does not measure. 0 is always background.
    partial : frozenset of int
        Values that mark a partially visible structure (measured as missing).
    vertebra_extent : {"body", "whole"}
        Whether vertebra labels cover the vertebral body only or the whole vertebra (body and
        posterior elements).
    """

    name: str
    version: str
    source: str
    labels: Mapping[int, str | None]
    partial: frozenset[int] = field(default_factory=frozenset)
    vertebra_extent: Extent = "body"

    def __post_init__(self) -> None:
        clean = {}
        for value, target in self.labels.items():
            if int(value) != value or int(value) <= 0:
                raise ValueError(f"scheme {self.name}: label values must be positive integers, "
                                 f"got {value!r}")
            if target is not None and target not in STRUCTURES:
                raise ValueError(f"scheme {self.name}: unknown structure name {target!r} for "
                                 f"value {value}; known: {sorted(STRUCTURES)}")
            clean[int(value)] = target
        object.__setattr__(self, "labels", clean)
        object.__setattr__(self, "partial", frozenset(int(v) for v in self.partial))
        if self.vertebra_extent not in ("body", "whole"):
            raise ValueError(f"vertebra_extent must be 'body' or 'whole', got "
                             f"{self.vertebra_extent!r}")

    @property
    def provenance(self) -> str:
        """``name (version)``, as written into the codebook."""
        return f"{self.name} ({self.version})"

    def values_of(self, structure: str) -> list[int]:
        """Label values that map to ``structure``."""
        return sorted(v for v, n in self.labels.items() if n == structure)

    def table(self) -> pd.DataFrame:
        """The mapping as a DataFrame (value, structure, partial)."""
        rows = [{"value": v, "structure": n, "partial": v in self.partial}
                for v, n in sorted(self.labels.items())]
        return pd.DataFrame(rows, columns=["value", "structure", "partial"])

    def split(self, data: np.ndarray, file: str | Path | None = None) -> LabelledStructures:
        """Voxel indices of every mapped structure in a label array.

        Raises
        ------
        InputError
            If the array holds non-integer values or a value the scheme does not know.
        """
        flat = np.asarray(data).ravel()
        nonzero = np.flatnonzero(flat)
        values = flat[nonzero]
        if values.dtype.kind == "f":
            if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
                raise InputError("label map holds non-integer values; expected integer labels",
                                 file=file)
            values = values.astype(np.int64)
        present, inverse = np.unique(values, return_inverse=True)
        unknown = [int(v) for v in present if int(v) not in self.labels]
        if unknown:
            raise InputError(
                f"label value(s) {unknown[:10]} are not in label scheme {self.provenance}; "
                f"its values are {_ranges(sorted(self.labels))}. Choose the scheme of the "
                "segmenter (and version) that wrote this file, or declare the numbering",
                file=file,
            )
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(present) + 1))
        grouped: dict[str, list[np.ndarray]] = {}
        partial = set()
        for k, value in enumerate(present):
            name = self.labels[int(value)]
            if name is None:
                continue
            flat_idx = nonzero[order[bounds[k]:bounds[k + 1]]]
            grouped.setdefault(name, []).append(flat_idx)
            if int(value) in self.partial:
                partial.add(name)
        voxels = {
            name: np.stack(np.unravel_index(np.sort(np.concatenate(parts)), data.shape), axis=1)
            for name, parts in grouped.items()
        }
        return LabelledStructures(voxels, frozenset(partial))


def scheme_from_mapping(mapping: Mapping[int | str, str | None], name: str = "custom",
                        version: str = "user-declared", source: str = "user-declared mapping",
                        vertebra_extent: Extent = "body",
                        partial: frozenset[int] = frozenset()) -> LabelScheme:
    """A scheme from ``{value: structure name}`` (keys may be strings of integers).

    Examples
    --------
    >>> ivd = scheme_from_mapping({1: "L5-S1", 2: "L4-L5", 3: "L3-L4", 4: "L2-L3", 5: "L1-L2"},
    ...                           name="ivd-menezes-reis")
    >>> ivd.values_of("L4-L5")
    [2]
    """
    labels = {}
    for key, target in mapping.items():
        try:
            value = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"scheme {name}: label value {key!r} is not an integer") from None
        labels[value] = None if target is None else _canonical(str(target))
    return LabelScheme(name, version, source, labels, partial, vertebra_extent)


def scheme_from_tsv(path: str | Path, name: str = "dseg",
                    vertebra_extent: Extent = "body") -> LabelScheme:
    """A scheme from a BIDS ``dseg.tsv`` lookup table (columns ``index`` and ``name``).

    Names are matched to :data:`STRUCTURES` (case-insensitive, with :data:`ALIASES`); other
    names are kept as known-but-unmeasured structures.

    Raises
    ------
    InputError
        If the file lacks the columns, or an index is not a positive integer or repeated.
    """
    path = Path(path)
    frame = read_tsv(path, dtype={"name": str})
    missing = [c for c in ("index", "name") if c not in frame.columns]
    if missing:
        raise InputError(f"missing required columns {missing}", file=path)
    index = pd.to_numeric(frame["index"], errors="coerce")
    bad = frame.loc[index.isna() | (index <= 0) | (index != index.round()), "index"]
    if len(bad):
        raise InputError(f"index must be a positive integer, got {bad.tolist()[:5]}", file=path,
                         column="index")
    if index.duplicated().any():
        raise InputError(f"repeated index {index[index.duplicated()].astype(int).tolist()[:5]}",
                         file=path, column="index")
    labels = {}
    for value, label in zip(index.astype(int), frame["name"].astype(str), strict=True):
        canonical = _canonical(label, strict=False)
        labels[int(value)] = canonical
    return LabelScheme(name, path.name, str(path), labels, frozenset(), vertebra_extent)


def load_scheme(spec: str | Path | Mapping | LabelScheme,
                dseg_tsv: str | Path | None = None) -> LabelScheme:
    """Resolve a scheme specification.

    Parameters
    ----------
    spec : str, Path, mapping or LabelScheme
        A built-in name (:data:`BUILTIN_SCHEMES`), ``"dseg"`` (read ``dseg_tsv``), a path to a
        ``.tsv`` (index, name) or ``.json`` file (``{"labels": {value: name}, "name": ...,
        "vertebra_extent": ...}`` or a plain ``{value: name}``), or a ``{value: name}`` mapping.
    dseg_tsv : str or Path, optional
        The dataset's lookup table, needed when ``spec == "dseg"``.
    """
    if isinstance(spec, LabelScheme):
        return spec
    if isinstance(spec, Mapping):
        return scheme_from_mapping(spec)
    text = str(spec)
    if text == "dseg":
        if dseg_tsv is None:
            raise InputError("label scheme 'dseg' needs the dataset's derivatives/spineseg/"
                             "dseg.tsv, which was not given")
        return scheme_from_tsv(dseg_tsv)
    if text in BUILTIN_SCHEMES:
        return BUILTIN_SCHEMES[text]
    path = Path(text)
    if path.suffix == ".tsv":
        return scheme_from_tsv(path, name=path.stem)
    if path.suffix == ".json":
        payload = read_json(path)
        body = payload.get("labels", payload) if isinstance(payload, dict) else None
        if not isinstance(body, dict):
            raise InputError("label scheme JSON must be an object of value: name", file=path)
        try:
            return scheme_from_mapping(
                body, name=payload.get("name", path.stem), version=payload.get("version", "file"),
                source=str(path), vertebra_extent=payload.get("vertebra_extent", "body"),
            )
        except ValueError as err:
            raise InputError(str(err), file=path) from None
    raise InputError(f"unknown label scheme {text!r}; use one of {sorted(BUILTIN_SCHEMES)}, "
                     "'dseg', a .tsv / .json file or a {value: name} mapping")


def _canonical(label: str, strict: bool = True) -> str | None:
    key = label.strip()
    if key in STRUCTURES:
        return key
    lowered = key.lower().replace(" ", "_")
    if lowered in ALIASES:
        return ALIASES[lowered]
    for name in STRUCTURES:
        if name.lower() == lowered or name.lower().replace("-", "_") == lowered:
            return name
    if strict:
        raise ValueError(f"unknown structure name {label!r}; known: {sorted(STRUCTURES)}")
    return None


def _ranges(values: list[int]) -> str:
    parts, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------
# built-in schemes
# ------------------------------------------------------------------------------------------

_BOTTOM_UP_VERTEBRAE = ("L5", "L4", "L3", "L2", "L1", "T12")
_BOTTOM_UP_DISCS = ("L5-S1", "L4-L5", "L3-L4", "L2-L3", "L1-L2", "T12-L1")


def _spider() -> LabelScheme:
    labels: dict[int, str | None] = {100: "canal"}
    for k in range(1, 26):
        vertebra = _BOTTOM_UP_VERTEBRAE[k - 1] if k <= 6 else None
        labels[k] = vertebra
        labels[100 + k] = vertebra
        labels[200 + k] = _BOTTOM_UP_DISCS[k - 1] if k <= 6 else None
    return LabelScheme(
        "spider", "Sci Data 11:264 (2024)",
        "van der Graaf et al. 2024, Sci Data 11:264; spider.grand-challenge.org: 1-25 vertebrae "
        "from the bottom (L5 = 1), 100 canal, 101-125 partially visible vertebrae, 201-225 discs "
        "from the bottom (L5/S1 = 201)",
        labels, frozenset(range(101, 126)), "whole",
    )


def _totalspineseg() -> LabelScheme:
    labels: dict[int, str | None] = {1: "cord", 2: "canal", 50: "sacrum", 46: "L6", 47: None}
    labels.update(dict.fromkeys(range(11, 18)))            # C1-C7
    labels.update(dict.fromkeys(range(21, 32)))            # T1-T11
    labels[32] = "T12"
    labels.update({41 + i: f"L{i + 1}" for i in range(5)})
    labels.update(dict.fromkeys(range(63, 68)))            # C2-C3 .. C6-C7
    labels.update(dict.fromkeys(range(71, 83)))            # C7-T1, T1-T2 .. T11-T12
    labels.update({91: "T12-L1", 92: "L1-L2", 93: "L2-L3", 94: "L3-L4", 95: "L4-L5",
                   100: "L5-S1"})
    return LabelScheme(
        "totalspineseg", "tss_map.json, scheme since 2024-09",
        "neuropoly/totalspineseg totalspineseg/resources/labels_maps/tss_map.json (vertebra "
        "labels 11-50 by region and level; a disc carries the label of the vertebra below + 50)",
        labels, frozenset(), "whole",
    )


def _totalspineseg_legacy() -> LabelScheme:
    labels: dict[int, str | None] = {92: "sacrum", 200: "cord", 201: "canal"}
    for k in range(18, 42):                                # L5 = 18 ... C1 = 41
        labels[k] = _BOTTOM_UP_VERTEBRAE[k - 18] if k - 18 < 6 else None
    for k in range(202, 225):                              # L5-S = 202 ... C2-C3 = 224
        labels[k] = _BOTTOM_UP_DISCS[k - 202] if k - 202 < 6 else None
    return LabelScheme(
        "totalspineseg-legacy", "before 2024-09 (TotalSegmentator v1 numbering)",
        "neuropoly/totalspineseg README 'List of Classes' before commit 7b890b2: 18-41 "
        "vertebrae L5..C1, 92 sacrum, 200 cord, 201 canal, 202-224 discs L5-S..C2-C3",
        labels, frozenset(), "whole",
    )


_VERSE_NAMES = {19: "T12", 20: "L1", 21: "L2", 22: "L3", 23: "L4", 24: "L5", 25: "L6",
                26: "sacrum"}


def _verse_vertebrae() -> dict[int, str | None]:
    labels: dict[int, str | None] = dict.fromkeys(range(1, 29))
    labels.update(_VERSE_NAMES)
    return labels


def _spineps() -> LabelScheme:
    labels = _verse_vertebrae()
    labels.update(dict.fromkeys(range(101, 129)))          # disc below vertebra X = 100 + X
    labels.update({119: "T12-L1", 120: "L1-L2", 121: "L2-L3", 122: "L3-L4", 123: "L4-L5",
                   124: "L5-S1", 125: "L6-S1"})
    labels.update(dict.fromkeys(range(201, 229)))          # endplates
    labels.update({60: "cord", 61: "canal"})
    return LabelScheme(
        "spineps", "instance mask, VERIDAH / VerSe numbering",
        "SPINEPS docs (spineps.readthedocs.io, Processing Phases): vertebra X in 1-28 (L1 = 20 "
        "... L5 = 24, L6 = 25, sacrum 26, T13 28), its disc 100 + X, its endplate 200 + X; "
        "60 cord and 61 canal from the subregion mask",
        labels, frozenset(), "whole",
    )


def _verse() -> LabelScheme:
    return LabelScheme(
        "verse", "VerSe 2019/2020",
        "VerSe benchmark (Sekuboyina et al. 2021, Med Image Anal 73:102166): C1 = 1 ... L5 = 24, "
        "L6 = 25, sacrum 26, T13 28",
        _verse_vertebrae(), frozenset(), "whole",
    )


def _musclemap() -> LabelScheme:
    labels = {1: "multifidus_right", 2: "multifidus_left", 3: "erector_spinae_right",
              4: "erector_spinae_left", 5: "psoas_right", 6: "psoas_left",
              7: "quadratus_lumborum_right", 8: "quadratus_lumborum_left"}
    return LabelScheme(
        "musclemap", "abdomen model labels",
        "MuscleMap (github.com/MuscleMap/MuscleMap) abdomen_model_labels.json",
        labels, frozenset(), "body",
    )


#: Built-in schemes by name.
BUILTIN_SCHEMES: dict[str, LabelScheme] = {
    s.name: s for s in (_spider(), _totalspineseg(), _totalspineseg_legacy(), _spineps(),
                        _verse(), _musclemap())
}
