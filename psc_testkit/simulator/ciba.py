"""CIBA poll mode (OpenID CIBA Core 1.0) as PSC runs it: login_hint = idNat, a binding message
shown on the e-CPS app, and PSC's own `channel` parameter (CARD or MOBILE)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from psc_testkit.simulator.clients import Client
from psc_testkit.simulator.http import NO_STORE, OAuthError, parse_uint, read_form
from psc_testkit.simulator.provider import Provider
from psc_testkit.simulator.store import Pending
from psc_testkit.simulator.token import error_response, json_response_for

CHANNELS = {"CARD": "CARD", "MOBILE": "MOBILE"}


def routes(p: Provider, oidc_path: str) -> list[Route]:
    def authenticate(request: Request, form: dict[str, str]) -> Client:
        try:
            return p.authenticator.authenticate(request, form, p.now(), allow_public=False)
        except OAuthError:
            client = p.clients.get(form.get("client_id", ""))
            if "ciba-no-client-authentication" in p.defects and client is not None:
                return client
            raise

    async def backchannel_authentication(request: Request) -> Response:
        d = p.defects
        try:
            form = await read_form(request)
            client = authenticate(request, form)
            if not client.settings.ciba:
                raise OAuthError("unauthorized_client", "CIBA is not enabled for this client")
            scope = tuple(form.get("scope", "").split())
            if "openid" not in scope and "ciba-without-openid" not in p.quirks:
                raise OAuthError("invalid_scope", "the openid scope is required")
            hints = [h for h in ("login_hint", "id_token_hint", "login_hint_token") if h in form]
            if not hints and "ciba-hint-optional" in d:
                form["login_hint"], hints = p.annuaire.professionals[0].id_nat, ["login_hint"]
            if len(hints) != 1:
                raise OAuthError(
                    "invalid_request",
                    "exactly one of login_hint, id_token_hint, login_hint_token is required",
                )
            if hints[0] != "login_hint":
                raise OAuthError("invalid_request", "only login_hint (the idNat) is supported")
            user = p.annuaire.get(form["login_hint"])
            if user is None and "ciba-unknown-user-accepted" in d:
                user = p.annuaire.professionals[0]
            if user is None:
                raise OAuthError("unknown_user_id", "no professional with this idNat")
            binding = form.get("binding_message")
            if binding is not None and not (0 < len(binding) <= 64):
                raise OAuthError("invalid_binding_message", "binding_message must be 1-64 chars")
            channel = form.get("channel", "MOBILE")
            if channel not in CHANNELS:
                raise OAuthError("invalid_request", "channel must be CARD or MOBILE")
            expires_in = p.settings.ciba_expires_in
            if (raw := form.get("requested_expiry")) is not None:
                requested = parse_uint(raw)
                if not requested:  # None (not an integer) or 0
                    raise OAuthError(
                        "invalid_request", "requested_expiry must be a positive integer"
                    )
                expires_in = min(expires_in, requested)
        except OAuthError as exc:
            return error_response(p, exc)
        now = p.now()
        auth_req_id = p.new_secret("auth_req_ids", 32)
        p.store.pending[auth_req_id] = Pending(
            key=auth_req_id,
            user=user,
            auth_mode=CHANNELS[channel],
            approve_at=now + p.settings.ecps_approval_delay,
            expires_at=now + expires_in,
            client_id=client.client_id,
            scope=scope,
            binding_message=binding,
            interval=p.settings.ciba_interval,
            # ciba-slow-down: the interval counts from this acknowledgment.
            last_poll=now if "ciba-slow-down" in p.quirks else 0.0,
        )
        body = {
            "auth_req_id": auth_req_id,
            "expires_in": expires_in,
            "interval": p.settings.ciba_interval,
        }
        if "ciba-no-expires-in" in d:
            del body["expires_in"]
        if "ciba-no-interval" in p.quirks:
            del body["interval"]  # CIBA §7.3: OPTIONAL; "clients MUST use 5 as the default"
        return json_response_for(p, body, 200, NO_STORE)

    return [Route(oidc_path + "/ext/ciba/auth", backchannel_authentication, methods=["POST"])]
