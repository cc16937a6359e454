"""The damages of the reliability sweep: one bad input each, its command and its outcome.

``docs/reliability.md`` is generated from this list (``python tests/robustness/write_doc.py``);
``test_reliability_doc.py`` fails when the committed file is stale.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd

from robustness.sweep import (
    DAMAGED,
    SESSION,
    Damage,
    Run,
    Workspace,
    edit_json,
    edit_tsv,
    extract,
    gunzip_garbage,
    invoke,
    printed_qc,
    score,
    truncate,
    write_nifti,
)

DAMAGES: list[Damage] = []


def damage(id: str, kind: str, command: str, description: str, outcome: str,
           names: tuple[str, ...], run, slow: bool = False, kept: tuple[str, ...] = (),
           needs_run: bool = False, dataset_wide: bool = False):
    """Register the decorated function as the damage ``id``."""
    def register(apply):
        DAMAGES.append(Damage(id, kind, command, description, apply, run, outcome, names, slow,
                              kept, needs_run, dataset_wide))
        return apply
    return register


#: Feature columns of the motion tasks a flexion damage must leave alone.
NOT_FLEXION = tuple(f"biomech.{t}." for t in ("extension", "lateralleft", "lateralright",
                                              "rotationleft", "rotationright", "sittostand",
                                              "walk"))


# ------------------------------------------------------------------------------------------
# runners
# ------------------------------------------------------------------------------------------


def brain_run(ws: Workspace, *extra: object) -> Run:
    return printed_qc(invoke(["brain-run", ws.bold(), "--confounds", ws.confounds(),
                              "--mask", ws.mask(), *extra]))


def spine_levels(ws: Workspace, *extra: object) -> Run:
    return invoke(["spine-levels", ws.spine("lumbarsag_dseg"), "--scheme",
                   ws.dataset / "derivatives" / "spineseg" / "dseg.tsv", "--image", ws.t2w(),
                   *extra])


def extract_brain(ws: Workspace) -> Run:
    return extract(ws, ("brain",))


def extract_spine(ws: Workspace) -> Run:
    return extract(ws, ("spine",))


def extract_biomech(ws: Workspace) -> Run:
    return extract(ws, ("biomech",))


def extract_tables(ws: Workspace) -> Run:
    """Extract with questionnaires only: the tabular inputs (phenotype, participants...)."""
    return extract(ws, (), questionnaires=True)


def extract_outcomes(ws: Workspace, extra: str = "") -> Run:
    """Extract with no modality at all: participants, treatment and outcomes only."""
    return extract(ws, (), extra=extra)


def score_phq9(ws: Workspace) -> Run:
    return score(ws, "--instrument", "phq9")


def train(ws: Workspace, yaml_extra: str = "", features: Path | None = None) -> Run:
    from robustness.conftest import TRAIN_YAML

    text = TRAIN_YAML.format(inputs=ws.inputs) + yaml_extra
    if features is not None:
        text = text.replace(f"{ws.inputs}/features.parquet", str(features))
    return invoke(["train", ws.config(text, "train.yaml"), "--run-dir", ws.root / "run2"])


def predict(ws: Workspace) -> Run:
    return invoke(["predict", ws.run_dir, ws.inputs / "features.parquet",
                   "--out", ws.root / "pred.parquet"])


def export_regime(ws: Workspace) -> Run:
    return invoke(["export-regime", ws.inputs / "features.parquet",
                   ws.inputs / "outcomes.parquet", "--out", ws.root / "regime"])


def _set_cell(path: Path, column: str, value: str, row: int = 0) -> None:
    def change(frame: pd.DataFrame) -> None:
        frame.loc[frame.index[row], column] = value
    edit_tsv(path, change)


def _motion_cells(path: Path, rows: slice, column: int, value: str) -> None:
    frame = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False)
    frame.iloc[rows, column] = value
    frame.to_csv(path, sep="\t", header=False, index=False)


def _rewrite_motion(path: Path, change) -> None:
    values = pd.read_csv(path, sep="\t", header=None, na_values=["n/a"]).to_numpy(float)
    values = change(values)
    pd.DataFrame(values).to_csv(path, sep="\t", header=False, index=False, na_rep="n/a")


def _feature_table_with(ws: Workspace, column: str, value: float, participant: str) -> Path:
    from backpheno.table import read_feature_table

    table = read_feature_table(ws.inputs / "features.parquet")
    table.data.loc[(participant, SESSION), column] = value
    paths = table.write(ws.root / "damaged_features", "features")
    return paths["parquet"]


# ------------------------------------------------------------------------------------------
# images
# ------------------------------------------------------------------------------------------


@damage("bold-truncated", "images", "brain-run", "BOLD .nii.gz cut in half (interrupted copy)",
        "error", ("preproc_bold.nii.gz", "truncated"), brain_run)
def _(ws):
    truncate(ws.bold())


@damage("bold-truncated-in-cohort", "images", "extract",
        "one participant's BOLD .nii.gz cut in half", "qc",
        ("preproc_bold.nii.gz", "truncated"), extract_brain)
def _(ws):
    truncate(ws.bold())


@damage("bold-empty-file", "images", "brain-run", "BOLD file of zero bytes", "error",
        ("preproc_bold.nii.gz",), brain_run)
def _(ws):
    ws.bold().write_bytes(b"")


@damage("bold-not-an-image", "images", "brain-run",
        "BOLD file is a valid gzip stream of random bytes", "error",
        ("preproc_bold.nii.gz",), brain_run)
def _(ws):
    gunzip_garbage(ws.bold())


@damage("bold-3d", "images", "brain-run", "a 3-D image where the 4-D BOLD series should be",
        "error", ("preproc_bold.nii.gz", "4-D"), brain_run)
def _(ws):
    write_nifti(ws.bold(), np.zeros((10, 10, 10), np.float32))


@damage("mask-other-grid", "images", "brain-run", "brain mask on another voxel grid", "error",
        ("brain_mask.nii.gz", "grid"), brain_run)
def _(ws):
    write_nifti(ws.mask(), np.ones((7, 7, 7), np.uint8))


@damage("mask-empty", "images", "brain-run", "brain mask with no voxel set", "error",
        ("brain_mask.nii.gz", "empty"), brain_run)
def _(ws):
    import nibabel as nib

    img = nib.load(str(ws.mask()))
    write_nifti(ws.mask(), np.zeros(img.shape, np.uint8), like=ws.mask())


@damage("gm-probseg-truncated", "images", "extract", "grey-matter probability map cut in half",
        "qc", ("GM_probseg.nii.gz", "truncated"), extract_brain)
def _(ws):
    truncate(ws.anat("GM"))


@damage("t2w-truncated", "images", "extract", "sagittal T2w image cut in half", "qc",
        ("T2w.nii.gz", "truncated"), extract_spine)
def _(ws):
    truncate(ws.t2w())


@damage("t2w-truncated-spine-levels", "images", "spine-levels",
        "sagittal T2w image given to spine-levels cut in half", "error",
        ("T2w.nii.gz", "truncated"), spine_levels)
def _(ws):
    truncate(ws.t2w())


# ------------------------------------------------------------------------------------------
# confounds
# ------------------------------------------------------------------------------------------


@damage("confounds-column-missing", "confounds", "brain-run",
        "confounds TSV without framewise_displacement", "error",
        ("confounds_timeseries.tsv", "framewise_displacement"), brain_run)
def _(ws):
    edit_tsv(ws.confounds(), lambda f: f.drop(columns=["framewise_displacement"]))


@damage("confounds-rows-short", "confounds", "brain-run",
        "confounds TSV with fewer rows than BOLD volumes", "error",
        ("confounds_timeseries.tsv",), brain_run)
def _(ws):
    edit_tsv(ws.confounds(), lambda f: f.iloc[:-5])


@damage("confounds-text-value", "confounds", "brain-run", "a word in a numeric confound column",
        "error", ("confounds_timeseries.tsv", "trans_x"), brain_run)
def _(ws):
    _set_cell(ws.confounds(), "trans_x", "abc", row=3)


@damage("confounds-ragged", "confounds", "brain-run", "a confounds row with one field missing",
        "error", ("confounds_timeseries.tsv",), brain_run)
def _(ws):
    lines = ws.confounds().read_text().splitlines()
    lines[4] = "\t".join(lines[4].split("\t")[:-1])
    ws.confounds().write_text("\n".join(lines) + "\n")


@damage("confounds-missing-in-cohort", "confounds", "extract",
        "one participant's confounds TSV deleted", "qc", ("confounds_timeseries.tsv",),
        extract_brain)
def _(ws):
    ws.confounds().unlink()


@damage("confounds-column-missing-in-cohort", "confounds", "extract",
        "one participant's confounds without the motion parameters", "qc",
        ("confounds_timeseries.tsv", "rot_z"), extract_brain)
def _(ws):
    edit_tsv(ws.confounds(), lambda f: f.drop(columns=["rot_z"]))


@damage("confounds-infinite-value", "confounds", "brain-run", "inf in a motion confound",
        "error", ("confounds_timeseries.tsv", "trans_y"), brain_run)
def _(ws):
    _set_cell(ws.confounds(), "trans_y", "inf", row=7)


@damage("bold-nan-voxels", "images", "extract", "NaN in every voxel of one BOLD volume", "qc",
        ("preproc_bold.nii.gz",), extract_brain)
def _(ws):
    import nibabel as nib

    img = nib.load(str(ws.bold()))
    data = np.asarray(img.dataobj, dtype=np.float32)
    data[..., 10] = np.nan
    write_nifti(ws.bold(), data, like=ws.bold())


# ------------------------------------------------------------------------------------------
# sidecars
# ------------------------------------------------------------------------------------------


def _motion_json(ws: Workspace, task: str) -> Path:
    """A participant-level copy of the inherited task metadata (it overrides the dataset's)."""
    path = ws.motion(task).with_name(ws.motion(task).name.replace(".tsv", ".json"))
    shutil.copy(ws.dataset / f"task-{task}_tracksys-imu_motion.json", path)
    return path


def _channels(ws: Workspace, suffix: str = "channels.tsv") -> Path:
    """A participant-level copy of the inherited channels table (or JSON)."""
    path = ws.motion("flexion").parent / f"{DAMAGED}_{SESSION}_tracksys-imu_{suffix}"
    shutil.copy(ws.dataset / f"tracksys-imu_{suffix}", path)
    return path


@damage("bold-sidecar-invalid-json", "sidecars", "brain-run", "BOLD JSON sidecar cut mid-way",
        "error", ("preproc_bold.json",), brain_run)
def _(ws):
    truncate(ws.bold().with_name(ws.bold().name.replace(".nii.gz", ".json")))


@damage("motion-sampling-frequency-doubled", "sidecars", "extract",
        "task-flexion motion.json says 200 Hz for a 100 Hz recording", "qc",
        ("flexion", "SamplingFrequency"), extract_biomech,
        kept=NOT_FLEXION)
def _(ws):
    edit_json(_motion_json(ws, "flexion"), lambda d: d.update(SamplingFrequency=200.0))


@damage("walk-sampling-frequency-halved", "sidecars", "extract",
        "task-walk motion.json says 50 Hz for a 100 Hz walk", "qc",
        ("walk", "steps/min"), extract_biomech, slow=True)
def _(ws):
    edit_json(_motion_json(ws, "walk"), lambda d: d.update(SamplingFrequency=50.0))


@damage("motion-sampling-frequency-text", "sidecars", "extract",
        "SamplingFrequency written as a word", "qc", ("SamplingFrequency", "extension"),
        extract_biomech, slow=True)
def _(ws):
    edit_json(_motion_json(ws, "extension"), lambda d: d.update(SamplingFrequency="fast"))


@damage("motion-json-invalid", "sidecars", "extract", "a task's motion.json is not JSON", "qc",
        ("task-lateralleft_tracksys-imu_motion.json", "JSON"), extract_biomech, slow=True)
def _(ws):
    truncate(_motion_json(ws, "lateralleft"))


@damage("motion-recording-duration-contradicts", "sidecars", "extract",
        "RecordingDuration in the participant's motion.json contradicts the samples", "qc",
        ("RecordingDuration",), extract_biomech)
def _(ws):
    path = ws.motion("flexion").with_name(f"{DAMAGED}_{SESSION}_tracksys-imu_motion.json")
    edit_json(path, lambda d: d.update(RecordingDuration=3.0))


@damage("channels-unknown-unit", "sidecars", "extract", "an accelerometer unit of 'furlongs'",
        "qc", ("channels.tsv", "furlongs"), extract_biomech)
def _(ws):
    _set_cell(_channels(ws), "units", "furlongs", row=0)


@damage("channels-column-missing", "sidecars", "extract",
        "channels.tsv without the tracked_point column", "qc", ("channels.tsv", "tracked_point"),
        extract_biomech)
def _(ws):
    edit_tsv(_channels(ws), lambda f: f.drop(columns=["tracked_point"]))


@damage("channels-g-for-ms2", "sidecars", "extract",
        "channels.tsv says g for accelerations recorded in m/s²", "qc",
        ("accelerometer magnitude", "m/s²"), extract_biomech, slow=True)
def _(ws):
    def change(frame: pd.DataFrame) -> None:
        frame.loc[frame["type"] == "ACCEL", "units"] = "g"
    edit_tsv(_channels(ws), change)


@damage("channels-json-bad-axes", "sidecars", "extract",
        "SpatialAxes 'XYZ' in the participant's channels.json", "qc", ("SpatialAxes",),
        extract_biomech)
def _(ws):
    path = _channels(ws, "channels.json")
    edit_json(path, lambda d: d["reference_frame"]["Levels"]["local"].update(SpatialAxes="XYZ"))


@damage("pgic-sidecar-coding-mismatch", "sidecars", "score",
        "pgic.json declares common_1_7 while the settings say bacpac_0_6", "error",
        ("pgic.json", "common_1_7"), lambda ws: score(ws))
def _(ws):
    path = ws.dataset / "phenotype" / "pgic.json"
    edit_json(path, lambda d: d["pgic_01"].update(Coding="common_1_7"))


@damage("dseg-lookup-missing", "sidecars", "extract",
        "derivatives/spineseg/dseg.tsv (the label lookup) deleted", "qc", ("dseg.tsv",),
        extract_spine,
        dataset_wide=True)
def _(ws):
    (ws.dataset / "derivatives" / "spineseg" / "dseg.tsv").unlink()


# ------------------------------------------------------------------------------------------
# motion files
# ------------------------------------------------------------------------------------------


@damage("motion-truncated-row", "motion files", "extract",
        "last line of a motion TSV cut mid-row", "qc",
        ("task-flexion_tracksys-imu_motion.tsv",), extract_biomech,
        kept=NOT_FLEXION)
def _(ws):
    text = ws.motion("flexion").read_text()
    ws.motion("flexion").write_text(text[: len(text) - 30])


@damage("motion-text-value", "motion files", "extract", "a word in a motion sample column", "qc",
        ("task-extension_tracksys-imu_motion.tsv", "non-numeric"), extract_biomech, slow=True)
def _(ws):
    _motion_cells(ws.motion("extension"), slice(100, 101), 2, "abc")


@damage("motion-long-gap", "motion files", "extract", "two seconds of n/a in one channel", "qc",
        ("task-lateralright_tracksys-imu_motion.tsv", "gap"), extract_biomech, slow=True)
def _(ws):
    _motion_cells(ws.motion("lateralright"), slice(300, 500), 1, "n/a")


@damage("motion-short-gap", "motion files", "extract",
        "a 50 ms gap (interpolated and flagged)", "qc", ("rotationleft", "interpolated"),
        extract_biomech, slow=True)
def _(ws):
    _motion_cells(ws.motion("rotationleft"), slice(300, 305), 1, "n/a")


@damage("motion-dead-accelerometer", "motion files", "extract",
        "a sensor's accelerometer reads 0 throughout one task; the other tasks keep their "
        "values", "qc", ("task-flexion_tracksys-imu_motion.tsv",), extract_biomech,
        kept=NOT_FLEXION)
def _(ws):
    def dead(values: np.ndarray) -> np.ndarray:
        values[:, 0:3] = 0.0
        return values
    _rewrite_motion(ws.motion("flexion"), dead)


@damage("motion-empty-file", "motion files", "extract", "a motion TSV of zero bytes", "qc",
        ("task-rotationright_tracksys-imu_motion.tsv",), extract_biomech, slow=True)
def _(ws):
    ws.motion("rotationright").write_bytes(b"")


@damage("motion-binary-garbage", "motion files", "extract", "a motion TSV of random bytes", "qc",
        ("task-extension_tracksys-imu_motion.tsv",), extract_biomech, slow=True)
def _(ws):
    ws.motion("extension").write_bytes(np.random.default_rng(1).bytes(5000))


@damage("motion-infinite-value", "motion files", "extract", "inf in a gyroscope sample", "qc",
        ("task-flexion_tracksys-imu_motion.tsv",), extract_biomech, slow=True,
        kept=NOT_FLEXION)
def _(ws):
    _motion_cells(ws.motion("flexion"), slice(200, 201), 4, "inf")


@damage("channels-unknown-tracked-point", "sidecars", "extract",
        "channels.tsv names the T12 sensor 'L3'", "qc", ("T12",), extract_biomech, slow=True)
def _(ws):
    def change(frame: pd.DataFrame) -> None:
        frame.loc[frame["tracked_point"] == "T12", "tracked_point"] = "L3"
    edit_tsv(_channels(ws), change)


@damage("motion-fewer-columns", "motion files", "extract",
        "a motion TSV with one column fewer than channels.tsv lists", "qc",
        ("task-lateralleft_tracksys-imu_motion.tsv", "columns"), extract_biomech, slow=True)
def _(ws):
    _rewrite_motion(ws.motion("lateralleft"), lambda v: v[:, :-1])


# ------------------------------------------------------------------------------------------
# label maps
# ------------------------------------------------------------------------------------------


@damage("dseg-unknown-label", "label maps", "spine-levels",
        "a label value the scheme does not define", "error", ("lumbarsag_dseg.nii.gz", "99"),
        spine_levels)
def _(ws):
    import nibabel as nib

    img = nib.load(str(ws.spine("lumbarsag_dseg")))
    data = np.asarray(img.dataobj).copy()
    data[0, 0, 0] = 99
    write_nifti(ws.spine("lumbarsag_dseg"), data, like=ws.spine("lumbarsag_dseg"))


@damage("dseg-float-labels", "label maps", "spine-levels", "a label map of fractional values",
        "error", ("lumbarsag_dseg.nii.gz",), spine_levels)
def _(ws):
    import nibabel as nib

    img = nib.load(str(ws.spine("lumbarsag_dseg")))
    data = np.asarray(img.dataobj).astype(np.float32) + 0.5
    write_nifti(ws.spine("lumbarsag_dseg"), data, like=ws.spine("lumbarsag_dseg"))


@damage("dseg-other-grid", "label maps", "spine-levels",
        "label map on another grid than its T2w image", "error", ("grid",), spine_levels)
def _(ws):
    write_nifti(ws.spine("lumbarsag_dseg"), np.ones((20, 20, 5), np.uint8))


@damage("dseg-truncated", "label maps", "spine-levels", "label map cut in half", "error",
        ("lumbarsag_dseg.nii.gz", "truncated"), spine_levels)
def _(ws):
    truncate(ws.spine("lumbarsag_dseg"))


@damage("dseg-truncated-in-cohort", "label maps", "extract",
        "one participant's sagittal label map cut in half", "qc",
        ("lumbarsag_dseg.nii.gz", "truncated"), extract_spine)
def _(ws):
    truncate(ws.spine("lumbarsag_dseg"))


@damage("axial-dseg-missing-partner", "label maps", "extract",
        "axial fat-fraction map without its label map", "qc", ("lumbarax_dseg",),
        extract_spine)
def _(ws):
    ws.spine("lumbarax_dseg").unlink()


@damage("scheme-inline-unknown-name", "label maps", "spine-levels",
        "an inline scheme naming a structure that does not exist", "error", ("L9",),
        lambda ws: invoke(["spine-levels", ws.spine("lumbarsag_dseg"), "--scheme", "1=L9"]))
def _(ws):
    pass


# ------------------------------------------------------------------------------------------
# phenotype tables
# ------------------------------------------------------------------------------------------


@damage("item-out-of-range", "phenotype tables", "score", "a PHQ-9 answer of 7 (0-3 allowed)",
        "error", ("sub-001", "phq9.phq9_03", "value 7"), score_phq9)
def _(ws):
    _set_cell(ws.phenotype("phq9"), "phq9_03", "7")


@damage("item-text", "phenotype tables", "score", "a word as a PHQ-9 answer", "error",
        ("phq9", "phq9_05"), score_phq9)
def _(ws):
    _set_cell(ws.phenotype("phq9"), "phq9_05", "often")


@damage("item-out-of-range-set-missing", "phenotype tables", "score",
        "a PHQ-9 answer of 7 with invalid_answers: set_missing", "qc", ("phq9_03",),
        lambda ws: score(ws, "--instrument", "phq9", "--invalid-answers", "set_missing"))
def _(ws):
    _set_cell(ws.phenotype("phq9"), "phq9_03", "7")


@damage("phenotype-no-session-column", "phenotype tables", "score",
        "an instrument table without session_id", "error", ("phq9.tsv", "session_id"),
        score_phq9)
def _(ws):
    edit_tsv(ws.phenotype("phq9"), lambda f: f.drop(columns=["session_id"]))


@damage("phenotype-not-utf8", "phenotype tables", "score", "Latin-1 bytes in an instrument table",
        "error", ("phq9.tsv",), score_phq9)
def _(ws):
    path = ws.phenotype("phq9")
    path.write_bytes(path.read_bytes().replace(b"sub-", b"sub\xe9-", 1))


@damage("phenotype-ragged", "phenotype tables", "score", "a row with an extra field", "error",
        ("phq9.tsv",), score_phq9)
def _(ws):
    lines = ws.phenotype("phq9").read_text().splitlines()
    lines[3] += "\t1\t2"
    ws.phenotype("phq9").write_text("\n".join(lines) + "\n")


@damage("phenotype-unknown-participant", "phenotype tables", "score",
        "PHQ-9 rows of a participant absent from participants.tsv", "error",
        ("sub-999", "participants.tsv"), score_phq9)
def _(ws):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        row = frame.iloc[[0]].assign(participant_id="sub-999")
        return pd.concat([frame, row], ignore_index=True)
    edit_tsv(ws.phenotype("phq9"), change)


@damage("phenotype-unknown-session", "phenotype tables", "extract",
        "a PEG row at session ses-V9, not a configured session", "error",
        ("peg.tsv", "ses-V9", "line"), extract_tables)
def _(ws):
    _set_cell(ws.phenotype("peg"), "session_id", "ses-V9", row=2)


@damage("phenotype-unknown-session-dropped", "phenotype tables", "extract",
        "the same with unknown_sessions: drop", "qc", ("peg.tsv", "ses-V9"),
        lambda ws: extract_outcomes(ws, "unknown_sessions: drop\n"))
def _(ws):
    _set_cell(ws.phenotype("peg"), "session_id", "ses-V9", row=2)


@damage("phenotype-participant-id-blank", "phenotype tables", "score",
        "an instrument row with no participant_id", "error", ("phq9", "participant"),
        score_phq9)
def _(ws):
    _set_cell(ws.phenotype("phq9"), "participant_id", "n/a", row=1)


# ------------------------------------------------------------------------------------------
# participants and treatment tables
# ------------------------------------------------------------------------------------------


@damage("participants-duplicate", "participants and treatment", "extract",
        "a participant listed twice in participants.tsv", "error",
        ("participants.tsv", "duplicated"), extract_outcomes)
def _(ws):
    path = ws.dataset / "participants.tsv"
    edit_tsv(path, lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True))


