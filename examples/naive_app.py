"""A deliberately naive sample app: a health professional logs in with Pro Santé Connect.

It is what a health-software vendor writes from the OIDC tutorials, and it follows the
psc-testkit RP contract: `GET /login` starts an authorization-code flow (PKCE S256, state,
nonce, acr_values=eidas1), `GET /callback` checks the answer, the ID token (OIDC Core 3.1.3.7)
and UserInfo, then shows who logged in. Run it with the contract's environment:

    APP_PORT=8080 PSC_ISSUER=https://... PSC_CA_FILE=ca.pem \
    PSC_CLIENT_ID=... PSC_CLIENT_SECRET=... python examples/naive_app.py

"Naive" because each validation can be switched off, to show that psc-testkit catches the app
that forgets it: NAIVE_SKIP=state,nonce skips those two (names in SWITCHES, below). Without
NAIVE_SKIP the app is correct.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import secrets
import ssl
import sys
import time
from html import escape
from urllib.parse import quote_plus, urlencode

import httpx
import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

# NAIVE_SKIP names: each one skips exactly one validation (or does one thing wrong).
SWITCHES = (
    "state",  # does not compare the callback's state
    "iss-param",  # ignores the RFC 9207 iss parameter of the callback
    "nonce",  # does not compare the ID token's nonce
    "iss",  # does not check the ID token's iss
    "aud",  # does not check that aud contains the client_id
    "azp",  # with several audiences, does not require azp == client_id
    "sub",  # does not require sub in the ID token
    "exp",  # does not check exp
    "iat",  # does not reject an iat in the future
    "signature",  # does not verify the ID token's signature at all
    "alg",  # takes the algorithm from the token header (none, HS256 with the client secret...)
    "jwks-cache",  # fetches the JWKS once and never again, even for an unknown kid
    "acr",  # no acr check
    "userinfo-sub",  # does not compare UserInfo's sub with the ID token's
    "pkce",  # sends no PKCE
    "token-in-query",  # sends the access token to UserInfo in the URL, not in a Bearer header
    "first-exercice",  # shows the first exercice PSC lists, not one chosen by a stable rule
    "claims-required",  # assumes SubjectRefPro is always there (the home page then crashes)
)
SCOPE = "openid scope_all"
ACR_LEVELS = ("eidas1", "eidas2", "eidas3")  # lowest first; anything else is below eidas1
REQUESTED_ACR = "eidas1"
ACCEPTED_ACR = ACR_LEVELS[ACR_LEVELS.index(REQUESTED_ACR) :]
LEEWAY = 60  # seconds of clock skew allowed for iat
# pyjwt checks the signature only: every claim is checked by hand below, one line each.
SIGNATURE_ONLY = {
    **{f"verify_{c}": False for c in ("exp", "nbf", "iat", "aud", "iss", "sub", "jti")},
    "verify_signature": True,
}

cfg: dict = {}  # the environment, read by main()
SKIP: frozenset[str] = frozenset()
SESSIONS: dict[str, dict] = {}  # server-side sessions; the cookie only holds their id
cache: dict = {}  # the provider's discovery document and JWKS


class Rejected(Exception):
    """A failed validation; its text is shown to the user (never a token or a secret)."""


def check(ok: bool, reason: str, switch: str | None = None) -> None:
    if not ok and switch not in SKIP:
        raise Rejected(reason)


def number(value: object) -> float:
    """A JSON number claim, NaN for anything else (so that every comparison fails)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else math.nan  # type: ignore[arg-type]


def b64url_sha256(value: str, half: bool = False) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16] if half else digest).rstrip(b"=").decode()


def short(value: object) -> str:
    """A provider's error code, shown only if it looks like one."""
    text = str(value)
    return text if re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", text) else "error"


def provider() -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=cfg["tls"], timeout=10)


async def discovery(http: httpx.AsyncClient) -> dict:
    if "discovery" not in cache:
        r = await http.get(cfg["issuer"].rstrip("/") + "/.well-known/openid-configuration")
        r.raise_for_status()
        cache["discovery"] = r.json()
    return cache["discovery"]


