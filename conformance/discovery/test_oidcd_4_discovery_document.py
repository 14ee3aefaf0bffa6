"""OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: retrieving the provider's metadata.

PSC publishes it at a non-standard path (`…/.well-known/wallet-openid-configuration`); the
issuer rule is applied to whichever well-known path the profile names.
"""

from urllib.parse import urlsplit

import pytest

from conformance.helpers import expect

WELL_KNOWN_SUFFIXES = (
    "/.well-known/openid-configuration",
    "/.well-known/wallet-openid-configuration",
)


@pytest.mark.requirement("OIDCD-4.2", "MUST")
def test_discovery_responds_200(discovery):
    """OIDCD-4.2 MUST. "A successful response MUST use the 200 OK HTTP status code and return a
    JSON object using the application/json content type that contains a set of Claims as its
    members that are a subset of the Metadata values defined in Section 3." (OIDC Discovery
    §4.2)."""
    expect(discovery.response.status_code == 200, "HTTP 200", discovery.response.status_code)


@pytest.mark.requirement("OIDCD-4.2", "MUST")
def test_discovery_is_json(discovery):
    """OIDCD-4.2 MUST. "...and return a JSON object using the application/json content type"."""
    content_type = discovery.response.headers.get("content-type", "")
    expect(
        content_type.split(";")[0].strip() == "application/json",
        "Content-Type application/json",
        content_type,
    )


@pytest.mark.requirement("OIDCD-4.3", "MUST")
def test_issuer_matches_the_discovery_url(discovery, target):
    """OIDCD-4.3 MUST. "The issuer value returned MUST be identical to the Issuer URL that was
    used as the prefix to /.well-known/openid-configuration to retrieve the configuration"."""
    url = target.discovery_url
    prefix = next((url[: -len(s)] for s in WELL_KNOWN_SUFFIXES if url.endswith(s)), None)
    if prefix is None:
        pytest.skip("the discovery URL has no well-known suffix to derive the issuer from")
    issuer = discovery.data.raw("issuer")
    expect(issuer in (prefix, prefix + "/"), f"issuer {prefix!r}", repr(issuer))


@pytest.mark.requirement("RFC8414-2", "MUST")
def test_issuer_is_an_https_url_without_query_or_fragment(meta):
    """RFC8414-2 MUST. "The authorization server's issuer identifier, which is a URL that uses
    the "https" scheme and has no query or fragment components"."""
    issuer = meta.raw("issuer")
    parts = urlsplit(issuer) if isinstance(issuer, str) else None
    expect(
        parts is not None
        and parts.scheme == "https"
        and bool(parts.netloc)
        and not parts.query
        and not parts.fragment
        and "@" not in parts.netloc,
        "an https URL with a host, no query, fragment or userinfo",
        repr(issuer),
    )
