"""RFC 9700 (OAuth 2.0 Security Best Current Practice) and OIDC Core §16: what an attacker
would try first."""

import socket
import ssl
from urllib.parse import urlsplit

import pytest

from conformance.helpers import expect
from psc_testkit.client.tokens import decode


@pytest.mark.requirement("OIDCC-2", "MUST")
def test_id_token_is_never_unsigned(happy):
    """OIDCC-2 MUST. "ID Tokens MUST be signed using JWS ... ID Tokens MUST NOT use none as the
    alg value unless the Response Type used returns no ID Token from the Authorization Endpoint
    (such as when using the Authorization Code Flow) and the Client explicitly requested the use
    of none at Registration time." (OIDC Core §2) — no client of the profile registered none."""
    alg = decode(happy.tokens.get("id_token")).header.get("alg")
    expect(isinstance(alg, str) and alg.lower() != "none", "a signed ID token", repr(alg))


@pytest.mark.requirement("RFC9068-2.1", "MUST")
def test_jwt_access_token_is_never_unsigned(happy):
    """RFC9068-2.1 MUST. "JWT access tokens MUST be signed. ... JWT access tokens MUST NOT use
    "none" as the signing algorithm." (RFC 9068 §2.1; PSC issues RS256 JWTs). An opaque access
    token is not a JWT: skipped."""
    token = happy.tokens.access_token or ""
    if token.count(".") != 2:
        pytest.skip("the access token is opaque")
    alg = decode(token).header.get("alg")
    expect(isinstance(alg, str) and alg.lower() != "none", "a signed access token", repr(alg))


@pytest.mark.requirement("RFC6749-4.1.2.1", "MUST")
def test_error_for_a_bad_redirect_uri_is_not_redirected(harness):
    """RFC6749-4.1.2.1 MUST. "If the request fails due to a missing, invalid, or mismatching
    redirection URI, or if the client identifier is missing or invalid, the authorization
    server SHOULD inform the resource owner of the error and MUST NOT automatically redirect the
    user-agent to the invalid redirection URI." (RFC 6749 §4.1.2.1; RFC 9700 §4.1.1 describes
    the open-redirector attack). Here the request has a second error (an unsupported
    response_type): still no redirect to the unregistered URI."""
    bad = "https://attacker.psc-testkit.test/callback"
    request = harness.authorization_request(
        extra={"redirect_uri": bad, "response_type": "psc-testkit-bogus"}
    )
    response, _, _ = harness.attempt(request)
    location = response.headers.get("location", "") if response.is_redirect else ""
    expect(not location.startswith(bad), "no redirect to the unregistered URI", location)


@pytest.mark.requirement("RFC9700-2", "SHOULD")
def test_endpoints_negotiate_tls_1_2_or_later(meta, target):
    """RFC9700-2 / BCP 195 SHOULD. The token endpoint negotiates TLS 1.2 or 1.3 with a default
    client ("Implementations MUST support TLS.", OIDC Core §16.17; the version is BCP 195's
    recommendation). Only the version negotiated is read: whether TLS 1.0/1.1 handshakes are
    refused is not probed (the local OpenSSL usually cannot offer them)."""
    if not str(meta.get("token_endpoint", "")).startswith("https://"):
        pytest.skip("the token endpoint is not https")
    parts = urlsplit(meta["token_endpoint"])
    context = ssl.create_default_context(cafile=str(target.ca_file) if target.ca_file else None)
    with (
        socket.create_connection(
            (parts.hostname, parts.port or 443), timeout=target.timeout
        ) as raw,
        context.wrap_socket(raw, server_hostname=parts.hostname) as tls,
    ):
        version = tls.version()
    expect(version in ("TLSv1.2", "TLSv1.3"), "TLSv1.2 or TLSv1.3", version)
