"""Sphinx configuration of the backpheno documentation site (``make docs``).

Reference pages are generated here, at build time, from the code (``backpheno.reference``): the
configuration reference from the pydantic models, the command-line reference from the commands
and one API page per module. The notebooks are rendered with the outputs stored in them (the
test suite executes them; the site does not re-run them). The demo's report, where ``make demo``
has written it, is published as the example report.
"""

from __future__ import annotations

import pkgutil
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))

import backpheno  # noqa: E402
from backpheno.reference import SKIP_MODULES, cli_reference, config_reference  # noqa: E402

GENERATED = DOCS / "_generated"
DEMO_REPORT = ROOT / "demo" / "runs" / "best_stage1" / "report.html"


def _generate() -> None:
    shutil.rmtree(GENERATED, ignore_errors=True)
    (GENERATED / "notebooks").mkdir(parents=True)
    (GENERATED / "config.md").write_text(config_reference(), encoding="utf-8")
    (GENERATED / "cli.md").write_text(cli_reference(), encoding="utf-8")
    modules = sorted(info.name for info in pkgutil.walk_packages(backpheno.__path__,
                                                                 prefix="backpheno.")
                     if info.name not in SKIP_MODULES)
    api = ["# API reference", "", "Generated from the docstrings of every module.", "",
           "```{toctree}", ":maxdepth: 1", ""] + [f"api/{m}" for m in modules] + ["```", ""]
    (GENERATED / "api.md").write_text("\n".join(api), encoding="utf-8")
    (GENERATED / "api").mkdir()
    packages = {m.rpartition(".")[0] for m in modules}
    for module in modules:
        # a package page holds its docstring only: its members are documented where defined
        options = "" if module in packages else "   :members:\n   :show-inheritance:\n"
        (GENERATED / "api" / f"{module}.md").write_text(
            f"# `{module}`\n\n```{{eval-rst}}\n.. automodule:: {module}\n{options}```\n",
            encoding="utf-8")
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy2(notebook, GENERATED / "notebooks" / notebook.name)
    extra = GENERATED / "extra"
    extra.mkdir()
    if DEMO_REPORT.is_file():
        shutil.copy2(DEMO_REPORT, extra / "example_report.html")
    # a raw HTML link to the copy at the site root (html_extra_path): a Markdown link is a MyST
    # cross-reference to a document of that name (this page), which Sphinx -W refuses
    example = ("The report `make demo` wrote for the demo cohort: "
               '<a href="../example_report.html">open the example report</a> '
               "(one self-contained page)."
               if DEMO_REPORT.is_file() else
               "Run `make demo` before `make docs` to publish the demo cohort's report here "
               f"(`{DEMO_REPORT.relative_to(ROOT)}` was not found when this site was built).")
    (GENERATED / "example_report.md").write_text(
        "# Example report\n\n" + example + "\n\nWhat the page holds and how each number is "
        "computed: [the explain guide](../explain.md).\n", encoding="utf-8")


_generate()

#: ``|x|`` in a docstring is an absolute value (``mean |SHAP|``), not a reStructuredText
#: substitution reference.
_BARS = re.compile(r"(?<![\\|`])\|(?=[^\s|])([^|\n`]*?[^\s|\\])\|(?![|_])")


def _plain_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    """Escape absolute-value bars, and asterisks in the command-line help texts."""
    for i, line in enumerate(lines):
        line = _BARS.sub(r"\\|\1\\|", line)
        if name.startswith("backpheno.cli."):
            line = re.sub(r"(?<![\\*])\*(?![*\s])", r"\\*", line)
        lines[i] = line


def setup(app) -> None:
    app.connect("autodoc-process-docstring", _plain_docstring)

project = "backpheno"
author = "The backpheno developers"
release = backpheno.__version__
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"
html_theme = "alabaster"
html_extra_path = [str(GENERATED / "extra")]
html_static_path = ["_static"]
html_css_files = ["site.css"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
# "more than one target for cross-reference": a name in a docstring's type (n_samples,
# LabelScheme) that two documented objects share; the link goes to the first.
suppress_warnings = ["myst.header", "ref.python"]
