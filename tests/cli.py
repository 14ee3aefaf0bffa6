"""Run `psc-testkit` as a user does: a child process from the project folder."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def psc_testkit(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`env`: variables added to this process's environment for the run."""
    return subprocess.run(
        [sys.executable, "-m", "psc_testkit", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )
