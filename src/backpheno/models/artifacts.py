"""Saving and loading fitted per-arm models without pickle, with a hash-checked manifest.

Each arm's final pipeline goes to ``models/<arm>/``:

- xgboost models: the preprocessing part (every step but the model) as ``preprocess.skops`` and
  the booster as ``model.json`` (:meth:`xgboost.XGBClassifier.save_model`, JSON format; kind
  ``xgboost``, or ``xgboost_regressor`` for an :class:`xgboost.XGBRegressor`);
- scikit-learn models: the whole pipeline as ``model.skops``.

skops files are loaded with an explicit allow-list (:data:`TRUSTED_TYPES`, plus types that
registered block steps declare); a file needing any other type is refused. ``models/manifest.json``
records every file's SHA-256, the columns each model reads, the training summary, the resolved
configuration and package versions; :func:`load_models` checks the hashes before loading.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import skops.io as sio
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier, XGBRegressor

from backpheno import __version__
from backpheno.errors import InputError
from backpheno.io import atomic_path, file_sha256, write_json
from backpheno.models import pipelines
from backpheno.models.rundir import MANIFEST_FORMAT, RunDirectory

#: Types outside skops' default trust that backpheno's own pipelines contain.
TRUSTED_TYPES = (
    "backpheno.models.harmonize.ComBat",
    "backpheno.models.select.UnivariateFilter",
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
)

#: Packages whose versions go into the manifest.
PACKAGES = ("numpy", "pandas", "scipy", "scikit-learn", "xgboost", "skops", "statsmodels", "joblib")


def package_versions() -> dict[str, str]:
    """Versions of Python, backpheno and the modelling packages."""
    versions = {"python": platform.python_version(), "backpheno": __version__}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def trusted_types() -> tuple[str, ...]:
    """Allow-list for skops: backpheno's types plus those of registered block steps."""
    return (*TRUSTED_TYPES, *pipelines.trusted_step_types())


def save_model(pipeline: Pipeline, folder: str | Path) -> dict[str, Any]:
    """Save a fitted pipeline into ``folder``.

    Returns
    -------
    dict
        ``kind`` ("xgboost", "xgboost_regressor" or "sklearn") and ``files`` (file name ->
        SHA-256).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = pipeline.steps[-1][1]
    files: dict[str, str] = {}
    if isinstance(model, XGBClassifier | XGBRegressor):
        with atomic_path(folder / "preprocess.skops") as tmp:
            sio.dump(pipeline[:-1], tmp)
        with atomic_path(folder / "model.json") as tmp:
            model.save_model(tmp)
        kind = "xgboost_regressor" if isinstance(model, XGBRegressor) else "xgboost"
        names = ("preprocess.skops", "model.json")
    else:
        with atomic_path(folder / "model.skops") as tmp:
            sio.dump(pipeline, tmp)
        kind = "sklearn"
        names = ("model.skops",)
    for name in names:
        files[name] = file_sha256(folder / name)
    return {"kind": kind, "files": files}


def load_model(folder: str | Path, entry: dict[str, Any]) -> Pipeline:
    """Load one arm's pipeline after checking every file's hash against ``entry``."""
    folder = Path(folder)
    for name, digest in entry["files"].items():
        path = folder / name
        if not path.is_file():
            raise InputError("model file listed in the manifest is missing", file=path)
        if file_sha256(path) != digest:
            raise InputError("model file does not match the SHA-256 in the manifest (changed "
                             "or corrupted); refusing to load it", file=path)
    if entry["kind"] in ("xgboost", "xgboost_regressor"):
        preprocess = _load_skops(folder / "preprocess.skops")
        model = XGBRegressor() if entry["kind"] == "xgboost_regressor" else XGBClassifier()
        model.load_model(folder / "model.json")
        return Pipeline([*preprocess.steps, ("model", model)])
    return _load_skops(folder / "model.skops")


def _load_skops(path: Path) -> Any:
    untrusted = sio.get_untrusted_types(file=path)
    allowed = set(trusted_types())
    refused = sorted(set(untrusted) - allowed)
    if refused:
        raise InputError(f"skops file needs types outside the allow-list: {refused}", file=path)
    return sio.load(path, trusted=untrusted)


def write_manifest(run: RunDirectory, arms: dict[str, dict[str, Any]],
                   config: dict[str, Any]) -> Path:
    """Write ``models/manifest.json``.

    Parameters
    ----------
    run : RunDirectory
    arms : dict
        Per arm: ``status`` and, for fitted arms, ``kind``, ``files`` (from :func:`save_model`),
        ``input_columns``, ``n_train``, ``n_responders``, ``best_params``.
    config : dict
        The resolved training configuration (JSON-able).
    """
    path = run.manifest_json
    write_json(path, {"format": MANIFEST_FORMAT, "packages": package_versions(),
                      "config": config, "arms": arms})
    return path


@dataclass(frozen=True)
class LoadedModel:
    """A fitted arm model and what it reads."""

    arm: str
    pipeline: Pipeline
    input_columns: list[str]
    entry: dict[str, Any]


def load_models(run: RunDirectory | str | Path,
                arms: list[str] | None = None) -> dict[str, LoadedModel]:
    """Load every fitted arm model of a run directory (hashes checked first).

    Arms without a model (status other than ``ok``) are skipped.
    """
    run = run if isinstance(run, RunDirectory) else RunDirectory(Path(run))
    models = {}
    for arm, entry in run.manifest()["arms"].items():
        if entry.get("status") != "ok" or (arms is not None and arm not in arms):
            continue
        pipeline = load_model(run.models / arm, entry)
        models[arm] = LoadedModel(arm, pipeline, list(entry["input_columns"]), entry)
    return models
