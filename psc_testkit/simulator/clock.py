"""A clock that tests can move: lifetimes (120 s tokens, 4 h sessions) testable in seconds."""

import time


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
