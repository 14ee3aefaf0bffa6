"""Named quirks the simulator can be started with: the dual of defects.

A quirk is a behaviour a compliant provider may show that the simulator does not by default
(an error page instead of an error redirect, extra redirect hops, opaque access tokens, refresh
tokens that do not rotate...). Each one cites the text that allows it. The quirk matrix
(`tests/test_quirk_matrix.py`) runs the whole suite against each quirk and fails on any MUST
failure or error, and on any SHOULD warning the quirk does not name in `warns`: a check that
fails a quirk is a false failure of the suite, as bad as a false pass.

As with defects, the behaviour a quirk alters tests `name in provider.quirks` where that
behaviour is. A few quirks act on the profile the suite reads rather than on the provider
(`profile`): the plugin applies them to the runtime target.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Quirk:
    name: str
    allowed_by: str  # the spec text that allows the behaviour, with its reference
    description: str
    # SHOULD checks that may warn under this quirk (the behaviour departs from a SHOULD).
    warns: tuple[str, ...] = ()
    # Acts on the profile the suite reads (e.g. client order), not on the simulator.
    profile: bool = False


def _q(
    name: str,
    allowed_by: str,
    description: str,
    *warns: str,
    profile: bool = False,
) -> Quirk:
    return Quirk(name, allowed_by, description, warns, profile)


# human-paced: what a tester's pause before each login lets pass, beyond the 120 s access-token
# lifetime (and small enough that a whole run stays inside the 4 h SSO session).
HUMAN_PACE = 150.0

# fmt: off
_ALL: list[Quirk] = [
    # Deployment, profile and transport
    _q("human-paced", "RFC 6749 §4.2.2 / §5.1 `expires_in`: a token's lifetime is the "
       "provider's; nothing obliges a client to use it at once. A real tester's logins are "
       "minutes apart (PSC access tokens live 120 s).",
       f"before each new authorization request, {HUMAN_PACE:.0f} s pass for everything "
       "issued so far (tokens, codes, the SSO session): earlier access tokens have expired"),
    _q("mtls-client-first", "A profile lists its clients in any order; RFC 8705 §2: only a "
       "tls_client_auth client authenticates with its certificate, so a request made "
       "\"without a client certificate\" must present none whichever client comes first.",
       "the profile's tls_client_auth client is listed first (the run's primary client)",
       profile=True),
    _q("mtls-aliases", "RFC 8705 §5: \"the authorization server ... MAY use a different "
       "host, port, or path for the mTLS endpoints ... mtls_endpoint_aliases\"; a client "
       "intending to use mutual TLS uses the alias when one is present.",
       "the token, userinfo, introspection, revocation and CIBA endpoints answer mTLS on "
       "another port (mtls_endpoint_aliases); certificates presented to the others are not seen"),
    _q("gzip-responses", "RFC 9110 §8.4.1 and §12.5.3: a server may apply a content coding "
       "the request's Accept-Encoding lists (the suite sends gzip, deflate, br).",
       "every response body is gzip-encoded (Content-Encoding: gzip)"),
    _q("connection-close", "RFC 9112 §9.6: \"A server that does not support persistent "
       "connections MUST send the 'close' connection option in every response message\".",
       "every response carries Connection: close and the server closes the connection"),
    # Front channel (authorization, login, logout)
    _q("error-page-400", "OIDF oidcc-response-type-missing: \"The authorization server should "
       "display an error saying the response type is missing\" (an error page, screenshot, or "
       "an error redirect); FAPI2 ...EnsureResponseTypeTokenFails and ...EnsurePKCERequired "
       "accept an error page the same way.",
       "a missing or unsupported response_type and a PKCE error (no code_challenge for a "
       "public client, a bad challenge or method) get an HTML error page, HTTP 400, no redirect"),
    _q("error-page-200", "As error-page-400: the OIDF accepts an error page, whatever its "
       "status (it asks for a screenshot).",
       "as error-page-400, but the error page answers HTTP 200"),
    _q("redirect-hops", "RFC 6749 §1.7: \"While the examples in this specification show the "
       "use of the HTTP 302 status code, any other method available via the user-agent to "
       "accomplish this redirection is allowed and is considered to be an implementation "
       "detail.\"",
       "2-3 redirects (302 then 303) through internal URLs of the wallet host before the login "
       "page and again before every response to the client"),
    _q("consent-page", "OIDC Core §3.1.2.4: \"the Authorization Server MUST obtain an "
       "authorization decision before releasing information to the Relying Party. When "
       "permitted by the request parameters used, this MAY be done through an interactive "
       "dialogue with the End-User\".",
       "after login, a consent page (a form the user submits) before the response; granted "
       "once per client and SSO session (prompt=none before that: consent_required)"),
    _q("prompt-login-delayed", "OIDC Core §3.1.2.1 prompt=login: \"The Authorization Server "
       "SHOULD prompt the End-User for reauthentication\": prompting a session only seconds "
       "old again is a SHOULD (warned); §3.1.2.3's \"MUST reauthenticate the End-User even "
       "if the End-User is already authenticated\" is judged on a session 10 s old, which "
       "this quirk does reauthenticate.",
       "prompt=login asks to log in again only when the session is 5 s old or more (simulator "
       "clock); a fresher session answers silently",
       "test_prompt_login_asks_for_authentication_again"),
    _q("authorization-response-extra-params", "RFC 6749 §4.1.2: \"The client MUST ignore "
       "unrecognized response parameters.\" (Keycloak adds session_state, OIDC Session "
       "Management §2.1).",
       "every authorization response carries session_state and another unknown parameter, "
       "its parameters in another order (iss first, state last)"),
    _q("logout-confirmation-page", "OIDC RP-Initiated Logout §2: \"At the Logout Endpoint, "
       "the OP SHOULD ask the End-User whether to log out of the OP as well\": asking is "
       "allowed even with a valid id_token_hint.",
       "RP-initiated logout always shows a confirmation form, even with a valid "
       "id_token_hint; the logout happens once the user submits it"),
    _q("auto-submit-hop", "RFC 6749 §1.7: any redirection method available via the "
       "user-agent is allowed; an auto-submitting form is one (as OAuth 2.0 Form Post "
       "Response Mode uses).",
       "after login the OP answers HTTP 200 with an auto-submitting form (onload) that POSTs "
       "to an internal URL, which then redirects to the client"),
    _q("long-codes", "RFC 6749 §4.1.2: \"The authorization code string size is left "
       "undefined by this specification. The client should avoid making assumptions about "
       "code value sizes. The authorization server SHOULD document the size of any value it "
       "issues.\"",
       "authorization codes of 1,000 characters"),
    _q("login-cookie", "RFC 6749 §3.1: \"The way in which the authorization server "
       "authenticates the resource owner (e.g., username and password login, session "
       "cookies) is beyond the scope of this specification.\" (Keycloak's AUTH_SESSION_ID, "
       "LemonLDAP::NG's lemonldappdata).",
       "the login page sets a cookie the login form's POST must bring back; without it: "
       "\"Cookie not found. Please make sure cookies are enabled in your browser.\" (HTTP 400)"),
    _q("prompt-none-interaction-required", "OIDC Core §3.1.2.6: \"interaction_required ... "
       "This error MAY be returned when the prompt parameter value in the Authentication "
       "Request is none, but the Authentication Request cannot be completed without "
       "displaying a user interface for End-User interaction.\"",
       "prompt=none without a session answers interaction_required instead of login_required"),
    # Back channel (token, refresh, userinfo, introspection, CIBA)
    _q("refresh-no-scope", "RFC 6749 §5.1: scope \"OPTIONAL, if identical to the scope "
       "requested by the client; otherwise, REQUIRED\".",
       "refresh responses carry no scope when the scope did not change"),
    _q("refresh-scope-narrowed", "RFC 6749 §6: \"The requested scope MUST NOT include any "
       "scope not originally granted\" forbids granting more, not answering; §3.3: the server "
       "\"MAY fully or partially ignore the scope requested\" and then MUST say the scope granted.",
       "a refresh asking a wider scope than granted gets HTTP 200 with the original scope (and "
       "says so in scope)"),
    _q("ciba-slow-down", "CIBA Core §11 slow_down: \"the authorization request is still pending "
       "and polling should continue, but the interval MUST be increased by at least 5 seconds "
       "for this and all subsequent requests\"; §7.3 interval: \"The minimum amount of time in "
       "seconds that the Client MUST wait between polling requests\".",
       "the CIBA interval counts from the acknowledgment and holds for every poll (pending, "
       "approved or denied): a poll sooner gets slow_down and 5 s more"),
    _q("ciba-without-openid", "CIBA Core §7.1 scope: \"CIBA authentication requests MUST "
       "therefore contain the openid scope value. The behavior when the openid scope value is "
       "not present is unspecified\": the MUST binds the client (Keycloak serves such a "
       "request as a plain OAuth flow).",
       "a CIBA request without openid in its scope is accepted"),
    _q("ciba-no-interval", "CIBA Core §7.3: interval \"OPTIONAL ... If no value is provided, "
       "clients MUST use 5 as the default value\".",
       "the CIBA acknowledgment carries no interval"),
    _q("opaque-access-tokens", "RFC 6749 §1.4: \"The string is usually opaque to the client\"; "
       "RFC 7662 §2.2 gives their meaning (scope, client_id, exp...). PSC documents JWT access "
       "tokens, which only PSC checks may expect.",
       "access tokens are random strings, not JWTs; introspection still describes them",
       "test_access_token_*", "test_psc_*access_token*"),
    _q("refresh-not-rotated", "RFC 6749 §6: \"The authorization server MAY issue a new refresh "
       "token\"; RFC 9700 §2.2.2: \"Refresh tokens for public clients MUST be sender-constrained "
       "or use refresh token rotation\" — confidential clients are bound by their "
       "authentication.",
       "a refresh by a confidential client returns the same refresh token again (it stays "
       "valid); the public client's still rotate"),
    _q("refresh-not-reissued", "RFC 6749 §5.1: refresh_token \"OPTIONAL\"; §6: \"The "
       "authorization server MAY issue a new refresh token\" (the client keeps the old one).",
       "a refresh by a confidential client returns no refresh_token; the old one stays valid"),
    _q("refresh-without-id-token", "OIDC Core §12.2: the refresh response \"is the Token "
       "Response of Section 3.1.3.3 except that it might not contain an id_token\".",
       "refresh responses carry no id_token"),
    _q("www-authenticate-extra-params", "RFC 6750 §3: the challenge's attributes (realm, scope, "
       "error, error_description, error_uri) are auth-params, in no set order; \"All challenges "
       "defined by this specification MUST use the auth-scheme value \"Bearer\"\".",
       "UserInfo's WWW-Authenticate puts error first, adds scope and error_uri"),
    _q("token-response-extra-members", "RFC 6749 §5.1: \"The client MUST ignore unrecognized "
       "value names in the response\"; JSON members have no order (RFC 8259 §4).",
       "token responses carry more unknown members (upgraded, x-request-id, "
       "id_token_expires_in) before the others, in reverse order"),
    _q("token-type-lowercase", "RFC 6749 §5.1 token_type: \"The value is case insensitive\".",
       "token_type is \"bearer\""),
    _q("id-token-azp-and-sid", "OIDC Core §2: \"In the general case, the aud value is an "
       "array of case-sensitive strings\"; azp \"OPTIONAL\"; sid from OIDC Front/Back-Channel "
       "Logout; Keycloak adds typ \"ID\".",
       "ID tokens carry aud as a one-element array, beside azp (= client id), sid and typ ID"),
    _q("no-at-hash", "OIDC Core §3.1.3.6: at_hash \"OPTIONAL\" in the code flow (REQUIRED only "
       "when the ID token is issued from the authorization endpoint with an access token).",
       "ID tokens carry no at_hash"),
    _q("errors-without-description", "RFC 6749 §5.2: error_description \"OPTIONAL\"; RFC 6750 "
       "§3 likewise for the challenge.",
       "token, introspection, revocation, CIBA and UserInfo errors carry only error"),
    _q("introspection-extra-fields", "RFC 7662 §2.2: \"Specific implementations MAY extend "
       "this structure with their own service-specific response names as top-level members of "
       "this JSON object\".",
       "introspection answers with Keycloak's allowed-origins, realm_access, resource_access, "
       "email_verified, aud first, the rest in another order"),
    _q("introspection-audience-only", "RFC 7662 §4: \"If the token can be used only at "
       "certain resource servers, the authorization server MUST determine whether or not the "
       "token can be used at the resource server making the introspection call.\"; §2.2: "
       "\"the protected resource is not allowed to introspect this particular token\" gets "
       "\"active\" false (Keycloak 26: \"Client '...' is not in the token audience\").",
       "access tokens carry aud [\"account\"] (stock Keycloak); introspecting one answers "
       "{\"active\": false} to any client its aud does not name"),
    _q("revocation-access-token-unsupported", "RFC 7009 §2: \"Implementations MUST support the "
       "revocation of refresh tokens and SHOULD support the revocation of access tokens\"; "
       "§2.2.1: unsupported_token_type.",
       "revoking an access token answers HTTP 400 unsupported_token_type",
       "test_revoking_an_access_token_succeeds_and_it_stops_working"),
    _q("json-charset", "RFC 8259 §11: application/json \"No 'charset' parameter is defined "
       "for this registration. Adding one really has no effect on compliant recipients.\"",
       "token, UserInfo, introspection and CIBA responses are application/json;charset=UTF-8 "
       "(Keycloak)"),
    # Discovery and JWKS
    _q("alg-none-listed", "OIDC Discovery §3 id_token_signing_alg_values_supported: \"The value "
       "none MAY be supported, but MUST NOT be used unless the Response Type used returns no ID "
       "Token from the Authorization Endpoint (such as when using the Authorization Code Flow)\".",
       "id_token_signing_alg_values_supported lists none beside RS256; the provider offers the "
       "code flow only and signs every ID token"),
    _q("kid-shared-across-kty", "RFC 7517 §4.5: \"different keys within the JWK Set SHOULD use "
       "distinct kid values. (One example in which different keys might use the same kid value "
       "is if they have different kty (key type) values but are considered to be equivalent "
       "alternatives by the application using them.)\"",
       "the JWKS also holds an EC P-256 key with the RSA signing key's kid"),
    _q("discovery-member-order", "RFC 8259 §4: \"An object is an unordered collection of zero "
       "or more name/value pairs\".",
       "discovery lists its members in reverse order"),
    _q("discovery-extra-members", "OIDC Discovery §3: \"Additional OpenID Provider Metadata "
       "parameters MAY also be used\"; RFC 8414 §2 likewise (Keycloak publishes some twenty).",
       "discovery carries Keycloak's extra members (check_session_iframe, encryption algorithms, "
       "request object algorithms, PAR and device endpoints, session flags...)"),
    _q("jwks-extra-enc-key", "OIDC Discovery §3 jwks_uri: \"The JWK Set MAY also contain the "
       "Server's encryption key(s) ... When both signing and encryption keys are made available, "
       "a use (Key Use) parameter value is REQUIRED for all keys\".",
       "the JWKS also holds an RSA key with use enc (alg RSA-OAEP), listed first"),
    _q("jwks-next-signing-key", "OIDC Core §10.1.1: \"The signer can begin using a new key at "
       "its discretion and signals the change to the verifier using the kid value\"; a key "
       "published before it signs anything lets verifiers that cache the JWKS know it in time.",
       "the JWKS lists first a second RSA signing key (use sig, RS256) nothing is signed with yet"),
    _q("subject-types-unusual", "OIDC Discovery §3 subject_types_supported: \"JSON array "
       "containing a list of the Subject Identifier types that this OP supports. Valid types "
       "include pairwise and public.\" — an open list.",
       "subject_types_supported is [\"public\", \"ephemeral\"]"),
    # PSC claims
    _q("userinfo-extra-claims", "OIDC Core §5.3.2: \"The Claims defined in Section 5.1 can be "
       "returned, as can additional Claims not specified there.\"; §2: \"ID Tokens MAY contain "
       "other Claims. Any Claims used that are not understood MUST be ignored.\" No PSC source "
       "closes its claim set (fact sheet §3.3).",
       "UserInfo adds claims the PSC schema does not list (auth_level, seen in 2026 PSC "
       "tokens, and Keycloak's name); the ID token adds Keycloak's preferred_username, "
       "email_verified and auth_level"),
    _q("acr-eidas3-for-card", "OIDC Core §3.1.2.1 acr_values: \"The acr Claim is requested as "
       "a Voluntary Claim by this parameter\"; §2 acr: the class \"that the authentication "
       "performed satisfied\". 2021 and 2023 BAS tokens carry eidas3 for a CPS card when eidas1 "
       "was requested (fact sheet §2.3), 2026 ones eidas2 (§7).",
       "a CPS card login gets acr eidas3 (the 2021-2023 BAS value) instead of the profile's "
       "[simulator] acr.cps"),
]
# fmt: on

QUIRKS: dict[str, Quirk] = {q.name: q for q in _ALL}


def apply_to_profile(target: Any, names: list[str] | tuple[str, ...]) -> Any:
    """The profile (config.Target) as the profile quirks among `names` change it."""
    if "mtls-client-first" in names:
        first = [c for c in target.clients if c.auth_method == "tls_client_auth"]
        rest = [c for c in target.clients if c.auth_method != "tls_client_auth"]
        target = dataclasses.replace(target, clients=tuple(first + rest))
    return target


class UnknownQuirk(ValueError):
    pass


def did_you_mean(name: str, known: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


class ActiveQuirks:
    """The quirks switched on; asking for a name that is not registered is a programming error."""

    def __init__(self, names: list[str] | tuple[str, ...] = ()) -> None:
        unknown = [n for n in names if n not in QUIRKS]
        if unknown:
            hints = "".join(did_you_mean(n, tuple(QUIRKS)) for n in unknown[:1])
            raise UnknownQuirk(
                f"unknown quirk(s) {', '.join(unknown)}{hints}; "
                "see `psc-testkit simulator --list-quirks`"
            )
        self.names = frozenset(names)

    def __contains__(self, name: str) -> bool:
        if name not in QUIRKS:
            raise KeyError(f"quirk {name!r} is not registered")
        return name in self.names

    def __bool__(self) -> bool:
        return bool(self.names)


def listing() -> str:
    if not _ALL:
        return ""
    width = max(len(q.name) for q in _ALL)
    return "\n".join(f"{q.name:<{width}}  {q.description}" for q in _ALL)


def markdown() -> str:
    """docs/quirks.md: quirk → what it does → the text that allows it."""
    lines = [
        "# Simulator quirks",
        "",
        "Generated by `python -m psc_testkit.simulator.quirks > docs/quirks.md`; do not edit.",
        "",
        "A quirk is a behaviour a compliant provider may show: the suite must pass it.",
        "`tests/test_quirk_matrix.py` runs every check against each quirk and fails on any MUST",
        "failure or error, and on any SHOULD warning the quirk does not name.",
        "Run one: `psc-testkit conformance --quirk NAME` or `make conformance QUIRK=NAME`.",
        "",
        f"{len(_ALL)} quirks.",
        "",
        "| quirk | what the simulator does | allowed by | may warn |",
        "| --- | --- | --- | --- |",
    ]
    for q in _ALL:
        warns = "<br>".join(f"`{c}`" for c in q.warns)
        lines.append(f"| `{q.name}` | {q.description} | {q.allowed_by} | {warns} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
