"""OpenID Connect CIBA Core 1.0, poll mode — as PSC runs it (login_hint = idNat,
binding_message, channel CARD|MOBILE).

Approval, denial and expiry need the user's phone: against the simulator its control API plays
the phone, against a Keycloak the authentication channel the suite serves for it
(`ciba_phone_url`, psc_testkit/interop/ciba_channel.py); against PSC with the ciba driver, the
driver tells the tester what to answer on their e-CPS app and the check polls until they did;
with another driver those checks are skipped.
"""

import pytest

from conformance.helpers import body_of, error_of, expect, expect_error, needs
from psc_testkit.client import flow
from psc_testkit.client.drivers.ciba import CibaDriver
from psc_testkit.client.drivers.ciba import poll as ciba_poll
from psc_testkit.conformance.harness import SafeModeRefusal, TargetError


@pytest.fixture
def ciba_client(meta, target):
    if target.safe:
        # A CIBA request names a professional whose phone rings: none is sent in safe mode.
        raise SafeModeRefusal("safe profile: this check asks a user's phone (CIBA)")
    needs(meta, "backchannel_authentication_endpoint")
    client = next((c for c in target.clients if c.ciba), None)
    if client is None:
        pytest.skip("the profile has no CIBA-enabled client")
    return client


BINDING = "42"


def start(harness, client, user, **extra):
    request = flow.ciba_request(
        harness.meta,
        client,
        user,
        harness.target.scope,
        binding_message=BINDING,
        acr_values=harness.target.acr_values,
        **extra,
    )
    return harness.send(request)


def poll(harness, client, auth_req_id):
    """One poll at once, whatever the interval (for the check that polls too fast)."""
    return harness.send(flow.ciba_token_request(harness.meta, client, auth_req_id))


def phone(harness, user, decision):
    """The e-CPS phone's answer: the simulator's control API plays it; with the ciba driver, the
    tester gives it on their e-CPS app when the driver asks."""
    target = harness.target
    url = target.ciba_phone_url
    if target.control_origin and not url:
        url = f"{target.control_origin}/_simulator/phone"
    if url:
        answered = harness.http.back().post(url, json={"login_hint": user, "decision": decision})
        if answered.status_code != 200:
            raise TargetError(f"the phone at {url} answered HTTP {answered.status_code}")
    elif isinstance(harness.driver, CibaDriver):
        harness.driver.ask(user, BINDING, decision)
    else:
        pytest.skip("needs the e-CPS phone: the simulator's, or a tester's with the ciba driver")


def polled(harness, client, response, *, until_answered=True, max_slow_downs=None):
    """The token endpoint's answer, polled as a client must (drivers.ciba.poll): the interval
    the acknowledgment gives (5 s without one, CIBA §7.3) before each poll, 5 s more after
    slow_down. Time passes on the simulator's clock (harness.wait), on the wall clock for a
    tester with the ciba driver, who takes their time to answer."""
    body = body_of(response)
    interval = body.get("interval")
    interval = interval if isinstance(interval, int) and interval > 0 else 5
    expires_in = body.get("expires_in")
    limit = expires_in if isinstance(expires_in, int) and expires_in > 0 else 120
    if isinstance(harness.driver, CibaDriver) and not harness.target.control_origin:
        limit = min(limit, harness.driver.login_timeout)
    answer = ciba_poll(
        harness.send,
        harness.meta,
        client,
        body["auth_req_id"],
        interval=interval,
        limit=limit,
        wait=harness.wait,
        until_answered=until_answered,
        max_slow_downs=max_slow_downs,
    )
    if answer is None:
        raise TargetError(f"CIBA: no poll within {limit} s")  # nothing to judge
    return answer


@pytest.fixture
def waiting(harness, ciba_client):
    """A CIBA request the phone has not answered yet."""
    user = harness.user(7)
    phone(harness, user, "ignore")
    response = start(harness, ciba_client, user)
    yield user, response
    if harness.target.control_origin or harness.target.ciba_phone_url:
        phone(harness, user, "approve")  # the simulated phone's default again


@pytest.mark.requirement("CIBA-7.3", "MUST")
def test_authentication_request_is_acknowledged(waiting):
    """CIBA-7.3 MUST. A successful request gets HTTP 200 with auth_req_id (REQUIRED), expires_in
    (REQUIRED) and, in poll mode, interval (OPTIONAL)."""
    _, response = waiting
    body = body_of(response)
    expect(
        response.status_code == 200
        and isinstance(body.get("auth_req_id"), str)
        and isinstance(body.get("expires_in"), int)
        and body["expires_in"] > 0,
        "HTTP 200 with auth_req_id and expires_in",
        f"HTTP {response.status_code} {list(body)}",
    )


@pytest.mark.requirement("CIBA-11", "MUST")
def test_polling_before_approval_is_authorization_pending(harness, ciba_client, waiting):
    """CIBA-11 MUST. "authorization_pending: The authorization request is still pending as the
    end-user hasn't yet been authenticated"."""
    _, response = waiting
    # At the interval, not sooner: a poll sooner may rightly be slow_down. Two slow_downs are
    # honoured; a third, at an interval already 10 s longer, is not a pending answer.
    pending = polled(harness, ciba_client, response, until_answered=False, max_slow_downs=2)
    expect(
        error_of(pending) == "authorization_pending" and pending.status_code == 400,
        "HTTP 400 authorization_pending",
        f"HTTP {pending.status_code} {error_of(pending)}",
    )


