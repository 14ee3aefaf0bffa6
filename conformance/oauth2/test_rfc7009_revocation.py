"""RFC 7009: token revocation."""

import pytest

from conformance.helpers import error_of, expect, expect_error, needs
from psc_testkit.client import flow
from psc_testkit.client.errors import TargetError


def revoke(harness, client, token, hint=None):
    return harness.send(flow.revocation_request(harness.meta, client, token, hint))


@pytest.fixture
def endpoint(meta):
    return needs(meta, "revocation_endpoint")


@pytest.mark.requirement("RFC7009-2", "SHOULD")
def test_revoking_an_access_token_succeeds_and_it_stops_working(harness, endpoint, fresh_tokens):
    """RFC7009-2 SHOULD. "Implementations MUST support the revocation of refresh tokens and
    SHOULD support the revocation of access tokens"; when supported, "The authorization server
    responds with HTTP status code 200 if the token has been revoked successfully" and the token
    is then no longer usable. A server without it answers unsupported_token_type (§2.2.1)."""
    response = revoke(harness, fresh_tokens.client, fresh_tokens.access_token, "access_token")
    info = harness.userinfo(fresh_tokens.access_token, client_id=fresh_tokens.client.client_id)
    expect(
        response.status_code == 200 and info.status_code == 401,
        "HTTP 200, then UserInfo refuses the token",
        f"HTTP {response.status_code} {error_of(response)}, then UserInfo HTTP {info.status_code}",
    )


@pytest.mark.requirement("RFC7009-2.1", "MUST")
def test_revoked_refresh_token_cannot_be_used(harness, endpoint, fresh_tokens):
    """RFC7009-2.1 MUST. A revoked refresh token is refused at the token endpoint; a wrong
    token_type_hint does not stop the server finding it ("MUST extend its search"). Positive
    control first: the refresh token works before it is revoked."""
    if not fresh_tokens.refresh_token:
        pytest.skip("no refresh token issued")
    refreshed = harness.refresh(fresh_tokens)
    if (failure := refreshed.failure()) is not None:
        raise TargetError(f"the refresh before revocation (positive control) failed: {failure}")
    current = refreshed if refreshed.refresh_token else fresh_tokens
    revoke(harness, current.client, current.refresh_token, "access_token")
    expect_error(harness.refresh(current).response, ("invalid_grant",))


@pytest.mark.requirement("RFC7009-2.2", "MUST")
def test_revoking_an_unknown_token_is_200(harness, endpoint, target):
    """RFC7009-2.2 MUST. "invalid tokens do not cause an error response since the client cannot
    handle such an error in a reasonable way"."""
    response = revoke(harness, target.primary, "psc-testkit-never-issued")
    expect(response.status_code == 200, "HTTP 200", f"HTTP {response.status_code}")


@pytest.mark.requirement("RFC7009-2.1", "MUST")
def test_revocation_requires_client_authentication(harness, endpoint, fresh_tokens):
    """RFC7009-2.1 MUST. "The authorization server first validates the client credentials (in
    case of a confidential client)" — a request without them is refused, the token kept."""
    if fresh_tokens.client.public:
        pytest.skip("the primary client is public")
    response = harness.send(
        flow.HttpRequest("POST", endpoint, form={"token": fresh_tokens.access_token})
    )
    info = harness.userinfo(fresh_tokens.access_token, client_id=fresh_tokens.client.client_id)
    expect(
        response.status_code in (400, 401) and info.status_code == 200,
        "HTTP 401 (or 400) and the token still valid",
        f"HTTP {response.status_code}, UserInfo then HTTP {info.status_code}",
    )
