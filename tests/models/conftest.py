"""Fixtures of the modelling tests: small synthetic arm data and a simulated cohort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backpheno.table import codebook_row, make_codebook

SITE_OFFSET = {"s1": 0.0, "s2": 1.0, "s3": -0.6}
SITE_SCALE = {"s1": 1.0, "s2": 1.6, "s3": 0.7}


def multisite_frame(n: int = 120, p: int = 20, seed: int = 0,
                    sites: tuple[str, ...] = ("s1", "s2", "s3")) -> pd.DataFrame:
    """Features f0..f{p-1} with site location/scale effects, an age and a sex effect, plus the
    site / age / sex columns."""
    rng = np.random.default_rng(seed)
    site = rng.choice(list(sites), n)
    age = rng.normal(50, 10, n)
    sex = rng.choice(["F", "M"], n)
    offset = np.array([SITE_OFFSET.get(s, 2.0) for s in site])[:, None]
    scale = np.array([SITE_SCALE.get(s, 2.0) for s in site])[:, None]
    Y = (rng.normal(size=(n, p)) * scale + offset + 0.03 * age[:, None]
         + 0.5 * (sex == "F")[:, None] + rng.normal(0, 1, p))
    frame = pd.DataFrame(Y, columns=[f"f{i}" for i in range(p)],
                         index=pd.Index([f"sub-{i:03d}" for i in range(n)], name="participant_id"))
    frame["site"] = site
    frame["age"] = age
    frame["sex"] = sex
    return frame


def arm_data(n: int = 150, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """One arm's design: a questionnaire block (signal), a brain block (site effects, missing
    for a third of participants), a covariate and an outcome column that must never be used,
    the site / age / sex columns; the label; the codebook."""
    rng = np.random.default_rng(seed)
    trait = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * trait))).astype(int)
    base = multisite_frame(n, 6, seed)
    X = pd.DataFrame(index=base.index)
    for k in range(4):
        X[f"q.sim.item_{k}"] = trait * (0.8 if k < 2 else 0.0) + rng.normal(0, 0.7, n)
    for k in range(6):
        X[f"brain.sim.f{k}"] = base[f"f{k}"] + (0.5 * trait if k == 0 else 0.0)
    deep = rng.random(n) < 0.67
    X.loc[~deep, [c for c in X.columns if c.startswith("brain.")]] = np.nan
    X["brain.qc.mean_fd"] = rng.random(n)
    X["q.peg.change_v1"] = y + rng.normal(0, 0.01, n)
    X["site"], X["age"], X["sex"] = base["site"], base["age"], base["sex"]
    rows = [codebook_row(c, modality=c.split(".")[0], source="test", unit="a.u.",
                         description="test feature",
                         role={"brain.qc.mean_fd": "covariate",
                               "q.peg.change_v1": "outcome"}.get(c, "feature"))
            for c in X.columns if "." in c]
    return X, y, make_codebook(rows)


@pytest.fixture(scope="session")
def sim_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 1,000-participant simulated cohort (no imaging simulated; ESC has no signal) turned
    into stand-in features and outcomes (half treated as deep-phenotyped)."""
    from backpheno.synth import simulate
    from backpheno.synth.config import SimulateConfig
    from backpheno.synth.model_inputs import write_model_inputs

    root = tmp_path_factory.mktemp("model_cohort")
    simulate(SimulateConfig(participants=1000, deep_fraction=0.0, seed=11, null_arms=["ESC"]),
             root / "dataset")
    return write_model_inputs(root / "dataset", root / "inputs", deep_fraction=0.5, seed=11)


FAST_XGB = {"name": "xgboost", "params": {"n_estimators": 20},
            "search": {"space": {"max_depth": [1, 2]}}}


def config(inputs: tuple[Path, Path], out: Path, **overrides: object):  # noqa: ANN201
    """A TrainConfig on the simulated inputs with fast metric settings."""
    from backpheno.config import validate_config
    from backpheno.models.config import TrainConfig

    features, outcomes = inputs
    data = {"features": str(features), "outcomes": str(outcomes), "output": str(out),
            "metrics": {"n_bootstrap": 50}, "seed": 7}
    data.update(overrides)
    return validate_config(data, TrainConfig)


@pytest.fixture(scope="session")
def xgb_run(sim_inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """One xgboost training run (deep participants, every block, imaging harmonised, two arms,
    2 x 3-fold nested CV, one permutation), shared by the run-directory and predict tests."""
    from backpheno.models.train import train

    out = tmp_path_factory.mktemp("runs")
    cfg = config(sim_inputs, out, arms=["DUL", "ESC"], model=FAST_XGB,
                 cv={"outer_folds": 3, "inner_folds": 2, "repeats": 2},
                 permutation={"n_permutations": 1}, combat={"min_site_size": 3})
    return train(cfg, out / "run")
