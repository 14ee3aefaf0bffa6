"""OpenID Connect Core 1.0 §2 and §3.1.3.7: the ID token, as a relying party validates it."""

import jwt
import pytest

from conformance.helpers import expect
from psc_testkit.client.tokens import ASYMMETRIC_ALGS, decode, left_hash, verify_signature

PROTOCOL_CLAIMS = {
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "s_hash",
    "nbf",
    "jti",
    "sid",
    "typ",
    "session_state",
}
ACR_ORDER = ["eidas1", "eidas2", "eidas3"]
SKEW = 300  # the OIDF suite's 5 minutes


@pytest.fixture(scope="module")
def id_token(happy):
    raw = happy.tokens.get("id_token")
    if not isinstance(raw, str):
        pytest.fail("no id_token in the token response")
    return decode(raw)


@pytest.mark.requirement("OIDCC-3.1.3.7-6", "MUST")
def test_signature_verifies_with_the_jwks(id_token, jwks):
    """OIDCC-3.1.3.7-6 MUST (the OIDF's id; the OP's sentence is §2). "ID Tokens MUST be signed
    using JWS" (OIDC Core §2), with a key of the jwks_uri, "the signing key(s) the RP uses to
    validate signatures from the OP" (Discovery §3). (§3.1.3.7-6 is the client's MUST to
    validate it.)"""
    try:
        verify_signature(id_token.raw, jwks.data)
    except (jwt.InvalidTokenError, jwt.PyJWKError) as exc:
        raise AssertionError(f"Expected: a signature the JWKS verifies\nActual: {exc}") from None


@pytest.mark.requirement("OIDCC-3.1.3.7-7", "MUST")
def test_alg_is_rs256_by_default(id_token):
    """OIDCC-3.1.3.7-7 MUST (the OIDF's id). "ID Tokens MUST be signed using JWS" (OIDC Core §2);
    "id_token_signed_response_alg OPTIONAL. JWS alg algorithm REQUIRED for signing the ID Token
    issued to this Client. ... The default, if omitted, is RS256." (OIDC Registration §2).
    Any asymmetric algorithm passes, not only RS256: the profile does not know the alg a
    statically configured client was given, and none or an HMAC would not verify with the
    JWKS."""
    alg = id_token.header.get("alg")
    expect(alg in ASYMMETRIC_ALGS, "RS256 (an asymmetric algorithm)", repr(alg))


def published_kids(jwks) -> list:
    listed = jwks.data.get("keys")
    return [k.get("kid") for k in listed if isinstance(k, dict)] if isinstance(listed, list) else []


@pytest.mark.requirement("OIDCC-10.1", "MUST")
def test_header_names_its_key(id_token, jwks):
    """OIDCC-10.1 MUST. "If there are multiple keys in the referenced JWK Set document, a kid
    value MUST be provided in the JOSE Header." (OIDC Core §10.1): with several keys, a kid
    naming one of them. With a single key the MUST does not apply (see the SHOULD check
    below), unless a kid is given: then it names the published key."""
    kid = id_token.header.get("kid")
    kids = published_kids(jwks)
    if kid is None and len(kids) <= 1:
        pytest.skip("a single key in the JWKS: a kid is not required (OIDC Core §10.1)")
    expect(isinstance(kid, str) and kid in kids, f"a kid among {kids}", repr(kid))


@pytest.mark.requirement("OIDCC-10.1", "SHOULD")
def test_header_has_a_kid_even_with_a_single_key(id_token, jwks):
    """OIDCC-10.1 SHOULD. With a single key in the JWKS, §10.1's MUST ("If there are multiple
    keys in the referenced JWK Set document, a kid value MUST be provided in the JOSE Header.")
    does not apply; the OIDF suite requires a kid always, and a kid lets relying parties follow
    a key rotation, hence a warning at most."""
    if len(published_kids(jwks)) > 1:
        pytest.skip("several keys in the JWKS: test_header_names_its_key (MUST) judges the kid")
    kid = id_token.header.get("kid")
    expect(isinstance(kid, str) and bool(kid), "a kid in the JOSE header", repr(kid))


@pytest.mark.requirement("OIDCC-3.1.3.7-2", "MUST")
def test_iss_is_the_issuer(id_token, meta):
    """OIDCC-3.1.3.7-2 MUST (the OIDF's id; the OP's sentence is Discovery §3). "issuer
    REQUIRED. URL using the https scheme with no query or fragment components that the OP
    asserts as its Issuer Identifier. ... This also MUST be identical to the iss Claim value in
    ID Tokens issued from this Issuer." (OIDC Discovery §3)."""
    expect(
        id_token.claims.get("iss") == meta.get("issuer"),
        repr(meta.get("issuer")),
        repr(id_token.claims.get("iss")),
    )


