"""RFC 6749 §6, OIDC Core §12 and RFC 9700 §4.14: refreshing tokens.

Each negative check has its positive control first: the correct refresh succeeds, then the wrong
one is refused. Without it a refusal proves nothing (a provider whose refresh is broken refuses
everything)."""

import pytest

from conformance.helpers import error_of, expect, expect_error
from psc_testkit.client import flow
from psc_testkit.client.errors import TargetError
from psc_testkit.conformance.harness import json_body


@pytest.fixture
def issued(fresh_tokens):
    if not fresh_tokens.refresh_token:
        pytest.skip("no refresh token issued")
    return fresh_tokens


def latest(refreshed, before):
    """The tokens whose refresh token is now the client's: RFC 6749 §6, "The authorization
    server MAY issue a new refresh token, in which case the client MUST discard the old refresh
    token"; without a new one the client keeps the old."""
    return refreshed if refreshed.refresh_token else before


def control(harness, tokens, **options):
    """The positive control: the correct refresh succeeds. Its failure leaves nothing to judge
    (test_refresh_token_gets_new_tokens says what is wrong)."""
    refreshed = harness.refresh(tokens, **options)
    if (failure := refreshed.failure()) is not None:
        raise TargetError(f"the correct refresh (positive control) failed: {failure}")
    return refreshed


@pytest.mark.requirement("RFC6749-6", "MUST")
def test_refresh_token_gets_new_tokens(harness, issued):
    """RFC6749-6 MUST. A valid refresh token presented by its client gets a new access token
    (RFC 6749 §5.1 response)."""
    refreshed = harness.refresh(issued)
    expect(
        refreshed.ok and bool(refreshed.access_token),
        "HTTP 200 with an access_token",
        f"HTTP {refreshed.response.status_code} {error_of(refreshed.response)}",
    )


@pytest.mark.requirement("OIDCC-12.2", "MUST")
def test_refreshed_id_token_keeps_the_original_claims(harness, issued):
    """OIDCC-12.2 MUST. "its iss Claim Value MUST be the same as in the ID Token issued when the
    original authentication occurred, its sub Claim Value MUST be the same ..., its aud Claim
    Value MUST be the same ..., if the ID Token contains an auth_time Claim, its value MUST
    represent the time of the original authentication" and "it SHOULD NOT have a nonce Claim
    Value, but if it does, it MUST be the same" (OIDC Core §12.2). auth_time is compared only
    when the new token has one; azp only when both have one (errata set 2 leaves azp to
    extensions)."""
    refreshed = harness.refresh(issued)
    if refreshed.id_token is None:
        pytest.skip("no ID token in the refresh response (it is optional)")
    before, after = issued.id_token.claims, refreshed.id_token.claims
    compared = ["iss", "sub", "aud"]
    if "auth_time" in after:
        compared.append("auth_time")
    if "azp" in after and "azp" in before:
        compared.append("azp")
    changed = [c for c in compared if before.get(c) != after.get(c)]
    if "nonce" in after and after["nonce"] != before.get("nonce"):
        changed.append("nonce")
    expect(not changed, "the same iss, sub, aud, azp, auth_time (nonce absent or equal)", changed)


@pytest.mark.requirement("RFC6749-6", "MUST")
def test_refresh_token_is_bound_to_its_client(harness, issued, target):
    """RFC6749-6 MUST. The server must "validate the refresh token ... and ensure that the
    refresh token was issued to the authenticated client" (OIDF oidcc-refresh-token): its own
    client refreshes, then another client is refused with it."""
    other = target.secondary
    if other is None:
        pytest.skip("the profile has no second confidential client")
    current = latest(control(harness, issued), issued)
    refreshed = harness.refresh(current, client=other)
    expect_error(refreshed.response, ("invalid_grant",))


