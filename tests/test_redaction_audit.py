"""Redaction audit, as an attacker reads reports: after a conformance run (with --certify), a load
run and `psc-testkit report` against one simulator whose every secret is awkward, no file under
the reports folder and no line the commands printed holds any spelling (raw, percent-encoded,
JSON- or HTML-escaped, inside Basic) of a client secret, an issued code, token, session cookie or
transaction, or a logged-in professional's identifier or name.

Awkward: the clients' secrets here, and with `--awkward-secrets` every opaque value the
simulator issues, hold `+ / = & % \\` and non-ASCII characters, which plain values never need
to encode: a redactor that knew only a value's raw spelling passed the audit before."""

from __future__ import annotations

import json
import re
import ssl
from pathlib import Path

import httpx
import pytest

from psc_testkit.client.evidence import _trie_pattern
from psc_testkit.simulator.process import SimulatorProcess
from tests.cli import psc_testkit
from tests.conftest import PROFILE
from tests.redaction_scenario import spellings

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "psc-testkit-basic": "basic+/=&%\\é\"'<> 6f1d2c9a",
    "psc-testkit-post": "post%2B/=&\\ü€ 83b7e0f2#x",
}
AWKWARD = set("+/=&%\\")

run = psc_testkit


def toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def simulator_profile(folder: Path) -> Path:
    """The simulator's own profile with the audit's awkward client secrets."""
    text = PROFILE.read_text(encoding="utf-8")
    for old, client_id in (
        ('client_secret = "sim-basic-6f1d2c9a4e"', "psc-testkit-basic"),
        ('client_secret = "sim-post-83b7e0f215"', "psc-testkit-post"),
    ):
        assert old in text, old
        text = text.replace(old, f"client_secret = {toml(SECRETS[client_id])}")
    path = folder / "simulator.toml"
    path.write_text(text, encoding="utf-8")
    return path


# One worker runs the audited scenario once for both checks, not once each.
pytestmark = pytest.mark.xdist_group("redaction-audit")


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit")
    reports = folder / "reports"
    printed = {}
    with SimulatorProcess(
        tls=True, config=simulator_profile(folder), extra_args=["--awkward-secrets"]
    ) as sim:
        context = ssl.create_default_context(cafile=sim.ca)
        listed = httpx.get(f"{sim.origin}/_simulator/users?limit=40", verify=context).json()
        users = ", ".join(f'"{u["idNat"]}"' for u in listed["users"])
        profile = folder / "audit.toml"
        profile.write_text(
            f'''
[target]
name = "audit"
discovery_url = "{sim.issuer}/.well-known/wallet-openid-configuration"
ca_file = "{sim.ca}"
[driver]
name = "simulator"
users = [{users}]
[[clients]]
client_id = "psc-testkit-basic"
auth_method = "client_secret_basic"
client_secret = {toml(SECRETS["psc-testkit-basic"])}
redirect_uri = "http://127.0.0.1:8080/callback"
post_logout_redirect_uri = "http://127.0.0.1:8080/logged-out"
ciba = true
[[clients]]
client_id = "psc-testkit-post"
auth_method = "client_secret_post"
client_secret = {toml(SECRETS["psc-testkit-post"])}
redirect_uri = "http://127.0.0.1:8080/callback"
''',
            encoding="utf-8",
        )
        conformance = run(
            "conformance", "--target", str(profile), "--reports", str(reports), "--certify"
        )
        # 4: the run held, and its certificate is INCOMPLETE (this profile has fewer clients
        # than the suite can use); a failure or a stopped run would be 1, 2 or 3.
        assert conformance.returncode in (0, 4), conformance.stdout[-3000:]
        printed["conformance (terminal)"] = conformance.stdout + conformance.stderr
        load = run(
            "load",
            "--target",
            str(profile),
            "--run-time",
            "6s",
            "--users",
            "12",
            "--think",
            "0.3",
            "--reports",
            str(reports / "load"),
        )
        assert load.returncode == 0, load.stdout[-3000:] + load.stderr[-2000:]
        printed["load (terminal)"] = load.stdout + load.stderr
        issued = httpx.get(f"{sim.origin}/_simulator/issued", verify=context).json()
    report = run("report", "--reports", str(reports))
    assert report.returncode == 0, report.stdout + report.stderr
    printed["report (terminal)"] = report.stdout + report.stderr
    return reports, issued, printed


