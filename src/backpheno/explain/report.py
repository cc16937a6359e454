"""``backpheno report RUN_DIR``: one self-contained HTML page per training run.

The page embeds every figure as a base64 ``data:`` URI and carries its own CSS; it has no
scripts and no external references, so it opens offline in any browser and can be mailed as one
file. It reads the run directory through :class:`backpheno.models.rundir.RunDirectory` (the
models stage's files and ``explain/`` written by :func:`backpheno.explain.run.explain`) and the
feature and outcome tables named in the run's ``config.yaml``, after checking them against the
checksums of ``inputs.json``. A run whose status is not ``complete`` is refused unless forced.
Missing explain outputs are reported in place ("not available"), so a report can be written for
a run that was not explained yet.

Sections: cohort counts (arm × site, deep-phenotyping subset, outcome availability), feature QC,
per-arm performance with intervals (ROC and calibration figures from training), moderators (SHAP
ranking, stability, permutation p-values, dependence plots, beeswarms), the formal moderation
table with its forest plot, the ICEMAN-style credibility summary, a methods paragraph generated
from the configuration, and caveats (sample size per arm, multiplicity, scale of SHAP values).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backpheno import __version__
from backpheno.errors import InputError
from backpheno.io import write_text
from backpheno.models.rundir import RunDirectory, open_run
from backpheno.table import read_feature_table

REPORT_NAME = "report.html"

_CSS = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;
background:#fafafa;line-height:1.45}
main{max-width:1150px;margin:0 auto;padding:1.5em 2em 4em;background:#fff}
h1{font-size:1.7em;margin-bottom:.2em;overflow-wrap:anywhere}h2{border-bottom:2px solid #ddd;
padding-bottom:.2em;margin-top:2em}h3{margin-top:1.4em}
.table-wrap{max-width:100%;overflow-x:auto;margin:.6em 0 1.2em}
table{border-collapse:collapse;font-size:.85em}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:right;vertical-align:top}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
td{min-width:3em}
.figs{display:flex;flex-wrap:wrap;gap:1em}.figs figure{margin:0;flex:1 1 420px;min-width:0}
img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.8em;color:#555}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em .9em;margin:1em 0}
.missing{color:#a00;font-style:italic}.meta{color:#666;font-size:.9em}
nav{display:flex;flex-wrap:wrap;gap:.3em 1em}
code{overflow-wrap:anywhere}
details{margin:.6em 0 1.2em}summary{cursor:pointer;color:#225}
@media (max-width:800px){main{padding:1em}.figs figure{flex-basis:100%}}
@media print{body{background:#fff}main{max-width:none;padding:0}nav{display:none}
.table-wrap{overflow:visible}table{font-size:.7em}figure,tr,.note{break-inside:avoid}
h2,h3{break-after:avoid}details{display:none}}
"""


def write_report(run_dir: str | Path, out: str | Path | None = None, *, force: bool = False,
                 allow_changed_inputs: bool = False) -> Path:
    """Write ``report.html`` for a run directory (default ``<run_dir>/report.html``).

    See :func:`build_report` for ``force`` and ``allow_changed_inputs``.
    """
    path = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    write_text(path, build_report(run_dir, force=force,
                                  allow_changed_inputs=allow_changed_inputs))
    return path


def build_report(run_dir: str | Path, *, force: bool = False,
                 allow_changed_inputs: bool = False) -> str:
    """The report's HTML text (see the module docstring).

    Parameters
    ----------
    run_dir : str or Path
    force : bool
        Report a run whose status is not ``complete``.
    allow_changed_inputs : bool
        Go on (with a caveat in the report) when the feature or outcome table no longer matches
        the checksum written at training time; otherwise that is an error.
    """
    directory = open_run(run_dir, force=force)
    run = _Run(directory, directory.check_inputs(allow_changed_inputs))
    sections = [
        ("cohort", "Cohort", _cohort_section(run)),
        ("qc", "Feature quality control", _qc_section(run)),
        ("performance", "Per-arm performance", _performance_section(run)),
        ("moderators", "Moderators (SHAP, "
         + ("predicted-outcome scale)" if run.regression else "risk-difference scale)"),
         _moderator_section(run)),
        ("formal", "Formal moderation analysis", _formal_section(run)),
        ("credibility", "Credibility of moderator claims (ICEMAN)", _credibility_section(run)),
        ("methods", "Methods", _methods_section(run)),
        ("caveats", "Caveats", _caveats_section(run)),
    ]
    name = html.escape(str(run.status.get("name") or run.config.name))
    nav = " ".join(f'<a href="#{key}">{html.escape(title)}</a>' for key, title, _ in sections)
    body = "\n".join(f'<section id="{key}"><h2>{html.escape(title)}</h2>\n{content}</section>'
                     for key, title, content in sections)
    meta = (f"run <code>{html.escape(run.root.name)}</code> · status "
            f"{html.escape(str(run.status.get('status', 'unknown')))} · finished "
            f"{html.escape(str(run.status.get('finished', 'n/a')))} · report written "
            f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by backpheno {__version__}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>backpheno report: {name}</title><style>{_CSS}</style></head>\n"
            f"<body><main><h1>backpheno report: {name}</h1><p class=\"meta\">{meta}</p>"
            f"<nav>{nav}</nav>\n{body}\n</main></body></html>\n")


