"""Check digits of French health identifiers: RPPS, SIREN/SIRET and FINESS all use Luhn (mod 10).

RPPS: 11 digits, Luhn over the 11 digits without the idNat "8" prefix (fact sheet §4.2).
SIREN: 9 digits, SIRET: 14 digits (SIREN + NIC), both Luhn. FINESS: 9 characters, Luhn.
"""


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
