"""Pro Santé Connect claims: schema, identifiers, nomenclature codes and consistency.

`validate()` returns every violation with the JSON path, the rule, the reference (spec section
or nomenclature with its OID) and its level: MUST for what is certain (schema, check digits,
codes of complete nomenclatures), SHOULD for what was only observed in real payloads or comes
from a nomenclature we hold only in part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from psc_testkit.claims import identifiers as ids
from psc_testkit.claims.schemas import SCHEMAS_DIR, registry, schema_errors, schema_id
from psc_testkit.client.tokens import TokenFormatError, decode

NOMENCLATURES_DIR = SCHEMAS_DIR / "nomenclatures"
OID_SUBJECT_ROLE = "1.2.250.1.213.1.1.5.5"
OID_SECTEUR_ACTIVITE = "1.2.250.1.71.4.2.4"
FACT_SHEET = "PSC claims (fact sheet §3)"

# The coded fields, where they live. Each is checked against the one nomenclature whose file
# names it in "claims" (nomenclature_for): never a union of tables, which would let a code of
# one field (a savoir-faire, a fonction) pass in another (codeProfession).
EXERCICE_CODES = (
    "codeProfession",
    "codeCategorieProfessionnelle",
    "codeCiviliteDexercice",
    "codeTypeSavoirFaire",
    "codeSavoirFaire",
)
ACTIVITY_CODES = (
    "codeModeExercice",
    "codeSecteurDactivite",
    "codeSectionPharmacien",
    "codeRole",
    "codeGenreActivite",
)
# A Nov-2023 BAS payload carries these at the top level (fact sheet §2.8 item 6).
TOP_LEVEL_CODES = ("codeCivilite", "codeGenreActivite")
CODE_OID_CLAIMS = {"SubjectRole": OID_SUBJECT_ROLE, "Secteur_Activite": OID_SECTEUR_ACTIVITE}
CODED_FIELDS = (
    *EXERCICE_CODES,
    *ACTIVITY_CODES,
    *TOP_LEVEL_CODES,
    *CODE_OID_CLAIMS,
)
# BAS payloads carry the TRE_R81 civilité "M" in codeCiviliteDexercice (fact sheet §3.2,
# POC-USERINFO): tolerated in sandbox mode, and only that value.
SANDBOX_CODES = {"codeCiviliteDexercice": frozenset({"M"})}


@dataclass(frozen=True)
class Violation:
    path: str
    rule: str
    reference: str
    message: str
    level: str = "MUST"

    def __str__(self) -> str:
        return f"{self.level:<6} {self.path}  [{self.rule}] {self.message} ({self.reference})"


@dataclass(frozen=True)
class Nomenclature:
    id: str
    name: str
    oid: str | None
    complete: bool
    codes: dict[str, str]
    claims: tuple[str, ...] = ()  # the coded fields whose codes come from this nomenclature

    @property
    def reference(self) -> str:
        return f"{self.id} {self.name}" + (f" ({self.oid})" if self.oid else "")


@cache
def nomenclatures() -> dict[str, Nomenclature]:
    found = {}
    for path in sorted(NOMENCLATURES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[data["id"]] = Nomenclature(
            data["id"],
            data["name"],
            data.get("oid"),
            bool(data.get("complete")),
            data["codes"],
            tuple(data.get("claims", ())),
        )
    return found


@cache
def nomenclature_for(field: str) -> Nomenclature:
    """The one nomenclature a coded field's codes come from: the file naming it in "claims"."""
    named = [n for n in nomenclatures().values() if field in n.claims]
    if len(named) != 1:
        raise LookupError(
            f"{field}: named by {len(named)} nomenclature files "
            f"({', '.join(n.id for n in named) or 'none'}), expected exactly one"
        )
    return named[0]


@cache
def other_professions() -> dict[str, str]:
    """Profession codes outside TRE_G15 that PSC's codeProfession may carry (ostéopathes,
    social professions…): JDV_J65's profession code systems (its file's code_systems)."""
    path = NOMENCLATURES_DIR / "JDV_J65-SubjectRole-DMP.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    codes = {
        c for oid, listed in data["code_systems"].items() if not oid.startswith("$") for c in listed
    }
    return {c: data["codes"][c] for c in sorted(codes)}


