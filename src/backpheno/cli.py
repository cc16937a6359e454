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


@app.command("brain-run")
@friendly_errors
def brain_run(
    bold: Annotated[Path, typer.Argument(help="fMRIPrep *_desc-preproc_bold.nii.gz (4-D).")],
    confounds: Annotated[Path, typer.Option(help="fMRIPrep *_desc-confounds_timeseries.tsv.")],
    mask: Annotated[Path | None, typer.Option(help="BOLD brain mask on the same grid.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML with BrainSettings keys "
                                                "(atlas, denoise, connectivity, qc, ...).")] = None,
    gm: Annotated[Path | None, typer.Option(help="GM probability map (label-GM_probseg).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write name, role, unit, value as TSV.")] = None,
) -> None:
    """Extract the brain features of one BOLD run and print them with their QC."""
    import pandas as pd

    from backpheno.config import load_config
    from backpheno.imaging.brain import extract_run
    from backpheno.imaging.settings import BrainSettings
    from backpheno.io import write_tsv

    settings = load_config(config, BrainSettings) if config is not None else BrainSettings()
    result = extract_run(bold, confounds, mask, settings=settings, gm_probseg=gm)
    table = result.codebook[["role", "unit"]].assign(value=result.features)
    with pd.option_context("display.width", 160, "display.max_rows", 400):
        typer.echo(table.round(4).to_string())
    for record in result.qc_records:
        if record["status"] != "ok":
            typer.echo(f"QC {record['status']}: {record['item']}: {record['reason']}")
    if out is not None:
        write_tsv(out, table.reset_index())


def run() -> None:  # pragma: no cover - console entry point used by python -m backpheno
    setup_logging()
    app(prog_name="backpheno")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
