"""A deliberately broken OpenID provider on loopback, one misbehaviour per path prefix."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODES = (
    "status-500",
    "html",
    "bad-json",
    "huge",
    "redirect-loop",
    "hang",
    "drip",
    "issuer-mismatch",
    "no-jwks",
)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_args) -> None:
        pass

    def send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        mode = self.path.strip("/").split("/")[0]
        origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.answer(mode, origin)

    do_POST = do_GET

    def answer(self, mode: str, origin: str) -> None:
        if mode == "status-500":
            self.send(500, b"Internal Server Error", "text/plain")
        elif mode == "html":
            self.send(200, b"<html><body>Maintenance</body></html>", "text/html")
        elif mode == "bad-json":
            self.send(200, b'{"issuer": "x", ')
        elif mode == "redirect-loop":
            self.send(302, b"", headers={"Location": self.path})
        elif mode == "hang":
            time.sleep(60)
        elif mode == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(200):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.5)
        elif mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(100 * 1024 * 1024))
            self.end_headers()
            chunk = b"0" * (1024 * 1024)
            for _ in range(100):
                self.wfile.write(chunk)
        elif mode in ("issuer-mismatch", "no-jwks") and "well-known" in self.path:
            base = f"{origin}/{mode}"
            self.send(
                200,
                json.dumps(
                    {
                        "issuer": "https://elsewhere.example"
                        if mode == "issuer-mismatch"
                        else base,
                        "authorization_endpoint": f"{base}/auth",
                        "token_endpoint": f"{base}/token",
                        "userinfo_endpoint": f"{base}/userinfo",
                        "jwks_uri": "http://127.0.0.1:9/certs"
                        if mode == "no-jwks"
                        else f"{base}/certs",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                ).encode(),
            )
        else:
            self.send(404, b'{"error": "not_found"}')


def start() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client refusing the certificate aborts the handshake: expected, not news


def start_tls(cert_file: Path, key_file: Path) -> ThreadingHTTPServer:
    """The same server over HTTPS, with the certificate given (an expired one, say)."""
    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    # Handshakes happen per connection in the handler threads, not in the accepting loop: a
    # client that fails the handshake must not stall the next one.
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
