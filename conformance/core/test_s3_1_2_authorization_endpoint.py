"""OpenID Connect Core 1.0 §3.1.2 and RFC 6749 §4.1: the authorization endpoint (code flow).

Mirrors the OIDF Basic OP plan's authorization modules. One login serves the run: the browser
keeps the provider's SSO session; checks that need no session use a fresh browser.
"""

from urllib.parse import urlsplit

import pytest

from conformance.helpers import ERROR_DESCRIPTION, entropy_bits, expect, expect_silent_code
from psc_testkit.client.tokens import TokenFormatError, b64url_json, decode

USER_INTERFACE_ERRORS = (
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
)


def control(harness, **options) -> None:
    """The positive control of a negative check: the same request put right gets a code (in
    the run's SSO session, silently). Without it a refusal proves nothing: a provider that
    answers nothing at all would "refuse" every wrong request. Its failure is a broken
    prerequisite (TargetError), not this check's verdict. Asked with prompt=none first (one
    request: a driver driving a real browser takes a second a login); a login if that fails."""
    quick = harness.authorization_request(**options)
    quick.params["prompt"] = "none"
    _, callback, _ = harness.attempt(quick)
    if callback is None or not callback.code:
        harness.code(request=harness.authorization_request(**options))


def error_page(response, callback) -> bool:
    """Whether the chain (followed by the harness) ended on a page of the provider, whatever
    its status, with no answer to the client: what the OIDF accepts, with a screenshot, where
    it names an error page (oidcc-response-type-missing, FAPI2 ...ResponseTypeTokenFails)."""
    return callback is None and not response.is_redirect


def shows_a_page(response, callback) -> bool:
    """Whether the chain ended on a page of the provider that waits for the user (HTTP 200, no
    answer to the client): what prompt=none forbids. An error status without a redirect is
    no user interface, so it is not counted here."""
    return callback is None and response.status_code == 200


def auth_time_of(tokens) -> int | None:
    """The auth_time of the ID token in a token response, or None."""
    id_token = tokens.get("id_token") if tokens.ok else None
    if not isinstance(id_token, str):
        return None
    try:
        value = decode(id_token).claims.get("auth_time")
    except TokenFormatError:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def redirected_to(response, uri: str) -> bool:
    """Whether a response sends the browser to `uri` (ignoring its query and fragment)."""
    location = response.headers.get("location")
    if not (response.is_redirect and location):
        return False
    a, b = urlsplit(location), urlsplit(uri)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)


# Success --------------------------------------------------------------------------------------


@pytest.mark.requirement("OIDCC-3.1.2.5", "MUST")
def test_successful_authorization_returns_a_code(harness):
    """OIDCC-3.1.2.5 MUST. "When using the Authorization Code Flow, the Authorization Response
    MUST return the parameters defined in Section 4.1.2 of OAuth 2.0 [RFC6749] by adding them
    as query parameters to the redirect_uri specified in the Authorization Request using the
    application/x-www-form-urlencoded format, unless a different Response Mode was
    specified." A login of its own (harness.authorize, not harness.code): a missing code is
    this check's failure, not a broken prerequisite."""
    login = harness.authorize()
    response = login.response
    expect(
        response.mode == "query" and bool(response.code),
        "a redirect with code in the query",
        response.problem or f"{response.mode}: {response.params}",
    )


@pytest.mark.requirement("RFC6749-4.1.2", "MUST")
def test_state_is_echoed(happy):
    """RFC6749-4.1.2 MUST. state is "REQUIRED if the "state" parameter was present in the client
    authorization request. The exact value received from the client"."""
    sent, got = happy.login.request.state, happy.login.response.params.get("state")
    expect(got == sent, f"state {sent!r}", repr(got))


