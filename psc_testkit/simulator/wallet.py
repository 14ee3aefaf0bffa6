"""The "wallet" host: PSC's authorization endpoint and its authentication pages.

Order of validation follows RFC 6749 §4.1.2.1: an unknown client or a redirect_uri that is not
registered gets an error page and no redirect at all; every later error goes back to the
client's redirect_uri with `error`, `error_description`, `state` and `iss` (RFC 9207).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import replace
from urllib.parse import quote, urlencode

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from psc_testkit.simulator import lies, pages
from psc_testkit.simulator.http import OAuthError, parse_uint, query_params, read_form
from psc_testkit.simulator.provider import Provider
from psc_testkit.simulator.quirks import HUMAN_PACE
from psc_testkit.simulator.store import AuthRequest, Pending, Session, new_id

PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
PROMPTS = {"none", "login", "consent", "select_account"}
KNOWN_PARAMETERS = {
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "acr_values",
    "ui_locales",
    "claims_locales",
    "display",
    "request",
    "request_uri",
    "claims",
}
RESPONSE_MODES = {"query", "fragment", "form_post"}
NO_CACHE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Quirks: a prompt=login on a session younger than this is answered silently
# (prompt-login-delayed); how many parked answers (redirect hops, consent pages) are kept.
PROMPT_LOGIN_DELAY = 5
PARKED_KEPT = 1000
LOGIN_COOKIE = "PSC_AUTH_SESSION"


class Redirectable(Exception):
    """An error that goes back to the client (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6)."""

    def __init__(self, error: str, description: str, page: bool = False) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        # An error the OIDF also accepts as an error page (the error-page-* quirks show one).
        self.page = page


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status, headers=NO_CACHE)


def routes(p: Provider) -> list[Route]:
    q = p.quirks
    # Answers waiting at the end of a redirect chain or behind a page (quirks): key -> answer.
    parked: OrderedDict[str, Response] = OrderedDict()
    consents: OrderedDict[str, tuple[AuthRequest, Session]] = OrderedDict()
    login_cookies: OrderedDict[str, str] = OrderedDict()  # tx -> the login-cookie value

    def keep(table: OrderedDict, value: object) -> str:
        key = new_id(16)
        table[key] = value
        while len(table) > PARKED_KEPT:
            table.popitem(last=False)
        return key

    def hops(response: Response) -> Response:
        """redirect-hops: reach `response` through three redirects inside the wallet host."""
        if "redirect-hops" not in q:
            return response
        key = keep(parked, response)
        return RedirectResponse(f"/auth/hop?h={quote(key, safe='')}&n=2", 302, headers=NO_CACHE)

    def after_login(response: Response) -> Response:
        """auto-submit-hop: a page that POSTs itself to an internal URL before the answer."""
        if "auto-submit-hop" not in q:
            return response
        return _html(pages.form_post("/auth/continue", {"h": keep(parked, response)}))

    def respond(
        request: AuthRequest, params: dict[str, str], session: Session | None = None
    ) -> Response:
        """Send the authorization response by the requested response mode."""
        if request.state is not None:
            params["state"] = request.state
        params["iss"] = p.issuer
        if "authorization-response-extra-params" in q:
            params = extra_params(request, params, session)
        if p.defects:
            d = p.defects
            error = "error" in params
            if ("state-not-echoed" in d and not error) or ("error-state-not-echoed" in d and error):
                params.pop("state", None)
            if "iss-parameter-wrong" in d:
                params["iss"] = p.issuer + "/other"
            if "error-description-non-ascii" in d and error:
                params["error_description"] += " (échec)"
            if "form-post-ignored" in d and request.response_mode == "form_post":
                request.response_mode = "query"
            if "code-in-fragment" in d and "code" in params and request.response_mode == "query":
                request.response_mode = "fragment"
        if p.lie is not None:
            params = lie_in_callback(params)
        if request.response_mode == "form_post":
            return hops(_html(pages.form_post(request.redirect_uri, params)))
        if request.response_mode == "fragment":
            location = f"{request.redirect_uri}#{urlencode(params)}"
        else:
            sep = "&" if "?" in request.redirect_uri else "?"
            location = f"{request.redirect_uri}{sep}{urlencode(params)}"
        return hops(RedirectResponse(location, 302, headers=NO_CACHE))

    def lie_in_callback(params: dict[str, str]) -> dict[str, str]:
        """The callback lies of lies.py (the state-missing and iss lies are defects)."""
        lie = p.lie
        if lie == lies.STATE_WRONG:
            params["state"] = new_id(16)
        elif lie == lies.ACCESS_DENIED and "code" in params:
            del params["code"]
            # error first, as an error response reads (RFC 6749 §4.1.2.1)
            params = {
                "error": "access_denied",
                "error_description": "the user refused",
                **params,
            }
        elif lie == lies.CODE_OF_ANOTHER_CLIENT and "code" in params:
            code = p.store.codes[params["code"]]
            code.request = replace(code.request, client_id=lies.OTHER_CLIENT)
        return params

    def extra_params(
        request: AuthRequest, params: dict[str, str], session: Session | None
    ) -> dict[str, str]:
        """authorization-response-extra-params: Keycloak's session_state (OIDC Session
        Management §3: a hash of the client, its origin and the OP's browser state, a salt)
        and one more unknown parameter, iss first and state last."""
        salt = new_id(6)
        head = {"iss": params.pop("iss")}
        if session is not None:
            browser_state = f"{request.client_id} {request.redirect_uri} {session.sid} {salt}"
            digest = hashlib.sha256(browser_state.encode()).hexdigest()
            head["session_state"] = f"{digest}.{salt}"
        head["psc_simulator_hint"] = "unrecognized-parameter"
        state = params.pop("state", None)
        tail = {"state": state} if state is not None else {}
        return {**head, **dict(reversed(list(params.items()))), **tail}

    def fail(request: AuthRequest, error: str, description: str) -> Response:
        return respond(request, {"error": error, "error_description": description})

    def succeed(request: AuthRequest, session: Session) -> Response:
        session.last_seen = p.now()
        return respond(request, {"code": p.issue_code(request, session)}, session)

    def needs_consent(request: AuthRequest, session: Session) -> bool:
        return "consent-page" in q and (
            request.client_id not in session.consented or "consent" in request.prompt
        )

    def consent_page(request: AuthRequest, session: Session) -> Response:
        key = keep(consents, (request, session))
        lang = pages.language(request.ui_locales)
        return _html(pages.consent(lang, "/auth/consent", key, request.client_id))

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
        d = p.defects
        response_mode = params.get("response_mode")
        if response_mode and response_mode not in RESPONSE_MODES:
            raise Redirectable("invalid_request", f"unsupported response_mode {response_mode}")
        response_type = params.get("response_type")
        if not response_type and "response-type-defaults-to-code" in d:
            response_type = "code"
        if response_type == "token" and "response-type-token-answered-with-code" in d:
            response_type = "code"
        if not response_type:
            raise Redirectable("invalid_request", "response_type is required", page=True)
        if response_type != "code":
            raise Redirectable(
                "unsupported_response_type", "only response_type=code is supported", page=True
            )
        if "request" in params and "request-object-ignored" not in d:
            raise Redirectable("request_not_supported", "request objects are not supported")
        if "request_uri" in params and "request-uri-ignored" not in d:
            raise Redirectable("request_uri_not_supported", "request_uri is not supported")
        if "openid" not in request.scope:
            raise Redirectable("invalid_scope", "the openid scope is required")
        if d:
            reject_for_defects(params, request)
        if request.code_challenge is None:
            if request.code_challenge_method:
                raise Redirectable(
                    "invalid_request", "code_challenge_method without code_challenge", page=True
                )
            if client.public and "public-client-without-pkce" not in d:
                raise Redirectable(
                    "invalid_request", "PKCE is required for public clients", page=True
                )
        else:
            method = request.code_challenge_method or "plain"
            if method not in ("S256", "plain"):
                raise Redirectable(
                    "invalid_request", f"unsupported code_challenge_method {method}", page=True
                )
            if not PKCE_CHALLENGE.match(request.code_challenge):
                raise Redirectable(
                    "invalid_request", "code_challenge must be 43-128 characters", page=True
                )
            request.code_challenge_method = method
        unknown = request.prompt - PROMPTS
        if unknown:
            raise Redirectable("invalid_request", f"unsupported prompt value(s) {sorted(unknown)}")
        if "none" in request.prompt and len(request.prompt) > 1:
            raise Redirectable("invalid_request", "prompt=none cannot be combined")
        if (raw := params.get("max_age")) is not None:
            request.max_age = parse_uint(raw)
            if request.max_age is None:
                raise Redirectable(
                    "invalid_request", "max_age must be a non-negative integer (ASCII digits)"
                )

    def reject_for_defects(params: dict[str, str], request: AuthRequest) -> None:
        """Defects that make the endpoint refuse what it should accept."""
        d = p.defects
        if "nonce-required" in d and not request.nonce:
            raise Redirectable("invalid_request", "nonce is required")
        if "unknown-parameter-rejected" in d and set(params) - KNOWN_PARAMETERS:
            raise Redirectable("invalid_request", "unknown parameter")
        if "scope-order-sensitive" in d and request.scope[:1] != ("openid",):
            raise Redirectable("invalid_scope", "scope must start with openid")
        if "display-popup-rejected" in d and params.get("display") == "popup":
            raise Redirectable("invalid_request", "display=popup is not supported")
        if "ui-locales-rejected" in d and set((request.ui_locales or "").split()) - {"fr", "en"}:
            raise Redirectable("invalid_request", "unsupported ui_locales")
        if "display-page-rejected" in d and params.get("display") == "page":
            raise Redirectable("invalid_request", "display=page is not supported")
        if "claims-locales-rejected" in d and params.get("claims_locales", "fr") != "fr":
            raise Redirectable("invalid_request", "unsupported claims_locales")
        if "login-hint-rejected" in d and request.login_hint:
            raise Redirectable("invalid_request", "login_hint is not supported")
        if "id-token-hint-rejected" in d and "id_token_hint" in params:
            raise Redirectable("login_required", "the user must authenticate")

    async def authorize(request: Request) -> Response:
        if "human-paced" in p.quirks:
            # The tester takes minutes before each new login: what was issued before ages.
            p.store.age(HUMAN_PACE)
        if request.method == "POST" and "authorize-post-unsupported" in p.defects:
            return _html(pages.error("fr", "POST is not supported"), 405)
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
        redirect_uri = params.get("redirect_uri", "")
        if client is None:
            if redirect_uri and "unknown-client-redirected" in p.defects:
                location = f"{redirect_uri}?{urlencode({'error': 'unauthorized_client'})}"
                return RedirectResponse(location, 302, headers=NO_CACHE)
            return _html(pages.error(lang, "Client inconnu / unknown client_id"), 400)
        if not redirect_uri_allowed(redirect_uri, client.settings.redirect_uris):
            return _html(pages.error(lang, "redirect_uri non enregistrée / not registered"), 400)
        auth_request = parse_request(params, client_id, redirect_uri)
        try:
            validate(params, auth_request)
            hint_sub = check_hint(params, client_id)
        except Redirectable as exc:
            if exc.page and ("error-page-400" in q or "error-page-200" in q):
                status = 400 if "error-page-400" in q else 200
                return _html(pages.error(lang, f"{exc.error}: {exc.description}"), status)
            return fail(auth_request, exc.error, exc.description)

        session = p.cookie_session(request.cookies)
        if session and "none" in auth_request.prompt and "prompt-none-refused" in p.defects:
            return fail(auth_request, "login_required", "the user must authenticate")
        # Defects that show the login page despite prompt=none, without or with a session.
        shows_login = "none" in auth_request.prompt and (
            "prompt-none-shows-login" in p.defects
            if session is None
            else "prompt-none-with-session-shows-login" in p.defects
        )
        if (
            session is not None
            and not shows_login
            and not needs_login(auth_request, session, hint_sub)
        ):
            if not needs_consent(auth_request, session):
                return succeed(auth_request, session)
            if "none" in auth_request.prompt:
                return fail(auth_request, "consent_required", "the user must consent")
            return consent_page(auth_request, session)
        if "none" in auth_request.prompt and not shows_login:
            error = "interaction_required" if "prompt-none-interaction-required" in q else None
            return fail(auth_request, error or "login_required", "the user must authenticate")
        tx = p.new_secret("transactions", 16)
        p.store.transactions[tx] = auth_request
        page = _html(pages.login(lang, tx, auth_request.login_hint))
        if "login-cookie" in q:
            value = new_id(16)
            login_cookies[tx] = value
            while len(login_cookies) > PARKED_KEPT:
                login_cookies.popitem(last=False)
            page.set_cookie(
                LOGIN_COOKIE, value, httponly=True, secure=p.tls, samesite="lax", path="/auth"
            )
        return hops(page)

    def redirect_uri_allowed(redirect_uri: str, registered: tuple[str, ...]) -> bool:
        """Exact matching (OIDC Core §3.1.2.1), unless a defect loosens it."""
        if redirect_uri in registered:
            return True
        if not redirect_uri or not p.defects:
            return False
        if "redirect-uri-not-checked" in p.defects:
            return True
        return "redirect-uri-prefix-match" in p.defects and any(
            redirect_uri.startswith(r) for r in registered
        )

    def needs_login(auth_request: AuthRequest, session: Session, hint_sub: str | None) -> bool:
        """Whether this request must authenticate the user again despite the SSO session."""
        d = p.defects
        if "login" in auth_request.prompt and "prompt-login-ignored" not in d:
            recent = p.now() - session.auth_time < PROMPT_LOGIN_DELAY
            if not ("prompt-login-delayed" in q and recent):
                return True
        max_age = auth_request.max_age
        if (
            max_age is not None
            and "max-age-ignored" not in d
            and (p.now() - session.auth_time > max_age or "max-age-always-reauthenticates" in d)
        ):
            return True
        return hint_sub is not None and hint_sub != p.subject(session)

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
        if "login-cookie" in q and request.cookies.get(LOGIN_COOKIE) != login_cookies.get(tx):
            message = "Cookie not found. Please make sure cookies are enabled in your browser."
            return _html(pages.error(lang, message), 400)
        user = p.annuaire.get(form.get("idNat", "").strip())
        if user is None:
            message = "Identifiant inconnu / unknown idNat"
            return _html(pages.login(lang, tx, form.get("idNat"), message), 401)
        method = form.get("method", "cps")
        if method == "cps":
            del p.store.transactions[tx]
            login_cookies.pop(tx, None)
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
        return RedirectResponse(f"/auth/ecps?tx={quote(tx, safe='')}", 303, headers=NO_CACHE)

    def complete(auth_request: AuthRequest, id_nat: str, auth_mode: str) -> Response:
        session = p.open_session(id_nat, auth_mode)
        if needs_consent(auth_request, session):
            response = consent_page(auth_request, session)
        else:
            response = after_login(succeed(auth_request, session))
        p.set_session_cookie(response, session)
        return response

    async def hop(request: Request) -> Response:
        """redirect-hops: one internal redirect, or the parked answer at the chain's end."""
        try:
            params = query_params(request)
        except OAuthError as exc:
            return _html(pages.error("fr", exc.description), exc.status)
        key, left = params.get("h", ""), parse_uint(params.get("n", ""))
        if key not in parked or left is None:
            return _html(pages.error("fr", "Demande expirée ou inconnue / unknown request"), 400)
        if left > 0:
            location = f"/auth/hop?h={quote(key, safe='')}&n={left - 1}"
            return RedirectResponse(location, 303, headers=NO_CACHE)
        return parked.pop(key)

    async def resume(request: Request) -> Response:
        """auto-submit-hop: the POST the page made by itself; answers what was parked."""
        try:
            form = await read_form(request)
        except OAuthError as exc:
            return _html(pages.error("fr", exc.description), exc.status)
        response = parked.pop(form.get("h", ""), None)
        if response is None:
            return _html(pages.error("fr", "Demande expirée ou inconnue / unknown request"), 400)
        return response

    async def consent(request: Request) -> Response:
        """consent-page: the user granted the client; the answer goes back to it."""
        try:
            form = await read_form(request)
        except OAuthError as exc:
            return _html(pages.error("fr", exc.description), exc.status)
        entry = consents.pop(form.get("c", ""), None)
        if entry is None or form.get("consent") != "yes":
            return _html(pages.error("fr", "Demande expirée ou inconnue / unknown request"), 400)
        auth_request, session = entry
        if not p.session_alive(session):
            return _html(pages.error("fr", "Session expirée / session expired"), 400)
        session.consented.add(auth_request.client_id)
        return after_login(succeed(auth_request, session))

    def tx_of(request: Request) -> str:
        """The `tx` of an e-CPS page; raises OAuthError if the query is malformed (repeated,
        not UTF-8): a person's browser never sends that, so a 400 page, not a redirect."""
        return query_params(request).get("tx", "")

    async def ecps_wait(request: Request) -> Response:
        try:
            tx = tx_of(request)
        except OAuthError as exc:
            return _html(pages.error("fr", exc.description), exc.status)
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
        try:
            tx = tx_of(request)
        except OAuthError as exc:
            body = {"status": "unknown", "error": exc.error, "error_description": exc.description}
            return JSONResponse(body, exc.status, headers=NO_CACHE)
        pending = p.store.pending.get(tx)
        status = "unknown" if pending is None else p.phone_status(pending)
        return JSONResponse({"status": status}, headers=NO_CACHE)

    return [
        Route("/auth", authorize, methods=["GET", "POST"]),
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/hop", hop, methods=["GET"]),
        Route("/auth/continue", resume, methods=["POST"]),
        Route("/auth/consent", consent, methods=["POST"]),
        Route("/auth/ecps", ecps_wait, methods=["GET"]),
        Route("/auth/ecps/status", ecps_status, methods=["GET"]),
    ]
