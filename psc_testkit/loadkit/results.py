"""Exact samples of a load run, per step and per flow, and the verdict against the SLOs.

Locust rounds response times to about two significant digits and counts failed requests in its
percentiles; the SLOs here are computed from exact samples of successful requests, and flows
(one transaction per login journey, request type FLOW) are gated on their own rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from psc_testkit import slo as slos

FLOW = "FLOW"


@dataclass
class Series:
    ok: list[float] = field(default_factory=list)
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, ms: float, error: str | None) -> None:
        if error is None:
            self.ok.append(ms)
        else:
            self.failed += 1
            self.reasons[error] = self.reasons.get(error, 0) + 1

    @property
    def count(self) -> int:
        return len(self.ok) + self.failed

    def stats(self) -> dict:
        pct = {f"p{q}": slos.percentile(self.ok, q) for q in (50, 95, 99)}
        return {
            "count": self.count,
            "failures": self.failed,
            **{k: round(v, 2) if v is not None else None for k, v in pct.items()},
            "avg": round(sum(self.ok) / len(self.ok), 2) if self.ok else None,
            "max": round(max(self.ok), 2) if self.ok else None,
            "failure_reasons": dict(sorted(self.reasons.items(), key=lambda kv: -kv[1])[:5]),
        }


@dataclass
class Results:
    steps: dict[str, Series] = field(default_factory=dict)
    flows: dict[str, Series] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    pending: list[tuple] = field(default_factory=list)  # samples not yet sent to the master

    def record(self, kind: str, name: str, ms: float, error: str | None) -> None:
        table = self.flows if kind == FLOW else self.steps
        table.setdefault(name, Series()).add(ms, error)

    def merge(self, samples: list) -> None:
        for kind, name, ms, error in samples:
            self.record(kind, name, ms, error)

    def error_ratio(self) -> float:
        total = sum(s.count for s in self.steps.values())
        return sum(s.failed for s in self.steps.values()) / total if total else 0.0

    def availability(self, target: float) -> slos.Availability:
        total = sum(s.count for s in self.flows.values())
        return slos.Availability(total - sum(s.failed for s in self.flows.values()), total, target)

    def measure(self, objective: slos.Slo) -> float | None:
        if objective.metric == "error_ratio":
            return self.error_ratio()
        if objective.metric == "availability":
            return self.availability(objective.value).ratio
        series = self.flows.get(objective.target) or self.steps.get(objective.target)
        if series is None or not series.ok:
            return None
        if objective.metric == "avg":
            return sum(series.ok) / len(series.ok)
        if objective.metric == "max":
            return max(series.ok)
        return slos.percentile(series.ok, float(objective.metric[1:]))


def evaluate(results: Results, objectives: list[slos.Slo]) -> list[dict]:
    rows = []
    for objective in objectives:
        measured = results.measure(objective)
        if measured is None:
            verdict = "NO DATA"
        elif objective.metric == "availability":
            availability = results.availability(objective.value)
            verdict = "FAIL" if not objective.holds(measured) else "pass"
            rows.append(
                {
                    "slo": objective.text,
                    "measured": measured,
                    "verdict": verdict,
                    "note": availability.verdict(),
                }
            )
            continue
        else:
            verdict = "pass" if objective.holds(measured) else "FAIL"
        rows.append({"slo": objective.text, "measured": measured, "verdict": verdict})
    return rows


def summary(results: Results, objectives: list[slos.Slo], meta: dict) -> dict:
    target = next(
        (o.value for o in objectives if o.metric == "availability"), slos.DEFAULT_AVAILABILITY
    )
    availability = results.availability(target)
    verdicts = evaluate(results, objectives)
    low, high = availability.interval
    return {
        **meta,
        "duration_s": round(time.time() - results.started, 1),
        "flows": {name: s.stats() for name, s in sorted(results.flows.items())},
        "steps": {name: s.stats() for name, s in sorted(results.steps.items())},
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
        "slos": verdicts,
        "passed": all(v["verdict"] == "pass" for v in verdicts),
    }


def _fmt(value: float | None, ratio: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.3f} %" if ratio else f"{value:.1f} ms"


def table(report: dict) -> str:
    lines = [f"{'':<14}{'count':>8}{'fail':>6}{'p50':>11}{'p95':>11}{'p99':>11}"]
    for kind in ("flows", "steps"):
        for name, s in report[kind].items():
            label = f"{name} (flow)" if kind == "flows" else name
            lines.append(
                f"{label:<14}{s['count']:>8}{s['failures']:>6}{_fmt(s['p50']):>11}"
                f"{_fmt(s['p95']):>11}{_fmt(s['p99']):>11}"
            )
    a = report["availability"]
    lines.append("")
    lines.append(
        f"availability {a['ratio'] * 100:.3f} % of {a['attempts']} flows "
        f"(95 % interval {a['wilson_95'][0] * 100:.3f}–{a['wilson_95'][1] * 100:.3f} %),"
        f" target {a['target'] * 100:.3f} %: {a['verdict']}"
    )
    lines.append(f"error ratio {report['error_ratio'] * 100:.3f} % of requests")
    lines.append("")
    for v in report["slos"]:
        ratio = any(k in v["slo"] for k in ("availability", "error_ratio"))
        lines.append(f"{v['verdict']:<8}{v['slo']:<32} measured {_fmt(v['measured'], ratio)}")
    lines.append("verdict: " + ("all SLOs hold" if report["passed"] else "SLO BREACHED"))
    return "\n".join(lines)


def write(report: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "summary.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path
