"""The uptime monitor for real: `python -m psc_testkit monitor` probing a simulator of this module
every second while an outage of a known span is injected, stopped with SIGINT and restarted on
the same store; /metrics scraped and parsed; `monitor report` judging the series. Also the
simulator's outage switch and the refusals (a login on a safe profile, metrics off loopback)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from psc_testkit.monitor import store as monitor_store
from tests.cli import psc_testkit
from tests.conftest import PROFILE, ROOT

OUTAGE = 8.0
INTERVAL = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def context(own_simulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=own_simulator.ca)


@pytest.fixture(scope="module")
def profile(own_simulator, context, tmp_path_factory) -> Path:
    """The simulator's profile pointed at this module's simulator, with three test users."""
    listed = httpx.get(f"{own_simulator.origin}/_simulator/users?limit=3", verify=context).json()
    users = ", ".join(f'"{u["idNat"]}"' for u in listed["users"])
    text = PROFILE.read_text().replace(
        "simulator = true",
        f'discovery_url = "{own_simulator.runtime()["discovery_url"]}"\n'
        f'ca_file = "{own_simulator.ca}"',
    )
    text = text.replace('name = "simulator"          #', f'users = [{users}]\nname = "simulator" #')
    path = tmp_path_factory.mktemp("monitor") / "sim.toml"
    path.write_text(text.replace("{state}", str(own_simulator.state_dir)))
    return path


def outage(sim, context, seconds: float) -> httpx.Response:
    return httpx.post(
        f"{sim.origin}/_simulator/outage", json={"seconds": seconds, "mode": "503"}, verify=context
    )


def test_the_outage_switch_answers_503_on_both_hosts_but_not_on_the_control_api(
    own_simulator, context
):
    discovery = own_simulator.runtime()["discovery_url"]
    assert httpx.get(discovery, verify=context).status_code == 200
    started = outage(own_simulator, context, 1.5)
    assert started.status_code == 200 and 1.0 < started.json()["seconds"] <= 1.5
    down = httpx.get(discovery, verify=context)
    assert down.status_code == 503 and down.json()["error"] == "temporarily_unavailable"
    assert 1 <= int(down.headers["retry-after"]) <= 2
    assert httpx.get(f"{own_simulator.wallet}/auth", verify=context).status_code == 503
    users = httpx.get(f"{own_simulator.origin}/_simulator/users?limit=1", verify=context)
    assert users.status_code == 200  # the control API keeps answering
    time.sleep(1.7)
    assert httpx.get(discovery, verify=context).status_code == 200  # over by itself
    outage(own_simulator, context, 60)
    assert outage(own_simulator, context, 0).json()["seconds"] == 0  # 0 ends it
    assert httpx.get(discovery, verify=context).status_code == 200
    for bad in ({"seconds": -1}, {"seconds": "5"}, {"seconds": 5, "mode": "reset"}, {}):
        answer = httpx.post(f"{own_simulator.origin}/_simulator/outage", json=bad, verify=context)
        assert answer.status_code == 400, bad


def start_monitor(profile: Path, store: Path, log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "psc_testkit",
            "monitor",
            "--target",
            str(profile),
            "--every",
            f"{INTERVAL:g}s",
            "--store",
            str(store),
            *extra,
        ],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def probes(store: Path) -> list[tuple]:
    if not store.exists():
        return []
    db = sqlite3.connect(str(store))
    try:
        return db.execute(
            "SELECT started, outcome, first_step, kind, error, session FROM probes ORDER BY started"
        ).fetchall()
    except sqlite3.OperationalError:  # the monitor has not made its tables yet
        return []
    finally:
        db.close()


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Scraped(dict):
    def __call__(self, name: str, **labels: str) -> float:
        return self[(name, tuple(sorted({"target": "simulator", **labels}.items())))]


def scrape(port: int) -> Scraped:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return Scraped(
        ((s.name, tuple(sorted(s.labels.items()))), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    )


@pytest.mark.timeout(300)
def test_a_monitor_run_with_an_outage_and_a_restart(own_simulator, context, profile, tmp_path):
    store = tmp_path / "series.sqlite"
    port = free_port()
    first = start_monitor(profile, store, tmp_path / "a.log", "--metrics", f"127.0.0.1:{port}")
    try:
        wait_for(lambda: len(probes(store)) >= 5, 60, "five probes")
        before = scrape(port)
        assert before("psc_monitor_probes_total", outcome="up") >= 5
        assert before("psc_monitor_probes_total", outcome="down") == 0
        assert before("psc_monitor_availability_ratio", window="1h") == 1.0
        assert before("psc_monitor_step_results_total", step="authorize", result="ok") >= 5
        assert before("psc_monitor_step_duration_seconds_count", step="userinfo") >= 5

        began = time.time()
        assert outage(own_simulator, context, OUTAGE).status_code == 200
        over = began + OUTAGE
        wait_for(lambda: time.time() > over + 4, 30, "the outage's end and four probes")
        wait_for(lambda: probes(store)[-1][1] == "up", 10, "an up probe after the outage")
        during = scrape(port)
        down = during("psc_monitor_probes_total", outcome="down")
        assert down >= OUTAGE / INTERVAL * 0.8
        assert during("psc_monitor_availability_ratio", window="1h") < 1
        assert during("psc_monitor_step_results_total", step="discovery", result="provider") == down
        assert during("psc_monitor_up") == 1.0

        first.send_signal(signal.SIGINT)
        assert first.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
    said = (tmp_path / "a.log").read_text()
    assert "stopped (SIGINT)" in said and f"stored in {store}" in said, said[-2000:]
    stopped = time.time()

    time.sleep(4)
    second = start_monitor(profile, store, tmp_path / "b.log", "--for", "6s")
    assert second.wait(60) == 0, (tmp_path / "b.log").read_text()[-2000:]
    assert "resumes a series of" in (tmp_path / "b.log").read_text()

    rows = probes(store)
    sessions = list(dict.fromkeys(r[5] for r in rows))
    assert len(sessions) == 2
    down_rows = [r for r in rows if r[1] == "down"]
    # The provider's fault, each saying 503; a probe the outage's start or end caught midway
    # failed at a later step, every other one at the first.
    assert {r[3] for r in down_rows} == {"provider"}
    assert all("503" in r[4] and r[4] != r[2] for r in down_rows), down_rows
    assert {r[2] for r in down_rows[1:-1]} == {"discovery"}
    assert not [r for r in rows if r[1] == "tool"]
    # The episode's boundaries: the first probe after the outage began, the first after it
    # ended, each within one interval (plus its jitter).
    slack = INTERVAL * 1.1 + 0.5
    first_down, last_down = down_rows[0][0], down_rows[-1][0]
    assert began <= first_down <= began + slack
    assert over - slack <= last_down <= over
    assert all(r[1] == "down" for r in rows if first_down <= r[0] <= last_down)

    # The report: the series with its gap between the sessions.
    reports = tmp_path / "reports"
    result = psc_testkit(
        "monitor", "report", "--store", str(store), "--since", "all", "--reports", str(reports)
    )
    assert result.returncode == 1, result.stdout + result.stderr  # 8 s down of ~30: BREACHED
    document = json.loads((reports / "series.report.json").read_text())
    whole = document["overall"]
    up = sum(r[1] == "up" for r in rows)
    assert (whole["up"], whole["down"], whole["judged"]) == (up, len(down_rows), len(rows))
    assert whole["uptime"] == pytest.approx(up / len(rows))
    (episode,) = document["episodes"]
    assert episode["start_epoch"] == first_down and episode["ends"] == "recovered"
    assert over <= episode["end_epoch"] <= over + slack
    assert OUTAGE - slack <= episode["duration_s"] <= OUTAGE + slack
    assert episode["first_step"] == down_rows[0][2] and "503" in episode["error"]
    assert document["mttr_s"] == episode["duration_s"]
    (gap,) = document["unobserved"]
    # It starts where the last probe's interval ends: within one interval of the stop.
    assert abs(gap["start_epoch"] - stopped) <= slack
    assert gap["end_epoch"] == next(r[0] for r in rows if r[5] == sessions[1])
    # The pause, less the part of it the last probe's interval still covers (up to one
    # interval and its jitter), plus the second monitor's start.
    assert 4 - slack <= gap["seconds"] <= 4 + 15
    db = sqlite3.connect(str(store))
    assert db.execute("SELECT COUNT(*) FROM unobserved").fetchone()[0] == 1
    db.close()
    assert set(document["latency_ms"][next(iter(document["latency_ms"]))]) == {
        "discovery",
        "jwks",
        "authorize",
        "token",
        "userinfo",
    }
    page = (reports / "series.report.html").read_text()
    assert 'id="verdict">BREACHED' in page and 'id="episodes"' in page and "<svg" in page
    assert "uptime:" in result.stdout and "1 episode(s)" in result.stdout

    # Nothing secret or personal in the store: no secret, code or token the simulator issued,
    # no test user.
    issued = httpx.get(f"{own_simulator.origin}/_simulator/issued", verify=context).json()
    dumped = "\n".join(monitor_store.dump(store))
    values = [
        *issued["client_secrets"],
        *issued["codes"],
        *issued["access_tokens"],
        *issued["refresh_tokens"],
        *(u["idNat"] for u in issued["users"]),
    ]
    assert len(values) > 10
    assert not [v for v in values if v in dumped]


def test_a_login_probe_on_a_safe_profile_is_refused_with_one_line(tmp_path):
    result = psc_testkit(
        "monitor",
        "--target",
        "targets/psc-prod.toml",
        "--level",
        "login",
        "--for",
        "1s",
        "--store",
        str(tmp_path / "s.sqlite"),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "safe profile" in result.stderr
    assert not (tmp_path / "s.sqlite").exists()


def test_metrics_off_loopback_need_allow_remote(tmp_path):
    result = psc_testkit(
        "monitor",
        "--metrics",
        "0.0.0.0:9464",
        "--for",
        "1s",
        "--store",
        str(tmp_path / "s.sqlite"),
        timeout=60,
    )
    assert result.returncode == 2 and "--allow-remote" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_report_without_a_store_is_a_usage_error(tmp_path):
    result = psc_testkit("monitor", "report", "--store", str(tmp_path / "none.sqlite"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_the_alert_rules_are_multi_window_multi_burn_rate_for_the_target():
    rules = yaml.safe_load((ROOT / "monitor" / "alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    recorded = {r["record"]: r for g in rules["groups"] for r in g["rules"] if "record" in r}
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"psc_monitor:error_ratio:rate{window}" in recorded
    budget = 1 - 0.99893
    expected = {  # severity, long and short windows, burn rate (SRE workbook, table 5-8)
        "PSCAvailabilityFastBurn": ("page", "1h", "5m", 14.4),
        "PSCAvailabilitySlowBurn": ("page", "6h", "30m", 6),
        "PSCAvailabilityBudgetBurn": ("ticket", "1d", "2h", 3),
        "PSCAvailabilityBudgetDrift": ("ticket", "3d", "6h", 1),
    }
    for name, (severity, long, short, rate) in expected.items():
        rule = alerts[name]
        assert rule["labels"]["severity"] == severity
        expr = " ".join(rule["expr"].split())
        threshold = f"{rate * budget:.6f}".rstrip("0")
        assert f"psc_monitor:error_ratio:rate{long} > {threshold}" in expr, expr
        assert f"psc_monitor:error_ratio:rate{short} > {threshold}" in expr, expr
        assert rule["annotations"]["summary"]
    dashboard = json.loads((ROOT / "monitor" / "grafana-dashboard.json").read_text())
    variables = dashboard["templating"]["list"]
    assert any(v["type"] == "datasource" and v["query"] == "prometheus" for v in variables)
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
