"""Expected-results files: what the suite finds against a real provider, each verdict other
than a pass listed with its one-line reason. `compare()` holds a conformance summary against
one: every check passes (or is skipped for a feature the provider does not offer) unless the
file lists it, and every entry of the file must still happen."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Expected:
    check: str  # a node id, or an fnmatch pattern over node ids
    verdict: str
    reason: str


def load_expected(path: Path) -> list[Expected]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = []
    for index, raw in enumerate(data.get("expected", [])):
        missing = {"check", "verdict", "reason"} - raw.keys()
        if missing:
            raise ValueError(f"{path}: expected[{index}] lacks {', '.join(sorted(missing))}")
        entries.append(Expected(raw["check"], raw["verdict"], raw["reason"]))
    return entries


@dataclass
class Comparison:
    unexpected: list[str] = field(default_factory=list)  # a check that should have passed
    stale: list[str] = field(default_factory=list)  # an expected outcome that did not happen
    as_expected: list[tuple[str, Expected]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unexpected and not self.stale


def matches(check: str, pattern: str) -> bool:
    """`*` and `?` are wildcards; brackets are literal, as in parametrised ids (`x[cps]`)."""
    return fnmatch.fnmatchcase(check, pattern.replace("[", "[[]"))


def compare(summary: dict, expected: list[Expected]) -> Comparison:
    result = Comparison()
    matched: set[Expected] = set()
    for check in summary["checks"]:
        entry = next((e for e in expected if matches(check["check"], e.check)), None)
        verdict = check["verdict"]
        if entry is None:
            # A skip says the provider does not offer a feature (CIBA, plain PKCE…): allowed.
            if verdict not in ("passed", "skipped"):
                first = (check["message"] or "").strip().splitlines()[:1]
                result.unexpected.append(f"{check['check']}: {verdict}: {' '.join(first)}")
            continue
        matched.add(entry)
        if verdict == entry.verdict:
            result.as_expected.append((check["check"], entry))
        else:
            result.unexpected.append(
                f"{check['check']}: {verdict}, expected {entry.verdict} ({entry.reason})"
            )
    for entry in expected:
        if entry not in matched:
            result.stale.append(f"{entry.check}: listed as {entry.verdict} but did not run")
    return result
