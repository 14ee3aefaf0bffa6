"""A server started as a child process that says where it listens by printing `key=value`
lines: the embedded simulator and the interop provider alike."""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Self

try:  # looked up here, not in a forked child, where a dlopen could deadlock on a lock
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


def die_with_parent() -> None:
    """In a child, before exec (`preexec_fn`): SIGTERM when the thread that started it dies,
    so a killed run never leaves a server or a load generator behind (Linux; elsewhere a
    no-op)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ChildStartError(RuntimeError):
    """The child exited or stayed silent; the message carries the end of its stderr."""


class AnnouncingChild:
    def __init__(
        self,
        command: list[str],
        *,
        name: str,
        until: str,
        timeout: float = 30.0,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        error: type[ChildStartError] = ChildStartError,
    ) -> None:
        self.command, self.name, self.until, self.timeout = command, name, until, timeout
        self.cwd, self.env, self.error = cwd, env or {}, error
        self.process: subprocess.Popen | None = None
        # stderr goes to a file, not a pipe: nobody reads a pipe during a run, and a full pipe
        # would block the server.
        self.log = tempfile.TemporaryFile(mode="w+t")  # noqa: SIM115 (lives as long as the child)

    def start(self) -> dict[str, str]:
        """Start the child and return what it announced, up to and including `until`."""
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, **self.env},
            # Its own process group: a Ctrl-C in the terminal reaches the command that started
            # it, which stops it in order (a load generator first, then its target), instead of
            # killing it under a run that goes on.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        # A thread reads the announced lines: select() on a buffered text pipe misses lines
        # already read into Python's buffer.
        lines: queue.Queue[str] = queue.Queue()

        def pump(stream: IO[str]) -> None:
            for line in stream:
                lines.put(line)
            lines.put("")

        assert self.process.stdout is not None
        threading.Thread(target=pump, args=(self.process.stdout,), daemon=True).start()
        info: dict[str, str] = {}
        deadline = time.monotonic() + self.timeout
        while self.until not in info:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise self.error(f"{self.name} did not start in time") from None
            if not line:
                self.stop()
                raise self.error(f"{self.name} exited: {self.stderr()[-2000:]}")
            key, sep, value = line.strip().partition("=")
            if sep:
                info[key] = value
        return info

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().strip()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Started:
    """`with X() as x:` for a server with `start()` (returning it) and `stop()`: the simulator,
    the interop providers."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
