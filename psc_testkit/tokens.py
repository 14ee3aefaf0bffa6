"""JWT helpers for the checks: decode without trusting, verify against a JWKS, hash claims."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import jwt

ASYMMETRIC_ALGS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


class TokenFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Jwt:
    raw: str
    header: dict
    claims: dict


def b64url_json(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode(token: object) -> Jwt:
    """Header and claims of a compact JWS, without verifying anything."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise TokenFormatError("not a compact JWS (three base64url parts)")
    head, body, _ = token.split(".")
    try:
        header = json.loads(_b64decode(head))
        claims = json.loads(_b64decode(body))
    except ValueError as exc:
        raise TokenFormatError(f"undecodable JWT: {exc}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenFormatError("JWT header and claims must be JSON objects")
    return Jwt(token, header, claims)


def verify_signature(token: str, jwks: dict) -> dict:
    """Verify the signature with the key of the JWKS that the header's kid names (or the only
    key that fits); times and audience are the checks' business, not this function's."""
    header = decode(token).header
    alg = header.get("alg")
    if alg not in ASYMMETRIC_ALGS:
        raise jwt.InvalidAlgorithmError(f"alg {alg!r} is not an asymmetric JWS algorithm")
    listed = jwks.get("keys")
    keys = [
        k
        for k in (listed if isinstance(listed, list) else [])
        if isinstance(k, dict) and k.get("use", "sig") == "sig"
    ]
    if "kid" in header:
        keys = [k for k in keys if k.get("kid") == header["kid"]]
    if not keys:
        raise jwt.InvalidKeyError(f"no key in the JWKS for kid {header.get('kid')!r}")
    last: Exception | None = None
    for raw_key in keys:
        try:
            # Verify with the public members only, whatever else a broken JWKS publishes.
            public = {k: v for k, v in raw_key.items() if k not in PRIVATE_MEMBERS}
            key = jwt.PyJWK.from_dict(public, algorithm=alg)
            return jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except (jwt.InvalidSignatureError, jwt.PyJWKError) as exc:
            last = exc
    raise last if last else jwt.InvalidSignatureError("no key verified the signature")


def left_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 at_hash / c_hash: left half of the alg's hash, base64url."""
    digest = _HASHES.get(alg[-3:], hashlib.sha256)(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
