"""A Locust FastHttpSession presented as the httpx client the login drivers expect, so the load
scenarios log in with the very drivers the conformance suite uses."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from psc_testkit.flow import HttpRequest


class Response:
    """The part of httpx.Response the drivers and flow steps read."""

    def __init__(
        self, status: int, headers: list[tuple[str, str]], content: bytes, url: str
    ) -> None:
        self.status_code = status
        self.headers = httpx.Headers(headers)
        self.content = content
        self.url = httpx.URL(url)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers


class StepFailure(Exception):
    """A step of a flow failed; the message says which and why."""


class LocustBrowser:
    """GET/POST through Locust, each request named by its step (`namer(method, url)`), never
    following redirects (the code is read from Location), HTTP errors counted as failures."""

    def __init__(self, session, namer: Callable[[str, str], str]) -> None:
        self.session = session
        self.namer = namer

    def request(
        self,
        method: str,
        url: str,
        *,
        name: str | None = None,
        data: dict | None = None,
        headers: dict | None = None,
    ) -> Response:
        with self.session.request(
            method,
            url,
            name=name or self.namer(method, url),
            data=data,
            headers=headers,
            allow_redirects=False,
            catch_response=True,
        ) as r:
            status = r.status_code or 0
            if status == 0 or status >= 400:
                r.failure(f"HTTP {status}" if status else f"no response: {r.error}")
            else:
                r.success()
            headers = list(r.headers.items()) if r.headers else []
            return Response(status, headers, r.content or b"", url)

    def get(self, url: str, params: dict | None = None) -> Response:
        if params:
            url = str(httpx.URL(url).copy_merge_params(params))
        return self.request("GET", url)

    def post(self, url: str, data: dict | None = None) -> Response:
        return self.request("POST", url, data=data)

    def send(self, request: HttpRequest, name: str) -> Response:
        return self.request(
            request.method, request.url, name=name, data=request.form, headers=request.headers
        )
