"""The cohort runner: failures isolated, cached and resumable, same table locally and on Dask."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from fake_extractor import EXTRACTOR, FakeSettings, PidExtractor, make_dataset

from backpheno.cohort import extract_cohort, summary
from backpheno.dataset import Dataset
from backpheno.extractors import ExtractionResult
from backpheno.io import read_json
from backpheno.table import codebook_row


def _run(root, cache, settings=None, **kwargs):
    extractors = {"fake": (EXTRACTOR, settings or FakeSettings())}
    return extract_cohort(Dataset(root), extractors, cache, **kwargs)


def test_broken_participant_gets_a_qc_row_and_the_rest_finish(tmp_path):
    root = make_dataset(tmp_path / "ds", n=6, broken=(3,))
    result = _run(root, tmp_path / "cache")
    data = result.table.data
    assert len(data) == 5
    assert ("sub-003", "ses-V0") not in data.index
    assert data.loc[("sub-002", "ses-V0"), "fake.x.double"] == pytest.approx(6.0)
    failed = result.table.qc[result.table.qc["status"] == "failed"]
    assert failed["participant_id"].tolist() == ["sub-003"]
    assert "cannot parse" in failed["reason"].iloc[0]
    assert len(result.failures) == 1
    assert "sub-003" in summary(result)


def test_missing_inputs_of_a_deep_participant_are_reported(tmp_path):
    root = make_dataset(tmp_path / "ds", n=3)
    (root / "sub-002" / "ses-V0" / "fake" / "value.txt").unlink()
    qc = _run(root, tmp_path / "cache").table.qc
    row = qc[qc["participant_id"] == "sub-002"]
    assert row["status"].tolist() == ["missing"]


def test_rerun_uses_the_cache_and_changes_invalidate_it(tmp_path):
    root = make_dataset(tmp_path / "ds", n=5)
    first = _run(root, tmp_path / "cache")
    assert first.n_cached == 0
    second = _run(root, tmp_path / "cache")
    assert second.n_cached == 5
    pd.testing.assert_frame_equal(first.table.data, second.table.data)
    (root / "sub-004" / "ses-V0" / "fake" / "value.txt").write_text("100")
    third = _run(root, tmp_path / "cache")
    assert third.n_cached == 4
    assert third.table.data.loc[("sub-004", "ses-V0"), "fake.x.value"] == 100
    fourth = _run(root, tmp_path / "cache", FakeSettings(scale=2.0))
    assert fourth.n_cached == 0


def test_process_parallel_run_equals_serial(tmp_path):
    root = make_dataset(tmp_path / "ds", n=8, broken=(2,))
    serial = _run(root, tmp_path / "c1")
    parallel = _run(root, tmp_path / "c2", n_jobs=2)
    pd.testing.assert_frame_equal(serial.table.data, parallel.table.data)
    pd.testing.assert_frame_equal(serial.table.qc, parallel.table.qc)


def test_dask_local_cluster_gives_the_local_table(tmp_path):
    distributed = pytest.importorskip("distributed")
    root = make_dataset(tmp_path / "ds", n=6, broken=(5,))
    local = _run(root, tmp_path / "c1")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: __import__("sys").path.insert(0, os.path.dirname(__file__)))
        on_dask = _run(root, tmp_path / "c2", scheduler_address=client)
    pd.testing.assert_frame_equal(local.table.data, on_dask.table.data)
    pd.testing.assert_frame_equal(local.table.qc, on_dask.table.qc)


_KILLABLE_RUN = """
import sys
from fake_extractor import EXTRACTOR, FakeSettings
from backpheno.cohort import extract_cohort
from backpheno.dataset import Dataset
extract_cohort(Dataset(sys.argv[1]), {"fake": (EXTRACTOR, FakeSettings(delay_s=0.15))},
               sys.argv[2])