def granted_scope(harness, refreshed, requested: str) -> tuple[set[str], str]:
    """The scope a successful refresh granted, and where it was read: the response's scope;
    without one, the new access token's introspection; without that, the scope requested (RFC
    6749 §5.1: scope is "OPTIONAL, if identical to the scope requested by the client")."""
    scope = refreshed.get("scope")
    if isinstance(scope, str):
        return set(scope.split()), "the response's scope"
    endpoint = harness.meta.get("introspection_endpoint")
    if endpoint and not refreshed.client.public and refreshed.access_token:
        request = flow.introspection_request(harness.meta, refreshed.client, refreshed.access_token)
        body = json_body(harness.send(request)) or {}
        if body.get("active") is True and isinstance(body.get("scope"), str):
            return set(body["scope"].split()), "introspection's scope"
    return set(requested.split()), "no scope in the response: the scope requested"


@pytest.mark.requirement("RFC6749-6", "MUST")
def test_refresh_cannot_widen_the_scope(harness, target):
    """RFC6749-6 MUST. The OP's side: "If a new refresh token is issued, the refresh token scope
    MUST be identical to that of the refresh token included by the client in the request." (RFC
    6749 §6); "The authorization server MAY fully or partially ignore the scope requested by
    the client ... If the issued access token scope is different from the one requested by the
    client, the authorization server MUST include the "scope" response parameter" (§3.3). ("The
    requested scope MUST NOT include any scope not originally granted by the resource owner",
    §6, is the client's.) Judged by the scope granted, not by the status: refusing
    (invalid_scope) and granting only the original scope, saying so in scope, both comply."""
    tokens = harness.tokens(request=harness.authorization_request(extra={"scope": "openid"}))
    if not tokens.refresh_token:
        pytest.skip("no refresh token issued")
    original = set((tokens.get("scope") or "openid").split())
    current = latest(control(harness, tokens, scope="openid"), tokens)
    wider = " ".join(dict.fromkeys(["openid", *target.scopes, "psc-testkit-extra-scope"]))
    refreshed = harness.refresh(current, scope=wider)
    if refreshed.response.status_code != 200:
        expect_error(refreshed.response, ("invalid_scope", "invalid_grant"))
        return
    granted, source = granted_scope(harness, refreshed, wider)
    expect(
        granted <= original,
        f"at most the original scope {sorted(original)} (or invalid_scope)",
        f"HTTP 200 granting {sorted(granted)} ({source})",
    )


@pytest.mark.requirement("RFC9700-4.14.2", "MUST")
def test_refresh_tokens_rotate_and_a_reused_one_is_refused(harness, target):
    """RFC9700-4.14.2 MUST for public clients. RFC 9700 §2.2.2: "Refresh tokens for public
    clients MUST be sender-constrained or use refresh token rotation"; with rotation "the
    authorization server ... invalidates the old refresh token" — reuse fails. Confidential
    clients are bound by their authentication and need not rotate (RFC 6749 §6: "MAY issue a
    new refresh token"), so this is checked with the public client."""
    client = target.client("none")
    if client is None:
        pytest.skip("the profile has no public client (rotation is a MUST for public clients)")
    issued = harness.tokens(client=client)
    if not issued.refresh_token:
        pytest.skip("no refresh token issued to the public client")
    refreshed = harness.refresh(issued)  # a failed refresh is no rotation: judged below
    again = harness.refresh(issued)
    rotated = refreshed.ok and refreshed.refresh_token not in (None, issued.refresh_token)
    expect(
        rotated and again.response.status_code == 400,
        "a new refresh token; the old one refused",
        f"refresh → HTTP {refreshed.response.status_code}, rotated={rotated}, "
        f"reuse → HTTP {again.response.status_code}",
    )


@pytest.mark.requirement("RFC6749-6", "MUST")
def test_refreshed_access_token_works(harness, issued):
    """RFC6749-6 MUST. The access token from a refresh grants access like the original one."""
    refreshed = harness.refresh(issued)
    if not refreshed.ok:
        pytest.fail(f"refresh failed: HTTP {refreshed.response.status_code}")
    response = harness.userinfo(refreshed.access_token, client_id=issued.client.client_id)
    expect(response.status_code == 200, "HTTP 200 at UserInfo", f"HTTP {response.status_code}")
