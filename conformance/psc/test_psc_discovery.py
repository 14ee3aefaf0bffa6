"""What PSC's discovery document advertises (fact sheet §1, §2.1)."""

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


@pytest.mark.requirement("PSC-DISCOVERY", "MUST")
def test_scope_all_is_advertised(meta):
    """PSC-DISCOVERY MUST. scopes_supported lists scope_all, the scope that releases the
    sectoral claims."""
    expect(
        "scope_all" in (meta.get("scopes_supported") or []),
        "scope_all listed",
        meta.get("scopes_supported"),
    )


@pytest.mark.requirement("PSC-DISCOVERY", "MUST")
def test_eidas1_is_advertised(meta):
    """PSC-DISCOVERY MUST. acr_values_supported lists eidas1, the level every PSC client asks
    for."""
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
