"""RFC 6749 §6, OIDC Core §12 and RFC 9700 §4.14: refreshing tokens."""

import pytest

from conformance.helpers import error_of, expect, expect_error


@pytest.fixture
def issued(fresh_tokens):
    if not fresh_tokens.refresh_token:
        pytest.skip("no refresh token issued")
    return fresh_tokens


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
    """OIDCC-12.2 MUST. A refreshed ID token keeps iss, sub, aud, azp and auth_time of the
    original; "it SHOULD NOT have a nonce Claim Value, but if it does, it MUST be the same"."""
    refreshed = harness.refresh(issued)
    if refreshed.id_token is None:
        pytest.skip("no ID token in the refresh response (it is optional)")
    before, after = issued.id_token.claims, refreshed.id_token.claims
    changed = [
        c for c in ("iss", "sub", "aud", "azp", "auth_time") if before.get(c) != after.get(c)
    ]
    if "nonce" in after and after["nonce"] != before.get("nonce"):
        changed.append("nonce")
    expect(not changed, "the same iss, sub, aud, azp, auth_time (nonce absent or equal)", changed)


@pytest.mark.requirement("RFC6749-6", "MUST")
def test_refresh_token_is_bound_to_its_client(harness, issued, target):
    """RFC6749-6 MUST. The server must "validate the refresh token ... and ensure that the
    refresh token was issued to the authenticated client" (OIDF oidcc-refresh-token)."""
    other = target.secondary
    if other is None:
        pytest.skip("the profile has no second confidential client")
    refreshed = harness.refresh(issued, client=other)
    expect_error(refreshed.response, ("invalid_grant",))


@pytest.mark.requirement("RFC6749-6", "MUST")
def test_refresh_cannot_widen_the_scope(harness, target):
    """RFC6749-6 MUST. "The requested scope MUST NOT include any scope not originally granted
    by the resource owner" — invalid_scope."""
    tokens = harness.tokens(request=harness.authorization_request(extra={"scope": "openid"}))
    if not tokens.refresh_token:
        pytest.skip("no refresh token issued")
    wider = " ".join(dict.fromkeys(["openid", *target.scopes, "psc-testkit-extra-scope"]))
    refreshed = harness.refresh(tokens, scope=wider)
    expect_error(refreshed.response, ("invalid_scope", "invalid_grant"))


@pytest.mark.requirement("RFC9700-4.14.2", "SHOULD")
def test_refresh_tokens_rotate_and_a_reused_one_is_refused(harness, issued):
    """RFC9700-4.14.2 SHOULD. Refresh token rotation: each refresh returns a new refresh token
    and "the authorization server ... invalidates the old refresh token" — reuse fails."""
    refreshed = harness.refresh(issued)
    again = harness.refresh(issued)
    rotated = refreshed.refresh_token not in (None, issued.refresh_token)
    expect(
        rotated and again.response.status_code == 400,
        "a new refresh token; the old one refused",
        f"rotated={rotated}, reuse → HTTP {again.response.status_code}",
    )


@pytest.mark.requirement("RFC6749-6", "MUST")
def test_refreshed_access_token_works(harness, issued):
    """RFC6749-6 MUST. The access token from a refresh grants access like the original one."""
    refreshed = harness.refresh(issued)
    if not refreshed.ok:
        pytest.fail(f"refresh failed: HTTP {refreshed.response.status_code}")
    response = harness.userinfo(refreshed.access_token, client_id=issued.client.client_id)
    expect(response.status_code == 200, "HTTP 200 at UserInfo", f"HTTP {response.status_code}")
