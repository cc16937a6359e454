"""Settings of ``backpheno train`` (:class:`TrainConfig`) and its sections."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from backpheno.config import InputPath, OutputPath, StrictModel
from backpheno.dataset import DEFAULT_ARMS
from backpheno.errors import ConfigError
from backpheno.models.harmonize import FORBIDDEN_COVARIATES
from backpheno.models.pipelines import STEPS, TASKS, make_estimator


def _default_blocks() -> list[BlockSettings]:
    return [
        BlockSettings(name="questionnaires", modalities=["q"]),
        BlockSettings(name="biomech", modalities=["biomech"]),
        BlockSettings(name="spine", modalities=["spine"], harmonize=True),
        BlockSettings(name="brain", modalities=["brain"], harmonize=True),
        BlockSettings(name="clinical", modalities=["clinical"]),
    ]


def _valid_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as err:
            raise ValueError(f"not a valid regular expression: {err}") from None
    return value


def _arm_names(value: Any) -> Any:
    """Arm labels may be written as numbers (``[0, 1]``); they are compared as text."""
    if isinstance(value, list):
        return [str(int(v)) if isinstance(v, float) and v.is_integer()
                else str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for v in value]
    return value


class BlockSettings(StrictModel):
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


class ComBatSettings(StrictModel):
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
    def _protected_covariates(self) -> ComBatSettings:
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


class SearchSettings(StrictModel):
    """Inner-loop hyper-parameter search."""

    kind: Literal["grid", "random"] = "grid"
    n_iter: int = Field(10, ge=1, description="candidates of a random search")
    scoring: Literal[
        "roc_auc", "neg_log_loss", "neg_brier_score",
        "neg_mean_squared_error", "neg_mean_absolute_error", "r2"] | None = Field(
        None, description="inner-search scorer; default roc_auc (classification) or "
                          "neg_mean_squared_error (regression)")
    space: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="model hyper-parameter -> candidate values; names with '__' address other "
                    "pipeline steps (filter__k)")

    @model_validator(mode="after")
    def _non_empty(self) -> SearchSettings:
        empty = [k for k, v in self.space.items() if not v]
        if empty:
            raise ValueError(f"space lists without candidates: {empty}")
        return self


class ModelSettings(StrictModel):
    """The classifier and its hyper-parameters."""

    name: Literal["xgboost", "elastic_net", "random_forest"] = "xgboost"
    params: dict[str, Any] = Field(default_factory=dict, description="fixed hyper-parameters")
    search: SearchSettings = Field(default_factory=SearchSettings)
    device: Literal["cpu", "cuda", "auto"] = Field(
        "cpu", description="where xgboost trains: cpu, cuda (an error without a GPU) or auto "
                           "(cuda when there is a GPU)")

    @model_validator(mode="after")
    def _known_parameters(self) -> ModelSettings:
        if self.device == "cuda" and self.name != "xgboost":
            raise ValueError(f"device: cuda applies to xgboost only, not {self.name}")
        unknown = self.unknown_parameters(TASKS)
        if unknown:
            raise ValueError(f"unknown hyper-parameters for {self.name}: {unknown}")
        return self

    def unknown_parameters(self, tasks: tuple[str, ...]) -> list[str]:
        """Hyper-parameter names that the model of none of ``tasks`` accepts."""
        valid = {k for t in tasks for k in make_estimator(self.name, task=t).get_params()}
        unknown = [k for k in self.params if k not in valid]
        unknown += [k for k in self.search.space if "__" not in k and k not in valid]
        unknown += [k for k in self.search.space if "__" in k and k.split("__")[0] not in STEPS]
        return unknown


class PreprocessSettings(StrictModel):
    """Imputation, scaling and filtering (all fitted inside the fold)."""

    impute: Literal["auto", "none", "median", "mean"] = Field(
        "auto", description="auto: none for xgboost (native missing values), median otherwise")
    missing_indicator: bool = True
    scale: Literal["auto", "none", "standard"] = Field(
        "auto", description="auto: standardise for elastic_net only")
    filter_k: int | None = Field(None, ge=1, description="keep the k best univariate features")


class CVSettings(StrictModel):
    """Nested cross-validation."""

    scheme: Literal["stratified_kfold", "group_kfold", "leave_group_out"] = "stratified_kfold"
    outer_folds: int = Field(5, ge=2, le=50)
    inner_folds: int = Field(3, ge=2, le=20)
    repeats: int = Field(5, ge=1, le=200)
    groups: str | None = Field(None, description="outcomes column of the groups (e.g. site)")
    min_class_size: int = Field(10, ge=2, description="fewest responders / non-responders "
                                                      "per arm before the arm is skipped")

    @model_validator(mode="after")
    def _groups(self) -> CVSettings:
        if self.scheme != "stratified_kfold" and not self.groups:
            raise ValueError(f"scheme {self.scheme} needs groups (an outcomes column)")
        if self.scheme == "leave_group_out" and self.repeats != 1:
            raise ValueError("leave_group_out is deterministic: set repeats to 1")
        return self


class PermutationTestSettings(StrictModel):
    """Permutation test of the out-of-fold AUC (whole pipeline refitted per permutation)."""

    n_permutations: int = Field(0, ge=0, le=100_000)
    repeats: int = Field(1, ge=1, description="outer repeats per permuted run (and in the "
                                              "observed statistic)")
    strata: str | None = Field(None, description="outcomes column to permute within (e.g. site)")
    tail: Literal["none", "gpd"] = Field(
        "none", description="gpd: refine small p-values with the generalised Pareto tail "
                            "approximation (Winkler et al. 2016)")
    tail_p_threshold: float = Field(0.1, gt=0, le=1, description="empirical p-values below "
                                                                "this are refined by the tail fit")


class MetricsSettings(StrictModel):
    """Uncertainty and calibration settings."""

    level: float = Field(0.95, gt=0.5, lt=1.0, description="confidence level")
    n_bootstrap: int = Field(1000, ge=0)
    threshold: Literal["prevalence"] | Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        "prevalence", description="prevalence: each prediction is thresholded at its training "
                                  "fold's responder rate")
    calibration_bins: int = Field(10, ge=2, le=50)
    min_group_size: int = Field(10, ge=2, description="smallest site reported with metrics")


#: Inner-search scorers per task.
SCORERS = {"classification": ("roc_auc", "neg_log_loss", "neg_brier_score"),
           "regression": ("neg_mean_squared_error", "neg_mean_absolute_error", "r2")}


class TrainConfig(StrictModel):
    """Settings of ``backpheno train``: per-arm outcome models (classifiers or regressors)."""

    name: str = Field("train", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    features: InputPath = Field(description="FeatureTable Parquet")
    outcomes: InputPath = Field(description="outcomes Parquet, one row per participant")
    output: OutputPath = Field(Path("runs"), description="folder receiving the run directory")
    session: str = Field("ses-V0", pattern=r"^ses-[A-Za-z0-9]+$")
    arm_column: str = "arm1"
    arms: Annotated[list[str], BeforeValidator(_arm_names)] = Field(
        default_factory=lambda: list(DEFAULT_ARMS), min_length=1,
        description="arm labels as in the arm column (numbers allowed: 0, 1)")
    target: str = "responder"
    task: Literal["classification", "regression"] | None = Field(
        None, description="classification (binary target) or regression (continuous target); "
                          "omitted: inferred from the target's values (logged)")
    population: Literal["deep", "all"] = Field(
        "deep", description="deep: deep-phenotyped participants only; all: everyone, missing "
                            "blocks left missing")
    deep_column: str = "deep_phenotyping"
    subset: dict[str, list[str | bool | int | float]] = Field(
        default_factory=dict, description="keep rows whose outcomes column is one of the values")
    blocks: list[BlockSettings] = Field(default_factory=_default_blocks, min_length=1)
    combat: ComBatSettings = Field(default_factory=ComBatSettings)
    preprocess: PreprocessSettings = Field(default_factory=PreprocessSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    cv: CVSettings = Field(default_factory=CVSettings)
    permutation: PermutationTestSettings = Field(default_factory=PermutationTestSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    n_jobs: int = Field(1, ge=1, le=256)
    scheduler_address: str | None = Field(
        None, description="Dask distributed scheduler (tcp://host:8786) that runs the folds and "
                          "permutations, or 'local' for a local cluster of n_jobs workers")
    seed: int = Field(0, ge=0)

    @property
    def harmonizes(self) -> bool:
        """Whether any block asks for ComBat (then site and covariates are needed)."""
        return any(b.harmonize for b in self.blocks)

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
        if (self.harmonizes and self.cv.scheme == "leave_group_out"
                and self.cv.groups == self.combat.site and self.combat.unseen_site == "error"):
            raise ValueError("leave-site-out CV holds out sites that ComBat never saw: set "
                             "combat.unseen_site to passthrough")
        if self.permutation.repeats > self.cv.repeats:
            raise ValueError("permutation.repeats cannot exceed cv.repeats")
        if self.target in (self.arm_column,):
            raise ValueError("target and arm_column must differ")
        if self.task is not None:
            unknown = self.model.unknown_parameters((self.task,))
            if unknown:
                raise ValueError(f"hyper-parameters {unknown} do not apply to the {self.task} "
                                 f"model {self.model.name}")
        scoring = self.model.search.scoring
        if self.task is not None and scoring is not None and scoring not in SCORERS[self.task]:
            raise ValueError(f"model.search.scoring {scoring!r} does not apply to {self.task}; "
                             f"choose one of {SCORERS[self.task]}")
        return self

    def scoring(self, task: str) -> str:
        """The inner-search scorer for ``task`` (configured or the task's default)."""
        scoring = self.model.search.scoring
        if scoring is None:
            return SCORERS[task][0]
        if scoring not in SCORERS[task]:
            raise ConfigError(f"model.search.scoring {scoring!r} does not apply to {task}; "
                              f"choose one of {SCORERS[task]}")
        return scoring
