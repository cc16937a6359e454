"""Controlled training inputs built from a simulated cohort's ground truth (no extraction).

The modelling stage consumes a FeatureTable and an outcomes table, which ``backpheno extract``
produces from a dataset. Model tests and benchmarks need inputs whose signal, size and
missingness are set directly (1,000 participants x 500 features in seconds, a feature block
missing for non-deep participants, a post-treatment column that must be dropped), so
:func:`model_inputs` builds both from ``ground_truth.json`` and ``participants.tsv`` of a
dataset written by :func:`backpheno.synth.simulate`:

- features (session ``ses-V0``): per modality, noisy indicators of the latent traits that
  modality reflects, plus pure-noise features; ``q`` for everyone, ``biomech`` / ``spine`` /
  ``brain`` only for deep-phenotyped participants (NaN otherwise); imaging features carry the
  simulated site effects (additive offset and scale), spine features an age effect; a small share
  of values is missing at random. One QC covariate (role ``covariate``) and one post-treatment
  column (role ``outcome``, strongly tied to the response) test that pipelines drop non-features.
- outcomes (index participant_id): site, age, sex, bmi, deep_phenotyping, ineligible_arm, arm1,
  responder (nullable boolean, NA after dropout), tactic2, arm2.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.io import atomic_path, read_json, read_tsv
from backpheno.synth.config import TRAITS
from backpheno.table import FeatureTable, codebook_row, make_codebook

#: Traits each modality's indicators reflect.
MODALITY_TRAITS: dict[str, tuple[str, ...]] = {
    "q": ("nociplastic", "distress", "fear_avoidance", "mechanical"),
    "biomech": ("fear_avoidance", "mechanical"),
    "spine": ("mechanical",),
    "brain": ("nociplastic", "distress"),
}
#: Default number of features per modality (indicators included).
DEFAULT_FEATURES: dict[str, int] = {"q": 12, "biomech": 8, "spine": 8, "brain": 10}
SESSION = "ses-V0"


def model_inputs(dataset: str | Path, *, n_features: Mapping[str, int] | None = None,
                 indicators_per_trait: int = 2, loading: float = 0.8, noise_sd: float = 0.6,
                 site_offset_scale: float = 1.0, missing_rate: float = 0.02,
                 deep_fraction: float | None = None,
                 seed: int = 0) -> tuple[FeatureTable, pd.DataFrame]:
    """Feature table and outcomes for a simulated dataset.

    Parameters
    ----------
    dataset : str or Path
        Folder written by :func:`backpheno.synth.simulate`.
    n_features : mapping, optional
        Features per modality (default :data:`DEFAULT_FEATURES`); indicators come first, the
        rest is noise.
    indicators_per_trait : int
        Indicators of each trait in each modality that reflects it.
    loading, noise_sd : float
        Indicator = loading * trait + N(0, noise_sd) (standard units).
    site_offset_scale : float
        Multiplies the simulated imaging site offsets (0 removes site effects).
    missing_rate : float
        Share of values missing at random (on top of missing deep blocks).
    deep_fraction : float, optional
        Treat this share of participants (drawn at random) as deep-phenotyped in both tables
        instead of the dataset's own flag, so tests can use imaging blocks without simulating
        images (``deep_fraction=0`` in the simulation).
    seed : int
    """
    root = Path(dataset)
    truth = read_json(root / "ground_truth.json")
    people = pd.DataFrame(truth["participants"]).set_index("participant_id")
    demo = read_tsv(root / "participants.tsv").set_index("participant_id")
    traits = pd.DataFrame(list(people["traits"]), index=people.index)[list(TRAITS)]
    sites = truth["site_effects"]
    rng = np.random.default_rng([seed, 4099])
    counts = {**DEFAULT_FEATURES, **dict(n_features or {})}
    deep = people["deep_phenotyping"].to_numpy(dtype=bool)
    if deep_fraction is not None:
        deep = np.zeros(len(people), dtype=bool)
        deep[rng.choice(len(people), int(round(deep_fraction * len(people))), replace=False)] = True
    age_z = ((demo.loc[people.index, "age"] - 50.4) / 13.5).to_numpy()
    site = people["site"].to_numpy()

    columns: dict[str, np.ndarray] = {}
    rows = []
    for modality, total in counts.items():
        drivers = MODALITY_TRAITS.get(modality, ())
        names = []
        for trait in drivers:
            for k in range(1, indicators_per_trait + 1):
                names.append((f"{modality}.sim.{trait}_{k}", trait))
        names = names[:total]
        names += [(f"{modality}.sim.noise_{k:03d}", None) for k in range(1, total - len(names) + 1)]
        for name, trait in names:
            value = rng.normal(0.0, noise_sd if trait else 1.0, len(people))
            if trait:
                value += loading * traits[trait].to_numpy()
            if modality == "spine":
                value += 0.3 * age_z
            if modality in ("brain", "spine"):
                offset = np.array([sites[s]["brain_fc_offset" if modality == "brain"
                                         else "fat_fraction_offset"] for s in site])
                scale = np.array([sites[s]["brain_amplitude_scale" if modality == "brain"
                                        else "disc_csf_ratio_scale"] for s in site])
                value = value * scale + site_offset_scale * 10.0 * offset
            if modality != "q":
                value[~deep] = np.nan
            value[rng.random(len(people)) < missing_rate] = np.nan
            columns[name] = value
            rows.append(codebook_row(
                name, modality=modality, source="backpheno.synth.model_inputs",
                unit="standard units",
                description=f"simulated indicator of {trait}" if trait else "simulated noise",
                provenance="stand-in for extracted features"))

    responder = people["responder"].astype("boolean").mask(people["dropout"].astype(bool))
    columns["brain.qc.mean_fd"] = np.where(deep, np.abs(rng.normal(0.15, 0.05, len(people))),
                                           np.nan)
    rows.append(codebook_row("brain.qc.mean_fd", modality="brain", role="covariate",
                             source="backpheno.synth.model_inputs", unit="mm",
                             description="mean framewise displacement (QC)"))
    columns["q.peg.change_v1"] = np.where(responder.fillna(False).to_numpy(dtype=bool), -0.5, 0.0) \
        + rng.normal(0, 0.05, len(people))
    rows.append(codebook_row("q.peg.change_v1", modality="q", role="outcome",
                             source="backpheno.synth.model_inputs", unit="fraction",
                             description="PEG change V0 to V1 (post-treatment; never a predictor)"))

    index = pd.MultiIndex.from_arrays([people.index, [SESSION] * len(people)],
                                      names=("participant_id", "session_id"))
    data = pd.DataFrame(columns, index=index)
    table = FeatureTable(data, make_codebook(rows),
                         metadata={"source": "backpheno.synth.model_inputs", "seed": seed})

    outcomes = pd.DataFrame({
        "site": people["site"].astype(str),
        "age": demo.loc[people.index, "age"].astype(float),
        "sex": demo.loc[people.index, "sex"].astype(str),
        "bmi": demo.loc[people.index, "bmi"].astype(float),
        "deep_phenotyping": deep,
        "ineligible_arm": people["ineligible_arm"].astype(object).where(
            people["ineligible_arm"].notna(), None),
        "arm1": people["arm1"].astype(str),
        "responder": responder,
        "tactic2": people["tactic"],
        "arm2": people["arm2"],
    }, index=people.index)
    outcomes.index.name = "participant_id"
    return table, outcomes


def write_model_inputs(dataset: str | Path, out: str | Path,
                       **kwargs: object) -> tuple[Path, Path]:
    """Write :func:`model_inputs` as ``<out>/features.parquet`` (+ sidecars) and
    ``<out>/outcomes.parquet``; returns both paths."""
    table, outcomes = model_inputs(dataset, **kwargs)  # type: ignore[arg-type]
    out = Path(out)
    paths = table.write(out, "features")
    with atomic_path(out / "outcomes.parquet") as tmp:
        outcomes.to_parquet(tmp)
    return paths["parquet"], out / "outcomes.parquet"


def main(argv: list[str] | None = None) -> None:
    """``python -m backpheno.synth.model_inputs DATASET OUT``: write the stand-in tables."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("dataset", type=Path, help="folder written by backpheno simulate")
    parser.add_argument("out", type=Path, help="folder receiving features.parquet and "
                                               "outcomes.parquet")
    args = parser.parse_args(argv)
    features, outcomes = write_model_inputs(args.dataset, args.out)
    print(f"wrote {features} and {outcomes}")


if __name__ == "__main__":
    main()
