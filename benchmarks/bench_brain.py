"""Brain extraction speed and memory against nilearn and nibabel, measured in the same run.

1. In memory: a 97×115×97×300 float32 image on fMRIPrep's 2 mm MNI grid and the real
   Schaefer 2018 100-parcel atlas: our kernel (:func:`backpheno.imaging.parcellate.extract_signals`)
   versus ``NiftiLabelsMasker.fit_transform`` (target: >= 10× faster), with the largest
   difference relative to the signal SD.
2. From ``.nii.gz`` on disk, each in a fresh subprocess: the whole per-run extraction
   (:func:`backpheno.imaging.brain.extract_run`: load, denoise, parcellate, connectivity, ALFF,
   QC) versus nibabel alone reading and decompressing the same file to float32 (target: <= 1.5×
   the time), and the extraction's peak RSS versus the uncompressed image size (target: <= 1.5×).
   nilearn's own label masker + connectivity on the same file is timed for context.

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
from backpheno.imaging.templates import mni152_grid  # noqa: E402
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


def build_run(folder: Path, resolution_mm: float, n_volumes: int) -> dict[str, Path]:
    """A synthetic fMRIPrep run (float32 BOLD, gzip level 1) with its confounds and mask."""
    layout = synth._layout(resolution_mm)
    spec = ParticipantSpec("sub-bench", "ses-V0", "site01", 45.0, "F", 25.0,
                           {"nociplastic": 0.5}, {}, seed=0, index=0)
    data, confounds, meta = synth._simulate_run(spec, layout, n_volumes, 2.0, 0.04,
                                                spec.rng("brain"))
    grid = layout["grid"]
    volume = np.zeros((int(np.prod(grid.shape)), n_volumes), dtype=np.float32, order="F")
    volume[layout["index"]] = data
    del data
    stem = "sub-bench_ses-V0_task-rest"
    files = {
        "bold": folder / f"{stem}_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz",
        "mask": folder / f"{stem}_space-MNI152NLin2009cAsym_desc-brain_mask.nii.gz",
        "confounds": folder / f"{stem}_desc-confounds_timeseries.tsv",
    }
    img = nib.Nifti1Image(volume.reshape(grid.shape + (n_volumes,), order="F"), grid.affine)
    img.to_filename(files["bold"])
    del img, volume
    nib.Nifti1Image(layout["mask"].astype(np.uint8), grid.affine).to_filename(files["mask"])
    write_tsv(files["confounds"], confounds)
    write_json(files["confounds"].with_suffix(".json"), meta)
    write_json(files["bold"].with_name(files["bold"].name.replace(".nii.gz", ".json")),
               {"RepetitionTime": 2.0})
    return files


def in_memory(resolution_mm: float, n_volumes: int, repeats: int) -> dict[str, float]:
    """Our kernel versus NiftiLabelsMasker on an in-memory float32 image."""
    from nilearn.maskers import NiftiLabelsMasker

    grid = mni152_grid(resolution_mm)
    layout = synth._layout(resolution_mm)
    rng = np.random.default_rng(0)
    data = np.zeros(grid.shape + (n_volumes,), dtype=np.float32, order="F")
    flat = data.reshape(-1, n_volumes, order="F")
    values = rng.standard_normal((len(layout["index"]), n_volumes), dtype=np.float32)
    values *= 10
    values += 1000
    flat[layout["index"]] = values
    del values
    img = nib.Nifti1Image(data, grid.affine)
    labels = nib.load(str(_find_schaefer()))
    print(f"  image {data.shape} float32 = {data.nbytes / 1e9:.2f} GB, atlas Schaefer 100")

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
    # nilearn returns float32 for float32 data: compare to its float64 result for the error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = NiftiLabelsMasker(labels).fit_transform(
            nib.Nifti1Image(data.astype(np.float64), grid.affine)) if resolution_mm >= 4 else None
    error32 = float(np.max(np.abs(signals[:, present] - reference) / reference.std(axis=0)))
    error64 = (float(np.max(np.abs(signals[:, present] - exact) / exact.std(axis=0)))
               if exact is not None else np.nan)
    return {"nilearn_s": min(theirs_times), "ours_s": min(ours_times),
            "speedup": min(theirs_times) / min(ours_times),
            "max_error_vs_nilearn_float32_output_rel_sd": error32,
            "max_error_vs_nilearn_float64_rel_sd": error64}


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
                        help="4 mm grid and 120 volumes on disk (seconds instead of minutes)")
    parser.add_argument("--repeats", type=int, default=None, help="best-of repeats")
    args = parser.parse_args(argv)
    resolution = 4.0 if args.small else 2.0
    repeats = args.repeats or (3 if args.small else 2)
    n_disk = 120 if args.small else 300

    print(f"[1] in-memory parcellation, {resolution:g} mm grid, 300 volumes")
    memory = in_memory(resolution, 300, repeats)
    for key, value in memory.items():
        print(f"  {key}: {value:.4g}")
    print(f"  RATIO nilearn / ours = {memory['speedup']:.1f}x (target >= 10x)")

    with tempfile.TemporaryDirectory(prefix="bench-brain-") as tmp:
        print(f"[2] whole extraction from .nii.gz, {resolution:g} mm grid, {n_disk} volumes")
        start = time.perf_counter()
        files = build_run(Path(tmp), resolution, n_disk)
        print(f"  built the run in {time.perf_counter() - start:.1f} s")
        disk = from_disk(files, repeats, with_nilearn=not args.small)
        for key, value in disk.items():
            print(f"  {key}: {value:.4g}")
        print(f"  RATIO extraction / nibabel read = {disk['time_ratio']:.2f} (target <= 1.5)")
        print(f"  RATIO peak RSS / uncompressed image = {disk['memory_ratio']:.2f} "
              "(target <= 1.5)")


if __name__ == "__main__":
    main()
