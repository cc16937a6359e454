"""FreeSurfer statistics as features: ``aseg.stats`` and ``?h.<atlas>.stats`` of one subject.

Where the files are
    A FreeSurfer subject folder ``<SUBJECTS_DIR>/<subject>/stats/``. ``SUBJECTS_DIR`` is the
    ``subjects_dir`` setting, by default the first that exists of
    ``derivatives/fmriprep/sourcedata/freesurfer`` (fMRIPrep >= 21) and
    ``derivatives/freesurfer`` (fMRIPrep 20 and earlier). Files read: ``aseg.stats`` and
    ``lh.<atlas>.stats`` / ``rh.<atlas>.stats`` for every configured atlas (``aparc``,
    ``aparc.a2009s``, ``aparc.DKTatlas``, ``aparc.pial``, ``BA_exvivo`` ...).

Sessions
    FreeSurfer subjects are usually one per participant (fMRIPrep runs ``recon-all`` once on all
    of a participant's T1w images), so by default (``subject: "{participant}"``) the values go to
    the one session row named by ``session`` (``ses-V0``). A subject template that contains
    ``{session}`` (cross-sectional per session, ``{participant}_{session}``, or the longitudinal
    stream's ``{participant}_{session}.long.{participant}``) gives every session its own row.

Feature names (``<modality>.<group>.<feature>``, modality ``brain``)
    ``brain.aseg.<StructName>.volume_mm3``
        Volume of an ``aseg.stats`` structure (``brain.aseg.Left-Hippocampus.volume_mm3``).
    ``brain.aseg.<measure>``
        A whole-brain ``# Measure`` line of ``aseg.stats`` by its short name (``brain.aseg.eTIV``,
        ``brain.aseg.BrainSegVol``, ``brain.aseg.SurfaceHoles``). eTIV and the surface-hole
        counts (reconstruction quality) have role ``covariate``.
    ``brain.<atlas>.<hemi>_<region>.<measure>``
        One region of a cortical parcellation; the atlas with dots as underscores
        (``brain.aparc.lh_superiorfrontal.thickness_mm``,
        ``brain.aparc_a2009s.rh_G_and_S_cingul-Ant.area_mm2``). FreeSurfer 6 writes ``&`` in
        Destrieux names where FreeSurfer 7 and the colour table write ``_and_``; names use
        ``_and_`` so both versions give the same column.
    ``brain.cortex.<hemi>_mean_thickness_mm``, ``brain.cortex.<hemi>_area_mm2``
        Hemisphere mean thickness and total white-surface area (pial for ``aparc.pial``): the
        ``# Measure Cortex`` lines of the first configured atlas (they differ slightly between
        atlases: each file measures within its own annotation).

Values are the files' numbers, unchanged (mm3, mm2, mm). Every feature of a known atlas or of
``aseg.stats`` is returned for every subject; a missing file or a region absent from its file
gives NaN and a ``missing`` QC row naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from backpheno import __version__
from backpheno.config import InputPath, StrictModel
from backpheno.dataset import Dataset, check_session_id
from backpheno.errors import InputError
from backpheno.extractors import ExtractionResult
from backpheno.imaging.structural import FreeSurferStats, read_aparc_stats, read_aseg_stats
from backpheno.table import codebook_row, qc_row

#: Modality of the features in the codebook (they are brain features).
MODALITY = "brain"
#: Name of the extractor in the extract config, the QC table and the cache.
EXTRACTOR_NAME = "freesurfer"
SOURCE = f"FreeSurfer stats files read by backpheno {__version__}"
#: Hemisphere prefixes of the surface stats files and their names.
HEMISPHERES = {"lh": "left", "rh": "right"}

#: Cortical measures: setting name -> (stats column, feature suffix, unit, description, max).
CORTICAL_MEASURES = {
    "thickness": ("ThickAvg", "thickness_mm", "mm", "mean cortical thickness", 5.0),
    "thickness_sd": ("ThickStd", "thickness_sd_mm", "mm", "standard deviation of cortical "
                     "thickness", 5.0),
    "area": ("SurfArea", "area_mm2", "mm2", "white-surface area (pial area in aparc.pial)",
             None),
    "volume": ("GrayVol", "volume_mm3", "mm3", "grey-matter volume", None),
    "mean_curvature": ("MeanCurv", "mean_curvature", "1/mm", "integrated rectified mean "
                       "curvature", None),
    "gaussian_curvature": ("GausCurv", "gaussian_curvature", "1/mm2", "integrated rectified "
                           "Gaussian curvature", None),
    "folding_index": ("FoldInd", "folding_index", "unitless", "folding index", None),
    "curvature_index": ("CurvInd", "curvature_index", "unitless", "intrinsic curvature index",
                        None),
    "n_vertices": ("NumVert", "n_vertices", "count", "number of surface vertices", None),
}
CorticalMeasure = Literal["thickness", "thickness_sd", "area", "volume", "mean_curvature",
                          "gaussian_curvature", "folding_index", "curvature_index", "n_vertices"]

#: Structures of ``aseg.stats`` (FreeSurfer 6 and 7, ASegStatsLUT).
ASEG_STRUCTURES = tuple("""
Left-Lateral-Ventricle Left-Inf-Lat-Vent Left-Cerebellum-White-Matter Left-Cerebellum-Cortex
Left-Thalamus Left-Caudate Left-Putamen Left-Pallidum 3rd-Ventricle 4th-Ventricle Brain-Stem
Left-Hippocampus Left-Amygdala CSF Left-Accumbens-area Left-VentralDC Left-vessel
Left-choroid-plexus Right-Lateral-Ventricle Right-Inf-Lat-Vent Right-Cerebellum-White-Matter
Right-Cerebellum-Cortex Right-Thalamus Right-Caudate Right-Putamen Right-Pallidum
Right-Hippocampus Right-Amygdala Right-Accumbens-area Right-VentralDC Right-vessel
Right-choroid-plexus 5th-Ventricle WM-hypointensities Left-WM-hypointensities
Right-WM-hypointensities non-WM-hypointensities Left-non-WM-hypointensities
Right-non-WM-hypointensities Optic-Chiasm CC_Posterior CC_Mid_Posterior CC_Central
CC_Mid_Anterior CC_Anterior
""".split())

#: Whole-brain measures of FreeSurfer 7's ``aseg.stats``: short name -> (unit, description).
ASEG_MEASURES = {
    "BrainSegVol": ("mm3", "brain segmentation volume"),
    "BrainSegVolNotVent": ("mm3", "brain segmentation volume without ventricles"),
    "VentricleChoroidVol": ("mm3", "volume of the ventricles and choroid plexus"),
    "lhCortexVol": ("mm3", "left hemisphere cortical grey-matter volume"),
    "rhCortexVol": ("mm3", "right hemisphere cortical grey-matter volume"),
    "CortexVol": ("mm3", "total cortical grey-matter volume"),
    "lhCerebralWhiteMatterVol": ("mm3", "left hemisphere cerebral white-matter volume"),
    "rhCerebralWhiteMatterVol": ("mm3", "right hemisphere cerebral white-matter volume"),
    "CerebralWhiteMatterVol": ("mm3", "total cerebral white-matter volume"),
    "SubCortGrayVol": ("mm3", "subcortical grey-matter volume"),
    "TotalGrayVol": ("mm3", "total grey-matter volume"),
    "SupraTentorialVol": ("mm3", "supratentorial volume"),
    "SupraTentorialVolNotVent": ("mm3", "supratentorial volume without ventricles"),
    "MaskVol": ("mm3", "brain mask volume"),
    "BrainSegVol-to-eTIV": ("ratio", "brain segmentation volume / eTIV"),
    "MaskVol-to-eTIV": ("ratio", "brain mask volume / eTIV"),
    "lhSurfaceHoles": ("count", "defect holes in the left hemisphere surfaces before fixing"),
    "rhSurfaceHoles": ("count", "defect holes in the right hemisphere surfaces before fixing"),
    "SurfaceHoles": ("count", "defect holes in the surfaces before fixing (quality: more "
                              "holes, worse reconstruction)"),
    "eTIV": ("mm3", "estimated total intracranial volume (atlas scaling factor); adjust "
                    "volumes for head size with it"),
}
#: Measures exported with role ``covariate`` (head size and reconstruction quality).
COVARIATE_MEASURES = frozenset({"eTIV", "ICV", "SurfaceHoles", "lhSurfaceHoles",
                                "rhSurfaceHoles"})

#: Regions of the cortical parcellations FreeSurfer ships, per atlas.
_DK = """
bankssts caudalanteriorcingulate caudalmiddlefrontal cuneus entorhinal fusiform inferiorparietal
inferiortemporal isthmuscingulate lateraloccipital lateralorbitofrontal lingual
medialorbitofrontal middletemporal parahippocampal paracentral parsopercularis parsorbitalis
parstriangularis pericalcarine postcentral posteriorcingulate precentral precuneus
rostralanteriorcingulate rostralmiddlefrontal superiorfrontal superiorparietal superiortemporal
supramarginal frontalpole temporalpole transversetemporal insula
""".split()
_DKT_ABSENT = {"bankssts", "frontalpole", "temporalpole"}
_DESTRIEUX = """
G_and_S_frontomargin G_and_S_occipital_inf G_and_S_paracentral G_and_S_subcentral
G_and_S_transv_frontopol G_and_S_cingul-Ant G_and_S_cingul-Mid-Ant G_and_S_cingul-Mid-Post
G_cingul-Post-dorsal G_cingul-Post-ventral G_cuneus G_front_inf-Opercular G_front_inf-Orbital
G_front_inf-Triangul G_front_middle G_front_sup G_Ins_lg_and_S_cent_ins G_insular_short
G_occipital_middle G_occipital_sup G_oc-temp_lat-fusifor G_oc-temp_med-Lingual
G_oc-temp_med-Parahip G_orbital G_pariet_inf-Angular G_pariet_inf-Supramar G_parietal_sup
G_postcentral G_precentral G_precuneus G_rectus G_subcallosal G_temp_sup-G_T_transv
G_temp_sup-Lateral G_temp_sup-Plan_polar G_temp_sup-Plan_tempo G_temporal_inf
G_temporal_middle Lat_Fis-ant-Horizont Lat_Fis-ant-Vertical Lat_Fis-post Pole_occipital
Pole_temporal S_calcarine S_central S_cingul-Marginalis S_circular_insula_ant
S_circular_insula_inf S_circular_insula_sup S_collat_transv_ant S_collat_transv_post S_front_inf
S_front_middle S_front_sup S_interm_prim-Jensen S_intrapariet_and_P_trans
S_oc_middle_and_Lunatus S_oc_sup_and_transversal S_occipital_ant S_oc-temp_lat
S_oc-temp_med_and_Lingual S_orbital_lateral S_orbital_med-olfact S_orbital-H_Shaped
S_parieto_occipital S_pericallosal S_postcentral S_precentral-inf-part S_precentral-sup-part
S_suborbital S_subparietal S_temporal_inf S_temporal_sup S_temporal_transverse
""".split()
ATLAS_REGIONS: dict[str, tuple[str, ...]] = {
    "aparc": tuple(_DK),
    "aparc.pial": tuple(_DK),
    "aparc.DKTatlas": tuple(r for r in _DK if r not in _DKT_ABSENT),
    "aparc.a2009s": tuple(_DESTRIEUX),
}

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class FreeSurferSettings(StrictModel):
    """Which FreeSurfer statistics become features (the ``freesurfer:`` extract section)."""

    subjects_dir: InputPath | None = Field(
        None, description="FreeSurfer SUBJECTS_DIR; default derivatives/fmriprep/sourcedata/"
        "freesurfer, else derivatives/freesurfer")
    subject: str = Field(
        "{participant}", description="subject folder name; {participant} is sub-XXX, "
        "{session} ses-YY (a template with {session} gives one subject per session)")
    session: str = Field("ses-V0", description="session row of a per-participant subject")
    aseg: bool = Field(True, description="aseg.stats structure volumes and whole-brain "
                                         "measures (eTIV as a covariate)")
    atlases: list[str] = Field(default_factory=lambda: ["aparc"],
                               description="cortical parcellations: ?h.<atlas>.stats")
    measures: list[CorticalMeasure] = Field(
        default_factory=lambda: ["thickness", "area", "volume"], min_length=1,
        description="per-region cortical measures")

    @field_validator("subject")
    @classmethod
    def _template(cls, value: str) -> str:
        unknown = set(re.findall(r"{([^}]*)}", value)) - {"participant", "session"}
        if unknown or "{participant}" not in value:
            raise ValueError(f"subject template {value!r} must contain {{participant}} and may "
                             "contain {session}; nothing else in braces")
        return value

    @field_validator("session")
    @classmethod
    def _session(cls, value: str) -> str:
        try:
            return check_session_id(value)
        except InputError as err:
            raise ValueError(err.reason) from None

    @field_validator("atlases")
    @classmethod
    def _atlas_names(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if not _NAME_RE.match(a) or a == "aseg"]
        if bad:
            raise ValueError(f"atlas names {bad} are not parcellation names (?h.<atlas>.stats)")
        if len(set(value)) != len(value):
            raise ValueError("atlases are listed twice")
        return value

    @model_validator(mode="after")
    def _something_to_read(self) -> FreeSurferSettings:
        if not self.aseg and not self.atlases:
            raise ValueError("nothing to read: set aseg: true or list atlases")
        return self

    @property
    def per_session(self) -> bool:
        """Whether every session has its own FreeSurfer subject."""
        return "{session}" in self.subject


def subjects_dir(dataset: Dataset, settings: FreeSurferSettings) -> Path:
    """The configured ``SUBJECTS_DIR`` or fMRIPrep's default location."""
    if settings.subjects_dir is not None:
        return Path(settings.subjects_dir)
    candidates = [dataset.derivatives_dir("fmriprep") / "sourcedata" / "freesurfer",
                  dataset.derivatives_dir("freesurfer")]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def stats_paths(subject_dir: str | Path, settings: FreeSurferSettings) -> dict[str, Path]:
    """Stats files of one subject, keyed ``aseg`` and ``<hemi>.<atlas>``."""
    stats = Path(subject_dir) / "stats"
    paths = {"aseg": stats / "aseg.stats"} if settings.aseg else {}
    for atlas in settings.atlases:
        for hemi in HEMISPHERES:
            paths[f"{hemi}.{atlas}"] = stats / f"{hemi}.{atlas}.stats"
    return paths


