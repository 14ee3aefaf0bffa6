"""The simulator's state folder: the generated client keys and certificates, the server's TLS key
and its CA. It holds private keys, so it goes when the simulator stops, unless kept on request.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

PREFIX = "psc-simulator-"


class StateDir:
    """Where the simulator writes its generated files, and what it removes at the end.

    A folder the simulator made (a temp folder, or a --state-dir that did not exist) goes
    entirely; in a folder that was already there only the files the simulator wrote go, so
    `--state-dir .` never takes anything else with it.
    """

    def __init__(self, path: Path | None = None, keep: bool = False) -> None:
        if path is None:
            self.path, self.created = Path(tempfile.mkdtemp(prefix=PREFIX)), True
        else:
            self.created = not path.exists()
            path.mkdir(parents=True, exist_ok=True)
            self.path = path
        self.keep = keep
        self.written: list[Path] = []

    def file(self, name: str) -> Path:
        """The path to write `name` at, remembered for remove()."""
        path = self.path / name
        self.written.append(path)
        return path

    def remove(self) -> None:
        """Delete what the simulator wrote (unless kept); safe to call twice."""
        if self.keep:
            return
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for path in self.written:
            path.unlink(missing_ok=True)
