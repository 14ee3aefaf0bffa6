"""Run the simulator: bind both listeners, generate keys and certificates, serve with uvicorn."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from psc_testkit.simulator.app import by_port, issuer_app, wallet_app
from psc_testkit.simulator.defects import ActiveDefects
from psc_testkit.simulator.provider import REALM_PATH, Endpoints, Provider
from psc_testkit.simulator.settings import SimulatorSettings
from psc_testkit.simulator.tls import LocalCA

SWEEP_EVERY = 30.0


class CertProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, plus the TLS client certificate in the scope (for mTLS)."""

    _peer_cert: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        self._peer_cert = ssl_object.getpeercert(binary_form=True) if ssl_object else None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._peer_cert:
            self.scope["psc.client_cert"] = self._peer_cert  # type: ignore[typeddict-unknown-key]


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@dataclass
class Running:
    provider: Provider
    server: uvicorn.Server
    lines: list[str]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def build(
    settings: SimulatorSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    wallet_port: int = 0,
    defects: ActiveDefects | None = None,
    state_dir: Path | None = None,
) -> tuple[Running, list[socket.socket]]:
    state = state_dir or Path(tempfile.mkdtemp(prefix="psc-simulator-"))
    state.mkdir(parents=True, exist_ok=True)
    issuer_sock, wallet_sock = _listen(host, port), _listen(host, wallet_port)
    issuer_port, wallet_bound = issuer_sock.getsockname()[1], wallet_sock.getsockname()[1]
    scheme = "https" if settings.tls else "http"
    endpoints = Endpoints(
        issuer=f"{scheme}://{_url_host(host)}:{issuer_port}{REALM_PATH}",
        wallet_origin=f"{scheme}://{_url_host(host)}:{wallet_bound}",
    )
    ca = None
    ssl_options: dict = {}
    if settings.tls:
        ca = LocalCA()
        (state / "ca.pem").write_bytes(ca.pem())
        hosts = [host, "localhost", "127.0.0.1"] if host not in ("localhost",) else [host]
        ca.issue_server(list(dict.fromkeys(hosts))).write(
            state / "server.cert.pem", state / "server.key.pem"
        )
        ssl_options = {
            "ssl_certfile": str(state / "server.cert.pem"),
            "ssl_keyfile": str(state / "server.key.pem"),
            "ssl_ca_certs": str(state / "ca.pem"),
            # Ask every client for a certificate, require none: mTLS clients present theirs.
            "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        }
    provider = Provider(settings, endpoints, defects or ActiveDefects(), state, ca)
    app = by_port(issuer_app(provider), wallet_app(provider), wallet_bound)
    config = uvicorn.Config(
        app,
        http=CertProtocol,
        loop="uvloop",
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=1,
        **ssl_options,
    )
    lines = [f"issuer={endpoints.issuer}", f"wallet={endpoints.authorization}"]
    if ca is not None:
        lines.append(f"ca={state / 'ca.pem'}")
    lines.append(f"state={state}")  # always last: a launcher reads up to this line
    return Running(provider, uvicorn.Server(config), lines), [issuer_sock, wallet_sock]


async def _sweeper(provider: Provider) -> None:
    s = provider.settings
    while True:
        await asyncio.sleep(SWEEP_EVERY)
        provider.store.sweep(provider.now(), s.session_max, s.session_idle)


async def _announce(running: Running) -> None:
    while not running.server.started:
        await asyncio.sleep(0.01)
    sys.stdout.write("\n".join(running.lines) + "\n")
    sys.stdout.flush()


async def serve(running: Running, sockets: list[socket.socket]) -> None:
    tasks = [
        asyncio.create_task(_sweeper(running.provider)),
        asyncio.create_task(_announce(running)),
    ]
    try:
        await running.server.serve(sockets=sockets)
    finally:
        for task in tasks:
            task.cancel()


def run(settings: SimulatorSettings, **options: object) -> None:
    running, sockets = build(settings, **options)  # type: ignore[arg-type]
    import uvloop

    uvloop.run(serve(running, sockets))