# ------------------------------------------------------------------------------ run files


class _Run:
    """What the report reads from a run directory (explain outputs and metrics may be absent)."""

    def __init__(self, run: RunDirectory, changed_inputs: list[str]) -> None:
        self.dir = run
        self.root = run.root
        self.changed_inputs = changed_inputs
        self.status = run.status()
        self.config = run.config()
        self.metrics = run.metrics() if run.metrics_json.is_file() else {}
        self.explain = run.explain_summary() if run.explain.summary_json.is_file() else {}
        self._outcomes: pd.DataFrame | None = None
        self._features: Any = None

    def table(self, name: str) -> pd.DataFrame | None:
        present = self.dir.explain.table_csv(name).is_file()
        return self.dir.explain_table(name) if present else None

    @property
    def arms(self) -> list[str]:
        return list(self.config.arms)

    @property
    def regression(self) -> bool:
        """Whether the run modelled a continuous outcome (regressors)."""
        return (self.metrics.get("task") or self.config.task) == "regression"

    @property
    def scale(self) -> str:
        """The scale moderators are ranked on (``outcome`` or ``probability``)."""
        return "outcome" if self.regression else "probability"

    @property
    def contrast_words(self) -> str:
        """What a contrast's SHAP values explain, in words."""
        if self.regression:
            return f"the predicted difference in {self.config.target}"
        return "the predicted risk difference"

    def outcomes(self) -> pd.DataFrame | None:
        if self._outcomes is None and self.config.outcomes.is_file():
            frame = pd.read_parquet(self.config.outcomes)
            if frame.index.name != "participant_id" and "participant_id" in frame.columns:
                frame = frame.set_index("participant_id")
            self._outcomes = frame
        return self._outcomes

    def features(self) -> Any:
        if self._features is None and self.config.features.is_file():
            self._features = read_feature_table(self.config.features)
        return self._features


# ------------------------------------------------------------------------------ sections


def _cohort_section(run: _Run) -> str:
    outcomes = run.outcomes()
    if outcomes is None:
        return _missing(f"outcomes table {run.config.outcomes}")
    arm, target, site = run.config.arm_column, run.config.target, run.config.combat.site
    parts = [f"<p>{len(outcomes)} participants in the outcomes table "
             f"(<code>{html.escape(str(run.config.outcomes))}</code>).</p>"]
    if arm in outcomes.columns:
        frame = outcomes.assign(_arm=outcomes[arm].astype("string").fillna("not randomised"))
        rows = []
        for name, group in frame.groupby("_arm", sort=True):
            row = {"arm": name, "randomised": len(group)}
            if target in group.columns:
                known = group[target].dropna()
                row["outcome known"] = len(known)
                if _is_binary(known):
                    events = int(known.astype(float).sum())
                    label = "responders" if "respon" in target else f"{target} = 1"
                    row[label] = events
                    row["rate"] = _pct(events / len(known)) if len(known) else "n/a"
                elif pd.api.types.is_numeric_dtype(known) and len(known):
                    row[f"mean {target} (SD)"] = f"{known.mean():.2f} ({known.std():.2f})"
            if "deep_phenotyping" in group.columns:
                row["deep phenotyping"] = int(group["deep_phenotyping"].astype("boolean")
                                              .fillna(False).sum())
            rows.append(row)
        parts.append("<h3>By arm</h3>" + _html_table(pd.DataFrame(rows)))
        if site in outcomes.columns:
            cross = pd.crosstab(frame[site].astype("string").fillna("n/a"), frame["_arm"],
                                margins=True, margins_name="total")
            cross = cross.rename_axis(index=site, columns=None).reset_index()
            parts.append(f"<h3>{html.escape(site)} × arm</h3>" + _html_table(cross))
    population = run.config.population
    if population:
        parts.append(f"<p>Training population: <b>{html.escape(str(population))}</b>"
                     + (" (deep-phenotyped participants only)" if population == "deep" else "")
                     + ".</p>")
    return "\n".join(parts)


def _qc_section(run: _Run) -> str:
    table = run.features()
    if table is None:
        return _missing(f"feature table {run.config.features}")
    codebook = table.codebook
    roles = (codebook.reset_index().pivot_table(index="modality", columns="role", values="name",
                                                aggfunc="size", fill_value=0)
             .rename_axis(columns=None).reset_index()
             if "role" in codebook.columns else codebook.groupby("modality").size()
             .rename("features").reset_index())
    parts = [f"<p>{table.data.shape[1]} columns × {table.data.shape[0]} participant-sessions "
             f"in <code>{html.escape(str(run.config.features))}</code>.</p>",
             "<h3>Columns by modality and role</h3>" + _html_table(roles)]
    counts = _modality_counts(table)
    if len(counts):
        parts.append("<h3>Extraction QC by modality</h3><p class=\"meta\">"
                     "<i>sessions with data</i>: participant-sessions with at least one value of "
                     "the modality in the table (the successes); the other columns count the QC "
                     "records by status (some extractors record problems only).</p>"
                     + _html_table(counts))
        problems = table.qc[table.qc["status"] != "ok"]
        if len(problems):
            reasons = (problems.groupby(["modality", "status", "reason"]).size()
                       .rename("records").reset_index().sort_values("records", ascending=False)
                       .head(15))
            parts.append("<h3>Most frequent QC problems</h3>" + _html_table(reasons))
    session = run.config.session
    data = table.session(session) if len(table.data) else table.data
    if "role" in codebook.columns:
        predictors = codebook.index[codebook["role"] == "feature"]
        data = data[[c for c in data.columns if c in set(predictors)]]
    if data.shape[1]:
        missing = data.isna().mean().sort_values(ascending=False).head(15)
        parts.append(f"<h3>Most missing predictors ({html.escape(str(session))}; "
                     "role = feature)</h3>"
                     + _html_table(pd.DataFrame({"feature": missing.index,
                                                 "missing": [_pct(v) for v in missing]})))
    return "\n".join(parts)


