"""`psc-testkit monitor report`: what a store's series says, as JSON, a self-contained HTML page
in the reports' style, and a few terminal lines.

Uptime per day, ISO week and month (UTC) and over the whole window, counted two ways: up probes
over judged probes (up + down; tool probes are psc-testkit's failures, excluded), with its exact
Clopper-Pearson interval, and time-weighted (each probe stands for the time until the next; the
time nobody watched is *unobserved*, neither up nor down). The window's verdict against the
target: MET, BREACHED or NOT YET PROVABLE (with the consecutive up probes still needed).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

from psc_testkit.monitor import stats
from psc_testkit.monitor.store import ProbeRow, Store
from psc_testkit.reports import charts
from psc_testkit.reports.html import STYLE

EXIT = {stats.MET: 0, stats.BREACHED: 1, stats.UNPROVEN: 4}
COLOURS = {"up": "#18753c", "down": "#ce0500", "tool": "#f0c05a", "unobserved": "#c8c8c8"}


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _day(t: float) -> tuple[str, datetime, datetime]:
    start = _utc(t).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.strftime("%Y-%m-%d"), start, start + timedelta(days=1)


def _week(t: float) -> tuple[str, datetime, datetime]:
    _, start, _ = _day(t)
    start -= timedelta(days=start.weekday())  # back to Monday 00:00
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}", start, start + timedelta(days=7)


def _month(t: float) -> tuple[str, datetime, datetime]:
    start = _utc(t).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return start.strftime("%Y-%m"), start, following


def period(
    probes: list[ProbeRow], spans: list[stats.Span], start: float, end: float, target: float
) -> dict:
    counts = {o: 0 for o in (stats.UP, stats.DOWN, stats.TOOL)}
    for p in probes:
        counts[p.outcome] += 1
    judged = counts["up"] + counts["down"]
    seconds = stats.seconds_by_outcome(spans, start, end)
    watched = seconds["up"] + seconds["down"]
    v = stats.verdict(counts["up"], judged, target)
    return {
        "start": iso(start),
        "end": iso(end),
        "probes": sum(counts.values()),
        **counts,
        "judged": judged,
        "uptime": v.ratio,
        "interval": list(v.interval) if judged else None,
        "time_weighted": seconds["up"] / watched if watched else None,
        "seconds": {k: round(s, 3) for k, s in seconds.items()},
        "verdict": v.verdict,
        "needed": v.needed,
    }


def build(store: Store, since: float | None = None, now: float | None = None) -> dict:
    now = now if now is not None else time.time()
    meta = store.meta()
    target = float(meta.get("availability", "0.99893"))
    rows = store.probes(since)
    probes = [r.probe() for r in rows]
    spans = stats.coverage(probes, end=now)
    document: dict = {
        "target_name": meta.get("target"),
        "target": target,
        "confidence": stats.CONFIDENCE,
        "generated": iso(now),
        "since": iso(since),
        "first": iso(rows[0].started) if rows else None,
        "last": iso(rows[-1].started) if rows else None,
        "sessions": [
            {**s, "started": iso(s["started"]), "ended": iso(s["ended"])}
            for s in store.sessions()
            if not rows or (s["ended"] or now) >= rows[0].started
        ],
    }
    start = rows[0].started if rows else now
    whole = period(rows, spans, start, now, target)
    overall = stats.verdict(whole["up"], whole["judged"], target)
    document["overall"] = {**whole, "text": overall.text()}
    document["verdict"] = overall.verdict
    document["exit_code"] = EXIT[overall.verdict]
    for name, key in (("days", _day), ("weeks", _week), ("months", _month)):
        grouped: dict[str, list[ProbeRow]] = defaultdict(list)
        bounds: dict[str, tuple[float, float]] = {}
        for r in rows:
            label, low, high = key(r.started)
            grouped[label].append(r)
            # The period as far as the window goes: from the series' start to now at most.
            bounds[label] = (max(low.timestamp(), start), min(high.timestamp(), now))
        document[name] = {
            label: period(grouped[label], spans, *bounds[label], target)
            for label in sorted(grouped)
        }
    found = stats.episodes(probes, end=now)
    document["episodes"] = [
        {
            "start": iso(e.start),
            "end": iso(e.end),
            "duration_s": None if e.duration is None else round(e.duration, 3),
            "probes": e.probes,
            "ends": e.ends,
            "first_step": e.first_step,
            "error": e.error,
            "start_epoch": e.start,
            "end_epoch": e.end,
        }
        for e in found
    ]
    mttr = stats.mttr(found)
    document["mttr_s"] = None if mttr is None else round(mttr, 3)
    document["unobserved"] = [
        {
            "start": iso(s.start),
            "end": iso(s.end),
            "seconds": round(s.seconds, 3),
            "start_epoch": s.start,
            "end_epoch": s.end,
        }
        for s in spans
        if s.outcome == "unobserved"
    ]
    document["tool_failures"] = [
        {"at": iso(r.started), "step": r.first_step, "error": r.error}
        for r in rows
        if r.outcome == stats.TOOL
    ][-50:]
    latency: dict[str, dict[str, dict]] = defaultdict(dict)
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        for s in r.steps:
            if s.ok:
                samples[(_day(r.started)[0], s.name)].append(s.ms)
    for (day, step), values in sorted(samples.items()):
        latency[day][step] = {
            "n": len(values),
            **{f"p{q}": round(stats.percentile(values, q) or 0.0, 2) for q in (50, 95, 99)},
        }
    document["latency_ms"] = dict(latency)
    document["timeline"] = [[round(s.start, 3), round(s.end, 3), s.outcome] for s in _merged(spans)]
    return document


def _merged(spans: list[stats.Span]) -> list[stats.Span]:
    out: list[stats.Span] = []
    for span in spans:
        if out and out[-1].outcome == span.outcome and abs(out[-1].end - span.start) < 1e-6:
            out[-1] = stats.Span(out[-1].start, span.end, span.outcome)
        else:
            out.append(span)
    return out


# Terminal ------------------------------------------------------------------------------------


def pct(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def terminal(document: dict) -> list[str]:
    o = document["overall"]
    lines = [
        f"monitor report: {document['target_name']}, {o['probes']} probes from "
        f"{document['first']} to {document['last']} ({len(document['sessions'])} session(s), "
        f"{seconds(o['seconds']['unobserved'])} unobserved)",
    ]
    if o["judged"]:
        lo, hi = o["interval"]
        lines.append(
            f"uptime: {o['up']}/{o['judged']} judged probes up = {pct(o['uptime'])} "
            f"(95 % CI {pct(lo)} – {pct(hi)}), time-weighted {pct(o['time_weighted'])}; "
            f"{o['tool']} tool probe(s) excluded"
        )
    else:
        lines.append(f"uptime: no judged probe ({o['tool']} tool probe(s) excluded)")
    lines.append(f"target {pct(document['target'])}: {o['text']}")
    episodes = document["episodes"]
    total = sum(e["duration_s"] or 0 for e in episodes)
    lines.append(
        f"downtime: {len(episodes)} episode(s), {seconds(total)} in all; "
        f"MTTR {seconds(document['mttr_s'])}"
    )
    for e in episodes[-10:]:
        end = e["end"] or "ongoing"
        lines.append(
            f"  {e['start']} → {end}  {seconds(e['duration_s'])}  {e['probes']} probe(s)  "
            f"{e['first_step']}: {e['error']}"
            + ("" if e["ends"] != "unobserved" else " (then unobserved)")
        )
    for day, p in list(document["days"].items())[-7:]:
        lines.append(f"  {day}  {pct(p['uptime'])} ({p['up']}/{p['judged']})  {p['verdict']}")
    return lines


# HTML ----------------------------------------------------------------------------------------

PAGE_STYLE = """
.strip{width:100%;height:auto;display:block}.key span{display:inline-block;width:.9rem;
height:.9rem;vertical-align:middle;margin:0 .3rem 0 .8rem;border-radius:.15rem}
td.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def _strip(document: dict) -> str:
    timeline = document["timeline"]
    if not timeline:
        return ""
    t0, t1 = timeline[0][0], timeline[-1][1]
    width = max(t1 - t0, 1e-9)
    rects = "".join(
        f'<rect x="{(a - t0) / width * 1000:.2f}" y="0" '
        f'width="{max((b - a) / width * 1000, 0.4):.2f}" '
        f'height="30" fill="{COLOURS[o]}"><title>{escape(o)} {iso(a)} → {iso(b)}</title></rect>'
        for a, b, o in timeline
    )
    key = "".join(f'<span style="background:{c}"></span>{escape(o)}' for o, c in COLOURS.items())
    return (
        f'<figure class="chart" id="timeline"><figcaption>The series, {escape(iso(t0) or "")} '
        f'to {escape(iso(t1) or "")}</figcaption><svg class="strip" viewBox="0 0 1000 30" '
        f'preserveAspectRatio="none" role="img" aria-label="probe outcomes over time">{rects}'
        f'</svg><p class="key">{key}</p></figure>'
    )