def _check_code(value: object, field: str, path: str, *, sandbox: bool = False) -> Violation | None:
    """A code must be in its field's nomenclature; empty means absent (PSC sends "")."""
    if not isinstance(value, str) or value == "":
        return None
    nomenclature = nomenclature_for(field)
    if value in nomenclature.codes:
        return None
    if sandbox and value in SANDBOX_CODES.get(field, ()):
        return None
    if field == "codeProfession" and value in other_professions():
        return Violation(
            path,
            "nomenclature",
            nomenclature.reference,
            f"code {value!r} is not a TRE_G15 health profession "
            f"(JDV_J65 profession: {other_professions()[value]})",
            "SHOULD",
        )
    # MUST only when the list is complete: an unknown code may be newer than ours.
    return Violation(
        path,
        "nomenclature",
        nomenclature.reference,
        f"code {value!r} is not in the nomenclature",
        "MUST" if nomenclature.complete else "SHOULD",
    )


def _identifier(path: str, value: object, check, reference: str) -> Violation | None:
    if not isinstance(value, str) or value == "":
        return None
    problem = check(value)
    if not problem:
        return None
    return Violation(path, "identifier", reference, f"{value!r} ({ids.shape(value)}): {problem}")


def _activity(activity: dict, path: str, sandbox: bool) -> list[Violation]:
    found: list[Violation | None] = [
        _check_code(activity.get(field), field, f"{path}.{field}") for field in ACTIVITY_CODES
    ]
    finess = (
        (lambda v: None if v.isalnum() and len(v) == 9 else "9 characters")
        if sandbox
        else ids.finess_error
    )
    found += [
        _identifier(
            f"{path}.numeroSiretSite",
            activity.get("numeroSiretSite"),
            ids.siret_error,
            "SIRET (INSEE), Luhn",
        ),
        _identifier(
            f"{path}.numeroSirenSite",
            activity.get("numeroSirenSite"),
            ids.siren_error,
            "SIREN (INSEE), Luhn",
        ),
        _identifier(
            f"{path}.numeroFinessSite", activity.get("numeroFinessSite"), finess, "FINESS, Luhn"
        ),
        _identifier(
            f"{path}.numeroFinessetablissementJuridique",
            activity.get("numeroFinessetablissementJuridique"),
            finess,
            "FINESS, Luhn",
        ),
        _identifier(
            f"{path}.codePostal",
            activity.get("codePostal"),
            ids.postal_code_error,
            "La Poste postal code",
        ),
        _identifier(
            f"{path}.codeCommune",
            activity.get("codeCommune"),
            ids.commune_code_error,
            "INSEE code officiel géographique",
        ),
    ]
    siret, siren = activity.get("numeroSiretSite"), activity.get("numeroSirenSite")
    if (
        isinstance(siret, str)
        and isinstance(siren, str)
        and siret
        and siren
        and not siret.startswith(siren)
    ):
        found.append(
            Violation(
                f"{path}.numeroSiretSite",
                "consistency",
                "SIRET = SIREN + NIC",
                f"SIRET {siret!r} does not start with the SIREN {siren!r}",
            )
        )
    return [v for v in found if v]


def _code_oid(path: str, value: object, field: str) -> list[Violation]:
    oid = CODE_OID_CLAIMS[field]
    split = ids.code_oid(value) if isinstance(value, str) else None
    if split is None:
        return [Violation(path, "code^OID", FACT_SHEET, f"{value!r} is not of the form code^{oid}")]
    code, found_oid = split
    if found_oid != oid:
        return [Violation(path, "code^OID", FACT_SHEET, f"OID {found_oid} instead of {oid}")]
    problem = _check_code(code, field, path)
    return [problem] if problem else []


@cache
def _schema_properties(short: str) -> frozenset[str]:
    return frozenset(registry().contents(schema_id(short)).get("properties", {}))


