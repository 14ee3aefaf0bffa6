"""In-memory state of the provider: SSO sessions, pending logins, codes, grants and tokens.

Everything lives in dicts keyed by an unguessable value and carries its expiry; a periodic sweep
drops what has expired so a long load test does not grow memory without bound.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from psc_testkit.simulator.annuaire import Professional

# --awkward-secrets puts characters that break naive encoding, decoding and redaction in every
# opaque value (query and form separators, base64 and percent signs, a "%2F" that a second
# decoding would turn into "/", a backslash, non-ASCII in two widths), as many as the value's
# own specification allows, so the simulator stays a conforming provider:
AWKWARD = {
    # Nothing restricts these: the SSO session id (cookie, sid, session_state) and the login
    # pages' tx.
    "session_ids": "+/=&%2F\\é€",
    "transactions": "+/=&%2F\\é€",
    # RFC 6749 Appendix A.11 and A.17: code and refresh-token = 1*VSCHAR (%x20-7E), ASCII.
    "codes": "+/=&%2F\\",
    "refresh_tokens": "+/=&%2F\\",
    # CIBA Core §7.3: "The OpenID Provider MUST restrict the characters used [in auth_req_id]
    # to 'A'-'Z', 'a'-'z', '0'-'9', '.', '-' and '_'": "." is all that is left to add.
    "auth_req_ids": ".",
}
# RFC 6265 cookie-octets that Python's cookie writer leaves unquoted, minus "%" (the escape):
# "+" and "&" stay as they are in the session cookie, the rest is percent-encoded.
COOKIE_SAFE = "!#$&'*+-.^_`|~:"
ISSUED_KEPT = 10_000  # per kind: a redaction audit's run fits, a load test cannot grow it


def new_id(nbytes: int = 32, awkward: str = "") -> str:
    """A random url-safe value of `nbytes` bytes of entropy, with `awkward` inside it."""
    value = secrets.token_urlsafe(nbytes)
    return f"{value[:6]}{awkward}{value[6:]}" if awkward else value


def cookie_value(sid: str) -> str:
    """The session id as the session cookie carries it (RFC 6265 §4.1.1 cookie-octets)."""
    return quote(sid, safe=COOKIE_SAFE)


def sid_of_cookie(value: str | None) -> str | None:
    """The session id a session cookie names ("%ff" and other junk decode to no session)."""
    return unquote(value) if value else None


@dataclass(slots=True)
class AuthRequest:
    """A validated authorization request, waiting for (or past) user authentication."""

    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    response_mode: str
    max_age: int | None
    prompt: frozenset[str]
    login_hint: str | None
    acr_values: tuple[str, ...]
    ui_locales: str | None
    created: float


@dataclass(slots=True)
class Session:
    """The SSO session (PSC: 4 h at most, 30 min idle)."""

    sid: str
    user: Professional
    auth_mode: str  # CARD or MOBILE
    auth_time: int
    created: float
    last_seen: float
    ended: bool = False
    consented: set[str] = field(default_factory=set)  # client ids (the consent-page quirk)


@dataclass(slots=True)
class Pending:
    """A login (browser e-CPS or CIBA) waiting for the phone's answer."""

    key: str
    user: Professional
    auth_mode: str
    approve_at: float
    expires_at: float
    request: AuthRequest | None = None  # browser flow
    client_id: str | None = None  # CIBA
    scope: tuple[str, ...] = ()
    binding_message: str | None = None
    interval: int = 5
    last_poll: float = 0.0
    decision: str = "approve"


@dataclass(slots=True)
class Grant:
    """What one authorization (code or CIBA) produced; revoking it kills all its tokens."""

    client_id: str
    session: Session
    scope: tuple[str, ...]
    nonce: str | None
    cert_thumbprint: str | None = None
    revoked: bool = False
    access_jtis: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Code:
    value: str
    request: AuthRequest
    session: Session
    expires_at: float
    grant: Grant | None = None  # set once exchanged, so a replay can revoke it


@dataclass(slots=True)
class AccessToken:
    jti: str
    value: str
    grant: Grant
    claims: dict
    expires_at: float
    revoked: bool = False


@dataclass(slots=True)
class RefreshToken:
    value: str
    grant: Grant
    issued_at: float
    expires_at: float
    rotated: bool = False


class Store:
    def __init__(self) -> None:
        self.transactions: dict[str, AuthRequest] = {}
        self.sessions: dict[str, Session] = {}
        self.pending: dict[str, Pending] = {}
        self.codes: dict[str, Code] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.assertion_jtis: dict[str, float] = {}
        self.phone_decisions: dict[str, str] = {}
        # Every secret issued, spent or not (the tables above forget used codes, tx and ended
        # sessions), and who logged in: what GET /_simulator/issued lists for redaction audits.
        self.issued: dict[str, deque[str]] = {}
        self.logged_in: dict[str, Professional] = {}

    def remember(self, kind: str, value: str) -> None:
        kept = self.issued.get(kind)
        if kept is None:
            kept = self.issued[kind] = deque(maxlen=ISSUED_KEPT)
        kept.append(value)

    def age(self, seconds: float) -> None:
        """Let `seconds` pass for everything issued so far, and for nothing issued later (the
        human-paced quirk): expiries and session times move back; new ones are stamped with
        the real clock, so the tokens' iat and exp stay true to it."""
        for session in self.sessions.values():
            session.auth_time -= int(seconds)
            session.created -= seconds
            session.last_seen -= seconds
        for table in (self.pending, self.codes, self.access_tokens, self.refresh_tokens):
            for item in table.values():
                item.expires_at -= seconds  # type: ignore[attr-defined]

    def sweep(self, now: float, session_max: int, session_idle: int) -> int:
        """Drop expired entries; return how many were dropped."""
        dropped = 0
        for table, expired in (
            (self.transactions, lambda r: now - r.created > 1800),
            (self.pending, lambda p: p.expires_at < now - 60),
            (self.codes, lambda c: c.expires_at < now - 600),
            (self.refresh_tokens, lambda r: r.expires_at < now),
            (
                self.sessions,
                lambda s: (
                    s.ended or now - s.created > session_max or now - s.last_seen > session_idle
                ),
            ),
        ):
            dead = [k for k, v in table.items() if expired(v)]
            for k in dead:
                del table[k]
            dropped += len(dead)
        dead_at = [k for k, v in self.access_tokens.items() if v.expires_at < now]
        for k in dead_at:
            del self.access_tokens[k]
        dead_jti = [k for k, exp in self.assertion_jtis.items() if exp < now]
        for k in dead_jti:
            del self.assertion_jtis[k]
        return dropped + len(dead_at) + len(dead_jti)