@pytest.mark.requirement("CIBA-11", "MAY")
def test_polling_too_fast_is_slow_down(harness, ciba_client, waiting):
    """CIBA-11 MAY (OP) / MUST (client). "slow_down: A variant of "authorization_pending", the
    authorization request is still pending and polling should continue, but the interval MUST
    be increased by at least 5 seconds for this and all subsequent requests." (CIBA §11). The
    MUST binds the client; CIBA defines the code but never requires the OP to send it, so an OP
    that answers authorization_pending to fast polls complies: noted, never a failure."""
    _, response = waiting
    auth_req_id = body_of(response)["auth_req_id"]
    errors = [error_of(poll(harness, ciba_client, auth_req_id)) for _ in range(3)]
    expect("slow_down" in errors, "slow_down for polls without waiting", errors)


@pytest.mark.requirement("CIBA-10.1.1", "MUST")
def test_approved_request_returns_tokens(harness, ciba_client, waiting):
    """CIBA-10.1.1 MUST (Successful Token Response). Once the user approves, the token endpoint
    answers the CIBA grant with the Successful Token Response of OIDC Core §3.1.3.3, whose
    "following parameters MUST be included in the response: id_token" beside access_token."""
    user, response = waiting
    phone(harness, user, "approve")
    tokens = polled(harness, ciba_client, response)
    body = body_of(tokens)
    expect(
        tokens.status_code == 200 and "access_token" in body and "id_token" in body,
        "HTTP 200 with access_token and id_token",
        f"HTTP {tokens.status_code} {list(body)}",
    )


@pytest.mark.requirement("CIBA-11", "MUST")
def test_denied_request_is_access_denied(harness, ciba_client, waiting):
    """CIBA-11 MUST. "access_denied: The end-user denied the authorization request"."""
    user, response = waiting
    phone(harness, user, "deny")
    denied = polled(harness, ciba_client, response)
    expect_error(denied, ("access_denied",))


@pytest.mark.requirement("CIBA-7.2", "SHOULD")
def test_unknown_user_is_refused(harness, ciba_client):
    """CIBA-7.2 SHOULD. "The OpenID Provider MUST process the hint provided to determine if the
    hint is valid and if it corresponds to a valid user. ... If the hint is not valid or if the
    OP is not able to determine the user then an error should be returned to the Client as per
    Section Authentication Error Response." (CIBA §7.2; the error is a lower-case should, and
    §13 only defines unknown_user_id)."""
    response = start(harness, ciba_client, "812345678903")
    expect_error(response, ("unknown_user_id", "invalid_request"))


@pytest.mark.requirement("CIBA-7.1", "MAY")
def test_request_without_openid_scope_is_refused(harness, ciba_client):
    """CIBA-7.1 MAY (OP) / MUST (client). "CIBA authentication requests MUST therefore contain
    the openid scope value. The behavior when the openid scope value is not present is
    unspecified" (CIBA §7.1, scope): the MUST binds the client, and an OP may serve such a
    request (a plain OAuth flow, as Keycloak does): refusing it is noted, never required."""
    request = flow.ciba_request(harness.meta, ciba_client, harness.user(8), "scope_all")
    response = harness.send(request)
    expect_error(response, ("invalid_scope", "invalid_request"))


@pytest.mark.requirement("CIBA-7.2", "MUST")
def test_request_without_hint_is_refused(harness, ciba_client):
    """CIBA-7.2 MUST. "The OpenID Provider MUST verify that all the REQUIRED parameters are
    present and their usage conforms to this specification." (CIBA §7.2); one of the hints is
    REQUIRED in the request (§7.1, the client's side)."""
    headers, fields = flow.authenticate(
        ciba_client, harness.meta["backchannel_authentication_endpoint"]
    )
    request = flow.HttpRequest(
        "POST",
        harness.meta["backchannel_authentication_endpoint"],
        headers,
        {**fields, "scope": harness.target.scope},
        ciba_client.client_id,
    )
    response = harness.send(request)
    expect_error(response, ("invalid_request",))


@pytest.mark.requirement("CIBA-7.2", "MUST")
def test_request_needs_client_authentication(harness, ciba_client):
    """CIBA-7.2 MUST. "The OpenID Provider MUST validate the request received as follows: 1.
    Authenticate the Client per the authentication method registered or configured for its
    client_id." (CIBA §7.2) — a request without client credentials is invalid_client."""
    request = flow.HttpRequest(
        "POST",
        harness.meta["backchannel_authentication_endpoint"],
        form={
            "scope": harness.target.scope,
            "login_hint": harness.user(),
            "client_id": ciba_client.client_id,
        },
    )
    response = harness.send(request)
    expect(
        response.status_code in (400, 401) and error_of(response) == "invalid_client",
        "HTTP 401 invalid_client",
        f"HTTP {response.status_code} {error_of(response)}",
    )