async def jwks_key(http: httpx.AsyncClient, kid: object) -> object:
    """The JWKS's RSA signing key for kid (no kid: the only one); an unknown kid fetches the
    JWKS again, once, since the provider may have rotated its keys."""
    for attempt in range(2):
        if "jwks" not in cache or (attempt == 1 and "jwks-cache" not in SKIP):
            r = await http.get((await discovery(http))["jwks_uri"])
            r.raise_for_status()
            cache["jwks"] = r.json()["keys"]
        keys = [k for k in cache["jwks"] if isinstance(k, dict) and k.get("kty") == "RSA"]
        keys = [k for k in keys if k.get("use", "sig") == "sig"]
        found = [k for k in keys if k.get("kid") == kid] if kid is not None else keys
        if len(found) == 1:
            return jwt.PyJWK(found[0]).key
    raise Rejected("no key of the provider for this ID token")


async def id_token_claims(http: httpx.AsyncClient, id_token: str) -> dict:
    header = jwt.get_unverified_header(id_token)
    alg = str(header.get("alg"))
    if "alg" in SKIP:  # the classic flaw: the token says how to check it
        if alg == "none":
            return jwt.decode(id_token, options={"verify_signature": False})
        symmetric = alg.startswith("HS")
        key = cfg["client_secret"] if symmetric else await jwks_key(http, header.get("kid"))
        return jwt.decode(id_token, key, algorithms=[alg], options=SIGNATURE_ONLY)
    # OIDC Core 3.1.3.7 step 7: alg is the registered RS256 (never none, never HS256)
    check(alg == "RS256", "the ID token is not signed with RS256")
    if "signature" in SKIP:
        return jwt.decode(id_token, options={"verify_signature": False})
    # OIDC Core 3.1.3.7 step 6: the signature, with the provider's key named by kid
    key = await jwks_key(http, header.get("kid"))
    return jwt.decode(id_token, key, algorithms=["RS256"], options=SIGNATURE_ONLY)


async def validate_id_token(http: httpx.AsyncClient, tokens: dict, nonce: str) -> dict:
    claims = await id_token_claims(http, tokens["id_token"])
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    now = time.time()
    # OIDC Core 3.1.3.7 step 2: iss
    check(claims.get("iss") == cfg["issuer"], "the ID token is from another issuer", "iss")
    # OIDC Core 3.1.3.7 step 3: aud contains our client_id
    check(cfg["client_id"] in audiences, "the ID token is for another client", "aud")
    # OIDC Core 3.1.3.7 steps 4-5: azp (required with several audiences) is our client_id
    single = len(audiences) == 1 and "azp" not in claims
    check(single or claims.get("azp") == cfg["client_id"], "azp is not this client", "azp")
    # OIDC Core 2: sub is required
    sub = claims.get("sub")
    check(isinstance(sub, str) and sub != "", "the ID token has no sub", "sub")
    # OIDC Core 3.1.3.7 step 9: exp
    check(number(claims.get("exp")) > now, "the ID token is expired (exp)", "exp")
    # OIDC Core 3.1.3.7 step 10: iat, not in the future
    check(number(claims.get("iat")) <= now + LEEWAY, "iat missing or in the future", "iat")
    # OIDC Core 3.1.3.7 step 11: nonce
    check(claims.get("nonce") == nonce, "the ID token's nonce is not ours", "nonce")
    # OIDC Core 3.1.3.8: at_hash, when present, matches the access token
    at_hash = b64url_sha256(tokens["access_token"], half=True)
    check("at_hash" not in claims or claims["at_hash"] == at_hash, "at_hash does not match")
    # OIDC Core 3.1.3.7 step 12: acr is at least the level we asked for
    check(claims.get("acr") in ACCEPTED_ACR, "authentication level too low", "acr")
    return claims


