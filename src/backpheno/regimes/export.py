"""The SMART regime export: one row per participant in the layout regime software reads.

Columns (roles in the JSON sidecar):

``id``, ``site``
    Identifiers.
``X1_*``
    Baseline features (session ``ses-V0``).
``A1``, ``p1``
    Stage-1 arm and its randomisation probability: 1 / number of the participant's eligible arms.
``R``
    Stage-1 response (1/0; missing with a reason when unknown).
``X2_*``
    Stage-2 tailoring variables, measured at the end of stage 1 (``ses-V1``).
``A2``, ``A2_tactic``, ``p2``
    Stage-2 treatment (empty for responders who were not re-randomised), its tactic (continue,
    augment, switch) and randomisation probability: for a re-randomised participant
    1 / (number of tactics) × 1 / (number of eligible arms other than A1); 1 otherwise.
``W``
    Inverse-probability weight 1 / (p1 · p2).
``Y``
    Final outcome, continuous, oriented so that higher is better (by default the percent PEG
    reduction from baseline to ``ses-V2``); the sidecar states ``direction: higher is better``.
``P1_<arm>`` (optional)
    Predicted probability of stage-1 response under each arm from a training run's
    counterfactual predictions (out-of-fold for the participant's own arm), or the predicted
    outcome under each arm for a regression run (continuous target), role ``prediction``:
    candidate stage-1 tailoring scores for regime models.

Column names are R-safe (letters, digits and underscores); the sidecar maps each one back to its
feature name. The layout matches DTRlearn2's ``adhd`` data, the d3c SMART training code and
qlaci, and reads directly into DynTxRegime ``qLearn`` / DTRreg.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from backpheno.config import StrictModel
from backpheno.errors import InputError
from backpheno.io import atomic_path, write_json
from backpheno.rcsv import write_r_csv
from backpheno.table import FeatureTable


class RegimeExportSettings(StrictModel):
    """What goes into the regime export."""

    x1_modalities: list[str] | None = Field(
        None, description="modalities of the baseline features (null: every modality)")
    x1_features: list[str] | None = Field(None, description="explicit baseline feature names")
    x2_features: list[str] | None = Field(
        None, description="stage-2 tailoring features at ses-V1 (null: questionnaire scores)")
    baseline_session: str = "ses-V0"
    tailoring_session: str = "ses-V1"
    outcome: str = Field("peg_change_v2", description="outcomes-table column used for Y")
    higher_is_better: bool = Field(
        False, description="whether a higher value of `outcome` is better; if not, Y = -outcome")
    stage2_tactics: list[str] = Field(default_factory=lambda: ["augment", "switch"],
                                      min_length=1,
                                      description="tactics a non-responder is randomised among")


def smart_table(table: FeatureTable, outcomes: pd.DataFrame, settings: RegimeExportSettings,
                counterfactual: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Build the wide SMART table and its column-role description.

    Parameters
    ----------
    table : FeatureTable
        Extracted features (rows participant × session).
    outcomes : DataFrame
        Output of :func:`backpheno.outcomes.build_outcomes`.
    settings : RegimeExportSettings
    counterfactual : DataFrame, optional
        ``predictions/counterfactual.parquet`` of a training run (participant_id, arm,
        p_response); adds one ``P1_<arm>`` column per arm.

    Returns
    -------
    frame : DataFrame
        One row per participant.
    roles : dict
        ``{"columns": {column: {"role", "feature", "session", "unit", "description"}}, ...}``.
    """
    columns: dict[str, dict[str, object]] = {}
    frame = pd.DataFrame(index=outcomes.index)
    frame["id"] = outcomes.index
    frame["site"] = outcomes["site"]
    columns["id"] = {"role": "id", "description": "participant identifier"}
    columns["site"] = {"role": "site", "description": "recruiting site"}

    x1 = _select(table, settings.baseline_session, settings.x1_features, settings.x1_modalities,
                 roles=("feature",))
    frame, columns = _add_block(frame, columns, x1, "X1", settings.baseline_session, table)

    frame["A1"] = outcomes["arm1"]
    n_eligible = outcomes["eligible_arms"].fillna("").str.split(",").map(
        lambda arms: len([a for a in arms if a]))
    frame["p1"] = 1.0 / n_eligible.replace(0, np.nan)
    frame["R"] = outcomes["responder"].astype("Float64")
    frame["R_missing_reason"] = outcomes["reason"].fillna("")
    columns["A1"] = {"role": "A1", "description": "stage-1 arm"}
    columns["p1"] = {"role": "p1", "description": "stage-1 randomisation probability "
                                                  "(1 / number of eligible arms)"}
    columns["R"] = {"role": "R", "description": "stage-1 response (1 responder, 0 not)"}
    columns["R_missing_reason"] = {"role": "info", "description": "why R is missing"}

    x2_names = settings.x2_features
    if x2_names is None:
        x2_names = [c for c in table.data.columns if table.codebook.at[c, "modality"] == "q"]
    x2 = _select(table, settings.tailoring_session, x2_names, None, roles=None)
    frame, columns = _add_block(frame, columns, x2, "X2", settings.tailoring_session, table)
    if "peg_change_v1" in outcomes:
        frame["X2_peg_change_v1"] = outcomes["peg_change_v1"]
        columns["X2_peg_change_v1"] = {"role": "X2", "feature": "peg_change_v1",
                                       "unit": "percent", "description": "PEG percent change "
                                       "from ses-V0 to ses-V1 (negative = improvement)"}

    rerandomized = outcomes["stage2_randomized"].fillna(False).astype(bool)
    frame["A2"] = outcomes["arm2"].where(rerandomized)
    frame["A2_tactic"] = outcomes["tactic2"]
    others = (n_eligible - 1).where(rerandomized)
    p2 = pd.Series(1.0, index=outcomes.index)
    p2[rerandomized] = 1.0 / len(settings.stage2_tactics) / others[rerandomized]
    p2[outcomes["tactic2"].isna()] = np.nan
    frame["p2"] = p2
    frame["W"] = 1.0 / (frame["p1"] * frame["p2"])
    columns["A2"] = {"role": "A2", "description": "stage-2 treatment of re-randomised "
                                                  "participants ('A+B' = A augmented with B)"}
    columns["A2_tactic"] = {"role": "info", "description": "stage-2 tactic: continue, augment, "
                                                           "switch"}
    columns["p2"] = {"role": "p2", "description": "stage-2 randomisation probability "
                     f"(1/{len(settings.stage2_tactics)} tactics x 1/eligible other arms; 1 if "
                     "not re-randomised)"}
    columns["W"] = {"role": "W", "description": "inverse-probability weight 1/(p1*p2)"}

    if settings.outcome not in outcomes:
        raise InputError(f"outcome column {settings.outcome!r} not in the outcomes table; "
                       f"available: {sorted(outcomes.columns)}")
    y = outcomes[settings.outcome].astype(float)
    frame["Y"] = y if settings.higher_is_better else -y
    columns["Y"] = {"role": "Y", "feature": settings.outcome, "type": "continuous",
                    "direction": "higher is better",
                    "description": f"{'' if settings.higher_is_better else 'minus '}"
                                   f"{settings.outcome} (higher is better)"}
    if counterfactual is not None:
        regression = "prediction" in counterfactual.columns
        value = "prediction" if regression else "p_response"
        wide = counterfactual.pivot_table(index="participant_id", columns="arm", values=value,
                                          aggfunc="first", dropna=False)
        for arm in wide.columns:
            column = f"P1_{r_safe(str(arm))}"
            frame[column] = wide[arm].reindex(frame.index)
            what = ("predicted outcome of the training run's continuous target" if regression
                    else "predicted probability of stage-1 response")
            columns[column] = {"role": "prediction", "arm": str(arm),
                               "description": f"{what} under {arm} (out-of-fold for "
                                              "participants randomised to it)"}
    roles = {
        "columns": columns,
        "design": {"stage1": "randomised uniformly among each participant's eligible arms",
                   "stage2": f"non-responders randomised among tactics "
                             f"{settings.stage2_tactics}, then uniformly among eligible arms "
                             "other than A1; responders continue A1 (not re-randomised)"},
        "settings": settings.model_dump(mode="json"),
    }
    return frame.reset_index(drop=True), roles


