"""OpenID Connect RP-Initiated Logout 1.0 (OIDF rp-initiated-logout plan).

Each check logs in with a browser of its own, so logging out never ends the run's shared SSO
session.
"""

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from conformance.helpers import expect, needs
from psc_testkit import flow
from psc_testkit.drivers.common import follow
from psc_testkit.errors import TargetError
from psc_testkit.harness import Tokens

# Every check here logs a session out and looks whether it survived.
pytestmark = pytest.mark.sso_session


@dataclass
class Session:
    browser: httpx.Client
    tokens: Tokens
    exchanges: list


@pytest.fixture
def session(harness, meta):
    needs(meta, "end_session_endpoint")
    browser = harness.http.new_browser()
    tokens = harness.exchange(harness.code(browser=browser))
    if not tokens.ok or not isinstance(tokens.get("id_token"), str):
        pytest.fail("could not log in a session to log out")
    yield Session(browser, tokens, tokens.exchanges)
    browser.close()


def same_origin(a: str, b: str) -> bool:
    return urlsplit(a)[:2] == urlsplit(b)[:2]


def log_out(harness, url: str, browser: httpx.Client) -> httpx.Response:
    """Send the logout request as the End-User's browser. "the OP SHOULD ask the End-User
    whether to log out" (§2), even with an id_token_hint: a confirmation page with a form is
    answered as the person who wants to log out would (its hidden fields and first named
    button: oidc-provider's "logout=yes", Keycloak's "confirmLogout"). The OP's own hops
    (redirects, self-submitting pages) are followed before and after, as a browser does; the
    answer that leaves the OP (to the post_logout_redirect_uri, or anywhere else) is returned
    as it is, or the page the chain ended on."""
    client_uri = harness.target.primary.post_logout_redirect_uri or ""
    trusts = harness.http.destinations.trusts
    try:
        response = follow(browser, harness.front(url, browser), client_uri, trusts)
        forms = []
        if response.status_code == 200 and "html" in response.headers.get("content-type", ""):
            forms = [f for f in flow.parse_forms(response.text) if f["method"].lower() == "post"]
        if not forms:
            return response
        form = forms[0]
        data = {
            i["name"]: i.get("value", "")
            for i in form["inputs"]
            if i.get("name") and i.get("type", "text").lower() == "hidden"
        }
        button = next(
            (
                i
                for i in form["inputs"]
                if i.get("name") and (i["tag"] == "button" or i.get("type") == "submit")
            ),
            None,
        )
        if button is not None:
            data[button["name"]] = button.get("value", "")
        action = urljoin(str(response.url), form["action"] or str(response.url))
        return follow(browser, browser.post(action, data=data), client_uri, trusts)
    except httpx.HTTPError as exc:
        pytest.fail(f"the logout (or its confirmation) failed: {exc}")


def redirects_to(response: httpx.Response, uri: str) -> bool:
    return response.is_redirect and response.headers.get("location", "").startswith(uri)


def still_logged_in(harness, browser) -> bool:
    request = harness.authorization_request(extra={"prompt": "none"})
    _, callback, _ = harness.attempt(request, browser)
    return callback is not None and bool(callback.code)


def post_logout_uri(target) -> str:
    uri = target.primary.post_logout_redirect_uri
    if not uri:
        pytest.skip("the profile has no post_logout_redirect_uri")
    return uri


@pytest.mark.requirement("OIDCRIL-3", "MUST")
def test_logout_redirects_to_the_registered_uri_with_state(harness, session, target):
    """OIDCRIL-3 MUST. With a valid id_token_hint and a registered post_logout_redirect_uri, the
    OP redirects there; "If the state parameter was included in the logout request, the OP MUST
    include it" (OIDF oidcc-rp-initiated-logout)."""
    uri = post_logout_uri(target)
    url = flow.logout_url(
        harness.meta,
        id_token_hint=session.tokens.get("id_token"),
        post_logout_redirect_uri=uri,
        state="psc-testkit-logout-state",
    )
    response = log_out(harness, url, session.browser)
    target_url = flow.parse_redirect(response.headers.get("location", ""))
    expect(
        response.is_redirect
        and response.headers.get("location", "").startswith(uri)
        and target_url.params.get("state") == "psc-testkit-logout-state",
        f"a redirect to {uri} with the state",
        response.headers.get("location") or f"HTTP {response.status_code}",
    )


@pytest.mark.requirement("OIDCRIL-2", "MUST")
def test_logout_ends_the_session(harness, session, target):
    """OIDCRIL-2 MUST. After logout the End-User's session at the OP is over: a prompt=none
    authorization no longer returns a code."""
    url = flow.logout_url(
        harness.meta,
        id_token_hint=session.tokens.get("id_token"),
        post_logout_redirect_uri=target.primary.post_logout_redirect_uri,
    )
    log_out(harness, url, session.browser)
    expect(
        not still_logged_in(harness, session.browser),
        "login_required after logout",
        "a code: the session survived the logout",
    )


