"""One login's exchanges carrying a secret, a code and a token everywhere an exchange can, fed
through recording, rendering and every writer; and the spellings of a value a report must not
hold. Shared by the redaction property tests and the pytest run of tests/test_redaction_writers.py
(no hypothesis here: that run imports this module)."""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import re
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, quote_plus

import httpx
import pytest
from _pytest._io import TerminalWriter

from psc_testkit.client.evidence import MIN_LENGTH, PLACEHOLDER, Recorder
from psc_testkit.client.transport import RecordingTransport
from psc_testkit.conformance import certification
from psc_testkit.conformance.pytest_plugin import FailureText, summarise, write_summary
from psc_testkit.reports import allure as allure_output
from psc_testkit.reports import html as report_html

CLIENT_ID = "rp-client"


def _hex_variants(text: str) -> set[str]:
    return {text, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)}


def spellings(value: str, client_ids: tuple[str, ...] = (CLIENT_ID,)) -> set[str]:
    """Every form of `value` a report must not hold, computed here independently of the
    redactor: raw, percent-encoded (quote, quote_plus, either hex case, as httpx encodes form
    data, query params and a URL given as a string, as a server quotes a Location),
    JSON-escaped (\\uXXXX, \\/), repr, HTML-escaped, and inside a Basic credential of each
    client (RFC 6749 §2.3.1 and the plain one)."""
    found = {value}
    for safe in ("", "/", ":/%#?=@[]!$&'()*+,;"):
        found |= _hex_variants(quote(value, safe=safe))
        found |= _hex_variants(quote_plus(value, safe=safe))
    found.add(httpx.QueryParams({"k": value}).__str__()[2:])
    found.add(httpx.Request("POST", "https://x", data={"k": value}).read().decode()[2:])
    with_raw_url = httpx.URL("https://x/?k=" + value.replace("#", "%23"))
    found.add(with_raw_url.query.decode()[2:])
    for text in list(found):
        for ensure_ascii in (True, False):
            escaped = json.dumps(text, ensure_ascii=ensure_ascii)[1:-1]
            found |= {escaped, escaped.replace("/", "\\/")}
    found.add(repr(value)[1:-1])
    found |= {html.escape(value), html.escape(value, quote=False)}
    for client_id in client_ids:
        for user, secret in ((quote_plus(client_id), quote_plus(value)), (client_id, value)):
            found.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return {f for f in found if len(f) >= MIN_LENGTH}


def _jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}.c2lnbmF0dXJl"


