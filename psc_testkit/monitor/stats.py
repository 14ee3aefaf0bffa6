"""What a series of probes says about availability — pure functions, no I/O.

- `clopper_pearson`: the exact binomial confidence interval of a success ratio, found by
  bisection on the binomial distribution function (computed through the regularised
  incomplete beta function: P(X >= k) = I_p(k, n - k + 1)), so it holds for a month of
  probes as for ten;
- `verdict`: MET (the interval's lower end reaches the target), BREACHED (its upper end is
  below it), else NOT YET PROVABLE, with the consecutive up probes that would prove it;
- `coverage`: the time each probe stands for, and the *unobserved* time where the monitor
  itself was not running (no probe for more than `GAP_FACTOR` intervals);
- `episodes`: downtime episodes (consecutive down probes), their duration and MTTR.

A probe is `up`, `down` (the provider's or the protocol's fault) or `tool` (psc-testkit's own
failure): tool probes are recorded and excluded, never counted as downtime.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CONFIDENCE = 0.95
GAP_FACTOR = 2.0  # no probe for more than this many intervals: the time between is unobserved
UP, DOWN, TOOL = "up", "down", "tool"
MET, BREACHED, UNPROVEN = "MET", "BREACHED", "NOT YET PROVABLE"

# The binomial distribution -------------------------------------------------------------------


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method, as in
    Numerical Recipes' betacf); converges fast for x < (a + 1) / (a + b + 2)."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), a, b > 0, 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return betainc(k, n - k + 1, p)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return 1.0 - binom_sf(k + 1, n, p) if k < n else 1.0


def _bisect(increasing, goal: float) -> float:
    """The p in [0, 1] where an increasing function of p crosses `goal`, to float precision."""
    low, high = 0.0, 1.0
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if increasing(middle) < goal:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The exact two-sided interval of a success ratio of k in n; (0, 1) without any trial.
    Lower end: the p where P(X >= k) = alpha/2; upper end: where P(X <= k) = alpha/2."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, not k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    lower = 0.0 if k == 0 else _bisect(lambda p: binom_sf(k, n, p), alpha / 2)
    upper = 1.0 if k == n else _bisect(lambda p: 1.0 - binom_cdf(k, n, p), 1.0 - alpha / 2)
    return lower, upper


def lower_end(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    return clopper_pearson(k, n, confidence)[0]


def up_probes_needed(
    up: int, judged: int, target: float, confidence: float = CONFIDENCE, limit: int = 10**9
) -> int | None:
    """How many more consecutive up probes make the interval's lower end reach `target`; 0
    when it already does, None when no number below `limit` would."""
    if lower_end(up, judged, confidence) >= target:
        return 0
    if lower_end(up + limit, judged + limit, confidence) < target:
        return None
    low, high = 0, 1
    while lower_end(up + high, judged + high, confidence) < target:
        low, high = high, high * 2
    while high - low > 1:  # lower_end(low) < target <= lower_end(high)
        middle = (low + high) // 2
        if lower_end(up + middle, judged + middle, confidence) >= target:
            high = middle
        else:
            low = middle
    return high


@dataclass(frozen=True)
class Verdict:
    verdict: str  # MET | BREACHED | NOT YET PROVABLE
    up: int
    judged: int
    target: float
    interval: tuple[float, float]
    needed: int | None  # more consecutive up probes to prove it (NOT YET PROVABLE only)

    @property
    def ratio(self) -> float | None:
        return self.up / self.judged if self.judged else None

    def text(self) -> str:
        if self.verdict == MET:
            level = f"{CONFIDENCE * 100:.0f} %"
            return f"MET: the {level} interval's lower end reaches the target"
        if self.verdict == BREACHED:
            level = f"{CONFIDENCE * 100:.0f} %"
            return f"BREACHED: the {level} interval's upper end is below the target"
        below = (
            " (measured below the target)"
            if self.ratio is not None and self.ratio < self.target
            else ""
        )
        if self.needed is None:
            return f"NOT YET PROVABLE{below}"
        return f"NOT YET PROVABLE{below}: {self.needed} more consecutive up probes needed"


def verdict(up: int, judged: int, target: float, confidence: float = CONFIDENCE) -> Verdict:
    interval = clopper_pearson(up, judged, confidence)
    if judged and interval[0] >= target:
        return Verdict(MET, up, judged, target, interval, 0)
    if judged and interval[1] < target:
        return Verdict(BREACHED, up, judged, target, interval, None)
    return Verdict(UNPROVEN, up, judged, target, interval, up_probes_needed(up, judged, target))


# Time: what each probe stands for, and what nobody watched ----------------------------------


@dataclass(frozen=True)
class Probe:
    """What the statistics need of a stored probe."""

    started: float  # epoch seconds
    outcome: str  # up | down | tool
    interval: float  # the monitor's interval when it ran
    session: str = ""
    first_step: str | None = None  # the first failing step, for a down or tool probe
    error: str | None = None
    ended: float | None = None  # when it ended: a probe of a hanging provider outlasts its interval

    @property
    def covers_until(self) -> float:
        """The end of the time this probe speaks for on its own: one interval, or as long as
        it ran (a provider that hangs is down all that time, not unwatched)."""
        return max(self.started + self.interval, self.ended or self.started)


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    outcome: str  # up | down | tool | unobserved

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


def _segments(
    probes: Sequence[Probe], end: float | None = None
) -> list[tuple[Probe, Span, Span | None]]:
    """Each probe with the span it stands for and the unobserved span after it, if any."""
    found: list[tuple[Probe, Span, Span | None]] = []
    for probe, after in zip(probes, [*probes[1:], None], strict=True):
        limit = probe.covers_until
        idle = probe.interval * (GAP_FACTOR - 1)  # how late the next probe may come
        if after is None:
            if end is None:
                found.append((probe, Span(probe.started, limit, probe.outcome), None))
                continue
            stop = max(probe.started, min(limit, end))
            gap = Span(limit, end, "unobserved") if end - limit > idle else None
            found.append((probe, Span(probe.started, stop, probe.outcome), gap))
        elif after.started - limit <= idle:
            found.append((probe, Span(probe.started, after.started, probe.outcome), None))
        else:
            gap = Span(limit, after.started, "unobserved")
            found.append((probe, Span(probe.started, limit, probe.outcome), gap))
    return found


def coverage(probes: Sequence[Probe], end: float | None = None) -> list[Span]:
    """The time line: each probe stands for the time until the next one, as long as that comes
    within GAP_FACTOR intervals of its start (or of its end, for a probe that ran longer than
    an interval); otherwise for one interval (or its run), and the rest, until the next probe,
    is unobserved (the monitor was stopped, or the machine asleep). The last probe stands for
    one interval, cut at `end` (the report's now); what is past it, up to `end`, is
    unobserved too (a monitor that died days ago has not watched since)."""
    spans: list[Span] = []
    for _, own, gap in _segments(probes, end):
        spans.append(own)
        if gap is not None:
            spans.append(gap)
    return spans


def gaps(probes: Sequence[Probe]) -> list[Span]:
    return [s for s in coverage(probes) if s.outcome == "unobserved"]


def seconds_by_outcome(spans: Iterable[Span], start: float = -math.inf, end: float = math.inf):
    """Seconds of each outcome within [start, end)."""
    totals = {UP: 0.0, DOWN: 0.0, TOOL: 0.0, "unobserved": 0.0}
    for span in spans:
        overlap = min(span.end, end) - max(span.start, start)
        if overlap > 0:
            totals[span.outcome] += overlap
    return totals


# Downtime episodes --------------------------------------------------------------------------


@dataclass
class Episode:
    start: float  # the first down probe's start
    end: float | None  # the first up probe's start after it; None: still down
    first_step: str | None
    error: str | None
    probes: int = 0  # down probes in it
    ends: str = "recovered"  # recovered | unobserved (the monitor stopped) | ongoing
    steps: dict[str, int] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


def episodes(probes: Sequence[Probe], end: float | None = None) -> list[Episode]:
    """Consecutive down probes. Tool probes neither end nor extend an episode; an unobserved
    gap ends it (what happened meanwhile is unknown), at the gap's start."""
    found: list[Episode] = []
    current: Episode | None = None
    for probe, _, gap in _segments(probes, end):
        if probe.outcome == DOWN:
            if current is None:
                current = Episode(probe.started, None, probe.first_step, probe.error)
                found.append(current)
            current.probes += 1
            if probe.first_step:
                current.steps[probe.first_step] = current.steps.get(probe.first_step, 0) + 1
        elif probe.outcome == UP and current is not None:
            current.end = probe.started
            current = None
        if current is not None and gap is not None:
            current.end, current.ends = gap.start, "unobserved"
            current = None
    if current is not None:
        current.ends = "ongoing"
    return found


def mttr(found: Iterable[Episode]) -> float | None:
    """Mean time to recovery of the episodes that recovered while watched (seconds)."""
    durations = [e.duration for e in found if e.ends == "recovered" and e.duration is not None]
    return sum(durations) / len(durations) if durations else None


def percentile(samples: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0-100) of exact samples; None without any."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]
