"""JWT helpers for the checks: decode without trusting, verify against a JWKS, hash claims.

Whatever the provider sends (a malformed token, a JWKS of broken keys, a kid it does not
publish), the answer is a value or one of our exceptions with a one-line reason, never a raw
library exception: pyjwt and cryptography raise a dozen kinds, which handlers written for
"invalid token" do not all catch.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import jwt

from psc_testkit.client import jsonsafe

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
MAX_KEYS = 100  # keys of a JWKS considered for a signature (a real JWKS holds a few)
MAX_REASONS = 3  # reasons listed when no key verifies
SHOWN = 60  # characters of a provider's value (a kid) quoted in a reason


class TokenFormatError(ValueError):
    pass


class SignatureError(TokenFormatError, jwt.InvalidTokenError):
    """Why the signature could not be verified with the JWKS, in one line. Both a
    TokenFormatError and a pyjwt InvalidTokenError, so handlers written for either catch it."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


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
        # Bounded: a header nested 100,000 deep is a RecursionError for json.loads.
        header = jsonsafe.loads(_b64decode(head))
        claims = jsonsafe.loads(_b64decode(body))
    except ValueError as exc:
        raise TokenFormatError(f"undecodable JWT: {exc}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenFormatError("JWT header and claims must be JSON objects")
    return Jwt(token, header, claims)


def verify_signature(token: str, jwks: dict) -> dict:
    """Verify the signature with the key of the JWKS that the header's kid names (or the keys
    that fit, without a kid); times and audience are the checks' business, not this function's.
    Raises TokenFormatError for a malformed token, SignatureError for everything else."""
    header = decode(token).header
    alg = header.get("alg")
    if alg not in ASYMMETRIC_ALGS:
        raise SignatureError(f"alg {_shown(alg)} is not an asymmetric JWS algorithm")
    listed = jwks.get("keys") if isinstance(jwks, dict) else None
    listed = listed if isinstance(listed, list) else []
    signing = [k for k in listed if isinstance(k, dict) and k.get("use", "sig") == "sig"]
    if "kid" in header:
        # A kid is looked for among all the keys (comparing is cheap: the work stays linear);
        # only parsing and verifying are bounded, to the first MAX_KEYS keys that carry it.
        keys = [k for k in signing if k.get("kid") == header["kid"]]
        if not keys:
            raise SignatureError(
                f"no key with kid {_shown(header['kid'])} in the JWKS ({len(listed)} keys)"
            )
    elif not signing:
        raise SignatureError(f"no signing key in the JWKS ({len(listed)} keys)")
    else:
        keys = signing
    ignored = (
        f"; {len(keys) - MAX_KEYS} keys after the first {MAX_KEYS} not tried"
        if len(keys) > MAX_KEYS
        else ""
    )
    keys = keys[:MAX_KEYS]
    reasons: list[str] = []
    for raw_key in keys:
        name = f"key {_shown(raw_key.get('kid'))}" if "kid" in raw_key else "a key without kid"
        # Verify with the public members only, whatever else a broken JWKS publishes.
        public = {k: v for k, v in raw_key.items() if k not in PRIVATE_MEMBERS}
        try:
            key = jwt.PyJWK.from_dict(public, algorithm=alg)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            # Bad base64 members, a kty that does not fit alg, a curve that does not exist...
            reasons.append(f"{name} is unusable for {alg}: {_one_line(exc)}")
            continue
        try:
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
        except jwt.InvalidSignatureError:
            reasons.append(f"the signature does not verify with {name}")
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            reasons.append(f"{name}: {_one_line(exc)}")
    if len(reasons) == 1:
        raise SignatureError(reasons[0] + ignored)
    more = f" … and {len(reasons) - MAX_REASONS} more" if len(reasons) > MAX_REASONS else ""
    raise SignatureError(
        f"no key of the JWKS verifies the signature ({len(keys)} tried: "
        f"{'; '.join(reasons[:MAX_REASONS])}{more}){ignored}"
    )


def left_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 at_hash / c_hash: left half of the alg's hash, base64url."""
    digest = _HASHES.get(alg[-3:], hashlib.sha256)(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
