"""The ``backpheno`` command line: one command, one sub-command per stage.

Errors caused by bad input or configuration print one readable message (no traceback) and exit
with status 2.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from backpheno import __version__
from backpheno.errors import BackphenoError
from backpheno.progress import setup_logging

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="backpheno",
    help="Deep phenotyping of chronic low back pain trials: simulate a cohort, extract features, "
    "train per-arm response models, explain moderators, export regime tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

logger = logging.getLogger("backpheno")


def friendly_errors(func: F) -> F:
    """Turn backpheno's own errors into a one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (BackphenoError, FileExistsError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"backpheno {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """backpheno command line."""


@app.command()
@friendly_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Dataset folder to write.")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML settings "
                                                "(SimulateConfig); options below override it.")] = None,
    participants: Annotated[int | None, typer.Option(help="Number of participants.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same dataset).")] = None,
    deep_fraction: Annotated[float | None, typer.Option(help="Share with deep phenotyping.")] = None,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Worker processes.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing dataset folder.")] = False,
) -> None:
    """Write a synthetic BEST-like SMART cohort with planted moderators.

    The folder follows the dataset contract (participants.tsv, phenotype/*.tsv, treatment,
    fMRIPrep-style brain derivatives, lumbar MRI with labels, BIDS-motion IMU recordings) and
    holds ground_truth.json with the generating parameters.
    """
    from backpheno.config import SimulateConfig, load_config, validate_config
    from backpheno.synth import simulate as run

    overrides = {"participants": participants, "seed": seed, "deep_fraction": deep_fraction,
                 "n_jobs": n_jobs}
    if config is not None:
        settings = load_config(config, SimulateConfig, overrides)
    else:
        settings = validate_config({k: v for k, v in overrides.items() if v is not None},
                                   SimulateConfig, source="command line")
    result = run(settings, out, overwrite=overwrite, log_file=Path(out) / "logs" / "simulate.log")
    n_deep = int(result.participants["deep_phenotyping"].sum())
    typer.echo(f"wrote {len(result.participants)} participants ({n_deep} deep) to {result.root}")


@app.command()
@friendly_errors
def extract(
    config: Annotated[Path, typer.Argument(help="YAML settings (ExtractConfig).")],
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Local worker processes.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask distributed scheduler address (tcp://host:8786).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (overrides the "
                                             "config).")] = None,
    allow_failures: Annotated[bool, typer.Option(
        "--allow-failures", help="Exit 0 even if some participants failed.")] = False,
) -> None:
    """Extract one feature table from a dataset, with outcomes and the SMART regime export.

    Runs every configured extractor over every participant and session (in parallel, cached,
    resumable), assembles the FeatureTable (Parquet + codebook + QC), the outcomes table, a
    baseline view and the regime export. Exits with status 1 if any participant failed, unless
    --allow-failures is given.
    """
    from backpheno.cohort import summary
    from backpheno.config import load_config
    from backpheno.extract import ExtractConfig, run_extract

    settings = load_config(config, ExtractConfig, {"n_jobs": n_jobs,
                                                   "scheduler_address": scheduler,
                                                   "out": None if out is None else str(out.resolve())})
    setup_logging(str(Path(settings.out) / "logs" / "extract.log"))
    run = run_extract(settings)
    typer.echo(summary(run.result))
    typer.echo(f"feature table: {run.paths['parquet']}")
    typer.echo(f"regime export: {run.paths['smart_parquet']}")
    if run.result.failures and not allow_failures:
        raise typer.Exit(code=1)


@app.command("export-regime")
@friendly_errors
def export_regime_command(
    features: Annotated[Path, typer.Argument(help="features.parquet written by extract.")],
    outcomes: Annotated[Path, typer.Argument(help="outcomes.parquet written by extract.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    config: Annotated[Path | None, typer.Option(
        "--config", help="YAML with RegimeExportSettings keys.")] = None,
) -> None:
    """Write the SMART regime table (one row per participant: X1, A1, R, X2, A2, Y, p1, p2, W).

    Parquet and CSV plus a JSON sidecar giving each column's role, for Q-learning or
    DynTxRegime / DTRreg code.
    """
    import pandas as pd

    from backpheno.config import load_config, validate_config
    from backpheno.regimes.export import RegimeExportSettings, export_regime
    from backpheno.table import read_feature_table

    settings = (load_config(config, RegimeExportSettings) if config is not None
                else validate_config({}, RegimeExportSettings))
    table = read_feature_table(features)
    paths = export_regime(table, pd.read_parquet(outcomes), settings, out)
    typer.echo(f"regime export: {paths['parquet']} (roles: {paths['roles']})")


@app.command()
@friendly_errors
def explain(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by backpheno train.")],
    config: Annotated[Path | None, typer.Option(
        "--config", help="YAML with ExplainSettings keys (defaults otherwise).")] = None,
    resamples: Annotated[int | None, typer.Option(
        "--resamples", help="Bootstrap resamples for the rank stability (0 to skip).")] = None,
    permutations: Annotated[int | None, typer.Option(
        "--permutations", help="Permutations of the arm labels for the moderator null "
        "(every arm refitted each time; 0 to skip).")] = None,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Worker processes.")] = None,
) -> None:
    """Explain a run's per-arm models: SHAP moderators, formal interactions, figures.

    Per-arm SHAP values, moderators on the risk-difference scale with their stability (and a
    permutation null if asked), formal arm x moderator interactions with FDR q-values and an
    ICEMAN-style credibility summary. Writes RUN_DIR/explain/ (Parquet SHAP values, CSV
    tables, PNG/SVG figures, summary.json).
    """
    from pydantic import ValidationError

    from backpheno.config import format_validation_error, load_config, validate_config
    from backpheno.errors import ConfigError, InputError
    from backpheno.explain.run import ExplainSettings, explain_run_dir

    if not (Path(run_dir) / "run.json").is_file():
        raise InputError("not a backpheno run directory (no run.json)", file=run_dir)
    settings = (load_config(config, ExplainSettings) if config is not None
                else validate_config({}, ExplainSettings))
    try:
        if resamples is not None:
            settings.stability.n_resamples = resamples
        if permutations is not None:
            settings.permutation.n_permutations = permutations
        if n_jobs is not None:
            settings.n_jobs = n_jobs
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, "command line")) from None
    setup_logging(str(Path(run_dir) / "logs" / "explain.log"))
    result = explain_run_dir(run_dir, settings)
    flagged = result.moderation[(result.moderation["kind"] == "pair")
                                & (result.moderation["q"] < settings.formal.alpha)]
    typer.echo(f"explained {result.summary['n_explained']} participants, "
               f"{result.summary['n_features']} features, {len(result.summary['contrasts'])} "
               f"contrasts; {len(flagged)} arm-pair interactions pass q < "
               f"{settings.formal.alpha:g}")
    typer.echo(f"explain outputs: {Path(run_dir) / 'explain'}")


@app.command()
@friendly_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (train, then explain).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="HTML file to write (default RUN_DIR/report.html).")] = None,
) -> None:
    """Write one self-contained HTML report of a run (figures embedded, opens offline)."""
    from backpheno.explain.report import write_report

    path = write_report(run_dir, out)
    typer.echo(f"report: {path}")


def run() -> None:  # pragma: no cover - console entry point used by python -m backpheno
    setup_logging()
    app(prog_name="backpheno")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
