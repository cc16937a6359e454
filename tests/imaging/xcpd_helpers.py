"""XCP-D outputs written with nibabel for the reader tests (names as XCP-D writes them)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

#: Schaefer-style node names: networks Vis and Default are parsed from them.
NODES = ["LH_Vis_1", "LH_Vis_2", "RH_Default_1", "RH_Default_2", "RH_Default_3"]


def parcels(names: list[str]) -> nib.cifti2.ParcelsAxis:
    """A CIFTI-2 parcel axis with two left-cortex vertices per parcel."""
    brain_models = nib.cifti2.BrainModelAxis.from_mask(np.ones(2 * len(names), bool),
                                                       name="CortexLeft")
    return nib.cifti2.ParcelsAxis.from_brain_models(
        [(n, brain_models[2 * i:2 * i + 2]) for i, n in enumerate(names)])


def write_cifti_session(root: Path, series: dict[str, np.ndarray]) -> Path:
    """XCP-D CIFTI-mode outputs (names as in test_ds001419_cifti_outputs.txt).

    ``series`` maps run labels (``run-01``) to volume x node arrays: each gets a ptseries, a
    linc QC table and ALFF/ReHo/coverage tables; ``task`` gets the ptseries and the pconn of
    the concatenated runs.
    """
    func = root / "derivatives" / "xcp_d" / "sub-01" / "func"
    func.mkdir(parents=True)
    axis_parcels = parcels(NODES)
    atlas = "space-fsLR_atlas-4S156Parcels"
    for label, data in series.items():
        stem = "sub-01_task-rest" + (f"_{label}" if label != "task" else "")
        axis = nib.cifti2.SeriesAxis(start=0, step=0.8, size=len(data))
        nib.Cifti2Image(data, nib.cifti2.Cifti2Header.from_axes((axis, axis_parcels))).to_filename(
            func / f"{stem}_{atlas}_den-91k_stat-mean_timeseries.ptseries.nii")
        if label == "task":
            r = np.corrcoef(data, rowvar=False)
            header = nib.cifti2.Cifti2Header.from_axes((axis_parcels, axis_parcels))
            nib.Cifti2Image(r, header).to_filename(
                func / f"{stem}_{atlas}_den-91k_stat-pearsoncorrelation_boldmap.pconn.nii")
            continue
        n = len(data)
        pd.DataFrame({"mean_fd": [0.1 if label == "run-01" else 0.3],
                      "num_censored_volumes": [10], "num_retained_volumes": [n]}).to_csv(
            func / f"{stem}_space-fsLR_den-91k_desc-linc_qc.tsv", sep="\t", index=False)
        for stat, values in (("alff", [1.0, 3.0, 2.0, 4.0, 6.0]),
                             ("reho", [0.2, 0.4, 0.5, 0.6, np.nan]),
                             ("coverage", [1.0, 0.9, 0.3, 1.0, 0.2])):
            shift = 1.0 if label == "run-02" and stat == "alff" else 0.0
            pd.DataFrame([np.array(values) + shift], columns=NODES).to_csv(
                func / f"{stem}_{atlas}_stat-{stat}_bold.tsv", sep="\t", index=False, na_rep="n/a")
    pd.DataFrame({"participant_id": ["sub-01"], "site": ["a"], "age": [30], "sex": ["M"],
                  "deep_phenotyping": ["true"]}).to_csv(root / "participants.tsv", sep="\t",
                                                        index=False)
    return func
