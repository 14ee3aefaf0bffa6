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


def _run(hostile: str, tmp_path: Path, mode: str, *extra: str):
    profile = tmp_path / "hostile.toml"
    profile.write_text(
        f'[target]\nname = "hostile"\n'
        f'discovery_url = "{hostile}/{mode}/.well-known/openid-configuration"\ntimeout = 1\n'
        '[driver]\nusers = ["899700000005"]\n[[clients]]\nclient_id = "rp"\n'
        'auth_method = "client_secret_basic"\nclient_secret = "not-a-real-secret"\n'
        'redirect_uri = "http://127.0.0.1:8080/callback"\n'
    )
    args = ["load", "--target", str(profile), "--run-time", "30s", "--users", "3", *extra]
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
    return output


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("gzip-bomb", "body over 10 MB after decompression"),
        ("huge", "over 10 MB"),
        ("header-drip", "discovery: "),
        ("deep-json", "discovery: "),
        ("status-500", "HTTP 500"),
    ],
)
def test_a_broken_discovery_is_found_at_the_preflight(hostile, tmp_path, mode, reason):
    """Before any load: one line, the profile check's reason, no summary (nothing ran)."""
    output = _run(hostile, tmp_path, mode)
    line = next(line for line in output.splitlines() if "pre-flight: discovery: " in line)
    assert output.count("pre-flight: discovery: ") == 1 and "(no load was sent)" in line
    assert reason in line, line
    assert not (tmp_path / "load" / "summary.json").exists()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("gzip-bomb", "body sent as gzip though identity was asked"),
        ("header-drip", "response not complete after 3 s"),
    ],
)
def test_a_discovery_broken_during_the_run_stops_it_once(hostile, tmp_path, mode, reason):
    """Without the pre-flight (--no-preflight, or a target that broke after it), the
    journeys' own bounded reads find it, and the run stops once with its reason."""
    output = _run(hostile, tmp_path, mode, "--no-preflight")
    assert output.count("load stopped:") == 1  # one cause, one line
    summary = json.loads((tmp_path / "load" / "summary.json").read_text())
    assert summary["verdict"] == "STOPPED"
    reasons = summary["flows"]["setup"]["failure_reasons"]
    assert any(reason in text for text in reasons), reasons