def _modality_counts(table: Any) -> pd.DataFrame:
    """Per modality: participant-sessions with any value in the table, and QC records by
    status."""
    codebook = table.codebook
    rows = {}
    if len(table.data) and "modality" in codebook.columns:
        for modality, names in codebook.groupby("modality").groups.items():
            columns = [c for c in names if c in table.data.columns]
            if columns:
                rows[modality] = int(table.data[columns].notna().any(axis=1).sum())
    counts = pd.DataFrame({"sessions with data": pd.Series(rows, dtype="int64")})
    if len(table.qc):
        status = table.qc.pivot_table(index="modality", columns="status", values="item",
                                      aggfunc="size", fill_value=0)
        status.columns = [f"QC {c}" for c in status.columns]
        counts = counts.join(status, how="outer")
    counts = counts.fillna(0).astype("int64")
    return counts.rename_axis("modality").reset_index()


def _performance_section(run: _Run) -> str:
    arms = (run.metrics.get("arms") or {})
    if not arms:
        return _missing("metrics/metrics.json")
    if run.regression:
        return _regression_performance(run, arms)
    weak = run.explain.get("arms_without_signal") or {}
    rows = []
    for arm, m in arms.items():
        row = {"arm": arm, "status": m.get("status", ""), "n": m.get("n"),
               "responders": m.get("n_responders")}
        if m.get("status") == "ok":
            row["AUC (95% CI)"] = _ci(m.get("auc"))
            row["Brier (95% CI)"] = _ci(m.get("brier"), 3)
            row["scaled Brier"] = _num((m.get("scaled_brier") or {}).get("estimate"), 2)
            row["calibration slope"] = _ci(m.get("calibration_slope"))
            row["CITL"] = _ci(m.get("calibration_intercept"))
            row["O/E"] = _ci(m.get("oe_ratio"))
            row["ICI"] = _num(m.get("ici"), 3)
            permutation = m.get("permutation") or {}
            row["permutation p"] = _num(permutation.get("p_value"), 3)
            row["p from"] = permutation.get("p_method", "empirical") if permutation else ""
        else:
            row["AUC (95% CI)"] = str(m.get("reason", ""))
        if arm in weak:
            row["signal"] = "none (see below)"
        elif m.get("status") == "ok":
            row["signal"] = "yes"
        rows.append(row)
    parts = [_html_table(pd.DataFrame(rows))]
    if weak:
        parts.append('<p class="note">No evidence of signal: ' + "; ".join(
            f"<b>{_e(a)}</b> ({_e(r)})" for a, r in weak.items()) + ". Its contrasts are "
            f"marked <i>{NO_SIGNAL}</i> in the moderator section.</p>")
    parts.append("<p class=\"meta\">Out-of-fold predictions of the nested cross-validation "
                 "(averaged over repeats). " + html.escape(
                     "; ".join(f"{k}: {v}" for k, v in (run.metrics.get("definitions") or {})
                               .items() if k in ("auc", "calibration_slope",
                                                 "calibration_intercept", "oe_ratio", "ici",
                                                 "permutation"))) + "</p>")
    figures = []
    for arm in arms:
        for kind in ("roc", "calibration"):
            path = run.dir.figure_png(kind, arm)
            if path.is_file():
                figures.append((path, f"{arm}: {'ROC curve' if kind == 'roc' else 'calibration'}"))
    parts.append(_figures(figures) if figures else _missing("figures/roc_<arm>.png"))
    return "\n".join(parts)


def _regression_performance(run: _Run, arms: dict[str, Any]) -> str:
    rows = []
    for arm, m in arms.items():
        row = {"arm": arm, "status": m.get("status", ""), "n": m.get("n")}
        if m.get("status") == "ok":
            row["R² (95% CI)"] = _ci(m.get("r2"))
            row["RMSE (95% CI)"] = _ci(m.get("rmse"), 3)
            row["MAE (95% CI)"] = _ci(m.get("mae"), 3)
            row["calibration slope"] = _ci(m.get("calibration_slope"))
            row["CITL"] = _ci(m.get("calibration_intercept"), 3)
            row["permutation p"] = _num((m.get("permutation") or {}).get("p_value"), 3)
        else:
            row["R² (95% CI)"] = str(m.get("reason", ""))
        rows.append(row)
    definitions = run.metrics.get("definitions") or {}
    figures = [(run.dir.figure_png("calibration", arm),
                f"{arm}: observed against predicted {run.config.target}") for arm in arms
               if run.dir.figure_png("calibration", arm).is_file()]
    return "\n".join([
        _html_table(pd.DataFrame(rows)),
        "<p class=\"meta\">Out-of-fold predicted " + _e(run.config.target)
        + " of the nested cross-validation (averaged over repeats). " + html.escape(
            "; ".join(f"{k}: {v}" for k, v in definitions.items()
                      if k in ("r2", "rmse", "calibration_slope", "calibration_intercept",
                               "permutation"))) + "</p>",
        _figures(figures) if figures else _missing("figures/calibration_<arm>.png")])