@damage("participants-bad-id", "participants and treatment", "extract",
        "participant_id 'subject 7' (not sub-<label>)", "error",
        ("participants.tsv", "participant_id"), extract_outcomes)
def _(ws):
    _set_cell(ws.dataset / "participants.tsv", "participant_id", "subject 7", row=5)


@damage("participants-column-missing", "participants and treatment", "extract",
        "participants.tsv without the site column", "error", ("participants.tsv", "site"),
        extract_outcomes)
def _(ws):
    edit_tsv(ws.dataset / "participants.tsv", lambda f: f.drop(columns=["site"]))


@damage("participants-deep-not-boolean", "participants and treatment", "extract",
        "deep_phenotyping 'maybe'", "error", ("participants.tsv", "deep_phenotyping"),
        extract_outcomes)
def _(ws):
    _set_cell(ws.dataset / "participants.tsv", "deep_phenotyping", "maybe", row=3)


@damage("treatment-unknown-arm", "participants and treatment", "extract",
        "an arm 'YOGA' in treatment.tsv (not a configured arm)", "error",
        ("treatment.tsv", "YOGA", "line"), extract_outcomes)
def _(ws):
    _set_cell(ws.phenotype("treatment"), "arm", "YOGA", row=4)


@damage("treatment-unknown-arm-dropped", "participants and treatment", "extract",
        "the same with unknown_arms: drop", "qc", ("treatment.tsv", "YOGA"),
        lambda ws: extract_outcomes(ws, "unknown_arms: drop\n"))
