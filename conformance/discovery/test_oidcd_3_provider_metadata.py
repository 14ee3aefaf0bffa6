"""OpenID Connect Discovery 1.0 §3 and RFC 8414 §2: the provider metadata members."""

import re
from urllib.parse import urlsplit

import pytest

from conformance.helpers import expect
from psc_testkit.claims.schemas import registry, schema_id
from psc_testkit.client.metadata import shown

REQUIRED = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
]
# Member types come from schemas/oidc/discovery.schema.json, the one place that states them.
_MEMBERS = registry().contents(schema_id("oidc:discovery"))["properties"]
STRING_ARRAYS = sorted(m for m, spec in _MEMBERS.items() if spec.get("$ref") == "#/$defs/strings")
BOOLEANS = sorted(m for m, spec in _MEMBERS.items() if spec.get("type") == "boolean")
OIDC_RESPONSE_TYPES = {
    "code",
    "id_token",
    "id_token token",
    "code id_token",
    "code token",
    "code id_token token",
}
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")  # RFC 6749 §3.3 scope-token
BCP47 = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


@pytest.mark.requirement("OIDCD-3", "MUST")
@pytest.mark.parametrize("member", REQUIRED)
def test_required_member_is_present(meta, member):
    """OIDCD-3 MUST. Discovery lists issuer, authorization_endpoint, token_endpoint, jwks_uri,
    response_types_supported, subject_types_supported and id_token_signing_alg_values_supported
    as REQUIRED."""
    value = meta.raw(member)  # as served: a malformed member is still present
    expect(bool(value), f"{member} present and non-empty", repr(value))


@pytest.mark.requirement("OIDCD-3", "SHOULD")
@pytest.mark.parametrize("member", ["userinfo_endpoint", "scopes_supported", "claims_supported"])
def test_recommended_member_is_present(meta, member):
    """OIDCD-3 SHOULD. userinfo_endpoint, scopes_supported and claims_supported are
    RECOMMENDED."""
    expect(member in meta, f"{member} present", "absent")


@pytest.mark.requirement("RFC8414-2", "MUST")
@pytest.mark.parametrize("member", STRING_ARRAYS)
def test_list_member_is_an_array_of_strings(meta, member):
    """RFC8414-2 MUST. Metadata list members are "JSON array[s] containing a list of" strings."""
    if member not in meta:
        pytest.skip(f"{member} is not advertised")
    value = meta.raw(member)
    expect(
        isinstance(value, list) and all(isinstance(v, str) for v in value),
        "a JSON array of strings",
        repr(value),
    )


@pytest.mark.requirement("OIDCD-3", "MUST")
@pytest.mark.parametrize("member", BOOLEANS)
def test_boolean_member_is_a_boolean(meta, member):
    """OIDCD-3 MUST. Members such as claims_parameter_supported are "Boolean value[s]"."""
    if member not in meta:
        pytest.skip(f"{member} is not advertised")
    value = meta.raw(member)
    expect(isinstance(value, bool), "true or false", repr(value))


def advertised_endpoints(meta) -> dict[str, object]:
    """Each endpoint the document advertises, by member name (RFC 8705 aliases as
    `mtls_endpoint_aliases.<name>`)."""
    found = {
        name: value
        for name, value in meta.items()
        if name.endswith("_endpoint") or name == "jwks_uri"
    }
    aliases = meta.raw("mtls_endpoint_aliases")
    if isinstance(aliases, dict):  # RFC 8705 §5: the same endpoints, on the mTLS listener
        found.update({f"mtls_endpoint_aliases.{n}": v for n, v in aliases.items()})
    return found


@pytest.mark.requirement("OIDCD-3", "MUST")
def test_every_endpoint_is_an_https_url(meta):
    """OIDCD-3 MUST. Endpoint URLs "MUST use the https scheme" (jwks_uri, authorization,
    token, userinfo and registration endpoints; likewise RP-Initiated Logout, CIBA, RFC 7009,
    RFC 7662 and RFC 8705 for the others; OIDC Core §16.17 "Implementations MUST support TLS").
    One deployment property: one verdict that lists every endpoint served without TLS."""
    plain = []
    for name, value in advertised_endpoints(meta).items():
        try:
            parts = urlsplit(value) if isinstance(value, str) else None
        except ValueError:  # e.g. an unclosed IPv6 bracket: not a URL at all
            parts = None
        if not (parts and parts.scheme == "https" and parts.netloc and not parts.fragment):
            plain.append(f"{name}: {shown(value)}")
    expect(not plain, "an https URL without fragment for every endpoint", "; ".join(plain))


