"""Hostile targets: a broken or misbehaving provider yields failed or errored checks with a
one-line reason — never a traceback, never a hang (per-request timeouts, a whole-exchange
deadline and a body size limit keep every run bounded)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from psc_testkit.simulator.process import SimulatorProcess
from tests import hostile_server
from tests.conftest import PROFILE

ROOT = Path(__file__).resolve().parent.parent
CLIENT = """
[[clients]]
client_id = "psc-testkit-basic"
auth_method = "client_secret_basic"
client_secret = "sim-basic-6f1d2c9a4e"
redirect_uri = "http://127.0.0.1:8080/callback"
"""


@pytest.fixture(scope="module")
def hostile():
    server = hostile_server.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def conformance(tmp_path: Path, discovery_url: str, extra: str = "") -> tuple:
    profile = tmp_path / "hostile.toml"
    profile.write_text(
        f'[target]\nname = "hostile"\ndiscovery_url = "{discovery_url}"\n'
        f'timeout = 1\n{extra}\n[driver]\nusers = ["899700000005"]\n{CLIENT}'
    )
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "psc_testkit",
            "conformance",
            "--target",
            str(profile),
            "--reports",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result, time.monotonic() - started, json.loads((tmp_path / "summary.json").read_text())


def assert_clean_failure(result, summary, reason: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output
    bad = [c for c in summary["checks"] if c["verdict"] in ("failed", "error")]
    assert bad, "a broken target must not pass"
    for check in bad:
        assert check["message"] and "\n" not in check["message"]
    assert any(reason in c["message"] for c in bad), {c["message"] for c in bad}


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("status-500", "HTTP 500"),
        ("html", "not a JSON object"),
        ("bad-json", "not a JSON object"),
        ("redirect-loop", "HTTP 302"),
        ("hang", "timed out"),
        ("drip", "not complete after 3 s"),
        ("huge", "exceeds 10485760 bytes"),
    ],
)
def test_broken_discovery_errors_every_check_with_one_line(hostile, tmp_path, mode, reason):
    url = f"{hostile}/{mode}/.well-known/openid-configuration"
    result, seconds, summary = conformance(tmp_path, url)
    assert_clean_failure(result, summary, reason)
    assert seconds < 60  # asked once, remembered: not once per check
    assert all(c["verdict"] in ("error", "skipped") for c in summary["checks"])


def test_connection_refused(tmp_path):
    result, _, summary = conformance(
        tmp_path, "http://127.0.0.1:9/.well-known/openid-configuration"
    )
    assert_clean_failure(result, summary, "cannot connect")


def test_issuer_mismatch_fails_the_issuer_check(hostile, tmp_path):
    url = f"{hostile}/issuer-mismatch/.well-known/openid-configuration"
    result, _, summary = conformance(tmp_path, url)
    assert_clean_failure(result, summary, "elsewhere.example")
    verdicts = {c["check"].split("::")[1]: c["verdict"] for c in summary["checks"]}
    assert verdicts["test_issuer_matches_the_discovery_url"] == "failed"


def test_unreachable_jwks_errors_the_key_checks(hostile, tmp_path):
    url = f"{hostile}/no-jwks/.well-known/openid-configuration"
    result, _, summary = conformance(tmp_path, url)
    assert_clean_failure(result, summary, "JWKS")
    verdicts = {c["check"].split("::")[1]: c["verdict"] for c in summary["checks"]}
    assert verdicts["test_every_key_has_a_kid"] == "error"
    assert verdicts["test_required_member_is_present[issuer]"] == "passed"


def test_untrusted_tls_certificate(tmp_path):
    with SimulatorProcess(tls=True, config=PROFILE) as sim:  # its CA is not given to the suite
        url = sim.issuer + "/.well-known/wallet-openid-configuration"
        result, _, summary = conformance(tmp_path, url)
    assert_clean_failure(result, summary, "TLS: certificate not trusted")
