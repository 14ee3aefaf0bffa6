"""The profiles in targets/: each one loads (so none rots), every field in them is one the suite
reads, a misspelt field is refused with the likely intended one, and a safe profile (production)
never logs anyone in nor sends load."""

import json
import re
import ssl
import tomllib
from dataclasses import fields
from pathlib import Path

import httpx
import pytest

from psc_testkit.client.config import KNOWN_FIELDS, DriverProfile, ProfileError, Target, load_target
from psc_testkit.simulator.settings import SimulatorSettings
from tests.cli import psc_testkit
from tests.conftest import PROFILE

ROOT = Path(__file__).resolve().parent.parent
PROFILES = sorted((ROOT / "targets").glob("*.toml"))
FACTS = {  # psc/pro-sante-connect.md §1.1 and §1.2
    "psc-bas": "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet",
    "psc-prod": "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet",
}


def secrets_from(text: str) -> set[str]:
    """The environment variables a profile reads: client_secret_env and {env:NAME}."""
    return set(re.findall(r'client_secret_env\s*=\s*"([^"]+)"', text)) | set(
        re.findall(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}", text)
    )


def test_there_are_the_documented_profiles():
    names = {p.stem for p in PROFILES}
    assert {"simulator", "psc-bas", "psc-prod", "keycloak", "generic-oidc"} <= names


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_every_profile_loads(path, monkeypatch):
    for name in secrets_from(path.read_text()):
        monkeypatch.setenv(name, f"dummy-{name.lower()}")
    monkeypatch.delenv("PSC_DISCOVERY_URL", raising=False)
    target = load_target(path, discovery_url="-") if "simulator" in path.stem else load_target(path)
    assert target.clients and target.driver.name
    for client in target.clients:
        if client.auth_method.startswith("client_secret"):
            assert client.secret, f"{path.name}: {client.client_id} has no secret"
    if not target.simulator:
        # Only the simulator's own profile may hold a secret; the others name a variable.
        assert "client_secret =" not in path.read_text()


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_every_field_of_every_profile_is_read(path):
    data = tomllib.loads(path.read_text())
    for table, value in data.items():
        assert table in KNOWN_FIELDS, f"{path.name}: [{table}]"
        rows = value if isinstance(value, list) else [value]
        for row in rows:
            unknown = set(row) - KNOWN_FIELDS[table]
            assert not unknown, f"{path.name}: [{table}] {unknown}"


def test_the_known_fields_are_the_ones_read():
    """The table must follow the code: each [target] field becomes a Target attribute (but for
    what only a run knows), each [driver] field a DriverProfile one, [simulator] the settings."""
    runtime = {"clients", "driver", "control_origin", "driver_secrets"}
    assert KNOWN_FIELDS["target"] == {f.name for f in fields(Target)} - runtime
    # passwords: read from the users' entries ({ login, password }), not a field of its own.
    assert KNOWN_FIELDS["driver"] == {f.name for f in fields(DriverProfile)} - {"passwords"}
    assert KNOWN_FIELDS["simulator"] == {f.name for f in fields(SimulatorSettings)} - {"clients"}


