"""Exact samples of a load run, per step, per flow and over time, and the run's verdict.

Locust rounds response times to about two significant digits and counts failed requests in its
percentiles; the SLOs here are computed from exact samples of successful requests, and flows
(one transaction per login journey, request type FLOW) are gated on their own rows. Each failed
flow carries its class (loadkit.failures): availability counts the provider's and the
protocol's failures; a tool failure (our own code's) counts for nothing and makes the run
INVALID.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from psc_testkit.load import slo as slos
from psc_testkit.load.failures import CLASSES, PROTOCOL, PROVIDER, TOOL

FLOW = "FLOW"
INTERVAL = 2.0  # seconds per point of the time series

# Verdicts, and their exit codes (DESIGN.md).
PASSED, BREACHED, INCONCLUSIVE, INVALID, STOPPED = (
    "PASSED",
    "BREACHED",
    "INCONCLUSIVE",
    "INVALID",
    "STOPPED",
)
# Flows left out of the time series' latencies: a CIBA login lasts as long as the professional
# takes to approve on the phone, a human's time, not the provider's.
UNTIMED = {"ciba"}
EXIT = {PASSED: 0, BREACHED: 1, STOPPED: 3, INVALID: 4, INCONCLUSIVE: 4}
SHORTFALL = 0.01  # open model: arrivals not made or not done, beyond this share, void a run


def _classes() -> dict[str, int]:
    return dict.fromkeys(CLASSES, 0)


@dataclass
class Series:
    ok: list[float] = field(default_factory=list)
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=_classes)

    def add(self, ms: float, error: str | None, kind: str | None = None) -> None:
        if error is None:
            self.ok.append(ms)
        else:
            self.failed += 1
            self.reasons[error] = self.reasons.get(error, 0) + 1
            self.classes[kind if kind in self.classes else PROVIDER] += 1

    @property
    def count(self) -> int:
        return len(self.ok) + self.failed

    def stats(self, flow: bool = False) -> dict:
        pct = {f"p{q}": slos.percentile(self.ok, q) for q in (50, 95, 99)}
        row = {
            "count": self.count,
            "failures": self.failed,
            **{k: round(v, 2) if v is not None else None for k, v in pct.items()},
            "avg": round(sum(self.ok) / len(self.ok), 2) if self.ok else None,
            "max": round(max(self.ok), 2) if self.ok else None,
            "failure_reasons": dict(sorted(self.reasons.items(), key=lambda kv: -kv[1])[:5]),
        }
        if flow:
            row["failures_by_class"] = dict(self.classes)
        return row


@dataclass
class Bucket:
    """One interval of the time series."""

    flows_ok: list[float] = field(default_factory=list)  # latencies of timed flows
    failures: dict[str, int] = field(default_factory=_classes)
    flows: int = 0
    requests: int = 0


@dataclass
class Results:
    steps: dict[str, Series] = field(default_factory=dict)
    flows: dict[str, Series] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    ended: float | None = None  # when the run was told to end (the measured window's end)
    interval: float = INTERVAL
    buckets: dict[int, Bucket] = field(default_factory=dict)
    by_worker: dict[str, int] = field(default_factory=dict)  # flows recorded per worker
    pending: list[tuple] = field(default_factory=list)  # samples not yet sent to the master

    def record(
        self,
        kind: str,
        name: str,
        ms: float,
        error: str | None,
        failure: str | None = None,
        at: float | None = None,
    ) -> None:
        """One sample: a step (any request type) or a flow (FLOW), finished at `at`."""
        at = time.time() if at is None else at
        # get() first: setdefault would build a Bucket and a Series (dataclasses of lists and
        # dicts) at every sample, to throw them away.
        index = max(0, int((at - self.started) // self.interval))
        if (bucket := self.buckets.get(index)) is None:
            bucket = self.buckets[index] = Bucket()
        table = self.flows if kind == FLOW else self.steps
        if (series := table.get(name)) is None:
            series = table[name] = Series()
        if kind == FLOW:
            series.add(ms, error, failure)
            bucket.flows += 1
            if error is None:
                if name not in UNTIMED:
                    bucket.flows_ok.append(ms)
            else:
                bucket.failures[failure if failure in bucket.failures else PROVIDER] += 1
        else:
            series.add(ms, error)
            bucket.requests += 1

    def merge(self, samples: list, worker: str = "") -> None:
        """Samples from a worker: (kind, name, ms, error, failure class, time)."""
        for kind, name, ms, error, failure, at in samples:
            self.record(kind, name, ms, error, failure, at)
            if kind == FLOW and worker:
                self.by_worker[worker] = self.by_worker.get(worker, 0) + 1

    # What the samples say --------------------------------------------------------------------

    def classes(self) -> dict[str, int]:
        total = _classes()
        for series in self.flows.values():
            for kind, count in series.classes.items():
                total[kind] += count
        return total

    def error_ratio(self) -> float:
        total = sum(s.count for s in self.steps.values())
        return sum(s.failed for s in self.steps.values()) / total if total else 0.0

    def availability(self, target: float) -> slos.Availability:
        """Completed flows over attempted ones; a flow our own code failed is neither."""
        classes = self.classes()
        attempts = sum(s.count for s in self.flows.values()) - classes[TOOL]
        return slos.Availability(attempts - classes[PROVIDER] - classes[PROTOCOL], attempts, target)

    def measure(self, objective: slos.Slo) -> float | None:
        if objective.metric == "error_ratio":
            return self.error_ratio()
        if objective.metric == "availability":
            availability = self.availability(objective.value)
            return availability.ratio if availability.total else None
        series = self.flows.get(objective.target) or self.steps.get(objective.target)
        if series is None or not series.ok:
            return None
        if objective.metric == "avg":
            return sum(series.ok) / len(series.ok)
        if objective.metric == "max":
            return max(series.ok)
        return slos.percentile(series.ok, float(objective.metric[1:]))

    def timeline(self, until: float) -> dict:
        """Per interval: flows/s, requests/s, p50/p95 of successful flows, failures by class.
        The last interval is divided by the time it really covered."""
        points = []
        last = max(self.buckets, default=-1)
        for index in range(last + 1):
            bucket = self.buckets.get(index, Bucket())
            start = index * self.interval
            left = until - self.started - start
            # The last interval counts the time it really covered; one after the end (flows
            # that finished during the stop timeout) a whole interval, not a sliver.
            span = min(self.interval, left) if left > 0.1 else self.interval
            flows = bucket.flows
            p50, p95 = (slos.percentile(bucket.flows_ok, q) for q in (50, 95))
            points.append(
                {
                    "t": round(start, 3),
                    "flows": flows,
                    "flows_per_s": round(flows / span, 3),
                    "requests_per_s": round(bucket.requests / span, 3),
                    "p50_ms": None if p50 is None else round(p50, 2),
                    "p95_ms": None if p95 is None else round(p95, 2),
                    "failures": dict(bucket.failures),
                }
            )
        return {"interval_s": self.interval, "points": points}

    def progress(self, now: float, window: float = 10.0) -> str:
        """One line for a headless run's terminal: elapsed, recent flows/s and p95, failures,
        availability so far."""
        first = max(0, int((now - self.started - window) // self.interval))
        recent = [
            self.buckets[i]
            for i in range(first, int((now - self.started) // self.interval) + 1)
            if i in self.buckets
        ]
        span = min(window, max(now - self.started, 1e-3))
        ok = [ms for b in recent for ms in b.flows_ok]
        rate = sum(b.flows for b in recent) / span
        p95 = slos.percentile(ok, 95)
        classes = self.classes()
        availability = self.availability(slos.DEFAULT_AVAILABILITY)
        failed = " ".join(f"{k} {v}" for k, v in classes.items() if v) or "none"
        share = f"{availability.ratio * 100:.3f} %" if availability.total else "-"
        p95_text = f"{p95:.0f} ms" if p95 is not None else "-"
        return (
            f"{now - self.started:6.0f} s  {rate:7.1f} flows/s  p95 {p95_text:>8}  "
            f"failures: {failed}  availability {share} of {availability.total} flows"
        )


def evaluate(results: Results, objectives: list[slos.Slo]) -> list[dict]:
    rows = []
    for objective in objectives:
        measured = results.measure(objective)
        row = {"slo": objective.text, "measured": measured}
        if measured is None:
            row["verdict"] = "NO DATA"
        elif objective.metric == "availability":
            availability = results.availability(objective.value)
            row["note"] = availability.verdict()
            if availability.breached:
                row["verdict"] = "FAIL"
            else:
                row["verdict"] = "pass" if availability.proven else INCONCLUSIVE
        else:
            row["verdict"] = "pass" if objective.holds(measured) else "FAIL"
        rows.append(row)
    return rows


def _incomplete(report: dict) -> str | None:
    """Why the samples do not cover what the run was asked to measure, if they do not."""
    if report.get("workers_silent"):
        return f"no last samples from worker(s) {', '.join(report['workers_silent'])}"
    if report.get("samples_lost"):
        lost = sum(report["samples_lost"].values())
        return f"{lost} sample(s) sent by the workers never reached the master"
    arrivals = report.get("arrivals") or {}
    offered = arrivals.get("offered", 0)
    if arrivals:
        late = arrivals.get("late", 0)
        if late > SHORTFALL * (offered + late):
            return f"the generator fell behind the rate: {late} of {offered + late} arrivals late"
        behind = arrivals.get("dropped", 0) + arrivals.get("unfinished", 0)
        if behind > SHORTFALL * max(offered, 1):
            return (
                f"the provider fell behind the rate: {arrivals.get('dropped', 0)} arrival(s) not "
                f"started (too many in flight), {arrivals.get('unfinished', 0)} unfinished"
            )
    missing = [f for f in report.get("expected_flows", []) if f not in report.get("flows", {})]
    if missing:
        return f"no {', '.join(missing)} flow was made (too few users for the mix?)"
    return None


def judge(report: dict, require_proof: bool = False) -> tuple[str, str, int]:
    """The run's verdict word, its reason in one line, and the exit code. What made the
    measurement meaningless comes first (a stop, our own failures, an interruption, samples
    missing), then the SLOs."""
    classes = report.get("failures_by_class", {})
    if report.get("stopped"):
        return STOPPED, f"stopped: {report['stopped']}", EXIT[STOPPED]
    if report.get("target_exited"):
        return INVALID, report["target_exited"], EXIT[INVALID]
    if classes.get(TOOL):
        where = report.get("tool_log") or "tool-failures.log"
        reason = f"{classes.get(TOOL, 0)} flow(s) failed in psc-testkit's own code (see {where})"
        return INVALID, reason + ": nothing is said of the target", EXIT[INVALID]
    if report.get("interrupted"):
        elapsed, planned = report.get("duration_s", 0), report.get("planned_run_time_s", 0)
        reason = f"interrupted ({report['interrupted']}) after {elapsed:g} s of {planned:g} s"
        return INCONCLUSIVE, reason + ": what was measured is kept", EXIT[INCONCLUSIVE]
    incomplete = _incomplete(report)
    if incomplete:
        return INCONCLUSIVE, f"incomplete: {incomplete}", EXIT[INCONCLUSIVE]
    failed = [row["slo"] for row in report["slos"] if row["verdict"] == "FAIL"]
    if failed:
        return BREACHED, "breached: " + ", ".join(failed), EXIT[BREACHED]
    no_data = [row["slo"] for row in report["slos"] if row["verdict"] == "NO DATA"]
    if no_data:
        return INCONCLUSIVE, f"no successful sample for {', '.join(no_data)}", EXIT[INCONCLUSIVE]
    unproven = [row for row in report["slos"] if row["verdict"] != "pass"]
    if unproven:
        row = unproven[0]
        code = EXIT[INCONCLUSIVE] if require_proof else 0
        tail = "" if code else " (exit 0; --require-proof makes it exit 4)"
        return INCONCLUSIVE, f"{row['slo']}: {row.get('note', 'not proven')}{tail}", code
    return PASSED, "every SLO holds", EXIT[PASSED]


def summary(
    results: Results, objectives: list[slos.Slo], meta: dict, require_proof: bool = False
) -> dict:
    now = results.ended or time.time()
    target = next(
        (o.value for o in objectives if o.metric == "availability"), slos.DEFAULT_AVAILABILITY
    )
    availability = results.availability(target)
    low, high = availability.interval
    duration = max(now - results.started, 1e-3)
    flows = sum(s.count for s in results.flows.values())
    requests = sum(s.count for s in results.steps.values())
    report = {
        **meta,
        "duration_s": round(duration, 1),
        "flows": {name: s.stats(flow=True) for name, s in sorted(results.flows.items())},
        "steps": {name: s.stats() for name, s in sorted(results.steps.items())},
        "throughput": {
            "flows_per_s": round(flows / duration, 3),
            "requests_per_s": round(requests / duration, 3),
        },
        "failures_by_class": results.classes(),
        "by_worker": dict(results.by_worker),
        "error_ratio": results.error_ratio(),
        "availability": {
            "successes": availability.successes,
            "attempts": availability.total,
            "ratio": availability.ratio,
            "target": target,
            "wilson_95": [low, high],
            "lower_bound_95_one_sided": slos.lower_bound(
                availability.successes, availability.total
            ),
            "proven": availability.proven,
            "verdict": availability.verdict(),
        },
        "slos": evaluate(results, objectives),
        "timeline": results.timeline(now),
    }
    rejudge(report, require_proof)
    return report


def rejudge(report: dict, require_proof: bool = False) -> dict:
    """Set the verdict fields from what the report holds (also after the launcher added to
    it: an interruption it forwarded, a target that died)."""
    word, reason, code = judge(report, require_proof)
    report.update(verdict=word, verdict_reason=reason, exit_code=code, passed=word == PASSED)
    return report


def _fmt(value: float | None, ratio: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.3f} %" if ratio else f"{value:.1f} ms"


def table(report: dict) -> str:
    lines = [f"{'':<18}{'count':>8}{'fail':>6}{'p50':>11}{'p95':>11}{'p99':>11}"]
    for kind in ("flows", "steps"):
        for name, s in report[kind].items():
            label = f"{name} (flow)" if kind == "flows" else name
            lines.append(
                f"{label:<18}{s['count']:>8}{s['failures']:>6}{_fmt(s['p50']):>11}"
                f"{_fmt(s['p95']):>11}{_fmt(s['p99']):>11}"
            )
    a, t = report["availability"], report["throughput"]
    classes = report["failures_by_class"]
    lines.append("")
    lines.append(
        f"throughput {t['flows_per_s']:.1f} flows/s, {t['requests_per_s']:.1f} requests/s "
        f"over {report['duration_s']:g} s"
    )
    lines.append(
        "failed flows: "
        + ", ".join(f"{classes[k]} {k}" for k in CLASSES)
        + " (availability counts provider and protocol failures)"
    )
    share = f"{a['ratio'] * 100:.3f} %" if a["attempts"] else "-"
    lines.append(
        f"availability {share} of {a['attempts']} flows "
        f"(95 % interval {a['wilson_95'][0] * 100:.3f}–{a['wilson_95'][1] * 100:.3f} %),"
        f" target {a['target'] * 100:.3f} %: {a['verdict']}"
    )
    lines.append(f"error ratio {report['error_ratio'] * 100:.3f} % of requests")
    lines.append("")
    for v in report["slos"]:
        ratio = any(k in v["slo"] for k in ("availability", "error_ratio"))
        lines.append(f"{v['verdict']:<13}{v['slo']:<32} measured {_fmt(v['measured'], ratio)}")
    return "\n".join(lines)


def verdict_line(report: dict) -> str:
    return f"verdict: {report['verdict']}: {report['verdict_reason']}"


def write(report: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "summary.json"
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def read(folder: Path) -> dict | None:
    try:
        report = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None