@pytest.mark.requirement("RFC9207-2", "MUST")
def test_iss_parameter_is_the_issuer(happy, meta):
    """RFC9207-2 MUST. "The value of the iss parameter MUST exactly match the issuer" — and a
    server that advertises authorization_response_iss_parameter_supported MUST send it."""
    iss = happy.login.response.params.get("iss")
    if iss is None and not meta.get("authorization_response_iss_parameter_supported"):
        pytest.skip("the provider does not send iss (RFC 9207 not advertised)")
    expect(iss == meta.get("issuer"), f"iss {meta.get('issuer')!r}", repr(iss))


@pytest.mark.requirement("RFC6749-10.10", "MUST")
def test_code_is_long_enough(happy):
    """RFC6749-10.10 MUST. "The probability of an attacker guessing generated tokens (and other
    credentials not intended for handling by end-users) MUST be less than or equal to 2^(-128)"
    — a code of at least 22 base64url characters (128 bits)."""
    code = happy.login.code or ""
    expect(len(code) >= 22, "a code of 22 characters or more", f"{len(code)} characters")


@pytest.mark.requirement("RFC6749-10.10", "MUST")
def test_code_has_enough_entropy(harness):
    """RFC6749-10.10 MUST. "The probability of an attacker guessing generated tokens (and other
    credentials not intended for handling by end-users) MUST be less than or equal to
    2^(-128) and SHOULD be less than or equal to 2^(-160)." — an estimated 96 bits of entropy
    or more (the OIDF suite's threshold, below the 128 required, to allow for the estimate)."""
    codes = [harness.code().code or "" for _ in range(3)]
    bits = min(entropy_bits(c) for c in codes)
    expect(
        bits >= 96 and len(set(codes)) == 3, "≥ 96 bits per code, all distinct", f"{bits:.0f} bits"
    )


@pytest.mark.requirement("OIDCC-3.1.2.1", "MUST")
def test_post_authorization_request_succeeds(harness):
    """OIDCC-3.1.2.1 MUST. "Authorization Servers MUST support the use of the HTTP GET and POST
    methods defined in RFC 2616 at the Authorization Endpoint"."""
    login = harness.authorize(post=True)
    expect(
        bool(login.code),
        "a code for a POST request",
        login.response.problem or login.response.params.get("error"),
    )


@pytest.mark.requirement("OIDCC-3.1.2.1", "MUST")
def test_request_without_nonce_succeeds(harness):
    """OIDCC-3.1.2.1 MUST. nonce is OPTIONAL in the authorization code flow: a request without it
    succeeds."""
    login = harness.authorize(harness.authorization_request(omit=("nonce",)))
    expect(bool(login.code), "a code", login.response.params.get("error") or login.response.problem)


@pytest.mark.requirement("RFC6749-3.1", "MUST")
def test_unknown_parameters_are_ignored(harness):
    """RFC6749-3.1 MUST. "The authorization server MUST ignore unrecognized request
    parameters"."""
    request = harness.authorization_request(extra={"psc_testkit_extension": "foobar"})
    login = harness.authorize(request)
    expect(bool(login.code), "a code", login.response.params.get("error") or login.response.problem)


@pytest.mark.requirement("RFC6749-3.3", "MUST")
def test_scope_order_and_parameter_order_do_not_matter(harness, target):
    """RFC6749-3.3 MUST. "If the value contains multiple space-delimited strings, their order
    does not matter, and each string adds an additional access range to the requested scope."
    (no keyword: the defined meaning of scope) — reversed scopes, reordered parameters (OIDF
    oidcc-alternate-happy-flow)."""
    request = harness.authorization_request(extra={"scope": " ".join(reversed(target.scopes))})
    request.params = dict(reversed(list(request.params.items())))
    login = harness.authorize(request)
    expect(bool(login.code), "a code", login.response.params.get("error") or login.response.problem)


def expect_a_code_with(harness, extra: dict[str, str]) -> None:
    __tracebackhide__ = True
    login = harness.authorize(harness.authorization_request(extra=extra))
    expect(
        bool(login.code),
        f"a code with {extra}",
        login.response.params.get("error") or login.response.problem,
    )


