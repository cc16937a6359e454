"""Biomechanics from trunk IMUs: range of motion, velocity, smoothness, sit-to-stand and gait.

Two inertial sensors, on the thoracolumbar junction (``T12``) and the sacrum (``S1``), record
accelerometer and gyroscope data of the BACPAC trunk movement tasks (flexion, extension, lateral
bending and axial rotation to each side), a five-times sit-to-stand and a walk. The modules:

``io``            read BIDS motion or CSV into :class:`ImuRecording` (units, axes, gaps, rates)
``orientation``   6-DoF orientation (mobgap's numba Madgwick; ``ahrs`` as a cross-check)
``angles``        static baseline, segment frames, lumbar = R_S1⁻¹·R_T12, Cardan YZX angles
``segmentation``  repetitions of a movement in an angle trace
``smoothness``    SPARC and log dimensionless jerk
``tasks``         trunk movement task features and left-right asymmetry
``sts``           sit-to-stand transitions and five-times sit-to-stand features
``gait``          mobgap lower-back pipeline, steady-state strides, regularity and symmetry
``validation``    walking features against the INDIP reference on mobgap's lab recordings
``features``      feature catalogue (names, units, codebook) and :class:`TaskResult`
``extractor``     the cohort-runner extractor :data:`EXTRACTOR` and its settings

Example
-------
>>> from backpheno.biomech import read_bids_motion, trunk_task_features  # doctest: +SKIP
>>> recording = read_bids_motion("sub-001_ses-V0_task-flexion_tracksys-imu_motion.tsv")
>>> result = trunk_task_features(recording, "flexion")
>>> result.features["lumbar_rom_deg"], result.signals.plot()
"""

from backpheno.biomech.angles import TrunkAngles, trunk_angles
from backpheno.biomech.extractor import EXTRACTOR, BiomechExtractor, extract_session, task_features
from backpheno.biomech.features import TaskResult, feature_names
from backpheno.biomech.gait import gait_features
from backpheno.biomech.io import ImuRecording, read_bids_motion, read_csv_recording
from backpheno.biomech.orientation import estimate_orientation
from backpheno.biomech.segmentation import detect_repetitions
from backpheno.biomech.settings import BiomechSettings
from backpheno.biomech.smoothness import log_dimensionless_jerk, sparc
from backpheno.biomech.sts import detect_transitions, sit_to_stand_features
from backpheno.biomech.tasks import trunk_task_features

__all__ = [
    "EXTRACTOR",
    "BiomechExtractor",
    "BiomechSettings",
    "ImuRecording",
    "TaskResult",
    "TrunkAngles",
    "detect_repetitions",
    "detect_transitions",
    "estimate_orientation",
    "extract_session",
    "feature_names",
    "gait_features",
    "log_dimensionless_jerk",
    "read_bids_motion",
    "read_csv_recording",
    "sit_to_stand_features",
    "sparc",
    "task_features",
    "trunk_angles",
    "trunk_task_features",
]