def feature_group(atlas: str) -> str:
    """Group name of an atlas in feature names (dots as underscores)."""
    return atlas.replace(".", "_")


def region_name(name: str) -> str:
    """A region's name as used in features: FreeSurfer 6's ``&`` written ``_and_``."""
    return name.replace("&", "_and_")


def freesurfer_features(paths: dict[str, Path], settings: FreeSurferSettings | None = None,
                        ) -> tuple[pd.Series, pd.DataFrame, list[dict[str, object]]]:
    """Features of one FreeSurfer subject from its stats files.

    Parameters
    ----------
    paths : dict
        ``aseg`` and ``<hemi>.<atlas>`` → stats file (see :func:`stats_paths`); a file that does
        not exist gives NaN features and a ``missing`` QC row.
    settings : FreeSurferSettings, optional

    Returns
    -------
    features : Series
        Feature name → value, the files' numbers unchanged (mm3, mm2, mm).
    qc : DataFrame
        ``item`` (file key, or ``<file key>.<region>``), ``status``, ``reason``.
    codebook : list of dict
        One codebook row per feature.

    Raises
    ------
    InputError
        If a file exists but is not a readable stats table.
    """
    settings = settings or FreeSurferSettings()
    values: dict[str, float] = {}
    codebook: list[dict[str, object]] = []
    qc: list[dict[str, object]] = []
    if settings.aseg:
        stats = _read(paths.get("aseg"), read_aseg_stats, "aseg", qc)
        _aseg_features(stats, values, codebook, qc)
    for atlas in settings.atlases:
        for hemi in HEMISPHERES:
            key = f"{hemi}.{atlas}"
            stats = _read(paths.get(key), read_aparc_stats, key, qc)
            _aparc_features(stats, atlas, hemi, settings.measures, values, codebook, qc)
            if atlas == settings.atlases[0]:
                _cortex_features(stats, atlas, hemi, values, codebook)
    return (pd.Series(values, dtype=float), pd.DataFrame(qc, columns=["item", "status", "reason"]),
            codebook)


