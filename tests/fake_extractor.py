"""A tiny per-participant extractor used to test the cohort runner.

Each participant × session may hold ``fake/value.txt`` with a number; the extractor returns
that number and its double. The text ``boom`` makes it raise (a broken participant).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from backpheno.config import StrictModel
from backpheno.extractors import ExtractionResult
from backpheno.table import codebook_row


class FakeSettings(StrictModel):
    scale: float = 1.0
    delay_s: float = 0.0


class FakeExtractor:
    modality = "fake"
    settings_model = FakeSettings

    def find_inputs(self, dataset, participant_id, session_id, settings):
        path = dataset.subject_dir(participant_id, session_id) / "fake" / "value.txt"
        return {"value": path} if path.is_file() else None

    def extract(self, inputs, settings, participant_id, session_id):
        time.sleep(settings.delay_s)
        text = Path(inputs["value"]).read_text().strip()
        if text == "boom":
            raise ValueError(f"cannot parse {inputs['value']}")
        value = float(text) * settings.scale
        book = [codebook_row(f"fake.x.{n}", modality="fake", source="fake 1", unit="a.u.",
                             description=n) for n in ("value", "double")]
        qc = [{"participant_id": participant_id, "session_id": session_id, "modality": "fake",
               "item": "*", "status": "ok", "reason": ""}]
        return ExtractionResult({"fake.x.value": value, "fake.x.double": 2 * value}, book, qc)


EXTRACTOR = FakeExtractor()


class PidExtractor(FakeExtractor):
    """The fake extractor, also reporting which process computed each participant.

    Defined here, not in a test module, so that worker processes unpickle it by the name of a
    top-level module (an installed package named ``tests`` would shadow ``tests.test_cohort``).
    """

    def extract(self, inputs, settings, participant_id, session_id):
        result = super().extract(inputs, settings, participant_id, session_id)
        result.features["fake.x.pid"] = float(os.getpid())
        result.codebook.append(codebook_row("fake.x.pid", modality="fake", source="fake 1",
                                            unit="1", description="process id"))
        return result


def make_dataset(root: Path, n: int = 12, broken: tuple[int, ...] = ()) -> Path:
    """Write a minimal dataset with ``n`` participants holding fake/value.txt at ses-V0."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["participant_id\tsite\tage\tsex\tdeep_phenotyping"]
    for i in range(1, n + 1):
        pid = f"sub-{i:03d}"
        lines.append(f"{pid}\tsite0{i % 2 + 1}\t40\tF\ttrue")
        folder = root / pid / "ses-V0" / "fake"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "value.txt").write_text("boom" if i in broken else f"{i * 1.5}")
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")
    return root
