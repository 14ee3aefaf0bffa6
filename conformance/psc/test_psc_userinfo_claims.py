"""Pro Santé Connect claims in UserInfo (fact sheet §3): the identité pivot, the sectoral data
that scope_all releases, codes from the ANS nomenclatures and valid identifiers — for several
test professionals of the profile, since one professional proves little about a directory."""

import pytest

from conformance.helpers import expect
from psc_testkit.claims import psc as psc_claims
from psc_testkit.claims.schemas import schema_errors, schema_id

# The identité pivot and scope_all's mandatory claims, from the schemas (schemas/psc/).
PIVOT = psc_claims.pivot_claims()
SECTORAL = psc_claims.scope_all_mandatory()


def per_professional(professionals, problems_of) -> list[str]:
    return [
        f"professional #{i}: {problem}"
        for i, pro in enumerate(professionals)
        for problem in problems_of(pro)
    ]


@pytest.mark.requirement("PSC-CLAIMS-PIVOT", "SHOULD")
def test_identite_pivot_is_present(professionals):
    """PSC-CLAIMS-PIVOT SHOULD. Every UserInfo carries the identité pivot: sub, SubjectNameID,
    preferred_username, given_name, family_name, as non-empty strings. Inferred, not
    documented: "No normative list of mandatory claims was found" and "[I] Always present:
    `sub`, `SubjectNameID`, `preferred_username`, `given_name`, `family_name`." (fact sheet
    §3.3). sub alone is an OIDC MUST ("The sub (subject) Claim MUST always be returned in the
    UserInfo Response.", OIDC Core §5.3.2), judged by core's UserInfo checks."""
    problems = per_professional(
        professionals,
        lambda p: [
            f"{name} missing or empty"
            for name in PIVOT
            if not (isinstance(p.userinfo.get(name), str) and p.userinfo[name])
        ],
    )
    expect(not problems, "the five pivot claims for every professional", problems)


@pytest.mark.requirement("PSC-SCOPE-ALL", "SHOULD")
def test_scope_all_releases_the_sectoral_claims(professionals, target):
    """PSC-SCOPE-ALL SHOULD. With scope=openid scope_all, UserInfo carries the sectoral claims:
    SubjectRefPro, SubjectRole, Secteur_Activite, SubjectOrganization(ID), otherIds. Inferred,
    not documented: "[I] `scope_all` is the scope that releases the sectoral claims" (fact
    sheet §2.1), claims seen in every scope_all payload (§3.1 [V-obs])."""
    if "scope_all" not in target.scopes:
        pytest.skip("the profile does not request scope_all")
    problems = per_professional(
        professionals, lambda p: [f"{name} missing" for name in SECTORAL if name not in p.userinfo]
    )
    expect(not problems, "every sectoral claim", problems)


def schema_problems(professionals, target, missing: bool) -> list[str]:
    """What the PSC UserInfo schema finds, either its missing keys only (`missing`) or all
    else. A payload is held to the strictest schema it implies: userinfo-scope-all when
    scope_all was requested or when it carries any claim only scope_all releases."""

    def problems(pro):
        strict = "scope_all" in target.scopes or psc_claims.implies_scope_all(pro.userinfo)
        schema = "psc:userinfo-scope-all" if strict else "psc:userinfo"
        return [
            f"{path}: {message}"
            for path, message in schema_errors(schema_id(schema), pro.userinfo)
            if message.endswith(REQUIRED_MESSAGE) == missing
        ]

    return per_professional(professionals, problems)


REQUIRED_MESSAGE = "is a required property"  # jsonschema's words for a missing key


@pytest.mark.requirement("PSC-SCHEMA", "MUST")
def test_userinfo_matches_the_psc_schema(professionals, target):
    """PSC-SCHEMA MUST. UserInfo has PSC's shape: claim names (SubjectOrganizationID,
    codeSecteurDactivite…) and JSON types of the SubjectRefPro model ANS publishes (fact sheet
    §3.2 [V], POC-MODEL; schemas/psc/). Keys the schema expects but the payload lacks are
    test_userinfo_carries_every_observed_key's (SHOULD): their presence is only observed."""
    found = schema_problems(professionals, target, missing=False)
    expect(not found, "valid against the PSC UserInfo schema", found[:10])


@pytest.mark.requirement("PSC-SCHEMA", "SHOULD")
def test_userinfo_carries_every_observed_key(professionals, target):
    """PSC-SCHEMA SHOULD. UserInfo carries every key the PSC schema expects. Observed, not
    documented: "No normative list of mandatory claims was found [?]. ANS's Java models mark
    nothing as required." and "Observed behaviour [V-obs]: every activity key is present even
    when empty" (fact sheet §3.3)."""
    found = schema_problems(professionals, target, missing=True)
    expect(not found, "every key of the PSC UserInfo schema", found[:10])