def _(ws):
    _set_cell(ws.phenotype("treatment"), "arm", "YOGA", row=4)


@damage("treatment-unknown-augmentation", "participants and treatment", "extract",
        "a stage-2 augmentation 'DUL+YOGA'", "error", ("treatment.tsv", "DUL+YOGA"),
        extract_outcomes)
def _(ws):
    def change(frame: pd.DataFrame) -> None:
        frame.loc[frame["arm"].str.contains(r"\+"), "arm"] = "DUL+YOGA"
    edit_tsv(ws.phenotype("treatment"), change)


@damage("treatment-duplicate-stage1", "participants and treatment", "extract",
        "two stage-1 rows for one participant", "error", ("treatment.tsv", "stage-1"),
        extract_outcomes)
def _(ws):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([frame, frame[frame["stage"] == "1"].iloc[[0]]], ignore_index=True)
    edit_tsv(ws.phenotype("treatment"), change)


@damage("treatment-randomized-not-boolean", "participants and treatment", "extract",
        "randomized 'perhaps'", "error", ("treatment.tsv", "randomized"), extract_outcomes)
def _(ws):
    _set_cell(ws.phenotype("treatment"), "randomized", "perhaps", row=2)


@damage("treatment-arm-column-missing", "participants and treatment", "extract",
        "treatment.tsv without the arm column", "error", ("treatment.tsv", "arm"),
        extract_outcomes)