def _cortex_features(stats: FreeSurferStats | None, atlas: str, hemi: str, values: dict,
                     codebook: list) -> None:
    """Hemisphere mean thickness and total surface area from ``# Measure Cortex`` lines."""
    for shorts, suffix, unit, what in (
            (("MeanThickness",), "mean_thickness_mm", "mm", "mean cortical thickness"),
            (("WhiteSurfArea", "PialSurfArea"), "area_mm2", "mm2", "total surface area (white; "
             "pial for aparc.pial)")):
        hit = pd.Series(dtype=float) if stats is None else stats.measures.loc[
            stats.measures["short_name"].isin(shorts), "value"]
        name = f"{MODALITY}.cortex.{hemi}_{suffix}"
        values[name] = float(hit.iloc[0]) if len(hit) else np.nan
        codebook.append(_row(name, unit, f"{HEMISPHERES[hemi]} hemisphere {what} (# Measure "
                             f"Cortex of {hemi}.{atlas}.stats, the first configured atlas)", 0.0,
                             5.0 if unit == "mm" else None, "mris_anatomical_stats"))


def _read(path: Path | None, reader, key: str, qc: list) -> FreeSurferStats | None:
    if path is None or not Path(path).is_file():
        qc.append({"item": key, "status": "missing",
                   "reason": f"file not found: {path}; features NaN"})
        return None
    stats = reader(path)
    version = stats.header.get("cvs_version", "unknown version")
    qc.append({"item": key, "status": "ok", "reason": f"read {Path(path).name} "
               f"({stats.header.get('generating_program', 'FreeSurfer')} {version})"})
    return stats


