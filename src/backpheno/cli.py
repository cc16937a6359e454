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


@app.command("spine-levels")
@friendly_errors
def spine_levels(
    labels: Annotated[Path, typer.Argument(help="Label map (sagittal: vertebrae/discs/canal; "
                                           "with --axial: paraspinal muscles).")],
    scheme: Annotated[str, typer.Option(help="Label scheme: a built-in name (spider, "
                                        "totalspineseg, totalspineseg-legacy, spineps, verse, "
                                        "musclemap), a .tsv/.json file, or inline "
                                        "'1=L5-S1,2=L4-L5'.")],
    image: Annotated[Path | None, typer.Option(help="Sagittal T2w image on the same grid.")] = None,
    fat_fraction: Annotated[Path | None, typer.Option("--fat-fraction",
                                                      help="Fat-fraction map (0..1).")] = None,
    axial: Annotated[bool, typer.Option(help="Measure paraspinal muscles instead.")] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the table as TSV.")] = None,
) -> None:
    """Measure one lumbar label map and print its per-level (or per-muscle) table."""
    import pandas as pd

    from backpheno.imaging.spine import measure_muscles, measure_sagittal
    from backpheno.io import write_tsv

    spec: str | dict[int, str] = scheme
    if "=" in scheme:
        pairs = [item.split("=", 1) for item in scheme.split(",") if item.strip()]
        spec = {int(value): name.strip() for value, name in pairs}
    if axial:
        result = measure_muscles(labels, fat_fraction, scheme=spec)
        table = result.muscles
    else:
        result = measure_sagittal(labels, image, fat_fraction, scheme=spec)
        table = result.levels
    shown = table[table["status"] != "missing"].drop(
        columns=[c for c in table.columns if c.startswith("centroid_")]).dropna(axis=1, how="all")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        typer.echo(f"{labels.name} ({result.scheme.provenance})")
        typer.echo(shown.round(3).to_string())
    if out is not None:
        write_tsv(out, table.reset_index())


def run() -> None:  # pragma: no cover - console entry point used by python -m backpheno
    setup_logging()
    app(prog_name="backpheno")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
