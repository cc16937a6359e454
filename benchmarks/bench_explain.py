"""SHAP moderators on the risk-difference scale: backpheno vs shap's model-agnostic explainer.

Problem: 1,000 participants x 500 features x 4 arms, one xgboost classifier per arm (the models
stage's defaults: 200 trees, depth 3, learning rate 0.05, row / column subsampling 0.8), one
background sample of 100 participants shared by the arms.

backpheno: interventional TreeSHAP of every arm on the probability scale, then the SHAP values of
all 10 contrasts (6 pairs, 4 one-vs-rest) as weighted differences (timed end to end).

Reference: ``shap.explainers.Permutation`` (model-agnostic, antithetic permutations, independent
masker with the same background) on the risk-difference function ``p_a(x) - p_b(x)`` of one pair.
It is run on a subsample of participants and its time scaled linearly to all participants (its
cost is per participant), and multiplied by 10 for the ten contrasts, since a model-agnostic
explainer needs one run per contrast. Both are timed in this process, on the same machine.

Also printed: how closely the two agree on the subsample (the model-agnostic values are a Monte
Carlo estimate of the exact Shapley values of the risk difference; backpheno's
probability-scale values for xgboost are the per-reference rescaled ones, see
backpheno.explain.shap), as the correlation of the values and of the per-feature mean |SHAP|.

EconML (``--econml``, the optional ``bench`` extra): the T-learner's ``shap_values`` on a
two-arm problem (400 x 13 and 1,000 x 100), with the T-learner's own two fitted xgboost models
explained by backpheno too; prints both times, the ratio and the agreement of the values.

Both modes also print backpheno's TreeSHAP (``backpheno.explain.treeshap``) against
``shap.TreeExplainer`` (interventional, probability scale) on the same models and background:
both times, the ratio and the largest absolute difference of the values.

Usage::

    python benchmarks/bench_explain.py                 # the full problem (a few minutes)
    python benchmarks/bench_explain.py --quick         # 300 x 100 x 4, seconds
    python benchmarks/bench_explain.py --econml        # EconML T-learner comparison
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time
import warnings

import numpy as np
import pandas as pd
import shap
import xgboost as xgb
from scipy.stats import spearmanr

from backpheno.explain.moderators import arm_contrasts, contrast_shap
from backpheno.explain.shap import explain_arms, select_background
from backpheno.explain.treeshap import interventional_shap

ARMS = ["ESC", "ACT", "EBEM", "DUL"]


def problem(n: int, p: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Features, arm labels and a binary response with arm-specific drivers (f0..f3)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i:03d}" for i in range(p)],
                     index=pd.Index([f"sub-{i:04d}" for i in range(n)], name="participant_id"))
    arm = pd.Series(rng.choice(ARMS, n), index=X.index)
    effects = {"ESC": 0.0 * X["f000"], "ACT": 1.1 * X["f001"], "EBEM": 1.2 * X["f002"],
               "DUL": 1.3 * X["f003"]}
    eta = -0.6 - 0.2 * X["f004"] + sum(np.where(arm == a, e, 0.0) for a, e in effects.items())
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int), index=X.index)
    return X, arm, y


def fit_arms(X: pd.DataFrame, arm: pd.Series, y: pd.Series) -> dict[str, xgb.XGBClassifier]:
    models = {}
    for name in ARMS:
        rows = arm == name
        models[name] = xgb.XGBClassifier(
            n_estimators=200, max_depth=3, learning_rate=0.05, subsample=0.8,
            colsample_bytree=0.8, tree_method="hist", n_jobs=1, random_state=0,
        ).fit(X[rows], y[rows])
    return models


class ProbabilityXGB(xgb.XGBClassifier):
    """An xgboost classifier whose ``predict`` is P(y = 1): what a T-learner's arm model must
    return for its effect to be the risk difference."""

    def predict(self, X, **kwargs):  # noqa: ANN001, ANN003, ANN201, D102
        return self.predict_proba(X)[:, 1]


def _plain_classifier(model: ProbabilityXGB) -> xgb.XGBClassifier:
    """The same fitted model as a plain XGBClassifier (what backpheno explains)."""
    plain = xgb.XGBClassifier()
    plain.load_model(model.get_booster().save_raw("json"))
    return plain


def treeshap_vs_shap(models: dict[str, xgb.XGBClassifier], X: pd.DataFrame,
                     background: pd.DataFrame, repeats: int = 3) -> str:
    """backpheno's TreeSHAP (explain/treeshap.py) against shap.TreeExplainer (interventional,
    probability scale) on the same fitted models and background, timed alternately in this
    process (best of ``repeats``); returns the line to print."""
    ours_s, theirs_s, diff, largest = [], [], 0.0, 0.0
    z, zb = X.to_numpy(dtype=float), background.to_numpy(dtype=float)
    for _ in range(repeats):
        tic = time.perf_counter()
        ours = [interventional_shap(m.get_booster(), z, zb, output="probability")[0]
                for m in models.values()]
        ours_s.append(time.perf_counter() - tic)
        tic = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = [np.asarray(shap.TreeExplainer(
                m, data=zb, feature_perturbation="interventional",
                model_output="probability").shap_values(z, check_additivity=False))
                for m in models.values()]
        theirs_s.append(time.perf_counter() - tic)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs, strict=True))
        largest = max(float(np.abs(b).max()) for b in theirs)
    return (f"TreeSHAP of the {len(models)} arms ({len(X)} x {X.shape[1]}, background "
            f"{len(background)}, probability scale): shap.TreeExplainer {min(theirs_s):.3f} s, "
            f"backpheno {min(ours_s):.3f} s -> ratio {min(theirs_s) / min(ours_s):.1f}x; "
            f"max |difference| {diff:.1e} (largest |value| {largest:.3f})")


def econml_comparison(n: int, p: int, background: int = 100) -> None:
    """Time EconML's T-learner ``shap_values`` against backpheno on one two-arm problem.

    Both explain the same two fitted xgboost models (EconML's T-learner fits them; backpheno
    explains ``est.models``) on all ``n`` participants with a background of ``background``
    participants; EconML explains its effect function p_1(x) - p_0(x) model-agnostically.
    """
    from econml.metalearners import TLearner

    X, arm, y = problem(n, p, seed=1)
    treated = np.isin(arm, ARMS[1:]).astype(int)       # two arms: ESC vs the rest
    params = {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.05, "subsample": 0.8,
              "colsample_bytree": 0.8, "tree_method": "hist", "n_jobs": 1, "random_state": 0}
    est = TLearner(models=[ProbabilityXGB(**params), ProbabilityXGB(**params)])
    est.fit(y.to_numpy(), treated, X=X)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")                   # and shap's progress bar
        tic = time.perf_counter()
        theirs = est.shap_values(X, background_samples=background)
        theirs_s = time.perf_counter() - tic
    explanation = next(iter(next(iter(theirs.values())).values()))
    tic = time.perf_counter()
    models = {"control": _plain_classifier(est.models[0]),
              "treated": _plain_classifier(est.models[1])}
    per_arm = explain_arms(models, X, select_background(X, background, seed=0),
                           scales=("probability",))
    ours = (per_arm[("treated", "probability")].values
            - per_arm[("control", "probability")].values).to_numpy()
    ours_s = time.perf_counter() - tic
    values = np.asarray(explanation.values, dtype=float)
    r = np.corrcoef(ours.ravel(), values.ravel())[0, 1]
    importance = spearmanr(np.abs(ours).mean(0), np.abs(values).mean(0)).statistic
    print(f"EconML T-learner shap_values, {n} x {p}, 2 arms: EconML {theirs_s:.2f} s, "
          f"backpheno {ours_s:.2f} s -> ratio {theirs_s / ours_s:.0f}x; agreement: correlation "
          f"of values {r:.3f}, Spearman of mean |SHAP| {importance:.3f}, max |difference| "
          f"{np.abs(ours - values).max():.3f} (largest |value| {np.abs(values).max():.3f}; "
          f"backgrounds differ: EconML samples its own)")
    print(treeshap_vs_shap(models, X, select_background(X, background, seed=0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--features", type=int, default=500)
    parser.add_argument("--background", type=int, default=100)
    parser.add_argument("--subsample", type=int, default=8,
                        help="participants explained by the model-agnostic reference")
    parser.add_argument("--permutations", type=int, default=2,
                        help="antithetic permutations per participant for the reference")
    parser.add_argument("--quick", action="store_true", help="300 x 100 x 4")
    parser.add_argument("--econml", action="store_true",
                        help="only the EconML T-learner comparison (400 x 13 and 1,000 x 100; "
                             "needs the bench extra: pip install backpheno[bench])")
    parser.add_argument("--econml-sizes", type=int, nargs=2, action="append",
                        metavar=("N", "P"), help="sizes of the EconML comparison instead")
    args = parser.parse_args()
    if args.econml:
        for n, p in args.econml_sizes or ((400, 13), (1000, 100)):
            econml_comparison(n, p)
        return
    if args.quick:
        args.participants, args.features, args.subsample = 300, 100, 5

    n, p = args.participants, args.features
    X, arm, y = problem(n, p)
    tic = time.perf_counter()
    models = fit_arms(X, arm, y)
    fit_s = time.perf_counter() - tic
    background = select_background(X, args.background, seed=0)
    contrasts = arm_contrasts(ARMS)
    print(f"problem: {n} participants x {p} features x {len(ARMS)} arms (xgboost, 200 trees, "
          f"depth 3), background {len(background)}, {len(contrasts)} contrasts; "
          f"{os.cpu_count()} CPUs; models fitted in {fit_s:.1f} s")

    tic = time.perf_counter()
    per_arm = explain_arms(models, X, background, scales=("probability",))
    ours_arms_s = time.perf_counter() - tic
    tic = time.perf_counter()
    results = contrast_shap(per_arm, contrasts)
    ours_s = ours_arms_s + time.perf_counter() - tic
    additivity = max(r.additivity_error() for r in results.values())
    pair = contrasts[0]
    print(f"backpheno: per-arm TreeSHAP {ours_arms_s:.1f} s + contrasts "
          f"{ours_s - ours_arms_s:.2f} s = {ours_s:.1f} s for all {len(contrasts)} contrasts "
          f"(largest additivity error {additivity:.1e})")

    print(treeshap_vs_shap(models, X, background, repeats=1))

    rows = X.iloc[:args.subsample]
    weights = pair.weights

    def risk_difference(Z: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(Z, columns=X.columns)
        return sum(w * models[a].predict_proba(frame)[:, 1].astype(float)
                   for a, w in weights.items())

    masker = shap.maskers.Independent(background.to_numpy(), max_samples=len(background))
    explainer = shap.explainers.Permutation(risk_difference, masker)
    max_evals = args.permutations * (2 * p + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer(rows.to_numpy()[:1], max_evals=max_evals, silent=True)  # compile once
        tic = time.perf_counter()
        reference = explainer(rows.to_numpy(), max_evals=max_evals, silent=True)
        ref_sub_s = time.perf_counter() - tic
    per_participant = ref_sub_s / len(rows)
    ref_pair_s = per_participant * n
    ref_all_s = ref_pair_s * len(contrasts)
    ours_pair_s = ours_arms_s / len(ARMS) * len(weights)
    print(f"shap Permutation (model-agnostic, {args.permutations} antithetic permutations, "
          f"max_evals={max_evals}) on {pair.label}: {ref_sub_s:.1f} s for {len(rows)} "
          f"participants = {per_participant:.2f} s each (measured on a subsample, scaled "
          f"linearly to {n})")
    print(f"one contrast, {n} participants: backpheno {ours_pair_s:.1f} s (its two arms' "
          f"TreeSHAP) vs model-agnostic {ref_pair_s:.0f} s (scaled) -> "
          f"ratio {ref_pair_s / ours_pair_s:.0f}x")
    print(f"all {len(contrasts)} contrasts: backpheno {ours_s:.1f} s vs model-agnostic "
          f"{ref_all_s:.0f} s (scaled, one run per contrast) -> ratio {ref_all_s / ours_s:.0f}x")

    ours = results[pair.name].values.loc[rows.index].to_numpy()
    values_r = np.corrcoef(ours.ravel(), reference.values.ravel())[0, 1]
    importance = spearmanr(np.abs(ours).mean(0), np.abs(reference.values).mean(0)).statistic
    top_ours = set(np.argsort(-np.abs(ours).mean(0))[:10])
    top_ref = set(np.argsort(-np.abs(reference.values).mean(0))[:10])
    print(f"agreement on the subsample ({pair.name}): correlation of SHAP values "
          f"{values_r:.3f}, Spearman of mean |SHAP| over features {importance:.3f}, top-10 "
          f"overlap {len(top_ours & top_ref)}/10, max |difference| "
          f"{np.abs(ours - reference.values).max():.3f} (largest |value| "
          f"{np.abs(reference.values).max():.3f})")


if __name__ == "__main__":
    main()
