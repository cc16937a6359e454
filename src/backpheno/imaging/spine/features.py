"""Spine feature names, their codebook rows and plausible ranges.

Names follow ``spine.<group>.<structure>.<measure>``: ``spine.disc.L4-L5.height_index``,
``spine.vertebra.L3.height_mm``, ``spine.muscle.multifidus_left.fat_fraction``,
``spine.muscle.multifidus.csa_asymmetry_pct`` and ``spine.summary.n_degenerated_discs``.
The codebook's ``valid_min`` / ``valid_max`` double as plausibility limits: a measurement outside
them is set missing with a QC reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from backpheno import __version__
from backpheno.dataset import DISCS, VERTEBRAE
from backpheno.table import codebook_row

MODALITY = "spine"
SOURCE = f"backpheno.imaging.spine {__version__}"


@dataclass(frozen=True)
class Measure:
    """Unit, description template (``{structure}``), plausible range and direction."""

    unit: str
    description: str
    valid_min: float
    valid_max: float
    direction: str


DISC_MEASURES = {
    "volume_ml": Measure("mL", "volume of the {structure} intervertebral disc label", 2.0, 40.0,
                         "higher = larger disc"),
    "mean_height_mm": Measure(
        "mm", "mean height of the {structure} disc along its own cranio-caudal axis (rays "
        "through the disc footprint, outer 20 % of the inscribed radius excluded)", 2.0, 25.0,
        "higher = taller disc (less height loss)"),
    "central_height_mm": Measure(
        "mm", "height of the {structure} disc along its own axis in the central part of its "
        "footprint (at least half the inscribed radius from the rim)", 2.0, 25.0,
        "higher = taller disc (less height loss)"),
    "height_index": Measure(
        "ratio", "disc height index of {structure}: mean disc height over the mean height of the "
        "adjacent vertebral bodies", 0.05, 1.2,
        "higher = taller disc relative to its vertebrae (less height loss)"),
    "csf_ratio": Measure(
        "ratio", "T2 signal of the {structure} nucleus (central disc) over the CSF signal in the "
        "canal at the same level; a quantitative Pfirrmann proxy", 0.02, 2.0,
        "higher = brighter, more hydrated nucleus (less degeneration)"),
    "degenerated": Measure(
        "flag", "1 if the {structure} nucleus/CSF T2 ratio is below the degeneration threshold",
        0.0, 1.0, "1 = degenerated"),
}

VERTEBRA_MEASURES = {
    "height_mm": Measure(
        "mm", "mean height of the {structure} vertebral body along its own cranio-caudal axis "
        "(outer 20 % of the inscribed radius excluded)", 10.0, 50.0, "higher = taller body"),
    "volume_ml": Measure("mL", "volume of the {structure} vertebral body", 5.0, 120.0,
                         "higher = larger body"),
    "fat_fraction": Measure(
        "fraction", "mean Dixon fat fraction F/(F+W) of the {structure} vertebral body, 2 mm "
        "from its surface", 0.0, 1.0, "higher = fattier bone marrow"),
}

MUSCLE_MEASURES = {
    "csa_mm2": Measure(
        "mm2", "cross-sectional area of {structure}, mean over the axial slices it appears in",
        20.0, 6000.0, "higher = larger muscle"),
    "fat_fraction": Measure(
        "fraction", "mean Dixon fat fraction F/(F+W) inside {structure}", 0.0, 1.0,
        "higher = more fatty infiltration"),
    "lean_csa_mm2": Measure(
        "mm2", "lean (functional) cross-sectional area of {structure}: CSA x (1 - fat fraction)",
        0.0, 6000.0, "higher = more contractile muscle"),
}

MUSCLE_PAIR_MEASURES = {
    "csa_asymmetry_pct": Measure(
        "%", "left-right asymmetry of the {structure} cross-sectional area: "
        "100 |L - R| / mean(L, R)", 0.0, 200.0, "higher = more asymmetric"),
    "fat_fraction_asymmetry": Measure(
        "fraction", "absolute left-right difference of the {structure} fat fraction", 0.0, 1.0,
        "higher = more asymmetric"),
}

SUMMARY_MEASURES = {
    "n_degenerated_discs": Measure(
        "count", "number of discs L1-L2 ... L5-S1 flagged degenerated (missing unless all five "
        "were measured)", 0.0, 5.0, "higher = more degenerated discs"),
    "lower_lumbar_csf_ratio": Measure(
        "ratio", "mean nucleus/CSF T2 ratio of the L4-L5 and L5-S1 discs", 0.02, 2.0,
        "higher = less degenerated lower lumbar discs"),
    "lower_lumbar_height_index": Measure(
        "ratio", "mean disc height index of the L4-L5 and L5-S1 discs", 0.05, 1.2,
        "higher = less disc height loss"),
    "paraspinal_fat_fraction": Measure(
        "fraction", "voxel-weighted mean fat fraction of multifidus and erector spinae, both "
        "sides", 0.0, 1.0, "higher = more fatty infiltration"),
}


def feature_name(group: str, structure: str | None, measure: str) -> str:
    """``spine.<group>.<structure>.<measure>`` (``structure`` None for summaries)."""
    return ".".join(p for p in (MODALITY, group, structure, measure) if p)


def muscle_pairs(muscles: list[str] | tuple[str, ...]) -> list[str]:
    """Muscles (without side) whose left and right are both in ``muscles``."""
    bases = [m.removesuffix("_left") for m in muscles if m.endswith("_left")]
    return [b for b in bases if f"{b}_right" in muscles]


def feature_specs(muscles: list[str] | tuple[str, ...]) -> dict[str, Measure]:
    """Every spine feature name (in table order) and its :class:`Measure`."""
    specs: dict[str, Measure] = {}
    for disc in DISCS:
        for measure, spec in DISC_MEASURES.items():
            specs[feature_name("disc", disc, measure)] = _fill(spec, disc)
    for vertebra in VERTEBRAE:
        for measure, spec in VERTEBRA_MEASURES.items():
            specs[feature_name("vertebra", vertebra, measure)] = _fill(spec, vertebra)
    for muscle in muscles:
        for measure, spec in MUSCLE_MEASURES.items():
            specs[feature_name("muscle", muscle, measure)] = _fill(spec, muscle.replace("_", " "))
    for base in muscle_pairs(muscles):
        for measure, spec in MUSCLE_PAIR_MEASURES.items():
            specs[feature_name("muscle", base, measure)] = _fill(spec, base.replace("_", " "))
    for measure, spec in SUMMARY_MEASURES.items():
        specs[feature_name("summary", None, measure)] = spec
    return specs


def codebook_rows(muscles: list[str] | tuple[str, ...], provenance: str) -> list[dict[str, object]]:
    """One :func:`backpheno.table.codebook_row` per spine feature."""
    return [
        codebook_row(name, modality=MODALITY, source=SOURCE, unit=spec.unit,
                     description=spec.description, valid_min=spec.valid_min,
                     valid_max=spec.valid_max, direction=spec.direction, provenance=provenance)
        for name, spec in feature_specs(muscles).items()
    ]


def _fill(spec: Measure, structure: str) -> Measure:
    return Measure(spec.unit, spec.description.format(structure=structure), spec.valid_min,
                   spec.valid_max, spec.direction)
