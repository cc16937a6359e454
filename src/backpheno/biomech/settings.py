"""Settings of the biomechanics extractor (the ``biomech`` section of an extract config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from backpheno.config import StrictModel
from backpheno.dataset import MOTION_TASKS


class BiomechSettings(StrictModel):
    """How trunk IMU recordings are read and turned into features.

    Every field has a default that follows the conventions documented in
    :mod:`backpheno.biomech`; change them only with a reason written down.
    """

    tasks: list[str] = Field(default_factory=lambda: list(MOTION_TASKS), min_length=1,
                             description="BIDS task labels to extract")
    tracksys: str = Field("imu", description="BIDS tracksys label of the IMU recordings")

    # reading
    max_gap_s: float = Field(0.1, ge=0.0, le=2.0,
                             description="longest run of missing samples interpolated (s)")
    min_sampling_frequency_hz: float = Field(50.0, ge=10.0, le=1000.0,
                                             description="lowest accepted SamplingFrequency (Hz)")
    timestamp_tolerance: float = Field(0.25, gt=0.0, le=1.0,
                                       description="largest timestamp jitter, fraction of the "
                                                   "sampling period")
    default_spatial_axes: str = Field("SRA", description="BIDS SpatialAxes when files state none")

    # orientation and angles
    orientation_method: Literal["madgwick", "ahrs_madgwick"] = "madgwick"
    madgwick_beta: float = Field(0.02, gt=0.0, le=2.0, description="Madgwick gain (rad/s)")
    baseline_window_s: float = Field(1.0, gt=0.0, le=10.0,
                                     description="length of the static standing baseline (s)")
    baseline_search_s: float = Field(5.0, gt=0.0, le=60.0,
                                     description="the baseline is searched in the first seconds")
    still_gyro_dps: float = Field(5.0, gt=0.0, le=50.0,
                                  description="largest mean gyroscope norm of a still baseline")

    # trunk movement tasks
    expected_repetitions: int | None = Field(3, ge=1, le=20,
                                             description="protocol repetitions; fewer is flagged")
    min_rom_deg: float = Field(5.0, gt=0.0, le=45.0,
                               description="smallest excursion counted as a repetition (deg)")
    onset_fraction: float = Field(0.05, gt=0.0, lt=0.5,
                                  description="repetition start/end threshold, share of its peak")
    min_separation_s: float = Field(1.0, gt=0.0, le=10.0,
                                    description="shortest time between repetition peaks (s)")
    lowpass_hz: float = Field(6.0, gt=0.5, le=25.0,
                              description="low-pass cut-off before differentiating angles and "
                                          "before smoothness metrics (Hz)")
    sparc_padlevel: int = Field(4, ge=0, le=8)
    sparc_fc_hz: float = Field(10.0, gt=0.0, le=50.0)
    sparc_amplitude_threshold: float = Field(0.05, gt=0.0, lt=1.0)

    # sit-to-stand
    sts_rises: int = Field(5, ge=1, le=20, description="rises timed by the test")
    sts_min_displacement_m: float = Field(0.2, gt=0.0, le=1.0,
                                          description="smallest vertical pelvis displacement of "
                                                      "a transition (m)")
    sts_min_peak_velocity_mps: float = Field(0.3, gt=0.0, le=3.0,
                                             description="smallest peak vertical velocity of a "
                                                         "transition (m/s)")

    # walking
    gait_pipeline: Literal["healthy", "impaired"] = Field(
        "healthy", description="mobgap's MobilisedPipelineHealthy (P1) or Impaired (P2)")
    stride_length_factor: Literal["ms_all", "ms_ms"] = Field(
        "ms_all", description="SlZijlstra scaling factor tuned on all MsProject participants "
                              "(ms_all) or on people with MS only (ms_ms)")
    steady_state_trim_strides: int = Field(2, ge=0, le=10,
                                           description="strides dropped at each end of a walking "
                                                       "bout (gait initiation and termination)")
    sensor_height_m: float = Field(0.95, gt=0.3, le=1.5,
                                   description="S1 sensor height when the recording's "
                                               "SensorHeight metadata is missing (m)")
    gait_sensor: str = Field("S1", description="tracked point used for gait (lower back)")

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(MOTION_TASKS))
        if unknown:
            raise ValueError(f"unknown motion tasks {unknown}; known: {list(MOTION_TASKS)}")
        return value
