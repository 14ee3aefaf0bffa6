"""The simulator's two ASGI applications: the issuer host (PSC's `auth.*`) and the authorization
host (PSC's `wallet.*`), served side by side by one process."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psc_testkit.simulator import ciba, control, discovery, logout, resources, token, wallet
from psc_testkit.simulator.provider import OIDC_PATH, REALM_PATH, Provider


def transport_quirks(app: ASGIApp, p: Provider) -> ASGIApp:
    """HTTP-level quirks around an application: compressed bodies, one request per
    connection."""
    if "gzip-responses" in p.quirks:
        app = GZipMiddleware(app, minimum_size=0)
    if "connection-close" in p.quirks:
        inner = app

        async def closing(scope: Scope, receive: Receive, send: Send) -> None:
            async def send_closing(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = [h for h in message.get("headers", []) if h[0] != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
                await send(message)

            await inner(scope, receive, send_closing)

        app = closing
    return app


# The relying party's server calls these; a user's browser never does.
BACK_CHANNEL = ("/token", "/userinfo", "/token/introspect", "/revoke", "/ext/ciba/auth")


def count_back_channel(app: ASGIApp, p: Provider) -> ASGIApp:
    """Count the back-channel requests, and those that carried a cookie (a client that sends
    its users' browser cookies to the token endpoint mixes up the two channels): for
    GET /_simulator/traffic, evidence of how a client behaves, which the load tests read."""
    paths = tuple(OIDC_PATH + suffix for suffix in BACK_CHANNEL)

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in paths:
            p.traffic["back_channel"] += 1
            if any(name == b"cookie" for name, _ in scope.get("headers", ())):
                p.traffic["back_channel_with_cookie"] += 1
        await app(scope, receive, send)

    return counting


def issuer_app(p: Provider) -> ASGIApp:
    return control.outage_gate(
        count_back_channel(
            Starlette(
                routes=[
                    *discovery.routes(p, REALM_PATH),
                    *token.routes(p, OIDC_PATH),
                    *resources.routes(p, OIDC_PATH),
                    *logout.routes(p, OIDC_PATH),
                    *ciba.routes(p, OIDC_PATH),
                    *control.routes(p),
                ]
            ),
            p,
        ),
        p,
    )


def wallet_app(p: Provider) -> ASGIApp:
    return control.outage_gate(Starlette(routes=wallet.routes(p)), p)


def by_port(
    issuer: ASGIApp, wallet_app: ASGIApp, wallet_port: int, mtls_port: int | None = None
) -> ASGIApp:
    """Route each connection to the host it reached, by the local port it was accepted on.
    With an mTLS alias port (the mtls-aliases quirk), the issuer is served there too, and a
    client certificate counts only there: a provider that terminates mutual TLS on a listener
    of its own does not see certificates presented elsewhere."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        port = server[1] if server else None
        if port == wallet_port:
            await wallet_app(scope, receive, send)
            return
        if mtls_port is not None and port != mtls_port:
            scope.pop("psc.client_cert", None)  # type: ignore[misc]
        await issuer(scope, receive, send)

    return app
