"""RFC 6749 §4.1.3–§5 and OIDC Core §3.1.3: the token endpoint of the code flow."""

import pytest

from conformance.helpers import VSCHAR, body_of, error_of, expect, expect_error
from psc_testkit.claims.schemas import schema_errors, schema_id
from psc_testkit.client import flow
from psc_testkit.client.errors import TargetError


@pytest.fixture(
    params=[
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "tls_client_auth",
        "none",
    ]
)
def client(request, target):
    """Each client of the profile, one per authentication method."""
    client = target.client(request.param)
    if client is None:
        pytest.skip(f"the profile has no {request.param} client")
    return client


@pytest.mark.requirement("OIDCC-9", "MUST")
def test_code_exchange_succeeds_with_each_auth_method(harness, client):
    """OIDCC-9 / RFC6749-4.1.3 MUST. A code is exchanged for tokens by a client authenticating
    with its registered method (client_secret_basic, _post, private_key_jwt, tls_client_auth,
    or none with PKCE)."""
    tokens = harness.exchange(harness.code(client=client))
    expect(
        tokens.ok and bool(tokens.access_token),
        "HTTP 200 with an access_token",
        f"HTTP {tokens.response.status_code} {tokens.body}",
    )


@pytest.mark.requirement("RFC6749-5.1", "MUST")
def test_token_response_is_json(happy):
    """RFC6749-5.1 MUST. "The parameters are included in the entity-body of the HTTP response
    using the "application/json" media type"."""
    content_type = happy.tokens.response.headers.get("content-type", "")
    expect(
        content_type.split(";")[0].strip() == "application/json", "application/json", content_type
    )


@pytest.mark.requirement("RFC6749-5.1", "MUST")
def test_token_response_is_not_cached(happy):
    """RFC6749-5.1 MUST. "The authorization server MUST include the HTTP "Cache-Control"
    response header field with a value of "no-store" in any response containing tokens"."""
    value = happy.tokens.response.headers.get("cache-control", "")
    expect("no-store" in value.lower(), "Cache-Control: no-store", repr(value))


@pytest.mark.requirement("RFC6749-5.1", "SHOULD")
def test_token_response_has_pragma_no_cache(happy):
    """RFC6749-5.1 SHOULD. "...as well as the "Pragma" response header field with a value of
    "no-cache"" (RFC 9111 deprecates Pragma, hence SHOULD here)."""
    value = happy.tokens.response.headers.get("pragma", "")
    expect("no-cache" in value.lower(), "Pragma: no-cache", repr(value))


@pytest.mark.requirement("OIDCC-3.1.3.3", "MUST")
def test_token_type_is_bearer(happy):
    """OIDCC-3.1.3.3 MUST. "The OAuth 2.0 token_type response parameter value MUST be Bearer"
    (case-insensitive, RFC 6749 §7.1)."""
    token_type = happy.tokens.get("token_type")
    expect(
        isinstance(token_type, str) and token_type.lower() == "bearer", "Bearer", repr(token_type)
    )


@pytest.mark.requirement("OIDCC-3.1.3.3", "MUST")
def test_id_token_is_returned(happy):
    """OIDCC-3.1.3.3 MUST. The token response of an OpenID request contains an id_token."""
    expect(
        isinstance(happy.tokens.get("id_token"), str),
        "an id_token",
        repr(happy.tokens.get("id_token"))[:40],
    )


@pytest.mark.requirement("RFC6749-5.1", "SHOULD")
def test_expires_in_is_present_and_sane(happy):
    """RFC6749-5.1 SHOULD. expires_in is RECOMMENDED: the lifetime in seconds, positive and not
    absurd (a year at most: a larger value is usually milliseconds)."""
    value = happy.tokens.get("expires_in")
    expect(
        isinstance(value, int) and 0 < value <= 365 * 24 * 3600,
        "an integer number of seconds between 1 and a year",
        repr(value),
    )


