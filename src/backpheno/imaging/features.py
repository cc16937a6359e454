"""Feature names, values and codebook rows of the brain modality.

The columns a run exports depend only on the atlas and the settings, never on the data, so every
participant gets the same columns (NaN with a QC row where something could not be measured):

========================================  =========  ==========================================
name                                      role       meaning
========================================  =========  ==========================================
``brain.fc.<A>__<B>``                     feature    mean Fisher z between networks A <= B
``brain.pfc.<A>__<B>``                    feature    same, partial correlation (kind setting)
``brain.edge.<roi>__<roi>``               feature    every ROI pair (``edges: true`` only)
``brain.seed.<a>__<b>``                   feature    Fisher z between literature seed regions
``brain.alff.<Net or roi>``               feature    ALFF, % of the mean signal
``brain.falff.<Net or roi>``              feature    fractional ALFF
``brain.gmv.<Net or roi>`` / ``.total``   feature    grey-matter volume, mL
``brain.anat.tiv_proxy_ml``               covariate  intracranial volume proxy, mL
``brain.alff_xcpd.<Net or roi>``          feature    XCP-D's parcellated ALFF (``input: xcpd``)
``brain.reho.<Net or roi>``               feature    XCP-D's parcellated ReHo (``input: xcpd``)
``brain.qc.<measure>``                    covariate  motion, censoring, tSNR, coverage
========================================  =========  ==========================================

Every name is built by :func:`feature_name`; codebook rows (:func:`codebook`), the values of the
fMRIPrep path (:mod:`backpheno.imaging.brain`) and of the XCP-D path
(:mod:`backpheno.imaging.xcpd`) all call it, so the table's columns are its codebook's names.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from backpheno import __version__
from backpheno.imaging.atlas import Atlas
from backpheno.imaging.connectivity import fisher_z, network_summary, upper_triangle
from backpheno.imaging.settings import BrainSettings
from backpheno.table import codebook_row

MODALITY = "brain"
#: Bumped whenever extracted values change for the same inputs and settings.
EXTRACTOR_VERSION = "1"
SOURCE = f"backpheno.imaging.brain v{EXTRACTOR_VERSION} (backpheno {__version__})"

#: Fisher z of |r| = 1 - 1e-7 (the clip of :func:`backpheno.imaging.connectivity.fisher_z`).
_Z_MAX = 8.4

#: QC covariates: short name → (unit, description, valid_min, valid_max, direction).
QC_MEASURES: dict[str, tuple[str, str, float | None, float | None, str]] = {
    "mean_fd_mm": ("mm", "mean framewise displacement (Power), first volume excluded", 0, None,
                   "higher = more head motion"),
    "high_motion_fraction": ("fraction", "share of volumes with FD above qc.fd_limit_mm", 0, 1,
                             "higher = more head motion"),
    "n_censored": ("volumes", "volumes censored (scrubbing, non-steady-state)", 0, None,
                   "higher = fewer usable volumes"),
    "pct_censored": ("%", "censored volumes in percent of the run", 0, 100,
                     "higher = fewer usable volumes"),
    "retained_s": ("s", "retained volumes times the repetition time", 0, None,
                   "higher = more data"),
    "tsnr_median": ("ratio", "median over brain-mask voxels of temporal mean / SD of the "
                             "preprocessed BOLD", 0, None, "higher = better signal quality"),
    "roi_coverage_mean": ("fraction", "mean over ROIs of the share of ROI voxels in the mask "
                                      "with signal", 0, 1, "higher = better coverage"),
    "n_rois_low_coverage": ("ROIs", "ROIs below qc.min_roi_coverage (their signals are "
                                    "treated as missing)", 0, None, "higher = worse coverage"),
}


def feature_name(group: str, *parts: str) -> str:
    """The column of one brain measure: ``brain.<group>.<part>`` or ``brain.<group>.<a>__<b>``.

    Examples
    --------
    >>> feature_name("fc", "DefaultMode", "Salience")
    'brain.fc.DefaultMode__Salience'
    """
    return f"{MODALITY}.{group}.{'__'.join(parts)}"


def group_of(name: str) -> str:
    """The group of a column built by :func:`feature_name` (``"fc"``, ``"qc"`` ...)."""
    return name.split(".")[1]


def connectivity_groups(kind: str) -> tuple[str, str]:
    """Groups of network summaries and of ROI-pair edges for a connectivity kind."""
    return ("fc", "edge") if kind == "correlation" else ("pfc", "pedge")


def network_pairs(networks: list[str]) -> list[tuple[str, str]]:
    """Sorted pairs (A <= B) of network names, within-network pairs included."""
    names = sorted(networks)
    return [(a, b) for i, a in enumerate(names) for b in names[i:]]


def provenance_text(settings: BrainSettings, atlas: Atlas, extra: dict | None = None) -> str:
    """The provenance recorded in every codebook row (JSON, key order fixed)."""
    record = {
        "extractor": SOURCE,
        "atlas": atlas.describe(),
        "atlas_citation": atlas.citation,
        "denoise": settings.denoise.model_dump(mode="json"),
        "denoise_label": settings.denoise.label,
        "connectivity_kind": settings.connectivity.kind,
        "alff_band_hz": list(settings.amplitude.band_hz),
        "qc": settings.qc.model_dump(mode="json"),
        **(extra or {}),
    }
    return json.dumps(record, sort_keys=False, default=str)


def codebook(settings: BrainSettings, atlas: Atlas, provenance: str) -> list[dict[str, object]]:
    """Codebook rows of every column the settings produce (see the module table)."""
    rows: list[dict[str, object]] = []
    exclude = tuple(settings.atlas.exclude_networks)
    networks = atlas.network_names(exclude)
    conn = settings.connectivity
    group, edge_group = connectivity_groups(conn.kind)
    label = "Pearson correlation" if conn.kind == "correlation" else "partial correlation"

    def add(name: str, unit: str, description: str, lo=None, hi=None, direction: str = "",
            role: str = "feature") -> None:
        rows.append(codebook_row(name, modality=MODALITY, source=SOURCE, unit=unit,
                                 description=description, valid_min=lo, valid_max=hi,
                                 direction=direction, provenance=provenance, role=role))

    if conn.network_summaries:
        for a, b in network_pairs(networks):
            what = (f"within {a}" if a == b else f"between {a} and {b}")
            add(feature_name(group, a, b), "Fisher z",
                f"mean Fisher z-transformed {label} of resting-state parcel signals {what} "
                f"({atlas.name})", -_Z_MAX, _Z_MAX,
                f"higher = stronger positive coupling {what}")
    if conn.edges:
        names = atlas.names
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                add(feature_name(edge_group, a, b), "Fisher z",
                    f"Fisher z {label} between ROIs {a} and {b} ({atlas.name})", -_Z_MAX, _Z_MAX,
                    "higher = stronger positive coupling")
    seeds = {s.name: s for s in conn.seeds}
    for pair in conn.seed_pairs:
        add(feature_name("seed", pair.a, pair.b), "Fisher z",
            f"Fisher z Pearson correlation between seed {pair.a} ({seeds[pair.a].description}) "
            f"and seed {pair.b} ({seeds[pair.b].description}); rationale: {pair.citation}; "
            f"coordinates: {seeds[pair.a].source} / {seeds[pair.b].source}", -_Z_MAX, _Z_MAX,
            "higher = stronger positive coupling")
    amp = settings.amplitude
    if amp.enabled:
        units = atlas.names if amp.level == "roi" else networks
        for unit_name in units:
            level = "ROI" if amp.level == "roi" else "mean over the ROIs of network"
            add(feature_name("alff", unit_name), "% of mean signal",
                f"ALFF {amp.band_hz[0]}-{amp.band_hz[1]} Hz of confound-regressed parcel signals "
                f"in percent of their mean ({level} {unit_name})", 0, None,
                "higher = larger low-frequency fluctuations")
            add(feature_name("falff", unit_name), "fraction",
                f"fractional ALFF: amplitude in {amp.band_hz[0]}-{amp.band_hz[1]} Hz over the "
                f"whole spectrum ({level} {unit_name})", 0, 1,
                "higher = more low-frequency dominated")
    struct = settings.structural
    if struct.enabled:
        units = atlas.names if struct.level == "roi" else networks
        for unit_name in units:
            add(feature_name("gmv", unit_name), "mL",
                f"grey-matter volume (sum of GM probability x voxel volume) of "
                f"{'ROI' if struct.level == 'roi' else 'the ROIs of network'} {unit_name}; "
                "template-space, unmodulated when the map is in MNI space", 0, None,
                "higher = more grey matter")
        add(feature_name("gmv", "total"), "mL",
            "total grey-matter volume (whole GM probability map)", 0, None,
            "higher = more grey matter")
        add(feature_name("anat", "tiv_proxy_ml"), "mL",
            "total intracranial volume proxy (GM+WM+CSF probability maps, else brain-mask "
            "volume)", 0, None, "higher = larger head", role="covariate")
    if settings.input == "xcpd" and amp.enabled:
        units = atlas.names if amp.level == "roi" else networks
        level = "ROI" if amp.level == "roi" else "mean over the ROIs of network"
        for unit_name in units:
            add(feature_name("alff_xcpd", unit_name), "XCP-D ALFF units",
                f"ALFF as written by XCP-D (stat-alff_bold.tsv: amplitude of the denoised BOLD "
                f"in XCP-D's band, in the units of its output) ({level} {unit_name})", 0, None,
                "higher = larger low-frequency fluctuations")
            add(feature_name("reho", unit_name), "Kendall's W",
                f"regional homogeneity as written by XCP-D (stat-reho_bold.tsv: Kendall's "
                f"coefficient of concordance of neighbouring voxels or vertices) ({level} "
                f"{unit_name})", 0, 1, "higher = more locally synchronous signal")
    for key, (unit, description, lo, hi, direction) in QC_MEASURES.items():
        add(feature_name("qc", key), unit, description, lo, hi, direction, role="covariate")
    return rows


def connectivity_values(r: np.ndarray, atlas: Atlas, settings: BrainSettings) -> dict:
    """Network summaries and (if configured) edges of an ROI x ROI correlation matrix, Fisher z."""
    conn = settings.connectivity
    group, edge_group = connectivity_groups(conn.kind)
    z = fisher_z(r)
    values = {}
    if conn.network_summaries:
        summary = network_summary(z, atlas.regions["network"].tolist(),
                                  tuple(settings.atlas.exclude_networks))
        values.update({feature_name(group, k): v for k, v in summary.items()})
    if conn.edges:
        values.update({feature_name(edge_group, k): v
                       for k, v in upper_triangle(z, atlas.names).items()})
    return values


def parcel_units(table: pd.DataFrame, atlas: Atlas, level: str,
                 settings: BrainSettings) -> pd.DataFrame:
    """Per-ROI rows as they are (``level="roi"``) or averaged per network (``"network"``)."""
    if level == "roi":
        return table
    nets = atlas.regions.set_index("name")["network"]
    units = table.groupby(nets.reindex(table.index).to_numpy()).mean()
    return units.reindex(atlas.network_names(tuple(settings.atlas.exclude_networks)))


def empty_features(rows: list[dict[str, object]]) -> dict[str, float]:
    """Every codebook column set to NaN."""
    return {str(row["name"]): np.nan for row in rows}


def feature_roles(rows: list[dict[str, object]]) -> pd.Series:
    """Role of every column, indexed by name."""
    return pd.Series({str(r["name"]): str(r["role"]) for r in rows})
