"""The HTML report: self-contained (no external references), every embedded image decodes,
every section present; the CLI writes it."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from backpheno.cli import app
from backpheno.errors import InputError
from backpheno.explain.report import build_report, image_data_uri, write_report


class _References(HTMLParser):
    """Every src / href attribute and every <link>, <script>, <iframe> tag."""

    def __init__(self) -> None:
        super().__init__()
        self.attributes: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "action", "poster"):
                self.attributes.append((tag, name, value or ""))


def test_report_is_self_contained_and_every_image_decodes(explained_run, tmp_path):
    run, *_ = explained_run
    path = write_report(run, tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"https?:", text, re.IGNORECASE)
    assert "url(" not in text and "@import" not in text
    parser = _References()
    parser.feed(text)
    assert not {"script", "link", "iframe", "object", "embed"} & set(parser.tags)
    images = 0
    for tag, name, value in parser.attributes:
        if name == "href":
            assert value.startswith("#"), value  # in-page navigation only
            continue
        assert tag == "img" and name == "src", (tag, name)
        header, _, payload = value.partition(",")
        assert header == "data:image/png;base64", header
        with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as image:
            image.load()
            assert image.size[0] > 10 and image.size[1] > 10
        images += 1
    # ROC + calibration per arm, ranking heatmap, forest plot, 2 dependence plots, 3 beeswarms
    assert images == 2 * 3 + 1 + 1 + 2 + 3


def test_report_sections_and_contents(explained_run):
    run, result, inputs, settings = explained_run
    text = build_report(run)
    for section in ("cohort", "qc", "performance", "moderators", "formal", "credibility",
                    "methods", "caveats"):
        assert f'<section id="{section}">' in text
    assert "not available" not in text
    assert "unreadable file" in text  # the QC problem of the fixture
    assert "0.60\u00a0(0.50\u20110.75)" in text  # ESC's AUC with its CI, never wrapped
    assert "too few &lt;responders&gt; &amp; others" in text  # escaped once, not twice
    assert "interventional SHAP values" in text and "Benjamini-Hochberg" in text
    assert "40 participants" in text  # the background size in the methods
    top = result.ranking[(result.ranking["scale"] == "probability")
                         & (result.ranking["rank"] == 1)]["feature"]
    assert all(feature in text for feature in top)


def test_report_of_an_unexplained_run_says_what_is_missing(explained_run, tmp_path):
    import shutil

    run, *_ = explained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("explain"))
    text = build_report(copy)
    assert "not available: explain/" in text
    assert '<section id="performance">' in text


def test_not_a_run_directory(tmp_path):
    with pytest.raises(InputError, match="not a backpheno run directory"):
        build_report(tmp_path)
    with pytest.raises(InputError, match="unsupported image type"):
        image_data_uri(tmp_path / "figure.gif")


def test_cli_report(explained_run, tmp_path):
    run, *_ = explained_run
    out = tmp_path / "cli.html"
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and f"report: {out}" in result.output
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "run directory not found" in missing.output


def test_cli_explain_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(app, ["explain", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a backpheno run directory" in result.output


class _Table(HTMLParser):
    """Header and body cells of the first table fed."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def _table_after(text: str, heading: str) -> pd.DataFrame:
    """The first HTML table after ``heading`` (numbers parsed where every cell is one)."""
    start = text.index("<table", text.index(heading))
    parser = _Table()
    parser.feed(text[start:text.index("</table>", start) + 8])
    frame = pd.DataFrame(parser.rows[1:], columns=parser.rows[0])
    for column in frame.columns:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if numbers.notna().all():
            frame[column] = numbers
    return frame


def test_qc_counts_successes_and_missingness_covers_predictors_only(explained_run):
    run, result, inputs, settings = explained_run
    text = build_report(run)
    counts = _table_after(text, "Extraction QC by modality").set_index("modality")
    n = len(inputs.X)
    assert counts.loc["questionnaire", "sessions with data"] == n - len(range(0, n, 10))
    assert counts.loc["questionnaire", "QC missing"] == len(range(0, n, 10))
    assert counts.loc["sim", "sessions with data"] == n
    assert counts.loc["sim", "QC ok"] == n - len(range(0, n, 40))
    missing = _table_after(text, "Most missing predictors")
    assert "q.pgic.change_v2" not in set(missing["feature"])  # outcome role: not a predictor
    assert list(missing["feature"].iloc[:2]) == ["f2", "q.pain.score"]


