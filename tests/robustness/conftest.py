"""The sweep's shared, undamaged workspace: a small cohort trimmed to two deep participants."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backpheno.table import read_feature_table
from robustness.sweep import DAMAGED, INTACT, Base, Workspace, invoke


@pytest.fixture(scope="session")
def sweep_base(small_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Base:
    """Copy of the small cohort with deep files for two participants, extracted once."""
    root = tmp_path_factory.mktemp("sweep")
    keep = {DAMAGED, INTACT}

    def others(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n.startswith("sub-") and n not in keep
                and (Path(folder) / n).is_dir()]

    shutil.copytree(small_cohort, root / "dataset", ignore=others)
    config = root / "extract.yaml"
    config.write_text(f"dataset: {root / 'dataset'}\nout: {root / 'inputs'}\n"
                      f"cache: {root / 'cache'}\nquestionnaires: {{pgic_coding: bacpac_0_6}}\n")
    run = invoke(["extract", config])
    assert run.exit_code == 0, run.output
    table = read_feature_table(root / "inputs" / "features.parquet")
    assert {DAMAGED, INTACT} <= set(table.data.index.get_level_values(0))
    return Base(root, root / "cache", table.data, table.qc)


@pytest.fixture(scope="session")
def trained_base(sweep_base: Base) -> Base:
    """The sweep base plus a run directory trained on its questionnaire features."""
    run_dir = sweep_base.root / "run"
    config = sweep_base.root / "train.yaml"
    config.write_text(TRAIN_YAML.format(inputs=sweep_base.root / "inputs"))
    result = invoke(["train", config, "--run-dir", run_dir])
    assert result.exit_code == 0, result.output
    sweep_base.extra["run"] = run_dir
    return sweep_base


@pytest.fixture
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Workspace:
    base = request.getfixturevalue("sweep_base")
    return base.copy(tmp_path)


#: A fast training configuration over the questionnaire features of all 60 participants.
TRAIN_YAML = """\
name: sweep
features: {inputs}/features.parquet
outcomes: {inputs}/outcomes.parquet
population: all
arms: [ACT, DUL]
blocks: [{{name: questionnaires, modalities: [q]}}]
model: {{name: elastic_net, search: {{space: {{C: [0.1]}}}}}}
cv: {{outer_folds: 2, inner_folds: 2, repeats: 1, min_class_size: 2}}
permutation: {{n_permutations: 0, repeats: 1}}
metrics: {{n_bootstrap: 20}}
"""
