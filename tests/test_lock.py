"""One writer per output folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from backpheno.errors import InputError
from backpheno.lock import LOCK_NAME, output_lock

_HOLD = """
import sys, time
from backpheno.lock import output_lock
with output_lock(sys.argv[1], "extract"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / "out")],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(InputError) as err, output_lock(tmp_path / "out", "score"):
            pass
        message = str(err.value)
        assert f"pid {holder.pid} on {socket.gethostname()}" in message
        assert "backpheno extract" in message and LOCK_NAME in message
    finally:
        holder.kill()
        holder.wait()
    # killed without releasing: its lock is stale and the next writer takes it over
    assert (tmp_path / "out" / LOCK_NAME).is_file()
    with output_lock(tmp_path / "out", "score") as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not (tmp_path / "out" / LOCK_NAME).exists()


def test_the_lock_is_reentrant_in_one_process_and_released_on_error(tmp_path):
    with pytest.raises(RuntimeError), output_lock(tmp_path, "extract"):
        with output_lock(tmp_path, "extract"):
            assert (tmp_path / LOCK_NAME).is_file()
        assert (tmp_path / LOCK_NAME).is_file()  # the inner block does not release it
        raise RuntimeError
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_from_another_host_is_never_broken(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"command": "train", "pid": 1, "host": "elsewhere", "started": time.ctime()}))
    with pytest.raises(InputError, match="on elsewhere"), output_lock(tmp_path, "extract"):
        pass


def test_a_missing_folder_is_left_alone_unless_asked_to_create_it(tmp_path):
    with output_lock(tmp_path / "run", "report", create=False):
        assert not (tmp_path / "run").exists()
    with output_lock(tmp_path / "new", "extract"):
        assert (tmp_path / "new" / LOCK_NAME).is_file()