def _moderator_section(run: _Run) -> str:
    summary = run.explain
    ranking = run.table("moderator_ranking")
    if not summary or ranking is None:
        return _missing("explain/ (run `backpheno explain RUN_DIR` first)")
    rd = ranking[ranking["scale"] == run.scale]
    k = int((summary.get("settings") or {}).get("stability", {}).get("top_k", 5))
    top = rd[rd["rank"] <= k].copy()
    stability = run.table("moderator_stability")
    if stability is not None:
        top = top.merge(stability[["contrast", "feature", "top_k_frequency", "median_rank"]],
                        on=["contrast", "feature"], how="left")
    permutation = run.table("moderator_permutation")
    if permutation is not None:
        top = top.merge(permutation[["contrast", "feature", "p_max", "p_value"]].rename(
            columns={"p_max": FAMILYWISE, "p_value": PER_FEATURE}),
            on=["contrast", "feature"], how="left")
    weak = run.explain.get("arms_without_signal") or {}
    if "no_signal_arms" in top.columns and top["no_signal_arms"].notna().any():
        top[NO_SIGNAL] = top["no_signal_arms"].fillna("")
    columns = [c for c in ("contrast", NO_SIGNAL, "rank", "feature", "mean_abs_shap", "direction",
                           "top_k_frequency", "median_rank", FAMILYWISE, PER_FEATURE)
               if c in top.columns]
    background = summary.get("background", {})
    parts = [
        f"<p>SHAP values of {_e(run.contrast_words)} between arms for "
        f"{summary.get('n_explained')} participants, shared background of "
        f"{background.get('size')} participants. Features ranked within each contrast by mean "
        f"|SHAP| ({'outcome' if run.regression else 'probability'} scale); <i>direction</i> "
        f"&gt; 0 means higher values favour the first arm of the contrast.</p>",
        _figures([(_explain_figure(run, "moderator_ranking"),
                   "Moderator ranking across contrasts" + (
                       f"; labelled (no signal), in red: contrasts with an arm whose model "
                       f"shows no signal ({', '.join(weak)})" if weak else ""))]),
        f"<h3>Top {k} moderators per contrast</h3>" + _html_table(top[columns]),
    ]
    if permutation is not None:
        parts.append(_permutation_note(permutation))
    if weak:
        parts.append('<p class="note">' + "; ".join(
            f"<b>{_e(a)}</b>: {_e(r)}" for a, r in weak.items())
            + f". Contrasts marked <i>{NO_SIGNAL}</i> compare against a model that predicts no "
            "better than chance: their SHAP values mostly describe that model's fitting noise, "
            "so their moderator ranking is not evidence of moderation.</p>")
    dependence = sorted(run.dir.explain.figures.glob("dependence_*.png"))
    if dependence:
        what = f"predicted {_e(run.config.target)}" if run.regression else "predicted response"
        parts.append(f"<h3>Dependence of the {what} on the top moderators</h3>"
                     + _figures([(p, p.stem.removeprefix("dependence_").replace("__", " · "))
                                 for p in _listed(run, dependence)]))
    beeswarms = sorted(run.dir.explain.figures.glob("beeswarm_*.png"))
    if beeswarms:
        what = f"predicted {_e(run.config.target)}" if run.regression else "predicted response"
        parts.append(f"<h3>What drives each arm's {what}</h3>"
                     + _figures([(p, p.stem.removeprefix("beeswarm_"))
                                 for p in _listed(run, beeswarms)]))
    return "\n".join(parts)


FAMILYWISE = "family-wise p (max-T)"
PER_FEATURE = "per-feature p †"
NO_SIGNAL = "no signal"


def _permutation_note(permutation: pd.DataFrame) -> str:
    n = int(permutation["n_permutations"].max())
    return (f'<p class="note">The <b>{FAMILYWISE}</b> is the headline result: in each of {n} '
            "permutations of the arm labels every arm was refitted and the largest mean |SHAP| "
            "over <i>all</i> features of the contrast recorded, so a feature's p accounts for "
            "its having been selected as a top moderator (Westfall &amp; Young single-step "
            "max-T; for the top-ranked feature it is the global test of any SHAP moderation in "
            f"the contrast). † The per-feature p compares a feature with its own null only and "
            "is <b>not</b> adjusted for selecting the top features among many: on a cohort "
            "without moderators it is small for many top-ranked features by construction. "
            f"The smallest attainable p is 1/{n + 1} = {1 / (n + 1):.3f}. The family-wise p "
            "over every contrast at once (<code>p_max_all</code>) is in "
            "<code>explain/tables/moderator_permutation.csv</code>.</p>")


