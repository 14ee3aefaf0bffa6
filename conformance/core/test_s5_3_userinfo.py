"""OpenID Connect Core 1.0 §5.3 and RFC 6750: the UserInfo endpoint."""

import re
from dataclasses import dataclass

import jwt
import pytest

from conformance.helpers import body_of, expect
from psc_testkit.client.flow import HttpRequest
from psc_testkit.client.tokens import TokenFormatError, decode, verify_signature

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


@pytest.mark.requirement("RFC6750-2.2", "MAY")
def test_userinfo_accepts_the_token_in_the_body(harness, fresh_tokens):
    """RFC6750-2.2 MAY. The form-encoded body parameter access_token: "Resource servers MAY
    support this method." (RFC 6750 §2.2). Noted only (the OIDF's oidcc-userinfo-post-body is a
    WARNING when refused)."""
    response = harness.userinfo(
        fresh_tokens.access_token, "post-body", client_id=fresh_tokens.client.client_id
    )
    expect(response.status_code == 200, "HTTP 200", f"HTTP {response.status_code}")


@pytest.mark.requirement("OIDCC-5.3.2", "MUST")
def test_userinfo_is_json_or_a_jwt(happy):
    """OIDCC-5.3.2 MUST. "The content-type of the HTTP response MUST be application/json if the
    response body is a text JSON object" and "If the UserInfo Response is signed and/or
    encrypted, then the Claims are returned in a JWT and the content-type MUST be
    application/jwt." (OIDC Core §5.3.2)."""
    content_type = happy.userinfo.headers.get("content-type", "").split(";")[0].strip()
    expect(
        content_type in ("application/json", "application/jwt"),
        "application/json or application/jwt",
        content_type,
    )


@pytest.mark.requirement("OIDCC-5.3.2", "MUST")
def test_userinfo_sub_is_the_id_token_sub(happy, jwks):
    """OIDCC-5.3.2 MUST. "The sub (subject) Claim MUST always be returned in the UserInfo
    Response." (OIDC Core §5.3.2), and sub is "A locally unique and never reassigned identifier
    within the Issuer for the End-User" (§2): the ID token's. (That the sub "MUST be verified to
    exactly match the sub Claim in the ID Token" is the client's rule, §5.3.2.)"""
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
    """OIDCC-5.3.2 MUST. "If the UserInfo Response is signed and/or encrypted, then the Claims
    are returned in a JWT and the content-type MUST be application/jwt." (OIDC Core §5.3.2);
    userinfo_signed_response_alg: "If this is specified, the response will be JWT serialized,
    and signed using JWS." (OIDC Registration §2) — a signature the OP's published keys
    verify."""
    claims_of(signed_userinfo.response, jwks.data)


@pytest.mark.requirement("OIDCC-5.3.2", "SHOULD")
def test_signed_userinfo_names_issuer_and_audience(signed_userinfo, meta):
    """OIDCC-5.3.2 SHOULD. "If signed, the UserInfo Response SHOULD contain the Claims iss
    (issuer) and aud (audience) as members. The iss value SHOULD be the OP's Issuer Identifier
    URL. The aud value SHOULD be or include the RP's Client ID value." (OIDC Core §5.3.2)."""
    claims = decode(signed_userinfo.response.text.strip()).claims
    aud = claims.get("aud")
    expect(
        claims.get("iss") == meta.get("issuer")
        and signed_userinfo.client.client_id in (aud if isinstance(aud, list) else [aud]),
        "iss = the issuer, aud = client_id",
        {k: claims.get(k) for k in ("iss", "aud")},
    )


@pytest.mark.requirement("RFC6750-3", "MUST")
def test_missing_token_gets_a_bearer_challenge(harness, meta):
    """RFC6750-3 MUST. "If the protected resource request does not include authentication
    credentials or does not contain an access token that enables access to the protected
    resource, the resource server MUST include the HTTP "WWW-Authenticate" response header
    field" (RFC 6750 §3). Only the header: RFC 6750 puts no keyword on the status of a request
    without a token (401 is RFC 7235's status for a challenge)."""
    response = harness.send(HttpRequest("GET", meta["userinfo_endpoint"]))
    challenge = response.headers.get("www-authenticate", "")
    expect(
        response.status_code >= 400 and bearer_params(challenge) is not None,
        "a refusal (401) with WWW-Authenticate: Bearer",
        f"HTTP {response.status_code} {challenge!r}",
    )


INVALID_TOKENS = ["psc-testkit-invalid-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."]
INVALID_IDS = ["garbage", "unsigned-jwt"]


@pytest.mark.requirement("RFC6750-3", "MUST")
@pytest.mark.parametrize("token", INVALID_TOKENS, ids=INVALID_IDS)
def test_invalid_token_gets_a_bearer_challenge(harness, token):
    """RFC6750-3 MUST. "If the protected resource request does not include authentication
    credentials or does not contain an access token that enables access to the protected
    resource, the resource server MUST include the HTTP "WWW-Authenticate" response header
    field" (RFC 6750 §3): a token that enables nothing gets a Bearer challenge. Its status and
    error code are the SHOULD check below."""
    response = harness.userinfo(token)
    challenge = response.headers.get("www-authenticate", "")
    expect(
        response.status_code >= 400 and bearer_params(challenge) is not None,
        "a refusal with WWW-Authenticate: Bearer",
        f"HTTP {response.status_code} {challenge!r}",
    )


@pytest.mark.requirement("RFC6750-3.1", "SHOULD")
@pytest.mark.parametrize("token", INVALID_TOKENS, ids=INVALID_IDS)
def test_invalid_token_is_refused_with_invalid_token(harness, token):
    """RFC6750-3.1 SHOULD. "If the protected resource request included an access token and
    failed authentication, the resource server SHOULD include the "error" attribute" (RFC 6750
    §3); "invalid_token: The access token provided is expired, revoked, malformed, or invalid
    for other reasons. The resource SHOULD respond with the HTTP 401 (Unauthorized) status
    code." (§3.1). The header itself is the MUST check above."""
    response = harness.userinfo(token)
    challenge = response.headers.get("www-authenticate", "")
    expect(
        response.status_code == 401
        and (bearer_params(challenge) or {}).get("error") == "invalid_token",
        'HTTP 401, WWW-Authenticate: Bearer error="invalid_token"',
        f"HTTP {response.status_code} {challenge!r}",
    )
