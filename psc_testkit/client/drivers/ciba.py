"""Logs in through CIBA (poll mode): the tester approves on the e-CPS app.

The driver starts a backchannel authentication request for the professional (login_hint =
idNat, a two-digit binding message as PSC shows it), tells the person at the terminal what to
approve, and polls the token endpoint at the pace the provider asks (CIBA Core §7.3, longer after
slow_down) until the app answered, the request expired or `login_timeout` passed.

What it cannot do: log in through the authorization endpoint. CIBA gives tokens, never an
authorization code, so checks that need a front-channel login (a code, the SSO session, prompt,
max_age, form_post…) are skipped with the reason NoFrontChannel carries, and the harness gets
the tokens a check asks for through CIBA instead (Harness.tokens).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TextIO

import httpx

from psc_testkit.client import flow
from psc_testkit.client.config import ClientProfile, DriverProfile
from psc_testkit.client.drivers import LoginError, NoFrontChannel
from psc_testkit.client.drivers.terminal import say
from psc_testkit.client.flow import AuthorizationResponse
from psc_testkit.client.jsonsafe import loads

NO_CODE = "the ciba driver logs in through CIBA: no authorization code"
PENDING = ("authorization_pending", "slow_down")
ASKS = {
    "approve": "approve it on your e-CPS app",
    "deny": "REFUSE it on your e-CPS app",
    "ignore": "do NOT answer it on your e-CPS app (let it wait)",
}

Send = Callable[[flow.HttpRequest], httpx.Response]


def _error(response: httpx.Response) -> str | None:
    try:
        data = loads(response.content)
    except ValueError:
        return None
    return data.get("error") if isinstance(data, dict) else None


class CibaDriver:
    def __init__(self, profile: DriverProfile, out: TextIO | None = None) -> None:
        self.login_timeout = profile.login_timeout
        self.out = out

    def authenticate(
        self, browser: httpx.Client, url: str, redirect_uri: str, user: str
    ) -> AuthorizationResponse:
        raise NoFrontChannel(NO_CODE)

    def ask(self, user: str, binding_message: str | None, decision: str = "approve") -> None:
        """Tell the tester what to do with the request now on its way to their e-CPS app."""
        shown = f"showing {binding_message}" if binding_message else "without binding message"
        say(self.out, f"CIBA request for {user} ({shown}): {ASKS[decision]}.")

    def tokens(
        self,
        send: Send,
        meta: dict,
        client: ClientProfile,
        user: str,
        scope: str,
        acr_values: str | None = None,
    ) -> httpx.Response:
        """A CIBA login the tester approves; the token endpoint's last answer (the tokens, or
        the error that ended the wait)."""
        binding = f"{secrets.randbelow(100):02d}"
        started = send(
            flow.ciba_request(
                meta, client, user, scope, binding_message=binding, acr_values=acr_values
            )
        )
        try:
            body = loads(started.content)
        except ValueError:
            body = None
        if started.status_code != 200 or not isinstance(body, dict) or "auth_req_id" not in body:
            error = _error(started) or "no auth_req_id"
            raise LoginError(f"the CIBA request was refused: HTTP {started.status_code} {error}")
        self.ask(user, binding)
        interval = body.get("interval")
        expires_in = body.get("expires_in")
        return self.poll(
            send,
            meta,
            client,
            str(body["auth_req_id"]),
            interval if isinstance(interval, int) else 5,
            expires_in if isinstance(expires_in, int) else None,
        )

    def poll(
        self,
        send: Send,
        meta: dict,
        client: ClientProfile,
        auth_req_id: str,
        interval: float = 5,
        expires_in: float | None = None,
    ) -> httpx.Response:
        """Poll until the request is no longer pending: its answer (tokens, access_denied,
        expired_token…), at the pace `poll` keeps, on the wall clock."""
        limit = min(self.login_timeout, expires_in) if expires_in else self.login_timeout
        response = poll(send, meta, client, auth_req_id, interval=interval, limit=limit)
        if response is None or _error(response) in PENDING:
            raise LoginError(f"no answer from the e-CPS app within {limit:g} s")
        return response


def poll(
    send: Send,
    meta: dict,
    client: ClientProfile,
    auth_req_id: str,
    *,
    interval: float = 5,
    limit: float,
    wait: Callable[[float], None] = time.sleep,
    until_answered: bool = True,
    max_slow_downs: int | None = None,
) -> httpx.Response | None:
    """Poll the token endpoint for a CIBA request as a client must: `interval` seconds before
    each poll, the first too (CIBA §7.3: "The minimum amount of time in seconds that the Client
    MUST wait between polling requests"; 5 s when the provider gives none); after slow_down 5 s
    more for this and every later poll (§11).

    Returns the first answer that is neither slow_down nor (`until_answered`)
    authorization_pending; the slow_down past `max_slow_downs`; or, once `limit` seconds have
    been waited in all, the last answer (None if there was none). `wait` lets the time pass: a
    sleep, or the simulator's clock moved."""
    waited = 0.0
    slow_downs = 0
    response = None
    while waited + interval <= limit:
        wait(interval)
        waited += interval
        response = send(flow.ciba_token_request(meta, client, auth_req_id))
        error = _error(response)
        if error == "slow_down":
            slow_downs += 1
            if max_slow_downs is not None and slow_downs > max_slow_downs:
                return response
            interval += 5  # CIBA §11: "the interval MUST be increased by at least 5 seconds"
        elif error != "authorization_pending" or not until_answered:
            return response
    return response
