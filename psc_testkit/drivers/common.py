"""What every driver does with a response: recognise the way back to the client."""

from __future__ import annotations

from urllib.parse import urljoin

import httpx

from psc_testkit.flow import AuthorizationResponse, is_callback, parse_form_post, parse_redirect


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


def no_redirect(response: httpx.Response) -> AuthorizationResponse:
    """The provider answered without sending the user back: an error page, most often."""
    return AuthorizationResponse(
        {},
        "none",
        problem=f"the provider answered HTTP {response.status_code} "
        "without redirecting to the client",
        status=response.status_code,
    )
