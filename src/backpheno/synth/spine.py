"""Synthetic lumbar spine MRI with planted degeneration, written to the dataset contract.

Per deep-phenotyped participant × session:

* a sagittal T2-weighted image and its label map (vertebral bodies L1-L5 and S1, discs L1-L2 ...
  L5-S1, canal): elliptic-cylinder bodies stacked on a lordotic curve (each level tilted
  differently, sacral slope about 38°), wedge-shaped discs between the endplates, a bright
  nucleus in the middle of each disc and a CSF-filled canal behind the bodies;
* optionally a sagittal Dixon fat-fraction map (vertebral marrow fat rises with age);
* an axial Dixon fat-fraction map with a label map of multifidus, erector spinae and psoas,
  left and right, whose areas change from slice to slice.

The mechanical trait (and age) lowers the nucleus/CSF T2 signal ratio and the disc heights, most
at the lower levels, and raises muscle fat. Site effects apply: ``disc_csf_ratio_scale``
multiplies the nucleus/CSF ratio and ``fat_fraction_offset`` is added to every fat fraction.
Shared files: ``derivatives/spineseg/dseg.tsv`` and its ``dataset_description.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy.special import expit

from backpheno import __version__
from backpheno.dataset import DISCS, MUSCLES, VERTEBRAE, bids_name
from backpheno.io import atomic_path, write_json, write_tsv
from backpheno.synth.base import ParticipantSpec
from backpheno.synth.config import SimulateConfig

#: Label values of derivatives/spineseg/dseg.tsv.
DSEG = {name: k for k, name in enumerate((*VERTEBRAE, *DISCS, "canal", *MUSCLES), start=1)}

#: Per vertebra L1..S1: height (mm), antero-posterior and left-right semi-axes (mm), tilt of the
#: body axis from vertical towards anterior (degrees; lordosis grows caudally).
BODY_HEIGHT_MM = (26.0, 27.0, 27.5, 27.5, 27.0, 24.0)
BODY_AP_MM = (15.5, 16.0, 16.5, 17.0, 17.5, 17.5)
BODY_LR_MM = (21.0, 22.0, 23.0, 24.0, 25.0, 23.0)
TILT_DEG = (-8.0, -3.0, 3.0, 10.0, 20.0, 38.0)
#: Per disc L1-L2..L5-S1: central height (mm), healthy nucleus/CSF T2 ratio, and the weight of
#: the mechanical trait (lower discs degenerate more).
DISC_HEIGHT_MM = (8.5, 9.5, 10.5, 11.0, 10.5)
DISC_RATIO = (0.85, 0.80, 0.72, 0.60, 0.55)
LEVEL_WEIGHT = (0.6, 0.8, 1.0, 1.2, 1.3)
#: Ceiling of the nucleus/CSF ratio; the ratio is RATIO_MAX * expit(logit(base / RATIO_MAX)
#: + level weight * (MECH_LOGIT * mechanical + AGE_LOGIT * decades from 50) + noise).
RATIO_MAX = 1.1
MECH_LOGIT = -0.8
AGE_LOGIT = -0.1
#: Relative disc height change per SD of the mechanical trait (times the level weight).
MECH_HEIGHT = -0.07
#: T2 signal relative to CSF.
T2_TISSUE, T2_MARROW, T2_ANNULUS = 0.22, 0.45, 0.28
#: Muscle fat fraction: base per muscle, per SD of the mechanical trait, per year, female shift.
MUSCLE_FF = {"multifidus": 0.14, "erector_spinae": 0.11, "psoas": 0.05}
MECH_FF, AGE_FF, FEMALE_FF = 0.045, 0.003, 0.03
#: Vertebral marrow fat fraction at 50 years and its change per year.
MARROW_FF, AGE_MARROW_FF = 0.38, 0.006

_RIGHT = np.array([1.0, 0.0, 0.0])

#: Features each latent trait drives (exact names of backpheno.imaging.spine).
DRIVES = {
    "mechanical": [
        *[f"spine.disc.{d}.{m}" for d in DISCS
          for m in ("csf_ratio", "degenerated", "mean_height_mm", "central_height_mm",
                    "height_index")],
        *[f"spine.muscle.{m}.{k}" for m in MUSCLES for k in ("fat_fraction", "lean_csa_mm2")],
        "spine.summary.n_degenerated_discs",
        "spine.summary.lower_lumbar_csf_ratio",
        "spine.summary.lower_lumbar_height_index",
        "spine.summary.paraspinal_fat_fraction",
    ],
}


@dataclass(frozen=True)
class Body:
    """A vertebral body: centre, axis (superior), anterior direction, height and semi-axes."""

    centre: np.ndarray
    axis: np.ndarray
    anterior: np.ndarray
    height: float
    ap: float
    lr: float


@dataclass(frozen=True)
class Disc:
    """A disc between two bodies: their facing endplates, footprint and nucleus signal."""

    lower: Body
    upper: Body
    height: float
    ratio: float

    @property
    def floor(self) -> np.ndarray:
        """Centre of the lower body's superior endplate."""
        return self.lower.centre + 0.5 * self.lower.height * self.lower.axis

    @property
    def roof(self) -> np.ndarray:
        """Centre of the upper body's inferior endplate."""
        return self.upper.centre - 0.5 * self.upper.height * self.upper.axis


