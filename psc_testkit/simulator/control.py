"""The simulator's control API, for tests, drivers and load scenarios — not part of PSC.

GET  /_simulator/users?offset=&limit=      test professionals (idNat, names, professions, modes)
POST /_simulator/clock    {"advance": s}    move the provider's clock forward (0 ≤ s, finite,
                                             a century in all at most); {"reset": true}: back
                                             to real time
POST /_simulator/phone    {"login_hint": idNat, "decision": "approve"|"deny"|"ignore"}
POST /_simulator/rotate-keys                 new signing key; the old one stays in the JWKS
GET  /_simulator/defects                     the defects this instance runs with
GET  /_simulator/issued                      every secret it issued, spent or not (codes,
                                             tokens, session cookies and ids, tx and auth_req_id,
                                             up to 10,000 of each) and who logged in: for
                                             redaction audits
GET  /_simulator/traffic                     back-channel requests (token, userinfo,
                                             introspection, revocation, CIBA) and how many
                                             carried a cookie: how a client behaves
POST /_simulator/outage   {"seconds": N, "mode": "503"}  the provider's public endpoints (both
                                             hosts) answer 503 for N seconds of real time (0
                                             ends an outage); the control API keeps answering.
                                             Answers the seconds left: what an uptime monitor
                                             is tested against
With --rp (RP certification) only:
POST /_simulator/lie      {"lie": name|null}  serve this lie (lies.py) from now on; null: the
                                             truth. Answers the log position it starts at
GET  /_simulator/lies                        the lies this simulator can serve
GET  /_simulator/requests?after=N            every request since log position N (recorder.py)
"""

from __future__ import annotations

import json
import math
import time
import weakref
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from psc_testkit.simulator import lies
from psc_testkit.simulator.http import OAuthError, query_params, read_body
from psc_testkit.simulator.provider import Provider
from psc_testkit.simulator.store import cookie_value

DECISIONS = {"approve", "deny", "ignore"}
CONTROL_PREFIX = "/_simulator/"
OUTAGE_MODES = ("503",)
MAX_OUTAGE = 86_400.0  # a day: longer is a typo


class Outage:
    """Until when (time.monotonic(): real time, whatever the provider's clock says) the
    provider's public endpoints answer 503."""

    def __init__(self) -> None:
        self.until = 0.0

    def left(self) -> float:
        return max(0.0, self.until - time.monotonic())


_OUTAGES: weakref.WeakKeyDictionary[Provider, Outage] = weakref.WeakKeyDictionary()


def outage_of(p: Provider) -> Outage:
    return _OUTAGES.setdefault(p, Outage())


def outage_gate(app: ASGIApp, p: Provider) -> ASGIApp:
    """Around a host's application: during an outage every request but the control API's is
    answered 503 (Retry-After: the seconds left), as a provider behind a load balancer with no
    healthy backend is."""
    outage = outage_of(p)

    async def gate(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and outage.until
            and not scope["path"].startswith(CONTROL_PREFIX)
            and (left := outage.left()) > 0
        ):
            response = JSONResponse(
                {"error": "temporarily_unavailable", "error_description": "simulated outage"},
                503,
                headers={"Retry-After": str(math.ceil(left)), "Cache-Control": "no-store"},
            )
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return gate