def _aseg_features(stats: FreeSurferStats | None, values: dict, codebook: list,
                   qc: list) -> None:
    table = pd.Series(dtype=float)
    if stats is not None:
        table = pd.Series(stats.table["Volume_mm3"].to_numpy(float),
                          index=stats.table["StructName"].astype(str).tolist())
    for name in dict.fromkeys([*ASEG_STRUCTURES, *table.index]):
        feature = f"{MODALITY}.aseg.{name}.volume_mm3"
        values[feature] = float(table.get(name, np.nan))
        codebook.append(_row(feature, "mm3", f"volume of {name} (aseg.stats Volume_mm3, "
                             "partial-volume corrected)", 0.0, None, "mri_segstats"))
        if stats is not None and name not in table.index:
            qc.append({"item": f"aseg.{name}", "status": "missing",
                       "reason": f"structure {name} not in aseg.stats; feature NaN"})
    measures = pd.Series(dtype=float)
    units: dict[str, str] = {}
    if stats is not None:
        measures = pd.Series(stats.measures["value"].to_numpy(float),
                             index=stats.measures["short_name"].tolist())
        measures = measures[~measures.index.duplicated()]
        units = dict(zip(stats.measures["short_name"], stats.measures["unit"], strict=True))
    for short in dict.fromkeys([*ASEG_MEASURES, *measures.index]):
        feature = f"{MODALITY}.aseg.{short}"
        values[feature] = float(measures.get(short, np.nan))
        unit, what = ASEG_MEASURES.get(short, (_unit(units.get(short, "")),
                                               f"aseg.stats measure {short}"))
        role = "covariate" if short in COVARIATE_MEASURES else "feature"
        codebook.append(_row(feature, unit, f"{what} (aseg.stats # Measure {short})",
                             0.0, None, "mri_segstats", role=role))
        if stats is not None and short not in measures.index:
            qc.append({"item": f"aseg.{short}", "status": "missing",
                       "reason": f"measure {short} not in aseg.stats; feature NaN"})


