"""The spine extractor for the cohort runner, and a one-call function for notebooks.

Inputs of one participant × session (the dataset layout of README.md)::

    sub-XXX/ses-YY/anat/sub-XXX_ses-YY_acq-lumbarsag_T2w.nii.gz
    derivatives/spineseg/dseg.tsv
    derivatives/spineseg/sub-XXX/ses-YY/anat/
        sub-XXX_ses-YY_acq-lumbarsag_dseg.nii.gz                   (vertebrae, discs, canal)
        sub-XXX_ses-YY_acq-lumbarsag_desc-fatfraction_map.nii.gz   (optional: body fat)
        sub-XXX_ses-YY_acq-lumbarax_dseg.nii.gz                    (paraspinal muscles)
        sub-XXX_ses-YY_acq-lumbarax_desc-fatfraction_map.nii.gz    (Dixon F/(F+W))

The sagittal pair (T2w + label map) and the axial label map are each optional, but a fat-fraction
map without its label map, or a T2w image without its label map (or the reverse), is an input
error. Every feature of :func:`~backpheno.imaging.spine.features.feature_specs` is returned for
every session; what could not be measured is NaN with a QC row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.dataset import DISCS, VERTEBRAE, Dataset, bids_name
from backpheno.errors import InputError
from backpheno.extractors import ExtractionResult
from backpheno.imaging.spine.features import (
    DISC_MEASURES,
    MODALITY,
    MUSCLE_MEASURES,
    VERTEBRA_MEASURES,
    codebook_rows,
    feature_name,
    feature_specs,
    muscle_pairs,
)
from backpheno.imaging.spine.images import Image
from backpheno.imaging.spine.muscles import MuscleResult, measure_muscles
from backpheno.imaging.spine.sagittal import SagittalResult, measure_sagittal
from backpheno.imaging.spine.settings import SpineSettings
from backpheno.table import qc_row

#: The segmentation derivative's pipeline folder.
PIPELINE = "spineseg"


def input_paths(dataset: Dataset, participant_id: str, session_id: str) -> dict[str, Path]:
    """Where the contract puts each spine input of one participant × session."""
    sub, ses = participant_id, session_id
    deriv = dataset.derivatives_dir(PIPELINE) / sub / ses / "anat"
    return {
        "t2w": dataset.subject_dir(sub, ses) / "anat" / bids_name("T2w", ".nii.gz", sub=sub,
                                                                  ses=ses, acq="lumbarsag"),
        "sagittal_dseg": deriv / bids_name("dseg", ".nii.gz", sub=sub, ses=ses, acq="lumbarsag"),
        "sagittal_fatfraction": deriv / bids_name("map", ".nii.gz", sub=sub, ses=ses,
                                                  acq="lumbarsag", desc="fatfraction"),
        "axial_dseg": deriv / bids_name("dseg", ".nii.gz", sub=sub, ses=ses, acq="lumbarax"),
        "axial_fatfraction": deriv / bids_name("map", ".nii.gz", sub=sub, ses=ses,
                                               acq="lumbarax", desc="fatfraction"),
        "dseg_tsv": dataset.derivatives_dir(PIPELINE) / "dseg.tsv",
    }


class SpineExtractor:
    """Disc, vertebral body and paraspinal muscle features of one participant × session."""

    modality = MODALITY
    settings_model = SpineSettings

    def find_inputs(self, dataset: Dataset, participant_id: str, session_id: str,
                    settings: SpineSettings) -> dict[str, Path] | None:
        """The session's spine files, or None when it has no spine data.

        Raises
        ------
        InputError
            When a file's partner is missing (T2w without label map or the reverse, a
            fat-fraction map without its label map), or the dataset's dseg.tsv is missing
            while a scheme is ``"dseg"``.
        """
        paths = input_paths(dataset, participant_id, session_id)
        found = {k: p for k, p in paths.items() if k != "dseg_tsv" and p.is_file()}
        if not found:
            return None
        problems = [
            (paths[b], f"{a} exists but its partner {b} is missing")
            for a, b in (("t2w", "sagittal_dseg"), ("sagittal_dseg", "t2w"),
                         ("sagittal_fatfraction", "sagittal_dseg"),
                         ("axial_fatfraction", "axial_dseg"))
            if a in found and b not in found
        ]
        if problems:
            path, reason = problems[0]
            raise InputError(reason, participant=participant_id, session=session_id, file=path)
        uses_dseg = (("sagittal_dseg" in found and settings.sagittal_scheme == "dseg")
                     or ("axial_dseg" in found and settings.axial_scheme == "dseg"))
        if uses_dseg:
            if not paths["dseg_tsv"].is_file():
                raise InputError("label scheme 'dseg' needs the lookup table",
                                 file=paths["dseg_tsv"], participant=participant_id,
                                 session=session_id)
            found["dseg_tsv"] = paths["dseg_tsv"]
        return found

    def extract(self, inputs: dict[str, Path], settings: SpineSettings, participant_id: str,
                session_id: str) -> ExtractionResult:
        """Features, codebook and QC of one session from the files of :meth:`find_inputs`."""
        try:
            features, qc, provenance = spine_features(
                t2w=inputs.get("t2w"), sagittal_dseg=inputs.get("sagittal_dseg"),
                sagittal_fatfraction=inputs.get("sagittal_fatfraction"),
                axial_dseg=inputs.get("axial_dseg"),
                axial_fatfraction=inputs.get("axial_fatfraction"),
                settings=settings, dseg_tsv=inputs.get("dseg_tsv"),
            )
        except InputError as err:
            raise InputError(err.reason, participant=participant_id, session=session_id,
                             file=err.file, column=err.column) from None
        qc_rows = [qc_row(participant_id, session_id, modality=MODALITY, **row)
                   for row in qc.to_dict(orient="records")]
        return ExtractionResult(features.to_dict(), codebook_rows(settings.muscles, provenance),
                                qc_rows)


#: The extractor object the cohort runner uses.
EXTRACTOR = SpineExtractor()


def spine_features(t2w: Image | None = None, sagittal_dseg: Image | None = None,
                   axial_dseg: Image | None = None, axial_fatfraction: Image | None = None,
                   sagittal_fatfraction: Image | None = None,
                   settings: SpineSettings | None = None,
                   dseg_tsv: str | Path | None = None) -> tuple[pd.Series, pd.DataFrame, str]:
    """Every spine feature of one session from its images, in one call.

    Parameters
    ----------
    t2w, sagittal_dseg : image, optional
        Sagittal T2-weighted image and its label map.
    axial_dseg, axial_fatfraction : image, optional
        Axial muscle label map and Dixon fat-fraction map.
    sagittal_fatfraction : image, optional
        Sagittal fat-fraction map (vertebral body fat).
    settings : SpineSettings, optional
    dseg_tsv : str or Path, optional
        Lookup table when a scheme is ``"dseg"``.

    Returns
    -------
    features : Series
        Feature name → value (NaN when not measured), in codebook order.
    qc : DataFrame
        item (structure or ``sagittal`` / ``axial``), status (ok / missing / flagged), reason.
    provenance : str
        Label schemes and thresholds used, for the codebook.
    """
    settings = settings or SpineSettings()
    names = feature_specs(settings.muscles)
    features = pd.Series(np.nan, index=list(names), dtype=float)
    qc_parts = []
    provenance = [f"degeneration threshold {settings.degeneration_threshold:g}",
                  f"height index reference {settings.height_index_reference}"]
    if sagittal_dseg is not None:
        sagittal = measure_sagittal(sagittal_dseg, t2w, sagittal_fatfraction, settings=settings,
                                    dseg_tsv=dseg_tsv)
        features.update(sagittal_feature_values(sagittal))
        qc_parts += [_group_row("sagittal", sagittal.qc), sagittal.qc]
        provenance.insert(0, f"sagittal labels: {sagittal.scheme.provenance}")
    else:
        qc_parts.append(_missing_group("sagittal", "no sagittal T2w image and label map"))
    if axial_dseg is not None:
        muscles = measure_muscles(axial_dseg, axial_fatfraction, settings=settings,
                                  dseg_tsv=dseg_tsv)
        features.update(muscle_feature_values(muscles, settings.muscles))
        qc_parts += [_group_row("axial", muscles.qc), muscles.qc]
        provenance.insert(1, f"axial labels: {muscles.scheme.provenance}")
    else:
        qc_parts.append(_missing_group("axial", "no axial muscle label map"))
    features.update(summary_values(features))
    qc = pd.concat([p for p in qc_parts if len(p)], ignore_index=True)
    return features, qc, "; ".join(provenance)


def sagittal_feature_values(result: SagittalResult) -> dict[str, float]:
    """Disc and vertebra feature values from a per-level table."""
    levels = result.levels
    values = {}
    for disc in DISCS:
        for measure in DISC_MEASURES:
            values[feature_name("disc", disc, measure)] = float(levels.loc[disc, measure])
    for vertebra in VERTEBRAE:
        for measure in VERTEBRA_MEASURES:
            values[feature_name("vertebra", vertebra, measure)] = float(
                levels.loc[vertebra, measure])
    return values


def muscle_feature_values(result: MuscleResult, muscles: list[str]) -> dict[str, float]:
    """Per-muscle and left-right asymmetry feature values from a per-muscle table."""
    table = result.muscles
    values = {feature_name("muscle", m, measure): float(table.loc[m, measure])
              for m in muscles for measure in MUSCLE_MEASURES}
    for base in muscle_pairs(muscles):
        left, right = table.loc[f"{base}_left"], table.loc[f"{base}_right"]
        mean_csa = 0.5 * (left["csa_mm2"] + right["csa_mm2"])
        values[feature_name("muscle", base, "csa_asymmetry_pct")] = float(
            100.0 * abs(left["csa_mm2"] - right["csa_mm2"]) / mean_csa)
        values[feature_name("muscle", base, "fat_fraction_asymmetry")] = float(
            abs(left["fat_fraction"] - right["fat_fraction"]))
    voxels = table.reindex([f"{m}_{s}" for m in ("multifidus", "erector_spinae")
                            for s in ("left", "right")])
    weights = voxels["n_voxels"].astype(float)
    values[feature_name("summary", None, "paraspinal_fat_fraction")] = float(
        (voxels["fat_fraction"] * weights).sum(min_count=len(voxels)) / weights.sum())
    return values


def summary_values(features: pd.Series) -> dict[str, float]:
    """Number of degenerated discs and the lower-lumbar (L4-L5, L5-S1) means."""
    flags = features[[feature_name("disc", d, "degenerated") for d in DISCS]]
    lower = ("L4-L5", "L5-S1")
    return {
        feature_name("summary", None, "n_degenerated_discs"): float(
            flags.sum(min_count=len(flags))),
        feature_name("summary", None, "lower_lumbar_csf_ratio"): float(
            features[[feature_name("disc", d, "csf_ratio") for d in lower]].mean(skipna=False)),
        feature_name("summary", None, "lower_lumbar_height_index"): float(
            features[[feature_name("disc", d, "height_index") for d in lower]].mean(skipna=False)),
    }


def _group_row(group: str, qc: pd.DataFrame) -> pd.DataFrame:
    flagged = int((qc["status"] == "flagged").sum())
    status = "flagged" if flagged else "ok"
    reason = f"{flagged} structure(s) flagged" if flagged else "measured"
    return pd.DataFrame([{"item": group, "status": status, "reason": reason}])


def _missing_group(group: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame([{"item": group, "status": "missing", "reason": reason}])