@pytest.mark.requirement("OIDCC-3.1.2.1", "MUST")
@pytest.mark.parametrize(
    "extra", [{"display": "page"}, {"display": "popup"}], ids=["display-page", "display-popup"]
)
def test_optional_parameters_do_not_cause_errors(harness, extra):
    """OIDCC-3.1.2.1 MUST. display is an OPTIONAL parameter whose "defined values are: page
    ... popup ...": a request with a defined value is a valid request (no keyword; the OIDF
    oidcc-display-page and -popup fail an error)."""
    expect_a_code_with(harness, extra)


@pytest.mark.requirement("OIDCC-3.1.2.1", "SHOULD")
def test_unsupported_ui_locales_cause_no_error(harness):
    """OIDCC-3.1.2.1 SHOULD. ui_locales: "An error SHOULD NOT result if some or all of the
    requested locales are not supported by the OpenID Provider." (se is not supported: OIDF
    oidcc-ui-locales)."""
    expect_a_code_with(harness, {"ui_locales": "se fr-FR en"})


@pytest.mark.requirement("OIDCC-5.2", "SHOULD")
def test_unsupported_claims_locales_cause_no_error(harness):
    """OIDCC-5.2 SHOULD. claims_locales: "An error SHOULD NOT result if some or all of the
    requested locales are not supported by the OpenID Provider." (OIDF
    oidcc-claims-locales)."""
    expect_a_code_with(harness, {"claims_locales": "se fr"})


@pytest.mark.requirement("OIDCC-3.1.2.1", "MUST")
def test_login_hint_does_not_cause_an_error(harness):
    """OIDCC-3.1.2.1 MUST. login_hint is a hint about the login identifier; the OP MAY use it
    and must not fail on it (OIDF oidcc-login-hint)."""
    request = harness.authorization_request(extra={"login_hint": harness.user()})
    login = harness.authorize(request, browser=harness.http.new_browser())
    expect(bool(login.code), "a code", login.response.params.get("error") or login.response.problem)


@pytest.mark.requirement("RFC7636-4.6", "MUST")
def test_valid_pkce_succeeds(harness):
    """RFC7636-4.6 MUST. "If the values are equal, the token endpoint MUST continue processing
    as normal (as defined by OAuth 2.0 [RFC6749])." A request with a valid S256 code_challenge
    succeeds; an OP without PKCE must too (RFC 6749 §3.1: "The authorization server MUST
    ignore unrecognized request parameters.") (OIDF oidcc-ensure-request-with-valid-pkce)."""
    login = harness.authorize(harness.authorization_request(pkce="S256"))
    tokens = harness.exchange(login) if login.code else None
    expect(
        tokens is not None and tokens.ok,
        "a code, exchanged with its verifier",
        tokens.response.status_code if tokens else login.response.params,
    )


# Sessions and prompts -------------------------------------------------------------------------


@pytest.mark.requirement("OIDCC-3.1.2.3", "MUST")
def test_prompt_none_without_session_requires_login(harness):
    """OIDCC-3.1.2.3 MUST. "The Authentication Request contains the prompt parameter with the
    value none. In this case, the Authorization Server MUST return an error if an End-User is
    not already Authenticated or could not be silently Authenticated.": login_required,
    interaction_required, consent_required or account_selection_required (§3.1.2.6)."""
    request = harness.authorization_request(extra={"prompt": "none"})
    response, callback, _ = harness.attempt(request, harness.http.new_browser())
    error = callback.error if callback else None
    expect(
        error in USER_INTERFACE_ERRORS,
        f"error {' | '.join(USER_INTERFACE_ERRORS)}",
        f"{error!r} (HTTP {response.status_code})",
    )


