"""Start the simulator as a child process and read where it listens: for the test suite, the
conformance runner, load runs and benchmarks alike."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO


class SimulatorStartError(RuntimeError):
    pass


@dataclass
class SimulatorProcess:
    """`with SimulatorProcess(defects=[...]) as sim:` then use sim.issuer, sim.wallet, sim.ca."""

    defects: list[str] = field(default_factory=list)
    tls: bool | None = None
    config: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    startup_timeout: float = 30.0
    info: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "psc_testkit", "simulator", "--host", "127.0.0.1"]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        if self.tls is not None:
            cmd.append("--tls" if self.tls else "--no-tls")
        for name in self.defects:
            cmd += ["--defect", name]
        return cmd + self.extra_args

    def start(self) -> SimulatorProcess:
        # stderr goes to a file, not a pipe: nobody reads a pipe during a run, and a full pipe
        # would block the server.
        self.log = tempfile.TemporaryFile(mode="w+t")  # noqa: SIM115 (lives as long as the child)
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        # A thread reads the announced lines: select() on a buffered text pipe misses lines
        # already read into Python's buffer.
        lines: queue.Queue[str] = queue.Queue()

        def pump(stream: IO[str]) -> None:
            for line in stream:
                lines.put(line)
            lines.put("")

        threading.Thread(target=pump, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while "state" not in self.info:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise SimulatorStartError("the simulator did not start in time") from None
            if not line:
                self.stop()
                self.log.seek(0)
                err = self.log.read()
                raise SimulatorStartError(f"the simulator exited: {err.strip()[-2000:]}")
            key, sep, value = line.strip().partition("=")
            if sep:
                self.info[key] = value
        return self

    @property
    def issuer(self) -> str:
        return self.info["issuer"]

    @property
    def wallet(self) -> str:
        return self.info["wallet"]

    @property
    def ca(self) -> str | None:
        return self.info.get("ca")

    @property
    def state_dir(self) -> Path:
        return Path(self.info["state"])

    def runtime(self) -> dict[str, str]:
        """What a profile of the simulator learns only once it runs (config.load_target)."""
        return {
            "discovery_url": self.issuer + "/.well-known/wallet-openid-configuration",
            "state": str(self.state_dir),
            "ca_file": self.ca or "",
            "control_origin": self.origin,
        }

    @property
    def origin(self) -> str:
        """scheme://host:port of the issuer host (where the control API lives)."""
        scheme, rest = self.issuer.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
