"""A provider whose metadata and login pages send the suite to other hosts.

Three loopback addresses play three hosts: the provider on 127.0.0.1 (its discovery document
and keys), and 127.0.0.2 / 127.0.0.3, where nothing of the profile's should ever arrive. Each
server records what reached it, so a test can prove that no secret, assertion, certificate or
password was sent there, not merely that a check failed.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Host:
    address: str
    server: ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://{self.address}:{self.server.server_address[1]}"


def _handler(host: Host, hosts: dict[str, Host]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.answer(urlsplit(self.path).path)

        do_POST = do_GET

        def answer(self, path: str) -> None:
            mode = path.strip("/").split("/")[0]
            if path.endswith("/.well-known/openid-configuration"):
                body = json.dumps(discovery(mode, hosts)).encode()
                self.send(200, body, "application/json")
            elif path.endswith("/certs"):
                self.send(200, b'{"keys": []}', "application/json")
            elif mode in GARBAGE and not path.endswith("/auth"):
                # Every endpoint but discovery and the login answers 200 with nonsense.
                self.send(200, GARBAGE[mode], "application/json")
            elif path.endswith("/auth") and mode == "login-elsewhere":
                # The login starts here and hops to the second host, then the third.
                self.send(302, b"", "text/html", Location=f"{hosts['second'].origin}/hop")
            elif path.endswith("/auth"):
                # A session already open: straight back to the client with a code.
                query = dict(parse_qsl(urlsplit(self.path).query))
                back = f"{query.get('redirect_uri', '')}?code=c0de-{len(host.seen)}"
                if "state" in query:
                    back += f"&state={quote(query['state'])}"
                self.send(302, b"", "text/html", Location=back)
            elif path == "/hop":
                self.send(302, b"", "text/html", Location=f"{hosts['third'].origin}/login")
            elif path == "/login":
                page = (
                    b'<html><body><form method="post" action="/login">'
                    b'<input name="username"><input name="password" type="password">'
                    b"<button>Log in</button></form></body></html>"
                )
                self.send(200, page, "text/html; charset=utf-8")
            else:
                self.send(404, b'{"error": "not_found"}', "application/json")

    return Handler


# Bodies a broken provider answers from every endpoint, by mode.
GARBAGE = {
    "garbage-list": b"[1, 2, 3]",
    "garbage-string": b'"ok"',
    "garbage-deep": b"[" * 100_000 + b"]" * 100_000,
    "garbage-types": json.dumps(
        {
            "access_token": 42,
            "token_type": ["Bearer"],
            "expires_in": "soon",
            "id_token": {"a": 1},
            "refresh_token": None,
            "scope": 7,
            "active": "yes",
            "error": 3,
            "sub": [],
        }
    ).encode(),
}


def discovery(mode: str, hosts: dict[str, Host]) -> dict:
    """`elsewhere`: the back-channel endpoints on the second host; `login-elsewhere`: a valid
    provider whose login goes through the second and third hosts; `bad-types`: members of the
    wrong type or missing."""
    home = f"{hosts['home'].origin}/{mode}"
    other = f"{hosts['second'].origin}/{mode}"
    document: dict = {
        "issuer": home,
        "authorization_endpoint": f"{home}/auth",
        "token_endpoint": f"{home}/token",
        "userinfo_endpoint": f"{home}/userinfo",
        "introspection_endpoint": f"{home}/introspect",
        "revocation_endpoint": f"{home}/revoke",
        "jwks_uri": f"{home}/certs",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }
    if mode == "elsewhere":
        for name in ("token_endpoint", "userinfo_endpoint", "introspection_endpoint"):
            document[name] = document[name].replace(home, other)
        document["revocation_endpoint"] = f"{other}/revoke"
    elif mode == "bad-types":
        document["token_endpoint"] = 42
        del document["userinfo_endpoint"]
        document["response_types_supported"] = "code"
        document["grant_types_supported"] = {"authorization_code": True}
        document["code_challenge_methods_supported"] = [1, 2]
        document["request_parameter_supported"] = "yes"
    return document


@contextlib.contextmanager
def started() -> Iterator[dict[str, Host]]:
    """The three hosts, started; stopped on exit."""
    hosts: dict[str, Host] = {}
    for name, address in (("home", "127.0.0.1"), ("second", "127.0.0.2"), ("third", "127.0.0.3")):
        server = ThreadingHTTPServer((address, 0), BaseHTTPRequestHandler)
        server.daemon_threads = True
        hosts[name] = Host(address, server)
    for host in hosts.values():
        host.server.RequestHandlerClass = _handler(host, hosts)
        threading.Thread(target=host.server.serve_forever, daemon=True).start()
    try:
        yield hosts
    finally:
        for host in hosts.values():
            host.server.shutdown()
            host.server.server_close()
