"""Input loading of ``backpheno train``: the feature table and outcomes, checked, reduced to the
training population and the configured blocks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.dataset import arm_labels
from backpheno.errors import InputError
from backpheno.models.config import TrainConfig
from backpheno.models.finite import require_finite
from backpheno.models.pipelines import Block, BlockSpec, select_blocks
from backpheno.table import read_feature_table

logger = logging.getLogger("backpheno.models")


@dataclass
class TrainingData:
    """Everything the arms are trained on.

    Attributes
    ----------
    X : DataFrame
        Index participant_id (the population); feature columns plus the site / covariate columns
        ComBat needs.
    outcomes : DataFrame
        The outcomes rows of the same participants.
    y : Series
        The target: nullable integers (0/1/NA) for classification, floats (NaN where unknown)
        for regression.
    blocks : list of Block
    task : {"classification", "regression"}
        Configured, or inferred from the target (:func:`infer_task`).
    population : {"deep", "all"}
        The population actually used: ``all`` when the default ``deep`` was not configured
        and the outcomes table has no deep-phenotyping column (a plain trial table).
    harmonized_columns : list of str
        Feature columns of the blocks ComBat harmonises (derived once, from ``blocks``).
    """

    X: pd.DataFrame
    outcomes: pd.DataFrame
    y: pd.Series
    blocks: list[Block]
    task: str = "classification"
    population: str = "deep"
    harmonized_columns: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.harmonized_columns = [c for b in self.blocks if b.harmonize for c in b.columns]

    @property
    def feature_columns(self) -> list[str]:
        return [c for b in self.blocks for c in b.columns]



def read_outcomes(path: str | Path) -> pd.DataFrame:
    """Read the outcomes Parquet (index or column ``participant_id``, one row per participant)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("outcomes table not found", file=path)
    frame = pd.read_parquet(path)
    if frame.index.name != "participant_id":
        if "participant_id" not in frame.columns:
            raise InputError("outcomes table has no participant_id index or column", file=path,
                             column="participant_id")
        frame = frame.set_index("participant_id")
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()].unique()[:5].tolist()
        raise InputError(f"outcomes table has duplicated participants {dup}", file=path)
    return frame


def binary_target(values: pd.Series, column: str, file: Path | None = None) -> pd.Series:
    """The target as nullable Int64 0/1; refuses anything that is not binary."""
    if pd.api.types.is_bool_dtype(values) or str(values.dtype) == "boolean":
        return values.astype("boolean").astype("Int64")
    if pd.api.types.is_numeric_dtype(values):
        observed = set(pd.unique(values.dropna()))
        if observed <= {0, 1}:
            return values.astype("Int64")
    observed = sorted(map(str, pd.unique(values.dropna())))[:6]
    raise InputError(f"target must be binary (boolean or 0/1), found values {observed}; "
                     "a continuous target needs task: regression (multi-class targets are not "
                     "supported)",
                     column=column, file=file)


def is_binary(values: pd.Series) -> bool:
    """Whether a column is boolean or holds only 0 and 1 (missing values aside)."""
    if pd.api.types.is_bool_dtype(values) or str(values.dtype) == "boolean":
        return True
    return (pd.api.types.is_numeric_dtype(values)
            and set(pd.unique(values.dropna())) <= {0, 1})


def infer_task(values: pd.Series, column: str, file: Path | None = None) -> str:
    """``classification`` for a binary target, ``regression`` for any other numeric one."""
    if is_binary(values):
        return "classification"
    if pd.api.types.is_numeric_dtype(values):
        return "regression"
    observed = sorted(map(str, pd.unique(values.dropna())))[:6]
    raise InputError(f"target is neither binary nor numeric (values {observed}); train fits "
                     "classifiers to 0/1 targets and regressors to numeric ones",
                     column=column, file=file)


