"""How much load one Locust process generates with our scenarios, against its own ceiling.

In one run, against the embedded simulator on this machine (plain HTTP):
  1. the ceiling: requests/s one Locust process (FastHttpUser) gets from a trivial endpoint;
  2. full first-login flows/s the same process drives with load/locustfile.py's FirstLogin
     (authorize → authenticate → token → userinfo, fresh cookies and PKCE each time), and the
     request rate that represents — the ratio to the ceiling is what our scenario code costs;
  3. flows/s with `psc-testkit load --workers 2` (a master and two worker processes).

    python benchmarks/load_generator.py [--seconds 10] [--users 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Locust patches the standard library for gevent when imported: before any thread starts,
# such as the simulator launcher's reader thread.
import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "targets" / "simulator.toml"
ONLY_FIRST_LOGIN = "first-login=1,returning=0,refresher=0,poller=0,ciba=0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()

    from psc_testkit.simulator.process import SimulatorProcess

    with SimulatorProcess(tls=False, config=PROFILE) as sim:
        os.environ["PSC_LOAD"] = json.dumps(
            {
                "profile": str(PROFILE),
                "think": 0,
                "weights": {"first-login": 1},
                "runtime": sim.runtime(),
            }
        )
        ceiling = measure_trivial(sim.origin, args.users, args.seconds)
        flows, requests = measure_flows(sim.origin, args.users, args.seconds)
    workers = measure_workers(args.users * 2, args.seconds)

    print(f"load generator: one Locust process, {args.users} users, {args.seconds:.0f} s each")
    print(f"ceiling (trivial endpoint):     {ceiling:8.0f} requests/s")
    print(f"first-login flows:              {flows:8.0f} flows/s  ({requests:.0f} requests/s)")
    print(
        f"ratio to the ceiling:           {requests / ceiling:8.2f} (requests/s of flows vs "
        "trivial)"
    )
    print(f"with --workers 2 (master + 2):  {workers:8.0f} flows/s")


def run_env(user_class, host: str, users: int, seconds: float):
    env = Environment(user_classes=[user_class], host=host)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(2)  # warm up, then measure
    env.stats.reset_all()
    started = time.perf_counter()
    gevent.sleep(seconds)
    elapsed = time.perf_counter() - started
    stats = env.stats
    runner.quit()
    return stats, elapsed


def measure_trivial(origin: str, users: int, seconds: float) -> float:
    class Trivial(FastHttpUser):
        wait_time = constant(0)

        @task
        def hit(self) -> None:
            self.client.get("/_simulator/defects", name="trivial")

    stats, elapsed = run_env(Trivial, origin, users, seconds)
    return stats.total.num_requests / elapsed


def measure_flows(origin: str, users: int, seconds: float) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT / "load"))
    import locustfile

    stats, elapsed = run_env(locustfile.FirstLogin, origin, users, seconds)
    flows = stats.get("first-login", "FLOW").num_requests
    requests = stats.total.num_requests - flows
    return flows / elapsed, requests / elapsed


def measure_workers(users: int, seconds: float) -> float:
    with tempfile.TemporaryDirectory() as reports:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "psc_testkit",
                "load",
                "--workers",
                "2",
                "--users",
                str(users),
                "--think",
                "0",
                "--weights",
                ONLY_FIRST_LOGIN,
                "--run-time",
                f"{int(seconds)}s",
                "--reports",
                reports,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
        summary = json.loads((Path(reports) / "summary.json").read_text())
    return summary["flows"]["first-login"]["count"] / summary["duration_s"]


if __name__ == "__main__":
    main()
