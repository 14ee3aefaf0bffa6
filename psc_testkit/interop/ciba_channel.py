"""The professionals' phones for a Keycloak's CIBA: its HTTP authentication channel, served here.

Keycloak hands each CIBA request to an *authentication channel* (one URL per server): it POSTs
`{login_hint, binding_message, scope, ...}` with a Bearer JWT naming the request, and expects
HTTP 201. The user's answer goes back to Keycloak's callback endpoint,
`{issuer}/protocol/openid-connect/ext/ciba/auth/callback`, with that same Bearer and
`{"status": "SUCCEED" | "UNAUTHORIZED"}` (keycloak.md; services/.../grants/ciba).

The checks play the phone as they do with the simulator: `POST /phone` with
`{"login_hint", "decision": "approve" | "deny" | "ignore"}` answers the requests of that
professional already waiting, and the ones to come (approve by default, like the simulator's
phone). "ignore" leaves them pending until a later decision or their expiry.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

STATUS = {"approve": "SUCCEED", "deny": "UNAUTHORIZED"}
DECISIONS = ("approve", "deny", "ignore")


class CibaChannel:
    def __init__(self, issuer: str = "", ca_file: Path | None = None) -> None:
        self.issuer, self.ca_file = issuer, ca_file
        self.decisions: dict[str, str] = {}
        self.pending: dict[str, list[str]] = {}  # login_hint -> Bearer tokens of its requests
        self.requests: list[dict] = []  # what Keycloak sent, for tests
        self.answers: list[tuple[str, int]] = []  # (status sent, Keycloak's HTTP status)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> CibaChannel:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # What Keycloak and the checks call ---------------------------------------------------------

    def notified(self, token: str, body: dict) -> None:
        """Keycloak asks the professional's phone: answer now, or keep it waiting."""
        hint = str(body.get("login_hint", ""))
        with self.lock:
            self.requests.append(body)
            decision = self.decisions.get(hint, "approve")
            if decision == "ignore":
                self.pending.setdefault(hint, []).append(token)
                return
        self._answer_later([token], decision)

    def decide(self, hint: str, decision: str) -> None:
        with self.lock:
            self.decisions[hint] = decision
            waiting = [] if decision == "ignore" else self.pending.pop(hint, [])
        if waiting:
            self._answer_later(waiting, decision)

    def _answer_later(self, tokens: list[str], decision: str) -> None:
        # Keycloak is still inside the request that notified us: answer from another thread.
        threading.Thread(target=self._answer, args=(tokens, decision), daemon=True).start()

    def _answer(self, tokens: list[str], decision: str) -> None:
        url = f"{self.issuer}/protocol/openid-connect/ext/ciba/auth/callback"
        verify = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True
        with httpx.Client(verify=verify, timeout=10) as http:
            for token in tokens:
                status = 0
                # Until Keycloak has stored the request it told us of (it notifies first), for
                # up to 10 s; the last status is kept in `answers` either way.
                deadline = time.monotonic() + 10
                pause = 0.05
                while time.monotonic() < deadline:
                    time.sleep(pause)
                    pause = min(pause * 2, 1.0)
                    try:
                        status = http.post(
                            url,
                            json={"status": STATUS[decision]},
                            headers={"Authorization": f"Bearer {token}"},
                        ).status_code
                    except httpx.HTTPError:
                        status = -1
                    if status in (200, 204):
                        break
                with self.lock:
                    self.answers.append((STATUS[decision], status))


def _handler(channel: CibaChannel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # the suite's own evidence records what matters

        def _json(self) -> dict | None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(min(length, 65536)) or b"{}")
            except ValueError:
                return None
            return body if isinstance(body, dict) else None

        def _reply(self, status: int, body: dict | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self._json()
            if body is None:
                return self._reply(400, {"error": "a JSON object is expected"})
            if self.path == "/channel":
                scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
                if scheme.lower() != "bearer" or not token:
                    return self._reply(401, {"error": "Keycloak sends a Bearer token"})
                channel.notified(token, body)
                return self._reply(201)
            if self.path == "/phone":
                hint, decision = body.get("login_hint"), body.get("decision")
                if not isinstance(hint, str) or decision not in DECISIONS:
                    return self._reply(400, {"error": f"login_hint and decision in {DECISIONS}"})
                channel.decide(hint, decision)
                return self._reply(200, {"login_hint": hint, "decision": decision})
            return self._reply(404, {"error": "POST /channel (Keycloak) or /phone (checks)"})

    return Handler
