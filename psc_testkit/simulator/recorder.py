"""Every request a relying party (and its user's browser) makes, as the simulator saw it: the
evidence RP certification judges from (what the app sent, whether it went on after a lie).

Only with `--rp`: recording reads each body twice, which a load test need not pay for. Read
through `GET /_simulator/requests?after=N`. The log holds secrets (codes, tokens, the client's
credentials) as they were sent: whoever reads it redacts before anything reaches a report.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Enough for a whole RP plan (a few dozen logins of ~10 requests); older entries go first.
KEPT = 20_000
BODY_LIMIT = 64 * 1024
# Request headers worth keeping as evidence; the others (user agent, accept...) are noise.
HEADERS = ("authorization", "content-type", "dpop", "origin", "referer")


@dataclass
class RequestLog:
    entries: deque = field(default_factory=lambda: deque(maxlen=KEPT))
    _seq: count = field(default_factory=lambda: count(1))
    last: int = 0

    def add(self, entry: dict) -> None:
        self.last = entry["seq"] = next(self._seq)
        self.entries.append(entry)

    def after(self, seq: int) -> list[dict]:
        return [e for e in self.entries if e["seq"] > seq]


def _text(chunks: list[bytes]) -> str:
    body = b"".join(chunks)
    cut = body[:BODY_LIMIT].decode("utf-8", "replace")
    return cut + ("…" if len(body) > BODY_LIMIT else "")


def record_requests(
    app: ASGIApp, log: RequestLog, lie_of: Callable[[], str | None], wallet_port: int
) -> ASGIApp:
    """Wrap the simulator's application so that every HTTP exchange is logged (not the control
    API's own): method, host, path, query, the telling headers, the body, the status, the
    response's Location and body, and the lie being served."""

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_simulator/"):
            await app(scope, receive, send)
            return
        server = scope.get("server")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        entry: dict = {
            "t": time.time(),
            "host": "wallet" if server and server[1] == wallet_port else "issuer",
            "method": scope["method"],
            "path": scope["path"],
            "query": _text([scope.get("query_string", b"")]),
            "headers": {name: headers[name] for name in HEADERS if name in headers},
            "cookie": "cookie" in headers,
            "lie": lie_of(),
        }
        sent: list[bytes] = []
        answered: list[bytes] = []

        async def receive_recording() -> Message:
            message = await receive()
            if message["type"] == "http.request" and sum(map(len, sent)) <= BODY_LIMIT:
                sent.append(message.get("body", b""))
            return message

        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"location":
                        entry["location"] = value.decode("latin-1")
                    elif name.lower() == b"content-type":
                        entry["content_type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body" and sum(map(len, answered)) <= BODY_LIMIT:
                answered.append(message.get("body", b""))
            await send(message)

        try:
            await app(scope, receive_recording, send_recording)
        finally:
            entry["body"] = _text(sent)
            # The pages are long and say nothing the exchange needs; JSON and JWTs are evidence.
            kind = entry.get("content_type", "")
            if "json" in kind or "jwt" in kind:
                entry["response"] = _text(answered)
            log.add(entry)

    return recording
