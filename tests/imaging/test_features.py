"""Feature names: one builder for codebook rows and values, for every brain setting combination."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from backpheno.cohort import extract_cohort
from backpheno.dataset import Dataset
from backpheno.imaging import brain
from backpheno.imaging.features import connectivity_groups, feature_name, group_of
from backpheno.imaging.settings import BrainSettings

from .xcpd_helpers import NODES, write_cifti_session

KINDS = ("correlation", "partial_correlation")
OPTIONS = list(itertools.product(KINDS, (False, True), (False, True), (False, True)))


def test_names_are_built_from_their_parts():
    assert feature_name("pfc", "A", "B") == "brain.pfc.A__B"
    assert feature_name("qc", "mean_fd_mm") == "brain.qc.mean_fd_mm"
    assert group_of("brain.alff_xcpd.Vis") == "alff_xcpd"
    assert connectivity_groups("partial_correlation") == ("pfc", "pedge")


def _settings(kind, edges, summaries, local, **extra) -> BrainSettings:
    return BrainSettings.model_validate({
        "connectivity": {"kind": kind, "edges": edges, "network_summaries": summaries},
        "amplitude": {"enabled": local, "level": "roi" if edges else "network"},
        "structural": {"enabled": local}, "qc": {"exclude_flagged_runs": False}, **extra})


@pytest.fixture(scope="module")
def small_atlas(sim_run, tmp_path_factory):
    """Six parcels in three networks on the simulated run's grid (keeps 16 runs quick)."""
    import nibabel as nib

    folder = tmp_path_factory.mktemp("atlas")
    ref = nib.load(str(sim_run.mask))
    labels = np.zeros(ref.shape[:3], np.int32)
    mask = np.asarray(ref.dataobj) > 0
    inside = np.argwhere(mask)
    for i, chunk in enumerate(np.array_split(inside[np.argsort(inside[:, 0])], 6)):
        labels[tuple(chunk.T)] = i + 1
    nib.Nifti1Image(labels, ref.affine).to_filename(folder / "atlas.nii.gz")
    pd.DataFrame({"index": range(1, 7), "name": [f"r{i}" for i in range(6)],
                  "network": ["A", "A", "B", "B", "C", "C"]}).to_csv(
        folder / "atlas.tsv", sep="\t", index=False)
    return {"builtin": None, "image": folder / "atlas.nii.gz", "table": folder / "atlas.tsv"}


@pytest.mark.parametrize(("kind", "edges", "summaries", "local"), OPTIONS)
def test_fmriprep_columns_equal_the_codebook(sim_run, small_atlas, kind, edges, summaries,
                                             local):
    settings = _settings(kind, edges, summaries, local, atlas=small_atlas)
    result = brain.extract_run(sim_run.bold, sim_run.confounds, sim_run.mask, settings=settings,
                               gm_probseg=sim_run.gm)
    assert list(result.features.index) == list(result.codebook.index)
    group, edge_group = connectivity_groups(kind)
    computed = result.features.dropna().index.map(group_of)
    assert (group in computed) == summaries
    assert (edge_group in computed) == edges
    assert ("alff" in computed) == local and ("gmv" in computed) == local
    assert not {"fc", "pfc", "edge", "pedge"} - {group, edge_group} & set(computed)


@pytest.mark.parametrize(("kind", "edges", "summaries", "local"), OPTIONS)
def test_xcpd_columns_equal_the_codebook(tmp_path, kind, edges, summaries, local):
    rng = np.random.default_rng(0)
    runs = {"run-01": rng.standard_normal((50, len(NODES)))}
    write_cifti_session(tmp_path, {**runs, "task": runs["run-01"]})
    settings = _settings(kind, edges, summaries, local, input="xcpd", xcpd_atlas="4S156Parcels")
    cohort = extract_cohort(Dataset(tmp_path), {"brain": (brain.EXTRACTOR, settings)},
                            tmp_path / "cache")
    assert not cohort.failures
    table = cohort.table
    assert list(table.data.columns) == list(table.codebook.index)
    row = table.data.iloc[0]
    group, edge_group = connectivity_groups(kind)
    computed = {group_of(k) for k, v in row.items() if np.isfinite(v)}
    assert (group in computed) == summaries
    assert (edge_group in computed) == edges
    assert ({"alff_xcpd", "reho"} <= computed) == local
    assert not {"fc", "pfc", "edge", "pedge"} - {group, edge_group} & computed
