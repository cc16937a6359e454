"""The ``backpheno`` command line: one command, one sub-command per stage.

Errors caused by bad input or configuration print one readable message (no traceback) and exit
with status 2. Any other exception is reported the same way, naming the corrupt file among the
command's file arguments when there is one (:func:`backpheno.failures.named_error`); its
traceback goes to the log at debug level.
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
from backpheno.failures import named_error
from backpheno.lock import output_lock
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

#: ``--force``: use a run directory whose status is not complete (running, failed, killed).
ForceOption = Annotated[bool, typer.Option(
    "--force", help="Use the run even if its status is not complete (running, failed).")]
#: ``--allow-changed-inputs``: go on, with a warning, when training inputs changed.
AllowChangedOption = Annotated[bool, typer.Option(
    "--allow-changed-inputs", help="Warn instead of failing when the feature or outcome table "
    "no longer matches the checksum recorded at training time (inputs.json).")]


def friendly_errors(func: F) -> F:
    """Turn every error of a command into a one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (BackphenoError, FileExistsError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(code=2) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as err:  # noqa: BLE001 - never a bare library traceback
            logger.debug("%s failed", func.__name__, exc_info=True)
            files = [v for v in (*args, *kwargs.values()) if isinstance(v, Path)]
            command = func.__name__.removesuffix("_command").replace("_", "-")
            typer.echo(f"error: {named_error(err, files, doing=command)}", err=True)
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
    config: Annotated[Path | None, typer.Option(
        "--config", help="YAML settings (SimulateConfig); options below override it.")] = None,
    participants: Annotated[int | None, typer.Option(help="Number of participants.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same dataset).")] = None,
    deep_fraction: Annotated[float | None, typer.Option(
        help="Share with deep phenotyping.")] = None,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Worker processes.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing dataset folder.")] = False,
) -> None:
    """Write a synthetic BEST-like SMART cohort with planted moderators.

    The folder follows the dataset contract (participants.tsv, phenotype/*.tsv, treatment,
    fMRIPrep-style brain derivatives, lumbar MRI with labels, BIDS-motion IMU recordings) and
    holds ground_truth.json with the generating parameters.
    """
    from backpheno.config import load_config
    from backpheno.synth import simulate as run
    from backpheno.synth.config import SimulateConfig

    settings = load_config(config, SimulateConfig, {
        "participants": participants, "seed": seed, "deep_fraction": deep_fraction,
        "n_jobs": n_jobs})
    # the last message ("wrote N participants ...") is logged by the simulation itself
    run(settings, out, overwrite=overwrite, log_file=Path(out) / "logs" / "simulate.log")


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
        "--allow-failures", help="Exit 0 even if some participants failed (a bare flag: "
                                 "write --allow-failures, not --allow-failures true).")] = False,
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

    overrides = {"n_jobs": n_jobs, "scheduler_address": scheduler,
                 "out": None if out is None else str(out.resolve())}
    settings = load_config(config, ExtractConfig, overrides)
    setup_logging(str(Path(settings.out) / "logs" / "extract.log"))
    run = run_extract(settings)
    typer.echo(summary(run.result))
    typer.echo(f"feature table: {run.paths['parquet']}")
    typer.echo(f"regime export: {run.paths['smart_parquet']}")
    if run.result.failures and not allow_failures:
        typer.echo("exit status 1: some participants failed (QC rows above); add "
                   "--allow-failures to exit 0 with the same outputs", err=True)
        raise typer.Exit(code=1)