@cache
def pivot_claims() -> tuple[str, ...]:
    """The identité pivot every UserInfo carries (userinfo schema)."""
    return tuple(registry().contents(schema_id("psc:userinfo"))["required"])


@cache
def scope_all_mandatory() -> tuple[str, ...]:
    """The claims every UserInfo released with scope_all carries (scope-all-claims schema)."""
    return tuple(registry().contents(schema_id("psc:scope-all-claims"))["required"])


@cache
def scope_all_markers() -> frozenset[str]:
    """Claims only scope_all's UserInfo releases: scope_all's claims less those PSC's access
    token carries anyway (otherIds). One of them in a payload means scope_all released it."""
    return _schema_properties("psc:scope-all-claims") - _schema_properties("psc:access-token")


def implies_scope_all(claims: object) -> bool:
    return isinstance(claims, dict) and any(name in claims for name in scope_all_markers())


def _schema_violations(shorts: list[str], claims: object, reference: str) -> list[Violation]:
    # Several schemas may state the same constraint (a $ref shared): report it once.
    errors = sorted({e for short in shorts for e in schema_errors(schema_id(short), claims)})
    return [Violation(path, "schema", reference, message) for path, message in errors]


def validate_userinfo(claims: dict, *, sandbox: bool = False) -> list[Violation]:
    """UserInfo against the strictest schema its content implies: one carrying any claim that
    only scope_all releases is held to every mandatory scope_all claim."""
    shorts = ["psc:userinfo"] + (["psc:scope-all-claims"] if implies_scope_all(claims) else [])
    found = _schema_violations(shorts, claims, "PSC UserInfo schema (fact sheet §3)")
    if not isinstance(claims, dict):
        return found
    return found + _content(claims, sandbox)


def _content(claims: dict, sandbox: bool) -> list[Violation]:
    """Identifiers, coded fields and consistency of whatever PSC claims a payload carries."""
    found: list[Violation] = []
    id_nat = claims.get("SubjectNameID")
    if isinstance(id_nat, str) and (problem := ids.id_nat_error(id_nat, allow_edit=sandbox)):
        found.append(
            Violation(
                "$.SubjectNameID",
                "identifier",
                "idNat_PS (fact sheet §4.1)",
                f"{id_nat!r} ({ids.shape(id_nat, id_nat=True)}): {problem}",
            )
        )
    roles = claims.get("SubjectRole")
    for i, role in enumerate(roles if isinstance(roles, list) else []):
        found += _code_oid(f"$.SubjectRole[{i}]", role, "SubjectRole")
    if sector := claims.get("Secteur_Activite"):
        found += _code_oid("$.Secteur_Activite", sector, "Secteur_Activite")
    coded = [(f"$.{field}", field, claims.get(field)) for field in TOP_LEVEL_CODES]
    refpro = claims.get("SubjectRefPro")
    exercices = refpro.get("exercices") if isinstance(refpro, dict) else None
    if isinstance(refpro, dict):
        coded.append(("$.SubjectRefPro.codeCivilite", "codeCivilite", refpro.get("codeCivilite")))
    for e, exercice in enumerate(exercices if isinstance(exercices, list) else []):
        if not isinstance(exercice, dict):
            continue
        base = f"$.SubjectRefPro.exercices[{e}]"
        coded += [(f"{base}.{field}", field, exercice.get(field)) for field in EXERCICE_CODES]
        activities = exercice.get("activities")
        for a, activity in enumerate(activities if isinstance(activities, list) else []):
            if isinstance(activity, dict):
                found += _activity(activity, f"{base}.activities[{a}]", sandbox)
    for path, field, value in coded:
        if problem := _check_code(value, field, path, sandbox=sandbox):
            found.append(problem)
    found += _consistency(claims)
    return found


