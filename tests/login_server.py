"""A small OpenID provider on loopback whose login page asks for a password, as Keycloak's does.

Its users and their passwords are given; a wrong password gets the login form again (HTTP 200,
an error above the form), a right one the way back to the client with a code, which its token
endpoint exchanges for tokens. Every credential post is recorded (user, password, body), so a
test can count what reached the provider, not only what the suite says it sent.
"""

from __future__ import annotations

import contextlib
import html
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.hostile_server import VALID_JWKS

PAGE = """<!doctype html><html><head><title>Sign in</title></head><body>{error}
<form id="kc-form-login" method="post" action="/login?tx={tx}">
<input id="username" name="username" value="{username}">
<input id="password" name="password" type="password">
<input type="hidden" name="credentialId" value="">
<input id="kc-login" type="submit" name="login" value="Sign in">
</form>{script}</body></html>"""
# in_place: the page posts its form itself and shows the refusal where it is, no new page.
IN_PLACE = """<script>
document.getElementById("kc-form-login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  await fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form))});
  form.insertAdjacentHTML("beforebegin", '<p role="alert">Invalid username or password.</p>');
});
</script>"""


@dataclass
class Post:
    username: str
    password: str
    body: bytes


@dataclass
class LoginServer:
    server: ThreadingHTTPServer
    passwords: dict[str, str]  # user -> the password the provider accepts
    posts: list[Post] = field(default_factory=list)
    pages: int = 0  # login pages served (GET /auth without a session)
    transactions: dict[str, dict[str, str]] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # code -> user
    in_place: bool = False  # the login page answers a post without loading a new page

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def discovery_url(self) -> str:
        return f"{self.origin}/.well-known/openid-configuration"


def _handler(state: LoginServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def page(self, tx: str, username: str = "", error: str = "") -> None:
            alert = f'<p role="alert" id="kc-error-message">{error}</p>' if error else ""
            script = IN_PLACE if state.in_place else ""
            text = PAGE.format(error=alert, tx=tx, username=html.escape(username), script=script)
            self.send(200, text.encode(), "text/html; charset=utf-8")

        def do_GET(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.answer()

        def do_POST(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.answer()

        def answer(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            form = dict(parse_qsl(body.decode()))
            if parts.path == "/.well-known/openid-configuration":
                origin = state.origin
                document = {
                    "issuer": origin,
                    "authorization_endpoint": f"{origin}/auth",
                    "token_endpoint": f"{origin}/token",
                    "userinfo_endpoint": f"{origin}/userinfo",
                    "jwks_uri": f"{origin}/certs",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["ES256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
                    "code_challenge_methods_supported": ["S256"],
                }
                self.send(200, json.dumps(document).encode(), "application/json")
            elif parts.path == "/certs":
                self.send(200, VALID_JWKS, "application/json")
            elif parts.path == "/auth":
                tx = secrets.token_urlsafe(8)
                state.transactions[tx] = query
                state.pages += 1
                self.page(tx)
            elif parts.path == "/login" and self.command == "POST":
                user, password = form.get("username", ""), form.get("password", "")
                state.posts.append(Post(user, password, body))
                request = state.transactions.get(query.get("tx", ""))
                if request is None:
                    self.send(400, b"unknown transaction", "text/plain")
                elif state.passwords.get(user) != password or not password:
                    self.page(query["tx"], user, "Invalid username or password.")
                else:
                    code = secrets.token_urlsafe(16)
                    state.codes[code] = user
                    back = {"code": code}
                    if "state" in request:
                        back["state"] = request["state"]
                    location = f"{request.get('redirect_uri', '')}?{urlencode(back)}"
                    self.send(302, b"", "text/html", Location=location)
            elif parts.path == "/token" and self.command == "POST":
                user = state.codes.pop(form.get("code", ""), None)
                if user is None:
                    error = {"error": "invalid_grant"}
                    self.send(400, json.dumps(error).encode(), "application/json")
                    return
                tokens = {
                    "access_token": secrets.token_urlsafe(24),
                    "token_type": "Bearer",
                    "expires_in": 120,
                    "refresh_token": secrets.token_urlsafe(24),
                }
                self.send(200, json.dumps(tokens).encode(), "application/json")
            else:
                self.send(404, b'{"error": "not_found"}', "application/json")

    return Handler


@contextlib.contextmanager
def started(passwords: dict[str, str], in_place: bool = False) -> Iterator[LoginServer]:
    """The provider on 127.0.0.1 (a free port), accepting these users' passwords."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    state = LoginServer(server, dict(passwords), in_place=in_place)
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def profile(server: LoginServer, driver: str, name: str = "login server") -> str:
    """A profile of this provider with the given [driver] table and a public client."""
    return (
        f'[target]\nname = "{name}"\ndiscovery_url = "{server.discovery_url}"\n'
        'scopes = ["openid"]\nacr_values = ""\ntimeout = 5\n'
        f"{driver.strip()}\n"
        '[[clients]]\nclient_id = "psc-testkit-public"\nauth_method = "none"\n'
        'redirect_uri = "http://127.0.0.1:8080/callback"\n'
    )