def test_headline_permutation_p_is_family_wise_and_the_per_feature_p_carries_a_caveat(
        explained_run):
    run, *_ = explained_run
    text = build_report(run)
    top = _table_after(text, "Top 5 moderators per contrast")
    columns = list(top.columns)
    assert columns.index("family-wise p (max-T)") < columns.index("per-feature p †")
    assert "not</b> adjusted for selecting the top features" in text
    summary = json.loads((run / "explain" / "summary.json").read_text())
    assert {r["contrast"] for r in summary["moderator_permutation"]} == set(top["contrast"].str
                                                                            .split(" ").str[0])


def test_contrasts_with_an_arm_without_signal_are_marked(explained_run):
    run, result, *_ = explained_run
    text = build_report(run)
    ranking = result.ranking[result.ranking["scale"] == "probability"]
    marked = set(ranking.loc[ranking["no_signal_arms"].fillna("") != "", "contrast"])
    assert marked == {"ACT_vs_ESC", "DUL_vs_ESC", "ESC_vs_rest", "ACT_vs_rest", "DUL_vs_rest"}
    top = _table_after(text, "Top 5 moderators per contrast")
    flagged = top.loc[top["no signal"] == "ESC", "contrast"]
    assert set(flagged) == marked and len(flagged) == 5 * len(marked)
    assert (top.loc[top["contrast"] == "DUL_vs_ACT", "no signal"] == "").all()
    performance = _table_after(text, '<section id="performance">').set_index("arm")
    assert performance.loc["ESC", "signal"] == "none (see below)"
    assert performance.loc["ACT", "signal"] == "yes"
    assert "<b>ESC</b> (AUC 0.50 with interval 0.41 to 0.59, not above chance (0.5)" in text
    assert "No evidence of signal" in text and "permutation p 0.55 &gt; 0.05" in text


def test_credibility_summary_has_one_row_per_passing_construct(explained_run):
    run, result, *_ = explained_run
    text = build_report(run)
    section = text[text.index('<section id="credibility">'):]
    summary = _table_after(section, "Summary: one row per construct")
    passing = result.credibility[result.credibility["q"] < 0.05]
    assert sorted(summary["moderator"]) == sorted(passing["moderator"].unique())
    assert summary["moderator"].is_unique
    full = section[section.index("<details>"):section.index("</details>")]
    assert len(_table_after(full, "<table")) == len(passing)


def test_credibility_digest_has_one_row_per_construct():
    from backpheno.explain.report import credibility_digest

    table = pd.DataFrame({
        "moderator": ["anx.raw", "anx.t", "anx.t", "pain", "noise"],
        "contrast": ["A_vs_B", "A_vs_B", "C_vs_B", "C_vs_B", "A_vs_B"],
        "p": [0.001, 0.002, 0.004, 0.003, 0.5], "q": [0.01, 0.01, 0.02, 0.02, 0.6],
        "item3_chance": ["probably yes"] * 4 + ["definitely no"],
        "item4_multiplicity": ["probably yes"] * 5, "shap_rank": [1, 2, 4, 3, 9]})
    construct = pd.Series({"anx.raw": "anx.raw", "anx.t": "anx.raw", "pain": "pain",
                           "noise": "noise"})
    digest, constant = credibility_digest(table, 0.05, construct)
    assert list(digest["moderator"]) == ["anx.raw", "pain"]
    assert digest.iloc[0]["contrasts with q < 0.05"] == "A_vs_B, C_vs_B"
    assert digest.iloc[0]["related indicators passing"] == "anx.t"
    assert constant == {"item3_chance": "probably yes", "item4_multiplicity": "probably yes"}
    plain, _ = credibility_digest(table, 0.05)
    assert list(plain["moderator"]) == ["anx.raw", "anx.t", "pain"]


def test_changed_input_is_an_error_or_with_the_flag_a_caveat(small, fake_run, tmp_path):
    """explain and report compare the feature / outcome tables with inputs.json."""
    import numpy as np
    import pandas as pd

    X, _ = small
    arms = ["ESC", "ACT"]
    outcomes = pd.DataFrame({"site": "s1", "arm1": np.resize(arms, len(X)),
                             "responder": np.arange(len(X)) % 2 == 0}, index=X.index)
    run = fake_run(tmp_path, X, outcomes, arms)
    outcomes.iloc[:-1].to_parquet(tmp_path / "inputs" / "outcomes.parquet")
    for command in ("report", "explain"):
        result = CliRunner().invoke(app, [command, str(run)])
        assert result.exit_code == 2, result.output
        assert "changed since training" in result.output
        assert "--allow-changed-inputs" in result.output
    allowed = CliRunner().invoke(app, ["report", str(run), "--allow-changed-inputs"])
    assert allowed.exit_code == 0, allowed.output
    text = (run / "report.html").read_text()
    assert "changed since training" in text and "may not match the trained models" in text
