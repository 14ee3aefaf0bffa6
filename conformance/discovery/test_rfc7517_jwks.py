"""The provider's JWKS (jwks_uri): RFC 7517, RFC 7518 §3.3/§6, OIDC Core §10.1."""

import base64
import re

import jwt
import pytest

from conformance.helpers import expect

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def keys_of(jwks) -> list[dict]:
    keys = jwks.data.get("keys")
    return [k for k in keys if isinstance(k, dict)] if isinstance(keys, list) else []


@pytest.mark.requirement("RFC7517-5", "MUST")
def test_jwks_is_a_key_set(jwks):
    """RFC7517-5 MUST. "The JSON object MUST have a "keys" member, with its value being an
    array of JWKs"."""
    keys = jwks.data.get("keys")
    expect(
        isinstance(keys, list) and bool(keys) and all(isinstance(k, dict) for k in keys),
        "a non-empty keys array of objects",
        repr(keys)[:200],
    )


@pytest.mark.requirement("OIDCD-3", "MUST")
def test_jwks_is_served_as_json(jwks):
    """OIDCD-3 MUST. jwks_uri is the URL of the OP's JSON Web Key Set document."""
    content_type = jwks.response.headers.get("content-type", "")
    expect("json" in content_type, "a JSON content type", content_type)


@pytest.mark.requirement("OIDCC-10.1", "MUST")
def test_every_key_has_a_kid(jwks):
    """OIDCC-10.1 MUST. "...the JWK Set MUST use a kid (Key ID) parameter" when it holds
    several keys; we require it always, as the OIDF suite does, so rotation stays safe."""
    missing = [k.get("kty") for k in keys_of(jwks) if not k.get("kid")]
    expect(not missing, "a kid on every key", f"{len(missing)} key(s) without kid")


@pytest.mark.requirement("RFC7517-4.5", "MUST")
def test_kids_are_unique(jwks):
    """RFC7517-4.5 MUST. "...different keys within the JWK Set SHOULD use distinct kid values"
    — the OIDF suite fails duplicates, since a verifier cannot choose between them."""
    kids = [k.get("kid") for k in keys_of(jwks) if k.get("kid")]
    duplicates = sorted({k for k in kids if kids.count(k) > 1})
    expect(not duplicates, "distinct kid values", duplicates)


@pytest.mark.requirement("RFC7517-9.3", "MUST")
def test_no_private_key_material_is_published(jwks):
    """RFC7517-9.3 MUST. Private keys must not be disclosed: no d, p, q, dp, dq, qi, oth."""
    leaking = [k.get("kid") for k in keys_of(jwks) if (PRIVATE_MEMBERS - {"k"}) & set(k)]
    expect(not leaking, "public members only", f"private members in keys {leaking}")


@pytest.mark.requirement("RFC7517-9.3", "MUST")
def test_no_symmetric_key_is_published(jwks):
    """RFC7517-9.3 MUST. A published symmetric key (kty oct) is a disclosed secret."""
    symmetric = [k.get("kid") for k in keys_of(jwks) if k.get("kty") == "oct" or "k" in k]
    expect(not symmetric, "no kty=oct key", symmetric)


@pytest.mark.requirement("RFC7518-3.3", "MUST")
def test_rsa_keys_are_at_least_2048_bits(jwks):
    """RFC7518-3.3 MUST. "A key of size 2048 bits or larger MUST be used with these
    algorithms" (RS256…)."""
    small = []
    for key in keys_of(jwks):
        if key.get("kty") == "RSA" and isinstance(key.get("n"), str):
            n = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
            bits = int.from_bytes(n, "big").bit_length()
            if bits < 2048:
                small.append((key.get("kid"), bits))
    expect(not small, "RSA moduli of 2048 bits or more", small)


@pytest.mark.requirement("RFC7517-4", "MUST")
def test_keys_are_usable(jwks):
    """RFC7517-4 MUST. Each key carries the members its kty requires and parses as a key."""
    broken = []
    for key in keys_of(jwks):
        if key.get("use", "sig") != "sig" or key.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        try:
            jwt.PyJWK.from_dict(key)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            broken.append((key.get("kid"), str(exc)))
    expect(not broken, "every signing key parses", broken)


@pytest.mark.requirement("RFC7518-6", "MUST")
def test_key_members_are_unpadded_base64url(jwks):
    """RFC7518-6 MUST. Key members are Base64urlUInt / base64url: no padding, no +/."""
    bad = []
    for key in keys_of(jwks):
        for member in ("n", "e", "x", "y"):
            value = key.get(member)
            if value is not None and not (isinstance(value, str) and B64URL.match(value)):
                bad.append((key.get("kid"), member))
    expect(not bad, "unpadded base64url members", bad)


@pytest.mark.requirement("OIDCC-10.1", "MUST")
def test_a_signing_key_is_published(jwks):
    """OIDCC-10.1 MUST. The OP publishes the keys it signs with: at least one asymmetric key for
    signatures (use "sig" or no use)."""
    signing = [
        k
        for k in keys_of(jwks)
        if k.get("use", "sig") == "sig" and k.get("kty") in ("RSA", "EC", "OKP")
    ]
    expect(bool(signing), "at least one signing key", f"{len(keys_of(jwks))} key(s), none usable")
