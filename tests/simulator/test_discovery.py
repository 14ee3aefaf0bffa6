"""Provider metadata and JWKS, as PSC publishes them (non-standard discovery path included)."""

import jwt

REQUIRED = (  # OIDC Discovery 1.0 §3 REQUIRED, plus what PSC's clients rely on
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "userinfo_endpoint",
    "end_session_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
    "backchannel_authentication_endpoint",
)


def test_both_discovery_paths_serve_the_same_document(sim):
    psc = sim.http.get(sim.process.issuer + "/.well-known/wallet-openid-configuration")
    std = sim.http.get(sim.process.issuer + "/.well-known/openid-configuration")
    assert psc.status_code == std.status_code == 200
    assert psc.headers["content-type"] == "application/json"
    assert psc.json() == std.json()


def test_metadata_is_complete_and_psc_shaped(sim):
    meta = sim.meta
    for name in REQUIRED:
        assert meta[name], name
    assert meta["issuer"] == sim.process.issuer
    assert meta["issuer"].endswith("/auth/realms/esante-wallet")
    # The authorization endpoint lives on the other ("wallet") host, as in PSC.
    assert meta["authorization_endpoint"] == sim.process.wallet
    assert not meta["authorization_endpoint"].startswith(meta["issuer"].split("/auth/")[0] + "/")
    assert meta["backchannel_authentication_endpoint"].endswith(
        "/protocol/openid-connect/ext/ciba/auth"
    )
    assert {"openid", "scope_all"} <= set(meta["scopes_supported"])
    assert "eidas1" in meta["acr_values_supported"]
    assert {"SubjectNameID", "SubjectRefPro", "otherIds", "authMode"} <= set(
        meta["claims_supported"]
    )
    assert set(meta["code_challenge_methods_supported"]) == {"plain", "S256"}
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "tls_client_auth",
    }
    assert meta["backchannel_token_delivery_modes_supported"] == ["poll"]
    assert meta["request_uri_parameter_supported"] is False
    assert meta["tls_client_certificate_bound_access_tokens"] is True


def test_jwks_publishes_rsa_public_keys_with_unique_kids(sim):
    keys = sim.http.get(sim.meta["jwks_uri"]).json()["keys"]
    assert keys
    assert len({k["kid"] for k in keys}) == len(keys)
    for key in keys:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert len(key["n"]) >= 342  # base64url of a modulus of at least 2048 bits


def test_key_rotation_keeps_the_previous_key_published(sim):
    before = sim.tokens()
    kid_before = sim.http.get(sim.meta["jwks_uri"]).json()["keys"][0]["kid"]
    new_kid = sim.http.post(f"{sim.process.origin}/_simulator/rotate-keys").json()["kid"]
    kids = [k["kid"] for k in sim.http.get(sim.meta["jwks_uri"]).json()["keys"]]
    assert kids == [new_kid, kid_before]
    # A token signed before the rotation still verifies; a new one is signed with the new key.
    assert sim.verify(before["id_token"], "psc-testkit-basic")["aud"] == "psc-testkit-basic"
    after = sim.tokens()
    assert jwt.get_unverified_header(after["id_token"])["kid"] == new_kid
