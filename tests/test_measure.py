"""tests/measure.py measures the child it runs, not the test process that starts it."""

import sys
import time
from pathlib import Path

from tests.measure import run_measured

HERE = Path(__file__).resolve().parent
ALLOCATE = "x = bytearray(200 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); print('done')"


def test_the_peak_is_the_child_s_own():
    ballast = bytearray(300 * 1024 * 1024)  # a big parent must not raise the child's figure
    ballast[::4096] = b"1" * len(ballast[::4096])
    small = run_measured([sys.executable, "-c", "print('hi')"], cwd=HERE, timeout=30)
    big = run_measured([sys.executable, "-c", ALLOCATE], cwd=HERE, timeout=30)
    assert small.returncode == 0 and small.stdout == "hi\n"
    assert small.peak_mb < 60, small.peak_mb
    assert big.returncode == 0 and 200 <= big.peak_mb < 300, big.peak_mb
    del ballast


SLEEPER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_child_past_its_timeout_is_killed_with_its_own_children():
    result = run_measured([sys.executable, "-c", SLEEPER], cwd=HERE, timeout=2)
    assert result.timed_out and result.seconds < 6
    assert result.returncode != 0
    grandchild = int(result.stdout.split()[0])
    deadline = time.monotonic() + 5
    while running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(grandchild)