@pytest.mark.sso_session
@pytest.mark.requirement("OIDCC-3.1.2.1", "MUST")
def test_prompt_none_with_session_shows_no_page(harness, happy):
    """OIDCC-3.1.2.1 MUST NOT. prompt=none: "The Authorization Server MUST NOT display any
    authentication or consent user interface pages." With a session, the answer goes back to
    the client at once: a code, or an error (a silent error is allowed here; the code is
    test_prompt_none_with_session_returns_a_code's SHOULD)."""
    request = harness.authorization_request(extra={"prompt": "none"})
    response, callback, _ = harness.attempt(request)
    expect(
        not shows_a_page(response, callback),
        "an answer to the client, no page",
        f"a page (HTTP {response.status_code}) at {response.url}",
    )


@pytest.mark.sso_session
@pytest.mark.requirement("OIDCC-3.1.2.1", "SHOULD")
def test_prompt_none_with_session_returns_a_code(harness, happy):
    """OIDCC-3.1.2.1 SHOULD. prompt=none: "An error is returned if an End-User is not already
    authenticated or the Client does not have pre-configured consent for the requested Claims
    or does not fulfill other conditions for processing the request." With a session and
    nothing else missing a code is expected, but no keyword requires it (OIDF
    oidcc-prompt-none-logged-in): a warning, not a failure."""
    request = harness.authorization_request(extra={"prompt": "none"})
    _, callback, _ = harness.attempt(request)
    expect_silent_code(callback)


@pytest.mark.sso_session
@pytest.mark.requirement("OIDCC-3.1.2.3", "MUST")
def test_prompt_login_reauthenticates(harness):
    """OIDCC-3.1.2.3 MUST. "The Authentication Request contains the prompt parameter with the
    value login. In this case, the Authorization Server MUST reauthenticate the End-User even
    if the End-User is already authenticated." (§15.1: OPs "MUST support the prompt parameter
    ... including the specified user interface behaviors such as none and login"). Judged on
    a session 10 s old (harness.wait: the simulator's clock, real time elsewhere), so an OP
    that treats a login of a moment ago as fresh enough is not failed here (that is the
    SHOULD of test_prompt_login_asks_for_authentication_again): the login page again, or an
    ID token whose auth_time is later than the first login's, or login_required (§3.1.2.1:
    "If it cannot reauthenticate the End-User, it MUST return an error")."""
    browser = harness.http.new_browser()
    try:
        first = harness.exchange(harness.code(browser=browser))
        harness.wait(10)
        request = harness.authorization_request(extra={"prompt": "login"})
        login = harness.authorize(request, browser=browser)
        if login.prompted or login.response.error == "login_required" or not login.code:
            again = None
        else:
            again = auth_time_of(harness.exchange(login))
    finally:
        browser.close()
    before = auth_time_of(first)
    reauthenticated = again is not None and before is not None and again > before
    expect(
        login.prompted or login.response.error == "login_required" or reauthenticated,
        "the login page again, a later auth_time, or login_required",
        f"a code without asking the user (auth_time {before} then {again})"
        if login.code
        else login.response.params or login.response.problem,
    )


@pytest.mark.sso_session
@pytest.mark.requirement("OIDCC-3.1.2.1", "SHOULD")
def test_prompt_login_asks_for_authentication_again(harness):
    """OIDCC-3.1.2.1 SHOULD. prompt=login: "The Authorization Server SHOULD prompt the End-User
    for reauthentication. If it cannot reauthenticate the End-User, it MUST return an error,
    typically login_required." As oidcc-prompt-login: log in, then prompt=login at once (a
    browser of its own: the run's session is not renewed). An OP that answers a login of a
    moment ago silently gets a warning here; the MUST of §3.1.2.3 is judged on an older session
    by test_prompt_login_reauthenticates."""
    browser = harness.http.new_browser()
    harness.code(browser=browser)
    request = harness.authorization_request(extra={"prompt": "login"})
    login = harness.authorize(request, browser=browser)
    browser.close()
    expect(
        login.prompted or login.response.error == "login_required",
        "the login page again (or login_required)",
        "a code without asking the user" if login.code else login.response.params,
    )


