"""A clock that tests can move: lifetimes (120 s tokens, 4 h sessions) testable in seconds."""

import math
import time

# A century: far beyond any PSC lifetime (4 h at most), and small enough that every time the
# provider computes stays an ordinary float and a JSON number.
MAX_OFFSET = 100 * 366 * 86400


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move forward; ValueError for what would poison every later time (NaN, infinity,
        a negative step, or past MAX_OFFSET), and the clock is then left as it was."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError("advance must be a number of seconds")
        # Compared before any float(): an int of 400 digits has no float.
        if not 0 <= seconds <= MAX_OFFSET - self.offset or not math.isfinite(seconds):
            raise ValueError(
                f"advance must be a finite number of seconds, 0 to {MAX_OFFSET - self.offset:.0f}"
            )
        self.offset += float(seconds)

    def reset(self) -> None:
        """Back to real time (RP certification, after a test that moved the clock: every later
        token would otherwise be issued in the apps' future)."""
        self.offset = 0.0