def continuous_target(values: pd.Series, column: str, file: Path | None = None) -> pd.Series:
    """The target as floats (NaN where unknown); refuses non-numeric and infinite values."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise InputError("task regression needs a numeric target", column=column, file=file)
    out = values.astype("Float64").astype(float)
    infinite = out.index[np.isinf(out.to_numpy())]
    if len(infinite):
        raise InputError(f"target is infinite for {list(infinite[:5])}", column=column,
                         file=file)
    return out


def load_training_data(config: TrainConfig) -> TrainingData:
    """Read and check the feature table and the outcomes, select the population and blocks.

    Raises
    ------
    InputError
        Missing columns, no rows for the session, an empty population or no features.
    """
    table = read_feature_table(config.features)
    features = table.session(config.session)
    if features.empty:
        raise InputError(f"no rows for session {config.session}", file=config.features)
    outcomes = read_outcomes(config.outcomes)
    arm = outcomes.get(config.arm_column)
    if arm is not None and pd.api.types.is_numeric_dtype(arm):  # 0/1 read as 0.0/1.0
        outcomes[config.arm_column] = arm_labels(arm).astype(object)
    kind = config.population
    if (kind == "deep" and "population" not in config.model_fields_set
            and config.deep_column not in outcomes.columns):
        kind = "all"
        logger.info("population: all participants (the outcomes table has no %s column; set "
                    "population: deep to require it)", config.deep_column)
    _require_columns(outcomes, _needed_columns(config, kind), config.outcomes)

    population = outcomes
    if kind == "deep":
        population = population[population[config.deep_column].astype("boolean").fillna(False)]
    for column, allowed in config.subset.items():
        population = population[population[column].isin(allowed)]
    missing_rows = population.index.difference(features.index)
    if len(missing_rows):
        logger.warning("%d participants of the population have no %s row in the feature table "
                       "and are left out (e.g. %s)", len(missing_rows), config.session,
                       list(missing_rows[:3]))
    keep = population.index.intersection(features.index, sort=False)
    if len(keep) == 0:
        raise InputError("no participant is both in the population (population / subset) and "
                         "in the feature table", file=config.outcomes)
    population = population.loc[keep]

    specs = [BlockSpec(b.name, tuple(b.modalities), b.include, b.exclude, b.harmonize,
                       tuple(b.steps)) for b in config.blocks]
    blocks = select_blocks(table.codebook, list(features.columns), specs)
    if not blocks:
        raise InputError("no feature matches the configured blocks (modalities "
                         f"{sorted({m for b in config.blocks for m in b.modalities})}, role "
                         "feature)", file=config.features)
    level = logging.WARNING if "blocks" in config.model_fields_set else logging.INFO
    for spec in specs:
        if spec.name not in {b.name for b in blocks}:
            logger.log(level, "block %s has no features in this table; skipped", spec.name)
    columns = [c for b in blocks for c in b.columns]
    X = features.loc[keep, columns].astype(float)
    require_finite(X, columns, config.features)
    harmonized = [b.name for b in blocks if b.harmonize]
    aux = [config.combat.site, *config.combat.covariates] if harmonized else []
    absent = [c for c in aux if c not in population.columns]
    if absent:
        raise InputError(f"block(s) {harmonized} ask for ComBat harmonisation (harmonize: "
                         f"true), which needs the site column {config.combat.site!r} to remove "
                         f"site effects and the covariates {config.combat.covariates} to "
                         f"preserve their effects; the outcomes table lacks {absent}. Add the "
                         "columns, set combat.site / combat.covariates, or set harmonize: false",
                         file=config.outcomes, column=absent[0])
    clash = set(aux) & set(X.columns)
    if clash:
        raise InputError(f"outcomes columns {sorted(clash)} clash with feature names")
    for column in aux:
        X[column] = population[column]
    values = population[config.target]
    task = config.task
    if task is None:
        task = infer_task(values, config.target, config.outcomes)
        logger.info("task: %s (inferred: target %s is %s; set task in the configuration to "
                    "choose)", task, config.target,
                    "binary" if task == "classification" else
                    f"numeric with {values.nunique()} distinct values")
    else:
        logger.info("task: %s (configured)", task)
    y = (binary_target(values, config.target, config.outcomes) if task == "classification"
         else continuous_target(values, config.target, config.outcomes))
    data = TrainingData(X, population, y, blocks, task, kind)
    _check_combat_inputs(data, aux, config.outcomes)
    return data


def _needed_columns(config: TrainConfig, population: str) -> list[str]:
    """Outcomes columns needed before the blocks are known (ComBat's are checked once the
    harmonised blocks with features are)."""
    needed = [config.arm_column, config.target, *config.subset]
    if population == "deep":
        needed.append(config.deep_column)
    for optional in (config.cv.groups, config.permutation.strata):
        if optional:
            needed.append(optional)
    return list(dict.fromkeys(needed))


def _check_combat_inputs(data: TrainingData, aux: list[str], file: Path) -> None:
    """Site and covariates must be known for everyone with harmonised features."""
    if not data.harmonized_columns:
        return
    X = data.X
    with_data = X[data.harmonized_columns].notna().any(axis=1)
    for column in aux:
        lacking = X.index[with_data & X[column].isna()]
        if len(lacking):
            raise InputError(f"missing for {len(lacking)} participant(s) with harmonised "
                             f"features (ComBat needs it), e.g. {list(lacking[:5])}",
                             file=file, column=column)


def _require_columns(frame: pd.DataFrame, columns: list[str], file: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"outcomes table lacks columns {missing} named in the configuration",
                         file=file, column=missing[0])