#: Rows of the formal table shown before the rest is collapsed.
FORMAL_ROWS = 25


def _formal_section(run: _Run) -> str:
    table = run.table("moderation")
    if table is None:
        return _missing("explain/tables/moderation.csv")
    settings = (run.explain.get("settings") or {}).get("formal", {})
    alpha = float(settings.get("alpha", 0.05))
    pairs = table[table["kind"] != "omnibus"].sort_values("p", kind="stable")
    flagged = pairs[pairs["q"] < alpha]
    shown = flagged if len(flagged) else pairs.head(10)
    binary = (table["family"] == "binomial").any()
    out = pd.DataFrame({"moderator": shown["moderator"], "contrast": shown["contrast"],
                        "n": shown["n"]})
    if binary:
        out["OR per SD (95% CI)"] = [f"{o:.2f} ({lo:.2f}-{hi:.2f})" for o, lo, hi in
                                     zip(shown["odds_ratio"], shown["or_low"], shown["or_high"],
                                         strict=True)]
        out["RD interaction per SD (95% CI)"] = [
            f"{e:+.3f} ({lo:+.3f} to {hi:+.3f})" for e, lo, hi in
            zip(shown["rd_estimate"], shown["rd_low"], shown["rd_high"], strict=True)]
    else:
        out["interaction per SD (95% CI)"] = [
            f"{e:+.3f} ({lo:+.3f} to {hi:+.3f})" for e, lo, hi in
            zip(shown["estimate"], shown["ci_low"], shown["ci_high"], strict=True)]
    out["p"] = [_num(v, 3) for v in shown["p"]]
    out["q"] = [_num(v, 3) for v in shown["q"]]
    n_moderators = table["moderator"].nunique()
    n_tests = int(pairs["p"].notna().sum())
    heading = (f"{len(flagged)} of {n_tests} moderator × contrast tests pass q &lt; {alpha:g}"
               if len(flagged) else f"no test passes q &lt; {alpha:g}; the 10 smallest p-values")
    omnibus = table[table["kind"] == "omnibus"].sort_values("p").head(10)
    covariates = ", ".join(run.explain.get("formal_covariates", [])) or "no covariates"
    first = _html_table(out.head(FORMAL_ROWS))
    if len(out) > FORMAL_ROWS:
        first += (f"<details><summary>The other {len(out) - FORMAL_ROWS} tests at q &lt; "
                  f"{alpha:g}</summary>" + _html_table(out.iloc[FORMAL_ROWS:]) + "</details>")
    parts = [f"<p>{n_moderators} candidate moderators, one model each "
             f"(outcome ~ arm × moderator + {_e(covariates)}).</p>",
             f"<h3>{heading}</h3>" + first]
    forest = _explain_figure(run, "forest_interactions")
    if forest is not None:
        parts.append(_figures([(forest, "Interaction estimates (pairs of arms)")]))
    if len(omnibus):
        parts.append("<h3>Omnibus test of all arm × moderator terms (smallest p)</h3>"
                     + _html_table(pd.DataFrame({
                         "moderator": omnibus["moderator"], "chi2": [_num(v, 2) for v in
                                                                    omnibus["statistic"]],
                         "df": omnibus["df"], "p": [_num(v, 3) for v in omnibus["p"]],
                         "q": [_num(v, 3) for v in omnibus["q"]]})))
    return "\n".join(parts)


CREDIBILITY_COLUMNS = ("moderator", "contrast", "item1_a_priori", "item2_prior_evidence",
                       "item3_chance", "item4_multiplicity", "item5_cut_points", "scales_agree",
                       "shap_rank", "shap_direction_agrees", "shap_top_k_frequency",
                       "related_outcomes", "overall")


