"""A Locust FastHttpSession presented as the httpx client the login drivers expect, so the load
scenarios log in with the very drivers the conformance suite uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qsl

import gevent
import httpx

from psc_testkit.client.flow import HttpRequest
from psc_testkit.load.failures import StepFailure

__all__ = ["LocustBrowser", "Response", "StepFailure"]


class Url:
    """A response's URL as the drivers read it (`str(response.url)`); httpx.URL's attributes
    (`.host`, `.join()`...) parsed only when asked for: httpx.URL(url) costs about 30 µs a
    request, four times a login, for a string read back at once."""

    __slots__ = ("raw",)

    def __init__(self, raw: str) -> None:
        self.raw = raw

    def __str__(self) -> str:
        return self.raw

    def __repr__(self) -> str:
        return f"Url({self.raw!r})"

    def __eq__(self, other: object) -> bool:
        return httpx.URL(self.raw) == other

    def __hash__(self) -> int:
        return hash(httpx.URL(self.raw))

    def __getattr__(self, name: str):
        return getattr(httpx.URL(self.raw), name)


class Headers(dict):
    """Response headers as the drivers read them (`get`, `in`, `[]`, any case): names
    lowercased, repeated fields joined with ", " as httpx.Headers joins them. httpx.Headers
    costs 3 times as much, its encoding worked out again at every read."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        for name, value in pairs:
            name = name.lower()
            if dict.__contains__(self, name):
                value = f"{dict.__getitem__(self, name)}, {value}"
            dict.__setitem__(self, name, value)

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())

    def get(self, name: str, default=None):
        return dict.get(self, name.lower(), default)


class Response:
    """The part of httpx.Response the drivers and flow steps read."""

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]],
        content: bytes,
        url: str,
        problem: str | None = None,
        sent: tuple[str, dict | None] = ("GET", None),
    ) -> None:
        self.status_code = status
        self.headers = Headers(headers)
        self.content = content
        self.url = Url(url)
        self.problem = problem  # why there is no usable response (status 0), in a few words
        self.sent = sent  # the request's method and form, for a 307/308 that keeps them

    def failure(self) -> str:
        """What went wrong with this exchange, for a step's message."""
        return self.problem or f"HTTP {self.status_code}"

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    @property
    def next_request(self) -> httpx.Request | None:
        """The request a browser makes by itself after this redirect, as httpx builds it: 307
        and 308 keep the method and body, the others become a GET."""
        if not self.is_redirect:
            return None
        url = self.url.join(self.headers["location"])
        method, form = self.sent
        if self.status_code in (307, 308):
            return httpx.Request(method, url, data=form)
        return httpx.Request("GET", url)


class ExchangeDeadline(TimeoutError):
    """The whole exchange took too long. A TimeoutError, so Locust records the request as
    failed with this reason (an OSError is among the failures its session catches)."""


MAX_BODY = 10 * 1024 * 1024  # as the conformance suite's clients
PIECE = 64 * 1024


class LocustBrowser:
    """GET/POST through Locust, each request named by its step (`namer(method, url)`), never
    following redirects (the code is read from Location), HTTP errors counted as failures.

    Bounded as the conformance suite's clients are: bodies are asked for uncompressed
    (`Accept-Encoding: identity`; geventhttpclient would otherwise inflate a bomb whole) and
    read here piece by piece up to MAX_BODY, and the whole exchange, headers included, must end
    within `deadline` seconds (geventhttpclient's timeouts are per read: a drip never trips
    them). The time spent reading the body is added to the request's response time."""

    def __init__(
        self,
        session,
        namer: Callable[[str, str], str],
        deadline: float = 30.0,
        max_body: int = MAX_BODY,
    ) -> None:
        self.session = session
        self.namer = namer
        self.deadline = deadline
        self.max_body = max_body

    def request(
        self,
        method: str,
        url: str,
        *,
        name: str | None = None,
        data: dict | None = None,
        headers: dict | None = None,
    ) -> Response:
        limit = ExchangeDeadline(f"response not complete after {self.deadline:g} s")
        with (
            gevent.Timeout(self.deadline, limit),
            self.session.request(
                method,
                url,
                name=name or self.namer(method, url),
                data=data,
                headers={**(headers or {}), "Accept-Encoding": "identity"},
                allow_redirects=False,
                catch_response=True,
                stream=True,
            ) as r,
        ):
            status = r.status_code or 0
            body, problem = b"", None
            if status:
                started = time.perf_counter()
                body, problem = self._body(r)
                r.request_meta["response_time"] += (time.perf_counter() - started) * 1000
                r.request_meta["response_length"] = len(body)
            if status == 0:
                problem = f"no response: {r.error}"
                r.failure(problem)
            elif problem is not None:
                r.failure(problem)
                status = 0  # the drivers and steps see a failed exchange, not a partial body
            elif status >= 400:
                r.failure(f"HTTP {status}")
            else:
                r.success()
            headers = list(r.headers.items()) if r.headers else []
            return Response(status, headers, body, url, problem, (method, data))

    def _body(self, r) -> tuple[bytes, str | None]:
        """The body, read piece by piece; or why it was refused."""
        coding = (r.headers.get("content-encoding") or "identity").strip().lower()
        if coding != "identity":
            return b"", f"body sent as {coding[:40]} though identity was asked"
        pieces, size = [], 0
        try:
            for piece in r.iter_content(PIECE, decode_content=False):
                size += len(piece)
                if size > self.max_body:
                    return b"", f"body over {self.max_body // (1024 * 1024)} MB"
                pieces.append(piece)
        except (ExchangeDeadline, OSError) as exc:
            return b"", str(exc) or type(exc).__name__
        return b"".join(pieces), None

    def get(self, url: str, params: dict | None = None) -> Response:
        if params:
            url = str(httpx.URL(url).copy_merge_params(params))
        return self.request("GET", url)

    def post(self, url: str, data: dict | None = None) -> Response:
        return self.request("POST", url, data=data)

    def send(self, request: HttpRequest | httpx.Request, name: str | None = None) -> Response:
        """A flow step's request, or (from the drivers following a redirect) an httpx one."""
        if isinstance(request, httpx.Request):
            form = dict(parse_qsl(request.content.decode("latin-1"))) if request.content else None
            return self.request(request.method, str(request.url), name=name, data=form)
        return self.request(
            request.method, request.url, name=name, data=request.form, headers=request.headers
        )
