"""CPU seconds of the local stack's processes (infra/local/cpu.py), what bench's CPU per post reads."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from infra.local.cpu import cpu_seconds

BURN_THEN_WAIT = """
import sys, time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
sys.stdin.read()
"""


def test_this_process_counts_the_work_it_does() -> None:
    before = cpu_seconds()
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    after = cpu_seconds()
    assert before is not None
    assert after is not None
    assert after - before >= 0.04


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="another process is read from /proc")
def test_another_process_is_read_from_its_proc_entry_and_an_exited_one_is_none() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            BURN_THEN_WAIT,
        ],
        stdin=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        used = cpu_seconds(child.pid)
        while (used or 0) < 0.25 and time.monotonic() < deadline:
            time.sleep(0.05)
            used = cpu_seconds(child.pid)
        assert used is not None
        assert 0.25 <= used < 5
    finally:
        child.communicate(b"")
    assert cpu_seconds(child.pid) is None  # reaped: no /proc entry