def record(secret: str, code: str, token: str, recorder: Recorder | None = None) -> Recorder:
    """A login's exchanges carrying the three values everywhere an exchange can."""
    id_token = _jwt({"sub": "x", "nonce": secret, "at_hash": "abcdef"})

    def provider(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/authorize":
            return httpx.Response(
                302,
                headers=[
                    ("location", f"https://rp.test/cb?code={quote(code, safe='')}&state=s1"),
                    ("set-cookie", f"SID={quote(code, safe='')}; Path=/auth/realms/x; HttpOnly"),
                    ("set-cookie", f"KC_TOKEN={quote(token)}; Max-Age=60; SameSite=Lax; Secure"),
                ],
            )
        if path == "/token":
            tokens = {
                "access_token": token,
                "refresh_token": code + token,
                "id_token": id_token,
                "token_type": "Bearer",
            }
            body = json.dumps(tokens).replace("/", "\\/")  # as PHP and Java encoders write it
            return httpx.Response(200, headers={"content-type": "application/json"}, content=body)
        if path == "/form_post":
            page = (
                '<form method="post" action="https://rp.test/cb">'
                f'<input type="hidden" name="code" value="{html.escape(code)}">'
                f'<input name="id_token" type="hidden" value="{id_token}"></form>'
                f'<a href="/next?code={quote(code)}&amp;state=s1">{html.escape(secret)}</a>'
            )
            return httpx.Response(200, headers={"content-type": "text/html"}, content=page)
        if path == "/userinfo":
            echo = {"sub": "x", "echo": {"password": secret, "refresh_token": token}}
            body = json.dumps(echo, ensure_ascii=False).encode()
            return httpx.Response(200, headers={"content-type": "application/json"}, content=body)
        if path == "/down":
            raise httpx.ConnectError(f"cannot connect: {secret} {code}")
        error = {"error": "invalid_grant", "error_description": f"unknown code {code} ({token})"}
        return httpx.Response(400, json=error)

    recorder = recorder or Recorder()
    recorder.redact.add(secret)  # as the harness does with the profile's client secrets
    with httpx.Client(transport=RecordingTransport(httpx.MockTransport(provider), recorder)) as c:
        c.get("https://op.test/authorize", params={"client_id": CLIENT_ID, "code_challenge": token})
        c.get(f"https://rp.test/cb?code={code.replace('#', '%23')}&state=s1")  # as a string
        form = {"grant_type": "authorization_code", "code": code, "code_verifier": token}
        c.post("https://op.test/token", data=form, auth=(quote_plus(CLIENT_ID), quote_plus(secret)))
        c.post("https://op.test/token", data={**form, "client_secret": secret, "password": secret})
        c.post("https://op.test/token", data=form, auth=(CLIENT_ID, secret))  # the plain Basic
        c.get("https://op.test/form_post")
        cookie = f"SID={quote(code, safe='')}; KC_TOKEN={quote(token)}"
        bearer = {"authorization": f"Bearer {quote(token, safe='')}", "cookie": cookie}
        c.get("https://op.test/userinfo", headers=bearer)
        c.post("https://op.test/error", content=json.dumps({"code": code, "client_secret": secret}))
        with pytest.raises(httpx.ConnectError):
            c.get("https://op.test/down")
    for exchange in recorder.exchanges:
        exchange.elapsed_ms = 1.0  # timings vary: a digit run in them is no secret
    return recorder


def failure_text(secret: str, code: str, token: str) -> str:
    """What pytest writes for a failing check comparing them, as --tb=short formats it."""
    return (
        "conformance/core/test_x.py:12: in test_x\n"
        "    assert tokens == expected\n"
        f"E   AssertionError: Expected: {secret!r}\n"
        f"E   Actual: {{'code': {code!r}, 'refresh_token': {token!r}}}\n"
        f"E   body: {json.dumps({'password': secret, 'code': code})}"
    )


def writers(secret: str, code: str, token: str) -> dict[str, str]:
    """Every text the writers produce from one failing check with those values."""
    recorder = record(secret, code, token)
    redact = recorder.redact
    texts = {}
    for i, exchange in enumerate(recorder.exchanges):
        texts[f"render {i}"] = exchange.render(redact)
        texts[f"curl {i}"] = exchange.curl(redact)
    failure = FailureText(redact(failure_text(secret, code, token)))
    terminal = io.StringIO()
    failure.toterminal(TerminalWriter(terminal))
    texts["terminal"] = terminal.getvalue()
    texts["junit message"] = failure.reprcrash.message
    result = {
        "check": "conformance/core/test_x.py::test_x",
        "requirement": "OIDCC-3.1.3.7-11",
        "level": "MUST",
        "spec": "OpenID Connect Core 1.0",
        "verdict": "failed",
        "duration_s": 0.5,
        "message": redact.message(failure.reprcrash.message),
        "evidence": [e.to_dict(redact) for e in recorder.exchanges],
    }
    summary = {
        "suite": "psc-testkit",
        "target": "audit",
        "discovery_url": redact.message(f"https://op.test/.well-known/x?client_secret={secret}"),
        "started": "2026-01-01T00:00:00Z",
        "duration_s": 1.0,
        "counts": {"failed": 1},
        "requirements": summarise([result]),
        "checks": [result],
    }
    attached: list[tuple[str, str]] = []
    fake_allure = SimpleNamespace(
        attach=lambda body, name, attachment_type: attached.append((name, body)),
        attachment_type=SimpleNamespace(TEXT="text", JSON="json"),
    )
    real_allure = sys.modules.get("allure")
    sys.modules["allure"] = fake_allure  # type: ignore[assignment]
    try:
        allure_output.attach(recorder.exchanges, redact)
    finally:
        if real_allure is not None:
            sys.modules["allure"] = real_allure
        else:
            del sys.modules["allure"]
    texts |= {f"allure {name}": body for name, body in attached}
    with tempfile.TemporaryDirectory() as folder:
        write_summary(Path(folder) / "summary.json", summary)
        texts["summary.json"] = (Path(folder) / "summary.json").read_text(encoding="utf-8")
        texts["summary.html"] = report_html.render(summary, None)
        certification.write(certification.build(summary, None), Path(folder))
        for name in ("certification.json", "certification.html"):
            # Digests are hex: a hex-only secret may occur in one by chance.
            text = (Path(folder) / name).read_text(encoding="utf-8")
            texts[name] = re.sub(r"[0-9a-f]{16,64}", "\0", text)
    return texts


def cleaned(text: str) -> str:
    # A placeholder's own characters ("«secret:1a2b…»") are no trace of anything.
    return PLACEHOLDER.sub("\0", text)


@functools.cache
def baseline() -> str:
    """The writers' own text, from neutral values: markup, field names, fixed URLs."""
    return "\n".join(cleaned(t) for t in writers("Q9Q9Q9Q9Q9", "Z8Z8Z8Z8", "X7X7X7X7").values())


def in_baseline(values: list[str]) -> bool:
    """Whether a spelling of a value is part of the writers' own text: no leak, and nothing a
    redactor can tell apart (a secret "body" in the page's markup)."""
    text = baseline()
    return any(s in text for value in values for s in spellings(value))


def traces(texts: dict[str, str], values: list[str]) -> list[tuple[str, str]]:
    found = []
    for name, text in texts.items():
        text = cleaned(text)
        found += [(name, s) for value in values for s in spellings(value) if s in text]
    return found