"""


def test_killed_run_resumes_to_the_uninterrupted_table(tmp_path):
    root = make_dataset(tmp_path / "ds", n=20)
    cache = tmp_path / "cache"
    here = os.path.dirname(__file__)
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([here, os.path.join(here, "..", "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", _KILLABLE_RUN, str(root), str(cache)],
                               env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cache.rglob("*.json"))) < 6:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = list(cache.rglob("*.json"))
    assert 6 <= len(done) < 20, "the run should have been killed part-way"
    for path in done:  # every file under a final name is complete
        assert "features" in read_json(path)
    resumed = _run(root, cache, FakeSettings(delay_s=0.15))
    assert resumed.n_cached >= len(done)
    fresh = _run(root, tmp_path / "fresh", FakeSettings(delay_s=0.0))
    pd.testing.assert_frame_equal(resumed.table.data, fresh.table.data)


def test_parallel_run_computes_one_task_here_before_workers_start(tmp_path):
    """Compiled kernels (numba) get cached by one process before the pool shares the cache."""
    root = make_dataset(tmp_path / "ds", n=6)
    result = extract_cohort(Dataset(root), {"fake": (PidExtractor(), FakeSettings())},
                            tmp_path / "cache", n_jobs=2)
    pids = result.table.data["fake.x.pid"]
    assert pids.loc[("sub-001", "ses-V0")] == os.getpid()
    assert (pids.drop(("sub-001", "ses-V0")) != os.getpid()).all()


class _CountingExtractor:
    """Reads nothing and counts its calls: tells whether the runner recomputed a task."""

    modality = "counting"
    settings_model = FakeSettings

    def __init__(self):
        self.calls = 0

    def extract(self, inputs, settings, participant_id, session_id):
        self.calls += 1
        book = [codebook_row("counting.x.n", modality="counting", source="test", unit="1",
                             description="calls")]
        return ExtractionResult({"counting.x.n": float(self.calls)}, book, [])


def _motion_tree(root):
    """A BIDS-motion recording with same-stem, participant-level and dataset-level metadata."""
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text('{"Name": "t", "BIDSVersion": "1.9.0"}')
    folder = root / "sub-01" / "ses-V0" / "motion"
    folder.mkdir(parents=True)
    stem = "sub-01_ses-V0_task-walk_tracksys-imu"
    files = {
        "data": folder / f"{stem}_motion.tsv",
        "sidecar": folder / f"{stem}_motion.json",
        "channels": folder / "sub-01_ses-V0_tracksys-imu_channels.tsv",
        "inherited": root / "task-walk_tracksys-imu_motion.json",
        "channels_json": root / "tracksys-imu_channels.json",
    }
    for name, path in files.items():
        path.write_text(f"{name} v1\n")
    return files


def test_every_file_setting_and_version_a_task_depends_on_recomputes_it(tmp_path, monkeypatch):
    import backpheno.cohort as cohort

    files = _motion_tree(tmp_path / "ds")
    (tmp_path / "ds" / "task-flexion_tracksys-imu_motion.json").write_text("other task\n")
    extractor = _CountingExtractor()
    task = cohort.Task("counting", "sub-01", "ses-V0", {"walk": files["data"]})

    def recomputed(settings=None):
        before = extractor.calls
        outcome = cohort.run_task(task, extractor, settings or FakeSettings(),
                                  tmp_path / "cache")
        assert not outcome.failed
        return extractor.calls > before

    assert recomputed()
    assert not recomputed()
    for name, path in files.items():
        path.write_text(f"{name} v2\n")
        assert recomputed(), f"changing {name} ({path.name}) kept the cached result"
        assert not recomputed()
    (tmp_path / "ds" / "task-flexion_tracksys-imu_motion.json").write_text("changed\n")
    assert not recomputed(), "metadata of another task must not invalidate this one"
    assert recomputed(FakeSettings(scale=3.0))
    monkeypatch.setattr(cohort, "__version__", "999.0")
    assert recomputed(FakeSettings(scale=3.0))


def test_the_cache_key_does_not_depend_on_where_the_dataset_is(tmp_path):
    import shutil

    from backpheno.cohort import Task, task_key

    files = _motion_tree(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    moved = tmp_path / "b" / files["data"].relative_to(tmp_path / "a")
    assert (task_key(Task("m", "sub-01", "ses-V0", {"walk": files["data"]}), FakeSettings())
            == task_key(Task("m", "sub-01", "ses-V0", {"walk": moved}), FakeSettings()))
