"""Check digits of French health identifiers: RPPS, SIREN/SIRET and FINESS all use Luhn (mod 10).

RPPS: 11 digits, Luhn over the 11 digits without the idNat "8" prefix (fact sheet §4.2).
SIREN: 9 digits, SIRET: 14 digits (SIREN + NIC), both Luhn. FINESS: 9 characters, Luhn.
"""

import re


def luhn_sum(digits: str) -> int:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10


def luhn_valid(number: str) -> bool:
    return number.isdigit() and luhn_sum(number) == 0


def luhn_complete(prefix: str) -> str:
    """Append the digit that makes `prefix` + digit pass Luhn."""
    return prefix + str((10 - luhn_sum(prefix + "0")) % 10)


# Validators: each returns None when the value is valid, or why it is not. --------------------
ID_TYPES = {  # idNat type prefixes (fact sheet §4.1, PsIdType)
    "0": "ADELI",
    "1": "ADELI cabinet",
    "2": "DRASS",
    "3": "FINESS",
    "4": "SIREN",
    "5": "SIRET",
    "6": "RPPS cabinet",
    "8": "RPPS",
    "9": "Etudiant",
}
EDIT_ID = re.compile(r"^ANS[0-9]{8,}$")  # sandbox (EDIT) test identities, e.g. ANS20210107161422
STRUCTURE_STAFF = re.compile(r"^[1-6]\w+/\w+$")  # e.g. 500000001815646/CPAT00045
POSTAL_CODE = re.compile(r"^(0[1-9]|[1-8]\d|9[0-8])\d{3}$")
COMMUNE_CODE = re.compile(r"^(0[1-9]|[1-8]\d|2[AB]|9[0-8])\d{3}$")
CODE_OID = re.compile(r"^([^^\s]+)\^(\d+(?:\.\d+)+)$")


def _run(kind: str, count: int) -> str:
    return f"{count} {kind}{'s' if count != 1 else ''}"


def shape(value: str, id_nat: bool = False) -> str:
    """What a value looks like, without the value: its length and its runs of digits, letters
    and other characters ("12 characters: 12 digits"). A report shows this where the value is
    personal and hidden, so the provider sees what is wrong with it. For an idNat, its type
    prefix (one character naming the kind of identifier, fact sheet §4.1) is shown too."""
    id_nat = id_nat and value[:1] in ID_TYPES
    runs: list[list] = []
    for char in value[1:] if id_nat else value:
        kind = "digit" if char.isdigit() else "letter" if char.isalpha() else "other character"
        if runs and runs[-1][0] == kind:
            runs[-1][1] += 1
        else:
            runs.append([kind, 1])
    described = ", ".join(_run(kind, count) for kind, count in runs[:6])
    if len(runs) > 6:
        described += ", …"
    if id_nat:
        described = f"type prefix {value[0]!r}" + (f" then {described}" if described else "")
    return f"{_run('character', len(value))}" + (f": {described}" if described else "")


def rpps_error(rpps: str) -> str | None:
    if not (len(rpps) == 11 and rpps.isdigit()):
        return "an RPPS number has 11 digits"
    if not luhn_valid(rpps):
        return "the RPPS check digit (Luhn), its last digit, is wrong"
    return None


def id_nat_error(value: str, allow_edit: bool = False) -> str | None:
    """idNat_PS (SubjectNameID): "8"+RPPS (Luhn), "0"+ADELI (9 digits), another type prefix,
    structure staff "<type><structure>/<id>", or — only where allowed — a sandbox EDIT id."""
    if not isinstance(value, str) or not value:
        return "empty identifier"
    if EDIT_ID.match(value):
        return None if allow_edit else "a sandbox (EDIT) test identity, not a real idNat"
    if STRUCTURE_STAFF.match(value):
        return None
    prefix = value[0]
    if prefix == "8":
        problem = rpps_error(value[1:])
        return f"idNat 8+RPPS: {problem}" if problem else None
    if prefix == "0":
        return None if len(value) == 10 and value.isdigit() else "idNat 0+ADELI has 10 digits"
    if prefix not in ID_TYPES:
        return "unknown idNat type prefix (the first character)"
    if prefix in ID_TYPES and value[1:].isalnum():
        return None
    return "after its type prefix an idNat has letters and digits only"


def siren_error(value: str) -> str | None:
    if not (len(value) == 9 and value.isdigit()):
        return "a SIREN has 9 digits"
    return None if luhn_valid(value) else "the SIREN check digit (Luhn) is wrong"


def siret_error(value: str) -> str | None:
    if not (len(value) == 14 and value.isdigit()):
        return "a SIRET has 14 digits"
    if siren_error(value[:9]):
        return "the SIREN part of the SIRET is invalid"
    return None if luhn_valid(value) else "the SIRET check digit (Luhn) is wrong"


def finess_error(value: str) -> str | None:
    """FINESS: 9 characters, département first (2A/2B in Corsica), Luhn check digit."""
    if len(value) != 9:
        return "a FINESS number has 9 characters"
    digits = (
        value.replace("2A", "20", 1).replace("2B", "20", 1) if value[:2] in ("2A", "2B") else value
    )
    if not digits.isdigit():
        return "a FINESS number is digits (2A/2B for Corsica)"
    return None if luhn_valid(digits) else "the FINESS check digit (Luhn) is wrong"


def postal_code_error(value: str) -> str | None:
    return None if POSTAL_CODE.match(value) else "a postal code has 5 digits (01000-98999)"


def commune_code_error(value: str) -> str | None:
    return None if COMMUNE_CODE.match(value) else "an INSEE commune code has 5 characters"


def code_oid(value: str) -> tuple[str, str] | None:
    """Split "code^OID" (SubjectRole, Secteur_Activite); None if not of that form."""
    match = CODE_OID.match(value) if isinstance(value, str) else None
    return (match.group(1), match.group(2)) if match else None