@pytest.mark.requirement("RFC6749-A.12", "MUST")
def test_access_token_uses_allowed_characters(happy):
    """RFC6749-A.12 MUST. access-token = 1*VSCHAR (%x20-7E)."""
    expect(bool(VSCHAR.match(happy.tokens.access_token or "")), "VSCHAR only", "other characters")


@pytest.mark.requirement("RFC6749-A.17", "MUST")
def test_refresh_token_uses_allowed_characters(happy):
    """RFC6749-A.17 MUST. refresh-token = 1*VSCHAR."""
    token = happy.tokens.refresh_token
    if token is None:
        pytest.skip("no refresh token issued")
    expect(bool(VSCHAR.match(token)), "VSCHAR only", "other characters")


# Codes are single-use and bound -----------------------------------------------------------


@pytest.mark.requirement("RFC6749-4.1.2", "MUST")
def test_code_cannot_be_used_twice(harness):
    """RFC6749-4.1.2 MUST. "The client MUST NOT use the authorization code more than once. If
    an authorization code is used more than once, the authorization server MUST deny the
    request" — invalid_grant (OIDF oidcc-codereuse)."""
    login = harness.code()
    first = harness.exchange(login)
    if not first.ok:
        raise AssertionError(f"the first exchange failed: HTTP {first.response.status_code}")
    second = harness.exchange(login)
    expect_error(second.response, ("invalid_grant",))


@pytest.mark.requirement("RFC6749-4.1.2", "SHOULD")
def test_code_reuse_revokes_the_first_tokens(harness):
    """RFC6749-4.1.2 SHOULD. "...and SHOULD revoke (when possible) all tokens previously issued
    based on that authorization code" (OIDF oidcc-codereuse-30seconds)."""
    login = harness.code()
    first = harness.exchange(login)
    if (failure := first.failure()) is not None:
        raise TargetError(f"the token request failed: {failure}")  # no first token to judge
    harness.exchange(login)
    info = harness.userinfo(first.access_token or "", client_id=login.client.client_id)
    expect(
        400 <= info.status_code < 500,
        "the first access token refused (4xx)",
        f"HTTP {info.status_code}",
    )


@pytest.mark.requirement("RFC6749-4.1.3", "MUST")
def test_redirect_uri_must_match(harness, target):
    """RFC6749-4.1.3 MUST. The server must "ensure that the "redirect_uri" parameter is present
    if the "redirect_uri" parameter was included in the initial authorization request ... and
    if included ensure that their values are identical"."""
    login = harness.code()
    other = target.primary.redirect_uri.rstrip("/") + "/other"
    tokens = harness.exchange(login, redirect_uri=other)
    expect_error(tokens.response, ("invalid_grant",))


@pytest.mark.requirement("RFC6749-4.1.3", "MUST")
def test_redirect_uri_is_required_when_it_was_sent(harness):
    """RFC6749-4.1.3 MUST. "The authorization server MUST: ... ensure that the "redirect_uri"
    parameter is present if the "redirect_uri" parameter was included in the initial
    authorization request as described in Section 4.1.1, and if included ensure that their
    values are identical." (RFC 6749 §4.1.3) — a code exchanged without it is refused."""
    login = harness.code()
    tokens = harness.exchange(login, redirect_uri=None)
    expect_error(tokens.response, ("invalid_grant", "invalid_request"))


@pytest.mark.requirement("RFC6749-4.1.3", "MUST")
def test_code_is_bound_to_its_client(harness, target):
    """RFC6749-4.1.3 MUST. The server must "ensure that the authorization code was issued to the
    authenticated confidential client"."""
    other = target.secondary
    if other is None:
        pytest.skip("the profile has no second confidential client")
    login = harness.code()
    tokens = harness.exchange(login, client=other)
    expect_error(tokens.response, ("invalid_grant",))


# Client authentication and errors ---------------------------------------------------------