def _(ws):
    edit_tsv(ws.phenotype("treatment"), lambda f: f.drop(columns=["arm"]))


@damage("participants-age-text", "participants and treatment", "extract",
        "an age written as a word", "error", ("participants.tsv", "age"), extract_outcomes)
def _(ws):
    _set_cell(ws.dataset / "participants.tsv", "age", "forty", row=2)


@damage("treatment-stage-text", "participants and treatment", "extract",
        "a treatment stage written as a word", "error", ("treatment.tsv", "stage"),
        extract_outcomes)
def _(ws):
    _set_cell(ws.phenotype("treatment"), "stage", "one", row=2)


@damage("peg-item-text-in-cohort", "phenotype tables", "extract",
        "a word as a PEG answer, met by extract", "error", ("peg", "peg_01", "lots"),
        extract_tables)
def _(ws):
    _set_cell(ws.phenotype("peg"), "peg_01", "lots", row=0)


# ------------------------------------------------------------------------------------------
# SDTM
# ------------------------------------------------------------------------------------------


def _sdtm(ws: Workspace) -> tuple[Path, Path]:
    from backpheno.dataset import Dataset
    from backpheno.questionnaires.sdtm import write_sdtm

    dataset = Dataset(ws.dataset)
    paths = write_sdtm({n: dataset.phenotype(n) for n in ("peg", "phq9")}, ws.root / "sdtm")
    return paths["qs"], paths.get("ft")


