"""Whose fault a failed flow is: the provider's, the protocol's, or ours.

- provider: no answer (refused, reset, timed out), a 5xx, or an answer that lacks what it must
  carry (no code at the callback, no access token in a 200);
- protocol: an unexpected 4xx or an OAuth error at the callback, with the provider's error code;
- tool: an exception in psc-testkit's own code. It says nothing of the target: such a run is
  INVALID, and its failures never count against the provider's availability.
"""

from __future__ import annotations

import re

PROVIDER, PROTOCOL, TOOL = "provider", "protocol", "tool"
CLASSES = (PROVIDER, PROTOCOL, TOOL)
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,60}$")


class StepFailure(Exception):
    """A step of a flow failed; the message says which and why, `kind` whose fault it is."""

    def __init__(self, message: str, kind: str = PROVIDER) -> None:
        super().__init__(message)
        self.kind = kind


def error_code(body: bytes) -> str | None:
    """The OAuth `error` of a JSON error body, if it is a plain code. Its description is left
    out: a provider may echo the request (a secret, a code) in it."""
    from psc_testkit.client.jsonsafe import loads

    try:
        parsed = loads(body)
    except ValueError:
        return None
    code = parsed.get("error") if isinstance(parsed, dict) else None
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else None


def of_response(step: str, status: int, body: bytes, problem: str | None = None) -> StepFailure:
    """The failure an unusable answer to `step` is: status 0 means no usable answer."""
    if status == 0:
        return StepFailure(f"{step}: {problem or 'no response'}", PROVIDER)
    if 400 <= status < 500:
        code = error_code(body)
        return StepFailure(f"{step}: HTTP {status}" + (f" {code}" if code else ""), PROTOCOL)
    return StepFailure(f"{step}: HTTP {status}", PROVIDER)


def of_callback(error: str | None, problem: str | None, status: int | None) -> StepFailure:
    """No code came back from the login: an OAuth error (protocol), or a page that never sent
    the user back (provider; a 4xx error page is the protocol's)."""
    if error:
        code = error if _ERROR_CODE.match(error) else "an error"
        return StepFailure(f"authorize: {code}", PROTOCOL)
    kind = PROTOCOL if status is not None and 400 <= status < 500 else PROVIDER
    return StepFailure(f"authorize: {problem or 'no code'}", kind)
