"""A person logs in with their own browser: the driver prints the authorization URL and catches
the way back to the client on a listener of its own.

The listener binds 127.0.0.1 on the redirect URI's port (so the redirect URI must name this
machine: http://127.0.0.1:8080/callback, http://localhost:8080/callback), over HTTPS when the
redirect URI is https and [driver] gives listener_cert and listener_key. It takes the response in
every mode: the query, the fragment (a tiny page posts location.hash back, since a fragment
never reaches a server) and form_post; it answers "you can close this tab".

The SSO session then lives in the person's browser, not in the suite's HTTP client: later URLs
complete there without credentials, but checks that probe the session through the suite's own
requests (prompt=none with a session, logout) do not see it.
"""

from __future__ import annotations

import http.server
import queue
import ssl
import threading
from typing import TextIO
from urllib.parse import parse_qsl, urlsplit

import httpx

from psc_testkit.client.config import DriverProfile
from psc_testkit.client.drivers import LoginError
from psc_testkit.client.drivers.terminal import say
from psc_testkit.client.flow import AuthorizationResponse, parse_redirect

FRAGMENT_MARK = "psc_testkit_fragment"
PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><title>psc-testkit</title></head>'
    "<body><p>{text}</p>{script}</body></html>"
)
DONE = "psc-testkit received the authorization response: you can close this tab."
# A fragment stays in the browser: post it back to the listener, as a client's page would.
RELAY = (
    "<script>const h=location.hash.slice(1);if(h){fetch(location.pathname+'?"
    + FRAGMENT_MARK
    + "=1',{method:'POST',headers:{'content-type':'application/x-www-form-urlencoded'},"
    "body:h}).then(()=>{document.body.firstChild.textContent='"
    + DONE.replace("'", "\\'")
    + "'})}</script>"
)


class _Listener(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, redirect_uri: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        parts = urlsplit(redirect_uri)
        self.redirect_uri = redirect_uri
        self.base = redirect_uri.split("#")[0].split("?")[0]
        self.path = parts.path or "/"
        self.own_query = set(parse_qsl(parts.query))  # a registered URI's own parameters
        self.responses: queue.Queue[AuthorizationResponse] = queue.Queue()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Listener

    def log_message(self, format: str, *args: object) -> None:
        pass  # the terminal is the person's: no access log there

    def _answer(self, status: int, text: str, script: str = "") -> None:
        body = PAGE.format(text=text, script=script).encode()
        self.send_response(status)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.path:
            self._answer(404, "not the redirect URI")
            return
        if set(parse_qsl(parts.query)) - self.server.own_query:
            self.server.responses.put(parse_redirect(f"{self.server.base}?{parts.query}"))
            self._answer(200, DONE)
        else:
            self._answer(200, "psc-testkit: reading the response…", RELAY)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.path:
            self._answer(404, "not the redirect URI")
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(min(length, 1 << 20)).decode("utf-8", "replace")
        if FRAGMENT_MARK in dict(parse_qsl(parts.query)):
            self.server.responses.put(parse_redirect(f"{self.server.base}#{body}"))
        else:
            response = AuthorizationResponse(dict(parse_qsl(body)), "form_post", self.server.base)
            self.server.responses.put(response)
        self._answer(200, DONE)


class ManualDriver:
    def __init__(self, profile: DriverProfile, out: TextIO | None = None) -> None:
        self.login_timeout = profile.login_timeout
        self.cert, self.key = profile.listener_cert, profile.listener_key
        self.out = out
        self.logins = 0

    def _listen(self, redirect_uri: str) -> _Listener:
        parts = urlsplit(redirect_uri)
        https = parts.scheme == "https"
        if https and not self.cert:
            raise LoginError(
                f"the redirect URI {redirect_uri} is https: give [driver] listener_cert and "
                "listener_key (a certificate your browser trusts for that host)"
            )
        port = parts.port or (443 if https else 80)
        try:
            listener = _Listener(port, redirect_uri)
        except OSError as exc:
            raise LoginError(
                f"cannot listen on 127.0.0.1:{port} for {redirect_uri}: {exc.strerror or exc}"
            ) from None
        if https:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.cert), str(self.key) if self.key else None)
            listener.socket = context.wrap_socket(listener.socket, server_side=True)
        return listener

    def authenticate(
        self, browser: httpx.Client, url: str, redirect_uri: str, user: str
    ) -> AuthorizationResponse:
        listener = self._listen(redirect_uri)
        thread = threading.Thread(target=listener.serve_forever, args=(0.1,), daemon=True)
        thread.start()
        try:
            self.logins += 1
            hint = (
                "your browser's SSO session should answer at once, without credentials"
                if self.logins > 1
                else f"log in as {user} (CPS card or e-CPS); later URLs then complete without "
                "credentials, through your browser's SSO session"
            )
            say(
                self.out,
                f"Open this URL in your browser ({hint}):\n  {url}\n"
                f"psc-testkit waits up to {self.login_timeout:g} s for {redirect_uri}",
            )
            try:
                return listener.responses.get(timeout=self.login_timeout)
            except queue.Empty:
                raise LoginError(
                    f"no response at {redirect_uri} within {self.login_timeout:g} s"
                ) from None
        finally:
            listener.shutdown()
            listener.server_close()
