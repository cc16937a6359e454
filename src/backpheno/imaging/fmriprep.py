"""Finding one session's fMRIPrep outputs by their BIDS-derivatives entities.

fMRIPrep writes, per BOLD run (``sub-<l>[_ses-<l>]_task-<l>[_acq-<l>][_run-<i>][_echo-<i>]``)::

    func/<run>_space-<space>[_res-<r>]_desc-preproc_bold.nii.gz   (+ .json with RepetitionTime)
    func/<run>_space-<space>[_res-<r>]_desc-brain_mask.nii.gz
    func/<run>_desc-confounds_timeseries.tsv                      (+ .json)
    anat/sub-<l>[_ses-<l>]_space-<space>[_res-<r>]_label-GM|WM|CSF_probseg.nii.gz

beside other spaces (``MNI152NLin6Asym``, ``T1w``, surfaces), ICA-AROMA outputs
(``desc-smoothAROMAnonaggr_bold``) and reports. :func:`find_session` reads the entities of every
name (:mod:`backpheno.imaging.derivatives`) and keeps the preprocessed BOLD of the configured
task, space and resolution; every choice it makes on its own is written to
:attr:`SessionFiles.notes` for the QC table. Datasets without sessions (``sub-XX/func``) are read
for the session named in ``BrainSettings.sessionless_as``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from backpheno.errors import InputError
from backpheno.imaging.derivatives import BidsFile, list_files, select
from backpheno.imaging.settings import DEFAULT_SPACE, BrainSettings

#: Entities that tell runs of one task apart; their ``key-value`` pairs name a run.
RUN_ENTITIES = ("acq", "ce", "rec", "dir", "run", "echo")
_NIFTI = (".nii.gz", ".nii")
#: Tissue probability maps: input key → fMRIPrep label.
TISSUES = {"gm": "GM", "wm": "WM", "csf": "CSF"}


@dataclass(frozen=True)
class RunFiles:
    """The files of one BOLD run (``sidecar`` is ``None`` when fMRIPrep wrote none)."""

    label: str
    bold: Path
    confounds: Path
    mask: Path
    sidecar: Path | None


@dataclass
class SessionFiles:
    """One session's runs, tissue maps and the choices made while finding them.

    ``anat`` maps ``gm``/``wm``/``csf`` to the tissue map found, or to the path looked for
    when it is absent (the extractor turns an absent map into a ``missing`` QC row naming it).
    """

    runs: list[RunFiles]
    space: str
    resolution: str | None
    anat: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_inputs(self) -> dict[str, Path]:
        """The flat ``<run>/<kind>`` and ``anat/<tissue>`` mapping of the cohort runner."""
        inputs: dict[str, Path] = {}
        for run in self.runs:
            inputs.update({f"{run.label}/bold": run.bold, f"{run.label}/confounds": run.confounds,
                           f"{run.label}/mask": run.mask})
            if run.sidecar is not None:
                inputs[f"{run.label}/sidecar"] = run.sidecar
        inputs.update({f"anat/{k}": v for k, v in self.anat.items()})
        return inputs


def session_folder(pipeline_dir: Path, participant_id: str, session_id: str,
                   sessionless_as: str | None) -> tuple[Path, str | None] | None:
    """``(folder, ses entity)`` of a participant's session in a derivatives tree, or ``None``.

    ``sub-XX/ses-YY`` when it exists; ``sub-XX`` (no ses- entity) when the participant has no
    session folders and ``session_id`` is ``sessionless_as``.
    """
    base = pipeline_dir / participant_id
    if (base / session_id).is_dir():
        return base / session_id, session_id.removeprefix("ses-")
    if (sessionless_as == session_id and (base / "func").is_dir()
            and not any(p.is_dir() for p in base.glob("ses-*"))):
        return base, None
    return None


def find_session(fmriprep_dir: Path, participant_id: str, session_id: str,
                 settings: BrainSettings) -> SessionFiles | None:
    """The fMRIPrep files of one session, ``None`` when the participant has no folder for it.

    Raises
    ------
    InputError
        When the folder exists but holds no preprocessed BOLD of the configured task, space and
        resolution, or a run lacks its confounds table or brain mask (the message names what
        was looked for and what was found).
    """
    found = session_folder(fmriprep_dir, participant_id, session_id, settings.sessionless_as)
    if found is None:
        return None
    folder, ses = found
    func = folder / "func"
    where = {"participant": participant_id, "session": session_id}
    files = list_files(func)
    task_bolds = select(files, "bold", _NIFTI, desc="preproc", ses=ses, task=settings.task,
                        echo=settings.echo)
    if settings.acquisition is not None:
        task_bolds = select(task_bolds, acq=settings.acquisition)
    if settings.run is not None:
        task_bolds = [f for f in task_bolds if _same_index(f.get("run"), settings.run)]
    if not task_bolds:
        tasks = sorted({f.get("task") for f in select(files, "bold", _NIFTI, desc="preproc")
                        if f.get("task")})
        raise InputError(
            f"no preprocessed BOLD (*_task-{settings.task}"
            f"{'_acq-' + settings.acquisition if settings.acquisition else ''}"
            f"{'_run-' + settings.run if settings.run else ''}*_desc-preproc_bold.nii[.gz]); "
            f"tasks with a preprocessed BOLD here: {', '.join(tasks) or 'none'} "
            "(brain.task chooses)", file=func, **where)
    notes: list[str] = []
    space = choose_space(task_bolds, settings.space, "preprocessed BOLD", func, where, notes)
    in_space = select(task_bolds, space=space)
    resolution = choose_entity(in_space, "res", settings.resolution, "resolution", func, where,
                               notes)
    bolds = select(in_space, res=resolution)
    runs = [_run_files(bold, files, func, where) for bold in bolds]
    anat = _tissue_maps(folder, participant_id, ses, space, resolution)
    return SessionFiles(runs, space, resolution, anat, notes)


def _same_index(value: str | None, wanted: str) -> bool:
    """Run indices compare as numbers (``run-01`` is ``run-1``), other labels as text."""
    if value is None:
        return False
    if value.isdigit() and wanted.isdigit():
        return int(value) == int(wanted)
    return value == wanted


def choose_space(files: list[BidsFile], wanted: str | None, what: str, folder: Path,
                 where: dict, notes: list[str]) -> str:
    """The space- entity to read: configured, else the default template, else the only one.

    Raises
    ------
    InputError
        If the configured space is absent, or there is no default and several spaces.
    """
    spaces = sorted({f.get("space") or "" for f in files} - {""})
    if not spaces:
        raise InputError(f"no {what} with a space- entity (native-space outputs are not read: "
                         "atlases are in template space)", file=folder, **where)
    if wanted is not None:
        if wanted not in spaces:
            raise InputError(f"no {what} in space-{wanted} (brain.space); spaces found: "
                             f"{', '.join(spaces)}", file=folder, **where)
        return wanted
    if DEFAULT_SPACE in spaces:
        notes.append(f"space-{DEFAULT_SPACE} used by default (found: {', '.join(spaces)}; "
                     "brain.space chooses)")
        return DEFAULT_SPACE
    if len(spaces) == 1:
        notes.append(f"space-{spaces[0]} used: the only space found ({DEFAULT_SPACE} absent)")
        return spaces[0]
    raise InputError(f"no {what} in space-{DEFAULT_SPACE} and several other spaces "
                     f"({', '.join(spaces)}); set brain.space", file=folder, **where)


def choose_entity(files: list[BidsFile], key: str, wanted: str | None, setting: str, folder: Path,
            where: dict, notes: list[str]) -> str | None:
    """The value of entity ``key`` to use: configured, the only one, or the first sorted."""
    values = sorted({f.get(key) for f in files}, key=lambda v: (v is not None, v or ""))
    if not values:
        return None
    if wanted is not None:
        if wanted not in values:
            raise InputError(f"no file with {key}-{wanted} (brain.{setting}); found: "
                             f"{', '.join(_show(key, v) for v in values)}", file=folder, **where)
        return wanted
    if len(values) > 1:
        notes.append(f"{_show(key, values[0])} used (found: "
                     f"{', '.join(_show(key, v) for v in values)}; brain.{setting} chooses)")
    return values[0]


def _show(key: str, value: str | None) -> str:
    return f"{key}-{value}" if value is not None else f"no {key}- entity"


def _run_files(bold: BidsFile, files: list[BidsFile], func: Path, where: dict) -> RunFiles:
    # confounds and masks are written once per run, not per echo
    run_entities = {k: bold.get(k) for k in ("ses", "task", *RUN_ENTITIES) if k != "echo"}
    confounds = [f for suffix in ("timeseries", "regressors")  # "regressors": fMRIPrep < 20.2
                 for f in select(files, suffix, (".tsv",), desc="confounds", space=None,
                                 **run_entities)]
    masks = select(files, "mask", _NIFTI, desc="brain", space=bold.get("space"),
                   res=bold.get("res"), **run_entities)
    stem = bold.path.name.split("_space-")[0]
    mask_name = bold.path.name.replace("_desc-preproc_bold", "_desc-brain_mask")
    for kind, found, expected in (
            ("confounds file", confounds, f"{stem}_desc-confounds_timeseries.tsv"),
            ("brain mask file", masks, mask_name)):
        if not found:
            raise InputError(f"{kind} of {bold.path.name} is missing (looked for {expected})",
                             file=func / expected, **where)
    sidecar = bold.path.with_name(bold.path.name[: -len(bold.extension)] + ".json")
    label = bold.label(RUN_ENTITIES) or "run"
    return RunFiles(label, bold.path, confounds[0].path, masks[0].path,
                    sidecar if sidecar.is_file() else None)


def _tissue_maps(folder: Path, participant_id: str, ses: str | None, space: str,
                 resolution: str | None) -> dict[str, Path]:
    """GM/WM/CSF maps in the BOLD's space and resolution (session anat first, then subject)."""
    folders = [folder / "anat"]
    if ses is not None:
        folders.append(folder.parent / "anat")
    maps: dict[str, Path] = {}
    for key, label in TISSUES.items():
        for anat in folders:
            found = select(list_files(anat), "probseg", _NIFTI, label=label, space=space)
            exact = select(found, res=resolution)
            only = found if len({f.get("res") for f in found}) == 1 else []
            chosen = exact or only
            if chosen:
                maps[key] = chosen[0].path
                break
        else:
            prefix = f"{participant_id}{'_ses-' + ses if ses else ''}"
            res = f"_res-{resolution}" if resolution else ""
            maps[key] = folders[0] / f"{prefix}_space-{space}{res}_label-{label}_probseg.nii.gz"
    return maps
