"""`psc-testkit load --find-max`: the highest arrival rate (flows/s, open model) at which the
SLOs still hold, searched as keycloak-benchmark's `--increment` does: double the rate until a
level breaks, then halve the gap between the last level that held and the first that broke,
until it is within 10 % (or the levels run out). Each level is one bounded run of --run-time;
the target (the simulator) stays up between levels.

A level holds when no SLO failed, no flow failed in our own code, the generator started at
least 90 % of the arrivals the rate asked for (else the figure is the generator's, and the
search stops) and at least 90 % of those started completed (else the target fell behind).
"""

from __future__ import annotations

import json
from pathlib import Path

from psc_testkit.load import results as res

PRECISION = 0.10
ACHIEVED = 0.90


def _level(report: dict | None) -> tuple[str, str, float]:
    """('holds' | 'breaks' | 'generator' | 'invalid' | 'stopped', why, achieved flows/s)."""
    if report is None:
        return "stopped", "no summary", 0.0
    arrival = report["flows"].get("arrival", {})
    achieved = arrival.get("count", 0) / max(report.get("duration_s") or 1, 1e-3)
    counts = report.get("arrivals") or {}
    offered, late = counts.get("offered", 0), counts.get("late", 0)
    behind = counts.get("dropped", 0) + counts.get("unfinished", 0)
    why = report["verdict_reason"]
    if report["verdict"] == res.STOPPED or report.get("interrupted"):
        return "stopped", why, achieved
    if report.get("target_exited"):
        return "stopped", report["target_exited"], achieved
    if report["verdict"] == res.INVALID:
        return "invalid", why, achieved
    if late > (1 - ACHIEVED) * (offered + late):
        return "generator", f"the generator started only {offered} of {offered + late}", achieved
    if report["verdict"] == res.BREACHED:
        return "breaks", why, achieved
    if behind > (1 - ACHIEVED) * max(offered, 1):
        return "breaks", f"{behind} of {offered} arrivals not started or not done", achieved
    if report["exit_code"] != 0:  # samples missing, a journey that made no flow
        return "stopped", why, achieved
    return "holds", "every SLO holds", achieved


def find_max(launcher, options: dict, steps: int = 8) -> int:
    """Run the levels; print one line each and the knee; exit 0 when a level held."""
    reports = Path(options["reports"])
    rate = float(options.get("arrival_rate") or 10.0)
    good: float | None = None
    tested = rate
    bad: float | None = None
    levels: list[dict] = []
    print(f"find-max: from {rate:g} flows/s, {options['run_time']:g} s per level", flush=True)
    for number in range(1, steps + 1):
        folder = reports / "find-max" / f"{number:02d}-{rate:g}"
        with launcher.signals():  # a Ctrl-C between two levels ends the search too
            code = launcher.run(
                {**options, "arrival_rate": rate, "reports": str(folder)}, quiet=True
            )
        report = res.read(folder)
        outcome, why, achieved = _level(report)
        tested = rate
        p95 = (report or {}).get("flows", {}).get("arrival", {}).get("p95")
        levels.append(
            {
                "offered_flows_per_s": rate,
                "achieved_flows_per_s": round(achieved, 2),
                "arrival_p95_ms": p95,
                "outcome": outcome,
                "why": why,
                "exit_code": code,
                "summary": str(folder / "summary.json"),
            }
        )
        p95_text = f"{p95:.0f} ms" if p95 is not None else "-"
        print(
            f"find-max: level {number}: offered {rate:g} flows/s, achieved {achieved:.1f}, "
            f"p95 {p95_text}: {outcome} ({why})",
            flush=True,
        )
        if outcome in ("stopped", "generator", "invalid") or launcher.interrupted:
            break
        if outcome == "holds":
            good = rate
        else:
            bad = rate
        if good is not None and bad is not None and (bad - good) / good <= PRECISION:
            break
        if bad is None:
            rate = rate * 2
        elif good is None:
            rate = rate / 2
        else:
            rate = round((good + bad) / 2, 2)
    result = {"levels": levels, "knee_flows_per_s": good, "first_break_flows_per_s": bad}
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "find-max.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    last = levels[-1]["outcome"] if levels else "stopped"
    if launcher.interrupted:
        print(f"verdict: INCONCLUSIVE: interrupted ({launcher.interrupted})", flush=True)
        return 4
    if last == "generator":
        print(f"verdict: INVALID: the generator's limit, not the target's: {levels[-1]['why']}")
        return 4
    if last == "invalid":
        print(f"verdict: INVALID: {levels[-1]['why']}", flush=True)
        return 4
    if last == "stopped":
        print(f"verdict: STOPPED: {levels[-1]['why']}", flush=True)
        return 3
    if good is None:
        print(f"verdict: BREACHED: no level held, down to {tested:g} flows/s", flush=True)
        return 1
    above = (
        f"; {bad:g} flows/s broke"
        if bad is not None
        else " (no level broke: raise --find-max-steps)"
    )
    print(f"knee: {good:g} flows/s, the highest offered rate that kept the SLOs{above}")
    print(f"verdict: PASSED: find-max written to {reports / 'find-max.json'}", flush=True)
    return 0
