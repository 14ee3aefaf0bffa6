"""`psc-testkit profile check`: one line per step, stopping at the first broken prerequisite,
exit 0 when the profile is ready, 1 when a step fails, 2 when the profile itself is unusable.
(The expired certificate case is in test_hostile_targets.py, beside its server.)"""

import io
from pathlib import Path

from psc_testkit.client.profile_check import check
from tests import login_server
from tests.cli import psc_testkit
from tests.conftest import PROFILE


def run(profile: Path) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = check(profile, out)
    return code, out.getvalue().splitlines()


def step(lines: list[str], name: str) -> list[str]:
    return [line for line in lines if line.split()[1:2] == [name]]


def test_the_simulator_profile_is_ready():
    result = psc_testkit("profile", "check", str(PROFILE), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in ("DNS", "TCP", "TLS", "discovery", "JWKS", "driver"):
        assert step(lines, name)[0].startswith("ok "), (name, result.stdout)
    clients = step(lines, "client")
    assert len(clients) == 5, result.stdout  # every client of the profile, mTLS included
    assert all(line.startswith("ok ") and "accepted" in line for line in clients), result.stdout
    assert not [line for line in lines if line.startswith(("FAIL", "warn"))], result.stdout
    assert not step(lines, "login"), result.stdout  # nobody logs in unless asked
    assert lines[-1].startswith("verdict: simulator is ready")


def test_login_when_asked_logs_one_user_in_and_gets_tokens():
    result = psc_testkit("profile", "check", "--login", str(PROFILE), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    (login,) = step(result.stdout.splitlines(), "login")
    assert login.startswith("ok ") and "logged in with psc-testkit-basic (simulator)" in login
    assert "a code received, tokens obtained (access_token, id_token, refresh_token)" in login
    assert "«personal:" in login  # the simulator's professional, redacted as in reports


def refusing_profile(tmp_path: Path, server: login_server.LoginServer, safe: bool = False) -> Path:
    path = tmp_path / "refusing.toml"
    driver = (
        '[driver]\nname = "html_form"\n'
        'users = [{ login = "alice", password = "{env:PSC_TEST_ALICE_PASSWORD}" }]\n'
        '[driver.fields]\nusername = "{user}"\npassword = "{password}"\n'
    )
    text = login_server.profile(server, driver, "refusing-provider")
    path.write_text(text.replace("timeout = 5\n", "timeout = 5\nsafe = true\n") if safe else text)
    return path


def test_a_refused_login_is_one_line_one_post_and_exit_1(tmp_path, monkeypatch):
    monkeypatch.setenv("PSC_TEST_ALICE_PASSWORD", "alice-typed-this-wrong")
    with login_server.started({"alice": "alice-real-password"}) as server:
        path = refusing_profile(tmp_path, server)
        code, lines = run(path)  # without --login: the login page is looked at, not posted to
        assert code == 0 and not server.posts and not step(lines, "login"), lines
        result = psc_testkit("profile", "check", "--login", str(path), timeout=120)
        posts = [(p.username, p.password) for p in server.posts]
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("FAIL")] == [
        "FAIL login     login: the login form came back: check [driver.fields] and the password "
        "(not posted again)"
    ]
    assert posts == [("alice", "alice-typed-this-wrong")]  # once: the form came back
    assert "alice-typed-this-wrong" not in result.stdout + result.stderr
    assert lines[-1] == "verdict: refusing-provider is NOT ready: 1 problem(s)"


def test_login_is_never_done_on_a_safe_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("PSC_TEST_ALICE_PASSWORD", "alice-real-password")
    with login_server.started({"alice": "alice-real-password"}) as server:
        out = io.StringIO()
        code = check(refusing_profile(tmp_path, server, safe=True), out, login=True)
        # The public client's probe opens the login page; nothing is posted to it.
        assert not server.posts and server.pages == 1
    assert code == 0, out.getvalue()
    (login,) = step(out.getvalue().splitlines(), "login")
    assert login.startswith("--") and "not done: safe profile" in login


def test_rejected_clients_are_named_with_what_to_fix(own_simulator, tmp_path, monkeypatch):
    monkeypatch.setenv("PSC_TEST_WRONG_SECRET", "not-the-secret")
    monkeypatch.delenv("PSC_TEST_UNSET_SECRET", raising=False)
    profile = tmp_path / "wrong.toml"
    profile.write_text(f'''
[target]
name = "wrong clients"
discovery_url = "{own_simulator.issuer}/.well-known/wallet-openid-configuration"
ca_file = "{own_simulator.ca}"
[driver]
name = "simulator"
[[clients]]
client_id = "psc-testkit-basic"
auth_method = "client_secret_basic"
client_secret_env = "PSC_TEST_WRONG_SECRET"
redirect_uri = "http://127.0.0.1:8080/callback"
[[clients]]
client_id = "psc-testkit-post"
auth_method = "client_secret_post"
client_secret_env = "PSC_TEST_UNSET_SECRET"
redirect_uri = "http://127.0.0.1:8080/callback"
[[clients]]
client_id = "psc-testkit-public"
auth_method = "none"
redirect_uri = "https://not-registered.example/callback"
[[clients]]
client_id = "psc-testkit-public"
auth_method = "none"
redirect_uri = "http://127.0.0.1:8080/callback"
''')
    code, lines = run(profile)
    assert code == 1, lines
    basic, post, unregistered, public = step(lines, "client")
    assert basic.startswith("FAIL") and (
        "rejected (invalid_client): check its secret in $PSC_TEST_WRONG_SECRET" in basic
    )
    assert post.startswith("FAIL") and "$PSC_TEST_UNSET_SECRET is not set" in post
    assert unregistered.startswith("FAIL") and "rejected (HTTP 400" in unregistered
    assert "not registered" in unregistered  # the reason the provider's page gives
    assert public.startswith("ok ") and "accepted" in public
    assert "NOT ready: 3 problem(s)" in lines[-1]


def test_connection_refused_stops_after_tcp(tmp_path):
    profile = tmp_path / "refused.toml"
    profile.write_text(
        '[target]\ndiscovery_url = "http://127.0.0.1:9/.well-known/openid-configuration"\n'
        '[[clients]]\nclient_id = "x"\nauth_method = "none"\nredirect_uri = "http://c/cb"\n'
    )
    code, lines = run(profile)
    assert code == 1
    assert step(lines, "DNS")[0].startswith("ok ")
    assert step(lines, "TCP")[0].startswith("FAIL") and "connection refused" in lines[1]
    assert not step(lines, "TLS") and not step(lines, "discovery") and not step(lines, "client")


def test_unresolvable_host_stops_at_dns(tmp_path):
    # .invalid never resolves (RFC 6761): the resolver says so without asking the network.
    profile = tmp_path / "nowhere.toml"
    profile.write_text(
        '[target]\ndiscovery_url = "https://auth.psc-testkit.invalid/.well-known/'
        'openid-configuration"\ntimeout = 5\n'
        '[[clients]]\nclient_id = "x"\nauth_method = "none"\nredirect_uri = "http://c/cb"\n'
    )
    code, lines = run(profile)
    assert code == 1
    assert (
        lines[0].startswith("FAIL DNS") and "auth.psc-testkit.invalid: cannot resolve" in lines[0]
    )
    assert not step(lines, "TCP")


def test_an_unusable_profile_exits_2_with_the_field(tmp_path, capsys):
    profile = tmp_path / "typo.toml"
    profile.write_text(
        '[target]\ndiscovery_url = "https://op.example/.well-known/openid-configuration"\n'
        "sfae = true\n"
        '[[clients]]\nclient_id = "x"\nauth_method = "none"\nredirect_uri = "http://c/cb"\n'
    )
    code, lines = run(profile)
    assert code == 2 and not lines
    assert "unknown field 'sfae' (did you mean 'safe'?)" in capsys.readouterr().err
