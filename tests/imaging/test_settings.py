"""Brain settings: validated keys, documented defaults."""

from __future__ import annotations

import pytest

from backpheno.config import validate_config
from backpheno.errors import ConfigError
from backpheno.imaging.settings import BrainSettings


def test_defaults_follow_the_documented_choices():
    settings = BrainSettings()
    assert settings.atlas.builtin == "seitzman2018"
    assert settings.denoise.label == "scrubbing.5+gsr"
    assert settings.denoise.confound_kwargs()["fd_threshold"] == 0.5
    assert settings.qc.max_mean_fd_mm == 0.25 and settings.qc.max_high_motion_fraction == 0.2
    assert not settings.connectivity.edges and settings.connectivity.network_summaries
    assert [(p.a, p.b) for p in settings.connectivity.seed_pairs] == [
        ("mpfc", "nacc"), ("dmn", "insula-left"), ("dmn", "insula-right"),
        ("s1back", "salience")]
    assert all(p.citation for p in settings.connectivity.seed_pairs)


def test_bad_keys_are_reported_with_their_path(tmp_path):
    with pytest.raises(ConfigError) as err:
        validate_config({"atlas": {"builtin": None, "image": "missing.nii.gz"},
                         "denoise": {"strategy": "aroma"}, "bogus": 1}, BrainSettings,
                        base_dir=tmp_path)
    message = str(err.value)
    assert "atlas.image: path does not exist" in message
    assert "denoise.strategy" in message and "bogus" in message
    with pytest.raises(ConfigError, match="seed_pairs name unknown seeds"):
        validate_config({"connectivity": {"seed_pairs": [{"a": "x", "b": "y", "citation": "c"}]}},
                        BrainSettings)
    with pytest.raises(ConfigError, match="builtin cannot be combined"):
        validate_config({"atlas": {"table": str(tmp_path)}}, BrainSettings)
    with pytest.raises(ConfigError, match="band_hz"):
        validate_config({"amplitude": {"band_hz": [0.1, 0.01]}}, BrainSettings)
