"""RP-initiated logout 1.0: id_token_hint, post_logout_redirect_uri validation, state."""

from __future__ import annotations

from urllib.parse import urlencode

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from psc_testkit.simulator import pages
from psc_testkit.simulator.http import OAuthError, query_params, read_form
from psc_testkit.simulator.provider import SESSION_COOKIE, Provider

NO_CACHE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def routes(p: Provider, oidc_path: str) -> list[Route]:
    def error(lang: str, message: str) -> Response:
        return HTMLResponse(pages.error(lang, message), 400, headers=NO_CACHE)

    async def logout(request: Request) -> Response:
        try:
            params = await read_form(request) if request.method == "POST" else query_params(request)
        except OAuthError as exc:
            return error("fr", exc.description)
        lang = pages.language(params.get("ui_locales"))
        hint_claims = None
        if hint := params.get("id_token_hint"):
            try:
                if "logout-hint-not-verified" in p.defects:
                    hint_claims = jwt.decode(hint, options={"verify_signature": False})
                else:
                    hint_claims = p.keys.verify_hint(hint, p.issuer)
            except jwt.InvalidTokenError as exc:
                return error(lang, f"id_token_hint is not valid: {exc}")
        client_id = params.get("client_id")
        if hint_claims is not None:
            # Shapes no ID token has (aud [] or {}, sid []) reach here only unverified (the
            # logout-hint-not-verified defect): refused like a bad signature, not a 500.
            aud, sid = hint_claims.get("aud"), hint_claims.get("sid")
            audiences = [aud] if isinstance(aud, str) or aud is None else aud
            if not (
                isinstance(audiences, list)
                and audiences
                and all(isinstance(a, str | None) for a in audiences)
                and isinstance(sid, str | None)
            ):
                return error(lang, "id_token_hint is not valid: malformed aud or sid")
            if client_id and client_id not in audiences:
                return error(lang, "client_id does not match the id_token_hint")
            client_id = client_id or audiences[0]
        client = p.clients.get(client_id or "")
        if client_id and client is None:
            return error(lang, "unknown client_id")
        redirect = params.get("post_logout_redirect_uri")
        if redirect is not None:
            if client is None:
                return error(lang, "post_logout_redirect_uri needs id_token_hint or client_id")
            registered = redirect in client.settings.post_logout_redirect_uris or (
                "logout-redirect-prefix-match" in p.defects
                and any(redirect.startswith(u) for u in client.settings.post_logout_redirect_uris)
            )
            if not registered and "logout-any-redirect" not in p.defects:
                return error(lang, "post_logout_redirect_uri is not registered for this client")

        if redirect is None and client is None and "logout-default-redirect" in p.defects:
            first = next(iter(p.clients.values()), None)
            uris = first.settings.post_logout_redirect_uris if first else []
            redirect = uris[0] if uris else None
        cookie_session = p.cookie_session(request.cookies)
        confirmed = params.get("confirm") == "yes" or "logout-without-confirmation" in p.defects
        # Without an id_token_hint the OP asks the user (RP-Initiated Logout §2); with the
        # logout-confirmation-page quirk it always asks, as that SHOULD allows.
        asks = hint_claims is None or "logout-confirmation-page" in p.quirks
        if asks and not confirmed:
            hidden = {k: v for k, v in params.items() if k != "confirm"}
            return HTMLResponse(
                pages.confirm_logout(lang, request.url.path, hidden), headers=NO_CACHE
            )
        session = (
            p.store.sessions.get(hint_claims.get("sid", "")) if hint_claims else cookie_session
        )
        if session is not None and "logout-session-kept" not in p.defects:
            p.end_session(session)
        if redirect is not None:
            query = {"state": params["state"]} if "state" in params else {}
            if "logout-state-dropped" in p.defects:
                query = {}
            if "logout-state-invented" in p.defects:
                query.setdefault("state", "psc-simulator-state")
            sep = "&" if "?" in redirect else "?"
            location = f"{redirect}{sep}{urlencode(query)}" if query else redirect
            response: Response = RedirectResponse(location, 302, headers=NO_CACHE)
        else:
            response = HTMLResponse(pages.logged_out(lang), headers=NO_CACHE)
        if "logout-session-kept" not in p.defects:
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return [Route(oidc_path + "/logout", logout, methods=["GET", "POST"])]
