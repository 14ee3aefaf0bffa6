"""A Pro Santé Connect relying party written with Authlib's Starlette client, the way a vendor
would: Authlib does the protocol work (discovery, PKCE, state, nonce, the code exchange, the ID
token's signature and claims), the app adds only what PSC asks on top (acr >= eidas1, and the
audience, which Authlib checks only when told to) and its pages. It follows psc-testkit's RP-app
contract (interop/rp-apps/README.md).

Run: .venv/bin/python interop/rp-apps/authlib_app.py, with APP_PORT, PSC_ISSUER, PSC_CA_FILE,
PSC_CLIENT_ID and PSC_CLIENT_SECRET in the environment.
"""

from __future__ import annotations

import html
import logging
import os
import secrets
import ssl
import time

import uvicorn
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth
from joserfc.errors import JoseError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

PORT = int(os.environ["APP_PORT"])
ORIGIN = f"http://127.0.0.1:{PORT}"
REDIRECT_URI = f"{ORIGIN}/callback"
POST_LOGOUT_REDIRECT_URI = f"{ORIGIN}/logged-out"
ISSUER = os.environ["PSC_ISSUER"]
CLIENT_ID = os.environ["PSC_CLIENT_ID"]
ACR_LEVELS = ["eidas1", "eidas2", "eidas3"]  # all at least eidas1

log = logging.getLogger("authlib-app")


class ServerSideCache:
    """Authlib's cache (get/set/delete): the authorization request's state, nonce and PKCE
    verifier stay on the server; the session cookie only carries a marker for them."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, float]] = {}

    async def get(self, key: str) -> str | None:
        value, expires = self._items.get(key, (None, 0.0))
        return value if time.monotonic() < expires else None

    async def set(self, key: str, value: str, expires_in: float) -> None:
        now = time.monotonic()
        self._items = {k: v for k, v in self._items.items() if v[1] > now}
        self._items[key] = (value, now + expires_in)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)


oauth = OAuth(cache=ServerSideCache())
oauth.register(
    "psc",
    client_id=CLIENT_ID,
    client_secret=os.environ["PSC_CLIENT_SECRET"],
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_kwargs={
        "scope": "openid scope_all",
        "code_challenge_method": "S256",
        "token_endpoint_auth_method": "client_secret_basic",
        "verify": ssl.create_default_context(cafile=os.environ["PSC_CA_FILE"]),
    },
)

# Logged-in users, server-side: the session cookie holds only a random key to them.
logins: dict[str, dict] = {}


def page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>RP Authlib</title></head><body>{body}</body></html>",
        status,
        headers={"Cache-Control": "no-store"},
    )


def refuse(reason: str) -> HTMLResponse:
    return page(
        f'<p id="login-error">Connexion refusée : {html.escape(reason)}</p>'
        '<p><a href="/">Accueil</a></p>',
        401,
    )


def reason_of(error: Exception) -> str:
    """A short reason: Authlib's and joserfc's messages (error codes and claim names, never a
    token), httpx's status or transport error (TLS, connection); else only the error's kind."""
    if isinstance(error, (AuthlibBaseError, JoseError)):
        return str(error)[:300]
    if type(error).__module__.split(".")[0] in ("httpx", "httpx2"):
        response = getattr(error, "response", None)  # HTTPStatusError: status and path only
        if response is not None:
            return f"HTTP {response.status_code} de {response.request.url.path}"
        return f"{type(error).__name__}: {error}"[:300]  # transport: TLS, connection
    return type(error).__name__


async def home(request: Request) -> Response:
    login = logins.get(request.session.get("login", ""))
    if login is None:
        return page('<a id="psc-login" href="/login">Se connecter avec Pro Santé Connect</a>')
    user = login["user"]
    return page(
        f'<p id="who">{html.escape(str(user.get("given_name")))} '
        f"{html.escape(str(user.get('family_name')))}</p>"
        '<a id="logout" href="/logout">Se déconnecter</a>'
    )


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def login(request: Request) -> Response:
    # Authlib's own nonce has 20 letters and digits (119 bits); the contract wants >= 128.
    return await oauth.psc.authorize_redirect(
        request, REDIRECT_URI, acr_values="eidas1", nonce=secrets.token_urlsafe(32)
    )


async def callback(request: Request) -> Response:
    metadata = await oauth.psc.load_server_metadata()
    claims_options = {
        "iss": {"essential": True, "values": [metadata["issuer"]]},  # Authlib's default
        "aud": {"essential": True, "values": [CLIENT_ID]},  # not checked without it
        "acr": {"essential": True, "values": ACR_LEVELS},
    }
    token = await oauth.psc.authorize_access_token(
        request, claims_options=claims_options, leeway=60
    )
    if "userinfo" not in token:  # Authlib validates an ID token only when there is one
        return refuse("la réponse du fournisseur n'a pas d'ID token")
    userinfo = await oauth.psc.userinfo(token=token)
    key = secrets.token_urlsafe(32)
    logins[key] = {"user": dict(userinfo), "id_token": token["id_token"]}
    request.session.clear()
    request.session["login"] = key
    return RedirectResponse("/", 302)


async def logout(request: Request) -> Response:
    login = logins.pop(request.session.get("login", ""), None)
    request.session.clear()
    if login is None:
        return RedirectResponse("/", 302)
    return await oauth.psc.logout_redirect(
        request,
        post_logout_redirect_uri=POST_LOGOUT_REDIRECT_URI,
        id_token_hint=login["id_token"],
    )


async def logged_out(request: Request) -> Response:
    return page('<p id="logged-out">Vous êtes déconnecté.</p>')


def refusing(endpoint):
    """Any failure of a login step: 401 and the reason, never a stack trace."""

    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as error:
            log.warning("%s: %s", request.url.path, reason_of(error))
            return refuse(reason_of(error))

    return wrapped


app = Starlette(
    routes=[
        Route("/", home),
        Route("/health", health),
        Route("/login", refusing(login)),
        Route("/callback", refusing(callback)),
        Route("/logout", refusing(logout)),
        Route("/logged-out", logged_out),
    ],
    middleware=[
        Middleware(
            SessionMiddleware,
            secret_key=secrets.token_urlsafe(32),
            session_cookie="rp_session",
            same_site="lax",
            https_only=False,  # the app's own pages are plain HTTP on 127.0.0.1
        )
    ],
)

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
