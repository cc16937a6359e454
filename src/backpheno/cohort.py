"""Run per-participant extractors over a whole dataset: parallel, cached, resumable, isolated.

Each participant × session × modality is one task. A task's result is cached on disk under a
key made of the SHA-256 checksums of the input files and of every BIDS metadata file that
applies to them (sidecars, channels tables, inherited dataset- or subject-level metadata), the
modality settings and the package version,
so a rerun (or a run resumed after being killed) skips finished work and ends with the same
table as an uninterrupted run. Tasks run in local worker processes (joblib) or on an existing
Dask distributed cluster (``scheduler_address``) through the same function. A task that raises
becomes a ``failed`` QC row with the error; every other task still finishes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed
from pydantic import BaseModel

from backpheno import __version__
from backpheno.dataset import Dataset, metadata_files
from backpheno.errors import BackphenoError
from backpheno.extractors import ExtractionResult, Extractor
from backpheno.failures import named_error
from backpheno.io import file_sha256, read_json, write_json
from backpheno.progress import progress_bar
from backpheno.table import FeatureTable, flag_out_of_range, make_codebook, make_qc, qc_row

logger = logging.getLogger("backpheno.cohort")


@dataclass(frozen=True)
class Task:
    """One participant × session × modality and its input files."""

    modality: str
    participant_id: str
    session_id: str
    inputs: dict[str, Path]


@dataclass
class TaskOutcome:
    """What a task produced: features, codebook and QC rows, and whether it came from cache."""

    task: Task
    features: dict[str, float] = field(default_factory=dict)
    codebook: list[dict[str, object]] = field(default_factory=list)
    qc: list[dict[str, object]] = field(default_factory=list)
    cached: bool = False
    failed: bool = False


@dataclass
class CohortResult:
    """The assembled table and a summary of the run."""

    table: FeatureTable
    n_tasks: int
    n_cached: int
    failures: list[dict[str, object]]


def plan_tasks(dataset: Dataset, extractors: Mapping[str, tuple[Extractor, BaseModel]],
               sessions: Iterable[str]) -> tuple[list[Task], list[dict[str, object]]]:
    """Find every task's inputs; problems finding inputs become QC rows, not exceptions.

    Returns
    -------
    tasks : list of Task
    qc : list of dict
        ``failed`` rows for participants whose inputs are incomplete, ``missing`` rows for
        deep-phenotyped participants with no files for a modality.
    """
    tasks, qc = [], []
    deep = dataset.participants["deep_phenotyping"].fillna(False)
    for pid in dataset.participant_ids:
        for session in sessions:
            for modality, (extractor, settings) in extractors.items():
                try:
                    inputs = extractor.find_inputs(dataset, pid, session, settings)
                except BackphenoError as err:
                    qc.append(qc_row(pid, session, modality=modality, item="*",
                                     status="failed", reason=str(err)))
                    continue
                if inputs is None:
                    if deep.get(pid, False):
                        qc.append(qc_row(pid, session, modality=modality, item="*",
                                         status="missing",
                                         reason=f"no {modality} files for this session"))
                    continue
                tasks.append(Task(modality, pid, session, dict(inputs)))
    return tasks, qc


def task_key(task: Task, settings: BaseModel) -> str:
    """Cache key: SHA-256 of the version, modality, settings and the checksums of the inputs
    and of their BIDS metadata (:func:`backpheno.dataset.metadata_files`)."""
    digest = hashlib.sha256()
    digest.update(f"backpheno {__version__}\n{task.modality}\n".encode())
    digest.update(settings.model_dump_json().encode())
    metadata: dict[str, Path] = {}
    for name in sorted(task.inputs):
        path = Path(task.inputs[name])
        digest.update(f"\n{name}={file_sha256(path) if path.is_file() else 'missing'}".encode())
        # named relative to the data file, so the key does not depend on the dataset's place
        metadata.update({os.path.relpath(m, path.parent): m for m in metadata_files(path)})
    for name in sorted(metadata):
        digest.update(f"\nmetadata {name}={file_sha256(metadata[name])}".encode())
    return digest.hexdigest()


def run_task(task: Task, extractor: Extractor, settings: BaseModel,
             cache_dir: Path) -> TaskOutcome:
    """Run one task, or load it from the cache; never raises for a participant's bad data."""
    try:
        key = task_key(task, settings)
    except OSError as err:
        return _failed(task, f"cannot read inputs: {err}")
    folder = Path(cache_dir) / task.modality / task.participant_id
    path = folder / f"{task.session_id}_{key[:32]}.json"
    if path.is_file():
        try:
            payload = read_json(path)
            return TaskOutcome(task, _floats(payload["features"]), payload["codebook"],
                               payload["qc"], cached=True)
        except (BackphenoError, KeyError):
            logger.warning("ignoring unreadable cache entry %s", path)
    try:
        result: ExtractionResult = extractor.extract(task.inputs, settings, task.participant_id,
                                                     task.session_id)
    except Exception as err:  # noqa: BLE001 - one participant's failure must not stop a cohort
        files = [*task.inputs.values(), *(m for p in task.inputs.values()
                                          for m in metadata_files(p))]
        error = named_error(err, files, participant=task.participant_id,
                            session=task.session_id, doing=f"{task.modality} extraction")
        return _failed(task, str(error))
    payload = {"features": {k: _jsonable(v) for k, v in result.features.items()},
               "codebook": result.codebook, "qc": result.qc}
    write_json(path, payload)
    return TaskOutcome(task, _floats(payload["features"]), result.codebook, result.qc)


