"""OpenID Connect Core 1.0 §2 and §3.1.3.7: the ID token, as a relying party validates it."""

import jwt
import pytest

from conformance.helpers import expect
from psc_testkit.tokens import ASYMMETRIC_ALGS, decode, left_hash, verify_signature

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
    """OIDCC-3.1.3.7-6 MUST. "The Client MUST validate the signature of all other ID Tokens
    according to JWS using the algorithm specified in the JWT alg Header Parameter. The Client
    MUST use the keys provided by the Issuer"."""
    try:
        verify_signature(id_token.raw, jwks.data)
    except (jwt.InvalidTokenError, jwt.PyJWKError) as exc:
        raise AssertionError(f"Expected: a signature the JWKS verifies\nActual: {exc}") from None


@pytest.mark.requirement("OIDCC-3.1.3.7-7", "MUST")
def test_alg_is_rs256_by_default(id_token):
    """OIDCC-3.1.3.7-7 MUST. "The alg value SHOULD be the default of RS256 or the algorithm
    sent by the Client in the id_token_signed_response_alg parameter" — never none."""
    alg = id_token.header.get("alg")
    expect(alg in ASYMMETRIC_ALGS, "RS256 (an asymmetric algorithm)", repr(alg))


@pytest.mark.requirement("OIDCC-10.1", "MUST")
def test_header_names_its_key(id_token, jwks):
    """OIDCC-10.1 MUST. With several keys in the JWKS, "a kid (Key ID) parameter MUST be used"
    in the JWS header; the OIDF suite requires it always."""
    kid = id_token.header.get("kid")
    listed = jwks.data.get("keys")
    kids = [k.get("kid") for k in listed if isinstance(k, dict)] if isinstance(listed, list) else []
    expect(isinstance(kid, str) and kid in kids, f"a kid among {kids}", repr(kid))


@pytest.mark.requirement("OIDCC-3.1.3.7-2", "MUST")
def test_iss_is_the_issuer(id_token, meta):
    """OIDCC-3.1.3.7-2 MUST. "The Issuer Identifier for the OpenID Provider ... MUST exactly
    match the value of the iss (issuer) Claim"."""
    expect(
        id_token.claims.get("iss") == meta.get("issuer"),
        repr(meta.get("issuer")),
        repr(id_token.claims.get("iss")),
    )


@pytest.mark.requirement("OIDCC-3.1.3.7-3", "MUST")
def test_aud_contains_the_client_id(id_token, happy):
    """OIDCC-3.1.3.7-3 MUST. "The Client MUST validate that the aud (audience) Claim contains
    its client_id value"."""
    aud = id_token.claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    client_id = happy.login.client.client_id
    expect(client_id in audiences, f"aud containing {client_id!r}", repr(aud))


@pytest.mark.requirement("OIDCC-3.1.3.7-5", "MUST")
def test_azp_is_the_client_id_when_present(id_token, happy):
    """OIDCC-3.1.3.7-5 MUST. "If an azp (authorized party) Claim is present, the Client SHOULD
    verify that its client_id is the Claim Value"; with several audiences azp is REQUIRED
    (§3.1.3.7-4)."""
    claims = id_token.claims
    aud = claims.get("aud")
    if "azp" not in claims and not (isinstance(aud, list) and len(aud) > 1):
        pytest.skip("no azp and a single audience")
    client_id = happy.login.client.client_id
    expect(claims.get("azp") == client_id, repr(client_id), repr(claims.get("azp")))


@pytest.mark.requirement("OIDCC-3.1.3.7-9", "MUST")
def test_exp_is_in_the_future(id_token, happy):
    """OIDCC-3.1.3.7-9 MUST. "The current time MUST be before the time represented by the exp
    Claim" (5 minutes of clock skew allowed) — the time the client validates it, when it was
    received: the run's first ID token may well have expired by the time this check reads it."""
    exp = id_token.claims.get("exp")
    now = happy.tokens.received
    expect(
        isinstance(exp, int | float) and exp > now - SKEW and exp < now + 50 * 365 * 86400,
        "exp in the future (seconds since the epoch)",
        repr(exp),
    )


