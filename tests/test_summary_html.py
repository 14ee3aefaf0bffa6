"""summary.html and its replay commands: the page names each failure with its requirement, the
spec's sentence, Expected/Actual, the exchange and its tokens decoded, and replay lines that
run once their variables are set (one is run here against a simulator with the defect)."""

import base64
import html
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import pytest

from psc_testkit.claims import psc as psc_claims
from psc_testkit.claims.identifiers import EDIT_ID, luhn_complete, shape
from psc_testkit.client.evidence import PLACEHOLDER, Exchange, Recorder, Redactor
from psc_testkit.client.replay import TlsFiles, command
from psc_testkit.reports.html import anchor, expected_actual, natural, render
from tests.conftest import client_context, start
from tests.html_form_profile import SECRET_ENV, html_form_profile
from tests.simulator.flows import SECRETS, Sim, pkce_pair

ROOT = Path(__file__).resolve().parent.parent


# Pure functions ---------------------------------------------------------------------------


def test_requirements_sort_as_numbers():
    ids = ["OIDCC-3.1.3.7-10", "OIDCC-3.1.3.7-2", "OIDCC-3.1.2.6", "OIDCC-3.1.3.7-11", "OIDCC-5.3"]
    assert sorted(ids, key=natural) == [
        "OIDCC-3.1.2.6",
        "OIDCC-3.1.3.7-2",
        "OIDCC-3.1.3.7-10",
        "OIDCC-3.1.3.7-11",
        "OIDCC-5.3",
    ]


def test_expected_and_actual_come_out_of_the_message():
    message = "AssertionError: Expected: state 'abc' Actual: None"
    assert expected_actual(message) == ("state 'abc'", "None")
    assert expected_actual("AssertionError: boom") is None


def test_anchors_are_ids_a_url_can_hold():
    check = "conformance/core/test_x.py::test_y[client_secret_basic-CARD]"
    assert re.fullmatch(r"check-[A-Za-z0-9_-]+", anchor(check))


def test_a_value_is_described_without_being_shown():
    assert shape("812345678901", id_nat=True) == "12 characters: type prefix '8' then 11 digits"
    assert shape("ANS20210107161422", id_nat=True) == "17 characters: 3 letters, 14 digits"
    wrong = luhn_complete("81012345678")[:-1] + "0"
    wrong = wrong if wrong != luhn_complete("81012345678") else wrong[:-1] + "1"
    (violation,) = [
        v for v in psc_claims.validate_userinfo({"SubjectNameID": wrong}) if v.rule == "identifier"
    ]
    redact = Redactor()
    redact.add(wrong, "personal")
    shown = redact(str(violation))
    assert wrong not in shown and "«personal:" in shown
    assert "12 characters: type prefix '8' then 11 digits" in shown
    assert "check digit (Luhn), its last digit, is wrong" in shown


def test_revealed_test_identities_are_edit_ids_only_and_never_secrets():
    redact = Redactor()
    redact.reveal = EDIT_ID
    redact.learn_json(
        {"SubjectNameID": "ANS20231122132732", "given_name": "Jeanne", "code": "ANS20231122132799"}
    )
    shown = redact(
        '{"SubjectNameID": "ANS20231122132732", "given_name": "Jeanne"} ANS20231122132799'
    )
    assert "ANS20231122132732" in shown  # the test identity, as asked
    assert "Jeanne" not in shown  # a name stays personal
    assert "ANS20231122132799" not in shown  # a secret stays a secret, whatever it looks like


def _exchange(headers, body=b"", url="https://127.0.0.1:9/token"):
    return Exchange("POST", url, headers, body, 200, [], b"", 1.0)


