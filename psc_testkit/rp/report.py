"""The RP certification report: JSON and one self-contained HTML page (screenshots inside),
signed like the OP certificate (a detached JWS over the canonical JSON; certification.py).

Evidence per test: the exchanges the app (and its user's browser) made with the simulator, the
ID tokens the simulator issued (header and claims, decoded), the app's final page (a
screenshot and its URL), the verdict and why. Everything textual is redacted first: the client
secret, codes, tokens, PKCE verifiers and the professional's personal data never appear.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from pathlib import Path

import jwt

from psc_testkit import __version__
from psc_testkit.client.evidence import Redactor
from psc_testkit.conformance.certification import RP_KIND, SigningKey, _canonical, sign, source_hash
from psc_testkit.rp.app_profile import AppProfile
from psc_testkit.rp.engine import RunResult, TestResult, run_verdict, summary_counts
from psc_testkit.rp.verdicts import is_token_request, token_response

KIND = RP_KIND
FORMAT = 1
MAX_BODY = 2000


def new_redactor(app: AppProfile) -> Redactor:
    redact = Redactor()
    redact.keep(app.client_id)
    if app.client_secret:
        redact.add(app.client_secret)
    return redact


def redactor_for(run: RunResult) -> Redactor:
    """A redactor that knows every secret and personal datum of the run."""
    redact = new_redactor(run.app)
    for value in run.professional.values():
        if isinstance(value, str) and value:
            redact.add(value, kind="personal", credential=False)
    for result in run.results:
        learn(redact, result)
    return redact


def learn(redact: Redactor, result: TestResult) -> None:
    """Learn the secrets and personal data of one test's exchanges and pages."""
    for value in result.professional.values():
        if isinstance(value, str) and value:
            redact.add(value, kind="personal", credential=False)
    for e in result.entries:
        redact.learn_query(e.get("query", ""))
        redact.learn_query(e.get("body", ""))
        for name, value in e.get("headers", {}).items():
            redact.learn_header(name, value)
        if "location" in e:
            redact.learn_url(e["location"])
        response = e.get("response")
        if response:
            try:
                redact.learn_json(json.loads(response))
            except ValueError:
                redact.learn_text(response)
    if result.outcome is not None:
        for page in result.outcome.pages:
            redact.learn_url(page["url"])


def _exchange(e: dict, redact: Redactor) -> str:
    target = e["path"] + (f"?{e['query']}" if e.get("query") else "")
    lines = [f"→ {e['method']} {e['host']} {redact.cut(target, MAX_BODY)}"]
    for name, value in e.get("headers", {}).items():
        lines.append(f"  {name}: {redact.cut(value, MAX_BODY)}")
    if e.get("body"):
        lines.append(f"  {redact.cut(e['body'], MAX_BODY)}")
    answer = f"← {e.get('status', '?')}"
    if "location" in e:
        answer += f" Location: {redact.cut(e['location'], MAX_BODY)}"
    lines.append(answer)
    if e.get("response"):
        lines.append(f"  {redact.cut(e['response'], MAX_BODY)}")
    return "\n".join(lines)


def _tokens(result: TestResult, redact: Redactor) -> list[dict]:
    issued = []
    for e in result.entries:
        if is_token_request(e):
            id_token = token_response(e).get("id_token")
            if isinstance(id_token, str):
                try:
                    header = jwt.get_unverified_header(id_token)
                    claims = jwt.decode(id_token, options={"verify_signature": False})
                except jwt.PyJWTError as exc:
                    issued.append({"id_token": f"not decodable: {exc}"})
                    continue
                shown = redact(json.dumps({"header": header, "claims": claims}, sort_keys=True))
                issued.append({"id_token": json.loads(shown)})
    return issued


def _screenshot(result: TestResult, folder: Path) -> dict | None:
    outcome = result.outcome
    if outcome is None or not outcome.screenshot:
        return None
    path = Path(outcome.screenshot)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return {"file": str(path.relative_to(folder)), "sha256": hashlib.sha256(data).hexdigest()}