def extract_cohort(
    dataset: Dataset,
    extractors: Mapping[str, tuple[Extractor, BaseModel]],
    cache_dir: str | Path,
    sessions: Iterable[str] = ("ses-V0",),
    n_jobs: int = 1,
    scheduler_address: str | None = None,
    extra: Iterable[FeatureTable] = (),
) -> CohortResult:
    """Run every extractor over every participant × session and assemble one FeatureTable.

    Parameters
    ----------
    dataset : Dataset
    extractors : mapping
        Modality name → (extractor, its settings).
    cache_dir : str or Path
        Where per-task results are cached.
    sessions : iterable of str
        Sessions the per-participant extractors look at.
    n_jobs : int
        Local worker processes (ignored with ``scheduler_address``).
    scheduler_address : str, optional
        Address of a running Dask distributed scheduler (``tcp://host:8786``) or a
        ``distributed.Client``; workers must see the dataset and cache folders.
    extra : iterable of FeatureTable
        Tables computed for the whole cohort at once (questionnaire scores), joined in.
    """
    tasks, qc_rows = plan_tasks(dataset, extractors, list(sessions))
    outcomes = _execute(tasks, extractors, Path(cache_dir), n_jobs, scheduler_address)
    order = {m: i for i, m in enumerate(extractors)}
    outcomes.sort(key=lambda o: (order[o.task.modality], o.task.participant_id,
                                 o.task.session_id))
    frames, codebook_rows, failures = [], [], []
    for outcome in outcomes:
        t = outcome.task
        qc_rows.extend(outcome.qc)
        if outcome.failed:
            failures.append(outcome.qc[0])
            continue
        codebook_rows.extend(outcome.codebook)
        frames.append(pd.DataFrame([outcome.features],
                                   index=pd.MultiIndex.from_tuples(
                                       [(t.participant_id, t.session_id)],
                                       names=["participant_id", "session_id"])))
    data = _combine(frames)
    codebook = make_codebook(codebook_rows) if codebook_rows else make_codebook([])
    qc = make_qc(qc_rows)
    failures.extend(r for r in qc_rows if r["status"] == "failed" and r not in failures)
    table = FeatureTable(data, codebook, qc)
    for other in extra:
        table = join_tables(table, other)
    table = flag_out_of_range(table)
    n_cached = sum(o.cached for o in outcomes)
    return CohortResult(table, len(tasks), n_cached, failures)


def join_tables(left: FeatureTable, right: FeatureTable) -> FeatureTable:
    """Outer-join two feature tables on (participant_id, session_id)."""
    clash = set(left.data.columns) & set(right.data.columns)
    if clash:
        raise ValueError(f"feature names in both tables: {sorted(clash)[:5]}")
    data = right.data.join(left.data, how="outer") if len(left.data.columns) else right.data
    data = data.sort_index()
    codebook = pd.concat([right.codebook, left.codebook])
    qc = pd.concat([right.qc, left.qc], ignore_index=True)
    return FeatureTable(data, codebook, make_qc(qc.to_dict("records")),
                        {**left.metadata, **right.metadata})


