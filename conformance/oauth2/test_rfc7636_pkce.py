"""RFC 7636 (PKCE) and RFC 9700 §2.1.1: the code is bound to its verifier.

Each refusal has its positive control first: a code of the same kind of request, exchanged with
the right verifier (or, for the downgrade, with none), gives tokens. A provider that refuses
every exchange would otherwise pass them all."""

import pytest

from conformance.helpers import error_of, expect
from psc_testkit.client.errors import TargetError


def refused(tokens) -> tuple[bool, str]:
    status, error = tokens.response.status_code, error_of(tokens.response)
    return status == 400 and error in ("invalid_grant", "invalid_request"), f"HTTP {status} {error}"


def control(harness, request=None) -> None:
    """The positive control: the right exchange works. Its failure leaves nothing to judge."""
    login = harness.code(request=request or harness.authorization_request())
    tokens = harness.exchange(login)
    if (failure := tokens.failure()) is not None:
        raise TargetError(f"the right exchange (positive control) failed: {failure}")


@pytest.mark.requirement("RFC7636-4.6", "MUST")
def test_wrong_verifier_is_refused(harness):
    """RFC7636-4.6 MUST. "If the values are not equal, an error response indicating
    "invalid_grant" as described in Section 5.2 of [RFC6749] MUST be returned"."""
    control(harness)
    login = harness.code()
    ok, actual = refused(harness.exchange(login, code_verifier="x" * 43))
    expect(ok, "HTTP 400 invalid_grant", actual)


@pytest.mark.requirement("RFC7636-4.6", "MUST")
def test_missing_verifier_is_refused(harness):
    """RFC7636-4.6 MUST. A code issued for a code_challenge is not exchanged without its
    code_verifier."""
    control(harness)
    login = harness.code()
    ok, actual = refused(harness.exchange(login, code_verifier=None))
    expect(ok, "HTTP 400 invalid_grant (or invalid_request)", actual)


@pytest.mark.requirement("RFC7636-4.6", "MUST")
def test_s256_challenge_is_not_verified_as_plain(harness):
    """RFC7636-4.6 MUST. With code_challenge_method=S256 the server compares
    BASE64URL(SHA256(verifier)) with the challenge: sending the challenge itself as verifier (a
    downgrade to plain) fails."""
    control(harness)
    login = harness.code()
    challenge = login.request.params["code_challenge"]
    ok, actual = refused(harness.exchange(login, code_verifier=challenge))
    expect(ok, "HTTP 400 invalid_grant", actual)


@pytest.mark.requirement("RFC7636-4.2", "MUST")
def test_plain_method_works_when_advertised(harness, meta):
    """RFC7636-4.2 MUST. A server that advertises plain verifies verifier == challenge."""
    if "plain" not in (meta.get("code_challenge_methods_supported") or []):
        pytest.skip("plain is not advertised")
    login = harness.code(request=harness.authorization_request(pkce="plain"))
    tokens = harness.exchange(login)
    expect(tokens.ok, "HTTP 200", f"HTTP {tokens.response.status_code} {error_of(tokens.response)}")


@pytest.mark.requirement("RFC9700-2.1.1", "MUST")
def test_verifier_without_challenge_is_refused(harness, target):
    """RFC9700-2.1.1 MUST. "Authorization servers MUST mitigate PKCE Downgrade Attacks by
    ensuring that a token request containing a code_verifier parameter is accepted only if a
    code_challenge parameter was present in the authorization request"."""
    if target.primary.public:
        pytest.skip("the primary client is public: it cannot omit PKCE")
    control(harness, harness.authorization_request(pkce=None))
    login = harness.code(request=harness.authorization_request(pkce=None))
    ok, actual = refused(harness.exchange(login, code_verifier="v" * 43))
    expect(ok, "HTTP 400 invalid_grant", actual)


@pytest.mark.requirement("RFC8252-8.1", "SHOULD")
def test_public_client_must_use_pkce(harness, target):
    """RFC8252-8.1 SHOULD. "Authorization servers SHOULD reject authorization requests from
    native apps that don't use PKCE by returning an error message, as defined in Section 4.4.1
    of PKCE [RFC7636]." (RFC 8252 §8.1). "Public clients MUST use PKCE" (RFC 9700 §2.1.1) is
    the client's MUST; no sentence makes refusing one without a challenge an OP MUST."""
    client = target.client("none")
    if client is None:
        pytest.skip("the profile has no public client")
    request = harness.authorization_request(client, pkce=None)
    response, callback, _ = harness.attempt(request)
    if callback is not None and callback.code:
        tokens = harness.exchange(harness.code(client=client, request=request))
        expect(
            not tokens.ok,
            "the request refused, or at least its code",
            "tokens issued to a public client without PKCE",
        )
    else:
        expect(
            callback is None or callback.error == "invalid_request",
            "error invalid_request",
            callback.params if callback else response.status_code,
        )
