"""Run a child process and measure it: wall time and peak memory, with a hard timeout. For
tests that bound what a run may cost.

The peak is the child's ru_maxrss from os.wait4 on exactly that child, taken by a small
launcher rather than by the test process: Linux carries the parent's resident size into a
child's ru_maxrss when it execs (the old address space's high-water mark is kept), so a child
of a 125 MB pytest worker reports at least 125 MB even for /bin/true. The launcher is a bare
`python -S` of a few MB: what it passes on is noise, not a floor.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Fork, exec the command, wait4 for it, write its peak and exit status to a file, exit alike.
LAUNCHER = """
import json, os, sys
result, command = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
code = os.waitstatus_to_exitcode(status)
with open(result, "w") as file:
    cpu = usage.ru_utime + usage.ru_stime
    json.dump({"maxrss_kib": usage.ru_maxrss, "cpu": cpu, "code": code}, file)
sys.exit(code if code >= 0 else 128 - code)
"""


@dataclass
class Measured:
    args: list[str]
    returncode: int  # negative: killed by that signal
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float  # user + system time of the command and its waited-for descendants
    peak_mb: float  # ru_maxrss of the command (and the descendants it waited for), MiB
    timed_out: bool


def run_measured(
    args: list[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> Measured:
    """`args` as a child, killed (with whatever it started) after `timeout` s. Output goes to
    files, not pipes: a child writing more than a pipe holds would block while we wait."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as folder,
    ):
        result = Path(folder) / "result.json"
        started = time.monotonic()
        # Its own session: on timeout the whole group goes, the command's children too.
        launcher = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, str(result), *args],
            cwd=cwd,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,
        )
        timed_out = False
        try:
            launcher.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
        seconds = time.monotonic() - started
        report = json.loads(result.read_text()) if result.exists() else {}
        out.seek(0)
        err.seek(0)
        measured = Measured(
            args=list(args),
            returncode=report.get("code", launcher.returncode),
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            seconds=seconds,
            cpu_seconds=report.get("cpu", 0.0),
            peak_mb=report.get("maxrss_kib", 0) / 1024,
            timed_out=timed_out,
        )
    log = os.environ.get("PSC_MEASURE_LOG")
    if log:  # figures for a report: one JSON line per child
        name = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        line = {
            "test": name,
            "seconds": round(seconds, 2),
            "cpu_seconds": round(measured.cpu_seconds, 2),
            "peak_mb": round(measured.peak_mb, 1),
            "returncode": measured.returncode,
        }
        with open(log, "a", encoding="utf-8") as file:
            file.write(json.dumps(line) + "\n")
    return measured
