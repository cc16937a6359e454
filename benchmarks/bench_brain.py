"""Brain extraction speed and memory against nilearn and nibabel, measured in the same run.

1. In memory: a 97×115×97×300 float32 image on fMRIPrep's 2 mm MNI grid (network-structured
   synthetic BOLD) and the real Schaefer 2018 100-parcel atlas: our kernel
   (:func:`backpheno.imaging.parcellate.extract_signals`) versus
   ``NiftiLabelsMasker.fit_transform`` (target: >= 10× faster), with the largest difference
   relative to the signal SD and in float32 units in the last place.
2. From ``.nii.gz`` on disk, each in a fresh subprocess: the whole per-run extraction
   (:func:`backpheno.imaging.brain.extract_run`: load, denoise, parcellate, connectivity, ALFF,
   QC) versus nibabel alone reading and decompressing the same file to float32 (target: <= 1.5×
   the time), and the extraction's peak RSS versus the uncompressed image size (target: <= 1.5×).
   nilearn's own label masker + connectivity on the same file is timed for context.
3. The synthetic fMRIPrep writer at the demo setting (4 mm, 120 volumes): seconds per
   participant, wall and CPU.

Run ``python benchmarks/bench_brain.py`` (a few minutes; ~3 GB of RAM and ~1 GB of temporary
disk) or ``--small`` (4 mm grid, seconds). The images are built once in a temporary folder that
is removed at the end. Every ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from backpheno.imaging.parcellate import extract_signals, label_regions  # noqa: E402
from backpheno.io import write_json, write_tsv  # noqa: E402
from backpheno.synth import brain as synth  # noqa: E402
from backpheno.synth.base import ParticipantSpec  # noqa: E402


def _find_schaefer() -> Path:
    for parent in ROOT.parents:
        path = (parent / "shared" / "realdata" / "brain_atlases" / "schaefer2018"
                / "Schaefer2018_100Parcels_7Networks_order_FSLMNI152_2mm.nii.gz")
        if path.is_file():
            return path
    raise FileNotFoundError("shared/realdata/brain_atlases/schaefer2018 not found")


def simulate_bold(resolution_mm: float, n_volumes: int):
    """Network-structured synthetic BOLD (float32, Fortran order) with its confounds."""
    layout = synth._layout(resolution_mm)
    spec = ParticipantSpec("sub-bench", "ses-V0", "site01", 45.0, "F", 25.0,
                           {"nociplastic": 0.5}, {}, seed=0, index=0)
    data, confounds, meta = synth._simulate_run(spec, layout, n_volumes, 2.0, 0.04,
                                                spec.rng("brain"))
    grid = layout["grid"]
    volume = np.zeros((int(np.prod(grid.shape)), n_volumes), dtype=np.float32, order="F")
    volume[layout["index"]] = data
    del data
    return volume.reshape(grid.shape + (n_volumes,), order="F"), layout, confounds, meta


def write_run(folder: Path, volume: np.ndarray, layout: dict, confounds, meta) -> dict[str, Path]:
    """The run as fMRIPrep files: float32 BOLD (nibabel's default gzip level), mask, confounds."""
    grid = layout["grid"]
    stem = "sub-bench_ses-V0_task-rest"
    files = {
        "bold": folder / f"{stem}_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz",
        "mask": folder / f"{stem}_space-MNI152NLin2009cAsym_desc-brain_mask.nii.gz",
        "confounds": folder / f"{stem}_desc-confounds_timeseries.tsv",
    }
    nib.Nifti1Image(volume, grid.affine).to_filename(files["bold"])
    nib.Nifti1Image(layout["mask"].astype(np.uint8), grid.affine).to_filename(files["mask"])
    write_tsv(files["confounds"], confounds)
    write_json(files["confounds"].with_suffix(".json"), meta)
    write_json(files["bold"].with_name(files["bold"].name.replace(".nii.gz", ".json")),
               {"RepetitionTime": 2.0})
    return files


def in_memory(volume: np.ndarray, layout: dict, repeats: int) -> dict[str, float]:
    """Our kernel versus NiftiLabelsMasker on an in-memory float32 image."""
    from nilearn.maskers import NiftiLabelsMasker

    grid = layout["grid"]
    img = nib.Nifti1Image(volume, grid.affine)
    labels = nib.load(str(_find_schaefer()))
    print(f"  image {volume.shape} float32 = {volume.nbytes / 1e9:.2f} GB, atlas Schaefer 100")

    def ours():
        regions = label_regions(labels, list(range(1, 101)), [str(i) for i in range(1, 101)],
                                grid.shape, grid.affine)
        (signals,), _ = extract_signals(img, [regions])
        return signals

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return NiftiLabelsMasker(labels).fit_transform(img)

    ours_times, theirs_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        reference = theirs()
        theirs_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        signals = ours()
        ours_times.append(time.perf_counter() - start)
    present = np.isfinite(signals).all(axis=0)
    ours32 = signals[:, present].astype(np.float32)
    # nilearn averages in float64 and rounds to float32; so do we (then compare in ulps)
    ulps = np.abs(ours32.astype(np.float64) - reference) / np.spacing(np.abs(reference))
    relative = np.abs(signals[:, present] - reference) / reference.std(axis=0)
    return {"nilearn_s": min(theirs_times), "ours_s": min(ours_times),
            "speedup": min(theirs_times) / min(ours_times),
            "max_abs_diff_over_signal_sd": float(relative.max()),
            "share_bit_identical_float32": float((ours32 == reference).mean()),
            "max_diff_float32_ulps": float(ulps.max())}


def synth_speed(resolution_mm: float, n_volumes: int, n: int) -> dict[str, float]:
    """Per-participant time of the synthetic fMRIPrep writer (wall and CPU)."""
    from backpheno.synth.config import SimulateConfig

    config = SimulateConfig.model_validate({"brain": {"resolution_mm": resolution_mm,
                                                      "n_volumes": n_volumes}})
    synth._layout(resolution_mm)
    specs = [ParticipantSpec(f"sub-{i:03d}", "ses-V0", "site01", 45.0, "F", 25.0,
                             {"nociplastic": 0.0}, {}, seed=0, index=i) for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        for spec in specs:
            synth.write_participant(spec, Path(tmp), config)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall_s_per_participant": wall / n, "cpu_s_per_participant": cpu / n}


#: Peak resident memory of the current process (VmHWM is per address space; getrusage's
#: ru_maxrss survives fork/exec and would report the parent's peak).
_PEAK = textwrap.dedent("""
    def peak_rss_bytes():
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
""")

_REFERENCE = _PEAK + textwrap.dedent("""
    import json, sys, time
    import nibabel as nib, numpy as np
    start = time.perf_counter()
    data = nib.load(sys.argv[1]).get_fdata(dtype=np.float32)
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "nbytes": int(data.nbytes),
                      "peak_rss_bytes": peak_rss_bytes()}))
""")

_OURS = _PEAK + textwrap.dedent("""
    import json, sys, time, warnings
    sys.path.insert(0, sys.argv[4])
    from backpheno.imaging import brain
    from backpheno.imaging.settings import BrainSettings
    settings = BrainSettings(structural={"enabled": False}, qc={"exclude_flagged_runs": False})
    brain.load_atlas(settings)  # reading the atlas is not per-run work
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = brain.extract_run(sys.argv[1], sys.argv[2], sys.argv[3], settings=settings)
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "n_features": int(result.features.notna().sum()),
                      "peak_rss_bytes": peak_rss_bytes()}))
""")

_NILEARN = _PEAK + textwrap.dedent("""
    import json, sys, time, warnings
    warnings.simplefilter("ignore")
    import numpy as np
    from nilearn.connectome import ConnectivityMeasure
    from nilearn.maskers import NiftiLabelsMasker
    start = time.perf_counter()
    signals = NiftiLabelsMasker(sys.argv[2], mask_img=sys.argv[3]).fit_transform(sys.argv[1])
    ConnectivityMeasure(kind="correlation").fit_transform([signals])
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed,
                      "peak_rss_bytes": peak_rss_bytes()}))
""")


def _subprocess(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def from_disk(files: dict[str, Path], repeats: int, with_nilearn: bool) -> dict[str, float]:
    """Whole extraction versus nibabel read, each in fresh subprocesses (best of ``repeats``)."""
    reference = min((_subprocess(_REFERENCE, str(files["bold"])) for _ in range(repeats)),
                    key=lambda r: r["seconds"])
    ours = min((_subprocess(_OURS, str(files["bold"]), str(files["confounds"]),
                            str(files["mask"]), str(ROOT / "src")) for _ in range(repeats)),
               key=lambda r: r["seconds"])
    out = {
        "file_mb": files["bold"].stat().st_size / 1e6,
        "uncompressed_gb": reference["nbytes"] / 1e9,
        "nibabel_read_s": reference["seconds"],
        "extraction_s": ours["seconds"],
        "time_ratio": ours["seconds"] / reference["seconds"],
        "extraction_peak_rss_gb": ours["peak_rss_bytes"] / 1e9,
        "memory_ratio": ours["peak_rss_bytes"] / reference["nbytes"],
        "nibabel_read_peak_rss_gb": reference["peak_rss_bytes"] / 1e9,
        "features": ours["n_features"],
    }
    if with_nilearn:
        labels = _find_schaefer()
        nilearn = _subprocess(_NILEARN, str(files["bold"]), str(labels), str(files["mask"]))
        out["nilearn_labels_masker_from_disk_s"] = nilearn["seconds"]
        out["nilearn_peak_rss_gb"] = nilearn["peak_rss_bytes"] / 1e9
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true",
                        help="4 mm grid and 120 volumes (seconds instead of minutes)")
    parser.add_argument("--repeats", type=int, default=None, help="best-of repeats")
    args = parser.parse_args(argv)
    resolution = 4.0 if args.small else 2.0
    repeats = args.repeats or (3 if args.small else 2)
    n_volumes = 120 if args.small else 300

    volume, layout, confounds, meta = simulate_bold(resolution, n_volumes)
    print(f"[1] in-memory parcellation, {resolution:g} mm grid, {n_volumes} volumes")
    memory = in_memory(volume, layout, repeats)
    for key, value in memory.items():
        print(f"  {key}: {value:.4g}")
    print(f"  RATIO nilearn / ours = {memory['speedup']:.1f}x (target >= 10x)")

    with tempfile.TemporaryDirectory(prefix="bench-brain-") as tmp:
        print(f"[2] whole extraction from .nii.gz, {resolution:g} mm grid, {n_volumes} volumes")
        start = time.perf_counter()
        files = write_run(Path(tmp), volume, layout, confounds, meta)
        del volume
        print(f"  wrote the run in {time.perf_counter() - start:.1f} s")
        disk = from_disk(files, repeats, with_nilearn=not args.small)
        for key, value in disk.items():
            print(f"  {key}: {value:.4g}")
        print(f"  RATIO extraction / nibabel read = {disk['time_ratio']:.2f} (target <= 1.5)")
        print(f"  RATIO peak RSS / uncompressed image = {disk['memory_ratio']:.2f} "
              "(target <= 1.5" + ("; at --small size the interpreter and libraries dominate)"
                                  if args.small else ")"))

    print("[3] synthetic fMRIPrep writer, demo setting (4 mm, 120 volumes), 10 participants")
    speed = synth_speed(4.0, 120, 10)
    for key, value in speed.items():
        print(f"  {key}: {value:.3f}")


if __name__ == "__main__":
    main()
