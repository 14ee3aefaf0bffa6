"""Runs `psc-testkit conformance` for the defect and quirk matrices without paying, in each of
their ~240 runs, for starting Python and importing the suite (pytest, httpx, jsonschema, the
plugin, the checks): about a third of a run's CPU.

One server process per test worker imports all of that once, then forks a child per run. The
child is a real, separate `psc-testkit conformance` process in everything but its startup: its
own pytest session, simulator, reports and exit code; nothing it does reaches the server or the
next run. The server holds no thread when it forks (imports start none).

Protocol, one JSON line each way: {"argv": [...], "out": path} → {"code": int}.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _preload() -> None:
    import importlib

    import pytest  # noqa: F401

    import psc_testkit.cli
    import psc_testkit.conformance.pytest_plugin  # noqa: F401

    for name in (
        "psc_testkit.conformance.certification",
        "psc_testkit.conformance.harness",
        "psc_testkit.conformance.preflight",
    ):
        importlib.import_module(name)
    # The checks themselves, under the names pytest gives them (rootdir = the project, each
    # folder a package): pytest finds them in sys.modules and does not import them again.
    for path in sorted((ROOT / "conformance").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        importlib.import_module(module.removesuffix(".__init__"))


def serve() -> None:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    _preload()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the run
            code = 70
            try:
                out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.setsid()  # its own process group, so a timeout stops its simulator too
                from psc_testkit.cli import main

                code = main(request["argv"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        deadline = time.monotonic() + request.get("timeout", 300)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                code = -9
                break
            time.sleep(0.02)
        sys.stdout.write(json.dumps({"code": code}) + "\n")
        sys.stdout.flush()


class SuiteServer:
    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tests.suite_server import serve; serve()"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        atexit.register(self.stop)

    def run(self, argv: list[str], timeout: float = 300) -> tuple[int, str]:
        """`psc-testkit <argv>`: its exit code and its output (stdout and stderr)."""
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"psc-suite-{os.getpid()}-{time.time_ns()}"
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(
            json.dumps({"argv": argv, "out": str(out), "timeout": timeout}) + "\n"
        )
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the suite server stopped (exit {self.process.poll()})")
        try:
            return json.loads(answer)["code"], out.read_text(errors="replace")
        finally:
            out.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # type: ignore[union-attr]
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_server: SuiteServer | None = None


def run(argv: list[str], timeout: float = 300) -> tuple[int, str]:
    """One conformance run through this worker's server, started on first use."""
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = SuiteServer()
    return _server.run(argv, timeout)
