"""`psc-testkit conformance --certify [--sign-key]` and `psc-testkit verify-certification`:
real runs against the simulator, real keys (made here with cryptography), real tampering."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from psc_testkit.conformance import certification
from tests.cli import psc_testkit
from tests.conftest import PROFILE, ROOT

SECRETS = ("sim-basic-6f1d2c9a4e", "sim-post-83b7e0f215")

run = psc_testkit


def key_pair(folder: Path, name: str, kind: str = "ed25519", bits: int = 2048) -> tuple[str, str]:
    """A private key and its public key, PEM files in `folder`: (private path, public path)."""
    if kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private, public = folder / f"{name}.key", folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(private), str(public)


def verify(path: Path, *args: str):
    return run("verify-certification", str(path), *args, timeout=60)


def one_line(result) -> str:
    """What verify-certification printed, which must be one line."""
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory) -> tuple[Path, str, str]:
    """One clean run against the simulator, certified and signed with an Ed25519 key."""
    folder = tmp_path_factory.mktemp("signed")
    private, public = key_pair(folder, "operator")
    reports = folder / "reports"
    result = run("conformance", "--certify", "--sign-key", private, "--reports", str(reports))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "certification: PASSED" in result.stdout and "signed" in result.stdout
    return reports, private, public


@pytest.mark.xdist_group("signed-run")  # one certified run, not one per worker
def test_a_clean_run_is_certified_passed_signed_and_secret_free(signed_run):
    reports, _, public = signed_run
    document = json.loads((reports / "certification.json").read_text())
    assert document["result"] == "PASSED"
    assert document["scope"]["declared"] is None  # the default: the whole catalogue
    assert document["scope"]["requirements"] == list(certification.catalogue())
    assert document["counts"]["not_checked"] == 0 and document["not_checked"] == {}
    assert len(document["suite"]["source_sha256"]) == 64
    assert {c["auth_method"] for c in document["profile"]["clients"]} >= {
        "client_secret_basic",
        "private_key_jwt",
        "tls_client_auth",
    }
    requirement = document["requirements"]["OIDCC-3.1.3.7-11"]
    assert requirement["verdict"] == "passed" and len(requirement["evidence_sha256"]) == 64
    assert document["signature"]["alg"] == "EdDSA"
    for name in ("certification.json", "certification.html"):
        text = (reports / name).read_text()
        assert not [s for s in SECRETS if s in text]
    html = (reports / "certification.html").read_text()
    assert 'id="result">PASSED' in html
    assert 'id="defects">none' in html and 'id="quirks">none' in html
    assert f"{document['counts']['in_scope']} in scope" in html
    assert "EdDSA" in html and document["signature"]["kid"] in html

    for shown in ("certification.json", "certification.html"):
        verified = verify(reports / shown, "--public-key", public)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert one_line(verified).startswith("verified: PASSED")


@pytest.mark.xdist_group("signed-run")  # one certified run, not one per worker
def test_a_tampered_certificate_or_another_key_fails_in_one_line(signed_run, tmp_path):
    reports, _, public = signed_run
    original = json.loads((reports / "certification.json").read_text())

    _, stranger = key_pair(tmp_path, "stranger")
    wrong_key = verify(reports / "certification.json", "--public-key", stranger)
    assert wrong_key.returncode == 1 and "another key" in one_line(wrong_key)

    edited = json.loads(json.dumps(original))
    edited["requirements"]["OIDCC-3.1.3.7-11"]["verdict"] = "passed (edited)"
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    tampered = verify(tmp_path / "edited.json", "--public-key", public)
    assert tampered.returncode == 1 and "altered" in one_line(tampered)

    # The checksum recomputed after the edit, as anyone could: the signature still says no.
    content = {k: v for k, v in edited.items() if k not in ("checksum_sha256", "signature")}
    edited["checksum_sha256"] = certification.hashlib.sha256(
        certification._canonical(content)
    ).hexdigest()
    (tmp_path / "rechecksummed.json").write_text(json.dumps(edited))
    recomputed = verify(tmp_path / "rechecksummed.json", "--public-key", public)
    assert recomputed.returncode == 1 and "altered" in one_line(recomputed)

    # Signed again by someone else, with a kid that names the operator's key.
    forger_key, _ = key_pair(tmp_path, "forger")
    forger = certification.load_signing_key(Path(forger_key))
    operator_kid = original["signature"]["kid"]
    forged = certification.sign(
        edited, certification.SigningKey(forger.key, forger.alg, operator_kid)
    )
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    refused = verify(tmp_path / "forged.json", "--public-key", public)
    assert refused.returncode == 1 and "altered" in one_line(refused)

    # The page edited, its embedded document untouched.
    html = (reports / "certification.html").read_text()
    (tmp_path / "edited.html").write_text(html.replace("passed</td>", "PASSED</td>", 1))
    page = verify(tmp_path / "edited.html", "--public-key", public)
    assert page.returncode == 1 and "page shown differs" in one_line(page)

    # The signature taken off: not verified against a key, nor accepted without one.
    stripped = {**original, "signature": "unsigned"}
    (tmp_path / "stripped.json").write_text(json.dumps(stripped))
    unsigned = verify(tmp_path / "stripped.json", "--public-key", public)
    assert unsigned.returncode == 1 and "unsigned" in one_line(unsigned)

    no_key = verify(reports / "certification.json")
    assert no_key.returncode == 2 and "--public-key" in one_line(no_key)


@pytest.mark.xdist_group("signed-run")  # one certified run, not one per worker
def test_an_rsa_signature_verifies_and_a_short_rsa_key_is_refused_before_the_run(
    signed_run, tmp_path
):
    reports, _, _ = signed_run
    private, public = key_pair(tmp_path, "rsa", "rsa")
    document = json.loads((reports / "certification.json").read_text())
    resigned = certification.sign(document, certification.load_signing_key(Path(private)))
    assert resigned["signature"]["alg"] == "RS256"
    certification.write(resigned, tmp_path / "rsa-reports")
    for name in ("certification.json", "certification.html"):
        verified = verify(tmp_path / "rsa-reports" / name, "--public-key", public)
        assert verified.returncode == 0, verified.stdout + verified.stderr

    weak, _ = key_pair(tmp_path, "weak", "rsa", bits=1024)
    refused = run("conformance", "--certify", "--sign-key", weak, "--reports", str(tmp_path / "w"))
    assert refused.returncode == 2 and "2048 at least" in refused.stderr
    assert not (tmp_path / "w" / "summary.json").exists()  # stopped before any check ran
    missing = run("conformance", "--certify", "--sign-key", str(tmp_path / "none.key"))
    assert missing.returncode == 2 and "No such file" in missing.stderr


def test_a_failing_run_is_certified_as_failed_with_its_defect_shown(tmp_path):
    result = run(
        "conformance", "--certify", "--defect", "nonce-not-echoed", "--reports", str(tmp_path)
    )
    assert result.returncode == 1
    document = json.loads((tmp_path / "certification.json").read_text())
    assert document["result"] == "FAILED" and document["signature"] == "unsigned"
    assert document["requirements"]["OIDCC-3.1.3.7-11"]["verdict"] == "failed"
    assert document["defects"] == ["nonce-not-echoed"]
    html = (tmp_path / "certification.html").read_text()
    assert 'id="result">FAILED' in html and 'id="defects">nonce-not-echoed' in html
    assert "UNSIGNED" in html

    refused = verify(tmp_path / "certification.json")
    assert refused.returncode == 1 and "unsigned" in one_line(refused)
    allowed = verify(tmp_path / "certification.json", "--allow-unsigned")
    assert allowed.returncode == 0 and one_line(allowed).startswith("intact but UNSIGNED")


def test_a_safe_profile_run_is_incomplete_with_what_it_did_not_check(own_simulator, tmp_path):
    """The simulator's profile with safe = true: no login, so the certificate cannot pass."""
    text = PROFILE.read_text().replace(
        "simulator = true",
        f'discovery_url = "{own_simulator.runtime()["discovery_url"]}"\n'
        f'ca_file = "{own_simulator.ca}"\nsafe = true',
    )
    profile = tmp_path / "safe.toml"
    profile.write_text(text.replace("{state}", str(own_simulator.state_dir)))
    reports = tmp_path / "reports"
    result = run("conformance", "--certify", "--target", str(profile), "--reports", str(reports))
    assert result.returncode == 4, result.stdout[-3000:]  # every MUST run held: inconclusive
    assert "certification: INCOMPLETE" in result.stdout
    document = json.loads((reports / "certification.json").read_text())
    assert document["result"] == "INCOMPLETE" and document["profile"]["safe"] is True
    missing = document["not_checked"]
    assert len(missing) == document["counts"]["not_checked"] > 20
    assert "OIDCC-3.1.3.7-11" in missing and missing["OIDCC-3.1.3.7-11"]["reasons"] == [
        "safe profile"
    ]
    gap = document["requirements"]["OIDCC-3.1.3.7-11"]["not_checked"][0]
    assert gap["detail"] == "safe profile: this check needs a user login"
    assert any(r["verdict"] == "passed" for r in document["requirements"].values())
    html = (reports / "certification.html").read_text()
    assert 'id="result">INCOMPLETE' in html and "Not checked" in html
    assert "safe profile: this check needs a user login" in html

    # The scope targets/psc-prod.toml suggests (commented out) is what a safe run checks.
    lines = (ROOT / "targets" / "psc-prod.toml").read_text().splitlines()
    start = lines.index("# [certification]")
    table = [line.removeprefix("# ") for line in lines[start:] if line.startswith("# ")]
    scoped = tmp_path / "scoped.toml"
    scoped.write_text("\n".join(table) + "\n")
    summary = json.loads((reports / "summary.json").read_text())
    held = certification.build(summary, None, scoped)
    assert held["result"] == "PASSED", held["not_checked"]
    assert held["profile"]["product"] == "My service"


