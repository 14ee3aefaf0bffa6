"""--awkward-secrets: the opaque values the simulator issues hold + / = & % \\ and non-ASCII
characters, as many as each one's specification allows (codes and refresh tokens: ASCII only,
RFC 6749 A.11/A.17; auth_req_id: base64url and ".", CIBA §7.3), for redaction audits and
encoding bugs; the simulator still works end to end and still conforms."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from psc_testkit.simulator.process import ARGS_VARIABLE, SimulatorProcess
from tests.conftest import PROFILE, client_context, start
from tests.simulator.flows import LOGGED_OUT_URI, Sim, query_of

ROOT = Path(__file__).resolve().parents[2]
ASCII_AWKWARD = set("+/=&%\\")
CIBA = "urn:openid:params:grant-type:ciba"
CIBA_CHARSET = re.compile(r"[A-Za-z0-9._-]+")  # CIBA Core §7.3
VSCHAR = re.compile(r"[\x20-\x7e]+")
# RFC 6265 §4.1.1 cookie-octet.
COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")


def awkward(value: str) -> bool:
    """Every awkward ASCII character, and a non-ASCII one."""
    return set(value) >= ASCII_AWKWARD and not value.isascii()


def awkward_vschar(value: str) -> bool:
    """Every awkward ASCII character, and only VSCHAR (RFC 6749 Appendix A)."""
    return set(value) >= ASCII_AWKWARD and bool(VSCHAR.fullmatch(value))


def awkward_auth_req_id(value: str) -> bool:
    return "." in value and bool(CIBA_CHARSET.fullmatch(value))


@pytest.fixture(scope="module")
def awkward_simulator() -> Iterator[SimulatorProcess]:
    process = start(extra=["--awkward-secrets"])
    yield process
    process.stop()


@pytest.fixture
def asim(awkward_simulator: SimulatorProcess) -> Iterator[Sim]:
    with httpx.Client(verify=client_context(awkward_simulator), timeout=10) as http:
        yield Sim(awkward_simulator, http)


@pytest.mark.parametrize("mode", ["query", "fragment", "form_post"])
def test_codes_and_refresh_tokens_are_awkward_and_still_work(asim, mode):
    params = asim.params(response_mode=mode)
    page = asim.authorize(params)
    answer = asim.login(page, asim.user())
    if mode == "form_post":
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', answer.text))
        code = unescape(fields["code"])
    else:
        code = query_of(answer.headers["location"])["code"]
    assert awkward_vschar(code)
    tokens = asim.back(
        "token_endpoint",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": params["_verifier"],
        },
    )
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert awkward_vschar(body["refresh_token"]) and awkward(body["session_state"])
    assert asim.userinfo(body["access_token"]).status_code == 200
    refreshed = asim.back(
        "token_endpoint", {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    introspected = asim.back("introspection_endpoint", {"token": refreshed.json()["refresh_token"]})
    assert introspected.json()["active"] is True


def test_the_session_cookie_is_encoded_as_rfc_6265_allows_and_read_back(asim):
    page = asim.authorize(asim.params())
    answer = asim.login(page, asim.user())
    header = answer.headers["set-cookie"]
    value = header.split(";", 1)[0].split("=", 1)[1]
    assert COOKIE_OCTETS.fullmatch(value), header  # no quote, backslash or non-ASCII
    assert "+" in value and "&" in value  # cookie-octets stay as they are
    sid = unquote(value)
    assert awkward(sid)
    # Read back: the next authorization is answered by the SSO session, with no login page.
    silent = asim.authorize(asim.params(prompt="none"))
    assert silent.status_code == 302 and "code" in query_of(silent.headers["location"])
    # And the same session ends by its cookie at logout.
    logout = asim.http.get(asim.meta["end_session_endpoint"], params={"confirm": "yes"})
    assert logout.status_code == 200
    after = asim.authorize(asim.params(prompt="none"))
    assert query_of(after.headers["location"])["error"] == "login_required"


def test_e_cps_tx_is_awkward_and_the_wait_page_finds_it(asim):
    page = asim.authorize(asim.params())
    tx = unescape(re.search(r'name="tx" value="([^"]+)"', page.text).group(1))
    assert awkward(tx) and "&amp;" in page.text  # HTML-escaped in the page, as it must be
    pending = asim.login(page, asim.user(), method="ecps")
    location = pending.headers["location"]
    assert location.isascii() and awkward(query_of(location)["tx"])
    status = asim.http.get(asim.wallet_origin + "/auth/ecps/status?" + location.split("?")[1])
    assert status.json()["status"] in ("approved", "pending")
    done = asim.http.get(asim.wallet_origin + location)
    assert done.status_code == 302 and "code" in query_of(done.headers["location"])


def test_ciba_auth_req_id_keeps_to_the_ciba_charset_and_polls(asim):
    started = asim.back(
        "backchannel_authentication_endpoint", {"scope": "openid", "login_hint": asim.user()}
    )
    auth_req_id = started.json()["auth_req_id"]
    assert awkward_auth_req_id(auth_req_id)
    polled = asim.back("token_endpoint", {"grant_type": CIBA, "auth_req_id": auth_req_id})
    assert polled.status_code == 200, polled.text


def test_logout_by_id_token_hint_finds_the_awkward_session(asim):
    tokens = asim.tokens()
    response = asim.http.get(
        asim.meta["end_session_endpoint"],
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LOGGED_OUT_URI},
    )
    assert response.status_code == 302
    assert asim.userinfo(tokens["access_token"]).status_code == 401  # the session has ended


def test_issued_lists_the_awkward_values_spent_or_not(asim):
    asim.tokens()  # a code spent, a tx spent, a session and a refresh token issued
    asim.back("backchannel_authentication_endpoint", {"scope": "openid", "login_hint": asim.user()})
    issued = asim.http.get(asim.process.origin + "/_simulator/issued").json()
    assert issued["awkward_secrets"] is True
    for kind, check in (
        ("codes", awkward_vschar),
        ("refresh_tokens", awkward_vschar),
        ("session_ids", awkward),
    ):
        assert issued[kind] and all(check(v) for v in issued[kind]), kind
    transactions = issued["transactions"]  # tx and auth_req_id
    assert any(awkward(v) for v in transactions) and any(map(awkward_auth_req_id, transactions))
    assert all(awkward(v) or awkward_auth_req_id(v) for v in transactions)
    assert all(COOKIE_OCTETS.fullmatch(v) for v in issued["session_cookies"])
    assert {unquote(v) for v in issued["session_cookies"]} == set(issued["session_ids"])
    # JWTs are left as they are.
    assert all(v.count(".") == 2 and v.isascii() for v in issued["access_tokens"])


@pytest.mark.skipif(
    "--awkward-secrets" in os.environ.get(ARGS_VARIABLE, ""),
    reason=f"{ARGS_VARIABLE} starts every simulator of this run with --awkward-secrets",
)
def test_without_the_option_values_stay_url_safe(sim):
    sim.tokens()
    issued = sim.http.get(sim.process.origin + "/_simulator/issued").json()
    assert issued["awkward_secrets"] is False
    values = [v for kind in ("codes", "refresh_tokens", "session_ids") for v in issued[kind]]
    assert values and all(re.fullmatch(r"[A-Za-z0-9_-]+", v) for v in values)
    assert issued["session_cookies"] == issued["session_ids"]


def test_psc_simulator_args_reach_every_simulator_started(monkeypatch):
    monkeypatch.setenv(ARGS_VARIABLE, "--awkward-secrets --ecps-delay 0")
    command = SimulatorProcess(config=PROFILE).command()
    assert command[-3:] == ["--awkward-secrets", "--ecps-delay", "0"]


def conformance(reports: Path, simulator_args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "psc_testkit", "conformance", "--reports", str(reports)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, ARGS_VARIABLE: simulator_args},
    )


def test_the_conformance_run_starts_its_simulator_with_psc_simulator_args(tmp_path):
    """What proves the next test ran against an awkward simulator: the run's own simulator
    gets PSC_SIMULATOR_ARGS (an option it does not know stops it from starting)."""
    result = conformance(tmp_path, "--no-such-option")
    assert result.returncode != 0
    assert "unrecognized arguments: --no-such-option" in result.stdout + result.stderr


def test_the_conformance_suite_passes_against_an_awkward_simulator(tmp_path):
    result = conformance(tmp_path, "--awkward-secrets")
    summary = json.loads((tmp_path / "summary.json").read_text())
    bad = [
        (c["check"], c["message"]) for c in summary["checks"] if c["verdict"] in ("failed", "error")
    ]
    assert not bad and result.returncode == 0, (bad[:5], result.stdout[-3000:])
    assert summary["counts"]["passed"] >= 200
