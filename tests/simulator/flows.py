"""Test-side steps against the simulator over real HTTP: each test composes what it needs.

These drive the protocol by hand on purpose (the self-tests probe edge cases the client core
would refuse to produce); the conformance suite uses the client core instead.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from psc_testkit.simulator.process import SimulatorProcess

REDIRECT_URI = "http://127.0.0.1:8080/callback"
LOGGED_OUT_URI = "http://127.0.0.1:8080/logged-out"
SECRETS = {
    "psc-testkit-basic": "sim-basic-6f1d2c9a4e",
    "psc-testkit-post": "sim-post-83b7e0f215",
}
TX = re.compile(r'name="tx" value="([^"]+)"')


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    return {k: v[0] for k, v in parse_qs(parts.query or parts.fragment).items()}


@dataclass
class CodeResult:
    code: str
    verifier: str
    params: dict[str, str]
    callback: dict[str, str]


@dataclass
class Sim:
    process: SimulatorProcess
    http: httpx.Client

    @cached_property
    def meta(self) -> dict:
        url = self.process.issuer + "/.well-known/wallet-openid-configuration"
        return self.http.get(url).json()

    @property
    def wallet_origin(self) -> str:
        return self.process.wallet.rsplit("/auth", 1)[0]

    def users(self, n: int = 20, offset: int = 0) -> list[str]:
        url = f"{self.process.origin}/_simulator/users?limit={n}&offset={offset}"
        return [u["idNat"] for u in self.http.get(url).json()["users"]]

    def user(self) -> str:
        """A test professional no other test in this worker uses (sessions stay independent)."""
        return self.users(1, offset=secrets.randbelow(9000))[0]

    # Control API ----------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        r = self.http.post(f"{self.process.origin}/_simulator/clock", json={"advance": seconds})
        r.raise_for_status()

    def phone(self, id_nat: str, decision: str) -> None:
        r = self.http.post(
            f"{self.process.origin}/_simulator/phone",
            json={"login_hint": id_nat, "decision": decision},
        )
        r.raise_for_status()

    # Front channel --------------------------------------------------------------------------

    def params(self, client_id: str = "psc-testkit-basic", **overrides: str | None) -> dict:
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid scope_all",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "acr_values": "eidas1",
            "_verifier": verifier,
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, params: dict, method: str = "GET") -> httpx.Response:
        sent = {k: v for k, v in params.items() if not k.startswith("_")}
        url = self.meta["authorization_endpoint"]
        if method == "POST":
            return self.http.post(url, data=sent)
        return self.http.get(url, params=sent)

    def login(self, page: httpx.Response, id_nat: str, method: str = "cps") -> httpx.Response:
        assert page.status_code == 200, page.text
        tx = html.unescape(TX.search(page.text).group(1))  # "&" is "&amp;" in the page
        return self.http.post(
            self.wallet_origin + "/auth/login", data={"tx": tx, "method": method, "idNat": id_nat}
        )

    def code(
        self,
        client_id: str = "psc-testkit-basic",
        id_nat: str | None = None,
        method: str = "cps",
        **overrides: str | None,
    ) -> CodeResult:
        params = self.params(client_id, **overrides)
        response = self.authorize(params)
        if response.status_code != 302:  # no SSO session yet: authenticate
            response = self.login(response, id_nat or self.user(), method)
        if response.status_code == 303:  # e-CPS: the wait page answers once the phone has
            response = self.http.get(self.wallet_origin + response.headers["location"])
        assert response.status_code == 302, response.text
        callback = query_of(response.headers["location"])
        assert "code" in callback, callback
        return CodeResult(callback["code"], params.get("_verifier", ""), params, callback)

    # Back channel ---------------------------------------------------------------------------

    def client_auth(self, client_id: str, audience: str | None = None) -> tuple[dict, dict]:
        """(headers, form fields) authenticating `client_id` by its registered method."""
        if client_id == "psc-testkit-basic":
            return {}, {}
        if client_id == "psc-testkit-post":
            return {}, {"client_id": client_id, "client_secret": SECRETS[client_id]}
        if client_id == "psc-testkit-jwt":
            key = (self.process.state_dir / f"{client_id}.key.pem").read_bytes()
            now = int(time.time())
            assertion = jwt.encode(
                {
                    "iss": client_id,
                    "sub": client_id,
                    "aud": audience or self.meta["token_endpoint"],
                    "jti": str(uuid.uuid4()),
                    "iat": now,
                    "exp": now + 60,
                },
                key,
                algorithm="RS256",
            )
            return {}, {
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            }
        return {}, {"client_id": client_id}  # public and mTLS clients

    def basic(self, client_id: str = "psc-testkit-basic") -> httpx.BasicAuth | None:
        secret = SECRETS.get(client_id)
        return httpx.BasicAuth(client_id, secret) if client_id == "psc-testkit-basic" else None

    def back(
        self,
        endpoint: str,
        data: dict,
        client_id: str = "psc-testkit-basic",
        http: httpx.Client | None = None,
    ) -> httpx.Response:
        headers, fields = self.client_auth(client_id, self.meta[endpoint])
        return (http or self.http).post(
            self.meta[endpoint],
            data={**fields, **data},
            headers=headers,
            auth=self.basic(client_id) or httpx.USE_CLIENT_DEFAULT,
        )

    def token(
        self,
        result: CodeResult,
        client_id: str | None = None,
        http: httpx.Client | None = None,
        **overrides: str | None,
    ) -> httpx.Response:
        data = {
            "grant_type": "authorization_code",
            "code": result.code,
            "redirect_uri": result.params["redirect_uri"],
            "code_verifier": result.verifier,
        }
        data.update(overrides)
        data = {k: v for k, v in data.items() if v is not None}
        return self.back("token_endpoint", data, client_id or result.params["client_id"], http)

    def tokens(self, client_id: str = "psc-testkit-basic", **overrides: str | None) -> dict:
        response = self.token(self.code(client_id, **overrides))
        assert response.status_code == 200, response.text
        return response.json()

    def userinfo(self, access_token: str, http: httpx.Client | None = None) -> httpx.Response:
        return (http or self.http).get(
            self.meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}
        )

    def jwks(self) -> jwt.PyJWKSet:
        return jwt.PyJWKSet.from_dict(self.http.get(self.meta["jwks_uri"]).json())

    def verify(self, token: str, audience: str) -> dict:
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(k for k in self.jwks().keys if k.key_id == kid)
        return jwt.decode(
            token, key.key, algorithms=["RS256"], audience=audience, issuer=self.process.issuer
        )