@pytest.mark.requirement("OIDCC-3.1.3.7-10", "MUST")
def test_iat_is_recent(id_token, happy):
    """OIDCC-3.1.3.7-10 MUST. iat is REQUIRED; "The iat Claim can be used to reject tokens that
    were issued too far away from the current time" — not in the future, not older than 5 min,
    at the time the token was received (not when this check happens to read it)."""
    iat = id_token.claims.get("iat")
    now = happy.tokens.received
    expect(
        isinstance(iat, int | float) and now - SKEW - 60 <= iat <= now + SKEW,
        "iat within 5 minutes of now",
        repr(iat),
    )


@pytest.mark.requirement("OIDCC-3.1.3.7-11", "MUST")
def test_nonce_is_the_one_sent(id_token, happy):
    """OIDCC-3.1.3.7-11 MUST. "If a nonce value was sent in the Authentication Request, a nonce
    Claim MUST be present and its value checked to verify that it is the same value"."""
    sent = happy.login.request.nonce
    expect(id_token.claims.get("nonce") == sent, repr(sent), repr(id_token.claims.get("nonce")))


@pytest.mark.requirement("OIDCC-3.1.3.7-11", "MUST")
def test_no_nonce_when_none_was_sent(harness):
    """OIDCC-2 / OIDCC-3.1.3.7-11 MUST. nonce is passed through unmodified: a request without
    nonce yields an ID token without one."""
    login = harness.code(request=harness.authorization_request(omit=("nonce",)))
    tokens = harness.exchange(login)
    claims = tokens.id_token.claims if tokens.id_token else {}
    expect("nonce" not in claims, "no nonce claim", repr(claims.get("nonce")))


@pytest.mark.requirement("OIDCC-3.3.2.11", "MUST")
def test_at_hash_matches_the_access_token(id_token, happy):
    """OIDCC-3.3.2.11 MUST. at_hash, when present, is "the base64url encoding of the left-most
    half of the hash of the octets of the ASCII representation of the access_token value"."""
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


@pytest.mark.requirement("OIDCC-3.1.3.7-12", "MUST")
def test_acr_is_at_least_the_requested_level(id_token, target):
    """OIDCC-3.1.3.7-12 / PSC MUST. acr, requested with acr_values, is a level at least the one
    asked for (PSC returns eidas3 for a CPS card when eidas1 is requested)."""
    if not target.acr_values:
        pytest.skip("the profile requests no acr_values")
    acr = id_token.claims.get("acr")
    requested = target.acr_values.split()
    if all(r in ACR_ORDER for r in requested) and acr in ACR_ORDER:
        ok = ACR_ORDER.index(acr) >= min(ACR_ORDER.index(r) for r in requested)
    else:
        ok = acr in requested
    expect(ok, f"an acr at least {requested}", repr(acr))


@pytest.mark.requirement("OIDCC-5.4", "SHOULD")
def test_no_unrequested_claims(id_token):
    """OIDCC-5.4 SHOULD. In the code flow, claims requested by scope are returned from the
    UserInfo endpoint; the ID token holds protocol claims (OIDF
    EnsureIdTokenDoesNotContainNonRequestedClaims)."""
    extra = sorted(set(id_token.claims) - PROTOCOL_CLAIMS)
    expect(not extra, "protocol claims only", extra)


@pytest.mark.requirement("OIDCC-2", "MUST")
def test_auth_time_is_present_when_max_age_was_requested(harness, happy):
    """OIDCC-2 MUST. "When a max_age request is made ... then this Claim is REQUIRED"."""
    login = harness.code(request=harness.authorization_request(extra={"max_age": "10000"}))
    tokens = harness.exchange(login)
    auth_time = tokens.id_token.claims.get("auth_time") if tokens.id_token else None
    expect(
        isinstance(auth_time, int | float) and auth_time <= tokens.received + SKEW,
        "auth_time (seconds since the epoch)",
        repr(auth_time),
    )
