"""Machinery of the reliability sweep: a damaged copy of a small cohort, commands, outcomes.

A :class:`Damage` names one kind of bad input, the command that meets it, what it does to a
fresh copy of the sweep's workspace (:class:`Workspace`) and the outcome class it must end in:

``error``
    the command stops with exit status 2 and one ``error:`` line naming what is wrong (file,
    column, key, participant: the ``names`` of the damage), no traceback;
``qc``
    the command finishes (exit status 0, or 1 for ``extract`` with failed tasks) and a
    ``failed`` / ``flagged`` QC row names the damage; every undamaged participant's values
    equal the undamaged run's;
``ok``
    the damage is repaired or harmless by design (a stale lock, a torn cache entry) and the
    result equals the undamaged run's.

Anything else is ``silent`` (finished, nothing named) or ``crash`` (a traceback, an unnamed
error): the sweep fails on both.
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from backpheno.cli import app

OUTCOMES = ("error", "qc", "ok")
INPUT_KINDS = ("images", "confounds", "sidecars", "motion files", "label maps",
               "phenotype tables", "participants and treatment", "SDTM", "configs",
               "run directories")

#: The deep-phenotyped participant every damage is applied to, and one left intact.
DAMAGED = "sub-002"
INTACT = "sub-004"
SESSION = "ses-V0"


@dataclass(frozen=True)
class Damage:
    """One kind of bad input and the outcome it must have."""

    id: str
    kind: str
    command: str
    description: str
    apply: Callable[[Workspace], None]
    run: Callable[[Workspace], Run]
    outcome: str
    names: tuple[str, ...]
    slow: bool = False
    #: Column prefixes whose values the damaged participant keeps (its undamaged tasks).
    kept: tuple[str, ...] = ()
    #: Whether the workspace needs a trained run directory (``Workspace.run_dir``).
    needs_run: bool = False
    #: A dataset-level file damaged: every participant may be affected.
    dataset_wide: bool = False


@dataclass
class Run:
    """What a command did: exit status, output and where its QC table is."""

    exit_code: int
    output: str
    exception: BaseException | None
    qc: pd.DataFrame | None = None
    data: pd.DataFrame | None = None


@dataclass
class Workspace:
    """A private copy of the sweep's inputs for one damage."""

    root: Path
    base: Base

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    @property
    def inputs(self) -> Path:
        """Model inputs: features.parquet and outcomes.parquet of the undamaged extract."""
        return self.root / "inputs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    def func(self, participant: str = DAMAGED) -> Path:
        return self.dataset / "derivatives" / "fmriprep" / participant / SESSION / "func"

    def bold(self, participant: str = DAMAGED) -> Path:
        return next(self.func(participant).glob("*_desc-preproc_bold.nii.gz"))

    def confounds(self, participant: str = DAMAGED) -> Path:
        return next(self.func(participant).glob("*_desc-confounds_timeseries.tsv"))

    def mask(self, participant: str = DAMAGED) -> Path:
        return next(self.func(participant).glob("*_desc-brain_mask.nii.gz"))

    def anat(self, label: str, participant: str = DAMAGED) -> Path:
        folder = self.dataset / "derivatives" / "fmriprep" / participant / SESSION / "anat"
        return next(folder.glob(f"*_label-{label}_probseg.nii.gz"))

    def spine(self, name: str, participant: str = DAMAGED) -> Path:
        """``lumbarsag_dseg``, ``lumbarax_dseg``, ``lumbarsag_desc-fatfraction_map`` ..."""
        folder = self.dataset / "derivatives" / "spineseg" / participant / SESSION / "anat"
        return folder / f"{participant}_{SESSION}_acq-{name}.nii.gz"

    def t2w(self, participant: str = DAMAGED) -> Path:
        return (self.dataset / participant / SESSION / "anat"
                / f"{participant}_{SESSION}_acq-lumbarsag_T2w.nii.gz")

    def motion(self, task: str, participant: str = DAMAGED) -> Path:
        return (self.dataset / participant / SESSION / "motion"
                / f"{participant}_{SESSION}_task-{task}_tracksys-imu_motion.tsv")

    def phenotype(self, name: str) -> Path:
        return self.dataset / "phenotype" / f"{name}.tsv"

    def config(self, text: str, name: str = "config.yaml") -> Path:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path


@dataclass
class Base:
    """The undamaged inputs, shared by every damage: copied, never changed."""

    root: Path
    cache: Path
    features: pd.DataFrame
    qc: pd.DataFrame
    extra: dict[str, Path] = field(default_factory=dict)

    def copy(self, target: Path, with_run: bool = False) -> Workspace:
        shutil.copytree(self.root / "dataset", target / "dataset", symlinks=True)
        shutil.copytree(self.root / "inputs", target / "inputs")
        if with_run:
            shutil.copytree(self.extra["run"], target / "run")
        return Workspace(target, self)


# ------------------------------------------------------------------------------------------
# running commands
# ------------------------------------------------------------------------------------------

_RUNNER = CliRunner()


def invoke(args: list[str]) -> Run:
    """Run ``backpheno ARGS`` in this process; never raises."""
    loggers = [logging.getLogger(name) for name in ("backpheno", "py.warnings")]
    saved = [list(lg.handlers) for lg in loggers]
    for lg in loggers:  # handlers earlier commands left on streams that are closed by now
        lg.handlers = []
    try:
        result = _RUNNER.invoke(app, [str(a) for a in args], catch_exceptions=True)
    finally:  # this command's handlers write to the runner's stream, closed now
        for lg, handlers in zip(loggers, saved, strict=True):
            for handler in lg.handlers:
                handler.close()
            lg.handlers = handlers
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    return Run(result.exit_code, output, result.exception)


