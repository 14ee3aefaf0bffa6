"""RFC 8705: mutual-TLS client authentication and certificate-bound access tokens — what PSC
requires in its Espace de Confiance (an IGC Santé certificate, tls_client_auth)."""

import base64
import hashlib
import ssl

import pytest

from conformance.helpers import error_of, expect
from psc_testkit.client import flow
from psc_testkit.client.tokens import TokenFormatError, decode
from psc_testkit.conformance.harness import json_body


@pytest.fixture
def mtls_client(target):
    client = target.client("tls_client_auth")
    if client is None or client.tls_cert_file is None:
        pytest.skip("the profile has no tls_client_auth client with a certificate")
    return client


@pytest.fixture
def mtls_tokens(harness, mtls_client):
    return harness.tokens(client=mtls_client)


def thumbprint(cert_file) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert_file.read_text())
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def bound_thumbprint(harness, tokens) -> str | None:
    """cnf.x5t#S256 of the access token: in its claims when it is a JWT (§3.1), else in its
    introspection (§3.2). None when neither shows one: binding is asked per client
    (`tls_client_certificate_bound_access_tokens`), so an unbound token is not a failure."""
    try:
        cnf = decode(tokens.access_token).claims.get("cnf")
    except TokenFormatError:
        if not harness.meta.get("introspection_endpoint"):
            return None
        request = flow.introspection_request(harness.meta, tokens.client, tokens.access_token)
        response = harness.send(request)
        cnf = (json_body(response) or {}).get("cnf") if response.status_code == 200 else None
    return cnf.get("x5t#S256") if isinstance(cnf, dict) else None


@pytest.mark.requirement("RFC8705-2", "MUST")
def test_token_request_without_certificate_is_invalid_client(harness, mtls_client):
    """RFC8705-2 MUST. With tls_client_auth the client authenticates by its certificate: the
    same request without one is refused with invalid_client."""
    login = harness.code(client=mtls_client)
    request = flow.token_request(
        harness.meta, mtls_client, login.code, login.request.redirect_uri, login.request.verifier
    )
    bare = flow.HttpRequest(request.method, request.url, request.headers, request.form, None)
    response = harness.send(bare)
    expect(
        response.status_code in (400, 401) and error_of(response) == "invalid_client",
        "HTTP 401 invalid_client",
        f"HTTP {response.status_code} {error_of(response)}",
    )


@pytest.mark.requirement("RFC8705-3.1", "MUST")
def test_access_token_is_bound_to_the_certificate(harness, mtls_tokens, mtls_client, meta):
    """RFC8705-3.1 MUST. "x5t#S256: The base64url-encoded SHA-256 hash of the DER encoding of
    the X.509 certificate" (RFC 8705 §3.1): a cnf.x5t#S256 the token (or its introspection,
    §3.2) shows is the thumbprint of the client's certificate. Whether a JWT carries one at all
    is a SHOULD, the check below."""
    if not meta.get("tls_client_certificate_bound_access_tokens"):
        pytest.skip("certificate-bound access tokens are not advertised")
    got = bound_thumbprint(harness, mtls_tokens)
    if got is None:
        pytest.skip("no cnf.x5t#S256 shown (test_bound_jwt_access_token_carries_x5t_s256)")
    expected = thumbprint(mtls_client.tls_cert_file)
    expect(got == expected, f"cnf.x5t#S256 = {expected}", repr(got))


@pytest.mark.requirement("RFC8705-3.1", "SHOULD")
def test_bound_jwt_access_token_carries_x5t_s256(mtls_tokens, meta):
    """RFC8705-3.1 SHOULD. "When access tokens are represented as JSON Web Tokens (JWT)
    [RFC7519], the certificate hash information SHOULD be represented using the "x5t#S256"
    confirmation method member defined herein." (RFC 8705 §3.1) — for a provider that
    advertises certificate-bound access tokens."""
    if not meta.get("tls_client_certificate_bound_access_tokens"):
        pytest.skip("certificate-bound access tokens are not advertised")
    try:
        cnf = decode(mtls_tokens.access_token).claims.get("cnf")
    except TokenFormatError:
        pytest.skip("the access token is opaque (not a JWT)")
    got = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    expect(isinstance(got, str) and bool(got), "cnf.x5t#S256 in the JWT", repr(cnf))


@pytest.mark.requirement("RFC8705-3", "MUST")
def test_bound_access_token_needs_the_certificate(harness, mtls_tokens, meta):
    """RFC8705-3 MUST. "the protected resource MUST obtain the client certificate ... and
    verify that it matches the certificate associated with the access token. If they do not
    match, the resource access attempt MUST be rejected with an error"."""
    if not meta.get("tls_client_certificate_bound_access_tokens"):
        pytest.skip("certificate-bound access tokens are not advertised")
    if bound_thumbprint(harness, mtls_tokens) is None:
        pytest.skip("this client's access token is not certificate-bound (no cnf)")
    with_cert = harness.userinfo(mtls_tokens.access_token, client_id=mtls_tokens.client.client_id)
    without = harness.userinfo(mtls_tokens.access_token)
    expect(
        with_cert.status_code == 200 and without.status_code == 401,
        "200 with the certificate, 401 without",
        f"{with_cert.status_code} with, {without.status_code} without",
    )
