"""The defect registry itself. That each defect is caught by its checks, and by nothing
unrelated, is proven by the defect matrix (test_defect_matrix.py)."""

import httpx
import pytest

from psc_testkit.simulator.defects import (
    DEFECTS,
    ActiveDefects,
    UnknownDefect,
    discovery_families,
    listing,
)
from psc_testkit.simulator.discovery import metadata
from psc_testkit.simulator.settings import load_settings
from tests.conftest import client_context, start
from tests.simulator.flows import Sim


def test_every_defect_names_a_requirement_and_says_what_it_breaks():
    for defect in DEFECTS.values():
        assert defect.requirement and defect.description
        assert defect.name == defect.name.lower() and " " not in defect.name
    lines = listing().splitlines()
    assert len(lines) == len(DEFECTS)
    for line, defect in zip(lines, DEFECTS.values(), strict=True):
        assert line.split()[:2] == [defect.name, defect.requirement]


def test_unknown_defect_names_are_refused():
    with pytest.raises(UnknownDefect, match="no-such-defect"):
        ActiveDefects(["no-such-defect"])
    with pytest.raises(KeyError):
        "typo" in ActiveDefects()  # noqa: B015 (a typo in the code must not pass silently)


def probe_token_endpoint_flaky(sim):
    statuses = [
        sim.back(
            "token_endpoint", {"grant_type": "refresh_token", "refresh_token": "x"}
        ).status_code
        for _ in range(1500)
    ]
    failures = statuses.count(503)
    return 3 <= failures <= 40  # about 1 % of 1,500


def test_token_endpoint_flaky_fails_about_one_percent_of_token_requests(sim):
    """No conformance check covers it: the load tests' availability verdict does (issue 5)."""
    assert not probe_token_endpoint_flaky(sim)
    process = start(["token-endpoint-flaky"])
    try:
        with httpx.Client(verify=client_context(process), timeout=10) as http:
            assert probe_token_endpoint_flaky(Sim(process, http))
    finally:
        process.stop()


@pytest.fixture(scope="module")
def provider():
    """A simulator provider, not serving: metadata() is a pure function of it and its defects."""
    from pathlib import Path

    from psc_testkit.simulator.server import build

    settings = load_settings(Path("targets/simulator.toml"), tls=True)
    running, sockets = build(settings, defects=ActiveDefects())
    yield running.provider
    for sock in sockets:
        sock.close()
    running.state.remove()


FAMILY = [d.name for d in discovery_families()] + ["discovery-http-endpoint"]


@pytest.mark.parametrize("name", FAMILY)
def test_each_discovery_family_defect_alters_one_member(provider, name):
    """A family defect breaks one requirement: it changes one member of the document (adds a
    malformed one, drops or malforms an existing one) and leaves every other as it was."""
    clean = metadata(provider)
    provider.defects = ActiveDefects([name])
    try:
        broken = metadata(provider)
    finally:
        provider.defects = ActiveDefects()
    changed = sorted(k for k in clean.keys() | broken.keys() if clean.get(k) != broken.get(k))
    if name == "discovery-http-endpoint":  # two plain-HTTP endpoints: one verdict lists both
        assert changed == ["pushed_authorization_request_endpoint", "registration_endpoint"]
    else:
        assert len(changed) == 1, changed
        assert changed[0].replace("_", "-") in name
