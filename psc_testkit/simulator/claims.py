"""PSC claims in PSC's exact shape (fact sheet §3): identité pivot plus the sectoral data."""

from __future__ import annotations

import json
from functools import lru_cache

from psc_testkit.simulator import annuaire_codes as codes
from psc_testkit.simulator.annuaire import Professional

# Keycloak's federated-user form of sub: f:<identity-provider uuid>:<username>.
PROVIDER_UUID = "550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd"

# What `scope_all` releases beyond the identité pivot.
SECTORAL_CLAIMS = (
    "SubjectRefPro",
    "SubjectOrganization",
    "SubjectOrganizationID",
    "SubjectRole",
    "Secteur_Activite",
    "Mode_Acces_Raison",
    "Acces_Regulation_Medicale",
    "UITVersion",
    "Palier_Authentification",
    "PSI_Locale",
    "otherIds",
    "authMode",
    "email_verified",
)
PIVOT_CLAIMS = ("sub", "SubjectNameID", "preferred_username", "given_name", "family_name")

# acr per authentication means: a CPS card login was observed as eidas3 although eidas1 was
# requested (fact sheet §2.3); e-CPS is taken as eidas2 [inferred]. amr values from RFC 8176.
ACR = {"CARD": "eidas3", "MOBILE": "eidas2"}
AMR = {"CARD": ["sc", "pin"], "MOBILE": ["swk", "pin", "mfa"]}
ACR_LEVELS = ("eidas1", "eidas2", "eidas3")


def subject(pro: Professional) -> str:
    return f"f:{PROVIDER_UUID}:{pro.id_nat}"


def other_ids(pro: Professional) -> list[dict]:
    return [{"identifiant": pro.id_nat, "origine": pro.id_type, "qualite": 1}]


def userinfo(pro: Professional, auth_mode: str, scope_all: bool) -> dict:
    claims: dict = {
        "sub": subject(pro),
        "SubjectNameID": pro.id_nat,
        "preferred_username": pro.id_nat,
        "given_name": pro.given_name,
        "family_name": pro.family_name,
    }
    if not scope_all:
        return claims
    first = pro.first_activity or {}
    sector = first.get("codeSecteurDactivite", "")
    claims.update(
        {
            "email_verified": False,
            "authMode": auth_mode,
            "UITVersion": "1.0",
            "Palier_Authentification": codes.PALIER_AUTHENTIFICATION,
            "PSI_Locale": codes.PSI_LOCALE,
            "Acces_Regulation_Medicale": "FAUX",
            "Mode_Acces_Raison": "",
            "Secteur_Activite": f"{sector}^{codes.OID_SECTEUR_ACTIVITE}" if sector else "",
            "SubjectOrganization": first.get("raisonSocialeSite", ""),
            "SubjectOrganizationID": first.get("identifiantTechniqueDeLaStructure", ""),
            "SubjectRole": [f"{p}^{codes.OID_SUBJECT_ROLE}" for p in pro.professions],
            "otherIds": other_ids(pro),
            "SubjectRefPro": {
                "codeCivilite": pro.civilite,
                "exercices": list(pro.exercices),
            },
        }
    )
    return claims


@lru_cache(maxsize=32_768)
def userinfo_json(pro: Professional, auth_mode: str, scope_all: bool) -> bytes:
    """Userinfo is the same for every login of a user with the same means: serialise it once."""
    return json.dumps(userinfo(pro, auth_mode, scope_all), ensure_ascii=False).encode()
