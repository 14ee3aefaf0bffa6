"""What PSC's discovery document advertises (fact sheet §1, §2.1).

PSC levels (every conformance/psc check): MUST only for what PSC's documentation or ANS's
reference code states ([V] in the fact sheet); what rests on observed payloads or captures
([V-obs]) or on inference ([I]) is a SHOULD, a warning that --strict turns into a failure.
"""

import pytest

from conformance.helpers import expect

PSC_CLAIMS = {
    "SubjectNameID",
    "SubjectRefPro",
    "SubjectRole",
    "Secteur_Activite",
    "otherIds",
    "authMode",
}


@pytest.mark.requirement("PSC-DISCOVERY", "SHOULD")
def test_scope_all_is_advertised(meta):
    """PSC-DISCOVERY SHOULD. scopes_supported lists scope_all, the scope PSC clients request
    (`scope=openid scope_all`, fact sheet §2.1 [V]). Its listing is observed, not documented
    (the mock discovery, [V-obs]), and "Servers MAY choose not to advertise some supported scope
    values even when this parameter is used" (OIDC Discovery §3, scopes_supported)."""
    expect(
        "scope_all" in (meta.get("scopes_supported") or []),
        "scope_all listed",
        meta.get("scopes_supported"),
    )


@pytest.mark.requirement("PSC-DISCOVERY", "SHOULD")
def test_eidas1_is_advertised(meta):
    """PSC-DISCOVERY SHOULD. acr_values_supported lists eidas1, the level PSC clients request
    (`acr_values=eidas1`, fact sheet §2.1 [V]). No PSC source says it is listed, and one
    capture of PSC's real discovery shows `acr_values_supported: ["0","0"]` (fact sheet §7,
    [V-obs]): observed practice, hence a warning at most."""
    expect(
        "eidas1" in (meta.get("acr_values_supported") or []),
        "eidas1 listed",
        meta.get("acr_values_supported"),
    )


@pytest.mark.requirement("PSC-DISCOVERY", "SHOULD")
def test_psc_claims_are_advertised(meta):
    """PSC-DISCOVERY SHOULD. claims_supported names the PSC claims clients rely on."""
    missing = sorted(PSC_CLAIMS - set(meta.get("claims_supported") or []))
    expect(not missing, "the PSC claims listed", f"missing {missing}")
