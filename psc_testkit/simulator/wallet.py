"""The "wallet" host: PSC's authorization endpoint and its authentication pages.

Order of validation follows RFC 6749 §4.1.2.1: an unknown client or a redirect_uri that is not
registered gets an error page and no redirect at all; every later error goes back to the
client's redirect_uri with `error`, `error_description`, `state` and `iss` (RFC 9207).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from psc_testkit.simulator import pages
from psc_testkit.simulator.http import OAuthError, parse_params, query_params, read_form
from psc_testkit.simulator.provider import SESSION_COOKIE, Provider
from psc_testkit.simulator.store import AuthRequest, Pending, Session, new_id

PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
PROMPTS = {"none", "login", "consent", "select_account"}
RESPONSE_MODES = {"query", "fragment", "form_post"}
NO_CACHE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class Redirectable(Exception):
    """An error that goes back to the client (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status, headers=NO_CACHE)


def routes(p: Provider) -> list[Route]:
    def respond(request: AuthRequest, params: dict[str, str]) -> Response:
        """Send the authorization response by the requested response mode."""
        if request.state is not None and "state-not-echoed" not in p.defects:
            params["state"] = request.state
        params["iss"] = p.issuer
        if request.response_mode == "form_post":
            return _html(pages.form_post(request.redirect_uri, params))
        if request.response_mode == "fragment":
            location = f"{request.redirect_uri}#{urlencode(params)}"
        else:
            sep = "&" if "?" in request.redirect_uri else "?"
            location = f"{request.redirect_uri}{sep}{urlencode(params)}"
        return RedirectResponse(location, 302, headers=NO_CACHE)

    def fail(request: AuthRequest, error: str, description: str) -> Response:
        return respond(request, {"error": error, "error_description": description})

    def succeed(request: AuthRequest, session: Session) -> Response:
        session.last_seen = p.now()
        return respond(request, {"code": p.issue_code(request, session)})

    def check_hint(params: dict[str, str], client_id: str) -> str | None:
        """The sub of a valid id_token_hint (expired tokens are fine: OIDC Core §3.1.2.1)."""
        hint = params.get("id_token_hint")
        if not hint:
            return None
        try:
            claims = p.keys.verify_hint(hint, p.issuer, audience=client_id)
        except jwt.InvalidTokenError as exc:
            raise Redirectable("invalid_request", f"id_token_hint is not valid: {exc}") from None
        return claims["sub"]

    def parse_request(params: dict[str, str], client_id: str, redirect_uri: str) -> AuthRequest:
        response_mode = params.get("response_mode") or "query"
        request = AuthRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=tuple(params.get("scope", "").split()),
            state=params.get("state"),
            nonce=params.get("nonce"),
            code_challenge=params.get("code_challenge"),
            code_challenge_method=params.get("code_challenge_method"),
            response_mode=response_mode if response_mode in RESPONSE_MODES else "query",
            max_age=None,
            prompt=frozenset(params.get("prompt", "").split()),
            login_hint=params.get("login_hint"),
            acr_values=tuple(params.get("acr_values", "").split()),
            ui_locales=params.get("ui_locales"),
            created=p.now(),
        )
        return request

    def validate(params: dict[str, str], request: AuthRequest) -> None:
        client = p.clients[request.client_id]
        response_mode = params.get("response_mode")
        if response_mode and response_mode not in RESPONSE_MODES:
            raise Redirectable("invalid_request", f"unsupported response_mode {response_mode}")
        response_type = params.get("response_type")
        if not response_type:
            raise Redirectable("invalid_request", "response_type is required")
        if response_type != "code":
            raise Redirectable("unsupported_response_type", "only response_type=code is supported")
        if "request" in params:
            raise Redirectable("request_not_supported", "request objects are not supported")
        if "request_uri" in params:
            raise Redirectable("request_uri_not_supported", "request_uri is not supported")
        if "openid" not in request.scope:
            raise Redirectable("invalid_scope", "the openid scope is required")
        if request.code_challenge is None:
            if request.code_challenge_method:
                raise Redirectable(
                    "invalid_request", "code_challenge_method without code_challenge"
                )
            if client.public:
                raise Redirectable("invalid_request", "PKCE is required for public clients")
        else:
            method = request.code_challenge_method or "plain"
            if method not in ("S256", "plain"):
                raise Redirectable("invalid_request", f"unsupported code_challenge_method {method}")
            if not PKCE_CHALLENGE.match(request.code_challenge):
                raise Redirectable("invalid_request", "code_challenge must be 43-128 characters")
            request.code_challenge_method = method
        unknown = request.prompt - PROMPTS
        if unknown:
            raise Redirectable("invalid_request", f"unsupported prompt value(s) {sorted(unknown)}")
        if "none" in request.prompt and len(request.prompt) > 1:
            raise Redirectable("invalid_request", "prompt=none cannot be combined")
        if (raw := params.get("max_age")) is not None:
            if not raw.isdigit():
                raise Redirectable("invalid_request", "max_age must be a non-negative integer")
            request.max_age = int(raw)

    async def authorize(request: Request) -> Response:
        try:
            if request.method == "POST":
                params = await read_form(request)
            else:
                params = query_params(request)
        except OAuthError as exc:
            return _html(pages.error("fr", exc.description), exc.status)
        lang = pages.language(params.get("ui_locales"))
        client_id = params.get("client_id", "")
        client = p.clients.get(client_id)
        if client is None:
            return _html(pages.error(lang, "Client inconnu / unknown client_id"), 400)
        redirect_uri = params.get("redirect_uri", "")
        registered = redirect_uri in client.settings.redirect_uris
        if not registered and not (redirect_uri and "redirect-uri-not-checked" in p.defects):
            return _html(pages.error(lang, "redirect_uri non enregistrée / not registered"), 400)
        auth_request = parse_request(params, client_id, redirect_uri)
        try:
            validate(params, auth_request)
            hint_sub = check_hint(params, client_id)
        except Redirectable as exc:
            return fail(auth_request, exc.error, exc.description)

        session = p.live_session(request.cookies.get(SESSION_COOKIE))
        now = p.now()
        needs_login = (
            session is None
            or "login" in auth_request.prompt
            or (auth_request.max_age is not None and now - session.auth_time > auth_request.max_age)
        )
        if session is not None and hint_sub is not None and hint_sub != p.subject(session):
            needs_login = True
        if not needs_login:
            assert session is not None
            return succeed(auth_request, session)
        if "none" in auth_request.prompt:
            return fail(auth_request, "login_required", "the user must authenticate")
        tx = new_id(16)
        p.store.transactions[tx] = auth_request
        return _html(pages.login(lang, tx, auth_request.login_hint))

    async def login(request: Request) -> Response:
        try:
            form = await read_form(request)
        except OAuthError as exc:
            return _html(pages.error("fr", exc.description), exc.status)
        tx = form.get("tx", "")
        auth_request = p.store.transactions.get(tx)
        if auth_request is None:
            return _html(
                pages.error("fr", "Demande expirée ou inconnue / unknown transaction"), 400
            )
        lang = pages.language(auth_request.ui_locales)
        user = p.annuaire.get(form.get("idNat", "").strip())
        if user is None:
            message = "Identifiant inconnu / unknown idNat"
            return _html(pages.login(lang, tx, form.get("idNat"), message), 401)
        method = form.get("method", "cps")
        if method == "cps":
            del p.store.transactions[tx]
            return complete(auth_request, user.id_nat, "CARD")
        if method != "ecps":
            return _html(pages.login(lang, tx, user.id_nat, f"unknown method {method}"), 400)
        now = p.now()
        pending = Pending(
            key=tx,
            user=user,
            auth_mode="MOBILE",
            approve_at=now + p.settings.ecps_approval_delay,
            expires_at=now + 120,
            request=auth_request,
        )
        p.store.pending[tx] = pending
        del p.store.transactions[tx]
        return RedirectResponse(f"/auth/ecps?tx={tx}", 303, headers=NO_CACHE)

    def complete(auth_request: AuthRequest, id_nat: str, auth_mode: str) -> Response:
        session = p.open_session(id_nat, auth_mode)
        response = succeed(auth_request, session)
        response.set_cookie(
            SESSION_COOKIE, session.sid, httponly=True, secure=p.tls, samesite="lax", path="/"
        )
        return response

    async def ecps_wait(request: Request) -> Response:
        tx = parse_params(request.scope.get("query_string", b"")).get("tx", "")
        pending = p.store.pending.get(tx)
        if pending is None or pending.request is None:
            return _html(
                pages.error("fr", "Demande expirée ou inconnue / unknown transaction"), 400
            )
        status = p.phone_status(pending)
        auth_request = pending.request
        if status == "approved":
            del p.store.pending[tx]
            return complete(auth_request, pending.user.id_nat, pending.auth_mode)
        if status in ("denied", "expired"):
            del p.store.pending[tx]
            return fail(auth_request, "access_denied", f"e-CPS authentication {status}")
        return _html(pages.ecps_wait(pages.language(auth_request.ui_locales), tx))

    async def ecps_status(request: Request) -> Response:
        tx = parse_params(request.scope.get("query_string", b"")).get("tx", "")
        pending = p.store.pending.get(tx)
        status = "unknown" if pending is None else p.phone_status(pending)
        return JSONResponse({"status": status}, headers=NO_CACHE)

    return [
        Route("/auth", authorize, methods=["GET", "POST"]),
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/ecps", ecps_wait, methods=["GET"]),
        Route("/auth/ecps/status", ecps_status, methods=["GET"]),
    ]