@pytest.mark.requirement("PSC-DISCOVERY", "MUST")
def test_response_types_include_code(meta):
    """PSC-DISCOVERY MUST. PSC's flow is the authorization code flow: its clients send
    `response_type=code` (fact sheet §2.1 [V]), so response_types_supported lists code.
    OIDC itself requires it only of Dynamic OpenID Providers ("Dynamic OpenID Providers MUST
    support the code, id_token, and the id_token token Response Type values.", OIDC Discovery
    §3, response_types_supported), which PSC is not; hence a PSC requirement."""
    expect(
        "code" in (meta.get("response_types_supported") or []),
        "code listed",
        meta.get("response_types_supported"),
    )


@pytest.mark.requirement("OIDCD-3", "MAY")
def test_response_types_are_oidc_values(meta):
    """OIDCD-3 MAY (noted, never failed). "response_types_supported REQUIRED. JSON array
    containing a list of the OAuth 2.0 response_type values that this OP supports." (OIDC
    Discovery §3): no sentence limits the list to the values OAuth 2.0 and OIDC define, and
    extension response types are registered OAuth values; one outside them is only noted."""
    listed = meta.get("response_types_supported") or []
    unknown = [
        r
        for r in listed
        if " ".join(sorted(str(r).split()))
        not in {" ".join(sorted(t.split())) for t in OIDC_RESPONSE_TYPES | {"none", "token"}}
    ]
    expect(not unknown, "only response_type values defined by OAuth 2.0 / OIDC", unknown)


@pytest.mark.requirement("OIDCD-3", "MUST")
def test_id_token_signing_algs_include_rs256(meta):
    """OIDCD-3 MUST. "The RS256 signing algorithm MUST be included" in
    id_token_signing_alg_values_supported."""
    expect(
        "RS256" in (meta.get("id_token_signing_alg_values_supported") or []),
        "RS256 listed",
        meta.get("id_token_signing_alg_values_supported"),
    )


@pytest.mark.requirement("OIDCD-3", "SHOULD")
def test_scopes_include_openid(meta):
    """OIDCD-3 SHOULD. "The server MUST support the openid scope value" — when scopes_supported
    is published it lists openid."""
    if "scopes_supported" not in meta:
        pytest.skip("scopes_supported is not advertised")
    expect("openid" in meta["scopes_supported"], "openid listed", meta["scopes_supported"])


@pytest.mark.requirement("RFC6749-3.3", "MUST")
def test_scopes_are_valid_scope_tokens(meta):
    """RFC6749-3.3 MUST. scope-token = 1*( %x21 / %x23-5B / %x5D-7E )."""
    if "scopes_supported" not in meta:
        pytest.skip("scopes_supported is not advertised")
    bad = [s for s in meta["scopes_supported"] if not SCOPE_TOKEN.match(str(s))]
    expect(not bad, "RFC 6749 scope tokens", bad)


# ui_locales_supported is RFC 8414's too; claims_locales_supported is only Discovery's.
@pytest.mark.parametrize(
    "member",
    [
        pytest.param(
            "ui_locales_supported",
            marks=pytest.mark.requirement("RFC8414-2", "MUST"),
            id="ui_locales_supported",
        ),
        pytest.param(
            "claims_locales_supported",
            marks=pytest.mark.requirement("OIDCD-3", "MUST"),
            id="claims_locales_supported",
        ),
    ],
)
def test_locales_are_bcp47_tags(meta, member):
    """RFC8414-2 MUST (ui_locales_supported): "represented as a JSON array of language tag
    values from BCP 47 [RFC5646]" (RFC 8414 §2). OIDCD-3 MUST (claims_locales_supported):
    "claims_locales_supported OPTIONAL. Languages and scripts supported for values in Claims
    being returned, represented as a JSON array of BCP47 [RFC5646] language tag values."
    (OIDC Discovery §3; RFC 8414 does not define this member)."""
    if member not in meta:
        pytest.skip(f"{member} is not advertised")
    bad = [t for t in meta[member] if not BCP47.match(str(t))]
    expect(not bad, "BCP 47 language tags", bad)