def score_sdtm(ws: Workspace) -> Run:
    return score(ws, "--sdtm-qs", ws.root / "sdtm" / "qs.csv")


def _edit_qs(ws: Workspace, change) -> None:
    qs, _ = _sdtm(ws)
    frame = pd.read_csv(qs, dtype=str, keep_default_na=False)
    changed = change(frame)
    (frame if changed is None else changed).to_csv(qs, index=False)


@damage("sdtm-column-missing", "SDTM", "score", "QS table without QSTESTCD", "error",
        ("qs.csv", "QSTESTCD"), score_sdtm)
def _(ws):
    _edit_qs(ws, lambda f: f.drop(columns=["QSTESTCD"]))


@damage("sdtm-unknown-visit", "SDTM", "score", "VISITNUM 99 (no session has that week)",
        "error", ("VISITNUM", "99"), score_sdtm)
def _(ws):
    def change(frame: pd.DataFrame) -> None:
        frame.loc[frame.index[0], "VISITNUM"] = "99"
    _edit_qs(ws, change)


@damage("sdtm-text-result", "SDTM", "score", "QSSTRESN 'high' for a PHQ-9 item", "error",
        ("QSSTRESN",), score_sdtm)
def _(ws):
    def change(frame: pd.DataFrame) -> None:
        frame.loc[frame["QSTESTCD"].str.startswith("PHQ"), "QSSTRESN"] = "high"
    _edit_qs(ws, change)


