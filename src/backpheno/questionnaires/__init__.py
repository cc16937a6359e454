"""Questionnaires and clinical tests: validated, vectorised scoring into the feature table.

Every instrument is declared once (:mod:`~.instruments`, looked up in :mod:`~.registry`) and
scored over all participant-sessions at once (:mod:`~.engine`). Inputs are the BIDS phenotype
tables (``phenotype/<instrument>.tsv``) or the BACPAC Minimum Dataset long format
(:mod:`~.sdtm`); both give identical scores.

Examples
--------
>>> import pandas as pd
>>> from backpheno.questionnaires import score
>>> answers = pd.DataFrame({"participant_id": ["sub-01"], "session_id": ["ses-V0"],
...                         "PAININ9": [3], "PAININ22": [4], "PAININ31": [2], "PAININ34": [3]})
>>> score(answers, "promis_pi_4a")["q.promis_pi_4a.t_score"].item()
61.2
"""

from backpheno.questionnaires.api import score, score_dataset, score_instrument, score_tables
from backpheno.questionnaires.engine import AnswerError, ScoreResult
from backpheno.questionnaires.registry import INSTRUMENT_NAMES, get_instrument
from backpheno.questionnaires.settings import QuestionnaireSettings, SdtmInput, VisitMap

__all__ = [
    "INSTRUMENT_NAMES",
    "AnswerError",
    "QuestionnaireSettings",
    "ScoreResult",
    "SdtmInput",
    "VisitMap",
    "get_instrument",
    "score",
    "score_dataset",
    "score_instrument",
    "score_tables",
]
