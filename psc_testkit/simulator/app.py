"""The simulator's two ASGI applications: the issuer host (PSC's `auth.*`) and the authorization
host (PSC's `wallet.*`), served side by side by one process."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from psc_testkit.simulator import ciba, control, discovery, logout, resources, token, wallet
from psc_testkit.simulator.provider import OIDC_PATH, REALM_PATH, Provider


def issuer_app(p: Provider) -> Starlette:
    return Starlette(
        routes=[
            *discovery.routes(p, REALM_PATH),
            *token.routes(p, OIDC_PATH),
            *resources.routes(p, OIDC_PATH),
            *logout.routes(p, OIDC_PATH),
            *ciba.routes(p, OIDC_PATH),
            *control.routes(p),
        ]
    )


def wallet_app(p: Provider) -> Starlette:
    return Starlette(routes=wallet.routes(p))


def by_port(issuer: ASGIApp, wallet_app: ASGIApp, wallet_port: int) -> ASGIApp:
    """Route each connection to the host it reached, by the local port it was accepted on."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        target = wallet_app if server and server[1] == wallet_port else issuer
        await target(scope, receive, send)

    return app
