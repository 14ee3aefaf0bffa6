"""OpenID Connect Core 1.0 §5.3 and RFC 6750: the UserInfo endpoint."""

import re
from dataclasses import dataclass

import jwt
import pytest

from conformance.helpers import body_of, expect
from psc_testkit.flow import HttpRequest
from psc_testkit.tokens import TokenFormatError, decode, verify_signature

# RFC 7235 §2.1 (RFC 9110 §11.2): challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ],
# auth-param = token BWS "=" BWS ( token / quoted-string ), in any order.
TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
BEARER = re.compile(r"(?:^|,)\s*bearer(?=\s|,|$)", re.IGNORECASE)
PARAM = re.compile(rf'\s*({TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|{TOKEN})\s*(?:,|$)')


def bearer_params(header: str) -> dict[str, str] | None:
    """The auth-params of the header's Bearer challenge (RFC 6750 §3: realm, scope, error,
    error_description, error_uri, in any order), names lower-cased; None without a Bearer
    challenge."""
    found = BEARER.search(header)
    if found is None:
        return None
    params: dict[str, str] = {}
    position = found.end()
    while (param := PARAM.match(header, position)) is not None:
        value = param.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params.setdefault(param.group(1).lower(), value)
        position = param.end()
    return params


def claims_of(response, jwks) -> dict:
    """UserInfo claims from a JSON body or a signed JWT, by Content-Type (OIDC Core §5.3.2)."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    if content_type == "application/jwt":
        try:
            return verify_signature(response.text.strip(), jwks)
        except (jwt.InvalidTokenError, jwt.PyJWKError, TokenFormatError) as exc:
            raise AssertionError(f"Expected: a signed UserInfo JWT\nActual: {exc}") from None
    return body_of(response)


@pytest.mark.requirement("OIDCC-5.3.1", "MUST")
@pytest.mark.parametrize("how", ["get", "post-header"])
def test_userinfo_answers_with_a_bearer_header(harness, fresh_tokens, how):
    """OIDCC-5.3.1 MUST. "The UserInfo Endpoint MUST support the use of the HTTP GET and HTTP
    POST methods", with the access token as a Bearer token (RFC 6750 §2.1). A token of its own:
    the run's first one may have expired (PSC: 120 s) by the time this check runs."""
    response = harness.userinfo(
        fresh_tokens.access_token, how, client_id=fresh_tokens.client.client_id
    )
    expect(response.status_code == 200, "HTTP 200", f"HTTP {response.status_code}")


@pytest.mark.requirement("RFC6750-2.2", "SHOULD")
def test_userinfo_accepts_the_token_in_the_body(harness, fresh_tokens):
    """RFC6750-2.2 SHOULD. The form-encoded body parameter access_token (OIDF
    oidcc-userinfo-post-body: a WARNING when refused)."""
    response = harness.userinfo(
        fresh_tokens.access_token, "post-body", client_id=fresh_tokens.client.client_id
    )
    expect(response.status_code == 200, "HTTP 200", f"HTTP {response.status_code}")


@pytest.mark.requirement("OIDCC-5.3.2", "MUST")
def test_userinfo_is_json_or_a_jwt(happy):
    """OIDCC-5.3.2 MUST. "The UserInfo Claims MUST be returned as the members of a JSON object
    ... The response body SHOULD be encoded using UTF-8" with Content-Type application/json, or
    application/jwt when signed."""
    content_type = happy.userinfo.headers.get("content-type", "").split(";")[0].strip()
    expect(
        content_type in ("application/json", "application/jwt"),
        "application/json or application/jwt",
        content_type,
    )


