"""PSC claim validation: the data-driven cases of schemas/tests/, identifier validators (with
property-based tests) and the validate-claims command."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from psc_testkit.claims import identifiers as ids
from psc_testkit.claims import psc as psc_claims

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


# Payloads are judged by what they imply, and each coded field by its own nomenclature -------

BAS = CASES[0]["payload"]  # real BAS UserInfo (sandbox: EDIT identity)
ASSEMBLED = CASES[2]["payload"]  # fact sheet §3.5, every key name seen in real payloads


def changed(payload: dict, change) -> dict:
    copy = json.loads(json.dumps(payload))
    change(copy)
    return copy


def must_paths(claims: dict, kind: str = "auto", sandbox: bool = False) -> list[str]:
    return sorted(
        {v.path for v in psc_claims.validate(claims, kind, sandbox=sandbox) if v.level == "MUST"}
    )


def first_exercice(claims: dict) -> dict:
    return claims["SubjectRefPro"]["exercices"][0]


def first_activity(claims: dict) -> dict:
    return first_exercice(claims)["activities"][0]


def test_the_clean_payloads_hold_against_the_strictest_schema():
    assert psc_claims.implies_scope_all(ASSEMBLED) and psc_claims.implies_scope_all(BAS)
    assert must_paths(ASSEMBLED) == [] and must_paths(BAS, sandbox=True) == []


@pytest.mark.parametrize("missing", ["SubjectOrganizationID", "otherIds", "SubjectRole"])
def test_a_userinfo_with_sectoral_claims_is_held_to_all_of_scope_all(missing):
    # The BAS payload carries SubjectRefPro: scope_all released it, so each mandatory
    # scope_all claim must be there (the bare UserInfo schema asked for the pivot only).
    claims = changed(ASSEMBLED, lambda c: c.pop(missing))
    assert must_paths(claims) == ["$"]
    assert any(missing in v.message for v in psc_claims.validate(claims))


def test_a_pivot_only_userinfo_is_not_held_to_scope_all():
    # SYNAPSE's "regular_userinfo": what PSC answers without scope_all (fact sheet §3.3).
    pivot = {k: ASSEMBLED[k] for k in psc_claims.pivot_claims()}
    pivot["codeCivilite"] = "M"
    assert not psc_claims.implies_scope_all(pivot) and must_paths(pivot) == []


ID_TOKEN = {  # the ANS connector's fixture claims (fact sheet §2.3), with the times it needs
    "iss": "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet",
    "sub": ASSEMBLED["sub"],
    "aud": "ans-poc-esignsante-bas",
    "exp": 1677518368,
    "iat": 1677518248,
    "nonce": "4f1f0c1d",
    "acr": "eidas2",
    "amr": ["sc", "pin"],
}


def test_an_id_token_without_psc_claims_stays_an_id_token():
    assert psc_claims.detect_kind(ID_TOKEN) == "id-token" and must_paths(ID_TOKEN) == []


def test_a_token_carrying_a_sectoral_claim_is_held_to_all_of_scope_all():
    # Before: SubjectRole and Secteur_Activite made no payload a UserInfo, so this was judged
    # as an ID token and passed with four of scope_all's six claims missing.
    claims = {
        **ID_TOKEN,
        "SubjectRole": ASSEMBLED["SubjectRole"],
        "Secteur_Activite": ASSEMBLED["Secteur_Activite"],
    }
    assert psc_claims.detect_kind(claims) == "userinfo"
    assert "$" in must_paths(claims)
    for kind in ("id-token", "access-token"):
        messages = [v.message for v in psc_claims.validate(claims, kind) if v.level == "MUST"]
        assert any("SubjectRefPro" in m for m in messages), (kind, messages)


def test_an_access_token_with_other_ids_is_not_a_userinfo():
    # otherIds is an access-token claim too (REMOTE-CACHE): it implies nothing about scope_all.
    introspection = CASES[14]["payload"]
    assert "otherIds" in introspection and not psc_claims.implies_scope_all(introspection)
    assert psc_claims.detect_kind(introspection) == "access-token"


def test_every_coded_field_has_exactly_one_nomenclature():
    for field in psc_claims.CODED_FIELDS:
        assert psc_claims.nomenclature_for(field).codes, field
    assert psc_claims.nomenclature_for("codeProfession").id == "TRE_G15"
    assert psc_claims.nomenclature_for("codeSavoirFaire").id == "TRE_R01"
    assert psc_claims.nomenclature_for("codeSectionPharmacien").id == "TRE_G05"
    assert psc_claims.nomenclature_for("SubjectRole").id == "JDV_J65"


EXERCICE = "$.SubjectRefPro.exercices[0]"
ACTIVITY = f"{EXERCICE}.activities[0]"


@pytest.mark.parametrize(
    ("description", "change", "path"),
    [
        # Each was accepted before: a code of another table (found in the JDV_J65 union) was
        # a mere warning, and two fields' tables were looked up under a name no file has.
        (
            "a savoir-faire code as codeProfession",
            lambda c: first_exercice(c).update(codeProfession="SM54"),
            f"{EXERCICE}.codeProfession",
        ),
        (
            "a fonction code as codeProfession",
            lambda c: first_exercice(c).update(codeProfession="FON-01"),
            f"{EXERCICE}.codeProfession",
        ),
        (
            "a profession code as codeSavoirFaire",
            lambda c: first_exercice(c).update(codeSavoirFaire="10"),
            f"{EXERCICE}.codeSavoirFaire",
        ),
        (
            "an unknown savoir-faire",
            lambda c: first_exercice(c).update(codeSavoirFaire="SM999"),
            f"{EXERCICE}.codeSavoirFaire",
        ),
        (
            "a fonction code as codeSectionPharmacien",
            lambda c: first_activity(c).update(codeSectionPharmacien="FON-03"),
            f"{ACTIVITY}.codeSectionPharmacien",
        ),
        (
            "a civilité (TRE_R81) as codeCiviliteDexercice outside the sandbox",
            lambda c: first_exercice(c).update(codeCiviliteDexercice="MME"),
            f"{EXERCICE}.codeCiviliteDexercice",
        ),
        (
            "a TRE_R09 category as codeModeExercice",
            lambda c: first_activity(c).update(codeModeExercice="C"),
            f"{ACTIVITY}.codeModeExercice",
        ),
        (
            "a top-level codeGenreActivite outside TRE_R22 (Nov-2023 BAS location)",
            lambda c: c.update(codeGenreActivite="GENR77"),
            "$.codeGenreActivite",
        ),
        (
            "a top-level codeCivilite outside TRE_R81",
            lambda c: c.update(codeCivilite="DR"),
            "$.codeCivilite",
        ),
    ],
    ids=lambda x: x if isinstance(x, str) and " " in x else "",
)
def test_a_code_from_another_table_fails(description, change, path):
    claims = changed(ASSEMBLED, change)
    assert must_paths(claims) == [path], description


def test_a_profession_outside_g15_is_a_warning_not_a_pass():
    claims = changed(ASSEMBLED, lambda c: first_exercice(c).update(codeProfession="71"))
    found = [v for v in psc_claims.validate(claims) if v.path == f"{EXERCICE}.codeProfession"]
    assert [(v.level, "Ostéopathe" in v.message) for v in found] == [("SHOULD", True)]


def test_the_sandbox_tolerates_the_observed_m_and_nothing_else():
    # BAS payloads carry codeCiviliteDexercice "M" (fact sheet §3.2); sandbox mode used to
    # skip the field altogether, so any value passed.
    assert must_paths(BAS, sandbox=True) == []
    claims = changed(BAS, lambda c: first_exercice(c).update(codeCiviliteDexercice="XX"))
    assert must_paths(claims, sandbox=True) == [f"{EXERCICE}.codeCiviliteDexercice"]


def test_claims_the_schema_does_not_list_are_accepted():
    # OIDC Core 5.1 / 5.3.2: "Other Claims MAY be returned"; Keycloak adds preferred_username,
    # email_verified, name; PSC 2026 adds auth_level (fact sheet §7).
    extra = {"auth_level": "1", "name": "CLAIRE MARTIN", "locale": "fr"}
    assert must_paths({**ASSEMBLED, **extra}) == []
    id_token = {**ID_TOKEN, "preferred_username": "899700123450", "email_verified": False}
    assert must_paths({**id_token, **extra}) == []


def test_validate_claims_holds_a_token_with_sectoral_claims_to_scope_all(tmp_path):
    path = tmp_path / "id_token.json"
    path.write_text(json.dumps({**ID_TOKEN, "SubjectRole": ASSEMBLED["SubjectRole"]}))
    result = run(str(path))
    assert result.returncode == 1, result.stdout
    assert "INVALID: userinfo (scope_all)" in result.stdout and "SubjectRefPro" in result.stdout
    assert run("--kind", "id-token", str(path)).returncode == 1
