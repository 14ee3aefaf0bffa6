"""HTTP clients for a target: bounded (timeouts, body size), recorded, TLS as the profile says.

One "browser" client carries the user's cookies (the provider's SSO session) across the run, so
one human login can serve every check; back-channel requests go through a client per TLS
identity (the mTLS client presents its certificate, the others none).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from psc_testkit.config import Target
from psc_testkit.evidence import Recorder, RecordingTransport
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
