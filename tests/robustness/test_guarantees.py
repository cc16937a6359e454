"""Guarantees kept: resumable extraction, isolated failures, exit codes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robustness.sweep import DAMAGED, INTACT, extract, invoke, truncate

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_failed_task_exits_1_unless_failures_are_allowed(workspace):
    truncate(workspace.bold())
    run = extract(workspace, ("brain",))
    assert run.exit_code == 1
    failed = run.qc[run.qc["status"] == "failed"]
    assert failed["participant_id"].tolist() == [DAMAGED]
    assert (INTACT, "ses-V0") in run.data.index
    config = workspace.root / "extract.yaml"
    assert invoke(["extract", config, "--allow-failures"]).exit_code == 0


@pytest.mark.slow
def test_killed_extract_resumes_to_a_byte_identical_table(workspace):
    config = workspace.config(f"dataset: {workspace.dataset}\nout: {workspace.root / 'out'}\n"
                              "questionnaires: {pgic_coding: bacpac_0_6}\n", "full.yaml")
    command = [sys.executable, "-m", "backpheno", "extract", str(config)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC),
                                                        os.environ.get("PYTHONPATH", "")])}
    out = workspace.root / "out"
    subprocess.run(command, env=env, check=True, capture_output=True)
    reference = (out / "features.parquet").read_bytes()
    shutil.rmtree(out)

    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list((out / "cache").rglob("*.json")):
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "features.parquet").exists()
    assert (out / ".backpheno.lock").is_file()  # left behind by the killed run
    subprocess.run(command, env=env, check=True, capture_output=True)
    assert (out / "features.parquet").read_bytes() == reference
