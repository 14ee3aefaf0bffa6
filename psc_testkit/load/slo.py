"""Service-level objectives of a load run: parsing k6-like thresholds, exact percentiles, and
availability with its confidence — pure functions, no Locust here.

    first-login:p95<800ms   token:p99<300ms   error_ratio<0.5%   availability>=99.893%
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DEFAULT_AVAILABILITY = 0.99893  # PSC's published target
CONFIDENCE = 0.95
_SLO = re.compile(
    r"^\s*(?:(?P<target>[\w.-]+):)?(?P<metric>p\d{1,3}(?:\.\d+)?|avg|max|error_ratio|availability)"
    r"\s*(?P<op><=|>=|<|>)\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?\s*$"
)
OPS = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}


class SloError(ValueError):
    pass


@dataclass(frozen=True)
class Slo:
    text: str
    target: str | None  # a step or flow name; None for run-wide metrics
    metric: str  # p95, avg, max, error_ratio, availability
    op: str
    value: float  # milliseconds for latencies, a ratio (0-1) for error_ratio and availability

    def holds(self, measured: float) -> bool:
        return OPS[self.op](float(measured), self.value)


def parse(text: str) -> Slo:
    match = _SLO.match(text)
    if not match:
        raise SloError(
            f"cannot read SLO {text!r}: expected e.g. 'first-login:p95<800ms', "
            "'error_ratio<0.5%' or 'availability>=99.893%'"
        )
    metric, unit, value = match["metric"], match["unit"], float(match["value"])
    ratio = metric in ("error_ratio", "availability")
    if ratio:
        if match["target"]:
            raise SloError(f"{text!r}: {metric} applies to the whole run, not to a step")
        value = value / 100 if unit == "%" else value
        if unit in ("ms", "s") or not 0 <= value <= 1:
            raise SloError(f"{text!r}: {metric} is a ratio, e.g. 0.5% or 0.005")
    else:
        if not match["target"]:
            raise SloError(f"{text!r}: name the step or flow, e.g. token:{metric}<300ms")
        if unit == "%":
            raise SloError(f"{text!r}: a latency takes ms or s")
        value = value * 1000 if unit == "s" else value
        if metric.startswith("p") and not 0 < float(metric[1:]) <= 100:
            raise SloError(f"{text!r}: percentiles go from p1 to p100")
    return Slo(text.strip(), match["target"], metric, match["op"], value)


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest-rank percentile of exact samples (q in 0-100); None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def wilson(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion (two-sided 95 % by default)."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


def _tail_at_least(successes: int, total: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(total, p), summed over the (few) failures."""
    failures = total - successes
    if p <= 0:
        return 0.0 if successes > 0 else 1.0
    if p >= 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(total + 1)
        - math.lgamma(j + 1)
        - math.lgamma(total - j + 1)
        + (total - j) * log_p
        + j * log_q
        for j in range(failures + 1)
    ]
    peak = max(terms)
    return math.exp(peak) * sum(math.exp(t - peak) for t in terms)


def lower_bound(successes: int, total: int, confidence: float = CONFIDENCE) -> float:
    """One-sided exact (Clopper-Pearson) lower confidence bound of a success ratio."""
    if total == 0 or successes == 0:
        return 0.0
    alpha = 1 - confidence
    low, high = 0.0, successes / total
    for _ in range(60):  # bisection: the tail grows with p
        middle = (low + high) / 2
        if _tail_at_least(successes, total, middle) < alpha:
            low = middle
        else:
            high = middle
    return low


def flows_needed(target: float, failures: int = 0, confidence: float = CONFIDENCE) -> int:
    """How many flows prove `target` at `confidence` if `failures` of them fail."""
    n = failures + 1
    step = 1024
    while lower_bound(n - failures, n, confidence) < target:
        n += step
    while step > 1:  # back off to the smallest sufficient n
        step //= 2
        while (
            n - step > failures and lower_bound(n - step - failures, n - step, confidence) >= target
        ):
            n -= step
    return n


@dataclass(frozen=True)
class Availability:
    successes: int
    total: int
    target: float

    @property
    def ratio(self) -> float:
        return self.successes / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.successes, self.total)

    @property
    def proven(self) -> bool:
        """The target holds at 95 % confidence (one-sided, exact)."""
        return lower_bound(self.successes, self.total) >= self.target

    @property
    def breached(self) -> bool:
        """The measured ratio is below the target: whatever the confidence, it failed."""
        return self.total > 0 and self.ratio < self.target

    def verdict(self) -> str:
        if self.total == 0:
            return "no flow measured"
        if self.breached:
            return "BREACHED"
        if self.proven:
            return "met (proven at 95 % confidence)"
        needed = flows_needed(self.target, self.total - self.successes)
        return f"met, but too short to conclude: {needed} flows needed at 95 % confidence"
