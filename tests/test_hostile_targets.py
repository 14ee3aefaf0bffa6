"""Hostile targets: a broken or misbehaving provider yields failed or errored checks with a
one-line reason — never a traceback, never a hang (per-request timeouts, a whole-exchange
deadline and a body size limit keep every run bounded)."""

import datetime as dt
import ipaddress
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from psc_testkit.simulator.process import SimulatorProcess
from tests import hostile_server
from tests.cli import psc_testkit
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


# An expired certificate -----------------------------------------------------------------------

EXPIRED_ON = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)


def _certificate(subject: str, issuer: x509.Name | None, key, signer, *, ca: bool, until):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(until - dt.timedelta(days=90))
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        address = ipaddress.ip_address("127.0.0.1")
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(address)]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def expired_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A local CA (valid) and a leaf for 127.0.0.1 that expired 3 days ago: (ca, cert, key)."""
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    now = dt.datetime.now(dt.UTC)
    ca = _certificate(
        "hostile test CA", None, ca_key, ca_key, ca=True, until=now + dt.timedelta(days=1)
    )
    leaf = _certificate("127.0.0.1", ca.subject, leaf_key, ca_key, ca=False, until=EXPIRED_ON)
    paths = folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture(scope="module")
def expired(tmp_path_factory):
    """(origin, CA file) of an HTTPS server whose certificate, from a trusted CA, has expired."""
    ca, cert, key = expired_certificate(tmp_path_factory.mktemp("expired"))
    server = hostile_server.start_tls(cert, key)
    yield f"https://127.0.0.1:{server.server_address[1]}", ca
    server.shutdown()


def test_expired_tls_certificate(expired, tmp_path):
    origin, ca = expired
    url = f"{origin}/issuer-mismatch/.well-known/openid-configuration"
    result, seconds, summary = conformance(tmp_path, url, f'ca_file = "{ca}"')
    assert_clean_failure(result, summary, "TLS: certificate has expired")
    assert seconds < 60
    assert all(c["verdict"] in ("error", "skipped") for c in summary["checks"])


def test_profile_check_says_when_the_certificate_expired(expired, tmp_path):
    origin, ca = expired
    profile = tmp_path / "expired.toml"
    profile.write_text(
        f'[target]\ndiscovery_url = "{origin}/.well-known/openid-configuration"\n'
        f'ca_file = "{ca}"\ntimeout = 2\n{CLIENT}'
    )
    result = psc_testkit("profile", "check", str(profile), timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok   TCP") for line in lines), result.stdout
    tls = next(line for line in lines if line.split()[1:2] == ["TLS"])
    assert tls.startswith("FAIL") and f"certificate expired on {EXPIRED_ON:%Y-%m-%d}" in tls
    assert not any(line.split()[1:2] == ["discovery"] for line in lines)  # stopped at TLS
