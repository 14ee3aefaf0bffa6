"""Interop with a certified provider: panva's `oidc-provider` as a PSC stand-in.

`OidcProviderProcess` starts `interop/oidc-provider/server.mjs` (the npm package pinned in
package-lock.json) on 127.0.0.1 over HTTPS with a local CA, five clients (one per
authentication method, a public one with PKCE) and test professionals from the synthetic
Annuaire Santé whose PSC-shaped claims it releases under `scope_all`; it then writes a target
profile for it that logs in through the `html_form` driver. Its results are held to
interop/oidc-provider/expected-results.toml (psc_testkit/interop/expected.py).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from psc_testkit.child import AnnouncingChild, ChildStartError, Started
from psc_testkit.simulator import annuaire, claims
from psc_testkit.simulator.tls import LocalCA, subject_dn

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "interop" / "oidc-provider" / "server.mjs"
EXPECTED = ROOT / "interop" / "oidc-provider" / "expected-results.toml"
REDIRECT = "http://127.0.0.1:8080/callback"
LOGGED_OUT = "http://127.0.0.1:8080/logged-out"


class InteropError(ChildStartError):
    """The reference provider cannot be started; the message says what is missing."""


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _private_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    # pyjwt marks a private JWK key_ops ["sign"]; the provider verifies id_token_hint with it too.
    jwk.pop("key_ops", None)
    return {**jwk, "kid": kid, "use": "sig"}


def _public_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.pop("key_ops", None)
    return {**public, "kid": kid, "use": "sig", "alg": "ES256"}


def accounts(count: int, seed: int = 1) -> dict[str, dict]:
    """`count` professionals of the synthetic directory, by subject, with their userinfo."""
    directory = annuaire.Annuaire(seed, count)
    return {
        claims.subject(pro): claims.userinfo(pro, "CARD", scope_all=True)
        for pro in directory.professionals
    }


@dataclass
class OidcProviderProcess(Started):
    """`with OidcProviderProcess() as op:` then run the suite with `op.profile`."""

    users: int = 8
    driver: str = "html_form"  # or "browser": the same login page in headless Chromium
    startup_timeout: float = 30.0
    node: str = field(default_factory=lambda: shutil.which("node") or "")
    issuer: str = ""
    profile: Path = Path()
    process: subprocess.Popen | None = None
    child: AnnouncingChild | None = None

    def _check_installed(self) -> None:
        if not self.node:
            raise InteropError("Node.js is not installed: `apt-get install nodejs npm`")
        if not (ROOT / "node_modules" / "oidc-provider" / "package.json").exists():
            raise InteropError("oidc-provider is not installed: run `npm ci` in the project folder")

    def _write_config(self, work: Path) -> Path:
        ca = LocalCA()
        (work / "ca.pem").write_bytes(ca.pem())
        ca.issue_server(["127.0.0.1", "localhost"]).write(work / "server.pem", work / "server.key")
        mtls = ca.issue_client("psc-testkit-mtls")
        mtls.write(work / "mtls.cert.pem", work / "mtls.key.pem")
        client_key = ec.generate_private_key(ec.SECP256R1())
        (work / "jwt.key.pem").write_bytes(_pem(client_key))
        signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.secrets = {
            "psc-testkit-basic": secrets.token_urlsafe(24),
            "psc-testkit-post": secrets.token_urlsafe(24),
        }
        common = {
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [LOGGED_OUT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }
        clients = [
            {
                **common,
                "client_id": "psc-testkit-basic",
                "client_secret": self.secrets["psc-testkit-basic"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
            {
                **common,
                "client_id": "psc-testkit-post",
                "client_secret": self.secrets["psc-testkit-post"],
                "token_endpoint_auth_method": "client_secret_post",
            },
            {
                **common,
                "client_id": "psc-testkit-jwt",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [_public_jwk(client_key, "psc-testkit-jwt")]},
                "userinfo_signed_response_alg": "RS256",
            },
            {
                **common,
                "client_id": "psc-testkit-mtls",
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": subject_dn(mtls.cert),
                # As PSC does for its mTLS clients: access tokens bound to the certificate.
                "tls_client_certificate_bound_access_tokens": True,
            },
            {**common, "client_id": "psc-testkit-public", "token_endpoint_auth_method": "none"},
        ]
        self.accounts = accounts(self.users)
        config = {
            "tls": {
                "cert": str(work / "server.pem"),
                "key": str(work / "server.key"),
                "ca": str(work / "ca.pem"),
            },
            "signing_key": _private_jwk(signing, "interop-rs256"),
            "clients": clients,
            "accounts": self.accounts,
            "scope_all_claims": [*claims.PIVOT_CLAIMS[1:], *claims.SECTORAL_CLAIMS],
        }
        path = work / "config.json"
        path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        path.chmod(0o600)
        return path

    def _driver_table(self, users: str) -> str:
        if self.driver == "browser":
            # The same login in headless Chromium: type the idNat, press the button.
            return (
                f'[driver]\nname = "browser"\nusers = [{users}]\nstep_timeout = 10\n'
                '[[driver.steps]]\nfill = "input[name=idNat]"\nvalue = "{user}"\n'
                '[[driver.steps]]\nclick = "button[type=submit]"\n'
            )
        fields = '[driver.fields]\nidNat = "{user}"\n'
        return f'[driver]\nname = "html_form"\nusers = [{users}]\n{fields}'

    def _write_profile(self, work: Path) -> Path:
        users = ", ".join(f'"{c["SubjectNameID"]}"' for c in self.accounts.values())
        basic, post = self.secrets["psc-testkit-basic"], self.secrets["psc-testkit-post"]
        text = f"""# Written by psc_testkit.interop for one run against panva's oidc-provider.
