"""The RP test plan: each test names the requirement it checks, its level, whose obligation it
is (always the relying party's here), the lie the simulator serves (lies.py) and what the app
must do with it.

Three kinds of test:
- `accept`: an honest or compliant-but-unusual answer; passes only when the app shows the
  logged-in marker naming the expected professional.
- `reject`: one hostile artefact; passes only when the app shows its rejection marker, does
  not show the logged-in marker, and made no later request carrying the artefact.
- `observe`: what the app sent, read from the simulator's log of the honest logins.
- `logout`, `expiry`: an honest login, then the app's logout, or the access token's expiry.

The levels are the specs' own. Where PSC's practice is stricter than the spec (a signature
the spec lets a code-flow client skip), the level stays the spec's and `note` says why the
test is there: a verdict is a claim someone signs.
"""

from __future__ import annotations

from dataclasses import dataclass

from psc_testkit.simulator import lies

ACCEPT, REJECT, OBSERVE = "accept", "reject", "observe"
LOGOUT, EXPIRY = "logout", "expiry"  # a login, then the app's logout / the token's expiry
COPES = "copes"  # an unusual but valid answer: logging in or refusing with the marker both pass
SAME = "same"  # the same page as after the honest login, though PSC answered in another order
MUST, SHOULD, MAY = "MUST", "SHOULD", "MAY"

S_3137 = "OpenID Connect Core 1.0 §3.1.3.7 (ID Token Validation)"
SIG_NOTE = (
    "OIDC Core lets a client that received the ID token straight from the token endpoint over "
    "TLS skip its signature (step 6): hence SHOULD. PSC's own connectors verify it, and an app "
    "that does not accepts a forged token from any other path it may one day take."
)


@dataclass(frozen=True)
class RpTest:
    name: str
    requirement: str
    level: str
    kind: str
    title: str
    spec: str  # the spec sentence, quoted
    source: str  # where the sentence is
    lie: str | None = None
    note: str = ""
    # A level that rises to MUST when the app has no other defence (state without PKCE).
    must_without_pkce: bool = False
    # Applies only when the app's client is registered for signed UserInfo.
    needs_signed_userinfo: bool = False
    # Applies only when the client has a secret (HS256 with it).
    needs_secret: bool = False
    # Applies only when the app's honest authorization request sent this parameter (a nonce
    # lie needs a nonce to lie about; an acr check needs acr_values asked for).
    needs_sent: str = ""

    @property
    def obligation(self) -> str:
        return "RP"


def _t(name, requirement, level, kind, title, spec, source, lie=None, **kw) -> RpTest:
    return RpTest(name, requirement, level, kind, title, spec, source, lie, **kw)