def write_static(root: Path, config: SimulateConfig) -> None:
    """Write derivatives/spineseg/dseg.tsv and its dataset_description.json."""
    folder = Path(root) / "derivatives" / "spineseg"
    write_tsv(folder / "dseg.tsv", pd.DataFrame({"index": list(DSEG.values()),
                                                 "name": list(DSEG)}))
    write_json(folder / "dataset_description.json", {
        "Name": "spineseg: lumbar spine and paraspinal muscle segmentations",
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "backpheno.synth.spine", "Version": __version__,
                         "Description": "synthetic labels and Dixon fat-fraction maps"}],
    })


def write_participant(spec: ParticipantSpec, root: Path, config: SimulateConfig) -> None:
    """Write one session's sagittal and axial images, labels and fat-fraction maps."""
    root = Path(root)
    sub, ses = spec.participant_id, spec.session_id
    deriv = root / "derivatives" / "spineseg" / sub / ses / "anat"
    rng = spec.rng("spine")
    bodies, discs = lumbar_anatomy(spec, rng)
    t2, labels, marrow_ff, affine = sagittal_images(bodies, discs, spec, config, rng)
    _save(root / sub / ses / "anat" / bids_name("T2w", ".nii.gz", sub=sub, ses=ses,
                                                  acq="lumbarsag"), t2, affine, np.int16)
    _save(deriv / bids_name("dseg", ".nii.gz", sub=sub, ses=ses, acq="lumbarsag"), labels,
          affine, np.uint8)
    if config.spine.sagittal_fat_fraction:
        _save(deriv / bids_name("map", ".nii.gz", sub=sub, ses=ses, acq="lumbarsag",
                                desc="fatfraction"), marrow_ff, affine, np.uint8)
    ff, muscles, ax_affine = axial_images(spec, config, rng)
    _save(deriv / bids_name("dseg", ".nii.gz", sub=sub, ses=ses, acq="lumbarax"), muscles,
          ax_affine, np.uint8)
    _save(deriv / bids_name("map", ".nii.gz", sub=sub, ses=ses, acq="lumbarax",
                            desc="fatfraction"), ff, ax_affine, np.uint8)


def lumbar_anatomy(spec: ParticipantSpec,
                   rng: np.random.Generator) -> tuple[list[Body], list[Disc]]:
    """Bodies L1..S1 and discs L1-L2..L5-S1 of one participant, in world mm (RAS)."""
    size = (1.04 if spec.sex == "M" else 0.96) * float(np.exp(rng.normal(0.0, 0.04)))
    lordosis = float(np.clip(rng.normal(1.0, 0.15), 0.6, 1.4))
    mechanical = spec.traits["mechanical"]
    decades = (spec.age - 50.0) / 10.0
    tilts = np.radians(np.array(TILT_DEG) * lordosis + rng.normal(0.0, 2.0, 6))
    heights, ratios = [], []
    for k, weight in enumerate(LEVEL_WEIGHT):
        heights.append(max(3.0, DISC_HEIGHT_MM[k] * size * (1.0 + MECH_HEIGHT * weight * mechanical)
                           * float(np.exp(rng.normal(0.0, 0.06)))))
        logit = (float(np.log(DISC_RATIO[k] / (RATIO_MAX - DISC_RATIO[k])))
                 + weight * (MECH_LOGIT * mechanical + AGE_LOGIT * decades)
                 + rng.normal(0.0, 0.25))
        ratios.append(RATIO_MAX * float(expit(logit))
                      * spec.site_effect.get("disc_csf_ratio_scale", 1.0))
    # stack from S1 upwards; body k = L1..S1 (index 5 = S1)
    bodies: list[Body | None] = [None] * 6
    bodies[5] = _body(np.zeros(3), tilts[5], 5, size, rng)
    for k in range(4, -1, -1):
        below = bodies[k + 1]
        axis = _axis(tilts[k])
        bisector = below.axis + axis
        bisector /= np.linalg.norm(bisector)
        floor = below.centre + 0.5 * below.height * below.axis
        roof = floor + heights[k] * bisector
        body = _body(np.zeros(3), tilts[k], k, size, rng)
        bodies[k] = Body(roof + 0.5 * body.height * axis, axis, body.anterior, body.height,
                         body.ap, body.lr)
    shift = _centring_shift(bodies)
    bodies = [Body(b.centre + shift, b.axis, b.anterior, b.height, b.ap, b.lr) for b in bodies]
    discs = [Disc(bodies[k + 1], bodies[k], heights[k], ratios[k]) for k in range(5)]
    return bodies, discs