@pytest.mark.requirement("PSC-DISCOVERY", "MUST")
def test_grant_types_are_a_non_empty_list_with_authorization_code(meta):
    """PSC-DISCOVERY MUST. PSC's flow is the authorization code flow (fact sheet §2.1 [V]):
    grant_types_supported, when present, is a non-empty list that names authorization_code.
    OIDC's sentence is for Dynamic OpenID Providers only: "Dynamic OpenID Providers MUST support
    the authorization_code and implicit Grant Type values and MAY support other Grant Types. If
    omitted, the default value is ["authorization_code", "implicit"]." (OIDC Discovery §3,
    grant_types_supported), so absent means the defaults, which include authorization_code."""
    if "grant_types_supported" not in meta:
        pytest.skip("grant_types_supported is not advertised (defaults apply)")
    listed = meta.raw("grant_types_supported")
    expect(
        isinstance(listed, list) and "authorization_code" in listed,
        "a list naming authorization_code",
        repr(listed),
    )


@pytest.mark.requirement("OIDCD-3", "MUST")
def test_profile_client_auth_methods_are_advertised(meta, target):
    """OIDCD-3 MUST. token_endpoint_auth_methods_supported lists the methods clients use
    (absent means client_secret_basic only)."""
    listed = meta.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    used = {c.auth_method for c in target.clients} - {"none"}
    missing = sorted(used - set(listed))
    expect(
        not missing,
        f"the profile's methods {sorted(used)} advertised",
        f"missing {missing} from {listed}",
    )


@pytest.mark.requirement("RFC9700-2.1.1", "SHOULD")
def test_pkce_s256_is_advertised(meta):
    """RFC9700-2.1.1 SHOULD. "It is RECOMMENDED for authorization servers to publish the
    element code_challenge_methods_supported in their Authorization Server Metadata [RFC8414]
    containing the supported PKCE challenge methods (which can be used by the client to detect
    PKCE support)." (RFC 9700 §2.1.1); S256 among them, the method clients are to use."""
    expect(
        "S256" in (meta.get("code_challenge_methods_supported") or []),
        "S256 listed",
        meta.get("code_challenge_methods_supported"),
    )


@pytest.mark.requirement("OIDCD-3", "MAY")
def test_none_is_not_advertised_with_front_channel_id_tokens(meta):
    """OIDCD-3 MAY (noted, never failed). "The value none MAY be supported but MUST NOT be used
    unless the Response Type used returns no ID Token from the Authorization Endpoint (such as
    when using the Authorization Code Flow)." (OIDC Discovery §3,
    id_token_signing_alg_values_supported): listing none is allowed, even beside a response type
    that returns an ID token from the authorization endpoint; only its use is forbidden, which
    security/test_id_token_is_never_unsigned judges. Here it is only noted."""
    algs = meta.get("id_token_signing_alg_values_supported") or []
    front = [t for t in meta.get("response_types_supported") or [] if "id_token" in t.split()]
    expect(
        "none" not in algs or not front,
        "none not listed beside response types that return an ID token from the authorization "
        "endpoint",
        f"none listed with {front}",
    )


@pytest.mark.requirement("CIBA-4", "MUST")
def test_ciba_advertises_its_delivery_modes(meta):
    """CIBA-4 MUST. A provider with a backchannel_authentication_endpoint publishes
    backchannel_token_delivery_modes_supported (poll, ping and/or push)."""
    if "backchannel_authentication_endpoint" not in meta:
        pytest.skip("the provider does not offer CIBA")
    modes = meta.get("backchannel_token_delivery_modes_supported") or []
    expect(bool(modes) and set(modes) <= {"poll", "ping", "push"}, "poll, ping or push", modes)