def _aparc_features(stats: FreeSurferStats | None, atlas: str, hemi: str, measures: list[str],
                    values: dict, codebook: list, qc: list) -> None:
    table = pd.DataFrame()
    if stats is not None:
        table = stats.table.assign(StructName=stats.table["StructName"].astype(str)
                                   .map(region_name)).drop_duplicates("StructName")
        table = table.set_index("StructName")
    expected = ATLAS_REGIONS.get(atlas, ())
    group = feature_group(atlas)
    for region in dict.fromkeys([*expected, *table.index]):
        present = region in table.index
        for measure in measures:
            column, suffix, unit, what, high = CORTICAL_MEASURES[measure]
            feature = f"{MODALITY}.{group}.{hemi}_{region}.{suffix}"
            values[feature] = float(table.at[region, column]) if present else np.nan
            codebook.append(_row(feature, unit, f"{what} of {HEMISPHERES[hemi]} {region} "
                                 f"({hemi}.{atlas}.stats {column})", 0.0, high,
                                 "mris_anatomical_stats"))
        if stats is not None and not present:
            qc.append({"item": f"{hemi}.{atlas}.{region}", "status": "missing",
                       "reason": f"region {region} not in {hemi}.{atlas}.stats; features NaN"})


def _unit(text: str) -> str:
    return {"mm^3": "mm3", "mm^2": "mm2", "unitless": "unitless"}.get(text, text or "unknown")


