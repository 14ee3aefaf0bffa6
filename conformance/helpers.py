"""Small helpers the checks share: skip when a feature is not offered, read RFC errors, and
say "Expected / Actual" the way a failure should read."""

from __future__ import annotations

import math
import re
from collections import Counter

import httpx
import pytest

from psc_testkit.client.jsonsafe import loads

# RFC 6749 §5.2 / Appendix A.7: error codes are NQSCHAR; error_description NQSCHAR minus '"\'.
ERROR_CODE = re.compile(r"^[\x20-\x21\x23-\x5B\x5D-\x7E]+$")
ERROR_DESCRIPTION = re.compile(r"^[\x20-\x21\x23-\x5B\x5D-\x7E]*$")
VSCHAR = re.compile(r"^[\x20-\x7E]+$")


def needs(meta: dict, name: str) -> object:
    """The metadata member a check needs; skip when the provider does not offer the feature."""
    value = meta.get(name)
    if not value:
        pytest.skip(f"the provider does not advertise {name}")
    return value


def expect(condition: bool, expected: str, actual: object) -> None:
    __tracebackhide__ = True
    if not condition:
        raise AssertionError(f"Expected: {expected}\nActual: {actual}")


def body_of(response: httpx.Response) -> dict:
    __tracebackhide__ = True
    try:
        data = loads(response.content)
    except ValueError:
        raise AssertionError(
            f"Expected: a JSON object\nActual: HTTP {response.status_code}, "
            f"{response.headers.get('content-type', 'no content type')}: "
            f"{response.text[:200]!r}"
        ) from None
    if not isinstance(data, dict):
        raise AssertionError(f"Expected: a JSON object\nActual: {type(data).__name__}")
    return data


def error_of(response: httpx.Response) -> str | None:
    """The `error` of an RFC 6749 §5.2 response, None if the body has none."""
    try:
        data = loads(response.content)
    except ValueError:
        return None
    return data.get("error") if isinstance(data, dict) else None


def expect_error(response: httpx.Response, errors: tuple[str, ...], statuses=(400,)) -> None:
    __tracebackhide__ = True
    error = error_of(response)
    expect(
        response.status_code in statuses and error in errors,
        f"HTTP {'/'.join(map(str, statuses))} with error {' or '.join(errors)}",
        f"HTTP {response.status_code} with error {error!r}",
    )


def expect_silent_code(callback) -> None:
    """The provider answered at once (no page shown) with a code."""
    __tracebackhide__ = True
    expect(
        callback is not None and bool(callback.code),
        "a code, silently",
        callback.params if callback else "no redirect",
    )


def entropy_bits(value: str) -> float:
    """Shannon estimate of a value's entropy: per-character entropy × length."""
    if not value:
        return 0.0
    counts = Counter(value)
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value)