@app.command("export-regime")
@friendly_errors
def export_regime_command(
    features: Annotated[Path, typer.Argument(help="features.parquet written by extract.")],
    outcomes: Annotated[Path, typer.Argument(help="outcomes.parquet written by extract.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    config: Annotated[Path | None, typer.Option(
        "--config", help="YAML with RegimeExportSettings keys.")] = None,
    run: Annotated[Path | None, typer.Option(
        "--run", help="Training run directory: add each arm's predicted response "
        "probability (P1_<arm>, counterfactual predictions).")] = None,
    force: ForceOption = False,
) -> None:
    """Write the SMART regime table (one row per participant: X1, A1, R, X2, A2, Y, p1, p2, W).

    Parquet and CSV plus a JSON sidecar giving each column's role, for Q-learning or
    DynTxRegime / DTRreg code. With --run, the per-arm predicted response probabilities of a
    training run are added as candidate tailoring scores.
    """
    import pandas as pd

    from backpheno.config import load_config
    from backpheno.models.rundir import open_run
    from backpheno.regimes.export import RegimeExportSettings, export_regime
    from backpheno.table import read_feature_table

    settings = load_config(config, RegimeExportSettings)
    counterfactual = None if run is None else open_run(run, force=force).counterfactual()
    table = read_feature_table(features)
    with output_lock(out, "export-regime"):
        paths = export_regime(table, pd.read_parquet(outcomes), settings, out,
                              counterfactual=counterfactual)
    typer.echo(f"regime export: {paths['parquet']} (roles: {paths['roles']})")


