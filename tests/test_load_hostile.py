"""The load command against a hostile provider: bounded in time and memory, one line.

Locust's own HTTP client would inflate a compression bomb whole and wait for ever on a server
that drips its headers; the load journeys' browser asks for identity bodies, reads them piece
by piece up to 10 MB, and bounds each whole exchange. A discovery document that cannot be used
stops the run once, with its reason in the summary, instead of failing every user in a loop.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests import hostile_server
from tests.measure import run_measured

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def hostile():
    server = hostile_server.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("gzip-bomb", "body sent as gzip though identity was asked"),
        ("huge", "body over 10 MB"),
        ("header-drip", "response not complete after 3 s"),
        ("deep-json", "discovery: not a JSON object"),
        ("status-500", "discovery: HTTP 500"),
    ],
)
@pytest.mark.parametrize("preflight", [True, False], ids=["pre-flight", "in-the-run"])
def test_load_on_a_broken_discovery_stops_once_with_its_reason(
    hostile, tmp_path, mode, reason, preflight
):
    """Found at the pre-flight, before any load; or, without it (--no-preflight, or a target
    that broke after it), by the journeys, which stop the run once."""
    profile = tmp_path / "hostile.toml"
    profile.write_text(
        f'[target]\nname = "hostile"\n'
        f'discovery_url = "{hostile}/{mode}/.well-known/openid-configuration"\ntimeout = 1\n'
        '[driver]\nusers = ["899700000005"]\n[[clients]]\nclient_id = "rp"\n'
        'auth_method = "client_secret_basic"\nclient_secret = "not-a-real-secret"\n'
        'redirect_uri = "http://127.0.0.1:8080/callback"\n'
    )
    args = ["load", "--target", str(profile), "--run-time", "30s", "--users", "3"]
    args += [] if preflight else ["--no-preflight"]
    run = run_measured(
        [sys.executable, "-m", "psc_testkit", *args, "--reports", str(tmp_path / "load")],
        cwd=ROOT,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert not run.timed_out and run.returncode == 3, output[-3000:]  # a prerequisite broke
    assert "Traceback" not in output
    assert run.seconds < 25  # stopped, not run for its 30 s
    assert run.peak_mb < 500, run.peak_mb
    if preflight:
        assert output.count("pre-flight: discovery: ") == 1 and "(no load was sent)" in output
        assert not (tmp_path / "load" / "summary.json").exists()
        return
    assert output.count("load stopped:") == 1  # one cause, one line
    summary = json.loads((tmp_path / "load" / "summary.json").read_text())
    reasons = summary["flows"]["setup"]["failure_reasons"]
    assert any(reason in text for text in reasons), reasons
