"""The provider's JWKS (jwks_uri): RFC 7517, RFC 7518 §3.3/§6, OIDC Core §10.1.

A JWKS holds a few keys (two or three during a rotation). A hostile or broken one may hold
hundreds of thousands: the checks examine the first MAX_KEYS, each in work linear in them, say
how many they ignored, and list at most MAX_LISTED offending keys. A check about *every* key
cannot pass on a part of them, nor fail a provider for keys it did not examine: an offender
among the examined keys fails it; none found, with keys left unexamined, it is not checked
(an error saying so), never a pass.
"""

import base64
import re
from collections import Counter

import jwt
import pytest

from conformance.helpers import expect
from psc_testkit.client.errors import TargetError

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_KEYS = 1000  # a real JWKS holds a few keys; 1,000 parse in well under a second
MAX_LISTED = 10
MAX_REASON = 120  # characters of a library's message about one key


def listed(jwks) -> list:
    keys = jwks.data.get("keys")
    return keys if isinstance(keys, list) else []


def keys_of(jwks) -> list[dict]:
    """The key objects among the first MAX_KEYS entries of the JWKS."""
    return [k for k in listed(jwks)[:MAX_KEYS] if isinstance(k, dict)]


def ignored(jwks) -> str:
    """What the checks did not examine, in words ('' when they examined every key)."""
    count = len(listed(jwks))
    if count <= MAX_KEYS:
        return ""
    return f"JWKS has {count} keys: the first {MAX_KEYS} were checked, {count - MAX_KEYS} ignored"