def test_a_deselected_run_is_incomplete_not_passed(tmp_path):
    """The catalogue comes from the suite, not from what ran: `-- -k` cannot shrink it."""
    reports = tmp_path / "reports"
    result = run("conformance", "--certify", "--reports", str(reports), "--", "-k", "discovery")
    assert result.returncode == 4, result.stdout[-3000:]
    document = json.loads((reports / "certification.json").read_text())
    assert document["result"] == "INCOMPLETE"
    reasons = {r for e in document["not_checked"].values() for r in e["reasons"]}
    assert reasons == {"not run"}
    assert document["requirements"]["OIDCD-3"]["verdict"] == "passed"


@pytest.mark.xdist_group("signed-run")  # one certified run, not one per worker
def test_the_declared_scope_product_and_tester_come_from_the_profile(signed_run, tmp_path):
    """[certification] read from the profile (tomllib), applied to a real run's summary."""
    reports, _, _ = signed_run
    summary = json.loads((reports / "summary.json").read_text())
    scope = ("OIDCD", "RFC7517", "RFC8414", "PSC-DISCOVERY")
    summary["checks"] = [
        c
        for c in summary["checks"]
        if any(certification.matches(e, c["requirement"]) for e in scope)
    ]
    profile = tmp_path / "profile.toml"
    profile.write_text(
        PROFILE.read_text()
        + '\n[certification]\nproduct = "Wallet PSC"\nversion = "4.2.1"\ntester = "A. Tester"\n'
        'scope = ["OIDCD", "RFC7517", "RFC8414", "PSC-DISCOVERY"]\n'
    )
    document = certification.build(summary, None, profile)
    assert document["result"] == "PASSED", document["not_checked"]
    assert set(document["scope"]["requirements"]) == {
        r for r in certification.catalogue() if any(certification.matches(e, r) for e in scope)
    }
    assert document["counts"]["out_of_scope"] > 0
    html = certification.render_html(document)
    for shown in ('id="product">Wallet PSC', 'id="version">4.2.1', 'id="tester">A. Tester'):
        assert shown in html

    # The same run held to the whole catalogue is not a pass.
    assert certification.build(summary, None, PROFILE)["result"] == "INCOMPLETE"
    profile.write_text(PROFILE.read_text() + '\n[certification]\nexclude = ["OIDCC"]\n')
    assert not [
        r
        for r in certification.build(summary, None, profile)["scope"]["requirements"]
        if r.startswith("OIDCC-")
    ]

    for table, error in (
        ('scope = ["OIDDC"]', "'OIDDC' names no requirement of the suite (did you mean 'OIDCD'?)"),
        ('prodcut = "x"', "unknown field 'prodcut' (did you mean 'product'?)"),
        ('scope = "OIDCC"', "scope is a list of requirement ids or prefixes"),
    ):
        profile.write_text(PROFILE.read_text() + f"\n[certification]\n{table}\n")
        with pytest.raises(certification.CertificationError, match=re.escape(error)):
            certification.build(summary, None, profile)


