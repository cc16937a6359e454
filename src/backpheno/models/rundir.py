"""The run directory of one training run: where every output has a fixed place.

Layout (documented for users and later stages in ``docs/run_directory.md``)::

    <run>/
      run.json                    status (running | complete | failed), times, arms and statuses
      config.yaml                 the resolved configuration (absolute paths)
      environment.json            Python, platform, package versions, CPU count, command line
      inputs.json                 SHA-256, size and row counts of the feature and outcomes files
      predictions/oof.parquet     out-of-fold predictions, one row per participant x arm x repeat
      predictions/oof_mean.parquet   averaged over repeats, one row per participant x arm
      predictions/counterfactual.parquet   every participant x every arm
      metrics/metrics.json        per-arm metrics with CIs, permutation test, status
      metrics/metrics.csv         one row per arm, flattened
      metrics/per_site.csv        per-arm, per-site performance
      metrics/calibration.csv     binned calibration curves
      metrics/cv_folds.csv        outer folds: sizes, inner score, chosen hyper-parameters
      metrics/permutation_null.csv   the permutation null distributions
      models/manifest.json        file hashes, input columns, config, versions
      models/<arm>/...            model files (xgboost JSON / skops)
      figures/roc_<arm>.png, figures/calibration_<arm>.png
      logs/train.log, logs/explain.log
      explain/                    written by ``backpheno explain`` (:class:`ExplainFolder`)

:class:`RunDirectory` is the one reader and writer of this layout: later stages open a run with
:meth:`RunDirectory.open`, refuse one that did not finish (:meth:`RunDirectory.require_complete`)
and check that the input files still match the checksums written at training time
(:meth:`RunDirectory.check_inputs`) before they read them again.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from backpheno.errors import InputError
from backpheno.io import file_sha256, read_json, write_json
from backpheno.lock import LOCK_NAME

if TYPE_CHECKING:
    from backpheno.models.config import TrainConfig

logger = logging.getLogger("backpheno.models")

SUBFOLDERS = ("predictions", "metrics", "models", "figures", "logs")
#: Status of a run whose every stage finished (``run.json``).
COMPLETE = "complete"
#: Status of one arm (``run.json`` arms, manifest, metrics.json): a model was fitted, the arm had
#: too few participants of a class for the CV scheme, or fitting failed on bad input.
STATUS_OK = "ok"
STATUS_INSUFFICIENT = "insufficient_data"
STATUS_FAILED = "failed"
MANIFEST_FORMAT = "backpheno-models/1"


@dataclass(frozen=True)
class ExplainFolder:
    """Paths of the moderator analysis written by ``backpheno explain`` (``<run>/explain/``)."""

    root: Path

    summary_json = property(lambda self: self.root / "summary.json")
    background_csv = property(lambda self: self.root / "background.csv")
    arm_shap_parquet = property(lambda self: self.root / "shap" / "arm_shap.parquet")
    contrast_shap_parquet = property(lambda self: self.root / "shap" / "contrast_shap.parquet")
    tables = property(lambda self: self.root / "tables")
    figures = property(lambda self: self.root / "figures")
    #: Sub-folders replaced by every explain run.
    parts = ("shap", "tables", "figures")

    def table_csv(self, name: str) -> Path:
        """``tables/<name>.csv``."""
        return self.tables / f"{name}.csv"

    def figure_png(self, name: str) -> Path:
        """``figures/<name>.png``."""
        return self.figures / f"{name}.png"


@dataclass(frozen=True)
class RunDirectory:
    """The files of one training run: their paths, typed readers and the checks later stages
    need (status, unchanged inputs)."""

    root: Path

    @classmethod
    def create(cls, path: str | Path, overwrite: bool = False) -> RunDirectory:
        """Make a new run directory (an existing non-empty one needs ``overwrite``; its lock
        file, :data:`backpheno.lock.LOCK_NAME`, held by the caller, is kept)."""
        root = Path(path)
        contents = [p for p in root.iterdir() if p.name != LOCK_NAME] if root.is_dir() else []
        if contents:
            if not overwrite:
                raise FileExistsError(f"{root} exists and is not empty; pass --overwrite")
            for item in contents:
                if item.is_dir():
                    shutil.rmtree(item)
                else:
                    item.unlink()
        for name in SUBFOLDERS:
            (root / name).mkdir(parents=True, exist_ok=True)
        return cls(root)

    @classmethod
    def open(cls, path: str | Path) -> RunDirectory:
        """An existing run directory (must hold ``run.json``)."""
        root = Path(path)
        if not root.is_dir():
            raise InputError("run directory not found", file=root)
        if not (root / "run.json").is_file():
            raise InputError("not a backpheno run directory (no run.json; `backpheno train` "
                             "writes run.json, config.yaml and models/manifest.json)", file=root)
        return cls(root)

    @staticmethod
    def default_name(name: str) -> str:
        """``<name>-<UTC timestamp>``."""
        return f"{name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"

    # paths
    run_json = property(lambda self: self.root / "run.json")
    config_yaml = property(lambda self: self.root / "config.yaml")
    environment_json = property(lambda self: self.root / "environment.json")
    inputs_json = property(lambda self: self.root / "inputs.json")
    oof = property(lambda self: self.root / "predictions" / "oof.parquet")
    oof_mean = property(lambda self: self.root / "predictions" / "oof_mean.parquet")
    counterfactual_parquet = property(
        lambda self: self.root / "predictions" / "counterfactual.parquet")
    metrics_json = property(lambda self: self.root / "metrics" / "metrics.json")
    metrics_csv = property(lambda self: self.root / "metrics" / "metrics.csv")
    per_site = property(lambda self: self.root / "metrics" / "per_site.csv")
    calibration = property(lambda self: self.root / "metrics" / "calibration.csv")
    cv_folds = property(lambda self: self.root / "metrics" / "cv_folds.csv")
    permutation_null = property(lambda self: self.root / "metrics" / "permutation_null.csv")
    models = property(lambda self: self.root / "models")
    manifest_json = property(lambda self: self.root / "models" / "manifest.json")
    figures = property(lambda self: self.root / "figures")
    log = property(lambda self: self.root / "logs" / "train.log")
    explain_log = property(lambda self: self.root / "logs" / "explain.log")
    explain = property(lambda self: ExplainFolder(self.root / "explain"))

    def figure_png(self, kind: str, arm: str) -> Path:
        """``figures/<kind>_<arm>.png`` (kind ``roc`` or ``calibration``)."""
        return self.figures / f"{kind}_{arm}.png"

    # status
    def status(self) -> dict[str, Any]:
        """Contents of ``run.json``."""
        return read_json(self.run_json)

    def write_status(self, **fields: Any) -> None:
        """Merge ``fields`` into ``run.json``."""
        current = read_json(self.run_json) if self.run_json.is_file() else {}
        write_json(self.run_json, {**current, **fields})

    def require_complete(self, force: bool = False) -> None:
        """Refuse a run whose status is not ``complete`` (still running, failed, killed).

        With ``force`` the run is used anyway and a warning is logged.
        """
        info = self.status()
        state = info.get("status", "unknown")
        if state == COMPLETE:
            return
        message = f"run status is {state!r}, not {COMPLETE!r}"
        if info.get("error"):
            message += f" (error: {info['error']})"
        if force:
            logger.warning("%s: %s; used anyway (--force)", self.root, message)
            return
        raise InputError(f"{message}; its outputs may be missing or partial (pass --force to "
                         "use it anyway)", file=self.root)

    # readers
    def config(self) -> TrainConfig:
        """The resolved training configuration (``config.yaml``), validated.

        Input paths are not required to exist here: :meth:`check_inputs` says whether they
        still hold what training read.
        """
        from backpheno.config import load_config
        from backpheno.models.config import TrainConfig

        return load_config(self.config_yaml, TrainConfig, check_paths=False)

    def environment(self) -> dict[str, Any]:
        """Contents of ``environment.json``."""
        return self._json(self.environment_json)

    def inputs(self) -> dict[str, Any]:
        """Contents of ``inputs.json``: per input, path, sha256, bytes (and rows)."""
        return self._json(self.inputs_json)

    def metrics(self) -> dict[str, Any]:
        """Contents of ``metrics/metrics.json``."""
        return self._json(self.metrics_json)

    def manifest(self) -> dict[str, Any]:
        """Contents of ``models/manifest.json`` (format checked)."""
        manifest = self._json(self.manifest_json)
        if manifest.get("format") != MANIFEST_FORMAT:
            raise InputError(f"unknown manifest format {manifest.get('format')!r}; expected "
                             f"{MANIFEST_FORMAT}", file=self.manifest_json)
        return manifest

    def counterfactual(self) -> pd.DataFrame:
        """``predictions/counterfactual.parquet``: every participant x every arm."""
        path = self.counterfactual_parquet
        if not path.is_file():
            raise InputError("no counterfactual predictions in this run directory", file=path)
        return pd.read_parquet(path)

    def explain_summary(self) -> dict[str, Any]:
        """Contents of ``explain/summary.json``."""
        return self._json(self.explain.summary_json)

    def shap(self, kind: str = "contrast") -> pd.DataFrame:
        """SHAP values of the explain step: ``arm`` or ``contrast`` (long format)."""
        paths = {"arm": self.explain.arm_shap_parquet,
                 "contrast": self.explain.contrast_shap_parquet}
        if kind not in paths:
            raise ValueError(f"kind must be 'arm' or 'contrast', got {kind!r}")
        if not paths[kind].is_file():
            raise InputError("no SHAP values; run `backpheno explain` first", file=paths[kind])
        return pd.read_parquet(paths[kind])

    def explain_table(self, name: str) -> pd.DataFrame:
        """``explain/tables/<name>.csv`` (moderator_ranking, moderation, credibility, ...)."""
        path = self.explain.table_csv(name)
        if not path.is_file():
            raise InputError("explain table not found; run `backpheno explain` first", file=path)
        return pd.read_csv(path)

    def check_inputs(self, allow_changed: bool = False) -> list[str]:
        """Compare the input files with the checksums written at training time.

        Parameters
        ----------
        allow_changed : bool
            Log a warning for each changed or missing input instead of raising.

        Returns
        -------
        list of str
            One line per input that is missing or whose SHA-256 differs (empty when all match).

        Raises
        ------
        InputError
            If an input changed and ``allow_changed`` is false.
        """
        if not self.inputs_json.is_file():
            logger.warning("%s has no inputs.json; the input files cannot be checked",
                           self.root)
            return []
        problems = []
        for name, entry in self.inputs().items():
            path = Path(entry["path"])
            if not path.is_file():
                problems.append(f"{name} input {path} is missing")
            elif file_sha256(path) != entry["sha256"]:
                problems.append(f"{name} input {path} changed since training (SHA-256 differs "
                                "from inputs.json)")
        if problems and not allow_changed:
            raise InputError("; ".join(problems) + "; results would not match the trained "
                             "models (pass --allow-changed-inputs to go on anyway)",
                             file=self.inputs_json)
        for problem in problems:
            logger.warning("%s (--allow-changed-inputs)", problem)
        return problems

    def _json(self, path: Path) -> dict[str, Any]:
        if not path.is_file():
            raise InputError("file missing from the run directory", file=path)
        return read_json(path)

    # writers
    def write_inputs(self, paths: dict[str, Path]) -> None:
        """Write ``inputs.json`` for the named input files (:func:`input_checksums`)."""
        write_json(self.inputs_json, input_checksums(paths))

    def write_environment(self) -> None:
        """Write ``environment.json`` (:func:`environment_info`)."""
        write_json(self.environment_json, environment_info())


def open_run(path: str | Path, *, force: bool = False,
             allow_changed_inputs: bool | None = None) -> RunDirectory:
    """Open a run for a later stage.

    Its status must be ``complete`` (unless ``force``); when ``allow_changed_inputs`` is not
    None, its inputs are checked too (:meth:`RunDirectory.check_inputs`).
    """
    run = RunDirectory.open(path)
    run.require_complete(force)
    if allow_changed_inputs is not None:
        run.check_inputs(allow_changed_inputs)
    return run


def now() -> str:
    """Current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def environment_info() -> dict[str, Any]:
    """Interpreter, platform, package versions, CPUs and command line of this process."""
    from backpheno.models.artifacts import package_versions

    return {"packages": package_versions(), "platform": platform.platform(),
            "implementation": platform.python_implementation(), "cpu_count": os.cpu_count(),
            "command": sys.argv}


def input_checksums(paths: dict[str, Path]) -> dict[str, Any]:
    """SHA-256, byte size and (for Parquet) row count of each input file."""
    info = {}
    for name, path in paths.items():
        path = Path(path)
        entry: dict[str, Any] = {"path": str(path.resolve()), "sha256": file_sha256(path),
                                 "bytes": path.stat().st_size}
        if path.suffix == ".parquet":
            entry["rows"] = pq.ParquetFile(path).metadata.num_rows
        info[name] = entry
    return info
