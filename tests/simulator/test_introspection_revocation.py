"""Introspection (RFC 7662, PSC's fields) and revocation (RFC 7009)."""

import pytest

from psc_testkit.simulator.settings import load_settings
from tests.conftest import PROFILE


def test_active_access_token_introspects_with_psc_fields(sim):
    tokens = sim.tokens()
    response = sim.back("introspection_endpoint", {"token": tokens["access_token"]})
    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == "psc-testkit-basic"
    assert body["SubjectNameID"] == body["username"] == body["preferred_username"]
    assert body["authMode"] == "CARD" and body["acr"] == load_settings(PROFILE).acr["cps"]
    assert body["otherIds"][0]["identifiant"] == body["SubjectNameID"]


def test_refresh_token_introspects_as_refresh(sim):
    tokens = sim.tokens()
    body = sim.back("introspection_endpoint", {"token": tokens["refresh_token"]}).json()
    assert body["active"] is True and body["typ"] == "Refresh"


@pytest.mark.parametrize("token", ["unknown", ""])
def test_unknown_token_is_inactive_or_invalid(sim, token):
    response = sim.back("introspection_endpoint", {"token": token})
    if token:
        assert response.status_code == 200 and response.json() == {"active": False}
    else:
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_introspection_needs_client_authentication(sim):
    tokens = sim.tokens()
    response = sim.http.post(
        sim.meta["introspection_endpoint"], data={"token": tokens["access_token"]}
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    public = sim.back(
        "introspection_endpoint", {"token": tokens["access_token"]}, client_id="psc-testkit-public"
    )
    assert public.status_code == 401


def test_revoked_access_token_is_unusable(sim):
    tokens = sim.tokens()
    revoke = sim.back(
        "revocation_endpoint", {"token": tokens["access_token"], "token_type_hint": "access_token"}
    )
    assert revoke.status_code == 200
    assert sim.userinfo(tokens["access_token"]).status_code == 401
    body = sim.back("introspection_endpoint", {"token": tokens["access_token"]}).json()
    assert body == {"active": False}


def test_revoked_refresh_token_ends_the_grant(sim):
    tokens = sim.tokens()
    # A wrong hint must not stop the search (RFC 7009 §2.1).
    revoke = sim.back(
        "revocation_endpoint", {"token": tokens["refresh_token"], "token_type_hint": "access_token"}
    )
    assert revoke.status_code == 200
    refresh = sim.back(
        "token_endpoint", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert sim.userinfo(tokens["access_token"]).status_code == 401


def test_revoking_an_unknown_token_is_still_200(sim):
    assert sim.back("revocation_endpoint", {"token": "never-issued"}).status_code == 200


def test_a_client_cannot_revoke_another_clients_token(sim):
    tokens = sim.tokens()
    response = sim.back(
        "revocation_endpoint", {"token": tokens["access_token"]}, client_id="psc-testkit-post"
    )
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"
    assert sim.userinfo(tokens["access_token"]).status_code == 200
