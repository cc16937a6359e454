"""``backpheno predict``: score a new feature table with a run directory's final models.

The models read the same columns they were trained on (``input_columns`` in the manifest):
the feature columns, plus the site and covariate columns when a block is harmonised with ComBat.
Those come from a covariates table (the outcomes Parquet, or a ``participants.tsv``) indexed by
participant_id. Feature columns absent from the new table are an error (a model never silently
scores an all-missing block); extra columns are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.errors import InputError
from backpheno.io import read_tsv
from backpheno.models.artifacts import load_models
from backpheno.models.cv import PREDICTION_COLUMNS
from backpheno.models.finite import require_finite
from backpheno.models.rundir import open_run
from backpheno.table import FeatureTable, read_feature_table


def read_covariates(path: str | Path) -> pd.DataFrame:
    """A participant-level table (Parquet, TSV or CSV) indexed by participant_id."""
    path = Path(path)
    if not path.is_file():
        raise InputError("covariates table not found", file=path)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".tsv":
        frame = read_tsv(path)
    elif path.suffix == ".csv":
        frame = pd.read_csv(path)
    else:
        raise InputError("covariates table must be .parquet, .tsv or .csv", file=path)
    if frame.index.name != "participant_id":
        if "participant_id" not in frame.columns:
            raise InputError("covariates table has no participant_id column", file=path,
                             column="participant_id")
        frame = frame.set_index("participant_id")
    return frame


def predict_run(run_dir: str | Path, features: str | Path | FeatureTable,
                covariates: str | Path | pd.DataFrame | None = None, *,
                session: str | None = None, arms: list[str] | None = None,
                force: bool = False) -> pd.DataFrame:
    """Predicted probability of response (or predicted outcome, for regression runs) under every
    arm's final model.

    Parameters
    ----------
    run_dir : str or Path
        A run directory written by ``backpheno train``; its status must be ``complete``.
    features : path or FeatureTable
        The new feature table.
    covariates : path or DataFrame, optional
        Site and covariates by participant_id; needed when the models harmonise with ComBat.
    session : str, optional
        Session to score (default: the training session).
    arms : list of str, optional
        Arms to score (default: every arm with a model).
    force : bool
        Use a run whose status is not ``complete`` (warning logged).

    Returns
    -------
    DataFrame
        Long format: participant_id, arm, p_response (or prediction for a regression run).
    """
    run = open_run(run_dir, force=force)
    manifest = run.manifest()
    session = session or manifest["config"]["session"]
    table = features if isinstance(features, FeatureTable) else read_feature_table(features)
    X = table.session(session)
    if X.empty:
        raise InputError(f"the feature table has no rows for session {session}")
    models = load_models(run, arms)
    if not models:
        raise InputError("the run directory has no fitted model (every arm lacked data?)",
                         file=run.models)
    features_needed = sorted({c for m in models.values() for c in m.entry["feature_columns"]})
    aux = sorted({c for m in models.values() for c in m.entry["covariate_columns"]})
    missing = [c for c in features_needed if c not in X.columns]
    if missing:
        raise InputError(f"{len(missing)} feature(s) the models were trained on are missing "
                         f"from the new table, e.g. {missing[:5]}")
    require_finite(X, features_needed, None if isinstance(features, FeatureTable) else features)
    if aux:
        if covariates is None:
            raise InputError(f"the models need columns {aux} (site / covariates for ComBat); "
                             "pass a covariates table (e.g. the outcomes Parquet)")
        cov = covariates if isinstance(covariates, pd.DataFrame) else read_covariates(covariates)
        absent = [c for c in aux if c not in cov.columns]
        if absent:
            raise InputError(f"covariates table lacks columns {absent}", column=absent[0])
        lacking = X.index.difference(cov.index)
        if len(lacking):
            raise InputError(f"covariates table lacks participants {list(lacking[:5])}")
        X = X.drop(columns=[c for c in aux if c in X.columns]).join(cov[aux])
    frames = []
    for arm, model in models.items():
        regression = not hasattr(model.pipeline, "predict_proba")
        p = (model.pipeline.predict(X[model.input_columns]) if regression
             else model.pipeline.predict_proba(X[model.input_columns])[:, 1])
        frames.append(pd.DataFrame({"participant_id": X.index, "arm": arm,
                                    PREDICTION_COLUMNS["regression" if regression else
                                                       "classification"]:
                                    np.asarray(p, dtype=float)}))
    return pd.concat(frames, ignore_index=True)
