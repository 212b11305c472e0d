"""The retraining lock: a second holder is refused while the first runs, and a crash frees it."""

import os
import subprocess
import sys

import pytest

from facetransfer.locks import LockBusyError, exclusive_lock


def test_second_process_is_refused_while_the_lock_is_held(tmp_path):
    lock = tmp_path / "retrain.lock"
    probe = (
        "import sys\nfrom facetransfer.locks import exclusive_lock, LockBusyError\n"
        "try:\n    with exclusive_lock(sys.argv[1]):\n        sys.exit(0)\n"
        "except LockBusyError as e:\n    print(e); sys.exit(3)\n"
    )
    with exclusive_lock(lock):
        busy = subprocess.run([sys.executable, "-c", probe, str(lock)], capture_output=True, text=True)
        assert busy.returncode == 3
        assert f"another run holds {lock} (pid {os.getpid()})" in busy.stdout
    free = subprocess.run([sys.executable, "-c", probe, str(lock)], capture_output=True, text=True)
    assert free.returncode == 0


def test_lock_is_released_when_the_holder_dies(tmp_path):
    lock = tmp_path / "retrain.lock"
    holder = (
        "import os, sys\nfrom facetransfer.locks import exclusive_lock\n"
        "with exclusive_lock(sys.argv[1]):\n    os._exit(1)\n"
    )
    subprocess.run([sys.executable, "-c", holder, str(lock)], check=False)
    with exclusive_lock(lock):
        assert lock.read_text() == str(os.getpid())


def test_same_process_cannot_take_it_twice(tmp_path):
    lock = tmp_path / "retrain.lock"
    with exclusive_lock(lock), pytest.raises(LockBusyError), exclusive_lock(lock):
        pass
