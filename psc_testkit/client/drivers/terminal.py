"""Where a driver speaks to the person at the keyboard.

The controlling terminal (/dev/tty) first: the conformance suite runs under pytest, whose output
capture swallows stdout and stderr (file descriptors 1 and 2 included), and a person who must
open a URL or approve on the e-CPS app has to see the message while the run waits. Without a
terminal (CI, a pipe), stderr.
"""

from __future__ import annotations

import sys
from typing import TextIO

_tty: TextIO | None = None


def terminal() -> TextIO:
    global _tty
    if _tty is None:
        try:
            _tty = open("/dev/tty", "w", encoding="utf-8")  # noqa: SIM115 (kept for the run)
        except OSError:
            return sys.stderr
    return _tty


def say(out: TextIO | None, text: str) -> None:
    stream = out or terminal()
    stream.write(text.rstrip("\n") + "\n")
    stream.flush()