@pytest.mark.requirement("RFC6749-5.2", "MUST")
def test_wrong_client_secret_is_invalid_client(harness, target):
    """RFC6749-5.2 MUST. "invalid_client: Client authentication failed ... The authorization
    server MAY return an HTTP 401 (Unauthorized) status code to indicate which HTTP
    authentication schemes are supported. If the client attempted to authenticate via the
    "Authorization" request header field, the authorization server MUST respond with an HTTP
    401 (Unauthorized) status code and include the "WWW-Authenticate" response header field
    matching the authentication scheme used by the client." (RFC 6749 §5.2): HTTP Basic gets 401
    with WWW-Authenticate; client_secret_post, 400 or 401."""
    client = target.client("client_secret_basic") or target.client("client_secret_post")
    if client is None:
        pytest.skip("the profile has no client_secret client")
    from dataclasses import replace

    login = harness.code(client=client)
    tokens = harness.exchange(login, client=replace(client, secret="psc-testkit-wrong-secret"))
    status, error = tokens.response.status_code, error_of(tokens.response)
    ok = status in (400, 401) and error == "invalid_client"
    if ok and client.auth_method == "client_secret_basic":
        ok = status == 401 and "www-authenticate" in tokens.response.headers
    expect(
        ok, "HTTP 401 invalid_client (with WWW-Authenticate for Basic)", f"HTTP {status} {error}"
    )


ERROR_CASES = {
    "unsupported-grant-type": {"grant_type": "urn:psc-testkit:unknown"},
    # A form without grant_type (an empty body would meet a content-type error first).
    "missing-grant-type": {"code": "psc-testkit-unknown-code"},
    "unknown-code": {
        "grant_type": "authorization_code",
        "code": "psc-testkit-unknown-code",
        "redirect_uri": "https://rp.psc-testkit.test/cb",
    },
}
EXPECTED_ERRORS = {
    "unsupported-grant-type": ("unsupported_grant_type",),
    "missing-grant-type": ("invalid_request", "unsupported_grant_type"),
    "unknown-code": ("invalid_grant",),
}


@pytest.fixture(params=list(ERROR_CASES))
def error_response(request, harness, target):
    case = request.param
    client = target.primary
    headers, fields = flow.authenticate(client, harness.meta["token_endpoint"])
    sent = flow.HttpRequest(
        "POST",
        flow.endpoint_for(harness.meta, "token_endpoint", client),
        headers,
        {**fields, **ERROR_CASES[case]},
        client.client_id,
    )
    with harness.recorder.capture():
        response = harness.send(sent)
    response.case = case  # type: ignore[attr-defined]
    return response


@pytest.mark.requirement("RFC6749-5.2", "MUST")
def test_error_uses_http_400_and_the_rfc_error_code(error_response):
    """RFC6749-5.2 MUST. "The authorization server responds with an HTTP 400 (Bad Request)
    status code (unless specified otherwise)" and an error code from §5.2."""
    expected = EXPECTED_ERRORS[error_response.case]
    error = error_of(error_response)
    expect(
        error_response.status_code == 400 and error in expected,
        f"HTTP 400 with {' or '.join(expected)}",
        f"HTTP {error_response.status_code} {error}",
    )


@pytest.mark.requirement("RFC6749-5.2", "MUST")
def test_error_is_json_with_an_ascii_error_code(error_response):
    """RFC6749-5.2 MUST. The error response is JSON; "Values for the "error" parameter MUST NOT
    include characters outside the set %x20-21 / %x23-5B / %x5D-7E" and the same for
    error_description (schemas/oidc/error-response.schema.json)."""
    problems = schema_errors(schema_id("oidc:error-response"), body_of(error_response))
    expect(not problems, "error (and error_description) in NQSCHAR", problems)


@pytest.mark.requirement("RFC6749-5.1", "MUST")
def test_token_response_matches_the_schema(happy):
    """RFC6749-5.1 MUST. access_token and token_type REQUIRED strings, expires_in a number of
    seconds, refresh_token a string (schemas/oidc/token-response.schema.json)."""
    problems = schema_errors(schema_id("oidc:token-response"), happy.tokens.body)
    expect(not problems, "a valid token response", problems)
