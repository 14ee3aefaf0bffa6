"""Run the simulator: bind both listeners, generate keys and certificates, serve with uvicorn."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from psc_testkit.simulator import lies
from psc_testkit.simulator.app import by_port, issuer_app, transport_quirks, wallet_app
from psc_testkit.simulator.defects import ActiveDefects
from psc_testkit.simulator.provider import REALM_PATH, Endpoints, Provider
from psc_testkit.simulator.quirks import ActiveQuirks
from psc_testkit.simulator.recorder import RequestLog, record_requests
from psc_testkit.simulator.settings import SimulatorSettings
from psc_testkit.simulator.state import StateDir
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
    state: StateDir


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def build(
    settings: SimulatorSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    wallet_port: int = 0,
    defects: ActiveDefects | None = None,
    quirks: ActiveQuirks | None = None,
    state_dir: Path | None = None,
    keep_state: bool = False,
    rp: bool = False,
) -> tuple[Running, list[socket.socket]]:
    """Bind both listeners, then write keys and certificates: a port already taken leaves no
    state folder behind, and neither does any later failure of the build."""
    issuer_sock = _listen(host, port)
    try:
        wallet_sock = _listen(host, wallet_port)
    except OSError:
        issuer_sock.close()
        raise
    sockets = [issuer_sock, wallet_sock]
    if quirks is not None and "mtls-aliases" in quirks:
        try:
            sockets.append(_listen(host, 0))
        except OSError:
            for sock in sockets:
                sock.close()
            raise
    state = StateDir(state_dir, keep=keep_state)
    try:
        running = _build(settings, host, sockets, defects, state, quirks, rp)
    except BaseException:
        state.remove()
        for sock in sockets:
            sock.close()
        raise
    return running, sockets


def _build(
    settings: SimulatorSettings,
    host: str,
    sockets: list[socket.socket],
    defects: ActiveDefects | None,
    state: StateDir,
    quirks: ActiveQuirks | None = None,
    rp: bool = False,
) -> Running:
    issuer_port, wallet_bound, *mtls_bound = (sock.getsockname()[1] for sock in sockets)
    mtls_port = mtls_bound[0] if mtls_bound and settings.tls else None
    scheme = "https" if settings.tls else "http"
    endpoints = Endpoints(
        issuer=f"{scheme}://{_url_host(host)}:{issuer_port}{REALM_PATH}",
        wallet_origin=f"{scheme}://{_url_host(host)}:{wallet_bound}",
        mtls_issuer=f"{scheme}://{_url_host(host)}:{mtls_port}{REALM_PATH}" if mtls_port else None,
    )
    ca = None
    ssl_options: dict = {}
    if settings.tls:
        ca = LocalCA()
        ca_file, cert_file, key_file = (
            state.file(name) for name in ("ca.pem", "server.cert.pem", "server.key.pem")
        )
        ca_file.write_bytes(ca.pem())
        hosts = [host, "localhost", "127.0.0.1"] if host not in ("localhost",) else [host]
        ca.issue_server(list(dict.fromkeys(hosts))).write(cert_file, key_file)
        ssl_options = {
            "ssl_certfile": str(cert_file),
            "ssl_keyfile": str(key_file),
            "ssl_ca_certs": str(ca_file),
            # Ask every client for a certificate, require none: mTLS clients present theirs.
            "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        }
    if rp:
        settings = replace(settings, clients=(*settings.clients, lies.other_client()))
    provider = Provider(
        settings, endpoints, defects or ActiveDefects(), state, ca, quirks or ActiveQuirks()
    )
    if rp:  # before the routes are made: the control API's RP routes exist only then
        provider.request_log = RequestLog()
    app = by_port(
        transport_quirks(issuer_app(provider), provider),
        transport_quirks(wallet_app(provider), provider),
        wallet_bound,
        mtls_port,
    )
    if provider.request_log is not None:
        app = record_requests(app, provider.request_log, lambda: provider.lie, wallet_bound)
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
        lines.append(f"ca={state.path / 'ca.pem'}")
    lines.append(f"state={state.path}")  # always last: a launcher reads up to this line
    return Running(provider, uvicorn.Server(config), lines, state)


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


class Terminated(BaseException):
    """SIGTERM, once uvicorn has shut down gracefully and handed the signal back (a
    BaseException, like KeyboardInterrupt, so no `except Exception` swallows it)."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def run(settings: SimulatorSettings, **options: object) -> None:
    """Serve until SIGINT or SIGTERM, then remove the state folder (unless keep_state).

    uvicorn catches both signals to shut down gracefully, then raises them again once it has:
    SIGINT as KeyboardInterrupt, SIGTERM through the handler installed here, so that either
    way the `finally` below runs. SIGTERM is then raised again with its default action, so the
    parent still sees the process end by that signal.
    """
    import uvloop

    main = threading.current_thread() is threading.main_thread()  # signals: main thread only
    previous = signal.signal(signal.SIGTERM, _terminated) if main else None
    running: Running | None = None
    terminated = False
    try:
        running, sockets = build(settings, **options)  # type: ignore[arg-type]
        uvloop.run(serve(running, sockets))
    except Terminated:
        terminated = True
    finally:
        if running is not None:
            running.state.remove()
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
