"""A third-party OIDC client completes full flows against the simulator: Authlib drives the
code + PKCE flow and client authentication, joserfc validates the ID token. Our code only plays
the user at the login page."""

import html

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.simulator.flows import REDIRECT_URI, SECRETS, TX


def user_logs_in(sim, authorization_url: str) -> str:
    """What the professional does in the browser; returns the callback URL."""
    browser = requests.Session()
    # requests lets REQUESTS_CA_BUNDLE override a session's verify (psf/requests#3829).
    browser.trust_env = False
    browser.verify = sim.process.ca
    page = browser.get(authorization_url, allow_redirects=False)
    tx = html.unescape(TX.search(page.text).group(1))  # "&" is "&amp;" in the page
    done = browser.post(
        sim.wallet_origin + "/auth/login",
        data={"tx": tx, "method": "cps", "idNat": sim.user()},
        allow_redirects=False,
    )
    assert done.status_code == 302
    return done.headers["location"]


@pytest.mark.parametrize(
    "client_id", ["psc-testkit-basic", "psc-testkit-jwt", "psc-testkit-public"]
)
def test_authlib_completes_code_flow_with_pkce(sim, client_id):
    meta = sim.meta
    if client_id == "psc-testkit-jwt":
        key = (sim.process.state_dir / f"{client_id}.key.pem").read_text()
        client = OAuth2Session(
            client_id,
            key,
            token_endpoint_auth_method="private_key_jwt",
            scope="openid scope_all",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
        )
        client.register_client_auth_method(PrivateKeyJWT(meta["token_endpoint"]))
    else:
        method = "none" if client_id == "psc-testkit-public" else "client_secret_basic"
        client = OAuth2Session(
            client_id,
            SECRETS.get(client_id),
            token_endpoint_auth_method=method,
            scope="openid scope_all",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
        )
    client.trust_env = False
    client.verify = sim.process.ca
    verifier = "v" * 20 + "erifier-of-fifty-characters-exactly-ok"
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"],
        code_verifier=verifier,
        nonce="n-0S6_WzA2Mj",
        acr_values="eidas1",
    )
    callback = user_logs_in(sim, url)
    token = client.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
    )
    assert token["token_type"] == "Bearer"

    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], verify=sim.process.ca).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": meta["issuer"]},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": "n-0S6_WzA2Mj"},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
    )
    registry.validate(decoded.claims)

    info = client.get(meta["userinfo_endpoint"])
    assert info.status_code == 200
    if info.headers["content-type"] == "application/jwt":  # psc-testkit-jwt is registered so
        claims = jwt.decode(info.text, keys, algorithms=["RS256"]).claims
    else:
        claims = info.json()
    assert claims["sub"] == decoded.claims["sub"]

    refreshed = client.refresh_token(meta["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]
