"""A short load run against a certified provider (panva's oidc-provider on loopback): the
journeys behave as real clients (the browser's cookies never reach the back channel, which
this provider would refuse), every failure would be attributed, and the run completes with
no tool failure and an availability of at least 99.9 %."""

import json
from pathlib import Path

import pytest

from psc_testkit import interop
from tests.cli import psc_testkit

JOURNEYS = ("first-login", "returning", "refresh", "userinfo-poll", "probe")
STEPS = ("authorize", "authenticate", "token", "userinfo", "refresh", "introspection")


@pytest.fixture(scope="module")
def provider():
    with interop.OidcProviderProcess() as running:
        yield running


def test_a_short_load_run_against_oidc_provider_holds(provider, tmp_path: Path) -> None:
    result = psc_testkit(
        "load",
        "--target",
        str(provider.profile),
        "--users",
        "8",
        "--run-time",
        "6s",
        "--think",
        "0.2",
        "--refresh",
        "--weights",
        "first-login=3,returning=2,refresh=1,userinfo-poll=1,ciba=0",
        "--slo",
        "first-login:p95<5s",
        "--reports",
        str(tmp_path),
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failures_by_class"]["tool"] == 0
    assert summary["availability"]["ratio"] >= 0.999, summary["availability"]
    for name in JOURNEYS:
        row = summary["flows"][name]
        assert row["count"] > 0 and row["p50"] is not None and row["p99"] is not None, name
    for name in STEPS:
        row = summary["steps"][name]
        assert row["count"] > 0 and row["p95"] is not None, name
    assert summary["throughput"]["flows_per_s"] > 1
    assert "pre-flight: login ok" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("verdict: INCONCLUSIVE")