@damage("sdtm-row-cut", "SDTM", "score", "the last QS row cut after its result (a copy "
        "interrupted mid-row)", "error", ("sub-060", "QS.PEG3", "VISITNUM"), score_sdtm)
def _(ws):
    qs, _ = _sdtm(ws)
    lines = qs.read_text().splitlines()
    lines[-1] = lines[-1].rsplit(",", 3)[0]
    qs.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------
# configurations
# ------------------------------------------------------------------------------------------


def _extract_config(ws: Workspace, extra: str) -> Path:
    return ws.config(f"dataset: {ws.dataset}\nout: {ws.root / 'out'}\n"
                     f"questionnaires: {{pgic_coding: bacpac_0_6}}\n{extra}", "bad.yaml")


@damage("config-not-utf8", "configs", "extract", "Latin-1 byte in an extract config", "error",
        ("bad.yaml", "UTF-8", "line 4"), lambda ws: invoke(["extract", ws.root / "bad.yaml"]))
def _(ws):
    path = _extract_config(ws, "")
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")


@damage("config-unknown-key", "configs", "extract", "a misspelt key (n_job)", "error",
        ("n_job", "Extra inputs"), lambda ws: invoke(["extract", ws.root / "bad.yaml"]))
def _(ws):
    _extract_config(ws, "n_job: 2\n")


