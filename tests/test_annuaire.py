"""The synthetic Annuaire Santé: deterministic, valid identifiers, a realistic mix."""

from collections import Counter

import pytest

from psc_testkit.claims.identifiers import luhn_complete, luhn_valid
from psc_testkit.simulator.annuaire import ACTIVITY_KEYS, Annuaire


@pytest.fixture(scope="module")
def annuaire() -> Annuaire:
    return Annuaire(seed=1, population=10_000)


def test_luhn_known_values():
    # Real identifiers from the fact sheet: RPPS, FINESS (HCL), SIRET, SIREN.
    for number in ("10106820706", "99700427885", "690781810", "00000000016972", "000000000"):
        assert luhn_valid(number), number
    assert not luhn_valid("810106820706")  # the idNat prefix is not part of the RPPS check
    assert not luhn_valid("1010682070A")
    assert luhn_complete("1010682070") == "10106820706"


def test_generation_is_deterministic_by_seed(annuaire):
    again = Annuaire(seed=1, population=200)
    other = Annuaire(seed=2, population=200)
    assert [p.id_nat for p in again.professionals] == [
        p.id_nat for p in annuaire.professionals[:200]
    ]
    assert again.professionals[5].exercices == annuaire.professionals[5].exercices
    assert [p.family_name for p in other.professionals] != [
        p.family_name for p in again.professionals
    ]


def test_population_size_and_unique_identifiers(annuaire):
    assert len(annuaire) == 10_000
    assert len(annuaire.by_id_nat) == 10_000


def test_identifiers_are_valid(annuaire):
    for pro in annuaire.professionals:
        if pro.id_type == "RPPS":
            assert len(pro.id_nat) == 12 and pro.id_nat[0] == "8" and luhn_valid(pro.id_nat[1:])
        else:
            assert len(pro.id_nat) == 10 and pro.id_nat[0] == "0" and pro.id_nat.isdigit()
        for exercice in pro.exercices:
            for activity in exercice["activities"]:
                assert tuple(activity) == ACTIVITY_KEYS
                for key, size in (
                    ("numeroSiretSite", 14),
                    ("numeroSirenSite", 9),
                    ("numeroFinessSite", 9),
                    ("numeroFinessetablissementJuridique", 9),
                ):
                    value = activity[key]
                    if value:
                        assert len(value) == size and luhn_valid(value), (key, value)
                if activity["numeroSiretSite"]:
                    assert activity["numeroSiretSite"].startswith(activity["numeroSirenSite"])


def test_the_mix_covers_professions_modes_and_multiple_situations(annuaire):
    professions = Counter(e["codeProfession"] for p in annuaire.professionals for e in p.exercices)
    assert {"10", "21", "40", "50", "60", "70"} <= set(professions)
    assert professions["10"] > professions["60"] > professions["40"]
    modes = Counter(
        a["codeModeExercice"]
        for p in annuaire.professionals
        for e in p.exercices
        for a in e["activities"]
    )
    assert modes["L"] > 1000 and modes["S"] > 1000
    assert sum(len(p.exercices) > 1 for p in annuaire.professionals) > 50
    assert sum(len(p.exercices[0]["activities"]) > 1 for p in annuaire.professionals) > 500
    assert Counter(p.id_type for p in annuaire.professionals)["ADELI"] > 500
    sectors = {
        a["codeSecteurDactivite"]
        for p in annuaire.professionals
        for e in p.exercices
        for a in e["activities"]
    }
    assert {"SA01", "SA05", "SA07", "SA08", "SA33"} <= sectors


def test_doctors_have_a_specialty_and_pharmacists_a_section(annuaire):
    for pro in annuaire.professionals:
        for exercice in pro.exercices:
            if exercice["codeProfession"] == "10":
                assert exercice["codeTypeSavoirFaire"] == "S"
                assert exercice["codeSavoirFaire"].startswith("SM")
            if exercice["codeProfession"] == "21":
                for activity in exercice["activities"]:
                    assert activity["codeSectionPharmacien"] in ("A", "D")


def test_every_professional_s_userinfo_holds_against_each_field_s_nomenclature(annuaire):
    """The clean simulator's payloads pass the strictest schema they imply (scope_all) and
    every coded field's own nomenclature: no MUST violation and no warning (one professional in
    ten: the schema validation of all 10,000 takes a minute and a half)."""
    from psc_testkit.claims import psc as psc_claims
    from psc_testkit.simulator import claims

    problems = []
    for pro in annuaire.professionals[::10]:
        for mode in ("CARD", "MOBILE"):
            info = claims.userinfo(pro, mode, scope_all=True)
            assert psc_claims.implies_scope_all(info)
            problems += [f"{pro.id_nat}: {v}" for v in psc_claims.validate(info)]
        pivot = claims.userinfo(pro, "CARD", scope_all=False)
        assert not psc_claims.implies_scope_all(pivot)
        problems += [f"{pro.id_nat}: {v}" for v in psc_claims.validate(pivot)]
    assert not problems, problems[:10]


def test_get_finds_each_professional_from_a_fresh_lazy_directory(annuaire):
    """A fresh directory makes professionals only as far as asked, yet get() finds any of them
    from the index their idNat carries, and nothing else."""

    def same(a, b) -> bool:  # Professional compares by identity
        return a is not None and (a.id_nat, a.exercices) == (b.id_nat, b.exercices)

    for pro in annuaire.professionals[::1999]:
        fresh = Annuaire(seed=1, population=10_000)
        assert same(fresh.get(pro.id_nat), pro)
    fresh = Annuaire(seed=1, population=10_000)
    assert same(fresh.get(annuaire.professionals[3].id_nat), annuaire.professionals[3])
    assert len(fresh.professionals._made) == 4  # the first four only
    first = annuaire.professionals[0].id_nat
    for unknown in ("", "8", first[:-1] + str((int(first[-1]) + 1) % 10), "0" + "9" * 11, "é"):
        assert fresh.get(unknown) is None, unknown
    small = Annuaire(seed=1, population=10)
    assert all(small.get(p.id_nat) is None for p in annuaire.professionals[10:40])