@pytest.mark.requirement("OIDCC-3.1.3.7-3", "MUST")
def test_aud_contains_the_client_id(id_token, happy):
    """OIDCC-3.1.3.7-3 MUST (the OIDF's id; the OP's sentence is §2). "aud REQUIRED. Audience(s)
    that this ID Token is intended for. It MUST contain the OAuth 2.0 client_id of the Relying
    Party as an audience value." (OIDC Core §2)."""
    aud = id_token.claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    client_id = happy.login.client.client_id
    expect(client_id in audiences, f"aud containing {client_id!r}", repr(aud))


@pytest.mark.requirement("OIDCC-3.1.3.7-5", "MUST")
def test_azp_is_the_client_id_when_present(id_token, happy):
    """OIDCC-3.1.3.7-5 MUST (the OIDF's id; the OP's sentence is §2). "azp OPTIONAL. Authorized
    party - the party to which the ID Token was issued. If present, it MUST contain the OAuth
    2.0 Client ID of this party." (OIDC Core §2). No azp: nothing to judge here."""
    claims = id_token.claims
    if "azp" not in claims:
        pytest.skip("no azp (OPTIONAL)")
    client_id = happy.login.client.client_id
    expect(claims.get("azp") == client_id, repr(client_id), repr(claims.get("azp")))


@pytest.mark.requirement("OIDCC-3.1.3.7-4", "MAY")
def test_several_audiences_come_with_azp(id_token):
    """OIDCC-3.1.3.7-4 MAY (OP) / SHOULD (client). "If the ID Token contains multiple audiences,
    the Client SHOULD verify that an azp Claim is present." (§3.1.3.7-4) is the client's; §2
    puts no keyword on the OP ("This Claim is only needed when the ID Token has a single
    audience value and that audience is different than the authorized party"): noted only.
    With a single audience there is nothing to note: it holds (a skip would leave the
    requirement unchecked and every run INCOMPLETE)."""
    aud = id_token.claims.get("aud")
    several = isinstance(aud, list) and len(aud) > 1
    expect(not several or "azp" in id_token.claims, "azp beside several audiences", repr(aud))


@pytest.mark.requirement("OIDCC-3.1.3.7-9", "MUST")
def test_exp_is_in_the_future(id_token, happy):
    """OIDCC-3.1.3.7-9 MUST (the OIDF's id; the OP's sentence is §2). "exp REQUIRED. Expiration
    time on or after which the ID Token MUST NOT be accepted for processing." (OIDC Core §2): an
    ID token the OP issues is not already expired (5 minutes of clock skew allowed) when it is
    received — the run's first ID token may well have expired by the time this check reads
    it."""
    exp = id_token.claims.get("exp")
    now = happy.tokens.received
    expect(
        isinstance(exp, int | float) and exp > now - SKEW and exp < now + 50 * 365 * 86400,
        "exp in the future (seconds since the epoch)",
        repr(exp),
    )


@pytest.mark.requirement("OIDCC-3.1.3.7-10", "MUST")
def test_iat_is_recent(id_token, happy):
    """OIDCC-3.1.3.7-10 MUST (the OIDF's id; the OP's sentence is §2). "iat REQUIRED. Time at
    which the JWT was issued." (OIDC Core §2): a number of seconds, not in the future (5 minutes
    of clock skew) when the token was received. No lower bound: "The acceptable range is Client
    specific." (§3.1.3.7-10)."""
    iat = id_token.claims.get("iat")
    now = happy.tokens.received
    expect(
        isinstance(iat, int | float) and iat <= now + SKEW,
        "iat (seconds since the epoch) not in the future",
        repr(iat),
    )


@pytest.mark.requirement("OIDCC-3.1.3.7-11", "MUST")
def test_nonce_is_the_one_sent(id_token, happy):
    """OIDCC-3.1.3.7-11 MUST (the OIDF's id; the OP's sentence is §2). "If present in the
    Authentication Request, Authorization Servers MUST include a nonce Claim in the ID Token
    with the Claim Value being the nonce value sent in the Authentication Request." (OIDC Core
    §2, nonce)."""
    sent = happy.login.request.nonce
    expect(id_token.claims.get("nonce") == sent, repr(sent), repr(id_token.claims.get("nonce")))


@pytest.mark.requirement("OIDCC-3.1.3.7-11", "MUST")
def test_no_nonce_when_none_was_sent(harness):
    """OIDCC-3.1.3.7-11 MUST (the OIDF's id). "The value is passed through unmodified from the
    Authentication Request to the ID Token." (OIDC Core §2, nonce): a request without nonce
    yields an ID token without one."""
    login = harness.code(request=harness.authorization_request(omit=("nonce",)))
    tokens = harness.exchange(login)
    claims = tokens.id_token.claims if tokens.id_token else {}
    expect("nonce" not in claims, "no nonce claim", repr(claims.get("nonce")))


