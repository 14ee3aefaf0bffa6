"""The token endpoint: client authentication, codes, PKCE, errors (RFC 6749 §4.1.3, §5)."""

import base64
import hashlib

import pytest

CIBA = "urn:openid:params:grant-type:ciba"


def error_of(response):
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) <= {"error", "error_description", "error_uri"}
    return body["error"]


@pytest.mark.parametrize(
    "client_id", ["psc-testkit-basic", "psc-testkit-post", "psc-testkit-jwt", "psc-testkit-public"]
)
def test_each_auth_method_exchanges_a_code(sim, client_id):
    response = sim.token(sim.code(client_id))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert {"access_token", "id_token", "refresh_token", "expires_in"} <= set(body)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["content-type"] == "application/json"


def test_tls_client_auth_exchanges_a_code_and_binds_the_token(sim, mtls_http):
    response = sim.token(sim.code("psc-testkit-mtls"), http=mtls_http)
    assert response.status_code == 200, response.text
    import jwt

    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert len(claims["cnf"]["x5t#S256"]) == 43
    # RFC 8705 §3: the bound token works with the certificate and not without it.
    assert sim.userinfo(response.json()["access_token"], http=mtls_http).status_code == 200
    assert sim.userinfo(response.json()["access_token"]).status_code == 401


def test_tls_client_auth_without_certificate_is_invalid_client(sim):
    response = sim.token(sim.code("psc-testkit-mtls"))
    assert response.status_code == 401 and error_of(response) == "invalid_client"


def test_wrong_secret_is_invalid_client_with_basic_challenge(sim):
    result = sim.code()
    response = sim.http.post(
        sim.meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": result.code,
            "redirect_uri": result.params["redirect_uri"],
            "code_verifier": result.verifier,
        },
        auth=("psc-testkit-basic", "wrong"),
    )
    assert response.status_code == 401 and error_of(response) == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_a_method_other_than_the_registered_one_is_refused(sim):
    result = sim.code("psc-testkit-post")
    response = sim.http.post(
        sim.meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": result.code,
            "redirect_uri": result.params["redirect_uri"],
            "code_verifier": result.verifier,
        },
        auth=("psc-testkit-post", "sim-post-83b7e0f215"),
    )
    assert response.status_code == 401 and error_of(response) == "invalid_client"


def test_replayed_client_assertion_is_refused(sim):
    _, fields = sim.client_auth("psc-testkit-jwt")
    first = sim.token(sim.code("psc-testkit-jwt"))
    assert first.status_code == 200
    result = sim.code("psc-testkit-jwt")
    data = {
        "grant_type": "authorization_code",
        "code": result.code,
        "redirect_uri": result.params["redirect_uri"],
        "code_verifier": result.verifier,
    }
    assert sim.http.post(sim.meta["token_endpoint"], data={**fields, **data}).status_code == 200
    result = sim.code("psc-testkit-jwt")
    data["code"], data["code_verifier"] = result.code, result.verifier
    again = sim.http.post(sim.meta["token_endpoint"], data={**fields, **data})
    assert again.status_code == 401 and error_of(again) == "invalid_client"


def test_code_is_single_use_and_a_replay_revokes_its_tokens(sim):
    result = sim.code()
    first = sim.token(result)
    assert first.status_code == 200
    assert sim.userinfo(first.json()["access_token"]).status_code == 200
    replay = sim.token(result)
    assert replay.status_code == 400 and error_of(replay) == "invalid_grant"
    assert sim.userinfo(first.json()["access_token"]).status_code == 401
    refresh = sim.back(
        "token_endpoint",
        {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
    )
    assert refresh.status_code == 400 and error_of(refresh) == "invalid_grant"


def test_code_is_bound_to_its_client(sim):
    result = sim.code("psc-testkit-basic")
    response = sim.token(result, client_id="psc-testkit-post")
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


def test_code_is_bound_to_its_redirect_uri(sim):
    response = sim.token(sim.code(), redirect_uri="https://rp.psc-testkit.test/callback")
    assert response.status_code == 400 and error_of(response) == "invalid_grant"
    response = sim.token(sim.code(), redirect_uri=None)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


@pytest.mark.parametrize("verifier", [None, "x" * 43, "wrong-" * 10])
def test_pkce_verifier_must_match(sim, verifier):
    response = sim.token(sim.code(), code_verifier=verifier)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


def test_plain_pkce_is_supported(sim):
    verifier = "p" * 50
    result = sim.code(code_challenge=verifier, code_challenge_method="plain")
    assert sim.token(result, code_verifier=verifier).status_code == 200


def test_verifier_without_challenge_is_a_downgrade_and_refused(sim):
    result = sim.code(code_challenge=None, code_challenge_method=None)
    response = sim.token(result, code_verifier="v" * 43)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


def test_s256_challenge_is_checked_against_the_verifier_hash(sim):
    verifier = "s" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    result = sim.code(code_challenge=challenge.decode())
    assert sim.token(result, code_verifier=verifier).status_code == 200


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password", "username": "u", "password": "p"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, "invalid_request"),
        (
            {"grant_type": "authorization_code", "code": "nope", "redirect_uri": "x"},
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, "invalid_grant"),
        ({"grant_type": CIBA, "auth_req_id": "nope"}, "invalid_grant"),
    ],
)
def test_errors_follow_rfc6749_section_5_2(sim, data, error):
    response = sim.back("token_endpoint", data)
    assert response.status_code == 400
    assert error_of(response) == error
    assert response.headers["cache-control"] == "no-store"


def test_form_content_type_is_required(sim):
    response = sim.http.post(
        sim.meta["token_endpoint"],
        json={"grant_type": "authorization_code"},
        auth=("psc-testkit-basic", "sim-basic-6f1d2c9a4e"),
    )
    assert response.status_code == 400 and error_of(response) == "invalid_request"


def test_public_client_cannot_use_ciba(sim):
    response = sim.back(
        "token_endpoint", {"grant_type": CIBA, "auth_req_id": "x"}, client_id="psc-testkit-public"
    )
    assert response.status_code == 400 and error_of(response) == "unauthorized_client"
