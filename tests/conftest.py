"""Self-test fixtures: a real simulator process over HTTPS on loopback, and real HTTP clients."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from psc_testkit.simulator.process import SimulatorProcess
from tests.simulator.flows import Sim

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "targets" / "simulator.toml"


def start(defects: list[str] | None = None, extra: list[str] | None = None) -> SimulatorProcess:
    return SimulatorProcess(
        defects=defects or [], tls=True, config=PROFILE, extra_args=extra or []
    ).start()


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorProcess]:
    process = start()
    yield process
    process.stop()


def client_context(process: SimulatorProcess, cert_for: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=process.ca)
    if cert_for:
        state = process.state_dir
        context.load_cert_chain(state / f"{cert_for}.cert.pem", state / f"{cert_for}.key.pem")
    return context


@pytest.fixture
def sim(simulator: SimulatorProcess) -> Iterator[Sim]:
    """A fresh browser-like client (empty cookie jar) against the shared simulator."""
    with httpx.Client(verify=client_context(simulator), timeout=10) as http:
        yield Sim(simulator, http)


@pytest.fixture
def mtls_http(simulator: SimulatorProcess) -> Iterator[httpx.Client]:
    context = client_context(simulator, cert_for="psc-testkit-mtls")
    with httpx.Client(verify=context, timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def own_simulator() -> Iterator[SimulatorProcess]:
    """A simulator for one module alone: for tests that move its clock or change its state."""
    process = start()
    yield process
    process.stop()


@pytest.fixture
def clock_sim(own_simulator: SimulatorProcess) -> Iterator[Sim]:
    with httpx.Client(verify=client_context(own_simulator), timeout=10) as http:
        yield Sim(own_simulator, http)


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, driven by Playwright (the report tests look with it)."""
    import shutil

    from playwright.sync_api import sync_playwright

    from psc_testkit.client.drivers.chromium import FLAGS

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, headless=True, args=FLAGS)
        yield instance
        instance.close()