@app.command()
@friendly_errors
def train(
    config: Annotated[Path, typer.Argument(help="Training YAML (TrainConfig).")],
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Run directory to create "
                                                 "(default <output>/<name>-<timestamp>).")] = None,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Worker processes.")] = None,
    permutations: Annotated[int | None, typer.Option(
        "--permutations", help="Override permutation.n_permutations.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask distributed scheduler address (tcp://host:8786) running the "
        "folds and permutations, or 'local' for a local cluster of --n-jobs workers.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
) -> None:
    """Train one outcome model per arm (classifier or regressor) with nested CV; write a run
    directory.

    The run directory holds the resolved config, environment and input checksums, out-of-fold
    and counterfactual predictions, metrics (JSON + CSV), models with a hash manifest, figures
    and logs (docs/run_directory.md).
    """
    from backpheno.config import load_config
    from backpheno.models.config import TrainConfig
    from backpheno.models.train import train as run_training

    settings = load_config(config, TrainConfig, {"n_jobs": n_jobs,
                                                 "permutation.n_permutations": permutations,
                                                 "scheduler_address": scheduler})
    try:
        result = run_training(settings, run_dir, overwrite=overwrite)
    except Exception as err:  # noqa: BLE001 - named with the input files the config points at
        raise named_error(err, [settings.features, settings.outcomes], doing="train") from err
    for arm, arm_result in result.arms.items():
        if arm_result.status != "ok":
            typer.echo(f"{arm:>6}: {arm_result.status} - {arm_result.reason}")
            continue
        if result.task == "regression":
            r2, rmse = arm_result.metrics["r2"], arm_result.metrics["rmse"]
            line = (f"{arm:>6}: n={arm_result.n:4d} R2 {r2['estimate']:.3f} "
                    f"[{r2['ci_low']:.3f}, {r2['ci_high']:.3f}] RMSE {rmse['estimate']:.3g} "
                    f"slope {arm_result.metrics['calibration_slope']['estimate']:.2f}")
            if arm_result.permutation is not None:
                line += f" perm p={arm_result.permutation.p_value:.3f}"
            typer.echo(line)
            continue
        auc = arm_result.metrics["auc"]
        line = (f"{arm:>6}: n={arm_result.n:4d} responders={arm_result.n_responders:4d} "
                f"AUC {auc['estimate']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}] "
                f"slope {arm_result.metrics['calibration_slope']['estimate']:.2f} "
                f"Brier {arm_result.metrics['brier']['estimate']:.3f}")
        widened = arm_result.metrics.get("auc_widened")
        if widened:
            line += f" (widened [{widened['ci_low']:.3f}, {widened['ci_high']:.3f}])"
        permutation = arm_result.permutation
        if permutation is not None:
            line += f" perm p={permutation.p_value:.3g}"
            if permutation.method != "empirical":
                line += f" ({permutation.method})"
        typer.echo(line)
    typer.echo(f"run directory: {result.run_dir.root if result.run_dir else '-'}")


@app.command()
@friendly_errors
def score(
    out: Annotated[Path, typer.Option("--out", help="Folder for the feature table files.")],
    dataset: Annotated[Path | None, typer.Option("--dataset", help="Dataset folder (its "
                                                 "phenotype/*.tsv are scored).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML settings "
                                                "(QuestionnaireSettings); options below "
                                                "override it.")] = None,
    pgic_coding: Annotated[str | None, typer.Option(
        "--pgic-coding", help="How the PGIC answers are numbered: bacpac_0_6 "
        "(0 = very much improved .. 6 = very much worse), common_1_7 (1 = very much improved "
        ".. 7 = very much worse) or reversed_1_7 (1 = very much worse .. 7 = very much "
        "improved).")] = None,
    invalid_answers: Annotated[str | None, typer.Option(
        "--invalid-answers", help="error (default: one error listing every problem) or "
        "set_missing (record each in the QC table).")] = None,
    sdtm_qs: Annotated[Path | None, typer.Option("--sdtm-qs", help="BACPAC Minimum Dataset QS "
                                                 "table to score instead of phenotype/.")] = None,
    sdtm_ft: Annotated[Path | None, typer.Option("--sdtm-ft", help="BACPAC Minimum Dataset FT "
                                                 "table (physical exam, QST).")] = None,
    instrument: Annotated[list[str] | None, typer.Option(
        "--instrument", help="Score only this instrument (repeatable).")] = None,
    visit: Annotated[list[str] | None, typer.Option(
        "--visit", help="Map one SDTM visit to a session, VALUE=SESSION (repeatable), e.g. "
        "--visit 1=ses-V0 --visit 3=ses-V1. Default: VISITNUM is weeks after baseline.")] = None,
    visit_column: Annotated[str, typer.Option(
        "--visit-column", help="SDTM column the --visit values refer to: VISITNUM or VISIT "
        "(visit names).")] = "VISITNUM",
    stem: Annotated[str, typer.Option(help="File name stem of the outputs.")] = "questionnaires",
) -> None:
    """Score questionnaires, clinical tests and QST into a documented feature table.

    Reads phenotype/<instrument>.tsv of a dataset folder, or the BACPAC Minimum Dataset long
    tables (--sdtm-qs / --sdtm-ft), and writes <out>/<stem>.parquet with the codebook and QC
    embedded, plus CSV / JSON / TSV sidecars. SDTM visits become sessions by --visit (or the
    config's visits setting, docs/inputs_freesurfer_sdtm.md); by default VISITNUM is weeks.
    """
    from backpheno.config import load_config
    from backpheno.dataset import Dataset
    from backpheno.questionnaires import QuestionnaireSettings, score_dataset
    from backpheno.table import flag_out_of_range

    settings = load_config(config, QuestionnaireSettings, {
        "pgic_coding": pgic_coding, "invalid_answers": invalid_answers,
        "sdtm.qs": None if sdtm_qs is None else str(sdtm_qs),
        "sdtm.ft": None if sdtm_ft is None else str(sdtm_ft), "instruments": instrument or None,
        "visits": _visit_map(visit, visit_column)})
    with output_lock(out, "score"):
        table = flag_out_of_range(score_dataset(None if dataset is None else Dataset(dataset),
                                                settings))
        paths = table.write(out, stem)
    flagged = int((table.qc["status"] == "flagged").sum())
    missing = int((table.qc["status"] == "missing").sum())
    typer.echo(f"scored {len(table.data)} participant-sessions, {len(table.features)} features; "
               f"QC: {missing} missing scores, {flagged} flagged inputs; wrote {paths['parquet']}")


def _visit_map(pairs: list[str] | None, column: str) -> dict[str, Any] | None:
    """``--visit VALUE=SESSION`` options as a ``visits`` setting."""
    if not pairs:
        return None
    sessions = {}
    for pair in pairs:
        value, sep, session = pair.partition("=")
        if not sep or not value.strip() or not session.strip():
            raise typer.BadParameter(f"expected VALUE=SESSION, got {pair!r}",
                                     param_hint="--visit")
        sessions[value.strip()] = session.strip()
    return {"column": column, "sessions": sessions}


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

    from backpheno.errors import ConfigError
    from backpheno.imaging.spine import measure_muscles, measure_sagittal
    from backpheno.imaging.spine.labels import load_scheme
    from backpheno.io import write_tsv

    try:
        spec: str | dict[int, str] = scheme
        if "=" in scheme:
            pairs = [item.split("=", 1) for item in scheme.split(",") if item.strip()]
            spec = {int(value): name.strip() for value, name in pairs}
        spec = load_scheme(spec)
    except ValueError as err:  # InputError (a scheme file's own problem) passes unchanged
        if isinstance(err, BackphenoError):
            raise
        raise ConfigError(f"--scheme {scheme!r}: {err}") from None
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


@app.command("brain-run")
@friendly_errors
def brain_run(
    bold: Annotated[Path, typer.Argument(help="fMRIPrep *_desc-preproc_bold.nii.gz (4-D).")],
    confounds: Annotated[Path, typer.Option(help="fMRIPrep *_desc-confounds_timeseries.tsv.")],
    mask: Annotated[Path | None, typer.Option(help="BOLD brain mask on the same grid.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML with BrainSettings keys "
                                                "(atlas, denoise, connectivity, qc, ...).")] = None,
    gm: Annotated[Path | None, typer.Option(help="GM probability map (label-GM_probseg).")] = None,
    tr: Annotated[float | None, typer.Option(
        "--tr", min=0.0, max=30.0, help="Repetition time in seconds, overriding the config, the "
        "JSON sidecar and the NIfTI header (default: sidecar, else header pixdim[4]).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write name, role, unit, value as TSV.")] = None,
) -> None:
    """Extract the brain features of one BOLD run and print them with their QC."""
    import pandas as pd

    from backpheno.config import load_config
    from backpheno.imaging.brain import extract_run
    from backpheno.imaging.settings import BrainSettings
    from backpheno.io import write_tsv
    from backpheno.table import out_of_range

    settings = load_config(config, BrainSettings)
    result = extract_run(bold, confounds, mask, settings=settings, gm_probseg=gm, t_r=tr)
    table = result.codebook[["role", "unit"]].assign(value=result.features)
    with pd.option_context("display.width", 160, "display.max_rows", 400):
        typer.echo(table.round(4).to_string())
    values = pd.DataFrame([result.features], index=pd.MultiIndex.from_tuples(
        [("-", "-")], names=["participant_id", "session_id"]))
    for record in [*result.qc_records, *out_of_range(values, result.codebook)]:
        if record["reason"]:
            typer.echo(f"QC {record['status']}: {record['item']}: {record['reason']}")
    if out is not None:
        write_tsv(out, table.reset_index())


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
    force: ForceOption = False,
) -> None:
    """Score a feature table with every arm's final model (probability of response)."""
    from backpheno.io import atomic_path
    from backpheno.models.predict import predict_run

    table = predict_run(run_dir, features, covariates, session=session, force=force)
    out = out or features.with_name(f"{features.stem}_predictions.parquet")
    with atomic_path(out) as tmp:
        table.to_parquet(tmp, index=False)
    column = "prediction" if "prediction" in table.columns else "p_response"
    wide = table.pivot_table(index="participant_id", columns="arm", values=column,
                             aggfunc="first", dropna=False)
    typer.echo(f"scored {len(wide)} participants under {list(wide.columns)}; wrote {out}")


