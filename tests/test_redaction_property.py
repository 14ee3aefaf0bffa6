"""Redaction as a property: whatever a secret, a code or a token is made of (the printable
range, non-ASCII, `+ / = & % \\ " ' < >` and spaces), no spelling of it survives recording,
rendering, the replay line, or any writer: the terminal's failure text, summary.json,
summary.html, the certificate and the Allure attachments.

The exchanges go through `RecordingTransport` and `Recorder` with an in-process
`httpx.MockTransport` standing in for the provider (tests/redaction_scenario.py): a pure
function of recording and redaction, so many examples run in seconds.
tests/test_redaction_writers.py runs pytest's own writers (terminal, junit.xml, Allure results)
on a few of them; tests/test_redaction_audit.py does it all against the simulator."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from psc_testkit.client.evidence import MIN_LENGTH, Recorder, Redactor
from tests.redaction_scenario import in_baseline, traces, writers

AWKWARD = "+/=&%\\\"'<> é€中𝄞"
# Printable ASCII and a few non-ASCII characters (two-byte, three-byte, astral).
CHARACTERS = st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("éß€中𝄞")
VALUES = st.text(CHARACTERS, min_size=MIN_LENGTH, max_size=24) | st.builds(
    lambda a, b, c: a + b + c,
    st.text(CHARACTERS, max_size=8),
    st.text(st.sampled_from(AWKWARD), min_size=1, max_size=6),
    st.text(CHARACTERS, min_size=MIN_LENGTH, max_size=8),
)
PROPERTY = settings(
    max_examples=60,
    derandomize=True,  # the same examples on every run and in CI
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@PROPERTY
@given(secret=VALUES, code=VALUES, token=VALUES)
def test_no_spelling_of_a_secret_survives_any_writer(secret, code, token):
    values = [secret, code, token]
    assume(not in_baseline(values))
    found = traces(writers(secret, code, token), values)
    assert not found, found[:5]


@pytest.mark.parametrize(
    "secret",
    ["Hunter2+pass/word=", "s3cr3t&%\\\"'<> é", "a b+c%2Fd", "€uro/中文/𝄞=", "\\u00e9\\/x"],
)
def test_the_secrets_that_leaked_before(secret):
    found = traces(writers(secret, secret + "-code", "tok/" + secret), [secret])
    assert not found, found[:5]


SHORT = st.text(CHARACTERS, min_size=1, max_size=MIN_LENGTH - 1).filter(lambda v: v.strip())


@settings(max_examples=40, derandomize=True, deadline=None)
@given(value=SHORT)
def test_a_short_value_under_a_secret_name_is_hidden_where_it_appears(value):
    """Too short to be replaced everywhere by value, it is still hidden under its name."""
    redact = Redactor()
    exchange = httpx.Request(
        "POST",
        "https://op.test/token",
        params={"code": value, "client_id": "rp"},
        data={"password": value, "grant_type": "x"},
    )
    recorder = Recorder(redact)
    body = json.dumps({"refresh_token": value, "client_secret": value, "x": 1}).encode()
    response = httpx.Response(
        200,
        headers=[
            ("content-type", "application/json"),
            ("set-cookie", f"SID={quote(value, safe='')}; Path=/p; HttpOnly"),
        ],
        content=body,
    )
    recorded = recorder.record(exchange, response, 0.0)
    text = recorded.render(redact) + "\n" + recorded.curl(redact)
    for name in ("code=", "password=", '"refresh_token": "', '"client_secret": "', "SID="):
        assert f"{name}«secret:" in text, (name, text)
    assert "Path=/p; HttpOnly" in text  # the attributes stay readable
    shown = redact(f"Expected: {{'code': {value!r}, 'id_token': {value!r}}}")
    assert shown.count("«secret:") == 2, shown