@damage("config-wrong-type", "configs", "extract", "n_jobs: many", "error", ("n_jobs",),
        lambda ws: invoke(["extract", ws.root / "bad.yaml"]))
def _(ws):
    _extract_config(ws, "n_jobs: many\n")


@damage("config-unconfigured-session", "configs", "extract",
        "deep_sessions names a session outside `sessions`", "error", ("deep_sessions", "ses-V7"),
        lambda ws: invoke(["extract", ws.root / "bad.yaml"]))
def _(ws):
    _extract_config(ws, "deep_sessions: [ses-V7]\n")


@damage("config-invalid-yaml", "configs", "extract", "unbalanced brackets", "error",
        ("bad.yaml", "YAML"), lambda ws: invoke(["extract", ws.root / "bad.yaml"]))
def _(ws):
    _extract_config(ws, "brain: {atlas: [\n")


@damage("config-not-a-mapping", "configs", "simulate", "a YAML list instead of a mapping",
        "error", ("bad.yaml", "mapping"),
        lambda ws: invoke(["simulate", "--out", ws.root / "sim", "--config",
                           ws.root / "bad.yaml"]))
def _(ws):
    ws.config("- participants\n- 10\n", "bad.yaml")


@damage("config-brain-bad-strategy", "configs", "brain-run", "an unknown denoising strategy",
        "error", ("brain.yaml", "denoise"),
        lambda ws: brain_run(ws, "--config", ws.root / "brain.yaml"))
def _(ws):
    ws.config("denoise: {strategy: magic}\n", "brain.yaml")


@damage("config-train-arm-twice", "configs", "train", "an arm listed twice", "error",
        ("train.yaml", "arms"), lambda ws: train(ws, "arms: [ACT, ACT]\n"))
def _(ws):
    pass


@damage("config-regime-unknown-key", "configs", "export-regime", "a misspelt regime key",
        "error", ("regime.yaml", "outcom"),
        lambda ws: invoke(["export-regime", ws.inputs / "features.parquet",
                           ws.inputs / "outcomes.parquet", "--out", ws.root / "regime",
                           "--config", ws.root / "regime.yaml"]))
def _(ws):
    ws.config("outcom: peg_change_v2\n", "regime.yaml")


# ------------------------------------------------------------------------------------------
# feature tables, run directories and output folders
# ------------------------------------------------------------------------------------------


@damage("features-infinite-value", "run directories", "train",
        "inf in one questionnaire feature of one participant", "error",
        ("q.phq9.total", DAMAGED, "infinite"),
        lambda ws: train(ws, features=ws.root / "damaged_features" / "features.parquet"))
def _(ws):
    _feature_table_with(ws, "q.phq9.total", np.inf, DAMAGED)


@damage("features-not-parquet", "run directories", "train", "features.parquet of random bytes",
        "error", ("features.parquet",), train)
def _(ws):
    (ws.inputs / "features.parquet").write_bytes(np.random.default_rng(2).bytes(3000))


@damage("outcomes-target-missing", "run directories", "train",
        "outcomes.parquet without the responder column", "error",
        ("outcomes.parquet", "responder"), train)
def _(ws):
    path = ws.inputs / "outcomes.parquet"
    pd.read_parquet(path).drop(columns=["responder"]).to_parquet(path)


@damage("regime-outcomes-truncated", "run directories", "export-regime",
        "outcomes.parquet cut in half", "error", ("outcomes.parquet",), export_regime)
def _(ws):
    truncate(ws.inputs / "outcomes.parquet")


@damage("output-folder-locked", "run directories", "extract",
        "another live extract holds the output folder", "error",
        ("in use", ".backpheno.lock"), extract_outcomes)
def _(ws):
    from backpheno.lock import LOCK_NAME

    (ws.root / "out").mkdir()
    (ws.root / "out" / LOCK_NAME).write_text(json.dumps(
        {"command": "extract", "pid": os.getppid(), "host": socket.gethostname(),
         "started": "2026-01-01T00:00:00"}))


@damage("output-folder-stale-lock", "run directories", "extract",
        "the lock of a killed extract (its process is gone)", "ok", (), extract_outcomes)
def _(ws):
    from backpheno.lock import LOCK_NAME

    (ws.root / "out").mkdir()
    (ws.root / "out" / LOCK_NAME).write_text(json.dumps(
        {"command": "extract", "pid": 2**22 + 1, "host": socket.gethostname(),
         "started": "2026-01-01T00:00:00"}))


