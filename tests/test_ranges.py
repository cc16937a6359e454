"""Values outside their codebook's valid range get a flagged QC row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backpheno.ranges import flag_out_of_range
from backpheno.table import FeatureTable, codebook_row, make_codebook


def test_out_of_range_values_are_flagged_with_feature_value_and_range():
    index = pd.MultiIndex.from_tuples([("sub-1", "ses-V0"), ("sub-2", "ses-V0"),
                                       ("sub-3", "ses-V0")],
                                      names=["participant_id", "session_id"])
    data = pd.DataFrame({"biomech.walk.cadence_spm": [110.0, 400.0, np.nan],
                         "q.peg.score": [0.0, 10.0, -1.0],
                         "brain.x.free": [1e9, -1e9, 0.0]}, index=index)
    codebook = make_codebook([
        codebook_row("biomech.walk.cadence_spm", modality="biomech", source="t",
                     unit="steps/min", description="", valid_min=30, valid_max=200),
        codebook_row("q.peg.score", modality="q", source="t", unit="points", description="",
                     valid_min=0, valid_max=10),
        codebook_row("brain.x.free", modality="brain", source="t", unit="a.u.",
                     description="")])
    table = flag_out_of_range(FeatureTable(data, codebook))
    flagged = table.qc[table.qc["status"] == "flagged"]
    assert flagged[["participant_id", "modality", "item"]].values.tolist() == [
        ["sub-2", "biomech", "biomech.walk.cadence_spm"], ["sub-3", "q", "q.peg.score"]]
    assert flagged["reason"].iloc[0] == ("biomech.walk.cadence_spm = 400 steps/min is outside "
                                         "the codebook's valid range [30, 200]")
    assert table.data.loc[("sub-2", "ses-V0"), "biomech.walk.cadence_spm"] == 400.0
