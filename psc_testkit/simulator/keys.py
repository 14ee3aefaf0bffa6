"""The realm's signing keys: RS256 with a kid, published as a JWKS, rotated keeping the old key."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def rsa_public_jwk(key: rsa.RSAPublicKey) -> dict[str, str]:
    """The public JWK of an RSA key with its RFC 7638 thumbprint as kid."""
    numbers = key.public_numbers()
    members = {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
    kid = b64url(hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest())
    return {"kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig", **members}


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey
    jwk: dict[str, str]


def new_signing_key() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = rsa_public_jwk(private.public_key())
    return SigningKey(kid=jwk["kid"], private=private, jwk=jwk)


class KeySet:
    """The current key signs; the previous one stays published so tokens it signed still verify."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = [new_signing_key()]
        self._refresh()

    def _refresh(self) -> None:
        self.current = self.keys[0]
        self.jwks_json = json.dumps({"keys": [k.jwk for k in self.keys]}).encode()

    def rotate(self) -> str:
        self.keys = [new_signing_key(), self.keys[0]]
        self._refresh()
        return self.current.kid

    def jwks_with_private_json(self) -> bytes:
        """The JWKS as a broken provider might publish it, private parameters included."""
        keys = []
        for key in self.keys:
            private = key.private.private_numbers()
            keys.append(
                {
                    **key.jwk,
                    "d": _uint(private.d),
                    "p": _uint(private.p),
                    "q": _uint(private.q),
                    "dp": _uint(private.dmp1),
                    "dq": _uint(private.dmq1),
                    "qi": _uint(private.iqmp),
                }
            )
        return json.dumps({"keys": keys}).encode()

    def sign(self, claims: dict, typ: str = "JWT", kid: bool = True) -> str:
        key = self.current
        headers = {"kid": key.kid, "typ": typ} if kid else {"typ": typ}
        return jwt.encode(claims, key.private, algorithm="RS256", headers=headers)

    def verify_hint(self, token: str, issuer: str, audience: str | None = None) -> dict:
        """Verify an id_token_hint one of our keys signed; raise jwt.InvalidTokenError.

        Times are not checked: a hint may be expired (OIDC Core §3.1.2.1), and the provider's
        clock may have been moved while pyjwt would compare with the real one.
        """
        kid = jwt.get_unverified_header(token).get("kid")
        last: jwt.InvalidTokenError = jwt.InvalidTokenError(f"unknown kid {kid!r}")
        for key in self.keys:
            if kid is not None and key.kid != kid:
                continue
            try:
                return jwt.decode(
                    token,
                    key.private.public_key(),
                    algorithms=["RS256"],
                    issuer=issuer,
                    audience=audience,
                    options={
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                        "verify_aud": audience is not None,
                    },
                )
            except jwt.InvalidSignatureError as exc:  # without kid, try the next key
                last = exc
        raise last


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: the left half of the SHA-256 of the access token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return b64url(digest[:16])
