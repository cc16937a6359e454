"""Settings of ``backpheno simulate`` (:class:`SimulateConfig`) and its sections."""

from __future__ import annotations

from pydantic import Field, model_validator

from backpheno.config import StrictModel
from backpheno.dataset import DEFAULT_ARMS

#: The latent traits the synthetic cohort is built from.
TRAITS = ("nociplastic", "distress", "mechanical", "fear_avoidance")




class ResponseModelSettings(StrictModel):
    """How latent traits set each participant's stage-1 response probability per arm.

    ``logit p_arm(x) = intercept[arm] + sum_t (prognostic[t] + moderation[arm][t]) * x_t``, with
    the traits x standard normal. Prognostic effects are shared by every arm; moderation effects
    are arm-specific (the planted moderators).
    """

    intercept: dict[str, float] = Field(
        default_factory=lambda: {"ESC": -0.85, "ACT": -0.65, "EBEM": -0.6, "DUL": -0.7}
    )
    prognostic: dict[str, float] = Field(
        default_factory=lambda: {"nociplastic": -0.2, "distress": -0.2, "mechanical": 0.0,
                                 "fear_avoidance": -0.1}
    )
    moderation: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "ESC": {},
            "ACT": {"distress": 1.1, "fear_avoidance": 0.5},
            "EBEM": {"mechanical": 1.2, "fear_avoidance": -0.4},
            "DUL": {"nociplastic": 1.3},
        }
    )

    @model_validator(mode="after")
    def _known_traits(self) -> ResponseModelSettings:
        unknown = set(self.prognostic) - set(TRAITS)
        for effects in self.moderation.values():
            unknown |= set(effects) - set(TRAITS)
        if unknown:
            raise ValueError(f"unknown traits {sorted(unknown)}; known: {list(TRAITS)}")
        return self


class BrainSimSettings(StrictModel):
    """Synthetic fMRIPrep derivatives."""

    resolution_mm: float = Field(4.0, ge=1.0, le=8.0, description="voxel size of the MNI grid")
    n_volumes: int = Field(120, ge=20, le=2000)
    repetition_time: float = Field(2.0, gt=0.2, le=5.0, description="seconds")
    high_motion_fraction: float = Field(0.04, ge=0.0, le=0.5,
                                        description="share of volumes with a motion spike")


class SpineSimSettings(StrictModel):
    """Synthetic lumbar MRI (sagittal T2 + labels, axial fat fraction + muscle labels).

    Voxel sizes are in file axis order: sagittal (superior-inferior, anterior-posterior,
    left-right slice thickness), axial (left-right, anterior-posterior, slice thickness).
    """

    sagittal_voxel_mm: tuple[float, float, float] = (1.0, 1.0, 3.0)
    axial_voxel_mm: tuple[float, float, float] = (1.0, 1.0, 5.0)
    sagittal_fov_mm: tuple[float, float, float] = Field(
        (270.0, 120.0, 72.0), description="superior-inferior, anterior-posterior, left-right")
    axial_fov_mm: tuple[float, float, float] = Field(
        (200.0, 170.0, 60.0), description="left-right, anterior-posterior, superior-inferior")
    sagittal_fat_fraction: bool = Field(
        True, description="also write a sagittal Dixon fat-fraction map (vertebral body fat)")
    noise: float = Field(0.02, ge=0.0, le=0.3,
                         description="image noise SD relative to the CSF signal")

    @model_validator(mode="after")
    def _positive_geometry(self) -> SpineSimSettings:
        for key in ("sagittal_voxel_mm", "axial_voxel_mm", "sagittal_fov_mm", "axial_fov_mm"):
            if min(getattr(self, key)) <= 0:
                raise ValueError(f"{key} must be positive")
        if min(self.sagittal_fov_mm[:2]) < 120 or self.axial_fov_mm[0] < 160:
            raise ValueError("fields of view too small for a lumbar spine")
        return self


class MotionSimSettings(StrictModel):
    """Synthetic BIDS-motion IMU recordings."""

    sampling_frequency: float = Field(100.0, ge=50.0, le=1000.0, description="Hz")
    repetitions: int = Field(3, ge=1, le=10, description="repetitions per trunk movement task")
    walk_duration_s: float = Field(30.0, ge=12.0, le=600.0,
                                   description="seconds of the straight-walk recording")
    noise_scale: float = Field(1.0, ge=0.0, le=10.0,
                               description="multiplies the simulated sensor noise and bias")


class SimulateConfig(StrictModel):
    """Settings of ``backpheno simulate``."""

    participants: int = Field(60, ge=8, le=100_000)
    deep_fraction: float = Field(0.25, ge=0.0, le=1.0,
                                 description="share of participants with deep phenotyping")
    sites: list[str] = Field(default_factory=lambda: ["site01", "site02", "site03", "site04"],
                             min_length=1)
    seed: int = Field(0, ge=0)
    arms: list[str] = Field(default_factory=lambda: list(DEFAULT_ARMS), min_length=2)
    ineligible_fraction: float = Field(0.2, ge=0.0, le=1.0,
                                       description="share with one contraindicated arm")
    deep_sessions: list[str] = Field(default_factory=lambda: ["ses-V0"], min_length=1)
    item_missing_rate: float = Field(0.01, ge=0.0, le=0.5,
                                     description="share of questionnaire answers left empty")
    dropout_rate: float = Field(0.04, ge=0.0, le=0.5,
                                description="share of participants missing from V1 on")
    response: ResponseModelSettings = Field(default_factory=ResponseModelSettings)
    moderators: bool = Field(True, description="False: no arm-specific trait effects")
    null_arms: list[str] = Field(default_factory=list,
                                 description="arms whose response does not depend on any trait")
    brain: BrainSimSettings = Field(default_factory=BrainSimSettings)
    spine: SpineSimSettings = Field(default_factory=SpineSimSettings)
    motion: MotionSimSettings = Field(default_factory=MotionSimSettings)
    n_jobs: int = Field(1, ge=1, le=256)

    @model_validator(mode="after")
    def _consistent_arms(self) -> SimulateConfig:
        arms = set(self.arms)
        if len(arms) != len(self.arms):
            raise ValueError("arms must be unique")
        for name, keys in (("response.intercept", self.response.intercept),
                           ("response.moderation", self.response.moderation)):
            unknown = set(keys) - arms
            if unknown:
                raise ValueError(f"{name} names arms not in arms: {sorted(unknown)}")
        missing = arms - set(self.response.intercept)
        if missing:
            raise ValueError(f"response.intercept lacks arms {sorted(missing)}")
        unknown = set(self.null_arms) - arms
        if unknown:
            raise ValueError(f"null_arms names unknown arms {sorted(unknown)}")
        if len(set(self.sites)) != len(self.sites):
            raise ValueError("sites must be unique")
        return self
