"""Shared fixtures: where the real reference data live, and a small simulated cohort."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    env = os.environ.get("BACKPHENO_SHARED")
    if env:
        return Path(env)
    for parent in REPO.parents:
        candidate = parent / "shared"
        if (candidate / "realdata").is_dir():
            return candidate
    raise FileNotFoundError(
        "../shared (with realdata/ and reference/) was not found beside the repository; "
        "set BACKPHENO_SHARED to its path"
    )


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The workplace's ``shared`` folder (real recordings and reference tables)."""
    return _find_shared()


@pytest.fixture(scope="session")
def realdata(shared_dir: Path) -> Path:
    """``shared/realdata``: real recordings with reference values (never copied into the repo)."""
    return shared_dir / "realdata"


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    """``shared/reference``: sourced scoring tables and protocol facts."""
    return shared_dir / "reference"


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test-size synthetic dataset (60 participants, 15 deep), simulated once per worker."""
    from backpheno.config import SimulateConfig, load_config
    from backpheno.synth import simulate

    config = load_config(REPO / "configs" / "test_simulate.yaml", SimulateConfig)
    root = tmp_path_factory.mktemp("cohort") / "dataset"
    simulate(config, root)
    return root
