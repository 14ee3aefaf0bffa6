"""Pro Santé Connect tokens and sessions: acr levels, authMode, agreement between ID token,
access token, UserInfo and introspection, and PSC's lifetimes (fact sheet §2.3, §2.5)."""

import pytest

from conformance.helpers import body_of, expect
from conformance.psc.test_psc_userinfo_claims import per_professional
from psc_testkit.client.config import DriverProfile
from psc_testkit.client.drivers.simulator import SimulatorDriver

# eIDAS levels of assurance, lowest first: acr is judged as a level, never against one value
# (a CPS card login was eidas3 in 2021-2023 BAS tokens, eidas2 in 2026: fact sheet §2.3, §7).
LEVELS = ["eidas1", "eidas2", "eidas3"]


def requested_level(target) -> str:
    """The lowest eIDAS level the profile's acr_values asks for (eidas1 when none is)."""
    asked = [a for a in (target.acr_values or "").split() if a in LEVELS]
    return min(asked, key=LEVELS.index) if asked else LEVELS[0]


@pytest.mark.requirement("PSC-ACR", "SHOULD")
def test_acr_is_at_least_eidas1(professionals, target):
    """PSC-ACR SHOULD. PSC is requested with acr_values=eidas1 (fact sheet §2.1 [V]); the ID
    token's, the access token's and the introspection's acr are each an eIDAS level at least
    the requested one (OIDC Core §2 acr: the class "that the authentication performed
    satisfied"). Observed, not documented: acr eidas3, then eidas2, for a CPS card (fact sheet
    §2.3, §7 [V-obs]); OIDC requests acr_values "as a Voluntary Claim" (OIDC Core §3.1.2.1),
    and ANS's own connector accepts an ID token without acr (§2.3), hence a SHOULD."""
    floor = LEVELS.index(requested_level(target))

    def problems(pro):
        found = [("ID token", pro.id_token.get("acr"))]
        if pro.access_token:  # an opaque access token is read through introspection only
            found.append(("access token", pro.access_token.get("acr")))
        if pro.introspection is not None:
            found.append(("introspection", pro.introspection.get("acr")))
        return [
            f"{where} acr {acr!r}"
            for where, acr in found
            if acr not in LEVELS or LEVELS.index(acr) < floor
        ]

    found = per_professional(professionals, problems)
    expect(not found, f"acr an eIDAS level at least {LEVELS[floor]}", found)


@pytest.mark.requirement("PSC-AUTHMODE", "SHOULD")
@pytest.mark.parametrize(("method", "mode"), [("cps", "CARD"), ("ecps", "MOBILE")])
def test_auth_mode_matches_the_login_method(harness, target, method, mode):
    """PSC-AUTHMODE SHOULD. authMode says how the professional authenticated: CARD for a CPS
    card, MOBILE for the e-CPS app. Observed and inferred, not documented: "`authMode` claim:
    values `CARD` [V-obs]; `MOBILE` [I] from EDC-PROXY's CIBA `channel` parameter" (fact sheet
    §2.3), and absent from 2021 payloads (§3.1)."""
    if target.driver.name != "simulator":
        pytest.skip("only the simulator driver can choose the means of authentication")
    driver = harness.driver
    harness.driver = SimulatorDriver(DriverProfile(method=method))
    try:
        tokens = harness.tokens(user=harness.user(11), browser=harness.http.new_browser())
    finally:
        harness.driver = driver
    info = body_of(harness.userinfo(tokens.access_token, client_id=tokens.client.client_id))
    expect(info.get("authMode") == mode, f"authMode {mode}", repr(info.get("authMode")))


