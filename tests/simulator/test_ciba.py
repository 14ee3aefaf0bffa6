"""CIBA poll mode as PSC runs it: login_hint = idNat, binding_message, channel CARD|MOBILE."""

import pytest

CIBA = "urn:openid:params:grant-type:ciba"


def start(sim, id_nat, **extra):
    data = {
        "scope": "openid scope_all",
        "login_hint": id_nat,
        "binding_message": "42",
        "acr_values": "eidas1",
        **extra,
    }
    return sim.back("backchannel_authentication_endpoint", data)


def poll(sim, auth_req_id, client_id="psc-testkit-basic"):
    return sim.back("token_endpoint", {"grant_type": CIBA, "auth_req_id": auth_req_id}, client_id)


def test_ciba_request_is_pending_then_slowed_then_approved(sim):
    id_nat = sim.user()
    sim.phone(id_nat, "ignore")
    try:
        started = start(sim, id_nat)
        assert started.status_code == 200
        body = started.json()
        assert body["expires_in"] == 120 and body["interval"] >= 1
        assert poll(sim, body["auth_req_id"]).json()["error"] == "authorization_pending"
        assert poll(sim, body["auth_req_id"]).json()["error"] == "slow_down"  # no wait between
        sim.phone(id_nat, "approve")
        tokens = poll(sim, body["auth_req_id"])
        assert tokens.status_code == 200, tokens.text
        info = sim.userinfo(tokens.json()["access_token"]).json()
        assert info["SubjectNameID"] == id_nat and info["authMode"] == "MOBILE"
        # The auth_req_id is spent once the tokens are issued.
        assert poll(sim, body["auth_req_id"]).json()["error"] == "invalid_grant"
    finally:
        sim.phone(id_nat, "approve")


def test_ciba_card_channel_reports_card(sim):
    id_nat = sim.user()
    body = start(sim, id_nat, channel="CARD").json()
    tokens = poll(sim, body["auth_req_id"]).json()
    assert sim.userinfo(tokens["access_token"]).json()["authMode"] == "CARD"


def test_ciba_denied_on_the_phone_is_access_denied(sim):
    id_nat = sim.user()
    sim.phone(id_nat, "deny")
    try:
        body = start(sim, id_nat).json()
        response = poll(sim, body["auth_req_id"])
        assert response.status_code == 400 and response.json()["error"] == "access_denied"
    finally:
        sim.phone(id_nat, "approve")


def test_ciba_with_mtls_client(sim, mtls_http):
    id_nat = sim.user()
    started = sim.back(
        "backchannel_authentication_endpoint",
        {"scope": "openid scope_all", "login_hint": id_nat},
        client_id="psc-testkit-mtls",
        http=mtls_http,
    )
    assert started.status_code == 200
    tokens = sim.back(
        "token_endpoint",
        {"grant_type": CIBA, "auth_req_id": started.json()["auth_req_id"]},
        client_id="psc-testkit-mtls",
        http=mtls_http,
    )
    assert tokens.status_code == 200


def test_auth_req_id_is_bound_to_its_client(sim):
    body = start(sim, sim.user()).json()
    response = sim.back(
        "token_endpoint",
        {"grant_type": CIBA, "auth_req_id": body["auth_req_id"]},
        client_id="psc-testkit-post",
    )
    assert response.status_code == 400  # post is not CIBA-enabled, and not the owner either


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"login_hint": "812345678903"}, "unknown_user_id"),
        ({"scope": "scope_all"}, "invalid_scope"),
        ({"channel": "FAX"}, "invalid_request"),
        ({"binding_message": "x" * 65}, "invalid_binding_message"),
        ({"id_token_hint": "x"}, "invalid_request"),
        ({"requested_expiry": "0"}, "invalid_request"),
    ],
)
def test_invalid_ciba_requests(sim, extra, error):
    response = start(sim, sim.user(), **extra)
    assert response.status_code == 400 and response.json()["error"] == error


def test_ciba_needs_a_ciba_enabled_client(sim):
    response = sim.back(
        "backchannel_authentication_endpoint",
        {"scope": "openid", "login_hint": sim.user()},
        client_id="psc-testkit-post",
    )
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"