@app.command()
@friendly_errors
def table(
    source: Annotated[Path, typer.Argument(help="CSV, TSV or Parquet: one row per participant.")],
    roles: Annotated[Path, typer.Option("--roles", help="YAML naming the participant, arm, "
                                        "outcome(s), site, covariate and excluded columns.")],
    out: Annotated[Path, typer.Option("--out", help="Folder receiving features.parquet, "
                                      "outcomes.parquet and table_report.json.")],
) -> None:
    """Turn a plain trial table into a feature table and an outcomes table for train.

    Every column the roles file does not name becomes a candidate feature (numbers as they are,
    two-valued text as 0/1); the command lists which columns it took and which it left out.
    """
    from backpheno.config import load_config
    from backpheno.io import read_json
    from backpheno.trial_table import TableRoles, write_trial_tables

    settings = load_config(roles, TableRoles)
    paths = write_trial_tables(source, settings, out)
    report = read_json(paths["report"])
    typer.echo(f"{report['n_participants']} participants; arms {report['arms']}; outcomes "
               f"{list(report['outcomes'])}")
    typer.echo(f"features ({len(report['features'])}): {', '.join(report['features'])}")
    for column, how in report["converted"].items():
        typer.echo(f"  converted {column}: {how}")
    for column, why in report["skipped"].items():
        typer.echo(f"  left out {column}: {why}")
    typer.echo(f"wrote {paths['features']}, {paths['outcomes']} and {paths['report']}")