@damage("cache-entry-torn", "run directories", "extract",
        "every cached biomech result cut in half (a disk that filled up)", "ok", (),
        extract_biomech, slow=True)
def _(ws):
    cache = ws.root / "cache"
    shutil.copytree(ws.base.cache, cache)
    ws.base = dataclasses.replace(ws.base, cache=cache)
    for path in (cache / "biomech").rglob("*.json"):
        truncate(path)


@damage("run-dir-not-a-run", "run directories", "explain", "explain pointed at a folder that "
        "is not a run directory", "error", ("run.json",),
        lambda ws: invoke(["explain", ws.root]))
def _(ws):
    pass


@damage("predict-infinite-value", "run directories", "predict",
        "inf in a feature of the table to score", "error", ("infinite", DAMAGED),
        lambda ws: invoke(["predict", ws.run_dir, ws.root / "damaged_features" /
                           "features.parquet", "--out", ws.root / "p.parquet"]),
        slow=True, needs_run=True)
def _(ws):
    _feature_table_with(ws, "q.phq9.total", -np.inf, DAMAGED)


@damage("predict-feature-missing", "run directories", "predict",
        "the table to score lacks a feature the models use", "error", ("missing",),
        predict, slow=True, needs_run=True)
def _(ws):
    from backpheno.table import read_feature_table

    path = ws.inputs / "features.parquet"
    table = read_feature_table(path)
    table.data = table.data.drop(columns=["q.phq9.total"])
    table.codebook = table.codebook.drop(index=["q.phq9.total"])
    table.write(ws.inputs, "features")


@damage("model-file-tampered", "run directories", "predict",
        "a model file changed after training (hash manifest mismatch)", "error", ("models",),
        predict, slow=True, needs_run=True)
def _(ws):
    model = next(p for p in (ws.run_dir / "models").rglob("*") if p.is_file()
                 and p.suffix != ".json")
    model.write_bytes(model.read_bytes() + b" ")


@damage("run-json-invalid", "run directories", "report", "run.json cut in half", "error",
        ("run.json",), lambda ws: invoke(["report", ws.run_dir]), slow=True, needs_run=True)
def _(ws):
    truncate(ws.run_dir / "run.json")


@damage("report-folder-locked", "run directories", "report",
        "report into a run directory another live command holds", "error",
        ("in use", "backpheno explain"), lambda ws: invoke(["report", ws.root / "out"]))
def _(ws):
    from backpheno.lock import LOCK_NAME

    (ws.root / "out").mkdir()
    (ws.root / "out" / LOCK_NAME).write_text(json.dumps(
        {"command": "explain", "pid": os.getppid(), "host": socket.gethostname(),
         "started": "2026-01-01T00:00:00"}))


@damage("explain-config-unknown-key", "configs", "explain", "a misspelt explain setting",
        "error", ("explain.yaml", "resample"),
        lambda ws: invoke(["explain", ws.run_dir, "--config", ws.root / "explain.yaml"]),
        slow=True, needs_run=True)
def _(ws):
    ws.config("resample: 5\n", "explain.yaml")


@damage("predict-session-absent", "run directories", "predict",
        "--session names a session the table to score does not have", "error", ("ses-V7",),
        lambda ws: invoke(["predict", ws.run_dir, ws.inputs / "features.parquet", "--session",
                           "ses-V7", "--out", ws.root / "p.parquet"]), slow=True, needs_run=True)
def _(ws):
    pass


@damage("phenotype-duplicate-row", "phenotype tables", "score",
        "the same participant and session twice in one instrument table", "error",
        ("phq9", "sub-001"), score_phq9)
def _(ws):
    edit_tsv(ws.phenotype("phq9"), lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True))


@damage("confounds-fd-all-missing", "confounds", "brain-run",
        "framewise_displacement n/a in every row", "qc", ("mean FD", "excluded"), brain_run)
def _(ws):
    def change(frame: pd.DataFrame) -> None:
        frame["framewise_displacement"] = "n/a"
    edit_tsv(ws.confounds(), change)


@damage("dseg-lookup-duplicate-index", "label maps", "extract",
        "one label value listed twice in dseg.tsv", "qc", ("dseg.tsv",), extract_spine,
        dataset_wide=True)
def _(ws):
    path = ws.dataset / "derivatives" / "spineseg" / "dseg.tsv"
    edit_tsv(path, lambda f: pd.concat([f, f.iloc[[0]].assign(name="L9")], ignore_index=True))


@damage("sensor-height-negative", "sidecars", "extract",
        "SensorHeight of S1 is -0.9 m in the participant's motion.json", "qc",
        ("SensorHeight",), extract_biomech, slow=True)
def _(ws):
    path = ws.motion("walk").with_name(f"{DAMAGED}_{SESSION}_tracksys-imu_motion.json")
    edit_json(path, lambda d: d["SensorHeight"].update(S1=-0.9))


@damage("bold-tr-text", "sidecars", "brain-run", "RepetitionTime written as a word", "error",
        ("RepetitionTime",), brain_run)
def _(ws):
    edit_json(ws.bold().with_name(ws.bold().name.replace(".nii.gz", ".json")),
              lambda d: d.update(RepetitionTime="two"))