@pytest.mark.requirement("OIDCRIL-3", "MUST")
def test_no_state_is_echoed_when_none_was_sent(harness, session, target):
    """OIDCRIL-3 MUST. The OP echoes state only if the RP sent one (OIDF
    oidcc-rp-initiated-logout-no-state)."""
    uri = post_logout_uri(target)
    url = flow.logout_url(
        harness.meta, id_token_hint=session.tokens.get("id_token"), post_logout_redirect_uri=uri
    )
    response = log_out(harness, url, session.browser)
    params = flow.parse_redirect(response.headers.get("location", "")).params
    expect(
        response.is_redirect and "state" not in params,
        "a redirect without state",
        params or f"HTTP {response.status_code}",
    )


@pytest.mark.requirement("OIDCRIL-3", "MUST")
def test_unregistered_post_logout_redirect_uri_is_not_followed(harness, session, target):
    """OIDCRIL-3 MUST. "The OP MUST NOT perform post-logout redirection if the
    post_logout_redirect_uri value supplied does not exactly match one of the previously
    registered post_logout_redirect_uris values"."""
    bad = "https://attacker.psc-testkit.test/logged-out"
    url = flow.logout_url(
        harness.meta, id_token_hint=session.tokens.get("id_token"), post_logout_redirect_uri=bad
    )
    response = log_out(harness, url, session.browser)
    expect(
        not response.headers.get("location", "").startswith(bad),
        "no redirect to it",
        response.headers.get("location"),
    )
    control_registered_uri(harness, session, target)


@pytest.mark.requirement("OIDCRIL-2", "MUST")
def test_invalid_id_token_hint_is_not_honoured(harness, session, target):
    """OIDCRIL-2 MUST. An id_token_hint the OP did not issue (signature broken) must not log the
    user out silently or redirect (OIDF oidcc-rp-initiated-logout-bad-id-token-hint)."""
    head, body, signature = session.tokens.get("id_token").split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    forged = f"{head}.{body}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
    uri = target.primary.post_logout_redirect_uri
    url = flow.logout_url(harness.meta, id_token_hint=forged, post_logout_redirect_uri=uri)
    response = harness.front(url, session.browser)
    redirected = bool(uri) and response.headers.get("location", "").startswith(uri)
    expect(
        not redirected and still_logged_in(harness, session.browser),
        "no redirect, the session kept",
        "redirected" if redirected else "session ended",
    )


@pytest.mark.requirement("OIDCRIL-3", "MUST")
def test_post_logout_redirect_uri_with_added_query_is_not_followed(harness, session, target):
    """OIDCRIL-3 MUST. The value must "exactly match one of the previously registered
    post_logout_redirect_uris": a registered URI with a query added is not one of them (OIDF
    oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri)."""
    uri = post_logout_uri(target)
    added = uri + ("&" if "?" in uri else "?") + "psc_testkit=added"
    url = flow.logout_url(
        harness.meta, id_token_hint=session.tokens.get("id_token"), post_logout_redirect_uri=added
    )
    response = log_out(harness, url, session.browser)
    location = response.headers.get("location", "")
    expect(not location.startswith(uri), "no redirect", location)
    control_registered_uri(harness, session, target)


def control_registered_uri(harness, session, target) -> None:
    """The positive control of a "not followed" check, after it (a logout cannot be undone):
    the same logout with the registered URI is redirected there. Without it, "no redirect"
    proves nothing: an OP that never redirects would pass. Its failure is a broken
    prerequisite, not the check's verdict."""
    uri = target.primary.post_logout_redirect_uri
    if not uri:
        return  # nothing registered: the only possible answer is no redirect
    url = flow.logout_url(
        harness.meta, id_token_hint=session.tokens.get("id_token"), post_logout_redirect_uri=uri
    )
    response = log_out(harness, url, session.browser)
    if not redirects_to(response, uri):
        raise TargetError(
            f"positive control: the logout with the registered {uri} was not redirected there "
            f"either (HTTP {response.status_code})"
        )


@pytest.mark.requirement("OIDCRIL-2", "SHOULD")
def test_logout_without_hint_asks_the_user(harness, session):
    """OIDCRIL-2 SHOULD. Without an id_token_hint the OP cannot tell the request came from the
    RP: "the OP SHOULD ask the End-User whether to log out" rather than end the session at once
    (OIDF oidcc-rp-initiated-logout-no-id-token-hint)."""
    response = harness.front(harness.meta["end_session_endpoint"], session.browser)
    expect(
        still_logged_in(harness, session.browser) and not response.is_redirect,
        "a confirmation page; the session kept until the user confirms",
        f"HTTP {response.status_code}, session "
        f"{'kept' if still_logged_in(harness, session.browser) else 'ended'}",
    )


@pytest.mark.requirement("OIDCRIL-3", "SHOULD")
def test_state_alone_does_not_send_the_user_away(harness, session):
    """OIDCRIL-3 SHOULD. A logout request with only `state` names no client and no
    post_logout_redirect_uri: once the user confirms, the OP has nowhere it may redirect to and
    shows a page of its own; redirecting to some RP anyway would hand an unsolicited response
    to a page that never asked (OIDF oidcc-rp-initiated-logout-only-state)."""
    url = flow.logout_url(harness.meta, state="psc-testkit-only-state")
    response = log_out(harness, url, session.browser)
    location = urljoin(str(response.url), response.headers.get("location", ""))
    leaves = response.is_redirect and not same_origin(location, str(response.url))
    expect(not leaves, "a page of the OP, no redirect to a client", location)