def _day_bars(document: dict) -> str:
    days = [(d, p) for d, p in document["days"].items() if p["uptime"] is not None]
    if not days:
        return ""
    target = document["target"]
    low = min(min(p["uptime"] for _, p in days), target)
    floor = max(0.0, min(low - (1 - low) * 0.2, target - 0.001))
    bar, gap, height = 28, 8, 160
    width = max(960, len(days) * (bar + gap) + 60)  # a few days do not fill the page

    def y(v: float) -> float:
        return height - (v - floor) / (1 - floor) * (height - 10)

    out = [
        f'<svg viewBox="0 0 {width} {height + 40}" width="100%" role="img" '
        f'aria-label="uptime per day against the target" font-size="11">'
        f'<line x1="50" x2="{width}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
        f'stroke="#000091" stroke-dasharray="6 3"/><text x="0" y="{y(target) + 4:.1f}">'
        f"{target * 100:.3f}%</text>"
    ]
    for i, (day, p) in enumerate(days):
        x = 55 + i * (bar + gap)
        top = y(p["uptime"])
        colour = COLOURS["up"] if p["uptime"] >= target else COLOURS["down"]
        out.append(
            f'<rect x="{x}" y="{top:.1f}" width="{bar}" height="{max(height - top, 1):.1f}" '
            f'fill="{colour}"><title>{day}: {pct(p["uptime"])} ({p["up"]}/{p["judged"]})'
            f'</title></rect><text x="{x}" y="{height + 14}">{escape(day[5:])}</text>'
        )
    out.append("</svg>")
    return (
        '<figure class="chart" id="days-chart"><figcaption>Uptime per day (probes), the '
        "target dashed</figcaption>" + "".join(out) + "</figure>"
    )