[target]
name = "oidc-provider"
discovery_url = "{self.issuer}/.well-known/openid-configuration"
ca_file = "{work / "ca.pem"}"
scopes = ["openid", "scope_all"]
acr_values = "eidas1"
psc_sample_size = 3

{self._driver_table(users)}

[[clients]]
client_id = "psc-testkit-basic"
auth_method = "client_secret_basic"
client_secret = "{basic}"
redirect_uri = "{REDIRECT}"
post_logout_redirect_uri = "{LOGGED_OUT}"

[[clients]]
client_id = "psc-testkit-post"
auth_method = "client_secret_post"
client_secret = "{post}"
redirect_uri = "{REDIRECT}"
post_logout_redirect_uri = "{LOGGED_OUT}"

[[clients]]
client_id = "psc-testkit-jwt"
auth_method = "private_key_jwt"
private_key_file = "{work / "jwt.key.pem"}"
redirect_uri = "{REDIRECT}"
post_logout_redirect_uri = "{LOGGED_OUT}"
userinfo_signed_response_alg = "RS256"

[[clients]]
client_id = "psc-testkit-mtls"
auth_method = "tls_client_auth"
tls_cert_file = "{work / "mtls.cert.pem"}"
tls_key_file = "{work / "mtls.key.pem"}"
redirect_uri = "{REDIRECT}"
post_logout_redirect_uri = "{LOGGED_OUT}"

[[clients]]
client_id = "psc-testkit-public"
auth_method = "none"
redirect_uri = "{REDIRECT}"
post_logout_redirect_uri = "{LOGGED_OUT}"
"""
        path = work / "oidc-provider.toml"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    def start(self) -> OidcProviderProcess:
        self._check_installed()
        self.work = Path(tempfile.mkdtemp(prefix="psc-interop-"))
        self.child = AnnouncingChild(
            [self.node, str(SERVER), str(self._write_config(self.work))],
            name="oidc-provider",
            until="issuer",
            timeout=self.startup_timeout,
            cwd=ROOT,
            env={"NODE_ENV": "production"},
            error=InteropError,
        )
        try:
            self.issuer = self.child.start()["issuer"]
        except InteropError:
            self.stop()
            raise
        self.process = self.child.process
        self.profile = self._write_profile(self.work)
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
        if getattr(self, "work", None):
            shutil.rmtree(self.work, ignore_errors=True)