def test_a_profile_with_a_certification_table_runs_and_is_certified(tmp_path):
    profile = tmp_path / "simulator.toml"
    profile.write_text(
        PROFILE.read_text().replace(
            "[driver]",
            '[certification]\nproduct = "Wallet PSC"\nscope = ["OIDCD", "RFC7517"]\n\n[driver]',
            1,
        )
    )
    reports = tmp_path / "reports"
    result = run(
        "conformance",
        "--certify",
        "--target",
        str(profile),
        "--reports",
        str(reports),
        "--",
        "-k",
        "discovery",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert 'id="product">Wallet PSC' in (reports / "certification.html").read_text()


def test_matches_cuts_prefixes_at_separators():
    assert certification.matches("OIDCC", "OIDCC-3.1.3.7-11")
    assert certification.matches("OIDCC-3.1", "OIDCC-3.1.3.7-11")
    assert not certification.matches("OIDCC-3.1", "OIDCC-3.10")
    assert not certification.matches("RFC7", "RFC7517-4")
    assert certification.matches("RFC7517-4", "RFC7517-4")


def test_a_run_stopped_before_the_checks_keeps_its_exit_code_and_says_why(tmp_path):
    with socket.socket() as listener:  # a port nobody listens on once closed
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    profile = tmp_path / "dead.toml"
    profile.write_text(
        f'[target]\nname = "dead"\n'
        f'discovery_url = "https://127.0.0.1:{port}/.well-known/openid-configuration"\n'
        '[driver]\nname = "manual"\n'
        '[[clients]]\nclient_id = "x"\nauth_method = "none"\n'
        'redirect_uri = "http://127.0.0.1:8080/callback"\n'
    )
    reports = tmp_path / "reports"
    result = run("conformance", "--certify", "--target", str(profile), "--reports", str(reports))
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    document = json.loads((reports / "certification.json").read_text())
    assert document["result"] == "INCOMPLETE"
    assert document["counts"]["not_checked"] == document["counts"]["in_scope"]
    gaps = [g for r in document["requirements"].values() for g in r["not_checked"]]
    assert gaps and {g["reason"] for g in gaps} == {"not run"}
    assert all("the run stopped" in g["detail"] and "unreachable" in g["detail"] for g in gaps)
