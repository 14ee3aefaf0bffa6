"""How many full login flows per second the simulator serves, and the latency of each step.

A flow is what a first login costs the provider: authorize (login page) → authenticate (CPS
card; the 302 carries the code) → token (code + PKCE, client_secret_basic) → userinfo, each flow
with a fresh cookie jar and fresh PKCE/state/nonce — the `first-login` journey of
load/locustfile.py, driven by Locust FastHttpUser from this process while the simulator runs in
its own, both on this machine, as in the reference figures (panva's oidc-provider: ~550 such
flows/s on 2 cores; floor 400).

    python benchmarks/simulator_capacity.py [--users 20] [--seconds 15] [--tls]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Locust patches the standard library for gevent when imported: before any thread starts.
import gevent
from locust import events
from locust.env import Environment

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "targets" / "simulator.toml"
STEPS = ("authorize", "authenticate", "token", "userinfo")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--tls", action="store_true", help="HTTPS (default: plain HTTP)")
    args = ap.parse_args()

    from psc_testkit.simulator.process import SimulatorProcess

    with SimulatorProcess(tls=args.tls, config=PROFILE) as sim:
        os.environ["PSC_LOAD"] = json.dumps(
            {
                "profile": str(PROFILE),
                "think": 0,
                "weights": {"first-login": 1},
                "runtime": sim.runtime(),
            }
        )
        sys.path.insert(0, str(ROOT / "load"))
        import locustfile  # the scenarios, with the options above

        # The locustfile's listeners (exact samples) hang on Locust's global events.
        env = Environment(user_classes=[locustfile.FirstLogin], host=sim.origin, events=events)
        runner = env.create_local_runner()
        runner.start(args.users, spawn_rate=args.users)
        gevent.sleep(args.warmup)
        results = locustfile.RESULTS
        results.steps.clear()
        results.flows.clear()
        started = time.perf_counter()
        gevent.sleep(args.seconds)
        elapsed = time.perf_counter() - started
        steps = {name: results.steps[name].stats() for name in STEPS if name in results.steps}
        flow = results.flows["first-login"].stats()
        runner.quit()

    print(
        f"simulator capacity: {args.users} Locust users (FastHttpUser), {elapsed:.1f} s, "
        f"{'HTTPS' if args.tls else 'HTTP'}"
    )
    print(
        f"flows/s: {(flow['count'] - flow['failures']) / elapsed:.0f}   "
        f"(completed {flow['count'] - flow['failures']}, failed {flow['failures']})"
    )
    print(f"{'step':<14}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'count':>9}")
    for name, s in [*steps.items(), ("flow", flow)]:
        print(
            f"{name:<14}{s['p50'] or 0:>9.2f}{s['p95'] or 0:>9.2f}{s['p99'] or 0:>9.2f}"
            f"{s['count']:>9}"
        )


if __name__ == "__main__":
    main()
