"""reports/summary.html: one self-contained page (no script, no external file) with the verdict
per requirement grouped by spec, counts, target and timings, and, when a load run left its
summary, the latency of each step as a chart and the availability with its interval.

It is built only from summary.json files, which hold nothing unredacted; what it shows of them
is redacted by field name once more and bounded, whoever wrote the file."""

from __future__ import annotations

from html import escape

from psc_testkit.client.evidence import MAX_MESSAGE, Redactor
from psc_testkit.reports import charts

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


VERDICT_CLASS = {
    "PASSED": "ok",
    "BREACHED": "ko",
    "INVALID": "ko",
    "INCONCLUSIVE": "unsure",
    "STOPPED": "unsure",
}


def _num(value: object, unit: str = "", digits: int = 1) -> str:
    """A number from a load summary as the page shows it, or '-' when it is not one."""
    shown = charts.number(value)
    return "-" if shown is None else f"{shown:,.{digits}f}{unit}"


def _load_verdict(summary: dict) -> tuple[str, str]:
    """The verdict word and its reason; summaries older than `verdict` have `passed` only."""
    word = summary.get("verdict")
    if isinstance(word, str) and word:
        return word[:40], str(summary.get("verdict_reason") or "")
    if summary.get("passed"):
        return "PASSED", "All SLOs hold"
    return "BREACHED", "SLO breached"


def _by_class(counts: object) -> str:
    if not isinstance(counts, dict):
        return "-"
    return " · ".join(
        f'<span class="{c}">{c} {_num(counts.get(c, 0), digits=0)}</span>' for c in charts.CLASSES
    )


def load_section(summary: dict) -> str:
    if not isinstance(summary, dict):
        return '<section class="load" id="load"><h2>Load</h2><p>Unreadable summary.</p></section>'
    a = summary.get("availability")
    a = a if isinstance(a, dict) else {}
    interval = a.get("wilson_95")
    low, high = interval if isinstance(interval, list) and len(interval) == 2 else (0, 1)
    word, reason = _load_verdict(summary)
    interrupted = summary.get("interrupted") is True
    throughput = summary.get("throughput")
    throughput = throughput if isinstance(throughput, dict) else {}
    planned = charts.number(summary.get("planned_run_time_s"))
    facts = [
        ("target", escape(str(summary.get("target", "-")))),
        ("discovery", _shown(summary.get("discovery_url", "-"))),
        ("users", _num(summary.get("users"), digits=0)),
        (
            "duration",
            _num(summary.get("duration_s"), " s")
            + (f" of {_num(planned, ' s')} planned" if planned else "")
            + (' <strong class="warning">(interrupted)</strong>' if interrupted else ""),
        ),
    ]
    if throughput:
        facts.append(
            (
                "throughput",
                f'<span id="load-throughput">{_num(throughput.get("flows_per_s"))} flows/s · '
                f"{_num(throughput.get('requests_per_s'))} requests/s</span>",
            )
        )
    if "failures_by_class" in summary:
        facts.append(
            (
                "failures by class",
                f'<span id="load-failures">{_by_class(summary["failures_by_class"])}</span>',
            )
        )

    def ratio(value: object) -> str:
        return _num((charts.number(value) or 0) * 100, digits=3)

    parts = [
        '<section class="load" id="load"><h2>Load</h2>',
        f'<p class="verdict {VERDICT_CLASS.get(word, "unsure")}" id="load-verdict">'
        f'<strong id="load-verdict-word">{escape(word)}</strong>'
        + (f' <span id="load-verdict-reason">{_shown(reason, 300)}</span>' if reason else "")
        + "</p>",
        (
            '<p id="load-interrupted" class="warning">Interrupted: the run stopped before its '
            "planned time; the figures cover what it measured.</p>"
            if interrupted
            else ""
        ),
        '<div class="scroll"><table class="facts" id="load-facts">'
        + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
        + "</table></div>",
        f'<p id="availability">Availability <strong>{ratio(a.get("ratio"))} %</strong> of '
        f"{_num(a.get('attempts', 0), digits=0)} flows (95 % interval "
        f"{ratio(low)}–{ratio(high)} %), target "
        f"{ratio(a.get('target'))} %: {escape(str(a.get('verdict')))}.</p>",
        "<h3>Over time</h3>",
        charts.timeline_charts(summary),
        "<h3>Latency per step</h3>",
        charts.step_latency(summary.get("steps", {})),
        '<h3>Flows and steps</h3><div class="scroll"><table><tr><th></th><th>count</th>'
        "<th>failures</th><th>by class</th><th>p50</th><th>p95</th><th>p99</th></tr>",
    ]
    for kind in ("flows", "steps"):
        rows = summary.get(kind)
        for name, s in (rows if isinstance(rows, dict) else {}).items():
            if not isinstance(s, dict):
                continue
            cells = "".join(f"<td>{_num(s.get(k), ' ms')}</td>" for k in ("p50", "p95", "p99"))
            label = f"{name} (flow)" if kind == "flows" else name
            parts.append(
                f"<tr><td>{escape(str(label))}</td><td>{_num(s.get('count'), digits=0)}</td>"
                f"<td>{_num(s.get('failures'), digits=0)}</td>"
                f"<td>{_by_class(s.get('failures_by_class'))}</td>{cells}</tr>"
            )
    parts.append(
        '</table></div><h3>SLOs</h3><div class="scroll"><table><tr><th>SLO</th>'
        "<th>measured</th><th>verdict</th></tr>"
    )
    slos = summary.get("slos")
    for v in slos if isinstance(slos, list) else []:
        if not isinstance(v, dict):
            continue
        verdict = str(v.get("verdict"))
        parts.append(
            f"<tr><td><code>{escape(str(v.get('slo')))}</code></td>"
            f"<td>{escape(str(v.get('measured')))}</td>"
            f'<td class="{escape(verdict)}">{escape(verdict)}</td></tr>'
        )
    parts.append("</table></div></section>")
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
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}{charts.STYLE}</style></head><body><h1>psc-testkit report</h1>"
        + "\n".join(body)
        + "</body></html>\n"
    )
