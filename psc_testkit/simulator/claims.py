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

# The means of login a profile names ([driver] method, [simulator] acr) → PSC's authMode.
AUTH_MODES = {"cps": "CARD", "ecps": "MOBILE"}
MEANS = {mode: means for means, mode in AUTH_MODES.items()}
ACR_LEVELS = ("eidas1", "eidas2", "eidas3")
# acr per means of login when eidas1 is requested. The newest evidence (fact sheet §7,
# keycloak-prosanteconnect #43, 2026) shows eidas2 for CPS card and e-CPS logins; 2021 and
# 2023 BAS tokens showed eidas3 for a card (§2.3). A profile's [simulator] acr overrides it.
DEFAULT_ACR = {"cps": "eidas2", "ecps": "eidas2"}
# amr values from RFC 8176.
AMR = {"CARD": ["sc", "pin"], "MOBILE": ["swk", "pin", "mfa"]}
# UserInfo and ID-token claims the PSC schemas do not list that real providers add (quirk
# userinfo-extra-claims): Keycloak's default mappers, and PSC's 2026 auth_level (§7).
EXTRA_USERINFO = {"auth_level": "1"}


def subject(pro: Professional) -> str:
    return f"f:{PROVIDER_UUID}:{pro.id_nat}"


def other_ids(pro: Professional) -> list[dict]:
    return [{"identifiant": pro.id_nat, "origine": pro.id_type, "qualite": 1}]


def userinfo(pro: Professional, auth_mode: str, scope_all: bool, extra: bool = False) -> dict:
    """UserInfo as PSC answers it; `extra` adds claims a real provider may add (OIDC Core
    5.3.2: "Other Claims MAY be returned")."""
    claims: dict = {
        "sub": subject(pro),
        "SubjectNameID": pro.id_nat,
        "preferred_username": pro.id_nat,
        "given_name": pro.given_name,
        "family_name": pro.family_name,
    }
    if extra:
        claims.update(EXTRA_USERINFO, name=f"{pro.given_name} {pro.family_name}")
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
def userinfo_json(pro: Professional, auth_mode: str, scope_all: bool, extra: bool = False) -> bytes:
    """Userinfo is the same for every login of a user with the same means: serialise it once."""
    return json.dumps(userinfo(pro, auth_mode, scope_all, extra), ensure_ascii=False).encode()