def test_replay_puts_every_hidden_value_in_a_variable():
    recorder = Recorder()
    recorder.redact.keep("psc-testkit-basic")
    request = httpx.Request(
        "POST",
        "https://127.0.0.1:9/token?x=1",
        headers={
            "Authorization": httpx.BasicAuth("psc-testkit-basic", "s3cr'et$`x")._auth_header,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        content=b"grant_type=authorization_code&code=abcdefghijkl&redirect_uri=http%3A%2F%2Fx%2Fcb",
    )
    exchange = recorder.record(
        request, httpx.Response(200), 0.0, tls=TlsFiles(Path("/ca dir/ca.pem"))
    )
    replay = exchange.replay(recorder.redact)
    line = replay.command
    assert not PLACEHOLDER.search(line) and "s3cr" not in line and "abcdefghijkl" not in line
    words = shlex.split(line)
    assert words[:4] == ["curl", "-i", "--cacert", "/ca dir/ca.pem"]
    assert "psc-testkit-basic:${PSC_CLIENT_SECRET}" in words
    assert "code=${CODE}" in words and "redirect_uri=http://x/cb" in words
    assert set(replay.variables) == {"PSC_CLIENT_SECRET", "CODE"}
    # What the page shows of it, redacted again by field name, still runs.
    assert Redactor().message(line, 10_000) == line


def test_replay_of_a_bearer_call_and_a_cookie():
    redact = Redactor()
    line = command(
        "GET",
        "https://127.0.0.1:9/userinfo",
        [("authorization", "Bearer tok-123456789"), ("cookie", "KEYCLOAK_IDENTITY=abcdefgh; a=b")],
        b"",
        redact,
    ).command
    words = shlex.split(line)
    assert "authorization: Bearer ${ACCESS_TOKEN}" in words
    assert "cookie: KEYCLOAK_IDENTITY=${COOKIE_KEYCLOAK_IDENTITY}; a=${COOKIE_A}" in words
    assert "--cacert" not in words  # the run trusted the system's CAs


# A replay line from the page, run -------------------------------------------------------


@pytest.fixture(scope="module")
def nonce_defect():
    process = start(defects=["nonce-not-echoed"])
    yield process
    process.stop()


def _profile(process, path: Path, monkeypatch) -> Path:
    monkeypatch.setenv(SECRET_ENV, SECRETS["psc-testkit-basic"])  # the runs inherit it
    return html_form_profile(process, path, "a provider with a defect")


def _commands(page: str) -> list[str]:
    found = re.findall(r'<pre class="replay-command">(.*?)</pre>', page, re.S)
    return [html.unescape(c) for c in found]


def _run(line: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", line],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_replay_lines_in_the_page_run_once_their_variables_are_set(
    nonce_defect, tmp_path, monkeypatch
):
    profile = _profile(nonce_defect, tmp_path / "provider.toml", monkeypatch)
    command = [sys.executable, "-m", "psc_testkit", "conformance", "--target", str(profile)]
    command += ["--reports", str(tmp_path), "--", "-k", "test_nonce_is_the_one_sent"]
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout[-3000:]
    page = (tmp_path / "summary.html").read_text()
    assert SECRETS["psc-testkit-basic"] not in page
    commands = _commands(page)
    token_line = next(c for c in commands if "/token" in c)
    userinfo_line = next(c for c in commands if "/userinfo" in c)
    for line in commands:
        assert not PLACEHOLDER.search(line) and f"--cacert {nonce_defect.ca}" in line
    with httpx.Client(verify=client_context(nonce_defect), timeout=10) as http:
        sim = Sim(nonce_defect, http)
        fresh = sim.code()  # a login: the client now holds the provider's session cookie
        tokens = sim.token(sim.code()).json()
        cookies = {f"COOKIE_{name}": value for name, value in http.cookies.items()}
        id_nat = sim.user()
    _, challenge = pkce_pair()  # a challenge the login form never redeems
    # Every line, each with what its variables ask for: the authorization request too.
    assert any("/auth?" in c for c in commands)
    values = {
        "PSC_CLIENT_SECRET": SECRETS["psc-testkit-basic"],
        "CODE": fresh.code,
        "CODE_VERIFIER": fresh.verifier,
        "ACCESS_TOKEN": tokens["access_token"],
        "STATE": "st-123",
        "NONCE": "n-456",
        "CODE_CHALLENGE": challenge,
        "IDNAT": id_nat,
        **cookies,
    }
    for line in commands:
        needed = set(re.findall(r"\$\{(\w+)\}", line))
        assert needed <= set(values), (needed - set(values), line)
        answer = _run(line, {name: values[name] for name in needed})
        status = int(answer.split(" ", 2)[1])
        if "/auth?" in line and any(n.startswith("COOKIE_") for n in needed):
            # With the session cookie the provider answers at once, with a code.
            assert status == 302 and "code=" in answer.split("\n\n", 1)[0], answer[:800]
        elif "/auth?" in line:  # the run's first login: the login page
            assert status == 200 and 'action="/auth/login"' in answer, answer[:800]
            values["TX"] = html.unescape(re.search(r'name="tx" value="([^"]+)"', answer)[1])
        elif "/auth/login" in line:  # the login form, posted: back to the client
            assert status == 302 and "code=" in answer.split("\n\n", 1)[0], answer[:800]
        else:
            assert status == 200, answer[:500]
        if line == token_line:
            assert "access_token" in json.loads(answer.split("\n\n", 1)[1])
        if line == userinfo_line:
            assert "SubjectNameID" in json.loads(answer.split("\n\n", 1)[1])


def test_reveal_needs_a_sandbox_profile(nonce_defect, tmp_path, monkeypatch):
    profile = _profile(nonce_defect, tmp_path / "provider.toml", monkeypatch)
    command = [sys.executable, "-m", "pytest", str(ROOT / "conformance"), "-p"]
    command += ["psc_testkit.conformance.pytest_plugin", "-p", "no:cacheprovider", "-q"]
    command += ["--target", str(profile), "--summary", str(tmp_path / "s.json")]
    command += ["--psc-reveal-test-identities", "-k", "test_every_endpoint_is_an_https_url"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert (
        "--reveal-test-identities needs a profile with sandbox = true" in done.stderr + done.stdout
    )
    text = profile.read_text().replace(
        'acr_values = "eidas1"', 'acr_values = "eidas1"\nsandbox = true'
    )
    profile.write_text(text)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert done.returncode == 0, done.stdout[-2000:]
    assert summary["revealed_test_identities"] is True


def test_a_page_of_a_run_without_failures_says_so():
    summary = {
        "target": "t",
        "verdict": "verdict: PASSED (exit 0): requirements 1 passed",
        "counts": {"passed": 1},
        "requirement_counts": {"passed": 1},
        "requirements": {"OIDCC-3.1.2.1": {"level": "MUST", "verdict": "passed", "checks": ["c"]}},
        "checks": [{"check": "c", "verdict": "passed", "requirement": "OIDCC-3.1.2.1"}],
    }
    page = render(summary, None)
    assert "Every MUST holds" in page and 'id="failures"' not in page


# What a review found ----------------------------------------------------------------------


def test_a_header_after_the_cookie_keeps_the_replay_runnable_in_the_page():
    """Re-redacted by field name as the page does, a Cookie or Bearer header followed by another
    header still reads "${VARIABLE}" up to its closing quote, and the line parses."""
    redact = Redactor()
    headers = [
        ("cookie", "AUTH_SESSION_ID=abcdefgh; KC_RESTART=ijklmnop"),
        ("authorization", "Bearer tok-123456789"),
        ("content-type", "application/x-www-form-urlencoded"),
    ]
    line = command("POST", "https://127.0.0.1:9/login", headers, b"a=b", redact).command
    assert Redactor().message(line, 10_000) == line
    assert subprocess.run(["bash", "-n", "-c", line]).returncode == 0
    assert "content-type: application/x-www-form-urlencoded" in shlex.split(line)


def test_a_basic_secret_that_was_form_encoded_says_so():
    """RFC 6749 §2.3.1: the suite sends the secret form-encoded; a secret with + / = differs
    from its encoded form, and the variable asks for the encoded one."""
    secret = "ab+c/d=e f"
    encoded = f"psc-testkit-basic:{quote_plus(secret)}"
    header = "Basic " + base64.b64encode(encoded.encode()).decode()
    redact = Redactor()
    redact.keep("psc-testkit-basic")
    replay = command("POST", "https://127.0.0.1:9/token", [("authorization", header)], b"", redact)
    assert "PSC_CLIENT_SECRET_FORM_ENCODED" in replay.variables
    words = shlex.split(replay.command)
    assert "psc-testkit-basic:${PSC_CLIENT_SECRET_FORM_ENCODED}" in words
    # Set as told, curl's -u sends the credential the suite sent.
    credential = words[words.index("-u") + 1].replace(
        "${PSC_CLIENT_SECRET_FORM_ENCODED}", quote_plus(secret)
    )
    assert "Basic " + base64.b64encode(credential.encode()).decode() == header


def test_odd_requests_give_lines_that_parse_or_say_why_not():
    redact = Redactor()
    form = [("content-type", "application/x-www-form-urlencoded")]
    assert command("POST", "https://h/x", form, b"\x00\x01", redact).command.startswith(
        "not replayable here: a binary body"
    )
    line = command("POST", "https://h/x", form, b"=abc&a=b", redact).command
    assert "--data-raw =abc" in line and "--data-urlencode a=b" in line
    redact.add("abcdefghij")
    replay = command("GET", "https://h/x?path=abcdefghij", [], b"", redact)
    assert "${VALUE_PATH}" in replay.command and "${PATH}" not in replay.command
    assert "percent-encoded" in replay.variables["VALUE_PATH"]


def test_personal_values_of_any_type_and_tokens_in_pages_are_hidden_before_rendering():
    recorder = Recorder()
    claims = {"sub": "x", "family_name": ["Dupontel"], "SubjectNameID": 810012345678}
    claims["phone_number"] = "+33612345678"
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    token = f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln"
    page = f"<html><p>Dupontel +33612345678</p><input value='{token}'></html>".encode()
    request = httpx.Request("GET", "https://op.test/page")
    response = httpx.Response(200, headers={"content-type": "text/html"}, content=page)
    exchange = recorder.record(request, response, 0.0)
    rendered = exchange.render(recorder.redact)  # before anything decoded the token
    shown = rendered + json.dumps(exchange.to_dict(recorder.redact))
    for value in ("Dupontel", "810012345678", "+33612345678", token):
        assert value not in shown, value


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["counts"].update(failed="<script>alert(1)</script>"),
        lambda s: s.update(requirements=[1]),
        lambda s: s["requirements"].update({"X-1": "str"}),
        lambda s: s["requirements"]["OIDCC-3.1.2.1"].update(checks=[["a"]]),
        lambda s: s["checks"][0].update(check=["a"]),
        lambda s: s.update(counts=[1], stopped="x", defects="abc", checks=5),
        lambda s: s["checks"][0].update(evidence=[{"jwts": 5, "replay_variables": [1]}]),
        lambda s: s["requirements"].update({"OIDCC-3.1²": {"verdict": "passed"}}),
        lambda s: s["checks"][0].update(requirement=None, message="<b>" * 1000),
    ],
)
def test_a_broken_or_hostile_summary_still_gives_an_escaped_page(change):
    summary = {
        "target": "<i>t</i>",
        "verdict": "verdict: FAILED (exit 1)",
        "counts": {"failed": 1},
        "requirement_counts": {"failed": 1},
        "requirements": {"OIDCC-3.1.2.1": {"level": "MUST", "verdict": "failed", "checks": ["c"]}},
        "checks": [{"check": "c", "verdict": "failed", "requirement": "OIDCC-3.1.2.1"}],
    }
    change(summary)
    page = render(summary, None)
    assert "<script>" not in page and "<i>t</i>" not in page and "<b><b>" not in page
