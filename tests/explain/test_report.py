"""The HTML report: self-contained (no external references), every embedded image decodes,
every section present; the CLI writes it."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

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
    assert "0.60 (0.50-0.75)" in text  # ESC's AUC with its CI
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
