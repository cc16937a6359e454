"""TrainConfig: strict keys, types, paths and cross-field rules, reported with key paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from backpheno.config import load_config, validate_config
from backpheno.errors import ConfigError
from backpheno.models.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "f.parquet").write_bytes(b"")
    (tmp_path / "o.parquet").write_bytes(b"")
    return {"features": str(tmp_path / "f.parquet"), "outcomes": str(tmp_path / "o.parquet")}


def check(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(data, TrainConfig, source="t.yaml")
    assert message in str(err.value), str(err.value)


def test_defaults(paths) -> None:
    cfg = validate_config(paths, TrainConfig)
    assert cfg.arms == ["ESC", "ACT", "EBEM", "DUL"] and cfg.target == "responder"
    assert cfg.model.name == "xgboost" and cfg.cv.scheme == "stratified_kfold"
    assert [b.name for b in cfg.blocks] == ["questionnaires", "biomech", "spine", "brain",
                                            "clinical"]
    assert [b.harmonize for b in cfg.blocks] == [False, False, True, True, False]
    assert cfg.task is None and cfg.scoring("regression") == "neg_mean_squared_error"
    assert validate_config({**paths, "arms": [0, 1.0, "b"]}, TrainConfig).arms == ["0", "1", "b"]


def test_errors_name_the_key(paths) -> None:
    check({**paths, "cv": {"outer_fold": 5}}, "cv.outer_fold: Extra inputs are not permitted")
    check({**paths, "cv": {"repeats": "many"}}, "cv.repeats: Input should be a valid integer")
    check({**paths, "features": "/no/such.parquet"}, "features: path does not exist")
    check({"outcomes": paths["outcomes"]}, "features: Field required")
    check({**paths, "model": {"name": "svm"}}, "model.name")
    check({**paths, "model": {"search": {"space": {"max_dept": [2]}}}},
          "unknown hyper-parameters for xgboost: ['max_dept']")
    check({**paths, "model": {"search": {"space": {"max_depth": []}}}}, "without candidates")
    check({**paths, "blocks": [{"name": "b", "modalities": ["q"], "include": "(["}]},
          "blocks.0.include")


def test_leaky_or_inconsistent_settings_are_refused(paths) -> None:
    check({**paths, "combat": {"covariates": ["age", "responder"], "categorical": []}},
          "post-randomisation")
    check({**paths, "combat": {"covariates": ["age"], "categorical": ["sex"]}},
          "not covariates")
    check({**paths, "cv": {"scheme": "group_kfold"}}, "needs groups")
    check({**paths, "cv": {"scheme": "leave_group_out", "groups": "site", "repeats": 1}},
          "unseen_site to passthrough")
    check({**paths, "cv": {"scheme": "leave_group_out", "groups": "site"}}, "repeats to 1")
    check({**paths, "permutation": {"repeats": 9}}, "cannot exceed cv.repeats")
    check({**paths, "blocks": [{"name": "a", "modalities": ["q"]},
                               {"name": "a", "modalities": ["brain"]}]}, "unique")
    ok = validate_config({**paths, "cv": {"scheme": "leave_group_out", "groups": "site",
                                          "repeats": 1},
                          "combat": {"unseen_site": "passthrough"}}, TrainConfig)
    assert ok.cv.scheme == "leave_group_out"


@pytest.mark.parametrize("name", ["best_stage1", "best_stage1_continuous"])
def test_demo_config_loads_with_relative_paths(tmp_path, name) -> None:
    """configs/best_stage1*.yaml resolve their paths against their own folder."""
    text = (REPO / "configs" / f"{name}.yaml").read_text()
    (tmp_path / "demo" / "features").mkdir(parents=True)
    for file in ("features.parquet", "outcomes.parquet"):
        (tmp_path / "demo" / "features" / file).write_bytes(b"")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / f"{name}.yaml").write_text(text)
    cfg = load_config(tmp_path / "configs" / f"{name}.yaml", TrainConfig)
    expected = tmp_path / "demo" / "features" / "features.parquet"
    assert cfg.features == expected
    assert cfg.task == ("regression" if name.endswith("continuous") else None)


def test_full_config_is_the_demo_with_999_permutations(tmp_path) -> None:
    (tmp_path / "demo" / "features").mkdir(parents=True)
    for name in ("features.parquet", "outcomes.parquet"):
        (tmp_path / "demo" / "features" / name).write_bytes(b"")
    (tmp_path / "configs").mkdir()
    loaded = {}
    for name in ("best_stage1", "best_stage1_full"):
        path = tmp_path / "configs" / f"{name}.yaml"
        path.write_text((REPO / "configs" / f"{name}.yaml").read_text())
        loaded[name] = load_config(path, TrainConfig).model_dump()
    demo, full = loaded["best_stage1"], loaded["best_stage1_full"]
    assert demo["permutation"]["n_permutations"] == 19
    assert full["permutation"]["n_permutations"] == 999
    differ = {k for k in demo if demo[k] != full[k]}
    assert differ == {"name", "permutation"}