@pytest.mark.requirement("PSC-CONSISTENCY", "SHOULD")
def test_tokens_userinfo_and_introspection_name_the_same_professional(professionals):
    """PSC-CONSISTENCY SHOULD. The ID token, UserInfo, the access token and its introspection
    describe one professional: the same sub, and the same idNat (SubjectNameID,
    preferred_username, username). Observed, not documented: the real BAS access token and
    introspection (fact sheet §2.3, §2.5 [V-obs]). The OIDC MUST part, UserInfo's sub equal to
    the ID token's, is core's test_userinfo_sub_is_the_id_token_sub."""

    def problems(pro):
        found = []
        subs = {"ID token": pro.id_token.get("sub"), "UserInfo": pro.userinfo.get("sub")}
        names = {}
        if pro.access_token:  # an opaque access token is read through introspection only
            subs["access token"] = pro.access_token.get("sub")
            names["access token preferred_username"] = pro.access_token.get("preferred_username")
        if len(set(subs.values())) != 1:
            found.append(f"sub differs between {', '.join(subs)}")
        id_nat = pro.userinfo.get("SubjectNameID")
        if pro.introspection is not None:
            names["introspection username"] = pro.introspection.get("username")
            names["introspection sub"] = pro.introspection.get("sub")
        wrong = [k for k, v in names.items() if v not in (id_nat, subs["UserInfo"])]
        if wrong:
            found.append(f"{', '.join(wrong)} do not name the SubjectNameID")
        return found

    found = per_professional(professionals, problems)
    expect(not found, "one professional across tokens and UserInfo", found)


@pytest.mark.requirement("PSC-INTROSPECTION", "SHOULD")
def test_introspection_returns_the_psc_fields(professionals):
    """PSC-INTROSPECTION SHOULD. Introspecting an access token returns active, the professional
    (username / SubjectNameID), acr, authMode and otherIds. Observed, not documented: these
    are in the real BAS response (fact sheet §2.5 [V-obs]), not in the introspection page's
    list ("exp, iat, auth_time, jti, iss, sub, typ "Bearer", azp, nonce, …", §2.5 [V]);
    active alone is RFC 7662's REQUIRED, judged by test_active_access_token_is_active."""
    if all(p.introspection is None for p in professionals):
        pytest.skip(
            "no active introspection: no endpoint, no confidential client, or every token's "
            "audience excludes the client that asks (RFC 7662 §4)"
        )
    fields = ("active", "acr", "authMode", "otherIds", "username")
    found = per_professional(
        professionals,
        lambda p: [f"{name} missing" for name in fields if name not in (p.introspection or {})],
    )
    expect(not found, f"introspection with {', '.join(fields)}", found)


@pytest.mark.requirement("PSC-LIFETIME", "SHOULD")
def test_access_token_lives_120_seconds(professionals):
    """PSC-LIFETIME SHOULD. PSC access tokens live 120 s ("durée de validité limitée à 2
    minutes"; exp - iat = 120 in real BAS tokens). expires_in may read 119: a provider counts it
    when it answers, a moment after iat (Keycloak rounds it down under load)."""

    def lifetime(p) -> list[str]:
        claims = p.access_token
        lives = claims["exp"] - claims["iat"] if "exp" in claims and "iat" in claims else None
        expires_in = p.tokens.get("expires_in")
        if expires_in in (119, 120) and lives in (None, 120):
            return []
        return [f"expires_in {expires_in}, exp-iat {lives if lives is not None else 'unknown'}"]

    found = per_professional(professionals, lifetime)
    expect(not found, "expires_in 120", found)


@pytest.mark.requirement("PSC-LIFETIME", "SHOULD")
def test_refresh_token_lives_at_most_30_minutes(professionals):
    """PSC-LIFETIME SHOULD. The refresh token is valid less than 30 minutes, the SSO session's
    idle time (fact sheet §2.3, IG sécurisation)."""
    found = per_professional(
        professionals,
        lambda p: (
            [f"refresh_expires_in {p.tokens.get('refresh_expires_in')}"]
            if not (
                isinstance(p.tokens.get("refresh_expires_in"), int)
                and 0 < p.tokens.get("refresh_expires_in") <= 1800
            )
            else []
        ),
    )
    expect(not found, "refresh_expires_in ≤ 1800", found)