def export_regime(table: FeatureTable, outcomes: pd.DataFrame, settings: RegimeExportSettings,
                  folder: str | Path, stem: str = "smart",
                  counterfactual: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write the SMART table as Parquet and CSV and its roles as JSON, atomically."""
    frame, roles = smart_table(table, outcomes, settings, counterfactual)
    folder = Path(folder)
    paths = {"parquet": folder / f"{stem}.parquet", "csv": folder / f"{stem}.csv",
             "roles": folder / f"{stem}_roles.json"}
    with atomic_path(paths["parquet"]) as tmp:
        frame.to_parquet(tmp, index=False)
    write_r_csv(frame, paths["csv"], index=False)
    write_json(paths["roles"], roles)
    return paths


def r_safe(name: str) -> str:
    """A column name R reads unchanged: letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def _select(table: FeatureTable, session: str, names: list[str] | None,
            modalities: list[str] | None, roles: tuple[str, ...] | None) -> pd.DataFrame:
    data = table.session(session) if session in set(
        table.data.index.get_level_values("session_id")) else pd.DataFrame()
    codebook = table.codebook
    if names is not None:
        unknown = [n for n in names if n not in codebook.index]
        if unknown:
            raise InputError(f"features not in the table: {unknown[:5]}")
        chosen = names
    else:
        chosen = [c for c in table.data.columns
                  if (modalities is None or codebook.at[c, "modality"] in modalities)
                  and (roles is None or codebook.at[c, "role"] in roles)]
    return data.reindex(columns=chosen)


def _add_block(frame: pd.DataFrame, columns: dict, block: pd.DataFrame, prefix: str,
               session: str, table: FeatureTable) -> tuple[pd.DataFrame, dict]:
    block = block.reindex(frame.index)
    renamed = {}
    for name in block.columns:
        column = f"{prefix}_{r_safe(name)}"
        if column in columns or column in renamed.values():
            raise ValueError(f"two features map to the export column {column}")
        renamed[name] = column
        info = table.codebook.loc[name]
        columns[column] = {"role": prefix, "feature": name, "session": session,
                           "unit": info["unit"], "description": info["description"]}
    return pd.concat([frame, block.rename(columns=renamed)], axis=1), columns
