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
      logs/train.log
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from backpheno.errors import InputError
from backpheno.io import file_sha256, read_json, write_json

SUBFOLDERS = ("predictions", "metrics", "models", "figures", "logs")


@dataclass(frozen=True)
class RunDirectory:
    """Paths of a run directory."""

    root: Path

    @classmethod
    def create(cls, path: str | Path, overwrite: bool = False) -> RunDirectory:
        """Make a new run directory (an existing non-empty one needs ``overwrite``)."""
        root = Path(path)
        if root.exists() and any(root.iterdir()):
            if not overwrite:
                raise FileExistsError(f"{root} exists and is not empty; pass --overwrite")
            shutil.rmtree(root)
        for name in SUBFOLDERS:
            (root / name).mkdir(parents=True, exist_ok=True)
        return cls(root)

    @classmethod
    def open(cls, path: str | Path) -> RunDirectory:
        """An existing run directory (must hold ``run.json``)."""
        root = Path(path)
        if not (root / "run.json").is_file():
            raise InputError("not a backpheno run directory (no run.json)", file=root)
        return cls(root)

    @staticmethod
    def default_name(name: str) -> str:
        """``<name>-<UTC timestamp>``."""
        return f"{name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"

    # files
    run_json = property(lambda self: self.root / "run.json")
    config = property(lambda self: self.root / "config.yaml")
    environment = property(lambda self: self.root / "environment.json")
    inputs = property(lambda self: self.root / "inputs.json")
    oof = property(lambda self: self.root / "predictions" / "oof.parquet")
    oof_mean = property(lambda self: self.root / "predictions" / "oof_mean.parquet")
    counterfactual = property(lambda self: self.root / "predictions" / "counterfactual.parquet")
    metrics_json = property(lambda self: self.root / "metrics" / "metrics.json")
    metrics_csv = property(lambda self: self.root / "metrics" / "metrics.csv")
    per_site = property(lambda self: self.root / "metrics" / "per_site.csv")
    calibration = property(lambda self: self.root / "metrics" / "calibration.csv")
    cv_folds = property(lambda self: self.root / "metrics" / "cv_folds.csv")
    permutation_null = property(lambda self: self.root / "metrics" / "permutation_null.csv")
    models = property(lambda self: self.root / "models")
    figures = property(lambda self: self.root / "figures")
    log = property(lambda self: self.root / "logs" / "train.log")

    def status(self) -> dict[str, Any]:
        """Contents of ``run.json``."""
        return read_json(self.run_json)

    def write_status(self, **fields: Any) -> None:
        """Merge ``fields`` into ``run.json``."""
        current = read_json(self.run_json) if self.run_json.is_file() else {}
        write_json(self.run_json, {**current, **fields})


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