@app.command()
@friendly_errors
def explain(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by backpheno train.")],
    config: Annotated[Path | None, typer.Option(
        "--config", help="YAML with ExplainConfig keys (defaults otherwise).")] = None,
    resamples: Annotated[int | None, typer.Option(
        "--resamples", help="Bootstrap resamples for the rank stability (0 to skip).")] = None,
    permutations: Annotated[int | None, typer.Option(
        "--permutations", help="Permutations of the arm labels for the moderator null "
        "(every arm refitted each time; 0 to skip).")] = None,
    n_jobs: Annotated[int | None, typer.Option("--n-jobs", help="Worker processes.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask distributed scheduler address (tcp://host:8786) running the "
        "resamples and permutations, or 'local' for a local cluster of --n-jobs workers.")] = None,
    force: ForceOption = False,
    allow_changed_inputs: AllowChangedOption = False,
) -> None:
    """Explain a run's per-arm models: SHAP moderators, formal interactions, figures.

    Per-arm SHAP values, moderators on the risk-difference scale with their stability (and a
    permutation null if asked), formal arm x moderator interactions with FDR q-values and an
    ICEMAN-style credibility summary. Writes RUN_DIR/explain/ (Parquet SHAP values, CSV
    tables, PNG/SVG figures, summary.json). The run must be complete (--force) and its input
    tables unchanged since training (--allow-changed-inputs).
    """
    from backpheno.config import load_config
    from backpheno.explain.run import ExplainConfig, explain_run_dir
    from backpheno.models.rundir import RunDirectory

    run = RunDirectory.open(run_dir)
    settings = load_config(config, ExplainConfig, {
        "stability.n_resamples": resamples, "permutation.n_permutations": permutations,
        "n_jobs": n_jobs, "scheduler_address": scheduler})
    setup_logging(str(run.explain_log))
    with output_lock(run.root, "explain", create=False):
        result = explain_run_dir(run.root, settings, force=force,
                                 allow_changed_inputs=allow_changed_inputs)
    flagged = result.moderation[(result.moderation["kind"] == "pair")
                                & (result.moderation["q"] < settings.formal.alpha)]
    n_contrasts = len(result.summary["contrasts"])
    typer.echo(f"explained {result.summary['n_explained']} participants, "
               f"{result.summary['n_features']} features, {n_contrasts} "
               f"contrast{'s' if n_contrasts != 1 else ''}; {len(flagged)} arm-pair "
               f"interaction{'s pass' if len(flagged) != 1 else ' passes'} q < "
               f"{settings.formal.alpha:g}")
    typer.echo(f"explain outputs: {run.explain.root}")


@app.command()
@friendly_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (train, then explain).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="HTML file to write (default RUN_DIR/report.html).")] = None,
    force: ForceOption = False,
    allow_changed_inputs: AllowChangedOption = False,
) -> None:
    """Write one self-contained HTML report of a run (figures embedded, opens offline).

    The run must be complete (--force) and its input tables unchanged since training
    (--allow-changed-inputs).
    """
    from backpheno.explain.report import write_report

    with output_lock(run_dir, "report", create=False):
        path = write_report(run_dir, out, force=force, allow_changed_inputs=allow_changed_inputs)
    typer.echo(f"report: {path}")


def run() -> None:  # pragma: no cover - console entry point used by python -m backpheno
    setup_logging()
    app(prog_name="backpheno")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