def routes(p: Provider) -> list[Route]:
    async def body_json(request: Request) -> dict | None:
        try:
            data = json.loads(await read_body(request) or b"{}")
        except (ValueError, OAuthError):
            return None
        return data if isinstance(data, dict) else None

    def bad(message: str) -> Response:
        return JSONResponse({"error": message}, 400)

    async def users(request: Request) -> Response:
        try:
            params = query_params(request)
            offset = int(params.get("offset", "0"))
            limit = min(int(params.get("limit", "100")), 10_000)
        except (ValueError, OAuthError):
            return bad("offset and limit must be integers")
        rows = [
            {
                "idNat": pro.id_nat,
                "given_name": pro.given_name,
                "family_name": pro.family_name,
                "professions": list(pro.professions),
                "modes": sorted(
                    {a["codeModeExercice"] for e in pro.exercices for a in e["activities"]}
                ),
            }
            for pro in p.annuaire.professionals[offset : offset + limit]
        ]
        return JSONResponse({"total": len(p.annuaire), "users": rows})

    async def clock(request: Request) -> Response:
        data = await body_json(request)
        if data is None:
            return bad("the body must be a JSON object")
        if data.get("reset") is True:
            p.clock.reset()
            return JSONResponse({"offset": p.clock.offset, "now": p.now()})
        try:
            p.clock.advance(data.get("advance", 0))
        except ValueError as exc:
            return bad(str(exc))
        return JSONResponse({"offset": p.clock.offset, "now": p.now()})

    async def phone(request: Request) -> Response:
        data = await body_json(request)
        if data is None:
            return bad("the body must be a JSON object")
        id_nat, decision = data.get("login_hint"), data.get("decision")
        if not isinstance(id_nat, str) or p.annuaire.get(id_nat) is None:
            return bad("login_hint must be the idNat of a test professional")
        if not isinstance(decision, str) or decision not in DECISIONS:  # [] is unhashable
            return bad(f"decision must be one of {sorted(DECISIONS)}")
        p.store.phone_decisions[id_nat] = decision
        return JSONResponse({"login_hint": id_nat, "decision": decision})

    async def rotate(request: Request) -> Response:
        return JSONResponse({"kid": p.keys.rotate()})

    async def defects(request: Request) -> Response:
        return JSONResponse({"defects": sorted(p.defects.names), "quirks": sorted(p.quirks.names)})

    async def traffic(request: Request) -> Response:
        return JSONResponse(dict(p.traffic))

    async def issued(request: Request) -> Response:
        store = p.store

        def every(kind: str, live: Iterable[str]) -> list[str]:
            """What was issued of `kind`, spent or not, then what the tables still hold (a
            defect's value made elsewhere), each once."""
            return list(dict.fromkeys([*store.issued.get(kind, ()), *live]))

        sids = every("session_ids", store.sessions)
        users = dict(store.logged_in)
        users.update({s.user.id_nat: s.user for s in store.sessions.values()})
        users.update(
            {
                t.grant.session.user.id_nat: t.grant.session.user
                for t in store.access_tokens.values()
            }
        )
        return JSONResponse(
            {
                "codes": every("codes", store.codes),
                "access_tokens": every("access_tokens", store.access_tokens),
                "refresh_tokens": every("refresh_tokens", store.refresh_tokens),
                # As the Set-Cookie header carries them (percent-encoded where RFC 6265
                # requires); session_ids as the tokens' sid and session_state carry them.
                "session_cookies": list(dict.fromkeys(cookie_value(sid) for sid in sids)),
                "session_ids": sids,
                # The login pages' tx and CIBA's auth_req_id (both keys of store.pending).
                "transactions": list(
                    dict.fromkeys(
                        [
                            *every("transactions", store.transactions),
                            *every("auth_req_ids", store.pending),
                        ]
                    )
                ),
                # Only those still waiting for an answer: a CIBA request leaves once answered.
                "pending": list(dict.fromkeys([*store.transactions, *store.pending])),
                "client_secrets": [
                    c.settings.client_secret for c in p.clients.values() if c.settings.client_secret
                ],
                "users": [
                    {"idNat": u.id_nat, "given_name": u.given_name, "family_name": u.family_name}
                    for u in users.values()
                ],
                "awkward_secrets": p.settings.awkward_secrets,
            }
        )

    async def outage(request: Request) -> Response:
        data = await body_json(request)
        seconds = data.get("seconds") if data is not None else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return bad('the body must be {"seconds": N, "mode": "503"}')
        if not math.isfinite(seconds) or not 0 <= seconds <= MAX_OUTAGE:
            return bad(f"seconds must be between 0 and {MAX_OUTAGE:g}")
        mode = data.get("mode", "503")
        if mode not in OUTAGE_MODES:
            return bad(f"mode must be one of {list(OUTAGE_MODES)}")
        state = outage_of(p)
        state.until = time.monotonic() + seconds if seconds else 0.0
        return JSONResponse({"seconds": state.left(), "mode": mode})

    async def lie(request: Request) -> Response:
        data = await body_json(request)
        if data is None or not (data.get("lie") is None or isinstance(data.get("lie"), str)):
            return bad('the body must be {"lie": name} or {"lie": null}')
        try:
            p.serve_lie(data.get("lie"))
        except lies.UnknownLie as exc:
            return bad(str(exc))
        return JSONResponse({"lie": p.lie, "after": p.request_log.last})

    async def lie_names(request: Request) -> Response:
        return JSONResponse(
            {
                "lies": [
                    {"name": x.name, "channel": x.channel, "description": x.description}
                    for x in lies.LIES.values()
                ]
            }
        )

    async def requests(request: Request) -> Response:
        try:
            after = int(query_params(request).get("after", "0"))
        except (ValueError, OAuthError):
            return bad("after must be an integer")
        log = p.request_log
        return JSONResponse({"requests": log.after(after), "last": log.last})

    rp = []
    if p.request_log is not None:
        rp = [
            Route("/_simulator/lie", lie, methods=["POST"]),
            Route("/_simulator/lies", lie_names),
            Route("/_simulator/requests", requests),
        ]
    return [
        *rp,
        Route("/_simulator/users", users),
        Route("/_simulator/clock", clock, methods=["POST"]),
        Route("/_simulator/phone", phone, methods=["POST"]),
        Route("/_simulator/rotate-keys", rotate, methods=["POST"]),
        Route("/_simulator/defects", defects),
        Route("/_simulator/issued", issued),
        Route("/_simulator/traffic", traffic),
        Route("/_simulator/outage", outage, methods=["POST"]),
    ]