# fmt: off
PLAN: tuple[RpTest, ...] = (
    # The positive control first: every negative verdict is judged against it.
    _t("honest-login", "OIDCC-3.1.3.7", MUST, ACCEPT,
       "accepts an honest login and shows the professional",
       "Clients MUST validate the ID Token in the Token Response in the following manner",
       S_3137),
    # What the app sends (read from the honest logins).
    _t("sends-response-type-code", "OIDCC-3.1.2.1", MUST, OBSERVE,
       "asks for the authorization code flow (response_type=code)",
       "When using the Authorization Code Flow, this value is code.",
       "OpenID Connect Core 1.0 §3.1.2.1 (response_type)"),
    _t("sends-scope-openid", "OIDCC-3.1.2.1", MUST, OBSERVE,
       "sends the openid scope",
       "OpenID Connect requests MUST contain the openid scope value.",
       "OpenID Connect Core 1.0 §3.1.2.1 (scope)"),
    _t("sends-scope-all", "PSC-SCOPE-ALL", SHOULD, OBSERVE,
       "asks for PSC's sectoral claims (scope_all)",
       "PSC releases the sectoral claims (SubjectRefPro, exercices, activities) only to "
       "requests whose scope holds scope_all.",
       "PSC fact sheet §2.1, §3"),
    _t("sends-acr-values-eidas1", "PSC-ACR-VALUES", SHOULD, OBSERVE,
       "asks for the eIDAS level it needs (acr_values=eidas1)",
       "PSC clients send acr_values=eidas1; the ID token's acr then tells the level reached.",
       "PSC fact sheet §2.1, §7"),
    _t("sends-fresh-state", "RFC6749-10.12", SHOULD, OBSERVE,
       "sends an unguessable state, fresh at every login",
       "The binding value used for CSRF protection MUST contain a non-guessable value",
       "RFC 6749 §10.12", must_without_pkce=True),
    _t("sends-fresh-nonce", "OIDCC-3.1.2.1", SHOULD, OBSERVE,
       "sends an unguessable nonce, fresh at every login",
       "Sufficient entropy MUST be present in the nonce values used to prevent attackers from "
       "guessing values.",
       "OpenID Connect Core 1.0 §3.1.2.1 (nonce), §15.5.2"),
    _t("sends-pkce-s256", "RFC9700-2.1.1", SHOULD, OBSERVE,
       "uses PKCE with S256",
       "For confidential clients, the use of PKCE [RFC7636] is RECOMMENDED",
       "RFC 9700 §2.1.1; RFC 7636 §4.2 (S256 when the client can)",
       note="MUST for public clients (RFC 9700 §2.1.1)."),
    _t("sends-registered-redirect-uri", "OIDCC-3.1.2.1", MUST, OBSERVE,
       "sends a redirect_uri registered exactly, and the same one to the token endpoint",
       "This URI MUST exactly match one of the Redirection URI values for the Client "
       "pre-registered at the OpenID Provider",
       "OpenID Connect Core 1.0 §3.1.2.1 (redirect_uri); RFC 6749 §4.1.3"),
    _t("authenticates-as-registered", "RFC6749-2.3", MUST, OBSERVE,
       "authenticates at the token endpoint with one method, its registered one",
       "The client MUST NOT use more than one authentication method in each request.",
       "RFC 6749 §2.3; OpenID Connect Core 1.0 §9 (the registered method)",
       note="Two methods at once fail as a MUST; one method that is not the registered one "
       "fails as a SHOULD (OIDC Core §9 names the registered method, without a MUST)."),
    _t("sends-no-token-in-urls", "RFC6750-5.3", SHOULD, OBSERVE,
       "never puts a token in a URL",
       "Bearer tokens SHOULD NOT be passed in page URLs (for example, as query string "
       "parameters).",
       "RFC 6750 §5.3"),
    _t("userinfo-with-bearer-header", "RFC6750-2.1", SHOULD, OBSERVE,
       "calls UserInfo with the access token in an Authorization: Bearer header",
       "Clients SHOULD make authenticated requests with a bearer token using the "
       "\"Authorization\" request header field with the \"Bearer\" HTTP authorization scheme.",
       "RFC 6750 §2.1; OpenID Connect Core 1.0 §5.3.1"),
    # ID tokens, one lie each.
    _t("refuses-id-token-of-another-issuer", "OIDCC-3.1.3.7-2", MUST, REJECT,
       "refuses an ID token whose iss is not the issuer",
       "The Issuer Identifier for the OpenID Provider (which is typically obtained during "
       "Discovery) MUST exactly match the value of the iss (issuer) Claim.",
       S_3137, "id-token-wrong-iss"),
    _t("refuses-id-token-for-another-client", "OIDCC-3.1.3.7-3", MUST, REJECT,
       "refuses an ID token whose aud does not name it",
       "The ID Token MUST be rejected if the ID Token does not list the Client as a valid "
       "audience, or if it contains additional audiences not trusted by the Client.",
       S_3137, "id-token-aud-without-client"),
    _t("refuses-extra-audience-without-azp", "OIDCC-3.1.3.7-3", MUST, REJECT,
       "refuses an ID token with a second, untrusted audience and no azp",
       "The ID Token MUST be rejected if the ID Token does not list the Client as a valid "
       "audience, or if it contains additional audiences not trusted by the Client.",
       S_3137, lies.EXTRA_AUD_WITHOUT_AZP),
    _t("refuses-id-token-without-sub", "OIDCC-2", MUST, REJECT,
       "refuses an ID token without sub",
       "sub REQUIRED. Subject Identifier.",
       "OpenID Connect Core 1.0 §2 (ID Token); §3.1.3.7", lies.SUB_MISSING),
    _t("refuses-expired-id-token", "OIDCC-3.1.3.7-9", MUST, REJECT,
       "refuses an expired ID token",
       "The current time MUST be before the time represented by the exp Claim.",
       S_3137, "id-token-expired"),
    _t("refuses-id-token-issued-in-the-future", "OIDCC-3.1.3.7-10", MAY, REJECT,
       "refuses an ID token whose iat is an hour ahead",
       "The iat Claim can be used to reject tokens that were issued too far away from the "
       "current time",
       S_3137, "id-token-iat-future",
       note="The spec leaves the range to the client (MAY: a failure is noted, never counted); "
       "an hour ahead is outside any sound one."),
    _t("refuses-wrong-nonce", "OIDCC-3.1.3.7-11", MUST, REJECT,
       "refuses an ID token whose nonce is not the one it sent",
       "If a nonce value was sent in the Authentication Request, a nonce Claim MUST be present "
       "and its value checked to verify that it is the same value as the one that was sent in "
       "the Authentication Request.",
       S_3137, lies.NONCE_WRONG, needs_sent="nonce"),
    _t("refuses-unsigned-id-token", "OIDCC-3.1.3.7-7", SHOULD, REJECT,
       "refuses an unsigned ID token (alg none)",
       "The alg value SHOULD be the default of RS256 or the algorithm sent by the Client in the "
       "id_token_signed_response_alg parameter during Registration.",
       S_3137 + "; RFC 8725 §3.1 (libraries MUST NOT use other algorithms)", lies.ALG_NONE,
       note="The client is registered for RS256: none is another algorithm. " + SIG_NOTE),
    _t("refuses-bad-signature", "OIDCC-3.1.3.7-6", SHOULD, REJECT,
       "refuses an ID token whose RS256 signature does not verify",
       "The Client MUST validate the signature of all other ID Tokens according to JWS [JWS] "
       "using the algorithm specified in the JWT alg Header Parameter. The Client MUST use the "
       "keys provided by the Issuer.",
       S_3137, "id-token-bad-signature", note=SIG_NOTE),
    _t("refuses-key-not-in-the-jwks", "OIDCC-3.1.3.7-6", SHOULD, REJECT,
       "refuses an ID token signed by a key the JWKS does not hold, under the provider's kid",
       "The Client MUST use the keys provided by the Issuer.",
       S_3137, lies.FOREIGN_KEY, note=SIG_NOTE),
    _t("refuses-unknown-kid", "OIDCC-3.1.3.7-6", SHOULD, REJECT,
       "refuses an ID token whose kid the JWKS does not have, even after fetching it again",
       "The Client MUST use the keys provided by the Issuer.",
       S_3137, lies.UNKNOWN_KID, note=SIG_NOTE),
    _t("refuses-hs256-with-client-secret", "OIDCC-3.1.3.7-7", SHOULD, REJECT,
       "refuses an ID token MACed (HS256) with its client secret when registered for RS256",
       "The alg value SHOULD be the default of RS256 or the algorithm sent by the Client in the "
       "id_token_signed_response_alg parameter during Registration.",
       S_3137 + "; RFC 8725 §2.1, §3.1", lies.HS256_SECRET, needs_secret=True,
       note=SIG_NOTE),
    _t("accepts-id-token-without-kid-single-key", "OIDCC-10.1", SHOULD, ACCEPT,
       "accepts an ID token without kid when the JWKS has one key",
       "If there are multiple keys in the referenced JWK Set document, a kid value MUST be "
       "provided in the JOSE Header.",
       "OpenID Connect Core 1.0 §10.1 (with one key, kid is not needed)", lies.KID_ABSENT),
    # PSC's assurance level.
    _t("refuses-acr-below-requested", "OIDCC-3.1.3.7-12", SHOULD, REJECT,
       "refuses an ID token whose acr is below the eidas1 it asked for",
       "If the acr Claim was requested, the Client SHOULD check that the asserted Claim Value "
       "is appropriate.",
       S_3137, "id-token-acr-below-requested", needs_sent="acr_values",
       note="PSC: acr is a level that must be at least the one requested (fact sheet §7)."),
    _t("refuses-missing-acr", "OIDCC-3.1.3.7-12", SHOULD, REJECT,
       "refuses an ID token without acr when it asked for eidas1",
       "If the acr Claim was requested, the Client SHOULD check that the asserted Claim Value "
       "is appropriate.",
       S_3137, lies.ACR_ABSENT, needs_sent="acr_values",
       note="A 2023 report shows PSC itself once omitting acr (fact sheet §7): SHOULD."),
    # The callback (front channel).
    _t("refuses-wrong-state", "RFC6749-10.12", SHOULD, REJECT,
       "refuses a callback whose state is not the one it sent, and does not use its code",
       "The client MUST implement CSRF protection for its redirection URI.",
       "RFC 6749 §10.12; RFC 9700 §2.1", lies.STATE_WRONG, must_without_pkce=True,
       needs_sent="state",
       note="PKCE also protects against CSRF (RFC 9700 §2.1): MUST only without it."),
    _t("refuses-missing-state", "RFC6749-10.12", SHOULD, REJECT,
       "refuses a callback without the state it sent, and does not use its code",
       "The client MUST implement CSRF protection for its redirection URI.",
       "RFC 6749 §10.12; RFC 9700 §2.1", "callback-state-missing", must_without_pkce=True,
       needs_sent="state",
       note="PKCE also protects against CSRF (RFC 9700 §2.1): MUST only without it."),
    _t("shows-error-on-access-denied", "RFC6749-4.1.2.1", SHOULD, REJECT,
       "shows an error, not a session, when the callback says access_denied",
       "If the resource owner denies the access request or if the request fails for reasons "
       "other than a missing or invalid redirection URI, the authorization server informs the "
       "client by adding the following parameters",
       "RFC 6749 §4.1.2.1", lies.ACCESS_DENIED,
       note="The sentence is what the provider sends; what the client then does is not "
       "specified: SHOULD."),
    _t("shows-error-when-the-code-is-refused", "RFC6749-5.2", SHOULD, REJECT,
       "shows an error when the token endpoint refuses the code (issued to another client)",
       "The authorization server responds with an HTTP 400 (Bad Request) status code",
       "RFC 6749 §5.2, §4.1.3", lies.CODE_OF_ANOTHER_CLIENT,
       note="The sentence is what the provider sends; what the client then does is not "
       "specified: SHOULD."),
    _t("refuses-callback-of-another-issuer", "RFC9207-2.4", SHOULD, REJECT,
       "refuses a callback whose iss parameter names another issuer",
       "If the value does not match the expected issuer identifier, clients MUST reject the "
       "authorization response and MUST NOT proceed with the authorization grant.",
       "RFC 9207 §2.4", "callback-iss-of-another-issuer",
       note="MUST for clients that implement RFC 9207, which PSC's discovery advertises."),
    # UserInfo.
    _t("refuses-userinfo-of-another-sub", "OIDCC-5.3.2", MUST, REJECT,
       "refuses a UserInfo response whose sub is not the ID token's",
       "The sub Claim in the UserInfo Response MUST be verified to exactly match the sub Claim "
       "in the ID Token; if they do not match, the UserInfo Response values MUST NOT be used.",
       "OpenID Connect Core 1.0 §5.3.2", "userinfo-sub-mismatch"),
    _t("refuses-userinfo-of-another-professional", "OIDCC-5.3.2", MUST, REJECT,
       "refuses a UserInfo response describing another professional",
       "The sub Claim in the UserInfo Response MUST be verified to exactly match the sub Claim "
       "in the ID Token; if they do not match, the UserInfo Response values MUST NOT be used.",
       "OpenID Connect Core 1.0 §5.3.2", lies.USERINFO_OTHER),
    _t("refuses-badly-signed-userinfo", "OIDCC-5.3.4", SHOULD, REJECT,
       "refuses a signed UserInfo response whose signature does not verify",
       "If the response was signed, the Client SHOULD validate the signature according to JWS.",
       "OpenID Connect Core 1.0 §5.3.4", "userinfo-signed-bad-signature",
       needs_signed_userinfo=True),
    # PSC's sectoral claims.
    _t("copes-without-subjectrefpro", "PSC-CLAIMS-OPTIONAL", SHOULD, COPES,
       "copes with a professional without SubjectRefPro: logs them in, or refuses with its "
       "error page, never a crash or silence",
       "Always present: sub, SubjectNameID, preferred_username, given_name, family_name. "
       "Optional or possibly empty: everything else.",
       "PSC fact sheet §3.3 (no normative list exists; observed payloads)",
       lies.NO_SUBJECT_REF_PRO),
    _t("same-exercice-whatever-the-order", "PSC-EXERCICES", SHOULD, SAME,
       "shows the same situation when PSC lists the professional's exercices in another order",
       "exercices and activities may contain 0..n entries.",
       "PSC fact sheet §3.2, §3.3: an app lets the user choose, or picks deterministically",
       lies.EXERCICES_REORDERED,
       note="Judged on the logged-in marker's text, with a professional of two exercices: an "
       "app that shows no exercice passes, since it cannot depend on their order."),
    # The positive control again: an app that stopped accepting honest logins on the way (a
    # key it can no longer verify, a crash) would refuse every lie for the wrong reason.
    _t("honest-login-again", "OIDCC-3.1.3.7", MUST, ACCEPT,
       "still accepts an honest login once the lies are over",
       "Clients MUST validate the ID Token in the Token Response in the following manner",
       S_3137),
    _t("rp-initiated-logout", "OIDCRPIL-2", SHOULD, LOGOUT,
       "logs out at PSC with id_token_hint and a registered post_logout_redirect_uri",
       "id_token_hint RECOMMENDED. ID Token previously issued by the OP to the RP passed to the "
       "Logout Endpoint as a hint about the End-User's current authenticated session with the "
       "Client.",
       "OpenID Connect RP-Initiated Logout 1.0 §2",
       note="A post_logout_redirect_uri that was not registered fails as a MUST (§2: \"The "
       "value MUST have been previously registered with the OP\")."),
    # Last: after it the JWKS holds two keys, and an app may wait before fetching it again.
    _t("accepts-rotated-signing-key", "OIDCC-10.1.1", SHOULD, ACCEPT,
       "accepts an ID token signed by a new key once it fetched the JWKS again",
       "The verifier knows to go back to the jwks_uri location to re-retrieve the keys when it "
       "sees an unfamiliar kid value.",
       "OpenID Connect Core 1.0 §10.1.1", lies.KEY_ROTATED,
       note="The sentence describes the rotation scheme, which breaks for every user of an app "
       "that does not do it: SHOULD."),
    # Very last: it moves the simulator's clock two minutes on.
    _t("keeps-the-session-when-the-access-token-expires", "PSC-ACCESS-TOKEN-LIFETIME", SHOULD,
       EXPIRY,
       "keeps its user logged in when the 120 s access token expires (refresh or re-login)",
       "PSC access tokens are valid for two minutes (\"durée de validité limitée à 2 minutes\").",
       "PSC fact sheet §2.3; RFC 6749 §6 (refreshing an access token)"),
)
# fmt: on

BY_NAME = {t.name: t for t in PLAN}


class UnknownTest(ValueError):
    pass


def select(names: list[str] | None) -> tuple[RpTest, ...]:
    """The plan, or the named tests of it in plan order: the honest login always first (every
    other verdict needs it), and again after any refusal test (which it vouches for)."""
    if not names:
        return PLAN
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise UnknownTest(f"unknown RP test(s) {', '.join(unknown)}; see `psc-testkit rp --list`")
    wanted = {"honest-login", *names}
    # The closing control vouches for refusals; for freshness it is the second login.
    if any(BY_NAME[n].kind in (REJECT, OBSERVE) for n in names):
        wanted.add("honest-login-again")
    return tuple(t for t in PLAN if t.name in wanted)
