"""`psc-testkit conformance --certify` and `psc-testkit verify-certification`."""

import json
from pathlib import Path

from tests.cli import psc_testkit

ROOT = Path(__file__).resolve().parent.parent


run = psc_testkit


def test_certification_is_written_self_verifying_and_secret_free(tmp_path):
    result = run("conformance", "--certify", "--reports", str(tmp_path))
    assert result.returncode == 0, result.stdout[-2000:]
    document = json.loads((tmp_path / "certification.json").read_text())
    assert document["result"] == "PASSED"
    assert len(document["suite"]["source_sha256"]) == 64
    assert {c["auth_method"] for c in document["profile"]["clients"]} >= {
        "client_secret_basic",
        "private_key_jwt",
        "tls_client_auth",
    }
    requirement = document["requirements"]["OIDCC-3.1.3.7-11"]
    assert requirement["verdict"] == "passed" and len(requirement["evidence_sha256"]) == 64
    for name in ("certification.json", "certification.html"):
        text = (tmp_path / name).read_text()
        assert "sim-basic-6f1d2c9a4e" not in text and "sim-post-83b7e0f215" not in text
    assert 'id="result">PASSED' in (tmp_path / "certification.html").read_text()

    verified = run("verify-certification", str(tmp_path / "certification.json"), "--source")
    assert verified.returncode == 0 and "intact" in verified.stdout

    document["requirements"]["OIDCC-3.1.3.7-11"]["verdict"] = "passed (edited)"
    (tmp_path / "edited.json").write_text(json.dumps(document))
    tampered = run("verify-certification", str(tmp_path / "edited.json"))
    assert tampered.returncode == 1 and "altered" in tampered.stdout


def test_a_failing_run_is_certified_as_failed(tmp_path):
    result = run(
        "conformance", "--certify", "--defect", "nonce-not-echoed", "--reports", str(tmp_path)
    )
    assert result.returncode == 1
    document = json.loads((tmp_path / "certification.json").read_text())
    assert document["result"] == "FAILED"
    assert document["requirements"]["OIDCC-3.1.3.7-11"]["verdict"] == "failed"
    assert document["defects"] == ["nonce-not-echoed"]
