"""reports/summary.html: one self-contained page (no script, no external file) with the verdict
per requirement grouped by spec, counts, target and timings, and, when a load run left its
summary, the latency of each step as a chart and the availability with its interval.

It is built only from summary.json files, which hold nothing unredacted; what it shows of them
is redacted by field name once more and bounded, whoever wrote the file."""

from __future__ import annotations

from html import escape

from psc_testkit.evidence import MAX_MESSAGE, Redactor

MAX_EVIDENCE_SHOWN = 40000  # characters of exchanges shown per check


def _shown(text: object, limit: int = MAX_MESSAGE) -> str:
    """Text from a summary, as the page shows it: redacted by field name, bounded, escaped."""
    return escape(Redactor().message(str(text), limit))


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#1e1e1e;padding:0 1rem}
h1{color:#000091}h2{border-bottom:2px solid #000091;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{padding:.3rem .5rem;text-align:left;
border-bottom:1px solid #e5e5e5;vertical-align:top}th{background:#f5f5fe}
.passed{color:#18753c}.failed,.error,.FAIL,.BREACHED{color:#ce0500;font-weight:bold}
.warning{color:#b34000;font-weight:bold}.skipped{color:#666}
.badge{display:inline-block;padding:.2rem .6rem;border-radius:.3rem;margin-right:.4rem;
background:#eee}.verdict{font-size:1.3rem;padding:.6rem 1rem;border-radius:.4rem;
display:inline-block}
.ok{background:#b8fec9}.ko{background:#ffe9e6}pre{white-space:pre-wrap;background:#f6f6f6;
padding:.5rem;font-size:.8rem;max-height:30rem;overflow:auto}summary{cursor:pointer}
"""
ORDER = ["failed", "error", "warning", "info", "passed", "skipped"]


def _counts(counts: dict) -> str:
    return "".join(
        f'<span class="badge {v}" id="count-{v}">{escape(v)}: {counts[v]}</span>'
        for v in ORDER
        if counts.get(v)
    )


def conformance_section(summary: dict) -> str:
    counts = summary.get("counts", {})
    ok = not counts.get("failed") and not counts.get("error")
    parts = [
        "<h2>Conformance</h2>",
        f'<p class="verdict {"ok" if ok else "ko"}" id="conformance-verdict">'
        f"{'Every MUST holds' if ok else 'MUST requirements failed'}</p>",
        "<table><tr><th>target</th><td>" + escape(str(summary.get("target"))) + "</td></tr>"
        "<tr><th>discovery</th><td>" + _shown(summary.get("discovery_url")) + "</td></tr>"
        "<tr><th>suite</th><td>psc-testkit " + escape(str(summary.get("version"))) + "</td></tr>"
        "<tr><th>started</th><td>" + escape(str(summary.get("started"))) + "</td></tr>"
        "<tr><th>duration</th><td>"
        + escape(str(summary.get("duration_s")))
        + " s</td></tr>"
        + (
            f"<tr><th>defects</th><td>{escape(', '.join(summary['defects']))}</td></tr>"
            if summary.get("defects")
            else ""
        )
        + "</table>",
        f"<p>{len(summary.get('checks', []))} checks over "
        f"{len(summary.get('requirements', {}))} requirements. {_counts(counts)}</p>",
    ]
    checks = {c["check"]: c for c in summary.get("checks", [])}
    by_spec: dict[str, list] = {}
    for requirement, entry in summary.get("requirements", {}).items():
        by_spec.setdefault(entry["spec"], []).append((requirement, entry))
    for spec in sorted(by_spec):
        parts.append(
            f'<h3>{escape(spec)}</h3><table class="requirements">'
            "<tr><th>requirement</th><th>level</th><th>verdict</th><th>checks</th></tr>"
        )
        for requirement, entry in sorted(by_spec[spec]):
            rows = []
            for name in entry["checks"]:
                check = checks.get(name, {})
                detail = ""
                if check.get("verdict") not in ("passed", None):
                    evidence = "\n\n".join(e.get("exchange", "") for e in check.get("evidence", []))
                    replay = "\n".join(e.get("replay", "") for e in check.get("evidence", []))
                    detail = (
                        f"<details><summary>{_shown(check.get('message', ''))}</summary>"
                        f"<pre>{_shown(evidence, MAX_EVIDENCE_SHOWN)}</pre>"
                        f"<pre>{_shown(replay, MAX_EVIDENCE_SHOWN)}</pre>"
                        "</details>"
                    )
                rows.append(
                    f'<div><span class="{escape(check.get("verdict", ""))}">'
                    f"{escape(check.get('verdict', ''))}</span> "
                    f"<code>{escape(name.split('::')[-1])}</code>{detail}</div>"
                )
            parts.append(
                f"<tr><td><code>{escape(requirement)}</code></td><td>{escape(entry['level'])}</td>"
                f'<td class="{escape(entry["verdict"])}">{escape(entry["verdict"])}</td>'
                f"<td>{''.join(rows)}</td></tr>"
            )
        parts.append("</table>")
    return "\n".join(parts)


def _chart(steps: dict) -> str:
    """Horizontal bars of p50/p95/p99 per step, as inline SVG."""
    rows = [(name, s) for name, s in steps.items() if s.get("p99") is not None]
    if not rows:
        return ""
    top = max(s["p99"] for _, s in rows) or 1.0
    width, label, bar = 1040, 150, 560
    height = 26 * len(rows) + 30
    out = [
        f'<svg id="latency-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="latency per step (ms)">'
    ]
    for i, (name, s) in enumerate(rows):
        y = 10 + 26 * i
        out.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(name)}</text>')
        for key, colour, thickness in (
            ("p99", "#c3c3f7", 18),
            ("p95", "#6a6af4", 12),
            ("p50", "#000091", 6),
        ):
            length = max(1.0, s[key] / top * bar)
            offset = (18 - thickness) / 2
            out.append(
                f'<rect x="{label}" y="{y + offset}" width="{length:.1f}" '
                f'height="{thickness}" fill="{colour}"><title>{escape(name)} {key} '
                f"{s[key]:.1f} ms</title></rect>"
            )
        out.append(
            f'<text x="{label + bar + 8}" y="{y + 14}" font-size="11">'
            f"p50 {s['p50']:.1f} · p95 {s['p95']:.1f} · p99 {s['p99']:.1f} ms</text>"
        )
    out.append(
        f'<text x="{label}" y="{height - 4}" font-size="11">dark: p50, middle: p95, '
        "light: p99 (successful requests, exact samples)</text></svg>"
    )
    return "".join(out)


def load_section(summary: dict) -> str:
    a = summary.get("availability", {})
    low, high = a.get("wilson_95", [0, 1])
    parts = [
        "<h2>Load</h2>",
        f'<p class="verdict {"ok" if summary.get("passed") else "ko"}" id="load-verdict">'
        f"{'All SLOs hold' if summary.get('passed') else 'SLO breached'}</p>",
        f'<p id="availability">Availability <strong>{a.get("ratio", 0) * 100:.3f} %</strong> of '
        f"{a.get('attempts', 0)} flows (95 % interval {low * 100:.3f}–{high * 100:.3f} %), target "
        f"{a.get('target', 0) * 100:.3f} %: {escape(str(a.get('verdict')))}.</p>",
        f"<p>{escape(str(summary.get('duration_s')))} s"
        + (" (interrupted)" if summary.get("interrupted") else "")
        + "</p>",
        "<h3>Latency per step</h3>",
        _chart(summary.get("steps", {})),
        "<h3>Flows and steps</h3><table><tr><th></th><th>count</th><th>failures</th><th>p50</th>"
        "<th>p95</th><th>p99</th></tr>",
    ]
    for kind in ("flows", "steps"):
        for name, s in summary.get(kind, {}).items():
            cells = "".join(
                f"<td>{'-' if s.get(k) is None else f'{s[k]:.1f} ms'}</td>"
                for k in ("p50", "p95", "p99")
            )
            label = f"{name} (flow)" if kind == "flows" else name
            parts.append(
                f"<tr><td>{escape(label)}</td><td>{s['count']}</td>"
                f"<td>{s['failures']}</td>{cells}</tr>"
            )
    parts.append(
        "</table><h3>SLOs</h3><table><tr><th>SLO</th><th>measured</th><th>verdict</th></tr>"
    )
    for v in summary.get("slos", []):
        parts.append(
            f"<tr><td><code>{escape(v['slo'])}</code></td>"
            f"<td>{escape(str(v['measured']))}</td>"
            f'<td class="{escape(v["verdict"])}">{escape(v["verdict"])}</td></tr>'
        )
    parts.append("</table>")
    return "\n".join(parts)


def render(conformance: dict | None, load: dict | None) -> str:
    body = []
    if conformance:
        body.append(conformance_section(conformance))
    if load:
        body.append(load_section(load))
    if not body:
        body.append(
            "<p>No results yet: run <code>make conformance</code> or <code>make load</code>.</p>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>psc-testkit report</title>"
        f"<style>{STYLE}</style></head><body><h1>psc-testkit report</h1>"
        + "\n".join(body)
        + "</body></html>\n"
    )