def extract(ws: Workspace, modalities: tuple[str, ...] = ("brain", "spine", "biomech"),
            questionnaires: bool = False, extra: str = "") -> Run:
    """``backpheno extract`` of the workspace's dataset with only ``modalities`` enabled."""
    lines = [f"dataset: {ws.dataset}", f"out: {ws.root / 'out'}", f"cache: {ws.base.cache}",
             "questionnaires: " + ("{pgic_coding: bacpac_0_6}" if questionnaires else "null")]
    lines += [f"{m}: {'{}' if m in modalities else 'null'}" for m in ("brain", "spine", "biomech")]
    config = ws.config("\n".join(lines) + "\n" + extra, "extract.yaml")
    run = invoke(["extract", config])
    features = ws.root / "out" / "features.parquet"
    if features.is_file():
        from backpheno.table import read_feature_table

        table = read_feature_table(features)
        run.qc, run.data = table.qc, table.data
    return run


def score(ws: Workspace, *args: str) -> Run:
    """``backpheno score`` of the workspace's dataset (or SDTM tables given in ``args``)."""
    out = ws.root / "scored"
    source = [] if "--sdtm-qs" in args else ["--dataset", ws.dataset]
    run = invoke(["score", *source, "--out", out, "--pgic-coding", "bacpac_0_6", *args])
    if (out / "questionnaires_qc.tsv").is_file():
        run.qc = pd.read_csv(out / "questionnaires_qc.tsv", sep="\t")
    return run


def printed_qc(run: Run) -> Run:
    """Read the ``QC <status>: <item>: <reason>`` lines brain-run and extract print."""
    rows = [line.split(": ", 2) for line in run.output.splitlines() if line.startswith("QC ")]
    run.qc = pd.DataFrame([{"status": r[0].removeprefix("QC "), "item": r[1],
                            "reason": r[2] if len(r) > 2 else "", "participant_id": DAMAGED,
                            "session_id": SESSION} for r in rows],
                          columns=["participant_id", "session_id", "status", "item", "reason"])
    return run


# ------------------------------------------------------------------------------------------
# outcome classes
# ------------------------------------------------------------------------------------------


def outcome_of(damage: Damage, run: Run, ws: Workspace) -> tuple[str, str]:
    """The outcome class of a run and a sentence saying why."""
    if run.exception is not None and not isinstance(run.exception, SystemExit):
        return "crash", f"{type(run.exception).__name__}: {run.exception}"
    if "Traceback" in run.output:
        return "crash", "a traceback was printed"
    if run.exit_code == 2:
        missing = [n for n in damage.names if n not in run.output]
        if missing:
            return "crash", f"error does not name {missing}: {run.output.strip()[-400:]}"
        return "error", run.output.strip().splitlines()[-1]
    if run.exit_code not in (0, 1):
        return "crash", f"exit status {run.exit_code}: {run.output[-400:]}"
    changed = [] if damage.dataset_wide else _changed_intact_values(run, ws, damage.kept)
    if changed:
        return "crash", f"undamaged values changed: {changed}"
    if run.qc is not None and len(run.qc):
        bad = run.qc[run.qc["status"].isin(["failed", "flagged"])]
        text = bad["item"].astype(str) + " " + bad["reason"].astype(str)
        named = bad[text.map(lambda t: all(n in t for n in damage.names))]
        if len(named):
            return "qc", f"{named['status'].iloc[0]}: {named['reason'].iloc[0]}"
    if damage.outcome == "ok" and run.exit_code == 0:
        return "ok", "repaired; same table as the undamaged run"
    return "silent", f"exit {run.exit_code}, nothing named {damage.names}: {run.output[-300:]}"


def _changed_intact_values(run: Run, ws: Workspace, kept: tuple[str, ...] = ()) -> list[str]:
    """Columns whose values differ from the undamaged run: every column of the intact
    participants, and the ``kept`` columns of the damaged one."""
    if run.data is None or not len(run.data):
        return []
    base = ws.base.features
    if (INTACT, SESSION) in base.index and (INTACT, SESSION) not in run.data.index:
        return [f"{INTACT} lost its {SESSION} row"]
    columns = [c for c in run.data.columns if c in base.columns]
    changed = []
    for participant in {i[0] for i in run.data.index}:
        rows = [i for i in run.data.index if i[0] == participant and i in base.index]
        own = [c for c in columns if c.startswith(kept)] if participant == DAMAGED else columns
        if not rows or not own:
            continue
        a = run.data.loc[rows, own].to_numpy(float)
        b = base.loc[rows, own].to_numpy(float)
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        changed += [f"{participant} {own[j]}" for j in np.flatnonzero(differ.any(axis=0))]
    return changed[:5]


# ------------------------------------------------------------------------------------------
# small damage helpers
# ------------------------------------------------------------------------------------------


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file to ``keep`` of its bytes (a copy interrupted half-way)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def edit_tsv(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame | None],
             header: bool = True) -> None:
    """Read a TSV as text cells, change it, write it back (n/a kept)."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False,
                        header=0 if header else None)
    changed = change(frame)
    frame = frame if changed is None else changed
    frame.to_csv(path, sep="\t", index=False, header=header)


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    """Load a JSON file, change it in place, write it back."""
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


def write_nifti(path: Path, data: np.ndarray, like: Path | None = None) -> None:
    """Write ``data`` as NIfTI at ``path`` with the affine of ``like`` (or identity)."""
    import nibabel as nib

    affine = nib.load(str(like)).affine if like is not None else np.eye(4)
    nib.save(nib.Nifti1Image(data, affine), str(path))


def gunzip_garbage(path: Path) -> None:
    """Replace a .gz file by a valid gzip stream of random bytes (not an image)."""
    with gzip.open(path, "wb") as handle:
        handle.write(np.random.default_rng(0).bytes(4096))
