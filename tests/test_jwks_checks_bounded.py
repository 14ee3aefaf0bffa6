"""The JWKS checks (conformance/discovery/test_rfc7517_jwks.py) called directly on a JWKS of
200,000 keys: each ends in well under a second (they were quadratic: a count() per kid), says
how many keys it ignored, lists at most 10 offenders, and never passes or fails on keys it did
not examine."""

from __future__ import annotations

import json
import time
import warnings
from types import SimpleNamespace

import pytest

from psc_testkit.client.errors import TargetError
from tests import hostile_server

with warnings.catch_warnings():  # the requirement marker is the conformance plugin's, not ours
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    from conformance.discovery import test_rfc7517_jwks as checks

EVERY_KEY_CHECKS = [
    checks.test_every_key_has_a_kid,
    checks.test_kids_are_unique,
    checks.test_no_private_key_material_is_published,
    checks.test_no_symmetric_key_is_published,
    checks.test_rsa_keys_are_at_least_2048_bits,
    checks.test_keys_are_usable,
    checks.test_key_members_are_unpadded_base64url,
]
GOOD_KEY = json.loads(hostile_server.VALID_JWKS)["keys"][0]


def fetched(data: dict) -> SimpleNamespace:
    """What the `jwks` fixture gives a check: the document and its response."""
    return SimpleNamespace(data=data, response=SimpleNamespace(headers={}))


@pytest.fixture(scope="module")
def huge() -> SimpleNamespace:
    return fetched(json.loads(hostile_server.many_keys()))


@pytest.mark.parametrize("check", [*EVERY_KEY_CHECKS, checks.test_a_signing_key_is_published])
def test_each_check_is_fast_and_short_on_200000_keys(huge, check):
    started = time.monotonic()
    try:
        check(huge)
        message = ""
    except (AssertionError, TargetError) as exc:  # failed on offenders, or not checked
        message = str(exc)
    assert time.monotonic() - started < 1, check.__name__
    assert len(message) < 2000, message[:300]
    if check in EVERY_KEY_CHECKS:
        assert "JWKS has 200000 keys: the first 1000 were checked, 199000 ignored" in message


def test_offenders_are_listed_ten_at_most(huge):
    with pytest.raises(AssertionError) as caught:
        checks.test_kids_are_unique(huge)
    actual = str(caught.value).splitlines()[1]
    assert actual.startswith("Actual: 'k0', 'k1', ")
    assert "… and 40 more; JWKS has 200000 keys" in actual


def test_a_good_small_jwks_still_passes():
    jwks = fetched({"keys": [GOOD_KEY, {**GOOD_KEY, "kid": "hostile-2"}]})
    for check in [*EVERY_KEY_CHECKS, checks.test_a_signing_key_is_published]:
        check(jwks)


def test_1001_good_keys_are_not_checked_rather_than_failed():
    """No false failure: the key left unexamined may be fine, so the check says it could not
    conclude (an error, never a pass) instead of failing the provider."""
    jwks = fetched({"keys": [{**GOOD_KEY, "kid": f"k{i}"} for i in range(1001)]})
    for check in EVERY_KEY_CHECKS:
        with pytest.raises(TargetError, match=r"not checked: .*the first 1000 were checked, 1"):
            check(jwks)
    checks.test_a_signing_key_is_published(jwks)  # found among the 1000: positive evidence


def test_a_non_list_keys_member_is_shown_short():
    with pytest.raises(AssertionError) as caught:
        checks.test_jwks_is_a_key_set(fetched({"keys": "x" * 100_000}))
    assert len(str(caught.value)) < 300
