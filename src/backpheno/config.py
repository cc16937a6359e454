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

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

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
    """An absolute, normalised path; a relative one is taken from the config file's folder."""
    base = (info.context or {}).get("base_dir")
    value = Path(value).expanduser()
    if base is not None and not value.is_absolute():
        value = Path(base) / value
    return Path(os.path.abspath(value))


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
# backpheno train
# --------------------------------------------------------------------------------------------


def _default_blocks() -> list[BlockConfig]:
    return [
        BlockConfig(name="questionnaires", modalities=["q"]),
        BlockConfig(name="biomech", modalities=["biomech"]),
        BlockConfig(name="spine", modalities=["spine"], harmonize=True),
        BlockConfig(name="brain", modalities=["brain"], harmonize=True),
    ]


def _valid_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as err:
            raise ValueError(f"not a valid regular expression: {err}") from None
    return value


class BlockConfig(StrictModel):
    """One feature block: columns picked from the codebook by modality (role == feature only)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    modalities: list[str] = Field(min_length=1, description="codebook modalities (q, brain, ...)")
    include: Annotated[str | None, AfterValidator(_valid_regex)] = Field(
        None, description="keep only feature names matching this regular expression")
    exclude: Annotated[str | None, AfterValidator(_valid_regex)] = Field(
        None, description="drop feature names matching this regular expression")
    harmonize: bool = Field(False, description="ComBat across sites inside the fold")
    steps: list[str] = Field(default_factory=list,
                             description="registered block steps applied after ComBat")


class ComBatConfig(StrictModel):
    """Fold-safe ComBat for blocks with ``harmonize: true``."""

    site: str = Field("site", description="outcomes column with the site")
    covariates: list[str] = Field(default_factory=lambda: ["age", "sex"],
                                  description="pre-randomisation covariates to preserve")
    categorical: list[str] = Field(default_factory=lambda: ["sex"])
    unseen_site: Literal["error", "passthrough"] = Field(
        "error", description="a site not in the training fold: refuse, or leave uncorrected")
    min_site_size: int = Field(5, ge=2, description="fewest participants with harmonised "
                                                    "features per site in a training fold")
    small_site: Literal["error", "passthrough"] = Field(
        "error", description="a smaller site: stop the arm, or leave that site uncorrected")
    eb: bool = True
    mean_only: bool = False

    @model_validator(mode="after")
    def _protected_covariates(self) -> ComBatConfig:
        from backpheno.models.harmonize import FORBIDDEN_COVARIATES

        unknown = set(self.categorical) - set(self.covariates)
        if unknown:
            raise ValueError("categorical names columns that are not covariates: "
                             f"{sorted(unknown)}")
        bad = [c for c in self.covariates if re.search(FORBIDDEN_COVARIATES, c, re.IGNORECASE)]
        if bad:
            raise ValueError(f"covariates {bad} look like post-randomisation variables (arm, "
                             "response, outcome); ComBat may only preserve pre-randomisation "
                             "covariates")
        if self.site in self.covariates:
            raise ValueError("the site column cannot also be a covariate")
        return self


class SearchConfig(StrictModel):
    """Inner-loop hyper-parameter search."""

    kind: Literal["grid", "random"] = "grid"
    n_iter: int = Field(10, ge=1, description="candidates of a random search")
    scoring: Literal["roc_auc", "neg_log_loss", "neg_brier_score"] = "roc_auc"
    space: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="model hyper-parameter -> candidate values; names with '__' address other "
                    "pipeline steps (filter__k)")

    @model_validator(mode="after")
    def _non_empty(self) -> SearchConfig:
        empty = [k for k, v in self.space.items() if not v]
        if empty:
            raise ValueError(f"space lists without candidates: {empty}")
        return self


class ModelConfig(StrictModel):
    """The classifier and its hyper-parameters."""

    name: Literal["xgboost", "elastic_net", "random_forest"] = "xgboost"
    params: dict[str, Any] = Field(default_factory=dict, description="fixed hyper-parameters")
    search: SearchConfig = Field(default_factory=SearchConfig)

    @model_validator(mode="after")
    def _known_parameters(self) -> ModelConfig:
        from backpheno.models.pipelines import STEPS, make_estimator

        valid = set(make_estimator(self.name).get_params())
        unknown = [k for k in self.params if k not in valid]
        unknown += [k for k in self.search.space if "__" not in k and k not in valid]
        unknown += [k for k in self.search.space if "__" in k and k.split("__")[0] not in STEPS]
        if unknown:
            raise ValueError(f"unknown hyper-parameters for {self.name}: {unknown}")
        return self


class PreprocessConfig(StrictModel):
    """Imputation, scaling and filtering (all fitted inside the fold)."""

    impute: Literal["auto", "none", "median", "mean"] = Field(
        "auto", description="auto: none for xgboost (native missing values), median otherwise")
    missing_indicator: bool = True
    scale: Literal["auto", "none", "standard"] = Field(
        "auto", description="auto: standardise for elastic_net only")
    filter_k: int | None = Field(None, ge=1, description="keep the k best univariate features")


class CVConfig(StrictModel):
    """Nested cross-validation."""

    scheme: Literal["stratified_kfold", "group_kfold", "leave_group_out"] = "stratified_kfold"
    outer_folds: int = Field(5, ge=2, le=50)
    inner_folds: int = Field(3, ge=2, le=20)
    repeats: int = Field(5, ge=1, le=200)
    groups: str | None = Field(None, description="outcomes column of the groups (e.g. site)")
    min_class_size: int = Field(10, ge=2, description="fewest responders / non-responders "
                                                      "per arm before the arm is skipped")

    @model_validator(mode="after")
    def _groups(self) -> CVConfig:
        if self.scheme != "stratified_kfold" and not self.groups:
            raise ValueError(f"scheme {self.scheme} needs groups (an outcomes column)")
        if self.scheme == "leave_group_out" and self.repeats != 1:
            raise ValueError("leave_group_out is deterministic: set repeats to 1")
        return self


class PermutationConfig(StrictModel):
    """Permutation test of the out-of-fold AUC (whole pipeline refitted per permutation)."""

    n_permutations: int = Field(0, ge=0, le=100_000)
    repeats: int = Field(1, ge=1, description="outer repeats per permuted run (and in the "
                                              "observed statistic)")
    strata: str | None = Field(None, description="outcomes column to permute within (e.g. site)")


class MetricsConfig(StrictModel):
    """Uncertainty and calibration settings."""

    level: float = Field(0.95, gt=0.5, lt=1.0, description="confidence level")
    n_bootstrap: int = Field(1000, ge=0)
    threshold: Literal["prevalence"] | Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        "prevalence", description="prevalence: each prediction is thresholded at its training "
                                  "fold's responder rate")
    calibration_bins: int = Field(10, ge=2, le=50)
    min_group_size: int = Field(10, ge=2, description="smallest site reported with metrics")


class TrainConfig(StrictModel):
    """Settings of ``backpheno train``: per-arm response classifiers."""

    name: str = Field("train", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    features: InputPath = Field(description="FeatureTable Parquet")
    outcomes: InputPath = Field(description="outcomes Parquet, one row per participant")
    output: OutputPath = Field(Path("runs"), description="folder receiving the run directory")
    session: str = Field("ses-V0", pattern=r"^ses-[A-Za-z0-9]+$")
    arm_column: str = "arm1"
    arms: list[str] = Field(default_factory=lambda: list(DEFAULT_ARMS), min_length=1)
    target: str = "responder"
    population: Literal["deep", "all"] = Field(
        "deep", description="deep: deep-phenotyped participants only; all: everyone, missing "
                            "blocks left missing")
    deep_column: str = "deep_phenotyping"
    subset: dict[str, list[str | bool | int | float]] = Field(
        default_factory=dict, description="keep rows whose outcomes column is one of the values")
    blocks: list[BlockConfig] = Field(default_factory=_default_blocks, min_length=1)
    combat: ComBatConfig = Field(default_factory=ComBatConfig)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    cv: CVConfig = Field(default_factory=CVConfig)
    permutation: PermutationConfig = Field(default_factory=PermutationConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    n_jobs: int = Field(1, ge=1, le=256)
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if len(set(self.arms)) != len(self.arms):
            raise ValueError("arms must be unique")
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError(f"block names must be unique, got {names}")
        leaking = {self.target, self.arm_column} & set(self.combat.covariates)
        if leaking:
            raise ValueError(f"combat.covariates include {sorted(leaking)} (the target or arm)")
        harmonized = any(b.harmonize for b in self.blocks)
        if (harmonized and self.cv.scheme == "leave_group_out"
                and self.cv.groups == self.combat.site and self.combat.unseen_site == "error"):
            raise ValueError("leave-site-out CV holds out sites that ComBat never saw: set "
                             "combat.unseen_site to passthrough")
        if self.permutation.repeats > self.cv.repeats:
            raise ValueError("permutation.repeats cannot exceed cv.repeats")
        if self.target in (self.arm_column,):
            raise ValueError("target and arm_column must differ")
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
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte {err.object[err.start]:#04x} "
                          f"at offset {err.start}); save the file as UTF-8") from None
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
