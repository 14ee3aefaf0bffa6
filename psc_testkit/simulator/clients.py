"""Registered clients and client authentication at the token, introspection, revocation and CIBA
endpoints: client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth, none."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote_plus

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.requests import Request

from psc_testkit.simulator.defects import ActiveDefects
from psc_testkit.simulator.http import OAuthError
from psc_testkit.simulator.keys import b64url
from psc_testkit.simulator.settings import ClientSettings
from psc_testkit.simulator.state import StateDir
from psc_testkit.simulator.tls import LocalCA, subject_dn

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ["RS256", "PS256", "ES256"]
# pyjwt raises TypeError, not InvalidTokenError, when the header's alg does not fit the key
# (ES256 with an RSA key), and int()'s TypeError/OverflowError for an exp of [] or 1e999: each
# is the client's fault, so each is invalid_client, never a 500.
ASSERTION_ERRORS = (jwt.InvalidTokenError, TypeError, ValueError, OverflowError, KeyError)


def assertion_algorithms(key: object) -> list[str]:
    """The algorithms of ASSERTION_ALGS that a registered key can verify."""
    if isinstance(key, rsa.RSAPublicKey):
        return ["RS256", "PS256"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ["ES256"]
    return []


@dataclass(frozen=True)
class Client:
    settings: ClientSettings
    public_key: rsa.RSAPublicKey | None = None  # private_key_jwt
    tls_subject_dn: str | None = None  # tls_client_auth (RFC 8705 §2.1.2)

    @property
    def client_id(self) -> str:
        return self.settings.client_id

    @property
    def auth_method(self) -> str:
        return self.settings.auth_method

    @property
    def public(self) -> bool:
        return self.settings.auth_method == "none"


def build_clients(
    settings: tuple[ClientSettings, ...], state: StateDir, ca: LocalCA | None
) -> dict[str, Client]:
    """Create the registry; write the generated client keys and certificates to `state`."""
    clients: dict[str, Client] = {}
    for cs in settings:
        if cs.auth_method == "private_key_jwt":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            path = state.file(f"{cs.client_id}.key.pem")
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            path.chmod(0o600)
            clients[cs.client_id] = Client(cs, public_key=key.public_key())
        elif cs.auth_method == "tls_client_auth":
            if ca is None:
                continue  # mTLS needs TLS: without --tls the client is not registered
            issued = ca.issue_client(cs.client_id)
            issued.write(
                state.file(f"{cs.client_id}.cert.pem"), state.file(f"{cs.client_id}.key.pem")
            )
            clients[cs.client_id] = Client(cs, tls_subject_dn=subject_dn(issued.cert))
        else:
            clients[cs.client_id] = Client(cs)
    return clients


@lru_cache(maxsize=1024)
def _cert_info(der: bytes) -> tuple[str, str]:
    cert = x509.load_der_x509_certificate(der)
    return subject_dn(cert), b64url(hashlib.sha256(der).digest())


def client_cert(request: Request) -> tuple[str, str] | None:
    """(subject DN, x5t#S256) of the TLS client certificate, if one was presented."""
    der = request.scope.get("psc.client_cert")
    return _cert_info(der) if der else None


def _invalid(description: str, basic: bool = False) -> OAuthError:
    headers = {"WWW-Authenticate": 'Basic realm="esante-wallet"'} if basic else None
    return OAuthError("invalid_client", description, status=401, headers=headers)


def _basic_credentials(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        raw_id, raw_secret = decoded.split(":", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid("malformed Basic credentials", basic=True) from None
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    return unquote_plus(raw_id), unquote_plus(raw_secret)


class ClientAuthenticator:
    def __init__(
        self,
        clients: dict[str, Client],
        audiences: set[str],
        jti_store: dict[str, float],
        defects: ActiveDefects,
    ) -> None:
        self.clients = clients
        self.audiences = audiences
        self.jti_store = jti_store
        self.defects = defects

    def authenticate(
        self, request: Request, form: dict[str, str], now: float, allow_public: bool = True
    ) -> Client:
        header = request.headers.get("authorization", "")
        basic = header[:6].lower() == "basic "
        assertion = "client_assertion" in form or "client_assertion_type" in form
        post = "client_secret" in form
        if basic + assertion + post > 1:
            raise OAuthError("invalid_request", "more than one client authentication method used")
        if basic:
            client_id, secret = _basic_credentials(header)
            client = self._secret_client(client_id, secret, "client_secret_basic", basic=True)
        elif post:
            client = self._secret_client(
                form.get("client_id", ""), form["client_secret"], "client_secret_post"
            )
        elif assertion:
            client = self._assertion_client(form, now)
        else:
            client = self._certificate_or_public(request, form.get("client_id", ""), allow_public)
        if form.get("client_id", client.client_id) != client.client_id:
            raise OAuthError("invalid_request", "client_id does not match the authenticated client")
        return client

    def _registered(self, client_id: str, method: str, basic: bool = False) -> Client:
        client = self.clients.get(client_id)
        if client is None:
            raise _invalid("unknown client", basic)
        if client.auth_method != method:
            raise _invalid(f"client is registered for {client.auth_method}, not {method}", basic)
        return client

    def _secret_client(
        self, client_id: str, secret: str, method: str, basic: bool = False
    ) -> Client:
        client = self._registered(client_id, method, basic)
        expected = client.settings.client_secret or ""
        if method == "client_secret_post" and "client-secret-post-broken" in self.defects:
            expected = "\x00never"
        if method == "client_secret_basic" and "client-secret-basic-broken" in self.defects:
            expected = "\x00never"
        if not hmac.compare_digest(secret.encode(), expected.encode()):
            if "wrong-secret-not-invalid-client" in self.defects:
                raise OAuthError("unauthorized_client", "these credentials are not authorised")
            raise _invalid("invalid client credentials", basic)
        return client

    def _assertion_client(self, form: dict[str, str], now: float) -> Client:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _invalid(f"client_assertion_type must be {ASSERTION_TYPE}")
        token = form.get("client_assertion", "")
        if "private-key-jwt-broken" in self.defects:
            raise _invalid("client_assertion rejected")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except ASSERTION_ERRORS as exc:
            raise _invalid(f"malformed client_assertion: {exc}") from None
        client_id = str(unverified.get("iss", ""))
        client = self._registered(client_id, "private_key_jwt")
        try:
            claims = jwt.decode(
                token,
                client.public_key,
                algorithms=assertion_algorithms(client.public_key),
                audience=list(self.audiences),
                options={"require": ["exp", "iss", "sub", "aud", "jti"]},
                leeway=5,
            )
            expires = float(claims["exp"])
        except ASSERTION_ERRORS as exc:
            raise _invalid(f"client_assertion rejected: {exc}") from None
        if claims["sub"] != client_id:
            raise _invalid("client_assertion sub must equal iss (the client_id)")
        jti = str(claims["jti"])
        if jti in self.jti_store:
            raise _invalid("client_assertion jti was already used")
        self.jti_store[jti] = expires + 5
        return client

    def _certificate_or_public(
        self, request: Request, client_id: str, allow_public: bool
    ) -> Client:
        client = self.clients.get(client_id)
        if client is None:
            raise _invalid("unknown client" if client_id else "no client authentication")
        if client.auth_method == "tls_client_auth":
            cert = client_cert(request)
            if cert is None and "mtls-certificate-not-required" in self.defects:
                return client
            if cert is None:
                raise _invalid("tls_client_auth needs a client certificate")
            if cert[0] != client.tls_subject_dn or "tls-client-auth-broken" in self.defects:
                raise _invalid("client certificate subject does not match the registration")
            return client
        if client.public and allow_public and "public-client-refused" not in self.defects:
            return client
        raise _invalid(f"client is registered for {client.auth_method}: no credentials given")