@pytest.mark.sso_session
@pytest.mark.requirement("OIDCC-3.1.2.1", "MUST")
def test_max_age_elapsed_forces_reauthentication(harness, happy):
    """OIDCC-3.1.2.1 MUST. max_age: "If the elapsed time is greater than this value, the OP MUST
    attempt to actively re-authenticate the End-User" (OIDF oidcc-max-age-1)."""
    harness.wait(2)
    login = harness.authorize(harness.authorization_request(extra={"max_age": "1"}))
    expect(
        login.prompted,
        "the login page again",
        "a code without asking the user" if login.code else login.response.params,
    )


@pytest.mark.sso_session
@pytest.mark.requirement("OIDCC-3.1.2.1", "SHOULD")
def test_max_age_not_elapsed_is_silent(harness, happy):
    """OIDCC-3.1.2.1 SHOULD. max_age: "If the elapsed time is greater than this value, the OP
    MUST attempt to actively re-authenticate the End-User." Only the elapsed case has a
    keyword: with max_age=10000 and a fresh session a silent code is expected (OIDF
    oidcc-max-age-10000) but not required, so its absence is a warning. (The request carries
    prompt=none, whose "MUST NOT display" is test_prompt_none_with_session_shows_no_page's.)"""
    request = harness.authorization_request(extra={"max_age": "10000", "prompt": "none"})
    _, callback, _ = harness.attempt(request)
    expect_silent_code(callback)


@pytest.mark.sso_session
@pytest.mark.requirement("OIDCC-3.1.2.1", "MUST")
def test_id_token_hint_of_the_current_user_is_silent(harness, happy):
    """OIDCC-3.1.2.1 MUST. id_token_hint with prompt=none for the logged-in user returns a code
    (OIDF oidcc-id-token-hint)."""
    hint = happy.tokens.get("id_token")
    if not isinstance(hint, str):
        pytest.skip("no ID token to use as hint")
    request = harness.authorization_request(extra={"prompt": "none", "id_token_hint": hint})
    _, callback, _ = harness.attempt(request)
    expect_silent_code(callback)


# Errors ---------------------------------------------------------------------------------------


@pytest.mark.requirement("OIDCC-3.1.2.2", "MUST")
def test_missing_response_type_is_an_error(harness, happy):
    """OIDCC-3.1.2.2 MUST. "The Authorization Server MUST validate the request received as
    follows: 1. The Authorization Server MUST validate all the OAuth 2.0 parameters according
    to the OAuth 2.0 specification." response_type is REQUIRED (RFC 6749 §3.1.1, a rule for
    the client's request), so a request without it is an error:
    redirect with invalid_request or unsupported_response_type, or an error page, whatever its
    HTTP status (OIDF oidcc-response-type-missing: "The authorization server should display an
    error saying the response type is missing"). Control: the same request with it succeeds."""
    control(harness)
    request = harness.authorization_request(omit=("response_type",))
    response, callback, _ = harness.attempt(request)
    if callback is None:
        expect(
            error_page(response, callback),
            "an error page or error redirect",
            f"HTTP {response.status_code} to {response.headers.get('location')}",
        )
        return
    expect(
        callback.error in ("invalid_request", "unsupported_response_type") and not callback.code,
        "error invalid_request or unsupported_response_type",
        callback.params,
    )


@pytest.mark.requirement("RFC6749-4.1.2.1", "MUST")
def test_unsupported_response_type_is_refused(harness, happy, meta):
    """RFC6749-4.1.2.1 MUST. "unsupported_response_type: The authorization server does not
    support obtaining an authorization code using this method"."""
    unsupported = next(
        (
            t
            for t in ("token", "id_token token", "code token")
            if t not in (meta.get("response_types_supported") or [])
        ),
        None,
    )
    if unsupported is None:
        pytest.skip("every response type we try is supported")
    control(harness)
    request = harness.authorization_request(extra={"response_type": unsupported})
    response, callback, _ = harness.attempt(request)
    error = callback.error if callback else None
    # An error page (any status) is refusal too: OIDF FAPI2 ...EnsureResponseTypeTokenFails.
    expect(
        error_page(response, callback)
        or (error in ("unsupported_response_type", "invalid_request") and not callback.code),
        "error unsupported_response_type",
        callback.params if callback else response.status_code,
    )