def test_psc_profiles_hold_the_fact_sheet_values(monkeypatch):
    monkeypatch.setenv("PSC_BAS_CLIENT_SECRET", "x")
    monkeypatch.setenv("PSC_PROD_CLIENT_SECRET", "x")
    monkeypatch.delenv("PSC_DISCOVERY_URL", raising=False)
    for name, issuer in FACTS.items():
        target = load_target(ROOT / "targets" / f"{name}.toml")
        assert target.discovery_url == issuer + "/.well-known/wallet-openid-configuration"
        assert target.scope == "openid scope_all" and target.acr_values == "eidas1"
        assert target.driver.name == "browser" and not target.driver.headless
    assert load_target(ROOT / "targets/psc-bas.toml").sandbox
    prod = load_target(ROOT / "targets/psc-prod.toml")
    assert prod.safe and not prod.sandbox


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(
        '[target]\ndiscovery_url = "https://op.example/.well-known/openid-configuration"\n'
        + text
        + '\n[[clients]]\nclient_id = "c"\nauth_method = "none"\nredirect_uri = "http://c/cb"\n'
    )
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sfae = true", "[target]: unknown field 'sfae' (did you mean 'safe'?)"),
        (
            "[driver]\nheadles = false",
            "[driver]: unknown field 'headles' (did you mean 'headless'?)",
        ),
        ("[targt]\nname = 'x'", "top level: unknown table 'targt' (did you mean 'target'?)"),
        ("[driver]\nsafe = true", "[driver]: unknown field 'safe' (it belongs in [target])"),
        ("[load]\nrun_tim = '30s'", "[load]: unknown field 'run_tim' (did you mean 'run_time'?)"),
        ("safe = 'false'", "[target]: safe is true or false, not 'false'"),
    ],
)
def test_a_misspelt_field_is_refused_with_the_likely_one(tmp_path, text, message):
    with pytest.raises(ProfileError) as caught:
        load_target(write(tmp_path, text))
    assert message in str(caught.value)


def test_a_misspelt_client_field_names_its_client(tmp_path):
    path = write(tmp_path, "")
    path.write_text(path.read_text() + 'client_secret_evn = "X"\n')
    with pytest.raises(ProfileError) as caught:
        load_target(path)
    assert "[[clients]] #1: unknown field 'client_secret_evn'" in str(caught.value)
    assert "did you mean 'client_secret_env'?" in str(caught.value)


def test_driver_values_come_from_the_environment(tmp_path, monkeypatch):
    path = write(tmp_path, '[driver]\nname = "html_form"\n[driver.fields]\npassword = "{env:PW}"')
    monkeypatch.delenv("PW", raising=False)
    with pytest.raises(ProfileError, match="set the environment variable PW"):
        load_target(path)
    monkeypatch.setenv("PW", "s3cret-password")
    target = load_target(path)
    assert target.driver.fields["password"] == "s3cret-password"
    assert target.driver_secrets == ("s3cret-password",)  # redacted like client secrets


def test_load_refuses_a_safe_profile(tmp_path, monkeypatch):
    monkeypatch.delenv("PSC_PROD_CLIENT_SECRET", raising=False)  # refused before secrets
    result = psc_testkit(
        "load", "--target", "targets/psc-prod.toml", "--reports", str(tmp_path), timeout=60
    )
    assert result.returncode == 2
    assert "safe profile" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_a_safe_profile_logs_nobody_in(own_simulator, tmp_path):
    """The simulator's own profile with safe = true, against a simulator whose control API tells
    what it issued: no code, no session, no login page; what needs one is skipped."""
    text = PROFILE.read_text().replace(
        "simulator = true",
        f'discovery_url = "{own_simulator.runtime()["discovery_url"]}"\n'
        f'ca_file = "{own_simulator.ca}"\nsafe = true',
    )
    profile = tmp_path / "safe.toml"
    profile.write_text(text.replace("{state}", str(own_simulator.state_dir)))
    reports = tmp_path / "reports"
    result = psc_testkit("conformance", "--target", str(profile), "--reports", str(reports))
    assert result.returncode == 0, result.stdout[-3000:]
    context = ssl.create_default_context(cafile=own_simulator.ca)
    issued = httpx.get(f"{own_simulator.origin}/_simulator/issued", verify=context).json()
    for kind in ("codes", "access_tokens", "session_cookies", "transactions", "users"):
        assert issued[kind] == [], kind
    summary = json.loads((reports / "summary.json").read_text())
    checks = {c["check"]: c for c in summary["checks"]}
    safe = [c for c in checks.values() if "safe profile:" in c["message"]]
    assert len(safe) > 100 and all(c["verdict"] == "skipped" for c in safe)
    assert all(c["message"].count("\n") == 0 for c in safe)
    reasons = {c["message"].removeprefix("Skipped: ") for c in safe}
    assert reasons == {
        "safe profile: this check needs a user login",
        "safe profile: this check asks a user's phone (CIBA)",
    }
    assert not [c for c in checks.values() if c["verdict"] in ("failed", "error")]
    metadata = [c for name, c in checks.items() if "/discovery/" in name]
    assert metadata and all(c["verdict"] in ("passed", "skipped") for c in metadata)
    assert any("jwks" in name and c["verdict"] == "passed" for name, c in checks.items())
    assert not [c for c in metadata if "safe profile" in c["message"]]