@pytest.mark.requirement("OIDCC-3.1.3.6", "MUST")
def test_at_hash_matches_the_access_token(id_token, happy):
    """OIDCC-3.1.3.6 MUST. "at_hash OPTIONAL. Access Token hash value. Its value is the
    base64url encoding of the left-most half of the hash of the octets of the ASCII
    representation of the access_token value, where the hash algorithm used is the hash
    algorithm used in the alg Header Parameter of the ID Token's JOSE Header." (OIDC Core
    §3.1.3.6, the code flow's ID token): a wrong value is no at_hash."""
    at_hash = id_token.claims.get("at_hash")
    if at_hash is None:
        pytest.skip("no at_hash (OPTIONAL in the code flow)")
    expected = left_hash(happy.tokens.access_token or "", id_token.header.get("alg", "RS256"))
    expect(at_hash == expected, repr(expected), repr(at_hash))


@pytest.mark.requirement("OIDCC-2", "MUST")
def test_sub_is_a_short_ascii_string(id_token):
    """OIDCC-2 MUST. sub is REQUIRED: "It MUST NOT exceed 255 ASCII characters in length"."""
    sub = id_token.claims.get("sub")
    expect(
        isinstance(sub, str) and 0 < len(sub) <= 255 and sub.isascii(),
        "1 to 255 ASCII characters",
        repr(sub),
    )


@pytest.mark.requirement("OIDCC-2", "MUST")
def test_sub_is_stable_across_logins(harness, id_token):
    """OIDCC-2 MUST. sub is "a locally unique and never reassigned identifier": the same user,
    logged in again in a new session, gets the same sub."""
    browser = harness.http.new_browser()
    tokens = harness.exchange(harness.code(browser=browser))
    again = tokens.id_token.claims.get("sub") if tokens.id_token else None
    expect(again == id_token.claims.get("sub"), "the same sub", "a different sub")


@pytest.mark.requirement("OIDCC-3.1.2.1", "MAY")
def test_acr_is_at_least_the_requested_level(id_token, target):
    """OIDCC-3.1.2.1 MAY (OIDC). "acr_values OPTIONAL. Requested Authentication Context Class
    Reference values. ... The acr Claim is requested as a Voluntary Claim by this parameter."
    (OIDC Core §3.1.2.1); "If the acr Claim was requested, the Client SHOULD check that the
    asserted Claim Value is appropriate." (§3.1.3.7-12) is the client's. OIDC puts no MUST on
    the OP: noted here; PSC's own rule (PSC-ACR, MUST) is psc/test_acr_is_at_least_eidas1."""
    if not target.acr_values:
        pytest.skip("the profile requests no acr_values")
    acr = id_token.claims.get("acr")
    requested = target.acr_values.split()
    if all(r in ACR_ORDER for r in requested) and acr in ACR_ORDER:
        ok = ACR_ORDER.index(acr) >= min(ACR_ORDER.index(r) for r in requested)
    else:
        ok = acr in requested
    expect(ok, f"an acr at least {requested}", repr(acr))


@pytest.mark.requirement("OIDCC-5.4", "MAY")
def test_no_unrequested_claims(id_token):
    """OIDCC-5.4 MAY. "ID Tokens MAY contain other Claims. Any Claims used that are not
    understood MUST be ignored." (OIDC Core §2); §5.4 says where scope claims are returned and
    puts no keyword on extra ID token claims. Noted only, like the OIDF's
    EnsureIdTokenDoesNotContainNonRequestedClaims (a WARNING)."""
    extra = sorted(set(id_token.claims) - PROTOCOL_CLAIMS)
    expect(not extra, "protocol claims only", extra)


@pytest.mark.requirement("OIDCC-2", "MUST")
def test_auth_time_is_present_when_max_age_was_requested(harness, happy):
    """OIDCC-2 MUST. "When max_age is used, the ID Token returned MUST include an auth_time
    Claim Value." (OIDC Core §3.1.2.1); "auth_time ... When a max_age request is made or when
    auth_time is requested as an Essential Claim, then this Claim is REQUIRED" (§2)."""
    login = harness.code(request=harness.authorization_request(extra={"max_age": "10000"}))
    tokens = harness.exchange(login)
    auth_time = tokens.id_token.claims.get("auth_time") if tokens.id_token else None
    expect(
        isinstance(auth_time, int | float) and auth_time <= tokens.received + SKEW,
        "auth_time (seconds since the epoch)",
        repr(auth_time),
    )
