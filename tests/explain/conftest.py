"""Fixtures of the explain tests: small per-arm models, a simulated cohort with trait indicators.

Until cohort extraction produces features, the recovery tests build them here as noisy
indicators of the latent traits recorded in ``ground_truth.json`` plus pure-noise features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from backpheno.io import read_json

ARMS = ["ESC", "ACT", "DUL"]


def small_frame(n: int = 240, p: int = 5,
                seed: int = 0) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Features f0..f{p-1} (f2 partly missing) and one binary outcome per arm with different
    drivers (ESC: f0; ACT: f1 x f2 and f0; DUL: -f0 + f3)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)],
                     index=pd.Index([f"sub-{i:03d}" for i in range(n)], name="participant_id"))
    f2 = X["f2"].fillna(0)
    drivers = {"ESC": X["f0"], "ACT": X["f1"] * f2 + 0.5 * X["f0"], "DUL": -X["f0"] + X["f3"]}
    X.loc[X.index[::9], "f2"] = np.nan
    ys = {arm: pd.Series((d + rng.normal(size=n) > 0).astype(int), index=X.index)
          for arm, d in drivers.items()}
    return X, ys


def fit_family(kind: str, X: pd.DataFrame, ys: dict[str, pd.Series]) -> dict[str, object]:
    """One fitted model per arm: ``xgb``, ``rf`` (on NaN-filled data) or ``lr`` (pipeline with
    imputation + missing indicators + scaling)."""
    models = {}
    for arm, y in ys.items():
        if kind == "xgb":
            model = xgb.XGBClassifier(n_estimators=25, max_depth=3, n_jobs=1, random_state=0)
        elif kind == "rf":
            model = make_pipeline(SimpleImputer(strategy="median"),
                                  RandomForestClassifier(20, min_samples_leaf=8, random_state=0,
                                                         n_jobs=1)).set_output(transform="pandas")
        else:
            model = make_pipeline(SimpleImputer(add_indicator=True), StandardScaler(),
                                  LogisticRegression()).set_output(transform="pandas")
        models[arm] = model.fit(X, y)
    return models


@pytest.fixture(scope="session")
def small() -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    return small_frame()


@dataclass
class Cohort:
    """A simulated trial with trait-indicator features."""

    X: pd.DataFrame
    outcomes: pd.DataFrame
    y: pd.Series
    truth: dict
    root: Path | None = None

    def planted(self, contrasts: dict[str, dict[str, float]], min_effect: float) -> pd.DataFrame:
        """Traits whose logit effect differs by at least ``min_effect`` between a contrast's
        arms (contrast, trait, effect)."""
        effects = self.truth["response_model"]["effects"]
        rows = [{"contrast": name, "trait": trait,
                 "effect": sum(w * effects[a][trait] for a, w in weights.items())}
                for name, weights in contrasts.items() for trait in self.truth["traits"]]
        table = pd.DataFrame(rows)
        return table[table["effect"].abs() >= min_effect]


def indicator_features(truth: dict, per_trait: int = 2, noise_sd: float = 0.3,
                       n_noise: int = 10, seed: int = 0) -> pd.DataFrame:
    """``sim.<trait>.ind<k>`` = trait + N(0, noise_sd²) and ``sim.noise.n<k>`` ~ N(0, 1)."""
    people = truth["participants"]
    traits = pd.DataFrame([p["traits"] for p in people],
                          index=pd.Index([p["participant_id"] for p in people],
                                         name="participant_id"))
    rng = np.random.default_rng(seed)
    columns = {}
    for trait in traits.columns:
        for k in range(1, per_trait + 1):
            columns[f"sim.{trait}.ind{k}"] = traits[trait] + rng.normal(0, noise_sd, len(traits))
    for k in range(1, n_noise + 1):
        columns[f"sim.noise.n{k}"] = rng.normal(0, 1, len(traits))
    return pd.DataFrame(columns, index=traits.index)


def simulate_cohort(root: Path, participants: int, seed: int, moderators: bool) -> Cohort:
    from backpheno.dataset import Dataset
    from backpheno.outcomes import OutcomeSettings, build_outcomes
    from backpheno.synth import simulate
    from backpheno.synth.config import SimulateConfig

    simulate(SimulateConfig(participants=participants, seed=seed, moderators=moderators,
                            deep_fraction=0.0), root)
    truth = read_json(root / "ground_truth.json")
    outcomes = build_outcomes(Dataset(root), OutcomeSettings())
    X = indicator_features(truth, seed=seed)
    y = outcomes["responder"].astype("Float64").astype(float)
    return Cohort(X, outcomes, y, truth, root)


@pytest.fixture(scope="session")
def moderated_cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    return simulate_cohort(tmp_path_factory.mktemp("moderated") / "ds", 1200, 0, True)


@pytest.fixture(scope="session")
def null_cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    return simulate_cohort(tmp_path_factory.mktemp("null") / "ds", 1200, 0, False)


def xgb_template() -> xgb.XGBClassifier:
    """The per-arm booster of the recovery tests (shallow, regularised, deterministic)."""
    return xgb.XGBClassifier(n_estimators=150, max_depth=2, learning_rate=0.05, subsample=0.8,
                             n_jobs=1, random_state=0)


@pytest.fixture(scope="session")
def fit() -> object:
    """:func:`fit_family` (models of one kind for every arm)."""
    return fit_family


@pytest.fixture(scope="session")
def booster() -> object:
    """:func:`xgb_template`."""
    return xgb_template


def write_fake_training_run(root: Path, X: pd.DataFrame, outcomes: pd.DataFrame,
                            arms: list[str]) -> Path:
    """A run directory with the files ``backpheno train`` writes that the report reads
    (run.json, config.yaml, inputs.json, metrics/metrics.json, figures/roc_<arm>.png,
    figures/calibration_<arm>.png) and the feature / outcome tables config.yaml names. Follows
    the layout documented in backpheno.models.rundir; the real thing is exercised by
    test_run.py::test_explain_run_dir_on_a_real_training_run once the models stage is present."""
    import json

    import matplotlib.pyplot as plt
    import yaml

    from backpheno.models.rundir import RunDirectory
    from backpheno.table import FeatureTable, codebook_row, make_codebook, make_qc

    run = root / "run"
    for sub in ("metrics", "figures", "models", "predictions", "logs"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    data = X.copy()
    data.index = pd.MultiIndex.from_arrays([X.index, ["ses-V0"] * len(X)],
                                           names=["participant_id", "session_id"])
    # a questionnaire modality whose extractor records problems only (every 10th participant
    # missing), and an outcome-role column never measured at baseline
    data["q.pain.score"] = np.where(np.arange(len(X)) % 10 == 0, np.nan, 1.0)
    data["q.pgic.change_v2"] = np.nan
    codebook = make_codebook(
        [codebook_row(c, modality="sim", source="test", unit="a.u.",
                      description=f"test feature {c}") for c in X.columns]
        + [codebook_row("q.pain.score", modality="questionnaire", source="test", unit="points",
                        description="pain score"),
           codebook_row("q.pgic.change_v2", modality="questionnaire", source="test",
                        unit="points", description="PGIC at V2", role="outcome")])
    qc = make_qc([{"participant_id": p, "session_id": "ses-V0", "modality": "sim", "item": "",
                   "status": "failed" if i % 40 == 0 else "ok",
                   "reason": "unreadable file" if i % 40 == 0 else ""}
                  for i, p in enumerate(X.index)]
                 + [{"participant_id": p, "session_id": "ses-V0", "modality": "questionnaire",
                     "item": "pain", "status": "missing", "reason": "no answers"}
                    for p in X.index[::10]])
    FeatureTable(data, codebook, qc).write(root / "inputs", "features")
    outcomes.to_parquet(root / "inputs" / "outcomes.parquet")
    config = {"name": "fake", "features": str(root / "inputs" / "features.parquet"),
              "outcomes": str(root / "inputs" / "outcomes.parquet"), "session": "ses-V0",
              "arm_column": "arm1", "arms": arms, "target": "responder", "population": "all",
              "blocks": [{"name": "sim", "modalities": ["sim"], "harmonize": False}],
              "combat": {"site": "site"},
              "preprocess": {"impute": "auto", "missing_indicator": True, "scale": "auto"},
              "model": {"name": "xgboost", "search": {"kind": "grid", "space": {}}},
              "cv": {"scheme": "stratified_kfold", "outer_folds": 5, "inner_folds": 3,
                     "repeats": 2}, "permutation": {"n_permutations": 0}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "run.json").write_text(json.dumps({"status": "complete", "name": "fake",
                                              "finished": "2026-01-01T00:00:00+00:00"}))
    metrics = {"name": "fake", "target": "responder", "model": "xgboost",
               "definitions": {"auc": "area under the ROC curve; DeLong CI"}, "arms": {}}
    for k, arm in enumerate(arms):
        ci = {"estimate": 0.6 + 0.05 * k, "ci_low": 0.5, "ci_high": 0.75}
        metrics["arms"][arm] = {"status": "ok", "n": 80, "n_responders": 30, "auc": ci,
                                "brier": {"estimate": 0.22, "ci_low": 0.2, "ci_high": 0.25},
                                "scaled_brier": {"estimate": 0.05},
                                "calibration_slope": {"estimate": 0.7, "ci_low": 0.3,
                                                      "ci_high": 1.1},
                                "calibration_intercept": {"estimate": 0.0, "ci_low": -0.4,
                                                          "ci_high": 0.4},
                                "oe_ratio": {"estimate": 1.0, "ci_low": 0.8, "ci_high": 1.3},
                                "ici": 0.05, "permutation": None}
        for kind in ("roc", "calibration"):
            fig, ax = plt.subplots(figsize=(2, 2))
            ax.plot([0, 1], [0, 1])
            fig.savefig(run / "figures" / f"{kind}_{arm}.png")
            plt.close(fig)
    metrics["arms"]["EXTRA"] = {"status": "insufficient_data", "n": 12, "n_responders": 2,
                                "reason": "arm EXTRA: too few <responders> & others"}
    (run / "metrics" / "metrics.json").write_text(json.dumps(metrics))
    RunDirectory(run).write_inputs({"features": root / "inputs" / "features.parquet",
                                    "outcomes": root / "inputs" / "outcomes.parquet"})
    return run


@pytest.fixture(scope="session")
def fake_run() -> object:
    """:func:`write_fake_training_run`."""
    return write_fake_training_run


@pytest.fixture(scope="session")
def explained_run(tmp_path_factory: pytest.TempPathFactory, small):
    """A fake training run explained with backpheno.explain.run.explain (tiny settings)."""
    from backpheno.explain.run import ExplainConfig, ExplainInputs, explain
    from backpheno.explain.signal import arm_signal

    X, ys = small
    rng = np.random.default_rng(1)
    arm = pd.Series(np.resize(ARMS, len(X)), index=X.index, name="arm1")
    y = pd.Series([ys[a].iloc[i] for i, a in enumerate(arm)], index=X.index, dtype=float)
    y.iloc[::25] = np.nan
    outcomes = pd.DataFrame({
        "site": rng.choice(["s1", "s2"], len(X)), "age": rng.normal(50, 10, len(X)).round(),
        "sex": rng.choice(["F", "M"], len(X)), "deep_phenotyping": rng.random(len(X)) < 0.5,
        "arm1": arm, "responder": y.astype("boolean"),
        "pain_change": -30 * y.fillna(0) + rng.normal(0, 10, len(X))}, index=X.index)
    run = write_fake_training_run(tmp_path_factory.mktemp("fake"), X, outcomes, ARMS)
    models = fit_family("xgb", X[y.notna()], {a: ys[a][y.notna()] for a in ARMS})
    settings = ExplainConfig(
        background_size=40, stability={"n_resamples": 2}, permutation={"n_permutations": 2},
        formal={"related_outcomes": [{"column": "pain_change", "orientation": "reversed"}]},
        hypotheses=[{"moderator": "f0", "contrast": "DUL_vs_ESC", "direction": "-",
                     "source": "analysis plan v1"}],
        figures={"dependence": 2})
    signal = arm_signal({"ESC": {"auc": {"estimate": 0.5, "ci_low": 0.41, "ci_high": 0.59},
                                 "permutation": {"p_value": 0.55}},
                         "ACT": {"auc": {"estimate": 0.7, "ci_low": 0.6, "ci_high": 0.8}},
                         "DUL": {"auc": {"estimate": 0.7, "ci_low": 0.6, "ci_high": 0.8}}})
    inputs = ExplainInputs(models, X, list(X.columns), y, arm, outcomes, "responder",
                           signal=signal)
    result = explain(inputs, settings, run / "explain")
    return run, result, inputs, settings


@pytest.fixture(scope="session")
def make_cohort() -> object:
    """:func:`simulate_cohort` (for tests that need several simulated trials)."""
    return simulate_cohort
