"""Redaction audit: after a conformance run, a load run and `psc-testkit report` against one
simulator, no file under the reports folder holds a client secret, an issued code, token or
session cookie, or a logged-in professional's identifier or name."""

import json
import re
import ssl
from pathlib import Path

import httpx
import pytest

from psc_testkit.simulator.process import SimulatorProcess
from tests.cli import psc_testkit
from tests.conftest import PROFILE

ROOT = Path(__file__).resolve().parent.parent


run = psc_testkit


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    with SimulatorProcess(tls=True, config=PROFILE) as sim:
        context = ssl.create_default_context(cafile=sim.ca)
        listed = httpx.get(f"{sim.origin}/_simulator/users?limit=40", verify=context).json()
        users = ", ".join(f'"{u["idNat"]}"' for u in listed["users"])
        profile = reports.parent / "audit.toml"
        profile.write_text(f'''
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
client_secret = "sim-basic-6f1d2c9a4e"
redirect_uri = "http://127.0.0.1:8080/callback"
post_logout_redirect_uri = "http://127.0.0.1:8080/logged-out"
ciba = true
[[clients]]
client_id = "psc-testkit-post"
auth_method = "client_secret_post"
client_secret = "sim-post-83b7e0f215"
redirect_uri = "http://127.0.0.1:8080/callback"
''')
        conformance = run("conformance", "--target", str(profile), "--reports", str(reports))
        assert conformance.returncode == 0, conformance.stdout[-3000:]
        load = run(
            "load",
            "--target",
            str(profile),
            "--run-time",
            "6s",
            "--users",
            "8",
            "--think",
            "0.3",
            "--reports",
            str(reports / "load"),
        )
        assert load.returncode == 0, load.stdout[-3000:] + load.stderr[-2000:]
        issued = httpx.get(f"{sim.origin}/_simulator/issued", verify=context).json()
    report = run("report", "--reports", str(reports))
    assert report.returncode == 0, report.stdout + report.stderr
    return reports, issued


def secrets_of(issued: dict) -> dict[str, str]:
    found = {}
    for kind in (
        "codes",
        "access_tokens",
        "refresh_tokens",
        "session_cookies",
        "client_secrets",
        "transactions",
    ):
        found.update({value: kind for value in issued[kind]})
    for user in issued["users"]:
        found[user["idNat"]] = "idNat"
        found[f"{user['given_name']} {user['family_name']}"] = "name"
        found[user["family_name"]] = "family name"
    return found


def test_reports_hold_no_secret_and_no_personal_data(audited):
    reports, issued = audited
    assert issued["access_tokens"] and issued["codes"] and issued["users"]
    sensitive = secrets_of(issued)
    names = {v for v, kind in sensitive.items() if kind == "family name"}
    exact = {v: k for v, k in sensitive.items() if k != "family name"}
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert len(files) > 50  # summary, junit, allure results and report, locust csv/html
    hits = []
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        hits += [
            (str(path.relative_to(reports)), kind) for value, kind in exact.items() if value in text
        ]
        # Family names as whole words only: "ROUX" must not match inside another word.
        hits += [
            (str(path.relative_to(reports)), "family name " + name)
            for name in names
            if re.search(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", text)
        ]
    assert not hits, hits[:20]


def test_the_audit_covers_every_report(audited):
    reports, _ = audited
    for name in (
        "summary.json",
        "junit.xml",
        "summary.html",
        "allure-results",
        "allure-report/index.html",
        "load/summary.json",
        "load/locust.html",
    ):
        assert (reports / name).exists(), name
    assert json.loads((reports / "summary.json").read_text())["counts"]["passed"] > 150