def secrets_of(issued: dict) -> dict[str, str]:
    """Every value the simulator issued (whatever lists it keeps), and who logged in."""
    found = {}
    for kind, values in issued.items():
        if kind != "users" and isinstance(values, list):
            found.update({value: kind for value in values if isinstance(value, str)})
    found.update({value: "client secret" for value in SECRETS.values()})
    for user in issued["users"]:
        found[user["idNat"]] = "idNat"
        found[f"{user['given_name']} {user['family_name']}"] = "name"
    return found


class Needles:
    """Many strings looked for at once: a trie over their first characters finds where one may
    start, then each is compared whole (one `in` per string and file would take minutes)."""

    KEY = 8

    def __init__(self, needles: dict[str, str]) -> None:
        self.needles = needles
        self.by_key: dict[str, list[str]] = {}
        for needle in needles:
            self.by_key.setdefault(needle[: self.KEY], []).append(needle)
        self.pattern = re.compile(_trie_pattern(self.by_key))

    def find(self, text: str) -> set[str]:
        found, position = set(), 0
        while (match := self.pattern.search(text, position)) is not None:
            start = match.start()
            for size in range(self.KEY, 0, -1):
                for needle in self.by_key.get(text[start : start + size], ()):
                    if text.startswith(needle, start):
                        found.add(needle)
            position = start + 1
        return found


def test_reports_hold_no_spelling_of_any_secret_and_no_personal_data(audited):
    reports, issued, printed = audited
    assert issued["access_tokens"] and issued["codes"] and issued["users"]
    # The simulator's values were awkward indeed: what a plain one never needs to encode (codes
    # and refresh tokens stay ASCII, as RFC 6749 Appendix A requires).
    assert issued["awkward_secrets"] is True
    for kind in ("codes", "refresh_tokens", "session_ids", "transactions"):
        awkward = [v for v in issued[kind] if set(v) >= AWKWARD]
        assert awkward, kind  # CIBA's auth_req_ids, also listed as transactions, may only add "."
    assert all(any(ord(c) > 127 for c in v) for v in issued["session_ids"])
    sensitive = secrets_of(issued)
    client_ids = tuple(SECRETS)
    needles = {s: kind for value, kind in sensitive.items() for s in spellings(value, client_ids)}
    texts = {
        str(p.relative_to(reports)): p.read_bytes().decode("utf-8", "replace")
        for p in reports.rglob("*")
        if p.is_file()
    } | printed
    assert len(texts) > 50  # summary, junit, allure results and report, locust csv/html
    scanner = Needles(needles)
    hits = [(name, needles[s], s) for name, text in texts.items() for s in scanner.find(text)]
    # Family names as whole words only: "ROUX" must not match inside another word.
    names = {u["family_name"] for u in issued["users"]}
    for name, text in texts.items():
        hits += [
            (name, "family name", family)
            for family in names
            if re.search(rf"(?<![A-Za-z]){re.escape(family)}(?![A-Za-z])", text)
        ]
    print(
        f"audit: {len(texts)} files and outputs, {len(sensitive)} values in "
        f"{len(needles)} spellings, {len(hits)} traces"
    )
    assert not hits, hits[:20]


def test_the_audit_covers_every_report(audited):
    reports, _, printed = audited
    for name in (
        "summary.json",
        "junit.xml",
        "summary.html",
        "certification.json",
        "certification.html",
        "allure-results",
        "allure-report/index.html",
        "load/summary.json",
        "load/locust.html",
    ):
        assert (reports / name).exists(), name
    assert json.loads((reports / "summary.json").read_text())["counts"]["passed"] > 150
    assert all(printed.values())