def _execute(tasks: list[Task], extractors: Mapping[str, tuple[Extractor, BaseModel]],
             cache_dir: Path, n_jobs: int, scheduler_address: str | None) -> list[TaskOutcome]:
    outcomes: list[TaskOutcome] = []
    with progress_bar(len(tasks), "extracting") as advance:
        if scheduler_address is not None or n_jobs != 1:
            tasks = _warm_up(tasks, extractors, cache_dir, outcomes, advance)
        if scheduler_address is not None:
            from distributed import Client, as_completed

            client = scheduler_address if isinstance(scheduler_address, Client) \
                else Client(scheduler_address)
            try:
                futures = [client.submit(run_task, t, *extractors[t.modality], cache_dir,
                                         pure=False) for t in tasks]
                for future in as_completed(futures):
                    outcomes.append(future.result())
                    advance(1)
            finally:
                if not isinstance(scheduler_address, Client):
                    client.close()
        elif n_jobs == 1:
            for t in tasks:
                outcomes.append(run_task(t, *extractors[t.modality], cache_dir))
                advance(1)
        else:
            runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for outcome in runner(delayed(run_task)(t, *extractors[t.modality], cache_dir)
                                  for t in tasks):
                outcomes.append(outcome)
                advance(1)
    return outcomes


def _warm_up(tasks: list[Task], extractors: Mapping[str, tuple[Extractor, BaseModel]],
             cache_dir: Path, outcomes: list[TaskOutcome],
             advance: Callable[[int], None]) -> list[Task]:
    """Run tasks here until each modality has computed one; return the tasks left for workers.

    Just-in-time compiled kernels (mobgap's numba functions) are thereby compiled and written
    to numba's on-disk cache once, before worker processes start: that cache is not safe to
    build from several processes at once (numba#4807), and workers then only read it.
    """
    warm: set[str] = set()
    announced: set[str] = set()
    left: list[Task] = []
    for t in tasks:
        if t.modality in warm:
            left.append(t)
            continue
        if t.modality not in announced:
            announced.add(t.modality)
            logger.info("%s: first task computed in this process, so that compiled kernels are "
                        "cached once before workers start", t.modality)
        outcome = run_task(t, *extractors[t.modality], cache_dir)
        outcomes.append(outcome)
        advance(1)
        if not outcome.cached:
            warm.add(t.modality)
    return left


def _combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples([], names=["participant_id", "session_id"])
    if not frames:
        return pd.DataFrame(index=index)
    data = pd.concat(frames)
    data = data.groupby(level=["participant_id", "session_id"], sort=True).first()
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    return data[columns].astype(float)


def _failed(task: Task, reason: str) -> TaskOutcome:
    row = qc_row(task.participant_id, task.session_id, modality=task.modality, item="*",
                 status="failed", reason=reason)
    return TaskOutcome(task, qc=[row], failed=True)


def _jsonable(value: object) -> float | None:
    value = float(value)  # type: ignore[arg-type]
    return None if math.isnan(value) else value


def _floats(features: dict[str, float | None]) -> dict[str, float]:
    return {k: (math.nan if v is None else float(v)) for k, v in features.items()}


def summary(result: CohortResult) -> str:
    """One paragraph for the terminal: tasks, cache hits, failures by modality."""
    lines = [f"{result.n_tasks} extraction tasks, {result.n_cached} from cache, "
             f"{len(result.failures)} failed"]
    by_modality: dict[str, int] = {}
    for row in result.failures:
        by_modality[str(row["modality"])] = by_modality.get(str(row["modality"]), 0) + 1
    for modality, count in sorted(by_modality.items()):
        lines.append(f"  {modality}: {count} failed")
    for row in result.failures[:10]:
        lines.append(f"  - {row['participant_id']} {row['session_id']} {row['modality']}: "
                     f"{row['reason']}")
    return "\n".join(lines)


def write_json_summary(path: Path, result: CohortResult) -> None:
    """Write the run summary (counts and failures) as JSON."""
    write_json(path, {"n_tasks": result.n_tasks, "n_cached": result.n_cached,
                      "failures": json.loads(json.dumps(result.failures, default=str))})
