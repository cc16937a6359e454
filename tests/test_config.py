"""Configuration files are validated before any work, with key paths in the message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from backpheno.config import load_config
from backpheno.errors import ConfigError
from backpheno.models.config import TrainConfig
from backpheno.synth.config import SimulateConfig

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_every_simulate_config_in_configs_loads():
    for path in sorted((REPO / "configs").glob("*simulate*.yaml")):
        config = load_config(path, SimulateConfig)
        assert config.participants >= 8


def test_unknown_key_is_named_with_its_path(tmp_path):
    path = _write(tmp_path, "participants: 20\nbrain:\n  resolution: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, SimulateConfig)
    assert "brain.resolution" in str(err.value)
    assert "Extra inputs are not permitted" in str(err.value)
    assert str(path) in str(err.value)


def test_wrong_type_and_range_are_all_listed(tmp_path):
    path = _write(tmp_path, "participants: many\ndeep_fraction: 1.5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, SimulateConfig)
    message = str(err.value)
    assert "participants" in message and "'many'" in message
    assert "deep_fraction" in message and "1.5" in message


def test_inconsistent_arms_are_rejected(tmp_path):
    path = _write(tmp_path, "arms: [A, B]\n")
    with pytest.raises(ConfigError, match="response.intercept"):
        load_config(path, SimulateConfig)
    path = _write(tmp_path, "null_arms: [XYZ]\n")
    with pytest.raises(ConfigError, match="null_arms"):
        load_config(path, SimulateConfig)


def test_unknown_trait_is_rejected(tmp_path):
    path = _write(tmp_path, "response:\n  prognostic: {optimism: 0.3}\n")
    with pytest.raises(ConfigError, match="optimism"):
        load_config(path, SimulateConfig)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", SimulateConfig)
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "a: [1, 2\n"), SimulateConfig)
    with pytest.raises(ConfigError, match="mapping"):
        load_config(_write(tmp_path, "- 1\n- 2\n"), SimulateConfig)


def test_overrides_apply_on_top_of_the_file(tmp_path):
    path = _write(tmp_path, "participants: 20\nbrain:\n  n_volumes: 50\n")
    config = load_config(path, SimulateConfig, {"participants": 30, "brain.n_volumes": None,
                                                "seed": 9})
    assert (config.participants, config.brain.n_volumes, config.seed) == (30, 50, 9)


def test_relative_paths_become_absolute_so_a_saved_config_reloads_anywhere(tmp_path,
                                                                          monkeypatch):
    """A config loaded by a relative path (``configs/x.yaml``) still yields absolute paths."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.parquet").write_text("")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "t.yaml").write_text(
        "name: t\nfeatures: ../data/f.parquet\noutcomes: ../data/f.parquet\noutput: ../runs\n"
        "arms: [A, B]\nblocks: [{name: q, modalities: [q]}]\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("configs/t.yaml"), TrainConfig)
    assert config.features == tmp_path / "data" / "f.parquet"
    assert config.output == tmp_path / "runs"
    saved = tmp_path / "elsewhere" / "config.yaml"
    saved.parent.mkdir()
    saved.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    monkeypatch.chdir(saved.parent)
    assert load_config(saved, TrainConfig).features == config.features


def test_bytes_that_are_not_utf8_give_the_config_error_format(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"participants: 10\nsites: [caf\xe9]\n")
    with pytest.raises(ConfigError, match=r"config.yaml: line 2: not UTF-8 text \(byte 0xe9"):
        load_config(path, SimulateConfig)