@pytest.mark.requirement("RFC6749-4.1.2.1", "MUST")
def test_unknown_client_is_not_redirected(harness, target):
    """RFC6749-4.1.2.1 MUST NOT. "If the request fails due to a missing, invalid, or mismatching
    redirection URI, or if the client identifier is missing or invalid, the authorization server
    SHOULD inform the resource owner of the error and MUST NOT automatically redirect".
    Control: the same request with the registered client is redirected with a code."""
    control(harness)
    request = harness.authorization_request(extra={"client_id": "psc-testkit-unknown-client"})
    response, _, _ = harness.attempt(request)
    expect(
        not redirected_to(response, target.primary.redirect_uri),
        "no redirect to the client",
        response.headers.get("location"),
    )


BAD_REDIRECT_URIS = {
    "other-host": lambda registered: "https://attacker.psc-testkit.test/callback",
    "longer-path": lambda registered: registered.rstrip("/") + "/evil",
    "added-query": lambda registered: registered + ("&" if "?" in registered else "?") + "x=1",
}


@pytest.mark.requirement("RFC6749-4.1.2.1", "MUST")
@pytest.mark.parametrize("variant", list(BAD_REDIRECT_URIS))
def test_unregistered_redirect_uri_is_not_redirected(harness, target, variant):
    """RFC6749-4.1.2.1 MUST NOT. "If the request fails due to a missing, invalid, or
    mismatching redirection URI, or if the client identifier is missing or invalid, the
    authorization server SHOULD inform the resource owner of the error and MUST NOT
    automatically redirect the user-agent to the invalid redirection URI." — no redirect to
    the URI sent, and no code anywhere (OIDC Core §3.1.2.1: the URI "MUST exactly match one
    of the Redirection URI values for the Client pre-registered at the OpenID Provider"). An
    error redirect to the registered URI is not this MUST's: see
    test_unregistered_redirect_uri_gets_an_error_page."""
    registered = target.primary.redirect_uri
    bad = BAD_REDIRECT_URIS[variant](registered)
    control(harness)  # the registered URI gets its code: the redirect would be seen
    request = harness.authorization_request(extra={"redirect_uri": bad})
    response, _, _ = harness.attempt(request)
    location = response.headers.get("location", "") if response.is_redirect else ""
    expect(
        not redirected_to(response, bad) and "code=" not in location,
        "no redirect to it, no code",
        location,
    )


@pytest.mark.requirement("RFC6749-4.1.2.1", "SHOULD")
def test_unregistered_redirect_uri_gets_an_error_page(harness, target):
    """RFC6749-4.1.2.1 SHOULD. "... the authorization server SHOULD inform the resource owner
    of the error": an error page of the provider, not an error redirect to the registered URI
    (which tells the client, not the user; the OIDF expects a page with a screenshot)."""
    registered = target.primary.redirect_uri
    bad = BAD_REDIRECT_URIS["other-host"](registered)
    control(harness)
    request = harness.authorization_request(extra={"redirect_uri": bad})
    response, _, _ = harness.attempt(request)
    expect(
        not redirected_to(response, registered) and not redirected_to(response, bad),
        "an error page, no redirect",
        response.headers.get("location") if response.is_redirect else response.status_code,
    )


@pytest.mark.requirement("OIDCC-3.1.2.6", "MUST")
def test_error_response_carries_state_and_no_code(harness):
    """OIDCC-3.1.2.6 MUST. Error responses carry error and state (RFC 6749 §4.1.2.1) and no
    code."""
    request = harness.authorization_request(extra={"prompt": "none"})
    _, callback, _ = harness.attempt(request, harness.http.new_browser())
    if callback is None:
        pytest.skip("the provider answered prompt=none without redirecting")
    expect(
        callback.error is not None
        and callback.params.get("state") == request.state
        and "code" not in callback.params,
        f"error with state {request.state!r}, no code",
        callback.params,
    )


