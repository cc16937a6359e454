"""Moderators of the treatment effect: SHAP values of per-arm models, formal arm x moderator
interactions, credibility, figures and the HTML report.

Public API (imported lazily)::

    explain, explain_run_dir, run_inputs, ExplainConfig, ExplainInputs,
    ExplainResult                                                          run.py
    write_report, build_report                                             report.py
    explain_arms, select_background, ArmShap                               shap.py
    interventional_shap (exact interventional TreeSHAP of xgboost)         treeshap.py
    arm_contrasts, contrast_shap, moderator_ranking, Contrast              moderators.py
    contrast_importance, Importance (the ranking statistic on arrays)      moderators.py
    moderation_table                                                       moderation.py
    rank_stability                                                         stability.py
    moderator_permutation_test                                             permutation.py
    iceman_summary                                                         credibility.py
"""

from __future__ import annotations

from backpheno.lazy import lazy_exports

_EXPORTS = {
    "explain": "run",
    "explain_run_dir": "run",
    "run_inputs": "run",
    "ExplainConfig": "run",
    "ExplainInputs": "run",
    "ExplainResult": "run",
    "write_report": "report",
    "build_report": "report",
    "explain_arms": "shap",
    "select_background": "shap",
    "ArmShap": "shap",
    "interventional_shap": "treeshap",
    "arm_contrasts": "moderators",
    "contrast_shap": "moderators",
    "moderator_ranking": "moderators",
    "Contrast": "moderators",
    "contrast_importance": "moderators",
    "Importance": "moderators",
    "moderation_table": "moderation",
    "rank_stability": "stability",
    "moderator_permutation_test": "permutation",
    "iceman_summary": "credibility",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
