"""PSC claim validation: the data-driven cases of schemas/tests/, identifier validators (with
property-based tests) and the validate-claims command."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from psc_testkit import identifiers as ids
from psc_testkit import psc_claims

ROOT = Path(__file__).resolve().parent.parent
CASES = json.loads((ROOT / "schemas" / "tests" / "psc-claims.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["description"][:60] for c in CASES])
def test_case(case):
    violations = psc_claims.validate(case["payload"], case["kind"], sandbox=case["sandbox"])
    must = [v for v in violations if v.level == "MUST"]
    assert (not must) == case["valid"], [str(v) for v in violations]
    assert sorted({v.path for v in must}) == sorted(case["violations"]), [str(v) for v in must]


def test_every_nomenclature_file_is_well_formed():
    found = psc_claims.nomenclatures()
    assert {"TRE_G15", "TRE_R02", "TRE_R23", "TRE_R21", "TRE_R22"} <= set(found)
    for nomenclature in found.values():
        assert nomenclature.codes and all(isinstance(v, str) for v in nomenclature.codes.values())


@given(st.integers(min_value=0, max_value=10**10 - 1))
def test_any_rpps_with_its_luhn_digit_is_a_valid_id_nat(n):
    rpps = ids.luhn_complete(f"{n:010d}")
    assert ids.id_nat_error("8" + rpps) is None
    wrong = rpps[:-1] + str((int(rpps[-1]) + 1) % 10)
    assert ids.id_nat_error("8" + wrong) is not None


@given(st.integers(min_value=0, max_value=10**8 - 1), st.integers(min_value=0, max_value=9999))
def test_siret_built_from_a_valid_siren_is_valid(siren_body, nic):
    siren = ids.luhn_complete(f"{siren_body:08d}")
    siret = ids.luhn_complete(siren + f"{nic:04d}")
    assert ids.siren_error(siren) is None and ids.siret_error(siret) is None
    for i in range(14):  # any single changed digit breaks it
        changed = siret[:i] + str((int(siret[i]) + 5) % 10) + siret[i + 1 :]
        assert ids.siret_error(changed) is not None


@given(st.text(max_size=20))
def test_id_nat_validation_never_crashes(value):
    assert ids.id_nat_error(value) is None or isinstance(ids.id_nat_error(value), str)


@pytest.mark.parametrize(
    ("value", "valid"),
    [("690781810", True), ("2A0000012", None), ("69078181", False), ("690781811", False)],
)
def test_finess(value, valid):
    error = ids.finess_error(value)
    if valid is not None:
        assert (error is None) == valid


def test_code_oid_form():
    assert ids.code_oid("10^1.2.250.1.213.1.1.5.5") == ("10", "1.2.250.1.213.1.1.5.5")
    assert ids.code_oid("SA07") is None and ids.code_oid("SA07^") is None


def run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "psc_testkit", "validate-claims", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_validate_claims_accepts_the_sandbox_payload_from_stdin():
    payload = json.dumps(CASES[0]["payload"])
    result = run("--sandbox", "-", stdin=payload)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith("0 violation(s) of a MUST, 0 warning(s)")


def test_validate_claims_rejects_a_corrupted_copy_and_names_path_rule_reference(tmp_path):
    broken = next(c for c in CASES if "codeProfession X1" in c["description"])
    path = tmp_path / "userinfo.json"
    path.write_text(json.dumps(broken["payload"]))
    result = run(str(path))
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if "codeProfession" in x)
    assert "$.SubjectRefPro.exercices[0].codeProfession" in line
    assert "[nomenclature]" in line and "'X1'" in line and "TRE_G15" in line


def test_validate_claims_reads_a_jwt(tmp_path):
    import jwt

    token = jwt.encode(CASES[-3]["payload"], "k" * 32, algorithm="HS256")  # the signature is
    path = tmp_path / "token.jwt"  # not checked: a captured token is validated as it is
    path.write_text(token)
    result = run(str(path))
    assert result.returncode == 0 and "access-token" in result.stdout


def test_validate_claims_on_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("not json")
    result = run(str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert run(str(tmp_path / "missing.json")).returncode == 2
