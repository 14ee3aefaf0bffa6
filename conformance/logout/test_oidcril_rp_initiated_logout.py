"""OpenID Connect RP-Initiated Logout 1.0 (OIDF rp-initiated-logout plan).

Each check logs in with a browser of its own, so logging out never ends the run's shared SSO
session.
"""

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from conformance.helpers import expect, needs
from psc_testkit.client import flow
from psc_testkit.client.drivers.common import follow
from psc_testkit.client.errors import TargetError
from psc_testkit.conformance.harness import Tokens

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


@pytest.mark.requirement("OIDCRIL-2", "MUST")
def test_logout_redirects_to_the_registered_uri_with_state(harness, session, target):
    """OIDCRIL-2 MUST. state: "If included in the logout request, the OP passes this value back
    to the RP using the state parameter when redirecting the User Agent back to the RP." (no
    keyword: the defined meaning of the parameter, which the OIDF module oidcc-rp-initiated-
    logout fails). RP-Initiated Logout 1.0 has no sentence that obliges the OP to redirect at
    all, so an OP that ends on a page of its own is skipped here, not failed; a redirect to
    the registered URI must carry the state sent."""
    uri = post_logout_uri(target)
    url = flow.logout_url(
        harness.meta,
        id_token_hint=session.tokens.get("id_token"),
        post_logout_redirect_uri=uri,
        state="psc-testkit-logout-state",
    )
    response = log_out(harness, url, session.browser)
    if not redirects_to(response, uri):
        pytest.skip(f"no redirect to {uri} after logout (HTTP {response.status_code})")
    target_url = flow.parse_redirect(response.headers.get("location", ""))
    expect(
        target_url.params.get("state") == "psc-testkit-logout-state",
        f"a redirect to {uri} with the state",
        response.headers.get("location"),
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


@pytest.mark.requirement("OIDCRIL-2", "MUST")
def test_no_state_is_echoed_when_none_was_sent(harness, session, target):
    """OIDCRIL-2 MUST. state: "If included in the logout request, the OP passes this value back
    to the RP using the state parameter when redirecting the User Agent back to the RP." — so
    a state comes back only if the RP sent one (OIDF oidcc-rp-initiated-logout-no-state). No
    sentence obliges the OP to redirect: without a redirect there is nothing to judge (a
    skip); only a redirect that carries a state fails."""
    uri = post_logout_uri(target)
    url = flow.logout_url(
        harness.meta, id_token_hint=session.tokens.get("id_token"), post_logout_redirect_uri=uri
    )
    response = log_out(harness, url, session.browser)
    if not response.is_redirect:
        pytest.skip(f"no redirect after logout (HTTP {response.status_code})")
    params = flow.parse_redirect(response.headers.get("location", "")).params
    expect("state" not in params, "a redirect without state", params)


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


@pytest.mark.requirement("OIDCRIL-2", "MUST")
def test_logout_without_hint_asks_the_user(harness, session):
    """OIDCRIL-2 MUST. "At the Logout Endpoint, the OP SHOULD ask the End-User whether to log
    out of the OP as well. Furthermore, the OP MUST ask the End-User this question if an
    id_token_hint was not provided or if the supplied ID Token does not belong to the current
    OP session with the RP and/or currently logged in End-User." (OIDF
    oidcc-rp-initiated-logout-no-id-token-hint). The OP's own hops (redirects to its
    confirmation page, self-submitting pages) are followed; the question is not answered: the
    session must still be there, and the chain must end on a page of the OP (where the
    question is asked), not leave it."""
    client_uri = harness.target.primary.post_logout_redirect_uri or ""
    first = harness.front(harness.meta["end_session_endpoint"], session.browser)
    try:
        response = follow(session.browser, first, client_uri, harness.http.destinations.trusts)
    except httpx.HTTPError as exc:
        pytest.fail(f"the logout request failed: {exc}")
    kept = still_logged_in(harness, session.browser)
    expect(
        kept and not response.is_redirect,
        "a question on a page of the OP; the session kept until the user answers",
        f"HTTP {response.status_code}"
        + (f" to {response.headers.get('location')}" if response.is_redirect else "")
        + f", session {'kept' if kept else 'ended'}",
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
