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
def train(
    config: Annotated[Path, typer.Argument(help="Training YAML (TrainConfig).")],
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Run directory to create "
                                                 "(default <output>/<name>-<timestamp>).")] = None,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Worker processes.")] = None,
    permutations: Annotated[int | None, typer.Option(
        "--permutations", help="Override permutation.n_permutations.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
) -> None:
    """Train one response classifier per arm with nested CV; write a run directory.

    The run directory holds the resolved config, environment and input checksums, out-of-fold
    and counterfactual predictions, metrics (JSON + CSV), models with a hash manifest, figures
    and logs (docs/run_directory.md).
    """
    from backpheno.config import TrainConfig, load_config
    from backpheno.models.train import train as run_training

    settings = load_config(config, TrainConfig, {"n_jobs": n_jobs,
                                                 "permutation.n_permutations": permutations})
    result = run_training(settings, run_dir, overwrite=overwrite)
    for arm, arm_result in result.arms.items():
        if arm_result.status != "ok":
            typer.echo(f"{arm:>6}: {arm_result.status} - {arm_result.reason}")
            continue
        auc = arm_result.metrics["auc"]
        line = (f"{arm:>6}: n={arm_result.n:4d} responders={arm_result.n_responders:4d} "
                f"AUC {auc['estimate']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}] "
                f"slope {arm_result.metrics['calibration_slope']['estimate']:.2f} "
                f"Brier {arm_result.metrics['brier']['estimate']:.3f}")
        widened = arm_result.metrics.get("auc_widened")
        if widened:
            line += f" (widened [{widened['ci_low']:.3f}, {widened['ci_high']:.3f}])"
        if arm_result.permutation is not None:
            line += f" perm p={arm_result.permutation.p_value:.3f}"
        typer.echo(line)
    typer.echo(f"run directory: {result.run_dir.root if result.run_dir else '-'}")


@app.command()
@friendly_errors
def predict(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by backpheno train.")],
    features: Annotated[Path, typer.Argument(help="Feature table Parquet to score.")],
    covariates: Annotated[Path | None, typer.Option(
        "--covariates", help="Site / covariates by participant_id (outcomes Parquet or "
        "participants.tsv); needed when models harmonise with ComBat.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output Parquet (default <features stem>_predictions.parquet beside "
        "the features).")] = None,
    session: Annotated[str | None, typer.Option(help="Session to score (default: as trained).")]
    = None,
) -> None:
    """Score a feature table with every arm's final model (probability of response)."""
    from backpheno.io import atomic_path
    from backpheno.models.predict import predict_run

    table = predict_run(run_dir, features, covariates, session=session)
    out = out or features.with_name(f"{features.stem}_predictions.parquet")
    with atomic_path(out) as tmp:
        table.to_parquet(tmp, index=False)
    wide = table.pivot(index="participant_id", columns="arm", values="p_response")
    typer.echo(f"scored {len(wide)} participants under {list(wide.columns)}; wrote {out}")


def run() -> None:  # pragma: no cover - console entry point used by python -m backpheno
    setup_logging()
    app(prog_name="backpheno")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