@pytest.mark.requirement("RFC6749-4.1.2.1", "MUST")
def test_error_description_uses_allowed_characters(harness):
    """RFC6749-4.1.2.1 MUST. "Values for the error_description parameter MUST NOT include
    characters outside the set %x20-21 / %x23-5B / %x5D-7E"."""
    request = harness.authorization_request(extra={"prompt": "none"})
    _, callback, _ = harness.attempt(request, harness.http.new_browser())
    description = callback.params.get("error_description") if callback else None
    if description is None:
        pytest.skip("no error_description to check")
    expect(bool(ERROR_DESCRIPTION.match(description)), "only NQSCHAR", repr(description))


@pytest.mark.requirement("RFC9207-2", "MUST")
def test_error_response_carries_iss_when_advertised(harness, meta):
    """RFC9207-2 MUST. The iss parameter is sent in error responses too."""
    if not meta.get("authorization_response_iss_parameter_supported"):
        pytest.skip("RFC 9207 not advertised")
    request = harness.authorization_request(extra={"prompt": "none"})
    _, callback, _ = harness.attempt(request, harness.http.new_browser())
    if callback is None:
        pytest.skip("no error redirect to check")
    expect(
        callback.params.get("iss") == meta["issuer"],
        f"iss {meta['issuer']!r}",
        repr(callback.params.get("iss")),
    )


@pytest.mark.sso_session
@pytest.mark.requirement("OIDCC-6.1", "MUST")
def test_request_object_is_honoured_or_refused(harness, happy, meta):
    """OIDCC-6.1 MUST. A request object the OP does not support is refused with
    request_not_supported; it is never silently ignored (OIDF oidcc-unsigned-request-object-
    supported-correctly-or-rejected-as-unsupported)."""
    request = harness.authorization_request()
    inner_state = request.state + "-from-request-object"
    payload = {**request.params, "state": inner_state}
    request.params["request"] = b64url_json({"alg": "none"}) + "." + b64url_json(payload) + "."
    _, callback, _ = harness.attempt(request)
    if callback is None:
        pytest.skip("the provider showed a page instead of answering")
    if callback.error:
        expect(
            callback.error
            in ("request_not_supported", "invalid_request_object", "invalid_request"),
            "request_not_supported (or invalid_request_object)",
            callback.error,
        )
    else:
        expect(
            callback.params.get("state") == inner_state,
            "the request object's state (it was honoured)",
            f"state {callback.params.get('state')!r}: the request object was ignored",
        )


@pytest.mark.sso_session
@pytest.mark.requirement("OIDCC-6.2", "MUST")
def test_request_uri_is_honoured_or_refused(harness, happy, meta):
    """OIDCC-6.2 MUST. An OP that does not support request_uri answers
    request_uri_not_supported; one that does cannot fetch this unreachable URI."""
    request = harness.authorization_request(
        extra={"request_uri": "https://unreachable.psc-testkit.test/request.jwt"}
    )
    _, callback, _ = harness.attempt(request)
    if callback is None:
        pytest.skip("the provider showed a page instead of answering")
    expect(
        callback.error in ("request_uri_not_supported", "invalid_request_uri", "invalid_request"),
        "request_uri_not_supported or invalid_request_uri",
        callback.params,
    )


@pytest.mark.requirement("OAUTH2-FP-2", "MUST")
def test_form_post_response_mode(harness, meta):
    """OAUTH2-FP-2 MUST. With response_mode=form_post "the Authorization Response parameters
    are encoded as HTML form values that are auto-submitted in the User Agent" by POST."""
    if "form_post" not in (meta.get("response_modes_supported") or []):
        pytest.skip("form_post is not advertised")
    login = harness.authorize(harness.authorization_request(extra={"response_mode": "form_post"}))
    expect(
        login.response.mode == "form_post" and bool(login.code),
        "an auto-submitting POST form with the code",
        login.response.mode,
    )
