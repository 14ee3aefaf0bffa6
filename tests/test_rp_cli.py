"""`psc-testkit rp` as a vendor runs it: one line per test, a signed report that
`verify-certification` holds to the key, one clear line and the right exit code when the
profile, the app or the run goes wrong."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from psc_testkit.rp.plan import PLAN
from tests.rp_apps import ROOT, free_port, naive_profile

CLI = [sys.executable, "-m", "psc_testkit"]
needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)"
)


def rp(*args: str, cwd: Path = ROOT, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "rp", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_list_shows_the_whole_plan() -> None:
    done = rp("--list")
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == len(PLAN)
    assert re.search(
        r"^refuses-unsigned-id-token +OIDCC-3.1.3.7-7 +SHOULD +reject", done.stdout, re.M
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s.replace('rejected = { selector = "#login-error" }', ""),
            "[login] rejected is required",
        ),
        (
            lambda s: s.replace('client_id = "naive-sample-app"', ""),
            "[client]: client_id is required",
        ),
        (lambda s: s.replace("timeout = 10", "timeout = -1"), "[login] timeout must be"),
        (lambda s: s + "\n[oops", "not TOML"),
    ],
)
def test_an_unusable_profile_is_one_line_and_exit_2(tmp_path: Path, edit, message: str) -> None:
    profile = naive_profile(tmp_path)
    profile.write_text(edit(profile.read_text()))
    done = rp("--app", str(profile))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr + done.stdout


def test_an_unknown_test_name_is_exit_2(tmp_path: Path) -> None:
    done = rp("--app", str(naive_profile(tmp_path)), "--test", "refuses-everything")
    assert done.returncode == 2 and "unknown RP test(s) refuses-everything" in done.stderr


def test_an_app_that_does_not_start_is_one_line_and_exit_3(tmp_path: Path) -> None:
    profile = naive_profile(tmp_path, command='["{python}", "-c", "raise SystemExit(7)"]')
    done = rp("--app", str(profile))
    assert done.returncode == 3, done.stderr
    assert "the app exited (status 7) before it answered" in done.stderr
    assert "Traceback" not in done.stderr


@needs_chromium
def test_an_app_nobody_started_is_one_line_and_exit_3(tmp_path: Path) -> None:
    profile = naive_profile(tmp_path, port=free_port())
    text = profile.read_text().replace("command = ", "# command = ")
    profile.write_text(text.replace("client_secret = ", "client_secret = "))
    done = rp("--app", str(profile))
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("psc-testkit rp: the app cannot be driven: http://127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1


@needs_chromium
def test_a_run_prints_each_verdict_and_writes_a_signed_report(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    reports = tmp_path / "reports"
    done = rp(
        "--app",
        str(naive_profile(tmp_path, "nonce")),
        "--test",
        "refuses-wrong-nonce",
        "--reports",
        str(reports),
        "--sign-key",
        str(tmp_path / "key.pem"),
    )
    assert done.returncode == 1, done.stderr  # the nonce switch: a MUST fails
    lines = done.stdout.splitlines()
    assert lines[1].startswith("PASSED         MUST   OIDCC-3.1.3.7    honest-login")
    assert lines[2].startswith(
        "FAILED         MUST   OIDCC-3.1.3.7-11 refuses-wrong-nonce: "
        "the app logged the professional in"
    )
    assert lines[-1].startswith("RP certification of naive sample app (skipping nonce): FAILED")
    assert lines[-1].endswith("rp-report.json, signed")
    # The terminal is redacted as the report is: no code, token or secret in clear.
    assert not re.search(r"(code|state|access_token)=[^«&\s]", done.stdout)
    assert "naive-secret-for-the-self-tests" not in done.stdout + done.stderr
    document = json.loads((reports / "rp-report.json").read_text())
    assert document["verdict"] == "FAILED" and document["signature"]["alg"] == "EdDSA"

    def verify_report() -> subprocess.CompletedProcess:
        report, key = str(reports / "rp-report.json"), str(tmp_path / "pub.pem")
        command = [*CLI, "verify-certification", report, "--public-key", key]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)

    verify = verify_report()
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert (
        "verified: naive sample app (skipping nonce) test, as a PSC client: FAILED" in verify.stdout
    )
    # Altered after signing: no longer verifies.
    document["tests"][1]["verdict"] = "PASSED"
    (reports / "rp-report.json").write_text(json.dumps(document))
    verify = verify_report()
    assert verify.returncode == 1 and "altered" in verify.stdout


@needs_chromium
def test_an_interrupted_run_keeps_what_it_judged_and_says_incomplete(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    process = subprocess.Popen(
        [*CLI, "rp", "--app", str(naive_profile(tmp_path)), "--reports", str(reports)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    seen = [process.stdout.readline() for _ in range(3)]  # the title, then two verdicts
    assert seen[2].startswith("PASSED"), seen
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 4, err
    assert "INCOMPLETE" in out and "interrupted (SIGINT)" in out and "Traceback" not in err
    document = json.loads((reports / "rp-report.json").read_text())
    assert document["interrupted"] == "SIGINT" and document["verdict"] == "INCOMPLETE"
    assert 2 <= len(document["tests"]) < len(PLAN)
    time.sleep(0.5)
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == ""  # the app (its profile path is in the command) is gone