def _row(name: str, unit: str, description: str, low: float | None, high: float | None,
         program: str, role: str = "feature") -> dict[str, object]:
    direction = "" if unit in ("count", "ratio", "unitless") else "higher = larger"
    return codebook_row(name, modality=MODALITY, source=SOURCE, unit=unit,
                        description=description, valid_min=low, valid_max=high,
                        direction=direction, provenance=f"FreeSurfer {program}", role=role)


class FreeSurferExtractor:
    """FreeSurfer statistics of one participant × session for the cohort runner."""

    modality = EXTRACTOR_NAME
    settings_model = FreeSurferSettings

    def find_inputs(self, dataset: Dataset, participant_id: str, session_id: str,
                    settings: FreeSurferSettings) -> dict[str, Path] | None:
        """The subject's stats files (some may not exist), or None when it has no subject.

        Raises
        ------
        InputError
            When the subject folder exists but holds none of the configured stats files
            (``recon-all`` did not finish).
        """
        if not settings.per_session and session_id != settings.session:
            return None
        name = settings.subject.format(participant=participant_id, session=session_id)
        folder = subjects_dir(dataset, settings) / name
        if not folder.is_dir():
            return None
        paths = stats_paths(folder, settings)
        if not any(p.is_file() for p in paths.values()):
            raise InputError(f"FreeSurfer subject {name} has none of "
                             f"{sorted(p.name for p in paths.values())} (recon-all not "
                             "finished?)", participant=participant_id, session=session_id,
                             file=folder / "stats")
        return paths

    def extract(self, inputs: dict[str, Path], settings: FreeSurferSettings,
                participant_id: str, session_id: str) -> ExtractionResult:
        """Features, codebook and QC of one subject from the files of :meth:`find_inputs`."""
        try:
            features, qc, codebook = freesurfer_features(inputs, settings)
        except InputError as err:
            raise InputError(err.reason, participant=participant_id, session=session_id,
                             file=err.file, column=err.column) from None
        rows = [qc_row(participant_id, session_id, modality=EXTRACTOR_NAME, **row)
                for row in qc.to_dict(orient="records")]
        return ExtractionResult(features.to_dict(), codebook, rows)


#: The extractor object the cohort runner uses.
EXTRACTOR = FreeSurferExtractor()