@pytest.mark.requirement("OIDCC-5.3.2", "MUST")
def test_userinfo_sub_is_the_id_token_sub(happy, jwks):
    """OIDCC-5.3.2 MUST. "The sub Claim in the UserInfo Response MUST be verified to exactly
    match the sub Claim in the ID Token; if they do not match, the UserInfo Response values MUST
    NOT be used"."""
    claims = claims_of(happy.userinfo, jwks.data)
    id_sub = decode(happy.tokens.get("id_token")).claims.get("sub")
    expect(
        claims.get("sub") == id_sub,
        "the ID token's sub",
        "a different sub" if claims.get("sub") else "no sub",
    )


@dataclass
class SignedUserinfo:
    client: object
    response: object
    exchanges: list


@pytest.fixture(scope="module")
def signed_userinfo(harness, target):
    """UserInfo for the profile's client registered for signed responses (OIDF
    oidcc-userinfo-rs256)."""
    client = next((c for c in target.clients if c.userinfo_signed), None)
    if client is None:
        pytest.skip("the profile has no client registered for signed UserInfo")
    tokens = harness.tokens(client=client)
    with harness.recorder.capture() as exchanges:
        response = harness.userinfo(tokens.access_token, client_id=client.client_id)
    if "jwt" not in response.headers.get("content-type", ""):
        pytest.fail(
            f"UserInfo for {client.client_id} is not a JWT: {response.headers.get('content-type')}"
        )
    return SignedUserinfo(client, response, tokens.exchanges + exchanges)


@pytest.mark.requirement("OIDCC-5.3.2", "MUST")
def test_signed_userinfo_verifies(signed_userinfo, jwks):
    """OIDCC-5.3.2 MUST. "If the UserInfo Response is signed ... the Client MUST validate the
    signature" — with the OP's published keys."""
    claims_of(signed_userinfo.response, jwks.data)


@pytest.mark.requirement("OIDCC-5.3.2", "MUST")
def test_signed_userinfo_names_issuer_and_audience(signed_userinfo, meta):
    """OIDCC-5.3.2 MUST. "If signed, the UserInfo Response SHOULD contain the Claims iss (issuer)
    and aud (audience) as members"; it must not pass for an ID token (no nonce)."""
    claims = decode(signed_userinfo.response.text.strip()).claims
    aud = claims.get("aud")
    expect(
        claims.get("iss") == meta.get("issuer")
        and signed_userinfo.client.client_id in (aud if isinstance(aud, list) else [aud])
        and "nonce" not in claims,
        "iss, aud = client_id, no nonce",
        {k: claims.get(k) for k in ("iss", "aud", "nonce")},
    )


@pytest.mark.requirement("RFC6750-3", "MUST")
def test_missing_token_gets_a_bearer_challenge(harness, meta):
    """RFC6750-3 MUST. "If the protected resource request does not include authentication
    credentials or does not contain an access token that enables access to the protected
    resource, the resource server MUST include the HTTP "WWW-Authenticate" response header"."""
    response = harness.send(HttpRequest("GET", meta["userinfo_endpoint"]))
    challenge = response.headers.get("www-authenticate", "")
    expect(
        response.status_code == 401 and bearer_params(challenge) is not None,
        "HTTP 401 with WWW-Authenticate: Bearer",
        f"HTTP {response.status_code} {challenge!r}",
    )


@pytest.mark.requirement("RFC6750-3.1", "MUST")
@pytest.mark.parametrize(
    "token",
    ["psc-testkit-invalid-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."],
    ids=["garbage", "unsigned-jwt"],
)
def test_invalid_token_is_refused_with_invalid_token(harness, token):
    """RFC6750-3.1 MUST. "invalid_token: The access token provided is expired, revoked,
    malformed, or invalid for other reasons. The resource SHOULD respond with the HTTP 401" —
    with the error in WWW-Authenticate."""
    response = harness.userinfo(token)
    challenge = response.headers.get("www-authenticate", "")
    expect(
        response.status_code == 401
        and (bearer_params(challenge) or {}).get("error") == "invalid_token",
        'HTTP 401, WWW-Authenticate: Bearer error="invalid_token"',
        f"HTTP {response.status_code} {challenge!r}",
    )
