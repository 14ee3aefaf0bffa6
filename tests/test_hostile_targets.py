"""Hostile targets: a broken or misbehaving provider yields failed or errored checks with a
one-line reason, or, when what it breaks is what every check needs (its discovery document),
stops the run before the checks with one line and exit 3 — never a traceback, never a hang,
never a blow-up (per-request timeouts, a
whole-exchange deadline from the connection on, header limits, and a body size limit counted
after decompression keep every run bounded). Each run is a child whose time and peak memory
are measured and bounded."""

import datetime as dt
import ipaddress
import json
import sys
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
from tests.measure import Measured, run_measured

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


# A hostile run, with `timeout = 1` (3 s deadlines), takes ~15 s on an idle 2-core box (222
# checks erroring; a broken discovery now stops it after collection, in a few seconds) and over
# a minute when the rest of `make test` and more share it. Wall time
# bounds hangs (a run that hangs is killed at 300 s); CPU time, which load barely changes,
# bounds work (a loop per key, a bomb inflated).
MAX_SECONDS = 120
MAX_CPU_SECONDS = 60  # ~20 s today for a run whose 222 checks all error
MAX_PEAK_MB = 500  # and never holds more than this, whatever the target sends


def conformance(tmp_path: Path, discovery_url: str, extra: str = "") -> tuple:
    """(the child's result, seconds, summary.json) of a conformance run against the URL."""
    profile = tmp_path / "hostile.toml"
    profile.write_text(
        f'[target]\nname = "hostile"\ndiscovery_url = "{discovery_url}"\n'
        f'timeout = 1\n{extra}\n[driver]\nusers = ["899700000005"]\n{CLIENT}'
    )
    command = ["conformance", "--target", str(profile), "--reports", str(tmp_path)]
    result = run_measured([sys.executable, "-m", "psc_testkit", *command], cwd=ROOT, timeout=300)
    assert not result.timed_out, f"killed after {result.seconds:.0f} s"
    return result, result.seconds, json.loads((tmp_path / "summary.json").read_text())


def assert_bounded(result: Measured) -> None:
    assert result.seconds < MAX_SECONDS, f"{result.seconds:.1f} s"
    assert result.cpu_seconds < MAX_CPU_SECONDS, f"{result.cpu_seconds:.1f} s of CPU"
    assert result.peak_mb < MAX_PEAK_MB, f"peak memory {result.peak_mb:.0f} MB"


def assert_stopped(result, summary, reason: str) -> None:
    """Stopped before the checks (exit 3): one line on stderr, with the reason; no check run,
    and a summary that says why."""
    output = result.stdout + result.stderr
    assert result.returncode == 3, output[-2000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr[-2000:]
    assert summary["checks"] == [] and summary["exit_code"] == 3
    assert summary["stopped"]["reason"] == lines[0] and summary["stopped"]["before_checks"]


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
        ("huge", "body over 10 MB"),
        ("header-drip", "not complete after 3 s"),
        ("gzip-bomb", "body over 10 MB after decompression"),
        ("br-bomb", "body over 10 MB after decompression"),
        ("many-headers", "response has 3004 headers (at most 100)"),
        ("huge-header", "response headers over 64 KiB"),
        ("deep-json", "not a JSON object"),
    ],
)
def test_broken_discovery_stops_the_run_with_one_line(hostile, tmp_path, mode, reason):
    url = f"{hostile}/{mode}/.well-known/openid-configuration"
    result, _, summary = conformance(tmp_path, url)
    assert_stopped(result, summary, reason)
    assert_bounded(result)


def test_a_gzip_bomb_from_the_token_endpoint_fails_the_checks_that_ask_it(hostile, tmp_path):
    url = f"{hostile}/token-gzip-bomb/.well-known/openid-configuration"
    result, _, summary = conformance(tmp_path, url)
    assert_clean_failure(result, summary, "body over 10 MB after decompression")
    assert_bounded(result)
    verdicts = {c["check"].split("::")[1]: c["verdict"] for c in summary["checks"]}
    assert verdicts["test_issuer_matches_the_discovery_url"] == "passed"
    assert verdicts["test_keys_are_usable"] == "passed"


def test_a_jwks_of_200000_keys_is_checked_on_its_first_1000(hostile, tmp_path):
    url = f"{hostile}/many-keys/.well-known/openid-configuration"
    result, _, summary = conformance(tmp_path, url)
    assert_clean_failure(
        result, summary, "JWKS has 200000 keys: the first 1000 were checked, 199000 ignored"
    )
    assert_bounded(result)
    jwks_checks = [c for c in summary["checks"] if "test_rfc7517_jwks" in c["check"]]
    assert all(len(c["message"] or "") < 2000 for c in jwks_checks), jwks_checks
    unique = next(c for c in jwks_checks if "test_kids_are_unique" in c["check"])
    assert "… and 40 more" in unique["message"]  # 50 kids repeated: 10 listed
    assert (tmp_path / "junit.xml").stat().st_size < 2_000_000


def test_connection_refused(tmp_path):
    result, _, summary = conformance(
        tmp_path, "http://127.0.0.1:9/.well-known/openid-configuration"
    )
    assert_stopped(result, summary, "target unreachable: discovery document: cannot connect")
    assert_bounded(result)


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
    assert_stopped(result, summary, "TLS: certificate not trusted")


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
    result, _, summary = conformance(tmp_path, url, f'ca_file = "{ca}"')
    assert_stopped(result, summary, "TLS: certificate has expired")
    assert_bounded(result)


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


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("header-drip", "response not complete after 3 s"),
        ("gzip-bomb", "body over 10 MB after decompression"),
        ("br-bomb", "body over 10 MB after decompression"),
    ],
)
def test_profile_check_fails_a_hostile_discovery_in_bounded_time(hostile, tmp_path, mode, reason):
    profile = tmp_path / "hostile.toml"
    profile.write_text(
        f'[target]\ndiscovery_url = "{hostile}/{mode}/.well-known/openid-configuration"\n'
        f"timeout = 1\n{CLIENT}"
    )
    command = [sys.executable, "-m", "psc_testkit", "profile", "check", str(profile)]
    result = run_measured(command, cwd=ROOT, timeout=120)
    assert not result.timed_out, f"killed after {result.seconds:.0f} s"
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    discovery = next(line for line in result.stdout.splitlines() if " discovery " in line)
    assert discovery.startswith("FAIL") and reason in discovery, result.stdout
    assert result.seconds < 30, f"{result.seconds:.1f} s"  # one 3 s deadline, not one per step
    assert result.cpu_seconds < 15, f"{result.cpu_seconds:.1f} s of CPU"
    assert result.peak_mb < MAX_PEAK_MB, f"peak memory {result.peak_mb:.0f} MB"
