"""What every driver does with a response: follow the provider's own hops, recognise the way
back to the client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from urllib.parse import urljoin, urlsplit

import httpx

from psc_testkit.client.flow import (
    AuthorizationResponse,
    auto_submit_form,
    form_fields,
    is_callback,
    parse_form_post,
    parse_redirect,
)

# Redirects and self-submitting pages followed inside the provider before the chain is judged
# (Keycloak and LemonLDAP::NG take 2-4; a loop stops here).
MAX_HOPS = 12


def callback_of(response: httpx.Response, redirect_uri: str) -> AuthorizationResponse | None:
    """The authorization response if this HTTP response carries it, else None."""
    location = response.headers.get("location")
    if response.is_redirect and location:
        absolute = urljoin(str(response.url), location)
        if is_callback(absolute, redirect_uri):
            return parse_redirect(absolute)
        return None
    if response.status_code == 200 and "html" in response.headers.get("content-type", ""):
        return parse_form_post(response.text, redirect_uri)
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _next_hop(response: httpx.Response) -> httpx.Request | tuple[str, dict[str, str]] | None:
    """The request a browser makes by itself after this response: a redirect, or the POST of
    an auto-submitting form (url, fields); None when the chain ends here (a page)."""
    if response.is_redirect and response.headers.get("location"):
        return response.next_request  # the method and body a browser keeps (307/308) or drops
    if response.status_code == 200 and "html" in response.headers.get("content-type", ""):
        form = auto_submit_form(response.text)
        if form is not None and form["method"].lower() == "post":
            return urljoin(str(response.url), form["action"] or str(response.url)), form_fields(
                form
            )
    return None


def follow(
    browser: httpx.Client,
    response: httpx.Response,
    client_uri: str,
    trusts: Callable[[str], bool] | None = None,
) -> httpx.Response:
    """Follow what a browser follows by itself, inside the provider: redirects and
    auto-submitting forms, until the answer goes back to the client (`client_uri`, the
    redirect or post-logout URI), or a page waits for the user, or the chain leaves the
    provider. Only the provider's hosts are followed (`trusts`, by host; the first response's
    host without it), never the client's origin: a redirect there, or to a stranger's host,
    is returned as it is, for the check to judge."""
    home = urlsplit(str(response.url)).hostname or ""
    client = _origin(client_uri) if client_uri else None
    for _ in range(MAX_HOPS):
        if client_uri and callback_of(response, client_uri) is not None:
            return response
        hop = _next_hop(response)
        if hop is None:
            return response
        url = str(hop.url) if isinstance(hop, httpx.Request) else hop[0]
        host = urlsplit(url).hostname or ""
        inside = trusts(host) if trusts is not None else host == home
        if not inside or _origin(url) == client:
            return response
        if isinstance(hop, httpx.Request):
            response = browser.send(hop)
        else:
            response = browser.post(url, data=hop[1])
    return response


def no_redirect(response: httpx.Response) -> AuthorizationResponse:
    """The provider answered without sending the user back: an error page, most often."""
    return AuthorizationResponse(
        {},
        "none",
        problem=f"the provider answered HTTP {response.status_code} "
        "without redirecting to the client",
        status=response.status_code,
    )


@dataclass
class LoginAnswer(AuthorizationResponse):
    """An authorization response with what the driver did to obtain it: whether it filled a
    login form on the way (None: it cannot tell, e.g. a person logged in by hand). Checks
    that ask "was the user asked to log in?" (prompt=login, max_age) read this, not any page
    seen: a consent page or a self-submitting page is no login."""

    login_form: bool | None = None


def answered(response: AuthorizationResponse, login_form: bool | None) -> LoginAnswer:
    """`response`, carrying whether a login form was filled to obtain it."""
    values = {f.name: getattr(response, f.name) for f in fields(AuthorizationResponse)}
    return LoginAnswer(**values, login_form=login_form)
