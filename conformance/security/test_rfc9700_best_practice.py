"""RFC 9700 (OAuth 2.0 Security Best Current Practice) and OIDC Core §16: what an attacker
would try first."""

import socket
import ssl
from urllib.parse import urlsplit

import pytest

from conformance.helpers import expect
from psc_testkit.tokens import decode


@pytest.mark.requirement("RFC9700-2.6", "MUST")
def test_id_token_is_never_unsigned(happy):
    """RFC9700-2.6 / OIDCC-3.1.3.7 MUST. An ID token with alg "none" cannot be trusted; the
    provider signs its ID tokens."""
    alg = decode(happy.tokens.get("id_token")).header.get("alg")
    expect(isinstance(alg, str) and alg.lower() != "none", "a signed ID token", repr(alg))


@pytest.mark.requirement("RFC9700-2.6", "MUST")
def test_jwt_access_token_is_never_unsigned(happy):
    """RFC9700-2.6 MUST. A JWT access token (PSC issues RS256 JWTs) is signed, never alg none."""
    token = happy.tokens.access_token or ""
    if token.count(".") != 2:
        pytest.skip("the access token is opaque")
    alg = decode(token).header.get("alg")
    expect(isinstance(alg, str) and alg.lower() != "none", "a signed access token", repr(alg))


@pytest.mark.requirement("RFC9700-4.1.1", "MUST")
def test_error_for_a_bad_redirect_uri_is_not_redirected(harness):
    """RFC9700-4.1.1 MUST. Open redirectors: an authorization request with an unregistered
    redirect_uri and another error (here an unsupported response_type) still gets no redirect
    — the error is only sent to a verified redirect URI."""
    bad = "https://attacker.psc-testkit.test/callback"
    request = harness.authorization_request(
        extra={"redirect_uri": bad, "response_type": "psc-testkit-bogus"}
    )
    response, _, _ = harness.attempt(request)
    location = response.headers.get("location", "") if response.is_redirect else ""
    expect(not location.startswith(bad), "no redirect to the unregistered URI", location)


@pytest.mark.requirement("RFC9700-2", "SHOULD")
def test_endpoints_negotiate_tls_1_2_or_later(meta, target):
    """RFC9700-2 / BCP 195 SHOULD. TLS 1.2 or 1.3; older protocol versions are refused."""
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
