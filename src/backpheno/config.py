"""Configuration models for every YAML under ``configs/``.

All models forbid unknown keys and check types, value ranges and paths when they are loaded, so a
bad configuration fails before any work starts. :func:`load_config` turns pydantic's errors into
one :class:`~backpheno.errors.ConfigError` that lists every offending key path, for example::

    configs/demo_simulate.yaml: invalid configuration
      - participants: Input should be greater than or equal to 8 (got 3)
      - brain.resolution_mm: Extra inputs are not permitted

Relative paths in a YAML file are resolved against the folder of that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from backpheno.dataset import DEFAULT_ARMS
from backpheno.errors import ConfigError

T = TypeVar("T", bound=BaseModel)

#: The latent traits the synthetic cohort is built from.
TRAITS = ("nociplastic", "distress", "mechanical", "fear_avoidance")


def _resolve(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    value = Path(value).expanduser()
    if base is not None and not value.is_absolute():
        value = Path(base) / value
    return value


def _resolve_existing(value: Path, info: ValidationInfo) -> Path:
    value = _resolve(value, info)
    if not value.exists():
        raise ValueError(f"path does not exist: {value}")
    return value


#: A path that must exist when the configuration is loaded.
InputPath = Annotated[Path, AfterValidator(_resolve_existing)]
#: A path that will be written (resolved, not required to exist).
OutputPath = Annotated[Path, AfterValidator(_resolve)]


class StrictModel(BaseModel):
    """Base model: unknown keys are errors, defaults are validated, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True, validate_assignment=True)


# --------------------------------------------------------------------------------------------
# backpheno simulate
# --------------------------------------------------------------------------------------------


class ResponseModelConfig(StrictModel):
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
    def _known_traits(self) -> ResponseModelConfig:
        unknown = set(self.prognostic) - set(TRAITS)
        for effects in self.moderation.values():
            unknown |= set(effects) - set(TRAITS)
        if unknown:
            raise ValueError(f"unknown traits {sorted(unknown)}; known: {list(TRAITS)}")
        return self


class BrainSimConfig(StrictModel):
    """Synthetic fMRIPrep derivatives."""

    resolution_mm: float = Field(4.0, ge=1.0, le=8.0, description="voxel size of the MNI grid")
    n_volumes: int = Field(120, ge=20, le=2000)
    repetition_time: float = Field(2.0, gt=0.2, le=5.0, description="seconds")
    high_motion_fraction: float = Field(0.04, ge=0.0, le=0.5,
                                        description="share of volumes with a motion spike")


class SpineSimConfig(StrictModel):
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
    def _positive_geometry(self) -> SpineSimConfig:
        for key in ("sagittal_voxel_mm", "axial_voxel_mm", "sagittal_fov_mm", "axial_fov_mm"):
            if min(getattr(self, key)) <= 0:
                raise ValueError(f"{key} must be positive")
        if min(self.sagittal_fov_mm[:2]) < 120 or self.axial_fov_mm[0] < 160:
            raise ValueError("fields of view too small for a lumbar spine")
        return self


class MotionSimConfig(StrictModel):
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
    response: ResponseModelConfig = Field(default_factory=ResponseModelConfig)
    moderators: bool = Field(True, description="False: no arm-specific trait effects")
    null_arms: list[str] = Field(default_factory=list,
                                 description="arms whose response does not depend on any trait")
    brain: BrainSimConfig = Field(default_factory=BrainSimConfig)
    spine: SpineSimConfig = Field(default_factory=SpineSimConfig)
    motion: MotionSimConfig = Field(default_factory=MotionSimConfig)
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


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def load_config(path: str | Path, model: type[T], overrides: dict[str, Any] | None = None) -> T:
    """Load and validate a YAML configuration file.

    Parameters
    ----------
    path : str or Path
        The YAML file. Relative paths inside it are resolved against its folder.
    model : type
        The pydantic model to validate against.
    overrides : dict, optional
        Dotted keys (``"brain.n_volumes"``) and values applied on top of the file, typically from
        command-line options; ``None`` values are ignored.

    Raises
    ------
    ConfigError
        If the file is missing, is not YAML, or fails validation; the message lists every key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
    return validate_config(data, model, source=str(path), base_dir=path.parent)


def validate_config(data: dict[str, Any], model: type[T], source: str = "<config>",
                    base_dir: Path | None = None) -> T:
    """Validate a mapping against ``model``, raising :class:`ConfigError` with key paths."""
    try:
        return model.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line per problem: ``<dotted.key.path>: <message> (got <value>)``."""
    lines = [f"{source}: invalid configuration"]
    for problem in err.errors():
        loc = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        got = problem.get("input")
        hide = problem["type"] == "missing" or isinstance(got, dict)
        shown = "" if hide else f" (got {got!r})"
        lines.append(f"  - {loc}: {message}{shown}")
    return "\n".join(lines)


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot override {key}: {part} is not a mapping")
    node[last] = value