@pytest.mark.requirement("PSC-SECTORAL", "SHOULD")
def test_each_activity_has_a_mode_and_a_place_of_practice(professionals):
    """PSC-SECTORAL SHOULD. Each exercice names its profession, and each activity its mode
    d'exercice (salarié, libéral…) and its lieu d'activité (structure or address): what access
    control in vendors' applications is built on (fact sheet §3.2, DNUM). Observed, not
    documented: §3.2 [V] names the fields, but "No normative list of mandatory claims was
    found" (§3.3), and "`exercices` and `activities` may contain 0..n entries" [I]."""

    def problems(pro):
        found = []
        exercices = (pro.userinfo.get("SubjectRefPro") or {}).get("exercices") or []
        if not exercices:
            found.append("no exercice")
        for e, exercice in enumerate(exercices):
            if not exercice.get("codeProfession"):
                found.append(f"exercices[{e}] without codeProfession")
            for a, activity in enumerate(exercice.get("activities") or []):
                where = f"exercices[{e}].activities[{a}]"
                if not activity.get("codeModeExercice"):
                    found.append(f"{where} without codeModeExercice")
                if not (activity.get("raisonSocialeSite") or activity.get("codeCommune")):
                    found.append(f"{where} without a place (raisonSocialeSite or codeCommune)")
        return found

    found = per_professional(professionals, problems)
    expect(not found, "a profession, a mode and a place for every activity", found)


def violations(professionals, target, rule, level="MUST") -> list[str]:
    return per_professional(
        professionals,
        lambda p: [
            str(v)
            for v in psc_claims.validate_userinfo(p.userinfo, sandbox=target.sandbox)
            if v.rule in rule and v.level == level
        ],
    )


@pytest.mark.requirement("PSC-NOMENCLATURE", "MUST")
def test_codes_are_in_their_nomenclatures(professionals, target):
    """PSC-NOMENCLATURE MUST. Every code (codeProfession, codeModeExercice, codeSecteurDactivite,
    codeRole, codeGenreActivite, codeCivilite…) belongs to its ANS nomenclature
    (schemas/nomenclatures/). A failure names the code, its JSON path and the nomenclature."""
    found = violations(professionals, target, ("nomenclature",))
    expect(not found, "codes from the nomenclatures", found[:10])


@pytest.mark.requirement("PSC-NOMENCLATURE", "SHOULD")
def test_codes_of_partly_known_nomenclatures_are_known(professionals, target):
    """PSC-NOMENCLATURE SHOULD. Codes of nomenclatures this suite holds only in part
    (savoir-faire…) are among the known ones; an unknown one may be new, hence a warning."""
    found = violations(professionals, target, ("nomenclature",), "SHOULD")
    expect(not found, "known codes", found[:10])


@pytest.mark.requirement("PSC-IDENTIFIERS", "MUST")
def test_identifiers_are_valid(professionals, target):
    """PSC-IDENTIFIERS MUST. idNat (8+RPPS with its Luhn digit, 0+ADELI; EDIT ids only in the
    sandbox), SIRET/SIREN (Luhn), FINESS (Luhn), postal and INSEE commune codes are well
    formed, and a SIRET starts with its SIREN (fact sheet §4)."""
    found = violations(professionals, target, ("identifier", "consistency"))
    expect(not found, "valid identifiers and check digits", found[:10])


@pytest.mark.requirement("PSC-CODE-OID", "SHOULD")
def test_code_oid_claims_are_well_formed(professionals, target):
    """PSC-CODE-OID SHOULD. SubjectRole entries are <codeProfession>^1.2.250.1.213.1.1.5.5 and
    Secteur_Activite is <TRE_R02 code>^1.2.250.1.71.4.2.4. Observed, not documented: the VIHF
    form is "[V-obs]" for both claims (fact sheet §3.1; the OID confirmed by POC-JDV)."""
    found = violations(professionals, target, ("code^OID",))
    expect(not found, "code^OID values with the right OIDs", found[:10])


@pytest.mark.requirement("PSC-CONSISTENCY", "SHOULD")
def test_organisation_and_identifier_claims_agree(professionals, target):
    """PSC-CONSISTENCY SHOULD. As in every observed payload: preferred_username = SubjectNameID,
    otherIds carries the SubjectNameID, SubjectOrganizationID is the first activity's
    identifiantTechniqueDeLaStructure."""
    found = violations(professionals, target, ("consistency",), "SHOULD")
    expect(not found, "consistent claims", found[:10])


@pytest.mark.requirement("PSC-CONSISTENCY", "SHOULD")
def test_subject_role_lists_the_professions_of_the_exercices(professionals):
    """PSC-CONSISTENCY SHOULD. SubjectRole has one <codeProfession>^OID per exercice, and
    Secteur_Activite is the first activity's sector (observed in BAS payloads)."""

    def problems(pro):
        info = pro.userinfo
        exercices = (info.get("SubjectRefPro") or {}).get("exercices") or []
        roles = sorted(r.split("^")[0] for r in info.get("SubjectRole") or [])
        professions = sorted(e.get("codeProfession") for e in exercices)
        found = (
            [] if roles == professions else [f"SubjectRole {roles} vs professions {professions}"]
        )
        first = next((e["activities"][0] for e in exercices if e.get("activities")), None)
        sector = (info.get("Secteur_Activite") or "").split("^")[0]
        if first is not None and sector != first.get("codeSecteurDactivite"):
            found.append(f"Secteur_Activite {sector!r} vs {first.get('codeSecteurDactivite')!r}")
        return found

    found = per_professional(professionals, problems)
    expect(not found, "SubjectRole and Secteur_Activite from the exercices", found)
