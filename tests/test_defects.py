"""Each defect switch changes exactly the behaviour it names. (The conformance suite's defect
matrix then proves that its checks catch them; this proves the switches themselves.)"""

import httpx
import jwt
import pytest

from psc_testkit.simulator.defects import DEFECTS, ActiveDefects, UnknownDefect, listing
from psc_testkit.simulator.keys import at_hash
from tests.conftest import client_context, start
from tests.simulator.flows import Sim, query_of


def test_every_defect_names_a_requirement_and_says_what_it_breaks():
    for defect in DEFECTS.values():
        assert defect.requirement and defect.description
        assert defect.name == defect.name.lower() and " " not in defect.name
    lines = listing().splitlines()
    assert len(lines) == len(DEFECTS)
    for line, defect in zip(lines, DEFECTS.values(), strict=True):
        assert line.split()[:2] == [defect.name, defect.requirement]


def test_unknown_defect_names_are_refused():
    with pytest.raises(UnknownDefect, match="no-such-defect"):
        ActiveDefects(["no-such-defect"])
    with pytest.raises(KeyError):
        "typo" in ActiveDefects()  # noqa: B015 (a typo in the code must not pass silently)


def _id_token(sim, result=None):
    result = result or sim.code()
    return result, sim.token(result).json()


def probe_discovery_issuer_mismatch(sim):
    return sim.meta["issuer"] != sim.process.issuer


def probe_jwks_private_material(sim):
    return "d" in sim.http.get(sim.meta["jwks_uri"]).json()["keys"][0]


def probe_state_not_echoed(sim):
    params = sim.params()
    response = sim.login(sim.authorize(params), sim.user())
    return "state" not in query_of(response.headers["location"])


def probe_redirect_uri_not_checked(sim):
    response = sim.authorize(sim.params(redirect_uri="https://attacker.example/cb"))
    return response.status_code == 200  # the login page, so it would redirect there


def probe_code_reusable(sim):
    result = sim.code()
    return sim.token(result).status_code == 200 and sim.token(result).status_code == 200


def probe_pkce_not_enforced(sim):
    return sim.token(sim.code(), code_verifier="x" * 43).status_code == 200


def probe_token_cache_control_missing(sim):
    return "cache-control" not in sim.token(sim.code()).headers


def probe_nonce_not_echoed(sim):
    _, tokens = _id_token(sim)
    return "nonce" not in jwt.decode(tokens["id_token"], options={"verify_signature": False})


def probe_id_token_wrong_aud(sim):
    _, tokens = _id_token(sim)
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    return claims["aud"] != "psc-testkit-basic"


def probe_id_token_expired(sim):
    _, tokens = _id_token(sim)
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    return claims["exp"] < claims["iat"]


def probe_id_token_bad_signature(sim):
    _, tokens = _id_token(sim)
    try:
        sim.verify(tokens["id_token"], "psc-testkit-basic")
    except jwt.InvalidSignatureError:
        return True
    return False


def probe_at_hash_wrong(sim):
    _, tokens = _id_token(sim)
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    return claims["at_hash"] != at_hash(tokens["access_token"])


def probe_userinfo_sub_mismatch(sim):
    _, tokens = _id_token(sim)
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    return sim.userinfo(tokens["access_token"]).json()["sub"] != claims["sub"]


def probe_token_endpoint_flaky(sim):
    statuses = [
        sim.back(
            "token_endpoint", {"grant_type": "refresh_token", "refresh_token": "x"}
        ).status_code
        for _ in range(1500)
    ]
    failures = statuses.count(503)
    return 3 <= failures <= 40  # about 1 % of 1,500


PROBES = {name: globals()["probe_" + name.replace("-", "_")] for name in DEFECTS}


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_alters_its_behaviour_and_the_clean_simulator_does_not(name, sim):
    probe = PROBES[name]
    assert not probe(sim), f"the clean simulator already shows {name}"
    process = start([name])
    try:
        with httpx.Client(verify=client_context(process), timeout=10) as http:
            assert probe(Sim(process, http)), f"--defect {name} changed nothing"
    finally:
        process.stop()
