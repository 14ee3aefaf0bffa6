"""reports/summary.html: one self-contained page (no script, no external file) with the verdict
per requirement grouped by spec, counts, target and timings, and, when a load run left its
summary, the latency of each step as a chart and the availability with its interval.

It is built only from summary.json files, which hold nothing unredacted; what it shows of them
is redacted by field name once more and bounded, whoever wrote the file."""

from __future__ import annotations

import re
from html import escape

from psc_testkit.client.evidence import MAX_MESSAGE, Redactor
from psc_testkit.conformance.requirements import SPECS, link, section_of, spec_of
from psc_testkit.reports import charts

MAX_EVIDENCE_SHOWN = 40000  # characters of exchanges shown per check


def _shown(text: object, limit: int = MAX_MESSAGE) -> str:
    """Text from a summary, as the page shows it: redacted by field name, bounded, escaped."""
    return escape(Redactor().message(str(text), limit))


STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;color:#1e1e1e;
padding:0 1rem;line-height:1.45;overflow-wrap:anywhere}
h1{color:#000091;margin:.2rem 0 .6rem;font-size:1.7rem}
h2{border-bottom:2px solid #000091;padding-bottom:.2rem;margin-top:2.2rem}
h3{margin:1.4rem 0 .4rem}h4{margin:.9rem 0 .3rem}
.failure h4{font-size:.85rem;font-family:ui-monospace,monospace;font-weight:normal}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{padding:.3rem .5rem;
text-align:left;border-bottom:1px solid #e5e5e5;vertical-align:top}th{background:#f5f5fe}
.passed{color:#18753c}.failed,.error,.FAIL,.BREACHED{color:#ce0500;font-weight:bold}
.warning{color:#b34000;font-weight:bold}.skipped,.info{color:#555}
.badge{display:inline-block;padding:.15rem .55rem;border-radius:.3rem;margin:.15rem .3rem .15rem 0;
background:#eee;white-space:nowrap}
.verdict{font-size:1.25rem;padding:.5rem .9rem;border-radius:.4rem;display:inline-block;
margin:.3rem 0}.ok{background:#b8fec9}.ko{background:#ffe9e6}.unsure{background:#feecc2}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.5rem;
font-size:.8rem;max-height:32rem;overflow:auto;margin:.3rem 0}
code{overflow-wrap:anywhere}summary{cursor:pointer}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.6rem 0}
dl.facts dt{font-weight:bold}dl.facts dd{margin:0}
.failure{border:1px solid #e5e5e5;border-left:.35rem solid #ce0500;border-radius:.3rem;
padding:.3rem 1rem .8rem;margin:1rem 0;scroll-margin-top:.5rem}.failure:target{background:#fffbe6}
.failure.warned{border-left-color:#b34000}
.failure h3{margin:.5rem 0}.statement{font-style:italic}
.ea th{width:7rem}.ea td{white-space:pre-wrap}
ol.index li{margin:.25rem 0}
.spec>summary{font-size:1.1rem;font-weight:bold;margin:.8rem 0 .3rem}
table.requirements td:first-child{width:13rem}
@media screen and (max-width:40rem){body{padding:0 .5rem;margin:.8rem auto}h1{font-size:1.35rem}
dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:.3rem}
table.requirements td:first-child{width:auto}td,th{padding:.25rem .3rem}}
@media print{body{max-width:none;margin:0;font-size:10pt}pre{max-height:none;overflow:visible}
details::details-content{content-visibility:visible;display:block;height:auto}
details>summary{list-style:none}.failure,.chart{break-inside:avoid-page}
a{color:inherit}h2,h3{break-after:avoid}}
"""
ORDER = ["failed", "error", "warning", "info", "passed", "skipped"]
WORDS = {"warning": "warned", "info": "noted", "skipped": "not checked"}


def _listed(requirements: list[str], what: str) -> str:
    """ "2 requirements failed: A, B" (the first six named)."""
    if not requirements:
        return ""
    named = ", ".join(requirements[:6]) + ("…" if len(requirements) > 6 else "")
    plural = "s" if len(requirements) != 1 else ""
    return f"{len(requirements)} requirement{plural} {what}: {named}"


def _counts(counts: dict, prefix: str) -> str:
    return "".join(
        f'<span class="badge {v}" id="{prefix}-{v}">{escape(WORDS.get(v, v))}: {counts[v]}</span>'
        for v in ORDER
        if counts.get(v)
    )


def natural(text: str) -> list:
    """A sort key that puts 3.1.3.7-2 before 3.1.3.7-10: numbers compare as numbers."""
    parts = re.split(r"([0-9]+)", text)
    return [(0, int(p), "") if p.isdigit() and p.isascii() else (1, 0, p) for p in parts if p]


def anchor(check: str) -> str:
    return "check-" + re.sub(r"[^A-Za-z0-9_-]+", "-", check).strip("-")


def _verdict_word(summary: dict) -> str:
    line = str(summary.get("verdict") or "")
    match = re.match(r"verdict: (.+?) \(exit", line)
    if match:
        return match.group(1)
    counts = summary.get("counts", {})
    return "FAILED" if counts.get("failed") or counts.get("error") else "PASSED"


def expected_actual(message: str) -> tuple[str, str] | None:
    """The Expected/Actual a check's expect() said, out of its one-line message."""
    match = re.search(r"Expected: (.*?)\s+Actual: (.*)", message, re.S)
    return (match.group(1).strip(), match.group(2).strip()) if match else None


def _requirement_title(requirement: str) -> str:
    spec = spec_of(requirement)
    section = section_of(requirement)
    return f"{spec.title} §{section}" if section else spec.title


def _failure(check: dict, requirements: dict) -> str:
    """One failing (or warned) check: what the spec asks, what came back, the exchange, the
    tokens decoded, and how to replay it."""
    name = str(check.get("check", ""))
    requirement = str(check.get("requirement", ""))
    verdict = str(check.get("verdict", ""))
    level = str(check.get("level") or requirements.get(requirement, {}).get("level", ""))
    message = str(check.get("message", ""))
    href = link(requirement)
    parts = [
        f'<article class="failure{" warned" if verdict == "warning" else ""}" id="{anchor(name)}">',
        f'<h3><span class="{escape(verdict)}">{escape(WORDS.get(verdict, verdict).upper())}'
        f"</span> {escape(requirement)} · {escape(level)} · "
        f"{escape(_requirement_title(requirement))}</h3>",
        f"<p><code>{escape(name)}</code>"
        + (f' — <a href="{escape(href)}">the spec</a>' if href.startswith("https://") else "")
        + "</p>",
    ]
    if check.get("statement"):
        parts.append(f'<p class="statement">{_shown(check["statement"], 3000)}</p>')
    ea = expected_actual(message)
    if ea:
        parts.append(
            '<table class="ea"><tr><th>Expected</th><td class="expected">'
            f"{_shown(ea[0])}</td></tr><tr><th>Actual</th>"
            f'<td class="actual">{_shown(ea[1])}</td></tr></table>'
        )
    elif message:
        parts.append(f'<p class="message">{_shown(message)}</p>')
    evidence = [e for e in check.get("evidence") or [] if isinstance(e, dict)]
    if evidence:
        parts.append(
            f"<details open><summary>The exchange: {len(evidence)} request"
            f"{'s' if len(evidence) != 1 else ''} (redacted)</summary>"
        )
        for number, e in enumerate(evidence, 1):
            parts.append(f"<h4>{number}. {_shown(e.get('request', ''), 300)}</h4>")
            parts.append(
                f'<pre class="exchange">{_shown(e.get("exchange", ""), MAX_EVIDENCE_SHOWN)}</pre>'
            )
            for jwt in e.get("jwts") or []:
                if not isinstance(jwt, dict):
                    continue
                parts.append(
                    f'<div class="jwt"><p>JWT {_shown(jwt.get("token", ""), 40)}: '
                    f"{_shown(jwt.get('where', ''), 200)}, decoded</p>"
                    f'<pre class="jwt-header">{_shown(jwt.get("header", ""), 3000)}</pre>'
                    f'<pre class="jwt-claims">{_shown(jwt.get("claims", ""), MAX_EVIDENCE_SHOWN)}'
                    "</pre></div>"
                )
        parts.append("</details>")
        parts.append(_replays(evidence))
    parts.append('<p><a href="#top">back to the top</a></p></article>')
    return "\n".join(parts)


def _replays(evidence: list[dict]) -> str:
    variables: dict[str, str] = {}
    for e in evidence:
        found = e.get("replay_variables")
        for key, what in (found if isinstance(found, dict) else {}).items():
            variables.setdefault(str(key), str(what))
    parts = ['<div class="replay"><h4>Replay</h4>']
    if variables:
        parts.append("<p>Set these shell variables first, then run a line:</p><table>")
        parts += [
            f"<tr><td><code>{escape(k)}</code></td><td>{_shown(v, 300)}</td></tr>"
            for k, v in variables.items()
        ]
        parts.append("</table>")
    for e in evidence:
        parts.append(
            f'<pre class="replay-command">{_shown(e.get("replay", ""), MAX_EVIDENCE_SHOWN)}</pre>'
        )
    parts.append("</div>")
    return "\n".join(parts)


def _facts(summary: dict) -> str:
    facts = [
        ("target", escape(str(summary.get("target")))),
        ("profile", escape(str(summary.get("profile") or "-"))),
        ("discovery", _shown(summary.get("discovery_url"))),
        ("suite", "psc-testkit " + escape(str(summary.get("version")))),
        ("date", escape(str(summary.get("started")))),
        ("duration", escape(str(summary.get("duration_s"))) + " s"),
    ]
    for key, label in (("defects", "defects injected"), ("quirks", "quirks injected")):
        if summary.get(key):
            facts.append((label, escape(", ".join(map(str, summary[key])))))
    if summary.get("strict"):
        facts.append(("strict", "SHOULD failures fail the run"))
    if summary.get("revealed_test_identities"):
        facts.append(("test identities", "shown in clear (--reveal-test-identities, sandbox)"))
    if summary.get("stopped"):
        facts.append(("stopped", _shown(summary["stopped"].get("reason", ""))))
    return (
        '<dl class="facts" id="run-facts">'
        + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
        + "</dl>"
    )


def _text(value: object, default: str = "") -> str:
    return value if isinstance(value, str) else default if value is None else str(value)


def _dicts(value: object) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _counted(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


def clean(summary: dict) -> dict:
    """summary.json as the page reads it: whoever wrote the file, every field has the type the
    page expects (a string, a count, a list of objects), so a hostile or broken file yields a
    page, never a traceback."""
    checks = []
    for c in _dicts(summary.get("checks")):
        evidence = []
        for e in _dicts(c.get("evidence")):
            variables = e.get("replay_variables")
            evidence.append(
                {
                    **{k: _text(e.get(k)) for k in ("request", "exchange", "replay")},
                    "replay_variables": {
                        _text(k): _text(v)
                        for k, v in (variables.items() if isinstance(variables, dict) else [])
                    },
                    "jwts": [
                        {k: _text(j.get(k)) for k in ("where", "token", "header", "claims")}
                        for j in _dicts(e.get("jwts"))
                    ],
                }
            )
        fields = ("check", "requirement", "level", "verdict", "message", "statement")
        checks.append({**{k: _text(c.get(k)) for k in fields}, "evidence": evidence})
    requirements = {}
    raw = summary.get("requirements")
    for requirement, entry in raw.items() if isinstance(raw, dict) else []:
        entry = entry if isinstance(entry, dict) else {}
        listed = entry.get("checks")
        requirements[_text(requirement)] = {
            "level": _text(entry.get("level")),
            "verdict": _text(entry.get("verdict")),
            "checks": [_text(n) for n in listed] if isinstance(listed, list) else [],
        }
    stopped = summary.get("stopped")
    return {
        **{
            k: _text(summary.get(k), "-")
            for k in ("target", "profile", "discovery_url", "version", "started", "verdict")
        },
        "duration_s": summary.get("duration_s"),
        "defects": [_text(d) for d in summary.get("defects") or [] if d]
        if isinstance(summary.get("defects"), list)
        else [],
        "quirks": [_text(q) for q in summary.get("quirks") or [] if q]
        if isinstance(summary.get("quirks"), list)
        else [],
        "strict": summary.get("strict") is True,
        "revealed_test_identities": summary.get("revealed_test_identities") is True,
        "stopped": {"reason": _text(stopped.get("reason"))} if isinstance(stopped, dict) else None,
        "counts": _counted(summary.get("counts")),
        "requirement_counts": _counted(summary.get("requirement_counts")),
        "requirements": requirements,
        "checks": checks,
    }


def conformance_section(summary: dict) -> str:
    summary = clean(summary)
    word = _verdict_word(summary)
    ok = word == "PASSED"
    checks = [c for c in summary.get("checks", []) if isinstance(c, dict)]
    requirements = summary.get("requirements", {})
    failing = [c for c in checks if c.get("verdict") in ("failed", "error")]
    warned = [c for c in checks if c.get("verdict") == "warning"]
    by_check = {c.get("check"): c for c in checks}
    r = summary.get("requirement_counts") or {}
    failed_requirements = sorted(
        {c["requirement"] for c in failing if c["verdict"] == "failed"}, key=natural
    )
    unchecked = sorted(
        {c["requirement"] for c in failing if c["verdict"] == "error"} - set(failed_requirements),
        key=natural,
    )
    said = [
        _listed(failed_requirements, "failed"),
        _listed(unchecked, "could not be checked"),
    ]
    headline = (
        "Every MUST holds" if ok else "; ".join(p for p in said if p) or summary["verdict"] or word
    )
    parts = [
        '<section id="conformance"><header id="top">',
        f"<h1>Conformance: {escape(word)}</h1>",
        f'<p class="verdict {"ok" if ok else "ko" if failing else "unsure"}" '
        f'id="conformance-verdict">{escape(headline)}</p>',
        f'<p id="requirement-counts">Requirements: {_counts(r, "requirements")}</p>',
        f'<p id="check-counts">Checks: {_counts(summary.get("counts", {}), "count")}</p>',
        _facts(summary),
    ]
    if failing or warned:
        parts.append('<nav id="failures-index"><ol class="index">')
        for c in failing + warned:
            verdict = str(c.get("verdict"))
            parts.append(
                f'<li><a href="#{anchor(str(c.get("check")))}">'
                f'<span class="{escape(verdict)}">{escape(WORDS.get(verdict, verdict))}</span> '
                f"{escape(str(c.get('requirement')))} ({escape(str(c.get('level')))}): "
                f"<code>{escape(str(c.get('check', '')).split('::')[-1])}</code></a> — "
                f"{_shown(c['message'].removeprefix('AssertionError: '), 240)}</li>"
            )
        parts.append("</ol></nav>")
    parts.append("</header>")
    if failing:
        parts.append(f'<h2 id="failures">Failures ({len(failing)})</h2>')
        parts += [_failure(c, requirements) for c in failing]
    if warned:
        parts.append(f'<h2 id="warnings">SHOULD warnings ({len(warned)})</h2>')
        parts += [_failure(c, requirements) for c in warned]
    parts.append(f'<h2 id="requirements">Requirements ({len(requirements)}), by spec</h2>')
    by_spec: dict[str, list] = {}
    for requirement, entry in requirements.items():
        by_spec.setdefault(spec_of(requirement).title, []).append((requirement, entry))
    order = [s.title for s in SPECS]
    for spec in sorted(by_spec, key=lambda t: (order.index(t) if t in order else len(order), t)):
        entries = sorted(by_spec[spec], key=lambda item: natural(item[0]))
        verdicts = [e.get("verdict") for _, e in entries]
        bad = sum(v in ("failed", "error", "warning") for v in verdicts)
        parts.append(
            f'<details class="spec"{" open" if bad else ""}><summary>{escape(spec)} — '
            f"{len(entries)} requirement{'s' if len(entries) != 1 else ''}"
            + (f", {bad} not passed" if bad else "")
            + '</summary><table class="requirements">'
            "<tr><th>requirement</th><th>level</th><th>verdict</th><th>checks</th></tr>"
        )
        for requirement, entry in entries:
            rows = []
            for name in entry.get("checks", []):
                check = by_check.get(name, {})
                verdict = str(check.get("verdict", ""))
                label = f"<code>{escape(str(name).split('::')[-1])}</code>"
                if verdict in ("failed", "error", "warning"):
                    label = f'<a href="#{anchor(str(name))}">{label}</a>'
                elif verdict in ("skipped", "info") and check.get("message"):
                    label += f" — {_shown(check['message'], 300)}"
                rows.append(
                    f'<div><span class="{escape(verdict)}">{escape(WORDS.get(verdict, verdict))}'
                    f"</span> {label}</div>"
                )
            verdict = str(entry.get("verdict", ""))
            parts.append(
                f'<tr id="req-{escape(requirement)}"><td><code>{escape(requirement)}</code></td>'
                f"<td>{escape(str(entry.get('level', '')))}</td>"
                f'<td class="{escape(verdict)}">{escape(WORDS.get(verdict, verdict))}</td>'
                f"<td>{''.join(rows)}</td></tr>"
            )
        parts.append("</table></details>")
    parts.append("</section>")
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


def _load_origin(load: dict, conformance: dict | None) -> str:
    """Which run the load figures come from, said before any figure: a load summary left in
    the folder by another run must not pass for this page's run."""
    run = (
        f"This load run: target {escape(str(load.get('target', '-')))}, started "
        f"{escape(str(load.get('started_at') or '-'))}, {_num(load.get('duration_s'), ' s')}"
        + (f" (run {escape(str(load['run_id'])[:12])})" if load.get("run_id") else "")
        + "."
    )
    if conformance is None:
        return f'<p id="load-run">{run}</p>'
    same_target = str(load.get("target")) == str(conformance.get("target"))
    note = (
        f" It is a separate run from the conformance run above (started "
        f"{escape(str(conformance.get('started')))})"
        + ("" if same_target else ", <strong>against another target</strong>")
        + "."
    )
    return f'<p id="load-run" class="{"note" if same_target else "warning"}">{run}{note}</p>'


def render(conformance: dict | None, load: dict | None) -> str:
    body = []
    title = "psc-testkit report"
    if conformance:
        body.append(conformance_section(conformance))
        title = f"psc-testkit: {_verdict_word(conformance)} — {conformance.get('target')}"
    if load:
        if not conformance:
            body.append('<h1 id="top">psc-testkit report</h1>')
        section = load_section(load)
        if isinstance(load, dict):
            heading = "<h2>Load</h2>"
            section = section.replace(heading, heading + _load_origin(load, conformance), 1)
        body.append(section)
    if not body:
        body.append(
            "<h1>psc-testkit report</h1><p>No results yet: run <code>make conformance</code> or "
            "<code>make load</code>.</p>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}{charts.STYLE}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )
