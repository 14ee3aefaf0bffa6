"""A synthetic Annuaire Santé: health professionals generated deterministically from a seed.

Each professional has a valid national identifier (idNat "8"+RPPS with its Luhn digit, or
"0"+ADELI), one or more exercices (professions) with one or more activities (situations
d'exercice), real nomenclature codes, and SIRET/SIREN/FINESS identifiers with valid check digits
where the structure has them. The shape is PSC's SubjectRefPro (fact sheet §3.2).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from psc_testkit.claims.identifiers import luhn_complete
from psc_testkit.simulator import annuaire_codes as codes

ACTIVITY_KEYS = (
    "codeModeExercice",
    "codeSecteurDactivite",
    "codeSectionPharmacien",
    "codeRole",
    "codeGenreActivite",
    "numeroSiretSite",
    "numeroSirenSite",
    "numeroFinessSite",
    "numeroFinessetablissementJuridique",
    "identifiantTechniqueDeLaStructure",
    "raisonSocialeSite",
    "enseigneCommercialeSite",
    "complementDestinataire",
    "complementPointGeographique",
    "numeroVoie",
    "indiceRepetitionVoie",
    "codeTypeDeVoie",
    "libelleVoie",
    "mentionDistribution",
    "bureauCedex",
    "codePostal",
    "codeCommune",
    "codePays",
    "telephone",
    "telephone2",
    "telecopie",
    "adresseEMail",
    "codeDepartement",
    "ancienIdentifiantDeLaStructure",
    "autoriteDenregistrement",
)


# eq=False: identity hashing, so claims can be cached per professional.
@dataclass(frozen=True, slots=True, eq=False)
class Professional:
    id_nat: str
    id_type: str  # "RPPS" or "ADELI": the origine of otherIds
    given_name: str
    family_name: str
    civilite: str  # TRE_R81
    exercices: tuple[dict, ...]

    @property
    def professions(self) -> tuple[str, ...]:
        return tuple(e["codeProfession"] for e in self.exercices)

    @property
    def first_activity(self) -> dict | None:
        for exercice in self.exercices:
            if exercice["activities"]:
                return exercice["activities"][0]
        return None


def _siret(rng: random.Random) -> tuple[str, str]:
    siren = luhn_complete(f"{rng.randrange(10**7, 10**8)}")
    return luhn_complete(siren + f"{rng.randrange(1, 10**4):04d}"), siren


def _finess(rng: random.Random, departement: str) -> str:
    return luhn_complete(departement + f"{rng.randrange(10**6):06d}")


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.cabinet_seq = 100_000
        prof_codes = list(codes.PROFESSIONS)
        self.prof_codes = prof_codes
        self.prof_weights = [codes.PROFESSIONS[c][0] for c in prof_codes]

    def _address(self) -> dict[str, str]:
        rng = self.rng
        postal, commune, dept, city = rng.choice(codes.COMMUNES)
        return {
            "numeroVoie": str(rng.randrange(1, 120)),
            "codeTypeDeVoie": rng.choice(codes.STREET_TYPES),
            "libelleVoie": rng.choice(codes.STREET_NAMES),
            "bureauCedex": f"{postal} {city}",
            "codePostal": postal,
            "codeCommune": commune,
            "codeDepartement": dept,
            "codePays": "99000",
            "_city": city,
        }

    def _activity(self, profession: str, id_nat: str, family: str, mode: str, rank: int) -> dict:
        rng = self.rng
        authority = codes.PROFESSIONS[profession][2]
        activity = dict.fromkeys(ACTIVITY_KEYS, "")
        address = self._address()
        city = address.pop("_city")
        activity.update(address)
        activity["codeModeExercice"] = mode
        activity["codeGenreActivite"] = "GENR01"
        if profession == "21":
            # Officine: titulaire (section A) in liberal mode, adjoint (section D) salaried.
            siret, siren = _siret(rng)
            finess = _finess(rng, address["codeDepartement"])
            activity.update(
                codeSecteurDactivite="SA33",
                codeSectionPharmacien="A" if mode == "L" else "D",
                codeRole=codes.ROLE_TITULAIRE_OFFICINE if mode == "L" else codes.ROLE_ADJOINT,
                numeroSiretSite=siret,
                numeroSirenSite=siren,
                numeroFinessSite=finess,
                numeroFinessetablissementJuridique=finess,
                identifiantTechniqueDeLaStructure="F" + finess,
                raisonSocialeSite=f"PHARMACIE {address['libelleVoie']}",
                ancienIdentifiantDeLaStructure="3" + siret,
                autoriteDenregistrement="CNOP/CNOP/CNOP",
            )
        elif mode == "L":
            self.cabinet_seq += 1
            sector = rng.choice(("SA07", "SA07", "SA07", "SA08", "SA09", "SA52"))
            remplacant = rng.random() < 0.05
            activity.update(
                codeSecteurDactivite=sector,
                codeRole="" if remplacant else codes.ROLE_TITULAIRE_CABINET,
                codeGenreActivite="GENR03" if remplacant else "GENR01",
                identifiantTechniqueDeLaStructure=f"R{self.cabinet_seq}",
                raisonSocialeSite=f"CABINET {family}",
                complementDestinataire=f"CABINET {family}",
                autoriteDenregistrement=f"{authority}/{authority}/{authority}",
            )
            if id_nat.startswith("8"):
                activity["ancienIdentifiantDeLaStructure"] = f"4{id_nat[1:]}{rank:03d}"
            if sector == "SA09":
                siret, siren = _siret(rng)
                activity.update(numeroSiretSite=siret, numeroSirenSite=siren)
        else:
            if rng.random() < 0.8:
                # Public hospital: FINESS site and FINESS juridique, registered by the ARS.
                finess_site = _finess(rng, address["codeDepartement"])
                finess_legal = _finess(rng, address["codeDepartement"])
                activity.update(
                    codeSecteurDactivite="SA01",
                    numeroFinessSite=finess_site,
                    numeroFinessetablissementJuridique=finess_legal,
                    identifiantTechniqueDeLaStructure="F" + finess_site,
                    raisonSocialeSite=f"{rng.choice(codes.HOSPITALS)} DE {city}",
                    ancienIdentifiantDeLaStructure="1" + finess_site,
                    autoriteDenregistrement=f"{authority}/{authority}/ARS",
                )
            else:
                siret, siren = _siret(rng)
                activity.update(
                    codeSecteurDactivite="SA05",
                    numeroSiretSite=siret,
                    numeroSirenSite=siren,
                    identifiantTechniqueDeLaStructure="S" + siret,
                    raisonSocialeSite=f"CENTRE DE SANTE {address['libelleVoie']}",
                    ancienIdentifiantDeLaStructure="3" + siret,
                    autoriteDenregistrement=f"{authority}/{authority}/ARS",
                )
        return activity

    def _exercice(self, profession: str, id_nat: str, given: str, family: str) -> dict:
        rng = self.rng
        savoir_faire = codes.SAVOIR_FAIRE.get(profession)
        code_sf = rng.choice(savoir_faire) if savoir_faire else ""
        doctor = profession in ("10", "40", "21")
        n_activities = 1 + (rng.random() < 0.15) + (rng.random() < 0.03)
        first_mode = "L" if rng.random() < 0.55 else "S"
        activities = []
        for rank in range(n_activities):
            mode = first_mode if rank == 0 else ("S" if first_mode == "L" else "L")
            activities.append(self._activity(profession, id_nat, family, mode, rank + 1))
        hospital_public = activities[0]["codeSecteurDactivite"] == "SA01"
        return {
            "codeProfession": profession,
            "codeCategorieProfessionnelle": "M" if hospital_public and rng.random() < 0.3 else "C",
            "codeCiviliteDexercice": "DR" if doctor and profession != "21" else "",
            "nomDexercice": family,
            "prenomDexercice": given,
            "codeTypeSavoirFaire": "S" if code_sf else "",
            "codeSavoirFaire": code_sf,
            "activities": activities,
        }

    def professional(self, index: int) -> Professional:
        rng = self.rng
        profession = rng.choices(self.prof_codes, self.prof_weights)[0]
        kind = codes.PROFESSIONS[profession][1]
        if kind == "RPPS":
            # 997… mimics the sandbox's test RPPS range; the index keeps numbers unique.
            id_nat = "8" + luhn_complete(f"997{index:07d}")
        else:
            dept = rng.choice(codes.COMMUNES)[2]
            id_nat = f"0{dept}{profession}{index:05d}"
        given = rng.choice(codes.GIVEN_NAMES)
        family = rng.choice(codes.FAMILY_NAMES)
        exercices = [self._exercice(profession, id_nat, given, family)]
        if profession in ("10", "21") and rng.random() < 0.04:
            # Medical biologists may be registered as both doctor and pharmacist: two exercices.
            exercices.append(
                self._exercice("21" if profession == "10" else "10", id_nat, given, family)
            )
        return Professional(
            id_nat=id_nat,
            id_type=kind,
            given_name=given,
            family_name=family,
            civilite="MME" if given in codes.FEMININE_GIVEN else "M",
            exercices=tuple(exercices),
        )


class _Population(Sequence[Professional]):
    """The professionals, made in order (one generator draws for all of them) as far as they
    are asked for: a simulator that logs a few users in does not make 10,000 (0.9 s of every
    start, paid again by each run of the defect and quirk matrices)."""

    def __init__(self, generator: _Generator, size: int) -> None:
        self._generator = generator
        self._size = size
        self._made: list[Professional] = []

    def _make(self, count: int) -> None:
        while len(self._made) < count:
            self._made.append(self._generator.professional(len(self._made)))

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> Professional: ...

    @overload
    def __getitem__(self, index: slice) -> list[Professional]: ...

    def __getitem__(self, index: int | slice) -> Professional | list[Professional]:
        if isinstance(index, slice):
            indices = range(*index.indices(self._size))
            if indices:
                self._make(max(indices[0], indices[-1]) + 1)
            return [self._made[i] for i in indices]
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError("no such professional")
        self._make(index + 1)
        return self._made[index]

    def __iter__(self) -> Iterator[Professional]:
        for index in range(self._size):
            yield self[index]


class Annuaire:
    """The population, indexed by idNat."""

    def __init__(self, seed: int, population: int) -> None:
        self.professionals = _Population(_Generator(seed), population)

    @property
    def by_id_nat(self) -> dict[str, Professional]:
        return {p.id_nat: p for p in self.professionals}

    def get(self, id_nat: str) -> Professional | None:
        """The professional of `id_nat`, found from the index its digits carry: "8997" +
        7 digits + a check digit (RPPS), or "0" + département + profession + the index in at
        least 5 digits (ADELI)."""
        if not isinstance(id_nat, str) or not id_nat.isascii():
            return None
        candidates: list[int] = []
        if id_nat.startswith("8997") and len(id_nat) == 12 and id_nat.isdigit():
            candidates.append(int(id_nat[4:11]))
        elif id_nat.startswith("0"):
            widest = max(5, len(str(max(len(self.professionals) - 1, 0))))
            tail = [id_nat[-k:] for k in range(5, widest + 1) if len(id_nat) > k]
            candidates.extend(int(t) for t in tail if t.isdigit())
        for index in candidates:
            if index < len(self.professionals) and self.professionals[index].id_nat == id_nat:
                return self.professionals[index]
        return None

    def __len__(self) -> int:
        return len(self.professionals)
