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

from psc_testkit import identifiers as ids
from psc_testkit.schemas import SCHEMAS_DIR, schema_errors, schema_id
from psc_testkit.tokens import TokenFormatError, decode

NOMENCLATURES_DIR = SCHEMAS_DIR / "nomenclatures"
OID_SUBJECT_ROLE = "1.2.250.1.213.1.1.5.5"
OID_SECTEUR_ACTIVITE = "1.2.250.1.71.4.2.4"
FACT_SHEET = "PSC claims (fact sheet §3)"

# Where each coded field lives, and the nomenclature(s) its codes come from.
EXERCICE_CODES = {
    # Health professions; other roles (ostéopathes, social professions…) are in JDV_J65, which
    # we hold only in part: a code found only there is a warning, one found nowhere a failure.
    "codeProfession": ("TRE_G15",),
    "codeCategorieProfessionnelle": ("TRE_R09",),
    "codeCiviliteDexercice": ("TRE_R11",),
    "codeTypeSavoirFaire": ("TRE_R04",),
    "codeSavoirFaire": ("SavoirFaire",),
}
ACTIVITY_CODES = {
    "codeModeExercice": ("TRE_R23",),
    "codeSecteurDactivite": ("TRE_R02",),
    "codeSectionPharmacien": ("SectionPharmacien",),
    "codeRole": ("TRE_R21",),
    "codeGenreActivite": ("TRE_R22",),
}


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

    @property
    def reference(self) -> str:
        return f"{self.id} {self.name}" + (f" ({self.oid})" if self.oid else "")


@cache
def nomenclatures() -> dict[str, Nomenclature]:
    found = {}
    for path in sorted(NOMENCLATURES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[data["id"]] = Nomenclature(
            data["id"], data["name"], data.get("oid"), bool(data.get("complete")), data["codes"]
        )
    return found


def _check_code(value: object, names: tuple[str, ...], path: str) -> Violation | None:
    """A code must be in one of its nomenclatures; empty means absent (PSC sends "")."""
    if not isinstance(value, str) or value == "":
        return None
    known = [nomenclatures()[n] for n in names if n in nomenclatures()]
    if not known or any(value in n.codes for n in known):
        return None
    reference = " or ".join(n.reference for n in known)
    roles = nomenclatures().get("JDV_J65")
    if names == ("TRE_G15",) and roles is not None and value in roles.codes:
        return Violation(
            path,
            "nomenclature",
            reference,
            f"code {value!r} is not a TRE_G15 health profession (JDV_J65: {roles.codes[value]})",
            "SHOULD",
        )
    # MUST only when every list consulted is complete: an unknown code may be newer than ours.
    complete = all(n.complete for n in known)
    return Violation(
        path,
        "nomenclature",
        reference,
        f"code {value!r} is not in the nomenclature",
        "MUST" if complete else "SHOULD",
    )


def _identifier(path: str, value: object, check, reference: str) -> Violation | None:
    if not isinstance(value, str) or value == "":
        return None
    problem = check(value)
    return Violation(path, "identifier", reference, f"{value!r}: {problem}") if problem else None


def _activity(activity: dict, path: str, sandbox: bool) -> list[Violation]:
    found: list[Violation | None] = [
        _check_code(activity.get(field), names, f"{path}.{field}")
        for field, names in ACTIVITY_CODES.items()
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


def _code_oid(path: str, value: object, oid: str, names: tuple[str, ...]) -> list[Violation]:
    split = ids.code_oid(value) if isinstance(value, str) else None
    if split is None:
        return [Violation(path, "code^OID", FACT_SHEET, f"{value!r} is not of the form code^{oid}")]
    code, found_oid = split
    if found_oid != oid:
        return [Violation(path, "code^OID", FACT_SHEET, f"OID {found_oid} instead of {oid}")]
    problem = _check_code(code, names, path)
    return [problem] if problem else []


def validate_userinfo(claims: dict, *, sandbox: bool = False) -> list[Violation]:
    found: list[Violation] = [
        Violation(path, "schema", "PSC UserInfo schema (fact sheet §3)", message)
        for path, message in schema_errors(schema_id("psc:userinfo"), claims)
    ]
    if not isinstance(claims, dict):
        return found
    id_nat = claims.get("SubjectNameID")
    if isinstance(id_nat, str) and (problem := ids.id_nat_error(id_nat, allow_edit=sandbox)):
        found.append(
            Violation(
                "$.SubjectNameID",
                "identifier",
                "idNat_PS (fact sheet §4.1)",
                f"{id_nat!r}: {problem}",
            )
        )
    for i, role in enumerate(claims.get("SubjectRole") or []):
        found += _code_oid(f"$.SubjectRole[{i}]", role, OID_SUBJECT_ROLE, ("JDV_J65", "TRE_G15"))
    if sector := claims.get("Secteur_Activite"):
        found += _code_oid("$.Secteur_Activite", sector, OID_SECTEUR_ACTIVITE, ("TRE_R02",))
    civilite_paths = [("$.codeCivilite", claims.get("codeCivilite"))]
    refpro = claims.get("SubjectRefPro")
    exercices = refpro.get("exercices") if isinstance(refpro, dict) else None
    if isinstance(refpro, dict):
        civilite_paths.append(("$.SubjectRefPro.codeCivilite", refpro.get("codeCivilite")))
    for path, value in civilite_paths:
        if problem := _check_code(value, ("TRE_R81",), path):
            found.append(problem)
    for e, exercice in enumerate(exercices if isinstance(exercices, list) else []):
        if not isinstance(exercice, dict):
            continue
        base = f"$.SubjectRefPro.exercices[{e}]"
        for field, names in EXERCICE_CODES.items():
            if problem := _check_code(exercice.get(field), names, f"{base}.{field}"):
                if field == "codeCiviliteDexercice" and sandbox:
                    continue  # BAS payloads carry "M" here (fact sheet §3.2)
                found.append(problem)
        activities = exercice.get("activities")
        for a, activity in enumerate(activities if isinstance(activities, list) else []):
            if isinstance(activity, dict):
                found += _activity(activity, f"{base}.activities[{a}]", sandbox)
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
                f"{username!r}: {problem}",
            )
        )
    return found


def detect_kind(claims: dict) -> str:
    if "SubjectNameID" in claims or "SubjectRefPro" in claims:
        return "userinfo"
    if "active" in claims or claims.get("typ") == "Bearer" or "authMode" in claims:
        return "access-token"
    return "id-token"


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
    return VALIDATORS[kind](claims, sandbox=sandbox)


def read(path: str) -> str:
    import sys

    return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
