"""A client that leaves halfway through its request leaves no traceback in the simulator's log
(this module's own simulator: its log is ours to read)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from psc_testkit.simulator.process import SimulatorProcess
from tests.conftest import client_context

OIDC = "/auth/realms/esante-wallet/protocol/openid-connect"


def truncated_post(process: SimulatorProcess, origin: str, path: str) -> None:
    """Headers announcing 1,000 bytes of form, 10 of them sent, then the connection closed."""
    parts = urlsplit(origin)
    raw = socket.create_connection((parts.hostname, parts.port), timeout=5)
    with client_context(process).wrap_socket(raw, server_hostname=parts.hostname) as tls:
        tls.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
            "grant_type".encode()
        )
        time.sleep(0.1)  # the simulator is reading the body when the client goes


PATHS = [
    ("issuer", OIDC + "/token"),
    ("issuer", OIDC + "/userinfo"),
    ("issuer", OIDC + "/token/introspect"),
    ("issuer", OIDC + "/revoke"),
    ("issuer", OIDC + "/ext/ciba/auth"),
    ("issuer", OIDC + "/logout"),
    ("issuer", "/_simulator/clock"),
    ("wallet", "/auth/login"),
    ("wallet", "/auth"),
]


def test_a_client_gone_before_its_body_ended_leaves_no_traceback(own_simulator):
    """Was "Exception in ASGI application" with ClientDisconnect, for every body read."""
    process = own_simulator
    assert process.child is not None
    before = len(process.child.stderr())
    wallet = process.wallet.rsplit("/auth", 1)[0]
    for host, path in PATHS:
        truncated_post(process, process.origin if host == "issuer" else wallet, path)
    time.sleep(0.5)  # the simulator logs, if it does, right after each close
    log = process.child.stderr()[before:]
    assert "Traceback" not in log, log[-3000:]
    assert process.process is not None and process.process.poll() is None
