"""Stand-in training inputs from a simulated cohort's ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backpheno.io import read_json
from backpheno.synth.config import SimulateConfig
from backpheno.synth.model_inputs import model_inputs


def test_tables_follow_the_contract(small_cohort) -> None:
    table, outcomes = model_inputs(small_cohort)
    truth = read_json(small_cohort / "ground_truth.json")
    people = pd.DataFrame(truth["participants"]).set_index("participant_id")
    assert table.data.index.names == ["participant_id", "session_id"]
    assert set(table.codebook["modality"]) == {"q", "biomech", "spine", "brain"}
    assert table.codebook.loc["q.peg.change_v1", "role"] == "outcome"
    assert table.codebook.loc["brain.qc.mean_fd", "role"] == "covariate"
    deep = outcomes["deep_phenotyping"]
    brain = table.session("ses-V0")[[c for c in table.features if c.startswith("brain.sim")]]
    assert brain[~deep.to_numpy()].isna().all().all()
    assert brain[deep.to_numpy()].notna().mean().mean() > 0.9
    assert str(outcomes["responder"].dtype) == "boolean"
    dropped = people.index[people["dropout"]]
    assert outcomes.loc[dropped, "responder"].isna().all()
    assert (outcomes["arm1"] == people["arm1"]).all()


def test_indicators_track_traits_and_imaging_carries_site_effects(tmp_path) -> None:
    from backpheno.synth import simulate

    root = tmp_path / "ds"
    simulate(SimulateConfig(participants=400, deep_fraction=0.0, seed=5), root)
    table, outcomes = model_inputs(root, deep_fraction=1.0)
    truth = pd.DataFrame(read_json(root / "ground_truth.json")["participants"])
    noci = np.array([t["nociplastic"] for t in truth["traits"]])
    data = table.session("ses-V0")
    r = np.corrcoef(data["q.sim.nociplastic_1"].fillna(0), noci)[0, 1]
    assert r > 0.7
    site_means = data["brain.sim.noise_001"].groupby(outcomes["site"].to_numpy()).mean()
    flat, _ = model_inputs(root, deep_fraction=1.0, site_offset_scale=0.0)
    flat_means = flat.session("ses-V0")["brain.sim.noise_001"].groupby(
        outcomes["site"].to_numpy()).mean()
    assert outcomes["deep_phenotyping"].all()
    assert site_means.max() - site_means.min() > 0.3
    assert flat_means.max() - flat_means.min() < site_means.max() - site_means.min()