def _consistency(claims: dict) -> list[Violation]:
    """What real payloads always show, though no spec says it: SHOULD-level."""
    found = []
    id_nat = claims.get("SubjectNameID")
    if "preferred_username" in claims and claims.get("preferred_username") != id_nat:
        found.append(
            Violation(
                "$.preferred_username",
                "consistency",
                FACT_SHEET,
                "preferred_username differs from SubjectNameID",
                "SHOULD",
            )
        )
    other = claims.get("otherIds")
    if (
        isinstance(other, list)
        and other
        and not any(isinstance(o, dict) and o.get("identifiant") == id_nat for o in other)
    ):
        found.append(
            Violation(
                "$.otherIds",
                "consistency",
                FACT_SHEET,
                "no otherIds entry carries the SubjectNameID",
                "SHOULD",
            )
        )
    refpro = claims.get("SubjectRefPro")
    exercices = refpro.get("exercices") if isinstance(refpro, dict) else None
    first = None
    for exercice in exercices if isinstance(exercices, list) else []:
        activities = exercice.get("activities") if isinstance(exercice, dict) else None
        if isinstance(activities, list) and activities and isinstance(activities[0], dict):
            first = activities[0]
            break
    if first is not None and "SubjectOrganizationID" in claims:
        expected = first.get("identifiantTechniqueDeLaStructure")
        if claims["SubjectOrganizationID"] != expected:
            found.append(
                Violation(
                    "$.SubjectOrganizationID",
                    "consistency",
                    FACT_SHEET,
                    f"{claims['SubjectOrganizationID']!r} is not the first activity's "
                    f"identifiantTechniqueDeLaStructure {expected!r}",
                    "SHOULD",
                )
            )
    return found


def validate_id_token(claims: dict) -> list[Violation]:
    return [
        Violation(path, "schema", "PSC ID token schema (OIDC Core §2)", message)
        for path, message in schema_errors(schema_id("psc:id-token"), claims)
    ]


def validate_access_token(claims: dict, *, sandbox: bool = False) -> list[Violation]:
    found = [
        Violation(path, "schema", "PSC access token schema (fact sheet §2.3, §2.5)", message)
        for path, message in schema_errors(schema_id("psc:access-token"), claims)
    ]
    username = claims.get("preferred_username") if isinstance(claims, dict) else None
    if isinstance(username, str) and (problem := ids.id_nat_error(username, allow_edit=sandbox)):
        found.append(
            Violation(
                "$.preferred_username",
                "identifier",
                "idNat_PS (fact sheet §4.1)",
                f"{username!r} ({ids.shape(username, id_nat=True)}): {problem}",
            )
        )
    return found


def detect_kind(claims: dict) -> str:
    # A claim only UserInfo's scope_all releases makes a payload a UserInfo, whatever else it
    # lacks: judged as an ID token it would pass with its sectoral claims half missing.
    if "SubjectNameID" in claims or implies_scope_all(claims):
        return "userinfo"
    if "active" in claims or claims.get("typ") == "Bearer" or "authMode" in claims:
        return "access-token"
    return "id-token"


def kind_label(claims: dict, kind: str) -> str:
    """The kind and, when its content implies scope_all, that it was held to scope_all."""
    return f"{kind} (scope_all)" if implies_scope_all(claims) else kind


VALIDATORS = {
    "userinfo": validate_userinfo,
    "id-token": lambda c, sandbox=False: validate_id_token(c),
    "access-token": validate_access_token,
}


def load_payload(text: str) -> dict:
    """A payload as captured: a JSON object, or a JWT (its claims; signature not required)."""
    text = text.strip()
    if text.startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the JSON document is not an object")
        return data
    try:
        return decode(text).claims
    except TokenFormatError as exc:
        raise ValueError(f"neither a JSON object nor a JWT: {exc}") from None


def validate(claims: dict, kind: str = "auto", *, sandbox: bool = False) -> list[Violation]:
    kind = detect_kind(claims) if kind == "auto" else kind
    found = VALIDATORS[kind](claims, sandbox=sandbox)
    if kind != "userinfo" and implies_scope_all(claims):
        # A token carrying scope_all's sectoral claims: held to all of them, and to their codes.
        found += _schema_violations(
            ["psc:scope-all-claims"], claims, "PSC scope_all claims schema (fact sheet §3.1)"
        )
        found += _content(claims, sandbox)
    return found


def read(path: str) -> str:
    import sys

    return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
