"""RFC 7662: token introspection (PSC: Basic auth, returns SubjectNameID, acr, authMode)."""

import pytest

from conformance.helpers import body_of, error_of, expect, needs
from psc_testkit.client import flow
from psc_testkit.client.tokens import decode


def introspect(harness, client, token, hint=None):
    return harness.send(flow.introspection_request(harness.meta, client, token, hint))


def audience_without(access_token, client_id):
    """The JWT access token's aud when it is present and does not name `client_id` (aud is a
    string or a list, RFC 7519 §4.1.3); None for an opaque token or one without aud."""
    try:
        aud = decode(access_token).claims.get("aud")
    except ValueError:
        return None
    if aud is None:
        return None
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return None if client_id in named else aud


def skip_if_audience_only(body, tokens):
    """An active false for a JWT whose aud does not name the introspecting client says nothing
    about the token's activity: RFC 7662 §4 lets the server refuse to describe it to a resource
    server it cannot be used at."""
    aud = audience_without(tokens.access_token, tokens.client.client_id)
    if body.get("active") is False and aud is not None:
        pytest.skip(
            f"active false, and the access token's aud {aud!r} does not name "
            f'{tokens.client.client_id}: RFC 7662 §4 "If the token can be used only at certain '
            "resource servers, the authorization server MUST determine whether or not the token "
            'can be used at the resource server making the introspection call" — give the '
            "client its own audience (in Keycloak, an audience mapper) for this check to judge"
        )


@pytest.fixture
def endpoint(meta, target):
    if target.primary.public:
        pytest.skip("the primary client is public: it cannot introspect")
    return needs(meta, "introspection_endpoint")


@pytest.mark.requirement("RFC7662-2.2", "MUST")
def test_active_access_token_is_active(harness, endpoint, fresh_tokens):
    """RFC7662-2.2 MUST. "The server responds with a JSON object [RFC7159] in
    "application/json" format" and "active REQUIRED. Boolean indicator of whether or not the
    presented token is currently active." (RFC 7662 §2.2). A token of its own: the run's first
    one may have expired (PSC: 2 minutes) or gone with its grant when another check revoked a
    token of the same session. An active false for a JWT whose aud does not name the
    introspecting client cannot be judged: RFC 7662 §4 has the server decide whether the token
    can be used at the resource server asking (Keycloak 26 answers active false to any client
    outside aud); a token without aud, or opaque, is judged."""
    response = introspect(harness, fresh_tokens.client, fresh_tokens.access_token)
    body = body_of(response)
    skip_if_audience_only(body, fresh_tokens)
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    expect(
        content_type == "application/json" and body.get("active") is True,
        "application/json with active: true",
        f"{content_type} active: {body.get('active')!r}",
    )


@pytest.mark.requirement("RFC7662-2.2", "MUST")
def test_unknown_token_is_inactive(harness, endpoint, target):
    """RFC7662-2.2 MUST. "If the introspection call is properly authorized but the token is not
    active, does not exist on this server ... the authorization server MUST return an
    introspection response with the "active" field set to "false""."""
    response = introspect(harness, target.primary, "psc-testkit-never-issued")
    body = body_of(response)
    expect(
        response.status_code == 200 and body.get("active") is False,
        "HTTP 200, active: false",
        f"HTTP {response.status_code} {body}",
    )


@pytest.mark.requirement("RFC7662-2.2", "MUST")
def test_revoked_token_is_inactive(harness, endpoint, meta, fresh_tokens):
    """RFC7662-2.2 MUST. "If the introspection call is properly authorized but the token is not
    active, does not exist on this server, or the protected resource is not allowed to
    introspect this particular token, then the authorization server MUST return an
    introspection response with the "active" field set to "false"." (RFC 7662 §2.2) — judged
    only once the revocation succeeded (HTTP 200): revoking an access token is a SHOULD (RFC
    7009 §2)."""
    if "revocation_endpoint" not in meta:
        pytest.skip("no revocation endpoint")
    revoked = harness.send(
        flow.revocation_request(meta, fresh_tokens.client, fresh_tokens.access_token)
    )
    if revoked.status_code != 200:
        # RFC 7009 §2: revoking access tokens is a SHOULD; test_revoking_an_access_token_* says.
        pytest.skip(
            f"the access token was not revoked (HTTP {revoked.status_code} "
            f"{error_of(revoked)}): nothing to introspect"
        )
    body = body_of(introspect(harness, fresh_tokens.client, fresh_tokens.access_token))
    expect(body.get("active") is False, "active: false", repr(body.get("active")))


@pytest.mark.requirement("RFC7662-2.1", "MUST")
def test_introspection_requires_authentication(harness, endpoint, happy):
    """RFC7662-2.1 MUST. "the endpoint MUST also require some form of authorization to access
    this endpoint" — a request without credentials is refused."""
    response = harness.send(
        flow.HttpRequest("POST", endpoint, form={"token": happy.tokens.access_token})
    )
    expect(
        response.status_code in (400, 401) and "active" not in response.text,
        "HTTP 401 (or 400) without token information",
        f"HTTP {response.status_code}",
    )


@pytest.mark.requirement("RFC7662-2.2", "MAY")
def test_active_response_names_client_and_expiry(harness, endpoint, fresh_tokens):
    """RFC7662-2.2 MAY. "client_id OPTIONAL. Client identifier for the OAuth 2.0 client that
    requested this token." and "exp OPTIONAL. Integer timestamp ..." (RFC 7662 §2.2): noted
    only. The JSON format is test_active_access_token_is_active's MUST; PSC's documented
    fields are psc/test_introspection_returns_the_psc_fields. Not judged when the server
    declines to describe the token to this client (its aud does not name it, RFC 7662 §4)."""
    response = introspect(harness, fresh_tokens.client, fresh_tokens.access_token)
    body = body_of(response)
    skip_if_audience_only(body, fresh_tokens)
    expect(
        body.get("client_id") == fresh_tokens.client.client_id and isinstance(body.get("exp"), int),
        "client_id and exp",
        {k: body.get(k) for k in ("client_id", "exp")},
    )
