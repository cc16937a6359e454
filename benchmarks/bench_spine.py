"""Spine MRI: real-data values per case, and speed of synthesis and extraction.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_spine.py

Prints

1. a compact table of the measured real lumbar MRIs in ../shared/realdata (disc heights and
   volumes of the IVD cases, vertebral body heights and volumes of the VB3 cases, muscle areas
   of the MuscleMap case);
2. synthetic participant generation time (CPU s) against the time nibabel alone needs to write
   the same images (the I/O floor), and extraction time against reading the inputs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from backpheno.imaging import spine
from backpheno.synth import spine as synth_spine
from backpheno.synth.base import ParticipantSpec
from backpheno.synth.config import SimulateConfig

REPEATS = 5


def shared_realdata() -> Path:
    if os.environ.get("BACKPHENO_SHARED"):
        return Path(os.environ["BACKPHENO_SHARED"]) / "realdata"
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "realdata").is_dir():
            return parent / "shared" / "realdata"
    sys.exit("shared/realdata not found; set BACKPHENO_SHARED")


def realdata_tables(realdata: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-case, per-level cells "mean/central height mm, volume mL" (discs) and bodies."""
    ivd = {1: "L5-S1", 2: "L4-L5", 3: "L3-L4", 4: "L2-L3", 5: "L1-L2"}
    vb3 = {1: "L1", 2: "L2", 3: "L3", 4: "L4", 5: "L5"}
    folder = realdata / "lumbar_spine_sagittal"
    discs, bodies = {}, {}
    for labels in sorted(folder.glob("*_labels.nii.gz")):
        case = labels.name.removesuffix("_labels.nii.gz")
        is_ivd = case.startswith("IVD")
        levels = spine.measure_sagittal(labels, folder / f"{case}_image.nii.gz",
                                        scheme=ivd if is_ivd else vb3).levels
        if is_ivd:
            discs[case] = {n: f"{r.mean_height_mm:.1f}/{r.central_height_mm:.1f} mm "
                              f"{r.volume_ml:.1f} mL"
                           for n, r in levels.loc[list(reversed(ivd.values()))].iterrows()}
        else:
            bodies[case] = {n: f"{r.height_mm:.1f} mm {r.volume_ml:.1f} mL"
                            for n, r in levels.loc[list(vb3.values())].iterrows()}
    return (pd.DataFrame.from_dict(discs, orient="index"),
            pd.DataFrame.from_dict(bodies, orient="index"))


def muscle_table(realdata: Path) -> pd.DataFrame:
    folder = realdata / "musclemap_lumbar_axial"
    result = spine.measure_muscles(folder / "sub_0001_ses-abdomen_dseg.nii.gz", scheme="musclemap")
    return result.muscles[["n_slices", "csa_mm2", "max_csa_mm2", "volume_ml"]]


def timings() -> None:
    config = SimulateConfig()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synth_spine.write_static(root, config)
        specs = [ParticipantSpec(f"sub-{k:03d}", "ses-V0", "site01", 50.0 + k, "F", 28.0,
                                 {"mechanical": 0.3 * k - 0.6},
                                 {"disc_csf_ratio_scale": 1.0, "fat_fraction_offset": 0.0},
                                 seed=0, index=k) for k in range(REPEATS)]
        synth_spine.write_participant(specs[0], root, config)  # warm-up
        start = time.process_time()
        for spec in specs:
            synth_spine.write_participant(spec, root, config)
        synth_cpu = (time.process_time() - start) / REPEATS

        files = sorted(root.glob("**/sub-*.nii.gz"))
        images = [nib.load(f) for f in files if "sub-000" in f.name]
        arrays = [(np.asanyarray(img.dataobj), img.affine, img.get_data_dtype()) for img in images]
        start = time.process_time()
        for data, affine, dtype in arrays:
            out = nib.Nifti1Image(data, affine)
            out.set_data_dtype(dtype)
            nib.save(out, root / "io_floor.nii.gz")
        io_write = time.process_time() - start

        settings = spine.SpineSettings()
        paths = {k: root / "derivatives/spineseg/sub-000/ses-V0/anat" / f"sub-000_ses-V0_{v}"
                 for k, v in {"sagittal_dseg": "acq-lumbarsag_dseg.nii.gz",
                              "sagittal_fatfraction": "acq-lumbarsag_desc-fatfraction_map.nii.gz",
                              "axial_dseg": "acq-lumbarax_dseg.nii.gz",
                              "axial_fatfraction": "acq-lumbarax_desc-fatfraction_map.nii.gz"
                              }.items()}
        paths["t2w"] = root / "sub-000/ses-V0/anat/sub-000_ses-V0_acq-lumbarsag_T2w.nii.gz"
        start = time.process_time()
        for _ in range(REPEATS):
            spine.spine_features(**paths, settings=settings,
                                 dseg_tsv=root / "derivatives/spineseg/dseg.tsv")
        extract_cpu = (time.process_time() - start) / REPEATS
        start = time.process_time()
        for _ in range(REPEATS):
            for path in paths.values():
                np.asanyarray(nib.load(path).dataobj)
        read_cpu = (time.process_time() - start) / REPEATS
    print(f"\nsynthetic participant: {synth_cpu:.3f} s CPU; writing its images alone "
          f"{io_write:.3f} s (ratio {synth_cpu / io_write:.2f})")
    print(f"extraction per session: {extract_cpu:.3f} s CPU; reading its inputs alone "
          f"{read_cpu:.3f} s (ratio {extract_cpu / read_cpu:.1f})")


def main() -> None:
    realdata = shared_realdata()
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        discs, bodies = realdata_tables(realdata)
        print("real sagittal lumbar MRI, discs (IVD_*): mean/central height along each disc's "
              "axis, volume")
        print(discs.to_string())
        print("\nreal sagittal lumbar MRI, vertebral bodies (VB3_*): height along each body's "
              "axis, volume")
        print(bodies.to_string())
        print("\nreal axial lumbar MRI (MuscleMap), cross-sectional area mm², volume mL")
        print(muscle_table(realdata).round(1).to_string())
    timings()


if __name__ == "__main__":
    main()
