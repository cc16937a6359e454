"""Per-level measures of a sagittal lumbar label map: discs L1-L2 ... L5-S1, bodies L1 ... S1.

:func:`measure_sagittal` reads a label map (and optionally its T2-weighted image and a sagittal
fat-fraction map on the same grid), names the labels with a
:class:`~backpheno.imaging.spine.labels.LabelScheme`, checks that the named levels are stacked
in cranio-caudal order, and measures every level in world millimetres. The result is a per-level
table plus QC rows: a level that is missing, partially covered (touching the image edge or marked
partial by the segmenter), ambiguous or implausible gets NaN values and a reason, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.dataset import DISCS, VERTEBRAE
from backpheno.errors import InputError
from backpheno.imaging.spine import discs as disc_measures
from backpheno.imaging.spine import vertebrae as body_measures
from backpheno.imaging.spine.features import DISC_MEASURES, VERTEBRA_MEASURES, Measure
from backpheno.imaging.spine.geometry import (
    SUPERIOR,
    ChordProfile,
    Frame,
    chord_profile,
    largest_component,
    touches_edge,
    voxel_volume_mm3,
    world_coords,
)
from backpheno.imaging.spine.images import Image, as_fraction, companion, file_name, load_canonical
from backpheno.imaging.spine.labels import (
    CRANIOCAUDAL_ORDER,
    LabelledStructures,
    LabelScheme,
    load_scheme,
)
from backpheno.imaging.spine.qc import QCLog
from backpheno.imaging.spine.settings import SpineSettings

#: Rows of the per-level table, cranial to caudal.
LEVELS = ("L1", "L1-L2", "L2", "L2-L3", "L3", "L3-L4", "L4", "L4-L5", "L5", "L5-S1", "S1")
#: Columns of the per-level table.
LEVEL_COLUMNS = (
    "kind", "status", "n_voxels", "volume_ml", "mean_height_mm", "central_height_mm",
    "height_mm", "height_index", "nucleus_signal", "csf_signal", "csf_ratio", "degenerated",
    "fat_fraction", "tilt_deg", "axis_source", "centroid_x", "centroid_y", "centroid_z",
)
#: Share of a label's voxels in detached fragments above which a QC note is written.
FRAGMENT_NOTE = 0.01
#: Fewest voxels a level needs to be measured at all.
MIN_VOXELS = 20
#: Levels that are ambiguous when a transitional L6 is labelled.
TRANSITIONAL_AMBIGUOUS = ("L5-S1", "S1", "L5-L6", "L6-S1")


@dataclass
class SagittalResult:
    """Per-level measures of one sagittal label map.

    Attributes
    ----------
    levels : DataFrame
        One row per level of :data:`LEVELS` with the columns of :data:`LEVEL_COLUMNS`
        (heights mm, volumes mL, signal ratio unitless, fat fraction 0..1, tilt degrees from
        the scanner's superior axis, centroid in world mm).
    qc : DataFrame
        item, status (missing / flagged), reason.
    scheme : LabelScheme
        The label scheme that named the labels.
    profiles : dict
        Chord profile of every measured level (for plotting and inspection).
    """

    levels: pd.DataFrame
    qc: pd.DataFrame
    scheme: LabelScheme
    profiles: dict[str, ChordProfile] = field(default_factory=dict)


def measure_sagittal(labels: Image, image: Image | None = None,
                     fat_fraction: Image | None = None, *,
                     scheme: str | dict | LabelScheme | None = None,
                     settings: SpineSettings | None = None,
                     dseg_tsv: str | Path | None = None) -> SagittalResult:
    """Measure the discs and vertebral bodies of a sagittal lumbar label map.

    Parameters
    ----------
    labels : str, Path or nibabel image
        The label map (vertebrae and/or discs and/or canal).
    image : str, Path or nibabel image, optional
        The T2-weighted image on the same grid; without it, signal ratios are missing.
    fat_fraction : str, Path or nibabel image, optional
        A fat-fraction map F/(F+W) on the same grid; without it, body fat fractions are missing.
    scheme : str, mapping or LabelScheme, optional
        Overrides ``settings.sagittal_scheme``.
    settings : SpineSettings, optional
        Thresholds and options; defaults apply when omitted.
    dseg_tsv : str or Path, optional
        The dataset's lookup table when the scheme is ``"dseg"``.

    Returns
    -------
    SagittalResult

    Raises
    ------
    InputError
        Unreadable files, mismatched grids, label values the scheme does not know, or levels out
        of cranio-caudal order (a scheme or version that does not match the segmentation).
    """
    settings = settings or SpineSettings()
    scheme = load_scheme(settings.sagittal_scheme if scheme is None else scheme, dseg_tsv)
    label_file = file_name(labels)
    label_img = load_canonical(labels, "sagittal label map")
    t2 = companion(image, label_img, label_file, "sagittal T2w image")
    ff = companion(fat_fraction, label_img, label_file, "sagittal fat-fraction map")
    if ff is not None:
        ff = as_fraction(ff * settings.fat_fraction_scale, file_name(fat_fraction))
    data = np.asanyarray(label_img.dataobj)
    structures = scheme.split(data, file=label_file)
    extent = (scheme.vertebra_extent if settings.vertebra_extent == "auto"
              else settings.vertebra_extent)
    measurer = _SagittalMeasurer(structures, label_img.affine, data.shape, t2, ff, settings,
                                 extent, label_file)
    return measurer.run(scheme)


def check_order(centroids: dict[str, np.ndarray], file: str | Path | None = None) -> None:
    """Raise InputError unless the levels' centroids descend in the order of the spine.

    Consecutive labelled levels of :data:`~backpheno.imaging.spine.labels.CRANIOCAUDAL_ORDER`
    must have decreasing superior coordinates; a violation means the label scheme (or its
    version) does not match the segmentation, for example an off-by-one level numbering.
    """
    present = [n for n in CRANIOCAUDAL_ORDER if n in centroids]
    for upper, lower in zip(present, present[1:], strict=False):
        z_up, z_low = float(centroids[upper] @ SUPERIOR), float(centroids[lower] @ SUPERIOR)
        if z_up <= z_low:
            raise InputError(
                f"labels out of cranio-caudal order: {upper} (centroid S = {z_up:.1f} mm) is not "
                f"above {lower} (S = {z_low:.1f} mm); the label scheme or its version does not "
                "match this segmentation, or the image orientation is wrong",
                file=file,
            )


class _SagittalMeasurer:
    """State of one measurement: voxels, grid, QC and the table being filled."""

    def __init__(self, structures: LabelledStructures, affine: np.ndarray, shape: tuple,
                 t2: np.ndarray | None, ff: np.ndarray | None, settings: SpineSettings,
                 extent: str, file: str | None) -> None:
        self.affine, self.shape, self.t2, self.ff = affine, shape, t2, ff
        self.settings, self.extent, self.file = settings, extent, file
        self.partial = structures.partial
        self.qc = QCLog()
        self.voxels: dict[str, np.ndarray] = {}
        for name, ijk in structures.voxels.items():
            kept, dropped = largest_component(ijk) if name != "canal" else (ijk, 0.0)
            if dropped > FRAGMENT_NOTE:
                self.qc.add(name, "flagged", f"{100 * dropped:.1f} % of the label's voxels are "
                            "in detached fragments and were ignored")
            self.voxels[name] = kept
        self.centroids = {n: world_coords(affine, v).mean(axis=0) for n, v in self.voxels.items()}
        self.rows = {name: _empty_row(name) for name in LEVELS}
        self.profiles: dict[str, ChordProfile] = {}
        self.disc_frames: dict[str, Frame] = {}

    def run(self, scheme: LabelScheme) -> SagittalResult:
        ordered = {n: c for n, c in self.centroids.items() if n in CRANIOCAUDAL_ORDER}
        check_order(ordered, self.file)
        skip = set()
        if "L6" in self.voxels:
            skip = set(TRANSITIONAL_AMBIGUOUS)
            for level in ("L5-S1", "S1"):
                self.qc.add(level, "flagged", "a transitional vertebra L6 is labelled: the "
                            "lumbosacral levels L5-S1 and S1 are ambiguous and left out")
        for name in DISCS:
            self._disc(name, skip)
        for name in VERTEBRAE:
            self._vertebra(name, skip)
        for name in DISCS:
            self._height_index(name)
        levels = pd.DataFrame.from_dict(self.rows, orient="index").reindex(columns=LEVEL_COLUMNS)
        levels.index.name = "structure"
        return SagittalResult(levels, self.qc.frame(), scheme, self.profiles)

    # -- discs -------------------------------------------------------------------------------

    def _disc(self, name: str, skip: set[str]) -> None:
        ijk = self._measurable(name, skip, self.voxels.get(name))
        if ijk is None:
            return
        row = self.rows[name]
        shape = disc_measures.disc_shape(ijk, self.affine)
        self.profiles[name] = shape.profile
        row.update(self._placement(ijk, shape.frame.axis, "disc"))
        row["volume_ml"] = len(ijk) * voxel_volume_mm3(self.affine) / 1000.0
        row["mean_height_mm"] = shape.mean_height_mm
        row["central_height_mm"] = shape.central_height_mm
        if not self._plausible(name, {m: DISC_MEASURES[m] for m in
                                      ("volume_ml", "mean_height_mm", "central_height_mm")}):
            return
        self.disc_frames[name] = shape.frame
        self._signal_ratio(name, ijk, shape)

    def _signal_ratio(self, name: str, ijk: np.ndarray, shape: disc_measures.DiscShape) -> None:
        row = self.rows[name]
        if self.t2 is None:
            self.qc.add(name, "missing", "no T2w image: nucleus/CSF signal ratio not measured")
            return
        canal = self.voxels.get("canal")
        if canal is None:
            self.qc.add(name, "missing", "no canal label: nucleus/CSF signal ratio not measured")
            return
        nucleus = ijk[disc_measures.nucleus_mask(ijk, self.affine, shape)]
        csf = canal[disc_measures.csf_mask(canal, self.affine, shape)]
        row["nucleus_signal"] = disc_measures.signal_mean(self.t2, nucleus)
        row["csf_signal"] = disc_measures.signal_mean(self.t2, csf)
        if np.isnan(row["nucleus_signal"]):
            self.qc.add(name, "flagged", f"nucleus region has {len(nucleus)} voxels; too few "
                        "for a signal mean")
            return
        if np.isnan(row["csf_signal"]) or row["csf_signal"] <= 0:
            self.qc.add(name, "missing", f"{len(csf)} canal voxels with signal at this level; "
                        "no CSF reference")
            return
        row["csf_ratio"] = row["nucleus_signal"] / row["csf_signal"]
        if self._plausible(name, {"csf_ratio": DISC_MEASURES["csf_ratio"]}):
            row["degenerated"] = float(row["csf_ratio"] < self.settings.degeneration_threshold)

    def _height_index(self, name: str) -> None:
        row = self.rows[name]
        if np.isnan(row["mean_height_mm"]):
            return
        upper, lower = name.split("-")
        wanted = [upper] if self.settings.height_index_reference == "upper" else [upper, lower]
        heights = [self.rows[v]["height_mm"] if v in self.rows else np.nan for v in wanted]
        lacking = [v for v, h in zip(wanted, heights, strict=True) if np.isnan(h)]
        if lacking:
            self.qc.add(name, "missing", f"height index needs the height of {', '.join(lacking)}, "
                        "which was not measured")
            return
        row["height_index"] = row["mean_height_mm"] / float(np.mean(heights))
        self._plausible(name, {"height_index": DISC_MEASURES["height_index"]})

    # -- vertebral bodies --------------------------------------------------------------------

    def _vertebra(self, name: str, skip: set[str]) -> None:
        ijk = self.voxels.get(name)
        if ijk is None or name in skip:
            self._measurable(name, skip, ijk)
            return
        adjacent = [d for d in _adjacent_discs(name) if d in self.disc_frames]
        if self.extent == "whole":
            if not adjacent:
                self.qc.add(name, "missing", "whole-vertebra label without a measured adjacent "
                            "disc: the vertebral body cannot be separated")
                return
            axis, _ = body_measures.initial_axis([self.disc_frames[d].axis for d in adjacent],
                                                 None)
            ijk = body_measures.isolate_body(ijk, self.affine,
                                             [self.voxels[d] for d in adjacent], axis)
            if len(ijk) == 0:
                self.qc.add(name, "flagged", "no part of the whole-vertebra label lies over the "
                            "adjacent discs")
                return
        ijk = self._measurable(name, skip, ijk)
        if ijk is None:
            return
        row = self.rows[name]
        points = world_coords(self.affine, ijk)
        guess, source = body_measures.initial_axis(
            [self.disc_frames[d].axis for d in adjacent], self._spine_direction(name))
        axis = body_measures.endplate_axis(ijk, self.affine, guess)
        frame = Frame.from_axis(points, axis)
        profile = chord_profile(ijk, self.affine, frame)
        self.profiles[name] = profile
        row.update(self._placement(ijk, axis, "vertebra"))
        row["axis_source"] = source
        row["volume_ml"] = len(ijk) * voxel_volume_mm3(self.affine) / 1000.0
        row["height_mm"] = profile.mean_chord(disc_measures.MEAN_INNER)
        if not self._plausible(name, {m: VERTEBRA_MEASURES[m] for m in ("volume_ml", "height_mm")}):
            return
        if self.ff is None:
            self.qc.add(name, "missing", "no sagittal fat-fraction map: body fat fraction not "
                        "measured")
            return
        core = body_measures.interior_voxels(ijk, self.affine)
        row["fat_fraction"] = disc_measures.signal_mean(self.ff, core)
        if np.isnan(row["fat_fraction"]):
            self.qc.add(name, "flagged", "vertebral body too thin for a fat fraction 2 mm from "
                        "its surface")
            return
        self._plausible(name, {"fat_fraction": VERTEBRA_MEASURES["fat_fraction"]})

    def _spine_direction(self, name: str) -> np.ndarray | None:
        """Direction from the centroid of the next lower level to the next upper one."""
        order = [n for n in CRANIOCAUDAL_ORDER if n in self.centroids]
        k = order.index(name)
        up = self.centroids[order[k - 1]] if k > 0 else self.centroids[name]
        down = self.centroids[order[k + 1]] if k + 1 < len(order) else self.centroids[name]
        vector = up - down
        norm = np.linalg.norm(vector)
        return vector / norm if norm > 0 else None

    # -- shared ------------------------------------------------------------------------------

    def _measurable(self, name: str, skip: set[str], ijk: np.ndarray | None) -> np.ndarray | None:
        """The voxels if the level can be measured, else None with a QC row."""
        if name in skip:
            self.rows[name]["status"] = "flagged"
            return None
        if ijk is None or len(ijk) == 0:
            self.qc.add(name, "missing", "not labelled")
            return None
        self.rows[name]["n_voxels"] = len(ijk)
        if len(ijk) < MIN_VOXELS:
            return self._flag(name, f"only {len(ijk)} voxels labelled; too few to measure")
        if name in self.partial:
            return self._flag(name, "marked partially visible by the segmenter")
        if touches_edge(ijk, self.shape):
            return self._flag(name, "label touches the image edge (partial coverage)")
        return ijk

    def _flag(self, name: str, reason: str) -> None:
        self.rows[name]["status"] = "flagged"
        self.qc.add(name, "flagged", reason)
        return None

    def _placement(self, ijk: np.ndarray, axis: np.ndarray, kind: str) -> dict[str, object]:
        centroid = world_coords(self.affine, ijk).mean(axis=0)
        tilt = float(np.degrees(np.arccos(np.clip(abs(axis @ SUPERIOR), 0, 1))))
        return {"kind": kind, "status": "ok", "tilt_deg": tilt, "centroid_x": centroid[0],
                "centroid_y": centroid[1], "centroid_z": centroid[2]}

    def _plausible(self, name: str, measures: dict[str, Measure]) -> bool:
        """NaN every value of the level if one is outside its plausible range."""
        row = self.rows[name]
        for measure, spec in measures.items():
            value = row[measure]
            if np.isnan(value) or not spec.valid_min <= value <= spec.valid_max:
                for key in ("volume_ml", "mean_height_mm", "central_height_mm", "height_mm",
                            "height_index", "csf_ratio", "degenerated", "fat_fraction"):
                    row[key] = np.nan
                row["status"] = "flagged"
                reason = (f"{measure} could not be measured" if np.isnan(value) else
                          f"implausible {measure} = {value:.3g} {spec.unit} "
                          f"(plausible {spec.valid_min:g}-{spec.valid_max:g})")
                self.qc.add(name, "flagged", reason)
                return False
        return True


def _adjacent_discs(vertebra: str) -> list[str]:
    return [d for d in DISCS if vertebra in d.split("-")]


def _empty_row(name: str) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(LEVEL_COLUMNS, np.nan)
    row.update(kind="disc" if "-" in name else "vertebra", status="missing", axis_source="",
               n_voxels=0)
    return row