async def userinfo(http: httpx.AsyncClient, access_token: str) -> dict:
    url = (await discovery(http))["userinfo_endpoint"]
    if "token-in-query" in SKIP:
        r = await http.get(url, params={"access_token": access_token})
    else:  # RFC 6750 2.1: the Bearer header
        r = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
    check(r.status_code == 200, f"UserInfo answered {r.status_code}")
    if r.headers.get("content-type", "").split(";")[0].strip() == "application/jwt":
        # OIDC Core 5.3.2: signed UserInfo, verified like the ID token's signature
        key = await jwks_key(http, jwt.get_unverified_header(r.text).get("kid"))
        info = jwt.decode(r.text, key, algorithms=["RS256"], options=SIGNATURE_ONLY)
    else:
        info = r.json()
    check(isinstance(info, dict), "UserInfo is not a JSON object")
    return info


async def finish_login(params, login: dict | None) -> dict:
    check(login is not None, "no login in progress")
    # RFC 6749 4.1.2.1: the provider (or the user) refused
    check("error" not in params, f"the provider answered {short(params.get('error'))}")
    # RFC 6749 10.12: the answer belongs to the login this browser started
    check(params.get("state") == login["state"], "state does not match", "state")
    # RFC 9207 2.4: iss, when present, names our provider (mix-up attacks)
    iss = params.get("iss", cfg["issuer"])
    check(iss == cfg["issuer"], "the answer is from another issuer", "iss-param")
    check(bool(params.get("code")), "no authorization code")
    async with provider() as http:
        # RFC 6749 4.1.3: the code for tokens, client_secret_basic (2.3.1: form-encoded)
        form = {"grant_type": "authorization_code", "code": params["code"]}
        form["redirect_uri"] = cfg["redirect_uri"]
        if "pkce" not in SKIP:
            form["code_verifier"] = login["verifier"]
        auth = (quote_plus(cfg["client_id"]), quote_plus(cfg["client_secret"]))
        r = await http.post((await discovery(http))["token_endpoint"], data=form, auth=auth)
        check(r.status_code == 200, f"the token endpoint answered {r.status_code}")
        tokens = r.json()
        check(isinstance(tokens.get("access_token"), str), "no access token")
        check(isinstance(tokens.get("id_token"), str), "no ID token")
        claims = await validate_id_token(http, tokens, login["nonce"])
        info = await userinfo(http, tokens["access_token"])
    # OIDC Core 5.3.2: UserInfo is about the professional the ID token names (by its sub)
    same = "sub" not in claims or info.get("sub") == claims["sub"]
    check(same, "UserInfo is about someone else", "userinfo-sub")
    names = f"{info.get('given_name', '')} {info.get('family_name', '')}"
    return {"name": names, "id_token": tokens["id_token"], "ref_pro": info.get("SubjectRefPro")}


def session(request: Request) -> dict:
    sid = request.session.setdefault("sid", secrets.token_urlsafe(32))
    return SESSIONS.setdefault(sid, {})


def page(body: str, status: int = 200) -> HTMLResponse:
    head = '<meta charset="utf-8"><title>Cabinet médical (démo PSC)</title>'
    html = f'<!doctype html><html lang="fr"><head>{head}</head><body>{body}</body></html>'
    return HTMLResponse(html, status)


def profession(user: dict) -> str:
    """The profession shown beside the name. PSC's sectoral claims may be absent (fact sheet
    §3.3), and a professional may have several exercices, in no guaranteed order: the lowest
    profession code is a stable choice."""
    if "claims-required" in SKIP:
        exercices = user["ref_pro"]["exercices"]  # a TypeError without SubjectRefPro
    else:
        exercices = (user["ref_pro"] or {}).get("exercices") or []
    if not exercices:
        return "(sans exercice)"
    if "first-exercice" not in SKIP:
        exercices = sorted(exercices, key=lambda e: str(e.get("codeProfession")))
    return f"(profession {exercices[0].get('codeProfession')})"


async def home(request: Request) -> HTMLResponse:
    user = session(request).get("user")
    if user is None:
        return page('<a id="psc-login" href="/login">Se connecter avec Pro Santé Connect</a>')
    who = f'<p id="who">{escape(user["name"])} {escape(profession(user))}</p>'
    return page(f'{who}<a id="logout" href="/logout">Se déconnecter</a>')


