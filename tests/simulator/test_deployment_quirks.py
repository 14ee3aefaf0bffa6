"""Quirks of the deployment and transport, as the simulator shows them over real HTTP(S): each
does what it says (or the quirk matrix would pass for nothing), and the client core copes."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx
import pytest

from psc_testkit.client import flow
from psc_testkit.client.config import ClientProfile
from psc_testkit.simulator.process import SimulatorProcess
from tests.conftest import PROFILE, client_context
from tests.simulator.flows import Sim


def started(quirk: str) -> SimulatorProcess:
    return SimulatorProcess(quirks=[quirk], tls=True, config=PROFILE).start()


@pytest.fixture(scope="module")
def aliased() -> Iterator[SimulatorProcess]:
    process = started("mtls-aliases")
    yield process
    process.stop()


def test_mtls_aliases_are_on_another_port_and_certificates_count_only_there(aliased):
    with httpx.Client(verify=client_context(aliased), timeout=10) as browser:
        sim = Sim(aliased, browser)
        aliases = sim.meta["mtls_endpoint_aliases"]
        main_port = httpx.URL(sim.meta["token_endpoint"]).port
        assert {httpx.URL(url).port for url in aliases.values()} - {main_port}
        context = client_context(aliased, cert_for="psc-testkit-mtls")
        with httpx.Client(verify=context, timeout=10) as mtls:
            at_main = sim.token(sim.code("psc-testkit-mtls"), http=mtls)
            assert at_main.status_code == 401, at_main.text  # the certificate is not seen here
            result = sim.code("psc-testkit-mtls")
            data = {
                "grant_type": "authorization_code",
                "code": result.code,
                "redirect_uri": result.params["redirect_uri"],
                "code_verifier": result.verifier,
                "client_id": "psc-testkit-mtls",
            }
            at_alias = mtls.post(aliases["token_endpoint"], data=data)
            assert at_alias.status_code == 200, at_alias.text


def test_the_client_core_sends_a_certificate_holder_to_the_alias(tmp_path):
    meta = {
        "token_endpoint": "https://op.test/token",
        "mtls_endpoint_aliases": {"token_endpoint": "https://mtls.op.test/token"},
    }
    holder = ClientProfile("c", "tls_client_auth", "cb", tls_cert_file=tmp_path / "c.pem")
    other = ClientProfile("d", "client_secret_post", "cb", secret="s")
    assert flow.token_request(meta, holder, "x", None, None).url == "https://mtls.op.test/token"
    assert flow.token_request(meta, other, "x", None, None).url == "https://op.test/token"


def test_gzip_responses_are_gzip_encoded():
    process = started("gzip-responses")
    try:
        with httpx.Client(verify=client_context(process), timeout=10) as http:
            response = http.get(process.issuer + "/.well-known/openid-configuration")
            assert response.headers["content-encoding"] == "gzip"
            assert response.json()["issuer"] == process.issuer
    finally:
        process.stop()


def test_connection_close_closes_every_connection():
    process = started("connection-close")
    try:
        url = httpx.URL(process.issuer)
        context = ssl.create_default_context(cafile=process.ca)
        raw = socket.create_connection((url.host, url.port), timeout=10)
        with context.wrap_socket(raw, server_hostname=url.host) as tls:
            path = url.path + "/.well-known/openid-configuration"
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {url.host}\r\n\r\n".encode())
            received = b""
            while chunk := tls.recv(65536):  # returns b"" once the server has closed
                received += chunk
        head = received.split(b"\r\n\r\n", 1)[0].lower()
        assert b"connection: close" in head
    finally:
        process.stop()
