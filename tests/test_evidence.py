"""The redactor and the recorder, case by case: what is learnt and what is not, every spelling of
a secret, names that hide a value whatever it is, cuts that never leave part of a secret, hostile
documents, and the time it takes."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import quote, quote_plus

import httpx
import pytest

from psc_testkit.client.evidence import MAX_BODY_SHOWN, Exchange, Recorder, Redactor, shorten
from psc_testkit.client.transport import RecordingTransport


def recorded(handler, *requests) -> Recorder:
    recorder = Recorder()
    with httpx.Client(transport=RecordingTransport(httpx.MockTransport(handler), recorder)) as c:
        for method, url, kwargs in requests:
            c.request(method, url, **kwargs)
    return recorder


def test_set_cookie_attributes_stay_readable_and_are_never_learnt():
    cookie = "KC_SESSION=abc+/=def%5C; Path=/auth/realms/esante-wallet; Max-Age=1800; HttpOnly"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "https://rp/cb", "set-cookie": cookie})

    recorder = recorded(handler, ("GET", "http://host/auth/realms/esante-wallet/token", {}))
    redact = recorder.redact
    assert "/auth/realms/esante-wallet" not in redact.values and "1800" not in redact.values
    text = recorder.exchanges[0].render(redact)
    assert "> GET http://host/auth/realms/esante-wallet/token" in text  # no «secret:…» inside
    assert "Path=/auth/realms/esante-wallet; Max-Age=1800; HttpOnly" in text
    assert "abc+/=def" not in text and "KC_SESSION=«secret:" in text
    assert (
        recorder.exchanges[0]
        .curl(redact)
        .startswith("curl -i -X GET http://host/auth/realms/esante-wallet/token")
    )


def test_a_password_is_redacted_in_every_form_a_request_carries_it():
    password = "Hunter2+pass/word="

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"echo": password})

    recorder = recorded(
        handler,
        ("POST", "https://op/login", {"data": {"username": "u", "password": password}}),
    )
    redact = recorder.redact
    outputs = [e.render(redact) + e.curl(redact) for e in recorder.exchanges]
    outputs.append(redact(f"sent {quote_plus(password)} {quote(password, safe='')} {password!r}"))
    outputs.append(redact(json.dumps({"x": password}).replace("/", "\\/")))
    for text in outputs:
        for form in (password, quote_plus(password), quote(password, safe=""), "Hunter2%2b"):
            assert form not in text, (form, text)


def test_a_client_secret_in_basic_is_learnt_and_hidden_in_both_encodings():
    secret = "s3cr3t+/=&é"
    redact = Redactor()
    redact.add(secret)  # as the harness does with the profile's secrets
    for user, password in (("rp client", secret), (quote_plus("rp client"), quote_plus(secret))):
        credential = base64.b64encode(f"{user}:{password}".encode()).decode()
        # Outside any header (a message quoting it), by its base64 spelling alone.
        assert credential[-8:] not in redact(f"credential {credential}"), credential
    learner = Redactor()
    credential = base64.b64encode(f"rp:{quote_plus(secret)}".encode()).decode()
    learner.learn_header("Authorization", f"Basic {credential}")
    assert secret in learner.values  # decoded from the header, url-decoded (RFC 6749 §2.3.1)
    assert "Basic «secret:" in learner(f"authorization: Basic {credential}")


def test_names_hide_values_whatever_they_are():
    redact = Redactor()  # nothing learnt
    text = redact(
        "code=ab&state=x&grant_type=authorization_code&logout_token=q "
        '{"client_secret": "z", "id_token_hint": "y", "expires_in": 120, "code": 12} '
        "{'password': 'p1'} Tokens(refresh_token='r') "
        '<input type="hidden" name="code" value="c">\n'
        "authorization: Basic Zm9vOmJhcg==\ncookie: a=1; b=2"
    )
    for shown in (
        "code=«secret:",
        "state=«secret:",
        "grant_type=authorization_code",
        "logout_token=«secret:",
        '"client_secret": "«secret:',
        '"id_token_hint": "«secret:',
        '"expires_in": 120',
        '"code": «secret:',
        "'password': '«secret:",
        "refresh_token='«secret:",
        "authorization: Basic «secret:",
        "cookie: a=«secret:",
        "; b=«secret:",
        'value="«secret:',
    ):
        assert shown in text, (shown, text)


def test_a_cut_never_leaves_part_of_a_secret():
    token = "t0k+/=" + "x" * 60
    for offset in range(-70, 10, 7):  # the token straddles the cut at every position
        body = json.dumps({"pad": "p" * (MAX_BODY_SHOWN + offset - 10), "access_token": token})
        redact = Redactor()  # not learnt: hidden by name, up to the end of the window
        exchange = Exchange("POST", "https://op/t", [], b"", 200, [], body.encode(), 1.0)
        text = exchange.render(redact)
        assert "t0k+/=" not in text and "xxxxxxxxxx" not in text, offset
        assert "bytes)" in text


def test_a_placeholder_is_never_cut_in_two():
    text = "x" * 1970 + "«secret:0123abcd»" + "y" * 100
    shown = shorten(text, 2000)
    assert shown.startswith("x" * 1970 + "…") and len(shown) <= 2000
    assert shown.endswith("(117 characters more)")


def test_a_document_nested_100000_deep_neither_crashes_nor_stops_learning():
    deep: object = {"access_token": "inner-secret-value"}
    for _ in range(100_000):
        deep = {"a": [deep]}
    redact = Redactor()
    redact.learn_json(deep)  # iterative: no RecursionError
    assert "inner-secret-value" in redact.values
    body = ('{"a":[' * 100_000 + '{"refresh_token":"deep-refresh-token"}' + "]}" * 100_000).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    recorder = recorded(handler, ("GET", "https://op/deep", {}))
    # Too deep to parse: its members are read as text, and rendering stays bounded.
    assert "deep-refresh-token" in recorder.redact.values
    assert len(recorder.exchanges[0].render(recorder.redact)) < 3 * MAX_BODY_SHOWN


def test_a_jwt_and_a_jwe_are_replaced_whole_and_their_claims_learnt():
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    jwt = f"{part({'alg': 'RS256'})}.{part({'nonce': 'n0nce+/=', 'sub': 'P-8123'})}.c2ln"
    jwe = f"{part({'alg': 'RSA-OAEP', 'enc': 'A256GCM'})}.a2V5.aXY.Y2lwaGVy.dGFn"
    redact = Redactor()
    redact.add(jwt)
    assert "n0nce+/=" in redact.values and "P-8123" in redact.values
    shown = redact(f"id_token {jwt} encrypted {jwe}.")
    assert "c2ln" not in shown and "Y2lwaGVy" not in shown and "dGFn" not in shown
    assert shown.startswith("id_token «secret:") and "encrypted «jwt:" in shown


def test_the_hash_is_keyed_per_run():
    first, second = Redactor(), Redactor()
    first.add("Hunter2+pass/word=")
    second.add("Hunter2+pass/word=")
    # The same value, the same hash within a run; an unkeyed one confirms a guessed password.
    assert first("Hunter2+pass/word=") == first("x=Hunter2+pass/word=")[2:]
    assert first.values != second.values


@pytest.mark.parametrize("awkward", [False, True])
def test_redaction_stays_fast(awkward):
    """2,000 learnt values and 1,000 renders in a few seconds (was ~6 s with 2,000 plain ones;
    the compiled trie is rebuilt only when the values learnt since are a fair share)."""
    redact = Redactor()
    values = [f"{'v+/=&%é' if awkward else 'v'}{i:06d}-{'x' * 30}" for i in range(2000)]
    for value in values:
        redact.add(value)
    exchanges = [
        Exchange(
            "POST",
            "https://op/token",
            [("authorization", "Basic cnA6c2VjcmV0"), ("cookie", f"S={quote(values[i])}")],
            f"grant_type=authorization_code&code={quote_plus(values[i + 1])}".encode(),
            200,
            [("content-type", "application/json")],
            json.dumps({"access_token": values[i + 2], "refresh_token": values[i + 3]}).encode(),
            1.0,
        )
        for i in range(0, 1000)
    ]
    started = time.perf_counter()
    for exchange in exchanges:
        assert "x" * 30 not in exchange.render(redact) + exchange.curl(redact)
    assert time.perf_counter() - started < 20  # ~1 s on a quiet machine


def test_a_recorder_keeps_bounded_bodies_and_says_their_size():
    """A provider answering 10 MB on every endpoint must not fill memory with evidence: each
    body is kept up to 1 MiB, and 64 KiB once the run holds 64 MiB; the size shown is real."""
    from psc_testkit.client import evidence

    recorder = evidence.Recorder()
    request = httpx.Request("GET", "https://op.example/big")
    big = httpx.Response(200, content=b"x" * (5 << 20), headers={"content-type": "text/plain"})
    first = recorder.record(request, big, 0.0)
    assert len(first.response_body) == evidence.KEPT_BODY
    assert f"({5 << 20} bytes)" in first.render(recorder.redact)
    for _ in range(70):
        last = recorder.record(request, big, 0.0)
    assert len(last.response_body) == evidence.KEPT_AFTER
    assert recorder.kept < evidence.KEPT_TOTAL + evidence.KEPT_BODY + 10 * evidence.KEPT_AFTER


def test_a_client_id_stays_readable_though_an_assertion_names_it_as_sub():
    """A private_key_jwt assertion's sub is the client id; sub is a personal claim, but the
    profile's client ids are kept as they are, so reports still say which client did what."""
    import jwt as pyjwt

    redact = Redactor()
    redact.keep("psc-testkit-jwt")
    assertion = pyjwt.encode({"sub": "psc-testkit-jwt", "iss": "psc-testkit-jwt"}, "k" * 32)
    redact.add(assertion)
    assert redact("client psc-testkit-jwt sent " + assertion) == (
        f"client psc-testkit-jwt sent {redact.placeholder(assertion)}"
    )
