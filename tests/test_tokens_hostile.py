"""tokens.verify_signature and decode against what a broken or hostile provider publishes: a
kid it does not publish, broken keys, a kty that does not fit alg, bad base64, a huge JWKS.
Each is one line (SignatureError or TokenFormatError), never a raw pyjwt/cryptography error,
and the work stays bounded."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from psc_testkit.client.tokens import (
    SignatureError,
    TokenFormatError,
    b64url_json,
    decode,
    verify_signature,
)

KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key())) | {"kid": "k1"}
TOKEN = jwt.encode({"sub": "someone"}, KEY, algorithm="ES256", headers={"kid": "k1"})
NO_KID = jwt.encode({"sub": "someone"}, KEY, algorithm="ES256")


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert text and "\n" not in text and len(text) < 600, text
    return text


def test_a_good_signature_verifies():
    assert verify_signature(TOKEN, {"keys": [PUBLIC]})["sub"] == "someone"
    assert verify_signature(NO_KID, {"keys": [PUBLIC]})["sub"] == "someone"


def test_an_unknown_kid_is_one_line():
    other = jwt.encode({"sub": "x"}, KEY, algorithm="ES256", headers={"kid": "rotated-away"})
    with pytest.raises(SignatureError) as caught:
        verify_signature(other, {"keys": [PUBLIC]})
    assert one_line(caught) == "no key with kid 'rotated-away' in the JWKS (1 keys)"
    # Handlers written for pyjwt's errors, or for ours, both catch it.
    assert isinstance(caught.value, jwt.InvalidTokenError)
    assert isinstance(caught.value, TokenFormatError)


def test_a_forged_signature_is_one_line():
    head, _, signature = TOKEN.split(".")
    forged = f"{head}.{b64url_json({'sub': 'someone else'})}.{signature}"
    with pytest.raises(SignatureError) as caught:
        verify_signature(forged, {"keys": [PUBLIC]})
    assert one_line(caught) == "the signature does not verify with key 'k1'"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ({"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}, "unusable for ES256"),
        ({**PUBLIC, "x": "!!!not base64!!!"}, "unusable for ES256"),
        ({**PUBLIC, "x": "AQAB"}, "unusable for ES256"),
        ({**PUBLIC, "crv": "P-999"}, "unusable for ES256"),
        ({"kty": "EC", "kid": "k1"}, "unusable for ES256"),
        ({"kty": ["EC"], "kid": "k1"}, "unusable for ES256"),
        ({"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}, "unusable for ES256"),
        ({**PUBLIC, "x": 12345}, "unusable for ES256"),
    ],
)
def test_broken_keys_are_one_line(key, reason):
    with pytest.raises(SignatureError) as caught:
        verify_signature(TOKEN, {"keys": [key]})
    assert reason in one_line(caught)


@pytest.mark.parametrize(
    "jwks",
    [{}, {"keys": "nope"}, {"keys": [1, "two", None]}, [], None, {"keys": [{"use": "enc"}]}],
)
def test_a_jwks_without_usable_keys_is_one_line(jwks):
    with pytest.raises(SignatureError) as caught:
        verify_signature(NO_KID, jwks)
    assert one_line(caught).startswith("no signing key in the JWKS")


def test_several_failing_keys_say_so_in_one_line():
    keys = [{"kty": "EC", "kid": f"k{i}"} for i in range(20)]
    with pytest.raises(SignatureError) as caught:
        verify_signature(NO_KID, {"keys": keys})
    text = one_line(caught)
    assert text.startswith("no key of the JWKS verifies the signature (20 tried: ")
    assert "… and 17 more" in text


@pytest.mark.parametrize(
    "token",
    [
        "not a jwt",
        "a.b.c",
        "é.é.é",
        f"{base64.urlsafe_b64encode(b'[' * 100_000).decode()}.e30.",
        f"{b64url_json({'alg': 'ES256'})}.{b64url_json({'sub': 1})}.!!!",
        f"{b64url_json({'alg': 'none'})}.{b64url_json({'sub': 1})}.",
        f"{b64url_json({'alg': 'HS256'})}.{b64url_json({'sub': 1})}.",
        f"{b64url_json({'alg': ['ES256']})}.{b64url_json({'sub': 1})}.",
    ],
)
def test_malformed_tokens_are_one_line(token):
    with pytest.raises(TokenFormatError) as caught:
        verify_signature(token, {"keys": [PUBLIC]})
    one_line(caught)


def test_a_deep_header_is_a_format_error_not_a_recursion_error():
    deep = base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode().rstrip("=")
    with pytest.raises(TokenFormatError, match="nested deeper"):
        decode(f"{deep}.e30.sig")


def test_a_jwks_of_200000_keys_is_bounded_work():
    """The kid is looked for among every key, so a provider's key is found wherever it is
    listed; only parsing is bounded (the first 100 candidates)."""
    keys = [{"kty": "EC", "kid": f"k{i}"} for i in range(200_000)]
    started = time.monotonic()
    far = jwt.encode({"sub": "x"}, KEY, algorithm="ES256", headers={"kid": "last"})
    assert verify_signature(far, {"keys": [*keys, {**PUBLIC, "kid": "last"}]}) == {"sub": "x"}
    with pytest.raises(SignatureError) as caught:
        verify_signature(far, {"keys": keys})
    assert one_line(caught) == "no key with kid 'last' in the JWKS (200000 keys)"
    anonymous = jwt.encode({"sub": "x"}, KEY, algorithm="ES256")  # no kid: every key fits
    with pytest.raises(SignatureError) as caught:
        verify_signature(anonymous, {"keys": keys})
    text = one_line(caught)
    assert text.startswith("no key of the JWKS verifies the signature (100 tried: ")
    assert text.endswith("; 199900 keys after the first 100 not tried")
    assert time.monotonic() - started < 2