def test_users_may_each_carry_their_own_password(tmp_path, monkeypatch):
    path = write(
        tmp_path,
        '[driver]\nname = "html_form"\n'
        'users = ["carol", { login = "alice", password = "{env:PW_ALICE}" },\n'
        '         { login = "bob", password = "{env:PW_BOB}" }]\n'
        '[driver.fields]\nusername = "{user}"\npassword = "{password}"',
    )
    monkeypatch.setenv("PW_ALICE", "alice-s3cret")
    monkeypatch.delenv("PW_BOB", raising=False)
    # carol has no password, and {password} is typed: refused, naming her.
    with pytest.raises(ProfileError, match="the user 'carol' has none"):
        load_target(path)
    path.write_text(path.read_text().replace('"carol", ', ""))
    with pytest.raises(ProfileError, match="set the environment variable PW_BOB"):
        load_target(path)
    monkeypatch.setenv("PW_BOB", "bob-s3cret")
    target = load_target(path)
    assert target.driver.users == ("alice", "bob")
    assert target.driver.passwords == {"alice": "alice-s3cret", "bob": "bob-s3cret"}
    assert target.driver.fields["password"] == "{password}"  # filled per user at login
    assert set(target.driver_secrets) == {"alice-s3cret", "bob-s3cret"}  # redacted
    monkeypatch.setenv("PSC_USERS", "bob")  # the environment picks; the passwords stay
    assert load_target(path).driver.users == ("bob",)
    assert load_target(path).driver.passwords["bob"] == "bob-s3cret"


def test_a_password_written_in_the_profile_is_redacted_too(tmp_path):
    path = write(
        tmp_path,
        '[driver]\nname = "browser"\nusers = [{ login = "alice", password = "written-here" }]\n'
        '[[driver.steps]]\nfill = "#password"\nvalue = "{password}"',
    )
    target = load_target(path)
    assert target.driver_secrets == ("written-here",)
    assert target.driver.steps[0].secret  # typed once per login (browser driver)


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ('"alice"', "[driver]: users is a list"),
        ('[{ login = "a", pasword = "x" }]', "unknown key 'pasword' (did you mean 'password'?)"),
        ('[{ password = "x" }]', "users[0]: login is the user's identifier"),
        ('["a", "a"]', "users[1]: 'a' is listed twice"),
        ("[3]", "users[0]: a user is an identifier or a table { login, password }"),
        ('[{ login = "a", password = 3 }]', "users[0]: password is a string"),
    ],
)
def test_malformed_users_are_refused_with_where_and_why(tmp_path, users, message):
    driver = f'[driver]\nname = "html_form"\nusers = {users}\n[driver.fields]\nu = "{{user}}"'
    with pytest.raises(ProfileError) as caught:
        load_target(write(tmp_path, driver))
    assert message in str(caught.value)


def test_passwords_nothing_types_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PW", "x-password")
    path = write(
        tmp_path,
        '[driver]\nname = "html_form"\nusers = [{ login = "a", password = "{env:PW}" }]\n'
        '[driver.fields]\nusername = "{user}"\npassword = "{env:PW}"',
    )
    with pytest.raises(ProfileError) as caught:
        load_target(path)
    assert 'no [driver.fields] value or fill step types "{password}"' in str(caught.value)