def sagittal_images(bodies: list[Body], discs: list[Disc], spec: ParticipantSpec,
                    config: SimulateConfig, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """T2 image, label map, marrow fat-fraction map and affine of the sagittal acquisition.

    File axes: 0 superior→inferior, 1 anterior→posterior, 2 left→right (like many sagittal
    exports); the affine maps them to RAS world millimetres.
    """
    voxel = np.array(config.spine.sagittal_voxel_mm, float)
    shape = tuple(int(round(f / v)) for f, v in zip(config.spine.sagittal_fov_mm, voxel,
                                                     strict=True))
    affine = np.zeros((4, 4))
    affine[2, 0], affine[1, 1], affine[0, 2] = -voxel[0], -voxel[1], voxel[2]
    affine[:3, 3] = [-(shape[2] - 1) * voxel[2] / 2, (shape[1] - 1) * voxel[1] / 2,
                     (shape[0] - 1) * voxel[0] / 2]
    affine[3, 3] = 1.0
    labels = np.zeros(shape, np.uint8)
    signal = np.full(shape, T2_TISSUE, np.float32)
    marrow = np.full(shape, 0.12, np.float32)
    decades = (spec.age - 50.0) / 10.0
    offset = spec.site_effect.get("fat_fraction_offset", 0.0)
    size = bodies[2].lr / BODY_LR_MM[2]
    for segment in _canal(bodies, discs, size):
        _paint(labels, signal, affine, segment, DSEG["canal"], 1.0)
    for name, body in zip(VERTEBRAE, bodies, strict=True):
        box, inside = _body_region(body, affine, shape)
        fat = MARROW_FF + AGE_MARROW_FF * 10.0 * decades + offset + rng.normal(0.0, 0.03)
        _fill(labels, signal, marrow, box, inside, DSEG[name], T2_MARROW, fat)
    for name, disc in zip(DISCS, discs, strict=True):
        box, inside, nucleus = _disc_region(disc, affine, shape)
        _fill(labels, signal, marrow, box, inside, DSEG[name], T2_ANNULUS, 0.02)
        signal[box][nucleus] = disc.ratio
    gain = 1000.0 * float(np.exp(rng.normal(0.0, 0.12)))
    noise = config.spine.noise
    t2 = np.abs(signal + noise * rng.standard_normal(shape, dtype=np.float32)) * gain
    marrow = np.clip(marrow + 0.02 * rng.standard_normal(shape, dtype=np.float32), 0.0, 1.0)
    return np.rint(t2).astype(np.int16), labels, marrow, affine


def axial_images(spec: ParticipantSpec, config: SimulateConfig, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dixon fat-fraction map, muscle label map and affine of the axial acquisition.

    File axes: 0 right→left, 1 anterior→posterior, 2 inferior→superior. Muscles are ellipses
    whose size changes along the stack (multifidus and psoas larger caudally, erector spinae
    cranially).
    """
    voxel = np.array(config.spine.axial_voxel_mm, float)
    shape = tuple(int(round(f / v)) for f, v in zip(config.spine.axial_fov_mm, voxel,
                                                     strict=True))
    affine = np.diag([-voxel[0], -voxel[1], voxel[2], 1.0])
    affine[:3, 3] = [(shape[0] - 1) * voxel[0] / 2, (shape[1] - 1) * voxel[1] / 2,
                     -(shape[2] - 1) * voxel[2] / 2]
    i, j = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    x = affine[0, 0] * i + affine[0, 3]
    y = affine[1, 1] * j + affine[1, 3]
    size = (1.05 if spec.sex == "M" else 0.93) * float(np.exp(rng.normal(0.0, 0.06)))
    fat_thickness = float(np.clip(6.0 + 1.5 * (spec.bmi - 22.0), 3.0, 45.0))
    base = np.where(y < -70.0, 0.9, 0.08).astype(np.float32)
    base[y < -70.0 - fat_thickness] = 0.0  # air behind the back
    base[((x / 22.0) ** 2 + ((y - 12.0) / 17.0) ** 2) <= 1] = 0.35
    base[((x / 9.0) ** 2 + ((y + 14.0) / 8.0) ** 2) <= 1] = 0.0
    offset = spec.site_effect.get("fat_fraction_offset", 0.0)
    mechanical = spec.traits["mechanical"]
    muscle_ff = {}
    for muscle in MUSCLES:
        kind = muscle.rsplit("_", 1)[0]
        muscle_ff[muscle] = (MUSCLE_FF[kind] + MECH_FF * mechanical + AGE_FF * (spec.age - 50.0)
                             + FEMALE_FF * (spec.sex == "F") + offset + rng.normal(0.0, 0.015))
    scale = {m: size * float(np.exp(rng.normal(0.0, 0.05))) for m in MUSCLES}
    ff = np.empty(shape, np.float32)
    labels = np.zeros(shape, np.uint8)
    for k in range(shape[2]):
        f = k / max(shape[2] - 1, 1)
        plane = base.copy()
        for muscle in MUSCLES:
            side = 1.0 if muscle.endswith("_right") else -1.0  # RAS: right is +x
            cx, cy, rx, ry = _muscle_ellipse(muscle.rsplit("_", 1)[0], f)
            inside = (((x - side * cx * size) / (rx * scale[muscle])) ** 2
                      + ((y - cy * size) / (ry * scale[muscle])) ** 2) <= 1
            labels[:, :, k][inside] = DSEG[muscle]
            plane[inside] = muscle_ff[muscle]
        ff[:, :, k] = plane
    ff = np.clip(ff + 0.03 * rng.standard_normal(shape, dtype=np.float32), 0.0, 1.0)
    return ff, labels, affine


# ------------------------------------------------------------------------------------------


def _axis(tilt: float) -> np.ndarray:
    """Unit axis in the sagittal plane, ``tilt`` radians from superior towards anterior."""
    return np.array([0.0, np.sin(tilt), np.cos(tilt)])


def _body(centre: np.ndarray, tilt: float, k: int, size: float,
          rng: np.random.Generator) -> Body:
    axis = _axis(tilt)
    anterior = np.array([0.0, np.cos(tilt), -np.sin(tilt)])
    jitter = float(np.exp(rng.normal(0.0, 0.03)))
    return Body(centre, axis, anterior, BODY_HEIGHT_MM[k] * size * jitter, BODY_AP_MM[k] * size,
                BODY_LR_MM[k] * size)


def _centring_shift(bodies: list[Body]) -> np.ndarray:
    """Translation that centres the stack in S-I and puts the bodies 12 mm anterior."""
    def reach(body: Body) -> float:
        return 0.5 * body.height * abs(body.axis[2]) + body.ap * abs(body.anterior[2])

    top = bodies[0].centre[2] + reach(bodies[0])
    bottom = bodies[5].centre[2] - reach(bodies[5])
    mean_y = np.mean([b.centre[1] for b in bodies])
    return np.array([0.0, 12.0 - mean_y, -0.5 * (top + bottom)])


class _Box:
    """Voxels of a box around a centre, with cheap projections of their world coordinates."""

    def __init__(self, centre: np.ndarray, radius: float, affine: np.ndarray,
                 shape: tuple[int, ...]) -> None:
        inv = np.linalg.inv(affine)
        corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        ijk = (corners * radius + centre) @ inv[:3, :3].T + inv[:3, 3]
        lo = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, np.array(shape) - 1)
        hi = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 1, np.array(shape))
        self.slices = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        self.axes = [np.arange(a, b, dtype=np.float32) for a, b in zip(lo, hi, strict=True)]
        self.affine = affine

    def project(self, direction: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """(world - origin) · direction for every voxel of the box (separable sum)."""
        steps = self.affine[:3, :3].T @ direction
        const = float((self.affine[:3, 3] - origin) @ direction)
        i, j, k = self.axes
        return (steps[0] * i[:, None, None] + steps[1] * j[None, :, None]
                + (steps[2] * k + const)[None, None, :])


def _body_region(body: Body, affine: np.ndarray,
                 shape: tuple[int, ...]) -> tuple[tuple[slice, ...], np.ndarray]:
    """Box around a body and which of its voxels the body fills."""
    box = _Box(body.centre, 0.5 * body.height + max(body.ap, body.lr) + 2.0, affine, shape)
    inside = ((np.abs(box.project(body.axis, body.centre)) <= 0.5 * body.height)
              & ((box.project(body.anterior, body.centre) / body.ap) ** 2
                 + (box.project(_RIGHT, body.centre) / body.lr) ** 2 <= 1))
    return box.slices, inside


def _disc_region(disc: Disc, affine: np.ndarray, shape: tuple[int, ...]
                 ) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
    """Box around a disc, its voxels (between the endplates, within the footprint), nucleus."""
    centre = 0.5 * (disc.floor + disc.roof)
    axis = disc.roof - disc.floor
    axis /= np.linalg.norm(axis)
    anterior = np.cross(axis, [1.0, 0.0, 0.0])
    anterior *= np.sign(anterior[1]) / np.linalg.norm(anterior)
    ap = 0.5 * (disc.lower.ap + disc.upper.ap)
    lr = 0.5 * (disc.lower.lr + disc.upper.lr)
    box = _Box(centre, max(ap, lr) + disc.height + 2.0, affine, shape)
    above = box.project(disc.lower.axis, disc.floor)
    below = -box.project(disc.upper.axis, disc.roof)
    rho = np.sqrt((box.project(anterior, centre) / ap) ** 2
                  + (box.project(_RIGHT, centre) / lr) ** 2)
    inside = (above >= 0) & (below >= 0) & (rho <= 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        position = above / (above + below)
    nucleus = inside & (rho <= 0.65) & (np.abs(position - 0.5) <= 0.35)
    return box.slices, inside, nucleus


def _canal(bodies: list[Body], discs: list[Disc], size: float) -> list[dict[str, object]]:
    """Overlapping elliptic-cylinder pieces of the canal behind every level and beyond."""
    pieces = [(b.centre, b.axis, b.anterior, b.ap, 0.5 * b.height + 4.0) for b in bodies]
    for disc in discs:
        axis = disc.roof - disc.floor
        axis /= np.linalg.norm(axis)
        anterior = np.cross(axis, [1.0, 0.0, 0.0])
        anterior *= np.sign(anterior[1]) / np.linalg.norm(anterior)
        pieces.append((0.5 * (disc.floor + disc.roof), axis, anterior,
                       0.5 * (disc.lower.ap + disc.upper.ap), 0.5 * disc.height + 4.0))
    for end, sign in ((bodies[0], 1.0), (bodies[5], -1.0)):
        pieces.append((end.centre + sign * 40.0 * end.axis, end.axis, end.anterior, end.ap, 40.0))
    r_ap, r_lr = 7.0 * size, 11.0 * size
    return [{"centre": c - (ap + 3.0 + r_ap) * a, "axis": u, "anterior": a, "half": half,
             "r_ap": r_ap, "r_lr": r_lr} for c, u, a, ap, half in pieces]


def _paint(labels: np.ndarray, signal: np.ndarray, affine: np.ndarray, seg: dict[str, object],
           value: int, level: float) -> None:
    box = _Box(seg["centre"], seg["half"] + seg["r_lr"] + 2.0, affine, labels.shape)
    inside = ((np.abs(box.project(seg["axis"], seg["centre"])) <= seg["half"])
              & ((box.project(seg["anterior"], seg["centre"]) / seg["r_ap"]) ** 2
                 + (box.project(_RIGHT, seg["centre"]) / seg["r_lr"]) ** 2 <= 1))
    labels[box.slices][inside] = value
    signal[box.slices][inside] = level


def _fill(labels: np.ndarray, signal: np.ndarray, marrow: np.ndarray, box: tuple[slice, ...],
          inside: np.ndarray, value: int, t2: float, fat: float) -> None:
    labels[box][inside] = value
    signal[box][inside] = t2
    marrow[box][inside] = fat


def _muscle_ellipse(kind: str, f: float) -> tuple[float, float, float, float]:
    """Centre (|x|, y) and semi-axes (x, y) in mm of a muscle at stack position f (0 = caudal)."""
    if kind == "multifidus":
        return 18.0, -45.0, 13.0 - 4.0 * f, 20.0 - 5.0 * f
    if kind == "erector_spinae":
        return 54.0, -42.0, 20.0 + 3.0 * f, 19.0 + 3.0 * f
    return 40.0, 14.0, 12.0 + 6.0 * (1.0 - f), 13.0 + 5.0 * (1.0 - f)


def _save(path: Path, data: np.ndarray, affine: np.ndarray, dtype: type) -> None:
    image = nib.Nifti1Image(data, affine)
    image.set_data_dtype(dtype)
    image.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(image, tmp)