def build(run: RunResult, planned: int, folder: Path) -> dict:
    redact = redactor_for(run)
    verdict, code = run_verdict(run, planned)
    tests = []
    for r in run.results:
        t, v, o = r.test, r.verdict, r.outcome
        tests.append(
            {
                "name": t.name,
                "requirement": t.requirement,
                "level": v.level,
                "obligation": t.obligation,
                "title": t.title,
                "spec": t.spec,
                "source": t.source,
                "note": t.note,
                "lie": t.lie,
                "verdict": v.status,
                "reason": redact(v.reason),
                "notes": [redact(n) for n in v.notes],
                "seconds": r.seconds,
                "evidence": {
                    "final_url": redact(o.url) if o else None,
                    "final_status": o.status if o else None,
                    "pages": [redact(p["url"]) for p in o.pages] if o else [],
                    "exchanges": [_exchange(e, redact) for e in r.entries],
                    "tokens": _tokens(r, redact),
                    "screenshot": _screenshot(r, folder),
                },
            }
        )
    counts = summary_counts(run.results)
    shown = ", ".join(f"{n} {k.lower()}" for k, n in sorted(counts.items()))
    document = {
        "kind": KIND,
        "format": FORMAT,
        "app": {
            "name": run.app.name,
            "version": run.app.version,
            "profile": str(run.app.path),
            "start_url": run.app.start_url,
        },
        "client": {
            "client_id": run.app.client_id,
            "auth_method": run.app.auth_method,
            "redirect_uris": list(run.app.redirect_uris),
        },
        "suite": {"version": __version__, "source_sha256": source_hash()},
        "provider": "the embedded PSC simulator (psc-testkit), lying per test",
        "started_at": run.started_at,
        "duration_s": run.seconds,
        "interrupted": run.interrupted,
        "verdict": verdict,
        "exit_code": code,
        "counts": counts,
        "statement": f"{run.app.name} {run.app.version}, as a PSC client: {verdict} ({shown})",
        "planned": planned,
        "tests": tests,
    }
    document["checksum_sha256"] = hashlib.sha256(_canonical(document)).hexdigest()
    return document


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;"
    "color:#1e1e1e}h1{color:#000091;font-size:1.5rem}table{border-collapse:collapse;width:100%}"
    "td,th{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}"
    ".PASSED{color:#18753c}.FAILED{color:#ce0500;font-weight:bold}.WARNED{color:#b34000}"
    ".ERROR{color:#6a1b9a;font-weight:bold}pre{white-space:pre-wrap;word-break:break-all;"
    "background:#f6f6f6;padding:.5rem;font-size:.8rem}img{max-width:100%;border:1px solid #ccc}"
    "details{margin:.4rem 0}@media print{details{display:block}}"
)


def render_html(document: dict, folder: Path) -> str:
    app = document["app"]
    counts = ", ".join(f"{n} {k.lower()}" for k, n in sorted(document["counts"].items()))
    rows, details = [], []
    for t in document["tests"]:
        anchor = f"t-{t['name']}"
        rows.append(
            f'<tr><td><a href="#{anchor}">{escape(t["name"])}</a></td>'
            f"<td>{escape(t['requirement'])}</td><td>{escape(t['level'])}</td>"
            f'<td class="{escape(t["verdict"].split()[0])}">{escape(t["verdict"])}</td>'
            f"<td>{escape(t['reason'])}</td></tr>"
        )
        ev = t["evidence"]
        shot = ""
        if ev["screenshot"]:
            try:
                data = (folder / ev["screenshot"]["file"]).read_bytes()
                shot = (
                    f'<img alt="the app\'s final page" src="data:image/png;base64,'
                    f'{base64.b64encode(data).decode()}">'
                )
            except OSError:
                shot = "<p>(screenshot missing)</p>"
        notes = "".join(f"<p>Note: {escape(n)}</p>" for n in t["notes"])
        exchanges = escape("\n\n".join(ev["exchanges"])) or "(none: judged without a login)"
        tokens = escape(json.dumps(ev["tokens"], indent=1, ensure_ascii=False))
        details.append(
            f'<section id="{anchor}"><h3>{escape(t["name"])} — '
            f'<span class="{escape(t["verdict"].split()[0])}">{escape(t["verdict"])}</span></h3>'
            f"<p>{escape(t['title'])}. <b>{escape(t['requirement'])}</b> "
            f"({escape(t['level'])}, obligation of the {escape(t['obligation'])}), "
            f"{escape(t['source'])}: “{escape(t['spec'])}”</p>"
            + (f"<p>{escape(t['note'])}</p>" if t["note"] else "")
            + f"<p>Why: {escape(t['reason'])}</p>{notes}"
            + (f"<p>Final page: {escape(ev['final_url'] or '')} (HTTP {ev['final_status']})</p>")
            + f"<details><summary>Exchanges</summary><pre>{exchanges}</pre></details>"
            f"<details><summary>ID tokens issued</summary><pre>{tokens}</pre></details>"
            f"<details><summary>Screenshot</summary>{shot}</details></section>"
        )
    signed = "signed" if isinstance(document.get("signature"), dict) else "unsigned"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>RP certification: {escape(app['name'])}</title><style>{STYLE}</style></head>"
        f"<body><h1>RP certification: {escape(app['name'])} {escape(app['version'])}</h1>"
        f'<p id="verdict" class="{escape(document["verdict"])}">'
        f"<b>{escape(document['verdict'])}</b> — {escape(counts)}; "
        f"{len(document['tests'])} of {document['planned']} tests, "
        f"{document['duration_s']:g} s; client {escape(document['client']['client_id'])} "
        f"({escape(document['client']['auth_method'])}); psc-testkit "
        f"{escape(document['suite']['version'])}; {signed}.</p>"
        "<table><thead><tr><th>test</th><th>requirement</th><th>level</th><th>verdict</th>"
        f"<th>why</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<h2>Evidence</h2>{''.join(details)}</body></html>\n"
    )


def write(run: RunResult, planned: int, folder: Path, key: SigningKey | None) -> tuple[Path, Path]:
    document = sign(build(run, planned, folder), key)
    json_path, html_path = folder / "rp-report.json", folder / "rp-report.html"
    json_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    html_path.write_text(render_html(document, folder), encoding="utf-8")
    return json_path, html_path
