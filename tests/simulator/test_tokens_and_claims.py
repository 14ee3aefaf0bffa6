"""ID token, access token and userinfo contents: OIDC Core §2, §3.1.3.6, §5.3 and PSC's shape."""

import jwt
import pytest

from psc_testkit.claims.identifiers import luhn_valid
from psc_testkit.simulator.keys import at_hash
from psc_testkit.simulator.settings import load_settings
from tests.conftest import PROFILE

# The acr per means of login the profile sets ([simulator] acr), not a value written here.
PROFILE_ACR = load_settings(PROFILE).acr


def test_id_token_carries_every_core_claim(sim):
    result = sim.code()
    tokens = sim.token(result).json()
    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = sim.verify(tokens["id_token"], "psc-testkit-basic")
    assert claims["iss"] == sim.process.issuer
    assert claims["aud"] == claims["azp"] == "psc-testkit-basic"
    assert claims["nonce"] == result.params["nonce"]
    assert claims["at_hash"] == at_hash(tokens["access_token"])
    assert claims["exp"] - claims["iat"] == 120
    assert claims["auth_time"] <= claims["iat"]
    assert claims["acr"] == PROFILE_ACR["cps"] and claims["amr"] == ["sc", "pin"]  # CPS card
    assert claims["sid"]
    # Keycloak's federated form f:<provider uuid>:<idNat>; the idNat is 8+RPPS (12 characters)
    # or 0+ADELI (10), whichever professional this login drew.
    prefix, provider, id_nat = claims["sub"].split(":")
    assert prefix == "f" and len(provider) == 36 and id_nat.isdigit() and len(id_nat) in (10, 12)


def test_ecps_login_is_reported_as_mobile(sim):
    tokens = sim.token(sim.code(method="ecps")).json()
    claims = sim.verify(tokens["id_token"], "psc-testkit-basic")
    assert claims["acr"] == PROFILE_ACR["ecps"] and "mfa" in claims["amr"]
    assert sim.userinfo(tokens["access_token"]).json()["authMode"] == "MOBILE"


def test_access_token_is_a_psc_shaped_jwt(sim):
    tokens = sim.tokens()
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header == {"alg": "RS256", "typ": "JWT", "kid": header["kid"]}
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    for name in (
        "exp",
        "iat",
        "auth_time",
        "jti",
        "iss",
        "sub",
        "typ",
        "azp",
        "nonce",
        "session_state",
        "acr",
        "scope",
        "sid",
        "authMode",
        "otherIds",
        "preferred_username",
    ):
        assert name in claims, name
    assert claims["typ"] == "Bearer" and claims["exp"] - claims["iat"] == 120
    assert claims["scope"] == "openid scope_all"


def test_userinfo_has_the_psc_sectoral_claims_with_valid_identifiers(sim):
    tokens = sim.tokens()
    response = sim.userinfo(tokens["access_token"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    info = response.json()
    id_token = sim.verify(tokens["id_token"], "psc-testkit-basic")
    assert info["sub"] == id_token["sub"]
    assert info["SubjectNameID"] == info["preferred_username"]
    assert info["SubjectNameID"][0] in "08"
    if info["SubjectNameID"].startswith("8"):
        assert luhn_valid(info["SubjectNameID"][1:])
    assert info["otherIds"][0]["identifiant"] == info["SubjectNameID"]
    refpro = info["SubjectRefPro"]
    assert refpro["codeCivilite"] in ("M", "MME")
    exercice = refpro["exercices"][0]
    assert info["SubjectRole"][0] == exercice["codeProfession"] + "^1.2.250.1.213.1.1.5.5"
    activity = exercice["activities"][0]
    assert activity["codeModeExercice"] in ("L", "S")
    assert info["Secteur_Activite"] == activity["codeSecteurDactivite"] + "^1.2.250.1.71.4.2.4"
    assert info["SubjectOrganizationID"] == activity["identifiantTechniqueDeLaStructure"]
    assert len(activity) == 30  # every activity key is present, even when empty


def test_without_scope_all_only_the_identite_pivot_is_released(sim):
    info = sim.userinfo(sim.tokens(scope="openid")["access_token"]).json()
    assert set(info) == {"sub", "SubjectNameID", "preferred_username", "given_name", "family_name"}


@pytest.mark.parametrize("how", ["get", "post-header", "post-body"])
def test_userinfo_accepts_the_three_rfc6750_methods(sim, how):
    token = sim.tokens()["access_token"]
    url = sim.meta["userinfo_endpoint"]
    if how == "get":
        response = sim.http.get(url, headers={"Authorization": f"Bearer {token}"})
    elif how == "post-header":
        response = sim.http.post(url, headers={"Authorization": f"Bearer {token}"})
    else:
        response = sim.http.post(url, data={"access_token": token})
    assert response.status_code == 200 and response.json()["SubjectNameID"]


def test_userinfo_without_a_token_is_a_bare_bearer_challenge(sim):
    response = sim.http.get(sim.meta["userinfo_endpoint"])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="esante-wallet"'


@pytest.mark.parametrize("token", ["garbage", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_userinfo_with_a_bad_token_is_invalid_token(sim, token):
    response = sim.userinfo(token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_userinfo_with_a_token_in_header_and_body_is_invalid_request(sim):
    token = sim.tokens()["access_token"]
    response = sim.http.post(
        sim.meta["userinfo_endpoint"],
        data={"access_token": token},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_userinfo_is_a_signed_jwt_for_clients_registered_so(sim):
    tokens = sim.tokens("psc-testkit-jwt")
    response = sim.userinfo(tokens["access_token"])
    assert response.headers["content-type"] == "application/jwt"
    claims = sim.verify(response.text, "psc-testkit-jwt")
    assert claims["iss"] == sim.process.issuer
    assert claims["sub"] == sim.verify(tokens["id_token"], "psc-testkit-jwt")["sub"]
    assert "SubjectRefPro" in claims


def test_sub_is_stable_across_logins_of_one_professional(sim):
    id_nat = sim.user()
    first = sim.verify(sim.token(sim.code(id_nat=id_nat)).json()["id_token"], "psc-testkit-basic")
    sim.http.cookies.clear()
    again = sim.verify(sim.token(sim.code(id_nat=id_nat)).json()["id_token"], "psc-testkit-basic")
    assert first["sub"] == again["sub"] and first["sid"] != again["sid"]


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_grant(sim):
    tokens = sim.tokens()
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    first = sim.back("token_endpoint", refresh)
    assert first.status_code == 200
    new = first.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    claims = sim.verify(new["id_token"], "psc-testkit-basic")
    original = sim.verify(tokens["id_token"], "psc-testkit-basic")
    # OIDC Core §12.2: same iss, sub, aud, auth_time, azp; no nonce needed.
    for name in ("iss", "sub", "aud", "auth_time", "azp"):
        assert claims[name] == original[name]
    assert "nonce" not in claims
    reuse = sim.back("token_endpoint", refresh)
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert sim.userinfo(new["access_token"]).status_code == 401  # the grant is revoked


def test_refresh_token_is_bound_to_its_client(sim):
    tokens = sim.tokens()
    response = sim.back(
        "token_endpoint",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id="psc-testkit-post",
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_refresh_cannot_widen_the_scope(sim):
    tokens = sim.tokens(scope="openid")
    response = sim.back(
        "token_endpoint",
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "openid scope_all",
        },
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