def some(items: list) -> str:
    """At most MAX_LISTED items, and how many more there are."""
    shown = ", ".join(repr(item) for item in items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return f"{shown} … and {more} more" if more > 0 else shown


def expect_every_key(jwks, offending: list, expected: str, actual: str | None = None) -> None:
    """A check about every key: fails on the offending keys found; with none found among the
    examined keys and some left unexamined, there is no evidence either way: not checked."""
    __tracebackhide__ = True
    note = ignored(jwks)
    if offending:
        found = actual or some(offending)
        expect(False, expected, "; ".join(part for part in (found, note) if part))
    if note:
        raise TargetError(f"not checked: {note}")


@pytest.mark.requirement("RFC7517-5", "MUST")
def test_jwks_is_a_key_set(jwks):
    """RFC7517-5 MUST. "The JSON object MUST have a "keys" member, with its value being an
    array of JWKs"."""
    keys = jwks.data.get("keys")
    if isinstance(keys, list):  # the first few only: repr of a huge array is huge
        shown = repr(keys[:3])[:200] + (f" … ({len(keys)} entries)" if len(keys) > 3 else "")
    else:
        shown = repr(keys)[:200]
    expect(
        isinstance(keys, list) and bool(keys) and all(isinstance(k, dict) for k in keys),
        "a non-empty keys array of objects",
        shown,
    )


@pytest.mark.requirement("OIDCD-3", "MUST")
def test_jwks_is_served_as_json(jwks):
    """OIDCD-3 MUST. jwks_uri is the URL of the OP's JSON Web Key Set document."""
    content_type = jwks.response.headers.get("content-type", "")
    expect("json" in content_type, "a JSON content type", content_type)


@pytest.mark.requirement("OIDCC-10.1", "MUST")
def test_every_key_has_a_kid(jwks):
    """OIDCC-10.1 MUST, with several keys. "If there are multiple keys in the referenced JWK Set
    document, a kid value MUST be provided in the JOSE Header." (OIDC Core §10.1): the header's
    kid can only name a key that carries one, so with several keys every key has a kid. With a
    single key the MUST does not apply: test_a_single_key_has_a_kid (SHOULD) judges it."""
    if len(listed(jwks)) <= 1:
        pytest.skip("a single key in the JWKS: OIDC Core §10.1's kid MUST does not apply")
    missing = [k.get("kty") for k in keys_of(jwks) if not k.get("kid")]
    expect_every_key(jwks, missing, "a kid on every key", f"{len(missing)} key(s) without kid")


@pytest.mark.requirement("OIDCC-10.1", "SHOULD")
def test_a_single_key_has_a_kid(jwks):
    """OIDCC-10.1 SHOULD, with one key. §10.1's MUST ("If there are multiple keys in the
    referenced JWK Set document, a kid value MUST be provided in the JOSE Header.") does not
    apply to a single key; a kid lets relying parties follow the next rotation (§10.1.1), and
    the OIDF suite expects one, hence a warning at most."""
    if len(listed(jwks)) > 1:
        pytest.skip("several keys in the JWKS: test_every_key_has_a_kid (MUST) judges them")
    missing = [k.get("kty") for k in keys_of(jwks) if not k.get("kid")]
    expect(not missing, "a kid on the key", "the key has no kid")


@pytest.mark.requirement("RFC7517-4.5", "SHOULD")
def test_kids_are_unique(jwks):
    """RFC7517-4.5 SHOULD. "When "kid" values are used within a JWK Set, different keys within
    the JWK Set SHOULD use distinct "kid" values. (One example in which different keys might use
    the same "kid" value is if they have different "kty" (key type) values but are considered to
    be equivalent alternatives by the application using them.)" — so kids are compared per kty:
    an EC and an RSA key may share one."""
    counts = Counter(
        (str(k.get("kty")), k.get("kid")) for k in keys_of(jwks) if isinstance(k.get("kid"), str)
    )
    duplicates = sorted({kid for (_, kid), count in counts.items() if count > 1})
    expect_every_key(jwks, duplicates, "distinct kid values among the keys of one kty")


@pytest.mark.requirement("OIDCD-3", "MUST")
def test_no_private_key_material_is_published(jwks):
    """OIDCD-3 MUST. "The JWK Set MUST NOT contain private or symmetric key values." (OIDC
    Discovery §3, jwks_uri): no private RSA or EC members (d, p, q, dp, dq, qi, oth)."""
    leaking = [k.get("kid") for k in keys_of(jwks) if (PRIVATE_MEMBERS - {"k"}) & set(k)]
    expect_every_key(
        jwks, leaking, "public members only", f"private members in keys {some(leaking)}"
    )


@pytest.mark.requirement("OIDCD-3", "MUST")
def test_no_symmetric_key_is_published(jwks):
    """OIDCD-3 MUST. "The JWK Set MUST NOT contain private or symmetric key values." (OIDC
    Discovery §3, jwks_uri): no kty oct key, no k member."""
    symmetric = [k.get("kid") for k in keys_of(jwks) if k.get("kty") == "oct" or "k" in k]
    expect_every_key(jwks, symmetric, "no kty=oct key")


@pytest.mark.requirement("RFC7518-3.3", "MUST")
def test_rsa_keys_are_at_least_2048_bits(jwks):
    """RFC7518-3.3 MUST. "A key of size 2048 bits or larger MUST be used with these
    algorithms" (RS256…)."""
    small = []
    for key in keys_of(jwks):
        if key.get("kty") == "RSA" and isinstance(key.get("n"), str):
            try:
                n = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
            except ValueError:  # not base64: test_key_members_are_unpadded_base64url says so
                continue
            bits = int.from_bytes(n, "big").bit_length()
            if bits < 2048:
                small.append((key.get("kid"), bits))
    expect_every_key(jwks, small, "RSA moduli of 2048 bits or more")


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
            broken.append((key.get("kid"), str(exc)[:MAX_REASON]))
    expect_every_key(jwks, broken, "every signing key parses")


@pytest.mark.requirement("RFC7518-6", "MUST")
def test_key_members_are_unpadded_base64url(jwks):
    """RFC7518-6 MUST. Key members are Base64urlUInt / base64url: no padding, no +/."""
    bad = []
    for key in keys_of(jwks):
        for member in ("n", "e", "x", "y"):
            value = key.get(member)
            if value is not None and not (isinstance(value, str) and B64URL.match(value)):
                bad.append((key.get("kid"), member))
    expect_every_key(jwks, bad, "unpadded base64url members")


@pytest.mark.requirement("OIDCC-10.1", "MUST")
def test_a_signing_key_is_published(jwks):
    """OIDCC-10.1 MUST. The OP publishes the keys it signs with: at least one asymmetric key for
    signatures (use "sig" or no use)."""
    signing = [
        k
        for k in keys_of(jwks)
        if k.get("use", "sig") == "sig" and k.get("kty") in ("RSA", "EC", "OKP")
    ]
    # One among the keys examined is positive evidence; the ignored ones are said when none is.
    note = ignored(jwks)
    expect(
        bool(signing),
        "at least one signing key",
        note.replace("were checked", "were checked, none usable")
        or f"{len(keys_of(jwks))} key(s), none usable",
    )
