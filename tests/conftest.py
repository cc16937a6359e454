"""Shared fixtures: where the real reference data live, and a small simulated cohort."""

from __future__ import annotations

import faulthandler
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]

#: A test that runs longer than this (s) is taken for hung: its stacks are dumped and its worker
#: process ends, so the rest of the suite still runs (the watchdog is C-level, so it also fires
#: when compiled code holds the GIL).
HUNG_TEST_S = 600

# numba's on-disk cache is not safe to build from several processes at once (numba#4807,
# numba#10128: mobgap's cached parallel gufunc can end up referring to a kernel symbol another
# process compiled, and LLVM aborts with "Symbol not found"). Each pytest process (the xdist
# controller and every worker) therefore compiles into a folder of its own; a folder inherited
# from a parent pytest process is replaced, one a user set is kept.
_OWN_NUMBA_CACHE: Path | None = None
if "numba" not in sys.modules and os.environ.get("NUMBA_CACHE_DIR") in (
        None, os.environ.get("BACKPHENO_TEST_NUMBA_CACHE_DIR")):
    _OWN_NUMBA_CACHE = Path(tempfile.gettempdir()) / f"backpheno-numba-{os.getpid()}"
    os.environ["NUMBA_CACHE_DIR"] = os.environ["BACKPHENO_TEST_NUMBA_CACHE_DIR"] = \
        str(_OWN_NUMBA_CACHE)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove this process's numba cache folder."""
    if _OWN_NUMBA_CACHE is not None:
        shutil.rmtree(_OWN_NUMBA_CACHE, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """End the worker with a stack dump if one test (set-up included) outlasts the watchdog
    (four times as long for tests marked slow)."""
    limit = HUNG_TEST_S * (4 if item.get_closest_marker("slow") else 1)
    faulthandler.dump_traceback_later(limit, exit=True)
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


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
    from backpheno.config import load_config
    from backpheno.synth import simulate
    from backpheno.synth.config import SimulateConfig

    config = load_config(REPO / "configs" / "test_simulate.yaml", SimulateConfig)
    root = tmp_path_factory.mktemp("cohort") / "dataset"
    simulate(config, root)
    return root
