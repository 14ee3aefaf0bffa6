"""A deliberately broken OpenID provider on loopback, one misbehaviour per path prefix."""

from __future__ import annotations

import contextlib
import functools
import json
import ssl
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import brotli

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
    "header-drip",
    "gzip-bomb",
    "br-bomb",
    "token-gzip-bomb",
    "many-headers",
    "huge-header",
    "deep-json",
    "many-keys",
)
BOMB_SIZE = 1 << 30  # what a bomb inflates to: 1 GiB of zeros
MANY_KEYS = 200_000
MANY_HEADERS = 3_000  # ~30 KB of headers: over the count limit, under h11's size cap
HUGE_HEADER = 4 * 1024 * 1024
DEEP = 100_000

_bombs: dict[str, bytes] = {}
_bombs_lock = threading.Lock()


def _gzip_bomb() -> bytes:
    """1 GiB of zeros as one gzip member of ~1 MB, in a fraction of a second: a block of 1 MiB
    of zeros ends on a full flush (byte-aligned, no reference to what came before), so the same
    bytes can be repeated instead of compressing 1 GiB."""
    zeros = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(BOMB_SIZE >> 20):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, BOMB_SIZE & 0xFFFFFFFF)
    return header + block * (BOMB_SIZE >> 20) + deflate.flush() + trailer


def _br_bomb() -> bytes:
    """1 GiB of zeros in ~1.6 KB of brotli (quality 4: as small as 11 on zeros, 40× faster)."""
    compressor = brotli.Compressor(quality=4)
    zeros = bytes(1 << 20)
    parts = [compressor.process(zeros) for _ in range(BOMB_SIZE >> 20)]
    return b"".join(parts) + compressor.finish()


def bomb(encoding: str) -> bytes:
    """The bomb for `encoding` (gzip or br), made once per process."""
    with _bombs_lock:
        if encoding not in _bombs:
            _bombs[encoding] = _gzip_bomb() if encoding == "gzip" else _br_bomb()
        return _bombs[encoding]


@functools.cache
def many_keys() -> bytes:
    """A JWKS of MANY_KEYS small keys (~6 MB, under the body limit): EC keys without
    coordinates and RSA keys of a 17-bit modulus, their kids repeating every 50 keys."""
    keys = [
        {"kty": "RSA", "kid": f"k{i % 50}", "n": "AQAB", "e": "AQAB"}
        if i % 3 == 0
        else {"kty": "EC", "kid": f"k{i % 50}"}
        for i in range(MANY_KEYS)
    ]
    return json.dumps({"keys": keys}, separators=(",", ":")).encode()


def discovery(base: str, **changes: object) -> bytes:
    document = {
        "issuer": base,
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/certs",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    return json.dumps(document | changes).encode()


# A JWKS that passes the key checks, for the modes whose trouble is elsewhere.
VALID_JWKS = json.dumps(
    {
        "keys": [
            {
                "kty": "EC",
                "kid": "hostile-1",
                "use": "sig",
                "alg": "ES256",
                "crv": "P-256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            }
        ]
    }
).encode()


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

    def do_POST(self) -> None:
        # Read the form first: closing on unread bytes makes the kernel reset the connection,
        # and the client would see a reset instead of the misbehaviour under test.
        length = self.headers.get("Content-Length", "0")
        if length.isdigit() and int(length) <= 65536:
            self.rfile.read(int(length))
        self.do_GET()

    def drip(self, data: bytes) -> None:
        """`data` one byte every 0.5 s, until the client gives up (at most len(data) bytes)."""
        for byte in data:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.5)

    def send_bomb(self, encoding: str) -> None:
        self.send(200, bomb(encoding), headers={"Content-Encoding": encoding})

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
        elif mode == "issuer-mismatch" and "well-known" in self.path:
            self.send(200, discovery(f"{origin}/{mode}", issuer="https://elsewhere.example"))
        elif mode == "no-jwks" and "well-known" in self.path:
            self.send(200, discovery(f"{origin}/{mode}", jwks_uri="http://127.0.0.1:9/certs"))
        elif mode == "header-drip":
            body = b"{}"
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
            )
            self.drip(head.encode() + b"\r\n\r\n" + body)
        elif mode in ("gzip-bomb", "br-bomb"):
            self.send_bomb(mode.split("-")[0])
        elif mode == "many-headers":
            self.send(200, b"{}", headers={f"X-H{i}": "v" for i in range(MANY_HEADERS)})
        elif mode == "huge-header":
            self.send(200, b"{}", headers={"X-Huge": "a" * HUGE_HEADER})
        elif mode == "deep-json":
            self.send(200, b'{"issuer": ' + b"[" * DEEP + b"]" * DEEP + b"}")
        elif mode in ("token-gzip-bomb", "many-keys"):
            base = f"{origin}/{mode}"
            if "well-known" in self.path:
                self.send(200, discovery(base))
            elif self.path.startswith(f"/{mode}/certs"):
                self.send(200, many_keys() if mode == "many-keys" else VALID_JWKS)
            elif mode == "token-gzip-bomb" and self.path.startswith(f"/{mode}/token"):
                self.send_bomb("gzip")
            else:
                self.send(404, b'{"error": "not_found"}')
        else:
            self.send(404, b'{"error": "not_found"}')


def start() -> ThreadingHTTPServer:
    # Made before serving: built on the first request, they would eat into its timeout.
    bomb("gzip"), bomb("br"), many_keys()
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
