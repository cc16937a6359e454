"""Infinite feature values are refused before training, naming columns and participants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backpheno.errors import InputError
from backpheno.models.finite import require_finite


def test_infinite_values_are_named_and_missing_ones_allowed():
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [np.inf, 1.0, -np.inf], "site": ["x"] * 3},
                     index=pd.Index(["sub-1", "sub-2", "sub-3"], name="participant_id"))
    require_finite(X, ["a"])
    with pytest.raises(InputError) as err:
        require_finite(X, ["a", "b"], "features.parquet")
    message = str(err.value)
    assert "file features.parquet; column b" in message
    assert "2 infinite feature value(s) in 1 column(s) ['b']" in message
    assert "['sub-1', 'sub-3']" in message
