"""Run `psc-testkit` as a user does: a child process from the project folder."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def psc_testkit(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "psc_testkit", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