def _periods(title: str, rows: dict) -> str:
    head = (
        "<tr><th>period</th><th>probes</th><th>up</th><th>down</th><th>tool</th>"
        "<th>uptime</th><th>95 % interval</th><th>time-weighted</th><th>unobserved</th>"
        "<th>verdict</th></tr>"
    )
    body = []
    for name, p in rows.items():
        interval = (
            "—" if not p["interval"] else f"{pct(p['interval'][0])} – {pct(p['interval'][1])}"
        )
        cls = {"MET": "passed", "BREACHED": "BREACHED"}.get(p["verdict"], "warning")
        body.append(
            f"<tr><td>{escape(name)}</td><td class=num>{p['probes']}</td><td class=num>{p['up']}"
            f"</td><td class=num>{p['down']}</td><td class=num>{p['tool']}</td><td class=num>"
            f"{pct(p['uptime'])}</td><td>{interval}</td><td class=num>{pct(p['time_weighted'])}"
            f"</td><td class=num>{seconds(p['seconds']['unobserved'])}</td>"
            f'<td class="{cls}">{escape(p["verdict"])}</td></tr>'
        )
    return f"<h3>{escape(title)}</h3><table>{head}{''.join(body)}</table>"


def render_html(document: dict) -> str:
    o = document["overall"]
    box = {"MET": "ok", "BREACHED": "ko"}.get(document["verdict"], "unsure")
    facts = [
        ("target", f"{document['target_name']}: availability ≥ {pct(document['target'])}"),
        ("window", f"{document['first']} to {document['last']} (report {document['generated']})"),
        ("probes", f"{o['probes']}: {o['up']} up, {o['down']} down, {o['tool']} tool (excluded)"),
        ("uptime", f"{pct(o['uptime'])}, time-weighted {pct(o['time_weighted'])}"),
        (
            "interval",
            "—"
            if not o["interval"]
            else f"{pct(o['interval'][0])} – {pct(o['interval'][1])} (exact Clopper-Pearson, 95 %)",
        ),
        ("unobserved", seconds(o["seconds"]["unobserved"])),
        ("MTTR", seconds(document["mttr_s"])),
        ("sessions", str(len(document["sessions"]))),
    ]
    body = [
        f"<h1>Uptime of {escape(str(document['target_name']))}</h1>",
        f'<p class="verdict {box}" id="verdict">{escape(o["text"])}</p>',
        '<dl class="facts">'
        + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
        + "</dl>",
        _strip(document),
        _day_bars(document),
        "<h2>Uptime</h2>",
        _periods("Per day (UTC)", document["days"]),
        _periods("Per ISO week", document["weeks"]),
        _periods("Per month", document["months"]),
        "<h2>Downtime episodes</h2>",
    ]
    if document["episodes"]:
        body.append(
            '<table id="episodes"><tr><th>start</th><th>end</th><th>duration</th><th>probes</th>'
            "<th>first failing step</th><th>error</th></tr>"
            + "".join(
                f"<tr><td>{e['start']}</td><td>{e['end'] or 'ongoing'}"
                f"{' (then unobserved)' if e['ends'] == 'unobserved' else ''}</td>"
                f"<td>{seconds(e['duration_s'])}</td><td class=num>{e['probes']}</td>"
                f"<td>{escape(str(e['first_step']))}</td><td><code>{escape(str(e['error']))}"
                "</code></td></tr>"
                for e in document["episodes"]
            )
            + "</table>"
        )
    else:
        body.append('<p id="episodes">No downtime episode.</p>')
    body.append("<h2>Unobserved time</h2>")
    if document["unobserved"]:
        body.append(
            '<table id="unobserved"><tr><th>from</th><th>to</th><th>duration</th></tr>'
            + "".join(
                f"<tr><td>{g['start']}</td><td>{g['end']}</td><td>{seconds(g['seconds'])}</td></tr>"
                for g in document["unobserved"]
            )
            + "</table><p class=note>No probe ran: neither up nor down.</p>"
        )
    else:
        body.append("<p>None: the monitor watched the whole window.</p>")
    body.append("<h2>Latency per step</h2>")
    last_day = next(reversed(document["latency_ms"]), None)
    if last_day:
        body.append(charts.step_latency(document["latency_ms"][last_day]))
        rows = "".join(
            f"<tr><td>{escape(day)}</td><td>{escape(step)}</td><td class=num>{v['n']}</td>"
            f"<td class=num>{v['p50']}</td><td class=num>{v['p95']}</td>"
            f"<td class=num>{v['p99']}</td></tr>"
            for day, steps in document["latency_ms"].items()
            for step, v in steps.items()
        )
        body.append(
            f"<p class=note>The chart: {escape(last_day)}. Successful steps, exact samples "
            '(ms).</p><table id="latency"><tr><th>day</th><th>step</th><th>n</th><th>p50</th>'
            f"<th>p95</th><th>p99</th></tr>{rows}</table>"
        )
    if document["tool_failures"]:
        body.append(
            "<h2>Tool failures (excluded)</h2><table><tr><th>at</th><th>step</th><th>error</th>"
            "</tr>"
            + "".join(
                f"<tr><td>{t['at']}</td><td>{escape(str(t['step']))}</td>"
                f"<td><code>{escape(str(t['error']))}</code></td></tr>"
                for t in document["tool_failures"]
            )
            + "</table>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Uptime: {escape(str(document['target_name']))}</title>"
        f"<style>{STYLE}{charts.STYLE}{PAGE_STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def write(document: dict, folder: Path, stem: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{stem}.report.json"
    page = folder / f"{stem}.report.html"
    data.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    page.write_text(render_html(document), encoding="utf-8")
    return data, page
