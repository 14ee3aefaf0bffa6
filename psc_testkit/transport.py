"""HTTP clients for a target: bounded (timeouts, body size), recorded, TLS as the profile says.

One "browser" client carries the user's cookies (the provider's SSO session) across the run, so
one human login can serve every check; back-channel requests go through a client per TLS
identity (the mTLS client presents its certificate, the others none).
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import httpx

from psc_testkit.config import Target
from psc_testkit.evidence import Recorder
from psc_testkit.flow import HttpRequest

USER_AGENT = "psc-testkit"
MAX_BODY = 10 * 1024 * 1024


def tls_context(
    ca_file: Path | None, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


class Http:
    def __init__(self, target: Target, recorder: Recorder | None = None) -> None:
        self.target = target
        self.recorder = recorder or Recorder()
        self._clients: dict[str | None, httpx.Client] = {}
        self._browsers: list[httpx.Client] = []
        self.browser = self.new_browser()

    def _client(self, context: ssl.SSLContext) -> httpx.Client:
        timeout = httpx.Timeout(self.target.timeout)
        transport = RecordingTransport(
            httpx.HTTPTransport(verify=context, retries=0),
            self.recorder,
            MAX_BODY,
            deadline=3 * self.target.timeout,
        )
        return httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def new_browser(self) -> httpx.Client:
        """A client with an empty cookie jar: a browser with no session at the provider."""
        browser = self._client(tls_context(self.target.ca_file))
        self._browsers.append(browser)
        return browser

    def back(self, client_id: str | None = None) -> httpx.Client:
        client = (
            self.target.client()
            if client_id is None
            else next((c for c in self.target.clients if c.client_id == client_id), None)
        )
        key = client.client_id if client and client.tls_cert_file else None
        if key not in self._clients:
            context = tls_context(
                self.target.ca_file,
                client.tls_cert_file if key else None,
                client.tls_key_file if key else None,
            )
            self._clients[key] = self._client(context)
        return self._clients[key]

    def send(self, request: HttpRequest, via: httpx.Client | None = None) -> httpx.Response:
        client = via or self.back(request.client_id)
        return client.request(
            request.method,
            request.url,
            headers=request.headers,
            data=request.form if request.form is not None else None,
        )

    def close(self) -> None:
        for client in [*self._browsers, *self._clients.values()]:
            client.close()


class RecordingTransport(httpx.BaseTransport):
    """Wraps httpx's transport so every exchange, failed ones included, reaches the recorder."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        recorder: Recorder,
        max_body: int = 10 * 1024 * 1024,
        deadline: float = 30.0,
    ) -> None:
        self.inner = inner
        self.recorder = recorder
        self.max_body = max_body
        # httpx's timeouts are per operation: a server that drips a byte every few seconds never
        # trips them. The deadline bounds the whole exchange.
        self.deadline = deadline

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        started = time.perf_counter()
        try:
            response = self.inner.handle_request(request)
            chunks, size = [], 0
            for chunk in response.stream:
                size += len(chunk)
                if size > self.max_body:
                    response.close()
                    raise httpx.DecodingError(f"response body exceeds {self.max_body} bytes")
                if time.perf_counter() - started > self.deadline:
                    response.close()
                    raise httpx.ReadTimeout(f"response not complete after {self.deadline:.0f} s")
                chunks.append(chunk)
            response.close()
            body = b"".join(chunks)
            response = httpx.Response(
                response.status_code,
                headers=response.headers,
                content=body,
                request=request,
                extensions=response.extensions,
            )
        except httpx.HTTPError as exc:
            self.recorder.record(request, None, started, error=f"{type(exc).__name__}: {exc}")
            raise
        self.recorder.record(request, response, started)
        return response
