"""`psc-testkit load`: real headless Locust runs against the simulator on loopback, each
bounded to a few seconds."""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
LOAD = [sys.executable, "-m", "psc_testkit", "load"]
FIRST_LOGIN_ONLY = "first-login=1,returning=0,refresh=0,userinfo-poll=0,ciba=0"


def load(
    *args: str, reports: Path, timeout: float = 120, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "psc_testkit", "load", "--reports", str(reports), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def summary_of(reports: Path) -> dict:
    return json.loads((reports / "summary.json").read_text())


def processes_marked(mark: str) -> list[str]:
    """Every process whose environment carries `mark`: the launcher, Locust, the simulator."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                found.append(f"{entry.name} {(entry / 'cmdline').read_bytes()[:120]!r}")
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    reports = tmp_path_factory.mktemp("load")
    result = load("--run-time", "6s", "--users", "12", "--think", "0.5", reports=reports)
    return result, reports


def test_short_run_reports_steps_flows_time_series_and_availability(short_run):
    result, reports = short_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = summary_of(reports)
    assert {"first-login", "returning", "refresh", "userinfo-poll", "ciba", "probe"} <= set(
        summary["flows"]
    )
    assert {"authorize", "authenticate", "token", "userinfo"} <= set(summary["steps"])
    for row in (summary["flows"]["first-login"], summary["steps"]["token"]):
        assert row["count"] > 0 and row["failures"] == 0
        assert 0 < row["p50"] <= row["p95"] <= row["p99"]
    assert summary["failures_by_class"] == {"provider": 0, "protocol": 0, "tool": 0}
    availability = summary["availability"]
    assert availability["attempts"] > 0 and availability["ratio"] == 1.0
    assert availability["target"] == 0.99893
    # Too few flows to prove 99.893 %: INCONCLUSIVE, never a pass; exit 0 unless proof is asked.
    assert "too short to conclude" in availability["verdict"]
    assert summary["verdict"] == "INCONCLUSIVE" and not summary["passed"]
    assert not summary["interrupted"]
    assert {s["slo"]: s["verdict"] for s in summary["slos"]} == {
        "availability>=99.893%": "INCONCLUSIVE"
    }
    throughput = summary["throughput"]
    assert 0 < throughput["flows_per_s"] < throughput["requests_per_s"]
    points = summary["timeline"]["points"]
    assert summary["timeline"]["interval_s"] == 2.0 and len(points) >= 3
    assert sum(p["flows"] for p in points) == sum(f["count"] for f in summary["flows"].values())
    assert all(p["failures"] == {"provider": 0, "protocol": 0, "tool": 0} for p in points)
    stats = (reports / "locust_stats.csv").read_text()
    assert "FLOW,first-login" in stats and "99.9%" in stats.splitlines()[0]
    assert (reports / "locust.html").stat().st_size > 1000
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("pre-flight: profile targets/simulator.toml ok: simulator, ")
    assert lines[1].startswith("pre-flight: reachability ok (DNS, TCP, TLS, discovery, JWKS)")
    assert lines[2].startswith("pre-flight: login ok")
    assert any("flows/s  p95" in line and "availability" in line for line in lines)  # progress
    assert lines[-1].startswith("verdict: INCONCLUSIVE: availability>=99.893%: met, but too short")


def test_a_flaky_provider_breaches_and_is_blamed(tmp_path):
    result = load(
        "--run-time",
        "8s",
        "--users",
        "8",
        "--think",
        "0",
        "--weights",
        FIRST_LOGIN_ONLY,
        "--defect",
        "token-endpoint-flaky",
        "--slo",
        "first-login:p95<0.001ms",
        reports=tmp_path,
    )
    summary = summary_of(tmp_path)
    availability = summary["availability"]
    # The defect fails 1 % of token requests from a seeded generator, so which ones fail is
    # fixed: enough flows to reach its first failures, whatever the machine's load.
    assert availability["attempts"] > 150, availability
    assert 0.9 < availability["ratio"] < 0.99893
    assert availability["verdict"] == "BREACHED"
    verdicts = {s["slo"]: s["verdict"] for s in summary["slos"]}
    assert verdicts == {"first-login:p95<0.001ms": "FAIL", "availability>=99.893%": "FAIL"}
    assert result.returncode == 1 and summary["verdict"] == "BREACHED"
    flows = summary["flows"]["first-login"]
    assert any("token: HTTP 503" in reason for reason in flows["failure_reasons"])
    # A 5xx is the provider's: counted against it, not against the tool.
    assert flows["failures_by_class"]["provider"] == flows["failures"] > 0
    assert summary["failures_by_class"]["tool"] == 0
    assert result.stdout.strip().splitlines()[-1].startswith("verdict: BREACHED: breached: ")


def _long_run(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """A 60 s run in a process group of its own (as a shell makes one for a command), marked
    in its environment, which every process it starts inherits; once Locust runs."""
    mark = f"PSC_TEST_MARK_{uuid.uuid4().hex}"
    process = subprocess.Popen(
        [*LOAD, "--run-time", "60s", "--users", "3", "--reports", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, mark: "1"},
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_path / "locust_stats_history.csv").exists():
        time.sleep(0.5)
    return process, mark


def _interrupted_run(tmp_path: Path, signum: int, to_group: bool) -> tuple[int, str, dict]:
    process, mark = _long_run(tmp_path)
    time.sleep(2)  # some flows measured
    if to_group:
        os.killpg(process.pid, signum)  # Ctrl-C in a terminal: the whole group
    else:
        process.send_signal(signum)
    output, _ = process.communicate(timeout=90)
    time.sleep(0.5)
    assert processes_marked(mark) == [], "left running"
    return process.returncode, output, summary_of(tmp_path)


@pytest.mark.parametrize(
    ("signum", "to_group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c", "term"]
)
def test_an_interrupted_run_stops_in_order_and_says_inconclusive(tmp_path, signum, to_group):
    code, output, summary = _interrupted_run(tmp_path, signum, to_group)
    assert code == 4, output[-3000:]  # inconclusive: distinct from a breach (1)
    assert summary["interrupted"] == signal.Signals(signum).name
    assert summary["verdict"] == "INCONCLUSIVE"
    # Locust stopped before its target: the flows measured are the target's, all complete.
    assert summary["flows"]["first-login"]["count"] > 0
    assert summary["failures_by_class"] == {"provider": 0, "protocol": 0, "tool": 0}
    assert "Traceback" not in output
    assert output.strip().splitlines()[-1].startswith("verdict: INCONCLUSIVE: interrupted (")


def test_a_target_that_dies_mid_run_is_reported_as_such(tmp_path):
    process, mark = _long_run(tmp_path)
    time.sleep(2)
    simulator = [p for p in processes_marked(mark) if "psc_testkit.simulator" in p]
    assert len(simulator) == 1, processes_marked(mark)
    os.kill(int(simulator[0].split()[0]), signal.SIGKILL)
    output, _ = process.communicate(timeout=90)
    summary = summary_of(tmp_path)
    assert process.returncode == 4, output[-3000:]
    assert summary["verdict"] == "INVALID"
    assert "the embedded simulator exited (status -9)" in summary["target_exited"]
    assert processes_marked(mark) == []


def test_the_open_model_and_a_tool_failure_that_invalidates_the_run(tmp_path):
    """--arrival-rate offers new first logins at a fixed rate; our own code failing every 10th
    (PSC_LOAD_FAULT) makes the run INVALID, logged with its traceback, never blamed on the
    provider."""
    result = load(
        "--run-time",
        "4s",
        "--arrival-rate",
        "20",
        reports=tmp_path,
        env={"PSC_LOAD_FAULT": "tool:10"},
    )
    summary = summary_of(tmp_path)
    arrival = summary["flows"]["arrival"]
    assert summary["model"] == "open: 20 flows/s" and "first-login" not in summary["flows"]
    assert 50 <= arrival["count"] <= 90, arrival  # 20/s over 4 s, whatever the latency
    tool = summary["failures_by_class"]["tool"]
    assert tool > 0 and summary["failures_by_class"]["provider"] == 0
    # Flows failed by the tool are neither successes nor failures of the provider.
    availability = summary["availability"]
    assert availability["ratio"] == 1.0
    total = sum(row["count"] for row in summary["flows"].values())
    assert availability["attempts"] == total - tool
    assert result.returncode == 4 and summary["verdict"] == "INVALID"
    log = (tmp_path / "tool-failures.log").read_text()
    assert "Traceback" in log and "a fault injected by PSC_LOAD_FAULT" in log
    assert "Traceback" not in result.stdout + result.stderr
    assert "psc-testkit's own code" in result.stdout.strip().splitlines()[-1]


def test_find_max_raises_the_rate_and_prints_the_knee(tmp_path):
    result = load(
        "--find-max",
        "--arrival-rate",
        "5",
        "--find-max-steps",
        "2",
        "--run-time",
        "3s",
        reports=tmp_path,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = json.loads((tmp_path / "find-max.json").read_text())
    assert [level["offered_flows_per_s"] for level in found["levels"]] == [5.0, 10.0]
    assert all(level["outcome"] == "holds" for level in found["levels"])
    assert found["knee_flows_per_s"] == 10.0
    assert "knee: 10 flows/s" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("verdict: PASSED")


def test_a_provider_that_does_not_reissue_refresh_tokens_is_refreshed_with_the_one_held(tmp_path):
    """The quirk answers refreshes without a refresh_token (the old one stays valid, RFC 6749
    §6): the refresher keeps the one it holds instead of logging in again."""
    result = load(
        "--run-time",
        "4s",
        "--users",
        "3",
        "--think",
        "0.1",
        "--weights",
        "first-login=0,returning=0,refresh=1,userinfo-poll=0,ciba=0",
        "--quirk",
        "refresh-not-reissued",
        reports=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    flows = summary_of(tmp_path)["flows"]
    assert flows["refresh"]["failures"] == 0 and flows["first-login"]["failures"] == 0
    # Two refreshers (the third user is the probe): one login each, then refreshes only.
    assert flows["first-login"]["count"] == 2
    assert flows["refresh"]["count"] >= 10


def test_the_back_channel_never_carries_the_browsers_cookies(tmp_path):
    """The relying party's server (token, userinfo, introspection, refresh, CIBA) keeps no
    cookie: the simulator counts back-channel requests that carried one, and there are none,
    though every journey's browser holds an SSO cookie."""
    from psc_testkit.simulator.process import SimulatorProcess
    from tests.test_load_distributed import write_profile

    with SimulatorProcess(config=ROOT / "targets" / "simulator.toml") as sim:
        control = httpx.Client(verify=ssl.create_default_context(cafile=sim.ca), timeout=10)
        users = [
            u["idNat"]
            for u in control.get(f"{sim.origin}/_simulator/users?limit=40").json()["users"]
        ]
        env = write_profile(tmp_path / "running.toml", sim.issuer, sim.ca, users)
        result = load(
            "--target",
            str(tmp_path / "running.toml"),
            "--run-time",
            "4s",
            "--users",
            "8",
            "--think",
            "0.2",
            "--refresh",
            reports=tmp_path / "load",
            env=env,
        )
        traffic = control.get(f"{sim.origin}/_simulator/traffic").json()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    flows = summary_of(tmp_path / "load")["flows"]
    assert {"first-login", "returning", "refresh", "userinfo-poll"} <= set(flows)
    assert traffic["back_channel"] > 50, traffic
    assert traffic["back_channel_with_cookie"] == 0, traffic


def test_a_run_that_wrote_no_summary_is_not_judged_by_an_earlier_one(tmp_path):
    """An earlier run's summary in the folder (it passed) must not stand in for a run whose
    Locust died before writing one (here at import: a fault in our own options)."""
    (tmp_path / "summary.json").write_text('{"exit_code": 0, "verdict": "PASSED"}')
    result = load(
        "--run-time", "5s", "--users", "2", reports=tmp_path, env={"PSC_LOAD_FAULT": "tool:x"}
    )
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert "without writing this run's summary" in result.stderr
    assert not (tmp_path / "summary.json").exists()


def test_web_serves_locusts_ui_on_loopback_and_ctrl_c_ends_the_run_at_once(tmp_path):
    process = subprocess.Popen(
        [*LOAD, "--web", "--run-time", "60s", "--users", "2", "--reports", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = None
    for line in process.stdout:
        if line.startswith("Locust's web UI: "):
            url = line.split()[3]
            break
    assert url and url.startswith("http://127.0.0.1:")
    page = b""
    for _ in range(40):
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                page = response.read()
                break
        except OSError:
            time.sleep(0.25)
    assert b"Locust" in page
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_path / "locust_stats_history.csv").exists():
        time.sleep(0.5)
    time.sleep(3)
    os.killpg(process.pid, signal.SIGINT)
    started = time.monotonic()
    output, _ = process.communicate(timeout=60)
    assert time.monotonic() - started < 15, output[-2000:]
    summary = summary_of(tmp_path)
    assert process.returncode == 4 and summary["interrupted"] == "SIGINT"
    assert summary["duration_s"] < 20  # the measured window, not the process's life
    assert summary["flows"]["first-login"]["count"] > 0


def test_a_master_whose_workers_never_come_stops_on_ctrl_c(tmp_path):
    from psc_testkit.simulator.process import SimulatorProcess
    from tests.test_load_distributed import write_profile

    with SimulatorProcess(config=ROOT / "targets" / "simulator.toml") as sim:
        env = write_profile(tmp_path / "running.toml", sim.issuer, sim.ca, ["899700000005"])
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = [*LOAD, "--target", str(tmp_path / "running.toml"), "--run-time", "30s"]
        command += ["--master-bind", f"127.0.0.1:{port}", "--expect-workers", "1"]
        process = subprocess.Popen(
            [*command, "--no-preflight", "--reports", str(tmp_path / "load")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, **env},
        )
        time.sleep(5)  # waiting for its worker
        os.killpg(process.pid, signal.SIGINT)
        started = time.monotonic()
        output, _ = process.communicate(timeout=90)
    assert process.returncode == 4, output[-2000:]
    assert time.monotonic() - started < 20, output[-2000:]
    assert "Traceback" not in output


def test_the_journeys_follow_a_providers_redirect_hops(tmp_path):
    """A compliant provider that sends the browser through extra redirects inside itself."""
    result = load(
        "--run-time",
        "3s",
        "--users",
        "4",
        "--think",
        "0.2",
        "--weights",
        FIRST_LOGIN_ONLY,
        "--quirk",
        "redirect-hops",
        reports=tmp_path,
    )
    summary = summary_of(tmp_path)
    assert summary["failures_by_class"] == {"provider": 0, "protocol": 0, "tool": 0}, summary
    assert summary["flows"]["first-login"]["count"] > 5
    assert result.returncode == 0


def test_remote_target_needs_explicit_opt_in(tmp_path):
    profile = tmp_path / "psc-bas.toml"
    profile.write_text(
        '[target]\nname = "psc-bas"\ndiscovery_url = "https://auth.bas.psc.esante.gouv.fr/'
        'auth/realms/esante-wallet/.well-known/wallet-openid-configuration"\n'
        '[[clients]]\nclient_id = "x"\nauth_method = "client_secret_basic"\n'
        'client_secret = "s"\nredirect_uri = "https://rp.example/cb"\n'
    )
    result = load("--target", str(profile), reports=tmp_path, timeout=30)
    assert result.returncode == 2
    assert "not on this machine" in result.stderr and "--allow-remote" in result.stderr
    result = load("--target", str(profile), "--allow-remote", reports=tmp_path, timeout=30)
    assert result.returncode == 2 and "explicit --run-time" in result.stderr
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slo", "token:p95 < soon"], "cannot read SLO"),
        (["--slo", "tokn:p95<300ms"], "did you mean token?"),
        (["--slo", "first-logn:p95<1s"], "did you mean first-login?"),
        (["--slo", "logout:p95<1s"], "the step 'logout', which no journey of this run makes"),
        (["--weights", FIRST_LOGIN_ONLY, "--slo", "returning:p95<1s"], "does not run"),
        (["--weights", "first-login=1,refresher=1,polers=1"], "did you mean poller?"),
        (["--quirk", "refresh-not-reisued"], "did you mean refresh-not-reissued?"),
        (["--weights", "first-login=0,returning=0,refresh=0,userinfo-poll=0,ciba=0"], "nothing"),
    ],
)
def test_a_bad_name_is_refused_before_anything_starts(tmp_path, args, message):
    started = time.monotonic()
    result = load(*args, reports=tmp_path, timeout=30)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1  # one line
    assert time.monotonic() - started < 10  # no simulator, no Locust
    assert not (tmp_path / "summary.json").exists()
