"""Evidence: every HTTP exchange recorded, redacted, and replayable with `curl`.

Redaction is by value: whatever is secret or personal (client secrets and assertions, codes,
tokens, cookies, the professional's identifiers and names) is learnt as it passes through the
recorder and replaced everywhere by a short hash, `«secret:1a2b3c4d»`, so a report can still show
that two exchanges carried the same token without showing the token.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import httpx

# Parameters, JSON members and headers whose values are secret.
SECRET_KEYS = {
    "client_secret",
    "client_assertion",
    "code",
    "code_verifier",
    "access_token",
    "refresh_token",
    "id_token",
    "id_token_hint",
    "token",
    "auth_req_id",
    "assertion",
    "password",
    "tx",
    "session_state",
    "sid",
    "jti",
    "at_hash",
    "state",
    "nonce",
    "code_challenge",
}
# Personal data of the health professional (fact sheet §3): never in a report.
PERSONAL_KEYS = {
    "sub",
    "SubjectNameID",
    "preferred_username",
    "given_name",
    "family_name",
    "name",
    "nomDexercice",
    "prenomDexercice",
    "identifiant",
    "username",
    "login_hint",
    "idNat",
    "email",
    "SubjectOrganization",
    "raisonSocialeSite",
    "complementDestinataire",
    "numeroVoie",
    "libelleVoie",
    "telephone",
    "telephone2",
    "adresseEMail",
}
SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization"}
# Anything shaped like a JWT, even cut short by a repr, is a token.
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}")
MIN_LENGTH = 4  # shorter values ("L", "10", "")  are codes, not secrets, and would over-match
MAX_BODY_SHOWN = 4000


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:8]


class Redactor:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None  # over the values learned before…
        self._pending: list[str] = []  # …these, replaced one by one until there are many

    def add(self, value: object, kind: str = "secret") -> None:
        if isinstance(value, str) and len(value) >= MIN_LENGTH and value not in self.values:
            self.values[value] = f"«{kind}:{digest(value)}»"
            self._pending.append(value)

    def learn_json(self, data: object) -> None:
        if isinstance(data, dict):
            for key, value in data.items():
                if key in SECRET_KEYS:
                    self.add(value)
                elif key in PERSONAL_KEYS:
                    self.add(value, "personal")
                self.learn_json(value)
        elif isinstance(data, list):
            for item in data:
                self.learn_json(item)

    def learn_pairs(self, pairs: list[tuple[str, str]]) -> None:
        for key, value in pairs:
            if key in SECRET_KEYS:
                self.add(value)
            elif key in PERSONAL_KEYS:
                self.add(value, "personal")

    def learn_header(self, name: str, value: str) -> None:
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization"):
            scheme, _, credentials = value.partition(" ")
            self.add(credentials or scheme)
        elif lowered in ("cookie", "set-cookie"):
            for part in value.split(";"):
                _, sep, cookie_value = part.strip().partition("=")
                if sep:
                    self.add(cookie_value)

    def __call__(self, text: str) -> str:
        if len(self._pending) > 64:
            # Compiling an alternation of thousands of values is slow: do it now and then,
            # longest first, so a token is replaced whole before any value it contains.
            ordered = sorted(self.values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            self._pending = []
        for value in sorted(self._pending, key=len, reverse=True):
            text = text.replace(value, self.values[value])
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: self.values[m.group(0)], text)
        return JWT_SHAPE.sub(lambda m: f"«jwt:{digest(m.group(0))}»", text)


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int | None
    response_headers: list[tuple[str, str]]
    response_body: bytes
    elapsed_ms: float
    error: str | None = None
    replayable: bool = True  # False for steps that need the user's CPS card or e-CPS app

    def render(self, redact: Redactor) -> str:
        lines = [f"> {self.method} {self.url}"]
        lines += [f"> {k}: {v}" for k, v in self.request_headers if k.lower() != "host"]
        if self.request_body:
            lines.append(">")
            lines.append("> " + _text(self.request_body))
        if self.error:
            lines.append(f"< (no response: {self.error})")
        else:
            lines.append(f"< HTTP {self.status}  ({self.elapsed_ms:.0f} ms)")
            lines += [f"< {k}: {v}" for k, v in self.response_headers]
            if self.response_body:
                lines.append("<")
                lines.append("< " + _text(self.response_body).replace("\n", "\n< "))
        return redact("\n".join(lines))

    def curl(self, redact: Redactor) -> str:
        if not self.replayable:
            return "not replayable: needs the user's CPS card or e-CPS app"
        parts = ["curl", "-i", "-X", self.method, self.url]
        for name, value in self.request_headers:
            if name.lower() in (
                "host",
                "content-length",
                "accept-encoding",
                "connection",
                "user-agent",
            ):
                continue
            parts += ["-H", f"{name}: {value}"]
        if self.request_body:
            parts += ["--data-raw", _text(self.request_body)]
        return redact(" ".join(shlex.quote(p) for p in parts))

    def to_dict(self, redact: Redactor) -> dict:
        return {
            "request": f"{self.method} {redact(self.url)}",
            "status": self.status,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "error": self.error,
            "exchange": self.render(redact),
            "replay": self.curl(redact),
        }


def _text(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    if len(text) > MAX_BODY_SHOWN:
        return text[:MAX_BODY_SHOWN] + f"… ({len(body)} bytes)"
    return text


@dataclass
class Recorder:
    """Collects the exchanges of an httpx client; `capture()` scopes them to a fixture or test."""

    redact: Redactor = field(default_factory=Redactor)
    exchanges: list[Exchange] = field(default_factory=list)
    _captures: list[list[Exchange]] = field(default_factory=list)
    replayable: bool = True

    def learn_request(self, request: httpx.Request) -> None:
        for name, value in request.headers.items():
            self.redact.learn_header(name, value)
        self.redact.learn_pairs(parse_qsl(urlsplit(str(request.url)).query))
        body = request.content if hasattr(request, "_content") else b""
        if body and "x-www-form-urlencoded" in request.headers.get("content-type", ""):
            self.redact.learn_pairs(parse_qsl(body.decode("utf-8", "replace")))

    def learn_response(self, response: httpx.Response) -> None:
        for name, value in response.headers.multi_items():
            self.redact.learn_header(name, value)
        location = response.headers.get("location")
        if location:
            parts = urlsplit(location)
            self.redact.learn_pairs(parse_qsl(parts.query) + parse_qsl(parts.fragment))
        content_type = response.headers.get("content-type", "")
        if "json" in content_type:
            with suppress(ValueError):
                self.redact.learn_json(json.loads(response.content))
        elif "jwt" in content_type:
            self.redact.add(response.text.strip())
        else:
            for match in re.finditer(rb'name="(\w+)" value="([^"]*)"', response.content[:65536]):
                key, value = match.group(1).decode(), match.group(2).decode("utf-8", "replace")
                self.redact.learn_pairs([(key, value)])

    def record(
        self,
        request: httpx.Request,
        response: httpx.Response | None,
        started: float,
        error: str | None = None,
    ) -> Exchange:
        self.learn_request(request)
        if response is not None:
            self.learn_response(response)
        exchange = Exchange(
            method=request.method,
            url=str(request.url),
            request_headers=list(request.headers.items()),
            request_body=request.content if hasattr(request, "_content") else b"",
            status=response.status_code if response is not None else None,
            response_headers=list(response.headers.multi_items()) if response is not None else [],
            response_body=response.content if response is not None else b"",
            elapsed_ms=(time.perf_counter() - started) * 1000,
            error=error,
            replayable=self.replayable,
        )
        self.exchanges.append(exchange)
        for capture in self._captures:
            capture.append(exchange)
        return exchange

    @contextmanager
    def capture(self) -> Iterator[list[Exchange]]:
        captured: list[Exchange] = []
        self._captures.append(captured)
        try:
            yield captured
        finally:
            # By identity: two captures holding equal lists are still different captures.
            self._captures[:] = [c for c in self._captures if c is not captured]
