"""The biomechanics extractor for the cohort runner (:class:`backpheno.extractors.Extractor`).

For one participant × session it finds the BIDS-motion recordings of every configured task in
``sub-XXX/ses-YY/motion/`` and extracts all features. A session without a ``motion`` folder (or
with no task recording) has no biomechanics (``find_inputs`` returns None). Within a session
each task stands alone: a missing task recording gives a ``missing`` QC row and NaN features for
that task, an unreadable one (bad units, gaps, wrong sampling rate...) or one whose features
cannot be computed a ``failed`` row naming the file, and the other tasks are still extracted.
A recording that is physically implausible (:mod:`backpheno.biomech.plausibility`: gravity,
rotation rate against tilt, cadence, duration) is extracted and ``flagged`` with the numbers.
Every participant gets the same feature columns (:func:`backpheno.biomech.features.feature_names`).
"""

from __future__ import annotations

from pathlib import Path

from backpheno.biomech.features import (
    ASYMMETRY_PAIRS,
    MODALITY,
    TRUNK_TASKS,
    TaskResult,
    codebook_rows,
    feature_name,
    feature_names,
)
from backpheno.biomech.gait import gait_features
from backpheno.biomech.io import ImuRecording, find_motion_files, read_bids_motion
from backpheno.biomech.plausibility import implausibilities
from backpheno.biomech.settings import BiomechSettings
from backpheno.biomech.sts import sit_to_stand_features
from backpheno.biomech.tasks import asymmetry_features, trunk_task_features
from backpheno.dataset import Dataset, metadata_files
from backpheno.extractors import ExtractionResult
from backpheno.failures import named_error
from backpheno.table import qc_row


def task_features(task: str, recording: ImuRecording,
                  settings: BiomechSettings | None = None) -> TaskResult:
    """Features of one recording of ``task`` (dispatches to the task's feature function)."""
    settings = settings or BiomechSettings()
    if task in TRUNK_TASKS:
        return trunk_task_features(recording, task, settings)
    if task == "sittostand":
        return sit_to_stand_features(recording, settings)
    if task == "walk":
        return gait_features(recording, settings)
    raise ValueError(f"unknown motion task {task!r}")


def read_task(path: str | Path, task: str, settings: BiomechSettings,
              participant: str | None = None, session: str | None = None) -> ImuRecording:
    """Read one task's BIDS-motion file with the channels the task needs.

    Trunk tasks need accelerometer and gyroscope of both ``T12`` and ``S1``; the walk needs the
    gait sensor's accelerometer; sit-to-stand uses whatever sensors are present.
    """
    if task in TRUNK_TASKS:
        points, gyro = ["T12", "S1"], True
    elif task == "walk":
        points, gyro = [settings.gait_sensor], False
    else:
        points, gyro = None, False
    return read_bids_motion(path, participant=participant, session=session,
                            required_points=points, require_gyro=gyro,
                            max_gap_s=settings.max_gap_s,
                            min_sampling_frequency_hz=settings.min_sampling_frequency_hz,
                            timestamp_tolerance=settings.timestamp_tolerance,
                            default_spatial_axes=settings.default_spatial_axes)


def extract_session(inputs: dict[str, Path], settings: BiomechSettings, participant_id: str,
                    session_id: str) -> tuple[ExtractionResult, dict[str, TaskResult]]:
    """Features, codebook and QC of one session, plus each task's detailed result."""
    results: dict[str, TaskResult] = {}
    for task in settings.tasks:
        if task not in inputs:
            results[task] = TaskResult.unmeasurable(task, "missing", "no recording of this task")
            continue
        doubts: list[str] = []
        try:
            recording = read_task(inputs[task], task, settings, participant_id, session_id)
            doubts = implausibilities(recording, task)
            results[task] = task_features(task, recording, settings)
        except Exception as err:  # noqa: BLE001 - one broken task must not blank the others
            error = named_error(err, [inputs[task], *metadata_files(inputs[task])],
                                participant=participant_id, session=session_id,
                                doing=f"computing {task} features")
            results[task] = TaskResult.unmeasurable(task, "failed",
                                                    "; ".join([str(error), *doubts]))
            continue
        for note in (*recording.notes, *doubts):
            results[task].flag(note)

    names = feature_names(settings.tasks)
    features = dict.fromkeys(names, float("nan"))
    for task, result in results.items():
        for short, value in result.features.items():
            features[feature_name(task, short)] = value
    for group, (left, right) in ASYMMETRY_PAIRS.items():
        if left in results and right in results:
            for short, value in asymmetry_features(results[left], results[right]).items():
                features[feature_name(group, short)] = value
    qc = [qc_row(participant_id, session_id, modality=MODALITY, item=task,
                 status=result.status, reason=result.reason)
          for task, result in results.items()]
    return ExtractionResult(features, codebook_rows(names), qc), results


class BiomechExtractor:
    """Trunk IMU biomechanics: trunk movement tasks, sit-to-stand and walking."""

    modality = MODALITY
    settings_model = BiomechSettings

    def find_inputs(self, dataset: Dataset, participant_id: str, session_id: str,
                    settings: BiomechSettings) -> dict[str, Path] | None:
        """The motion file of each configured task present, or None without recordings."""
        folder = dataset.subject_dir(participant_id, session_id) / "motion"
        if not folder.is_dir():
            return None
        found = find_motion_files(folder, participant_id, session_id, settings.tasks,
                                  settings.tracksys)
        return found or None

    def extract(self, inputs: dict[str, Path], settings: BiomechSettings, participant_id: str,
                session_id: str) -> ExtractionResult:
        """Features of one session (see the module notes for missing and broken tasks)."""
        result, _ = extract_session(inputs, settings, participant_id, session_id)
        return result


#: The extractor object the cohort runner uses.
EXTRACTOR = BiomechExtractor()