def credibility_digest(table: pd.DataFrame, alpha: float,
                       construct: pd.Series | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per moderator (or per construct, given ``construct``: feature -> construct) with
    at least one contrast at ``q < alpha``: its smallest-p contrast, the contrasts that pass and
    the other indicators of the construct that pass, sorted by p. Columns that take one value on
    every row are returned separately (column -> value) instead of repeated."""
    passing = table[table["q"] < alpha].sort_values("p", kind="stable").copy()
    if passing.empty:
        return passing.reindex(columns=["moderator"]), {}
    key = (passing["moderator"].map(lambda m: construct.get(m, m)) if construct is not None
           else passing["moderator"])
    passing["_key"] = key.to_numpy()
    contrasts = passing.groupby("_key")["contrast"].agg(lambda c: ", ".join(dict.fromkeys(c)))
    best = passing.drop_duplicates("_key").copy()
    added = {f"contrasts with q < {alpha:g}": best["_key"].map(contrasts).to_numpy()}
    if construct is not None:
        related = passing.groupby("_key")["moderator"].agg(lambda m: list(dict.fromkeys(m)))
        added["related indicators passing"] = [
            ", ".join(m for m in related[k] if m != first)
            for k, first in zip(best["_key"], best["moderator"], strict=True)]
    for offset, (name, values) in enumerate(added.items()):
        best.insert(2 + offset, name, values)
    columns = [c for c in CREDIBILITY_COLUMNS if c in best.columns]
    best = best[columns[:2] + list(added) + columns[2:] + ["p", "q"]]
    constant = {c: str(best[c].iloc[0]) for c in best.columns[2 + len(added):]
                if c not in ("p", "q") and (best[c].astype(str) == str(best[c].iloc[0])).all()}
    return best.drop(columns=list(constant)), constant


def _credibility_section(run: _Run) -> str:
    table = run.table("credibility")
    if table is None:
        return _missing("explain/tables/credibility.csv")
    alpha = float(((run.explain.get("settings") or {}).get("formal") or {}).get("alpha", 0.05))
    constructs = run.table("constructs")
    construct = (constructs.set_index("feature")["construct"] if constructs is not None
                 else None)
    digest, constant = credibility_digest(table, alpha, construct)
    unit = ("construct (features whose values correlate with |Spearman r| &ge; "
            f"{_e(_construct_r(run))} count as one; the best-scoring indicator is shown)"
            if construct is not None else "moderator")
    passing = table[table["q"] < alpha]
    intro = ("<p>Items 3-5 are answered automatically from the analysis; item 1 from the "
             "hypotheses declared in the configuration (a time-stamped protocol must confirm "
             "them); item 2 (prior evidence) and the overall rating need a person. "
             f"<b>Summary: one row per {unit} with a formal interaction test at q &lt; "
             f"{alpha:g}</b> in at least one contrast (its smallest-p contrast shown). All "
             f"{len(passing)} moderator × contrast rows at q &lt; {alpha:g} are below, "
             f"collapsed; <code>explain/tables/credibility.csv</code> holds every one of the "
             f"{len(table)} rows with the basis of every answer.</p>")
    if digest.empty:
        body = f"<p>No moderator has a formal test at q &lt; {alpha:g}.</p>"
    else:
        body = _html_table(digest.assign(p=[_num(v, 3) for v in digest["p"]],
                                         q=[_num(v, 3) for v in digest["q"]]))
        if constant:
            body += ("<p class=\"meta\">Same answer on every row above: " + "; ".join(
                f"{_e(c)} = {_e(v)}" for c, v in constant.items()) + ".</p>")
    if passing.empty:
        return intro + body
    full = passing[[c for c in (*CREDIBILITY_COLUMNS, "p", "q") if c in passing.columns]]
    return (intro + body + f"<details><summary>Every moderator × contrast at q &lt; {alpha:g} "
            f"({len(full)} rows)</summary>" + _html_table(full.sort_values("p", kind="stable"))
            + "</details>")


def _construct_r(run: _Run) -> Any:
    return ((run.explain.get("settings") or {}).get("figures") or {}).get("construct_r", 0.8)


def _methods_section(run: _Run) -> str:
    paragraphs = [_training_methods(run)]
    if run.explain:
        paragraphs += [_shap_methods(run.explain, run), _formal_methods(run)]
    return "".join(f"<p>{p}</p>" for p in paragraphs)


ADJUSTMENT_NAMES = {"bh": "Benjamini-Hochberg", "holm": "Holm", "by": "Benjamini-Yekutieli",
                    "bonferroni": "Bonferroni"}


def _e(value: Any) -> str:
    return html.escape(str(value))


def _training_methods(run: _Run) -> str:
    c = run.config
    cv, pre, search = c.cv, c.preprocess, c.model.search
    table = run.features()
    present = (set(table.codebook["modality"]) if table is not None else None)
    blocks = ", ".join(f"{b.name} ({'/'.join(b.modalities)}"
                       f"{', ComBat-harmonised' if b.harmonize else ''})"
                       for b in c.blocks
                       if present is None or present & set(b.modalities)) or "?"
    imputation = f"imputation {pre.impute}"
    if pre.missing_indicator:
        imputation += " with missing-value indicators"
    imputation += f", scaling {pre.scale}"
    if pre.filter_k:
        imputation += f", univariate filter k={pre.filter_k}"
    tuning = (f"{search.kind} search over {', '.join(search.space)}"
              if search.space else "fixed hyper-parameters")
    n_perm = c.permutation.n_permutations
    permutation = (f"; a permutation test refitted the whole pipeline {n_perm} times"
                   if n_perm else "")
    population = {"all": "all participants", "deep": "the deep-phenotyped participants"}[
        c.population]
    if run.regression:
        performance = (f"Performance is the out-of-sample R², RMSE and MAE of the out-of-fold "
                       f"predictions with bootstrap CIs; calibration the slope and intercept of "
                       f"the observed on the predicted outcome{permutation}.")
    else:
        performance = (f"Discrimination is the AUC of the out-of-fold predictions with a DeLong "
                       f"95% CI; calibration the slope, calibration-in-the-large, O/E ratio "
                       f"and ICI; the Brier score has a stratified bootstrap CI{permutation}.")
    kind = "regressor" if run.regression else "classifier"
    scheme = ("K-fold, not stratified (continuous outcome)"
              if run.regression and cv.scheme == "stratified_kfold" else cv.scheme)
    return (f"One {_e(c.model.name)} {kind} per arm ({_e(', '.join(run.arms))}) "
            f"was trained to predict <i>{_e(c.target)}</i> among {_e(population)} "
            f"randomised to that arm, from baseline ({_e(c.session)}) "
            f"features in the blocks {_e(blocks)}; {_e(imputation)}. Every fitted step ran "
            f"inside the folds of a nested cross-validation ({_e(cv.repeats)} x "
            f"repeated {_e(cv.outer_folds)}-fold {_e(scheme)}, "
            f"{_e(cv.inner_folds)}-fold inner loop, {_e(tuning)}). {performance}")


def _shap_methods(s: dict[str, Any], run: _Run) -> str:
    settings = s.get("settings") or {}
    stability, permutation = settings.get("stability") or {}, settings.get("permutation") or {}
    background = s.get("background") or {}
    methods = ", ".join(sorted(set((s.get("methods") or {}).values())))
    strata = f", stratified by {background['strata']}" if background.get("strata") else ""
    error = _num((s.get("max_additivity_error") or {}).get(f"contrast_{run.scale}"), 2)
    contrasts = s.get("contrasts", [])
    if len(run.arms) == 2 or len(contrasts) == 1:
        which = "the one contrast between the two arms"
    elif any(c.get("kind") == "one_vs_rest" for c in contrasts):
        which = (f"every pair of arms and each arm against the mean of the others; "
                 f"{len(contrasts)} contrasts")
    else:
        which = f"every pair of arms; {len(contrasts)} contrasts"
    if run.regression:
        exactness = ("are the differences of the per-arm values of the predicted outcome, "
                     "exact Shapley values of the predicted difference for tree ensembles and "
                     "linear models, and add up to it")
        quantity = f"predicted difference in {_e(run.config.target)}"
    else:
        exactness = ("are the same weighted differences of the per-arm probability-scale "
                     "values and add up to the predicted risk difference")
        quantity = "risk difference"
    text = (f"Moderators were explained with interventional SHAP values of the final per-arm "
            f"models ({_e(methods)}) for {_e(s.get('n_explained'))} participants, with one "
            f"background sample of {_e(background.get('size'))} participants shared by all arms "
            f"(random{_e(strata)}, seed {_e(background.get('seed'))}). The SHAP values of the "
            f"{quantity} ({which}) {exactness} (largest deviation {error}). Features were "
            f"ranked by mean |SHAP|")
    if stability.get("n_resamples"):
        text += (f"; stability is the share of {_e(stability['n_resamples'])} "
                 f"{_e(stability.get('scheme'))} resamples (arms refitted) in which a feature "
                 f"ranks in the top {_e(stability.get('top_k'))}")
    if permutation.get("n_permutations"):
        text += (f"; permutation p-values come from {_e(permutation['n_permutations'])} "
                 f"permutations of the arm labels"
                 + (f" within {_e(', '.join(s['permutation_strata']))}"
                    if s.get("permutation_strata") else "")
                 + " with every arm refitted (own-feature and max-T)")
    return text + "."


def _formal_methods(run: _Run) -> str:
    s = run.explain
    formal = (s.get("settings") or {}).get("formal") or {}
    binary = _binary_family(run)
    se = "HC3" if formal.get("ols_se", "HC3") == "HC3" else "classical"
    regression = ("logistic regression" if binary
                  else f"least-squares regression ({se} standard errors)")
    adjustment = ADJUSTMENT_NAMES.get(formal.get("adjust", "bh"), formal.get("adjust"))
    covariates = ", ".join(s.get("formal_covariates", [])) or "nothing"
    level = f"{float(formal.get('level', 0.95)):.0%}"
    if binary:
        estimates = (f"interaction odds ratios per SD with Wald {level} CIs, the interaction on "
                     f"the risk-difference scale as the average cross-partial derivative of the "
                     f"fitted risk difference (Ai &amp; Norton 2003) with a delta-method CI")
    else:
        estimates = (f"the interaction β (change in the treatment effect on "
                     f"{_e(run.config.target)} per SD of the moderator) with {level} CIs")
    families = ("" if len(run.arms) == 2 else " within each family of contrasts")
    return (f"Formal moderation: for each of {_e(s.get('n_candidates'))} candidate moderators, "
            f"{regression} of the outcome on arm, the standardised moderator and their "
            f"interaction, adjusted for {_e(covariates)}; {estimates}, and {_e(adjustment)} "
            f"adjusted q-values{families}. Credibility items follow ICEMAN "
            f"(Schandelmaier et al., CMAJ 2020;192:E901-E906).")


def _caveats_section(run: _Run) -> str:
    items = [f"<b>{_e(problem)}</b>: tables read from it may not match the trained models."
             for problem in run.changed_inputs]
    arms = run.metrics.get("arms") or {}
    n_features = run.explain.get("n_features")
    for arm, m in arms.items():
        n, events = m.get("n") or 0, m.get("n_responders") or 0
        smaller = min(events, n - events) if n else 0
        if run.regression and n_features and m.get("status") == "ok":
            per_feature = n / n_features
            items.append(f"{_e(arm)}: {n} participants — {per_feature:.1f} per candidate "
                         f"feature ({n_features} features)"
                         + ("; with fewer than 10 the model is likely to overfit (see the "
                            "calibration slope)." if per_feature < 10 else "."))
        elif n_features and smaller:
            per_feature = smaller / n_features
            items.append(f"{_e(arm)}: {n} participants, {events} responders — "
                         f"{per_feature:.2f} events of the smaller class per candidate feature "
                         f"({n_features} features)"
                         + ("; with fewer than 10 the model is likely to overfit (see the "
                            "calibration slope)." if per_feature < 10 else "."))
        elif m.get("status") != "ok":
            items.append(f"{html.escape(arm)}: no model "
                         f"({html.escape(str(m.get('reason', m.get('status'))))}).")
    weak = run.explain.get("arms_without_signal") or {}
    if weak:
        level = run.explain.get("signal_p_level", 0.05)
        items.append(f"No evidence of signal (out-of-fold AUC or R² interval not above chance, "
                     f"or its permutation p above {_e(level)}) for {_e(', '.join(weak))}: "
                     f"every contrast with {'this arm' if len(weak) == 1 else 'these arms'} "
                     f"(marked <i>{NO_SIGNAL}</i>) is driven by that model's noise on its side; "
                     "its SHAP moderators are not evidence of moderation. The formal moderation "
                     "table does not use the models and is unaffected.")
    permutation = run.table("moderator_permutation")
    if permutation is not None:
        items.append("SHAP moderator permutation p-values: read the family-wise (max-T) p; the "
                     "per-feature p ignores that the features were selected as the top ones.")
    moderation = run.table("moderation")
    if moderation is not None:
        tests = int(moderation.loc[moderation["kind"] != "omnibus", "p"].notna().sum())
        items.append(f"{tests} formal moderator × contrast tests: read p-values with their "
                     f"q-values; a claim needs replication, whatever its q.")
    if run.explain:
        items.append("SHAP values describe the fitted models, not causal mechanisms; "
                     "moderators are pre-randomisation features, but correlated features share "
                     "or trade credit.")
        if any(m.endswith("_rescaled") and "probability" in k
               for k, m in (run.explain.get("methods") or {}).items()):
            items.append("For xgboost and logistic models the probability-scale SHAP values are "
                         "the per-reference rescaled values (shap's definition for "
                         "model_output='probability'): they add up exactly to each risk "
                         "difference but are not its exact Shapley values; rankings on the "
                         "exact log-odds scale are in explain/tables/moderator_ranking.csv.")
        outcomes = run.outcomes()
        if outcomes is not None and "ineligible_arm" in outcomes.columns:
            items.append("Predictions under an arm a participant was ineligible for are "
                         "extrapolations; the ranking averages over every explained "
                         "participant.")
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>" if items else \
        _missing("no run information")


# ------------------------------------------------------------------------------ helpers


def image_data_uri(path: str | Path) -> str:
    """``data:image/png;base64,...`` (or SVG) URI of an image file."""
    path = Path(path)
    kind = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg",
            ".jpeg": "image/jpeg"}.get(path.suffix.lower())
    if kind is None:
        raise InputError("unsupported image type for embedding", file=path)
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _figures(items: Iterable[tuple[Path | None, str]]) -> str:
    parts = []
    for path, caption in items:
        if path is None or not Path(path).is_file():
            parts.append(_missing(f"figure {caption}"))
            continue
        parts.append(f'<figure><img src="{image_data_uri(path)}" alt="{html.escape(caption)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return '<div class="figs">' + "".join(parts) + "</div>"


def _explain_figure(run: _Run, name: str) -> Path | None:
    path = run.dir.explain.figure_png(name)
    return path if path.is_file() else None


def _listed(run: _Run, paths: list[Path]) -> list[Path]:
    """Figures written by the last explain run (summary.json lists them)."""
    listed = set((run.explain.get("figures") or {}).values())
    if not listed:
        return paths
    return [p for p in paths if str(p.relative_to(run.dir.explain.root)) in listed]


def _html_table(frame: pd.DataFrame) -> str:
    """A table in a box that scrolls sideways on narrow screens (the page itself never does)."""
    return ('<div class="table-wrap">' + frame.to_html(index=False, escape=True, border=0,
                                                       na_rep="",
                                                       float_format=lambda v: f"{v:.3g}")
            + "</div>")


def _missing(what: str) -> str:
    return f'<p class="missing">not available: {html.escape(what)}</p>'


def _ci(entry: dict[str, Any] | None, digits: int = 2) -> str:
    if not entry:
        return "n/a"
    estimate, low, high = entry.get("estimate"), entry.get("ci_low"), entry.get("ci_high")
    if estimate is None:
        return "n/a"
    if low is None or high is None:
        return _num(estimate, digits)
    # no-break space and non-breaking hyphen: an interval never wraps inside a table cell
    return f"{estimate:.{digits}f}\u00a0({low:.{digits}f}\u2011{high:.{digits}f})"


def _num(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{float(value):.{digits}g}" if abs(float(value)) < 1e-2 else \
        f"{float(value):.{digits}f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _is_binary(values: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(values) or str(values.dtype) == "boolean" or \
        set(pd.unique(values.dropna())) <= {0, 1}


def _binary_family(run: _Run) -> bool:
    table = run.table("moderation")
    return table is None or (table["family"] == "binomial").any()