async def login(request: Request) -> HTMLResponse | RedirectResponse:
    try:
        async with provider() as http:
            endpoint = (await discovery(http))["authorization_endpoint"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return page('<p id="login-error">Pro Santé Connect est injoignable.</p>', 502)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    session(request)["login"] = {"state": state, "nonce": nonce, "verifier": verifier}
    params = {"response_type": "code", "client_id": cfg["client_id"]}
    params |= {"redirect_uri": cfg["redirect_uri"], "scope": SCOPE}
    params |= {"acr_values": REQUESTED_ACR, "state": state, "nonce": nonce}
    if "pkce" not in SKIP:  # RFC 7636 4.2: S256
        params |= {"code_challenge": b64url_sha256(verifier), "code_challenge_method": "S256"}
    sep = "&" if "?" in endpoint else "?"
    return RedirectResponse(f"{endpoint}{sep}{urlencode(params)}", 302)


async def callback(request: Request) -> HTMLResponse | RedirectResponse:
    login_in_progress = session(request).pop("login", None)  # one answer per login
    try:
        user = await finish_login(request.query_params, login_in_progress)
    except Rejected as exc:
        reason = str(exc)
    except jwt.PyJWTError:
        reason = "the ID token's signature or format is invalid"
    except httpx.HTTPError:
        reason = "the provider could not be reached"
    except (ValueError, KeyError, TypeError, AttributeError):
        reason = "unexpected answer from the provider"
    else:
        session(request)["user"] = user
        return RedirectResponse("/", 302)
    return page(f'<p id="login-error">Connexion refusée : {escape(reason)}</p>', 401)


async def logout(request: Request) -> RedirectResponse:
    user = SESSIONS.pop(request.session.get("sid", ""), {}).get("user")
    request.session.clear()
    try:
        async with provider() as http:
            end_session = (await discovery(http))["end_session_endpoint"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return RedirectResponse("/logged-out", 302)
    params = {"post_logout_redirect_uri": cfg["base_url"] + "/logged-out"}
    params["state"] = secrets.token_urlsafe(16)
    if user is not None:
        params["id_token_hint"] = user["id_token"]
    sep = "&" if "?" in end_session else "?"
    return RedirectResponse(f"{end_session}{sep}{urlencode(params)}", 302)


async def logged_out(request: Request) -> HTMLResponse:
    return page('<p id="logged-out">Vous êtes déconnecté.</p>')


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/", home),
        Route("/login", login),
        Route("/callback", callback),
        Route("/logout", logout),
        Route("/logged-out", logged_out),
        Route("/health", health),
    ],
    middleware=[Middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32))],
)


def main() -> None:
    global SKIP
    names = {n.strip() for n in os.environ.get("NAIVE_SKIP", "").split(",") if n.strip()}
    unknown = sorted(names - set(SWITCHES))
    if unknown:
        print(f"naive_app: unknown NAIVE_SKIP names: {', '.join(unknown)}", file=sys.stderr)
        sys.exit(2)
    SKIP = frozenset(names)
    needed = ("APP_PORT", "PSC_ISSUER", "PSC_CA_FILE", "PSC_CLIENT_ID", "PSC_CLIENT_SECRET")
    missing = [name for name in needed if not os.environ.get(name)]
    if missing:
        print(f"naive_app: missing environment: {', '.join(missing)}", file=sys.stderr)
        sys.exit(2)
    port = int(os.environ["APP_PORT"])
    cfg.update(
        issuer=os.environ["PSC_ISSUER"],
        client_id=os.environ["PSC_CLIENT_ID"],
        client_secret=os.environ["PSC_CLIENT_SECRET"],
        tls=ssl.create_default_context(cafile=os.environ["PSC_CA_FILE"]),
        base_url=f"http://127.0.0.1:{port}",
        redirect_uri=f"http://127.0.0.1:{port}/callback",
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
