"""The plot and dashboard processes run every thread in Linux's idle scheduling class."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHILD = """
import os, threading
started = threading.Event()
done = threading.Event()
def wait():
    started.set()
    done.wait()
threading.Thread(target=wait, daemon=True).start()  # like OpenBLAS's workers: before the call
started.wait()
from mlmon.app.service_main import run_in_background
run_in_background()
after = threading.Thread(target=done.wait, daemon=True)  # and one started after it
after.start()
policies = [os.sched_getscheduler(int(t)) for t in os.listdir("/proc/self/task")]
done.set()
print(len(policies), *sorted(set(policies)))
"""


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux's idle class only")
def test_every_thread_goes_to_the_idle_class() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    threads, policies = int(out[0]), {int(p) for p in out[1:]}
    assert threads >= 3
    assert policies == {os.SCHED_IDLE}
