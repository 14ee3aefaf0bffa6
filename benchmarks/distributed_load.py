"""Distributed load runs side by side: 1, 2 and 3 Locust workers, each in a network namespace
of its own ("hosts" on one machine, tests/netns.py), against the simulator in the master's,
and for a baseline one standalone Locust process (0 workers, no master) in the master's.

Each setup is one bounded `psc-testkit load --master-bind … --expect-workers N` run with N
`psc-testkit load --worker-of …` workers: the same total of users, no think time, first logins
only (plus the constant-rate availability probe), HTTPS. Figures from the master's summary.json.
Needs root (network namespaces); everything it starts is stopped, and the namespaces removed.

    sudo .venv/bin/python benchmarks/distributed_load.py [--seconds 15] [--setups 0,1,2,3]

Every process shares this machine's cores: the simulator, the master and the workers. On a
machine with fewer cores than workers + 2, more workers cannot drive more flows; what the table
shows then is the cost of distribution, not the scaling of the generator.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import netns  # noqa: E402
from tests.test_load_distributed import distributed_run  # noqa: E402

FIRST_LOGIN_ONLY = "first-login=1,returning=0,refresh=0,userinfo-poll=0,ciba=0"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15, help="run time of each setup")
    parser.add_argument("--users", type=int, default=30, help="users in all, spread over workers")
    parser.add_argument("--think", type=float, default=0.0)
    parser.add_argument(
        "--setups", default="0,1,2,3", help="worker counts (0: one Locust process, no master)"
    )
    args = parser.parse_args()
    reason = netns.unavailable()
    if reason:
        print(f"distributed_load: {reason}", file=sys.stderr)
        return 2
    counts = [int(n) for n in args.setups.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="psc-distributed-") as folder:
        for count in counts:
            run = distributed_run(
                count,
                Path(folder) / f"w{count}",
                run_time=args.seconds,
                users=args.users,
                think=args.think,
                weights=FIRST_LOGIN_ONLY,
            )
            if run.summary is None:
                print(f"{count} worker(s): no summary (exit {run.code})\n{run.tails}")
                return 1
            rows.append(run.figures())
            print(
                f"{count or 'no'} worker(s): done in {run.seconds:.0f} s (exit {run.code})",
                flush=True,
            )
    print(
        f"\ndistributed load: {args.users} users in all, think {args.think:g} s, first logins "
        f"only, {args.seconds} s per setup, HTTPS, {os.cpu_count()} cores shared by all\n"
    )
    header = (
        f"{'workers':>7} {'flows':>6} {'flows/s':>8} {'requests/s':>11} "
        f"{'first-login p50':>16} {'p95':>7} {'avail.':>7} {'flows per worker':<24} exit"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        split = "/".join(str(n) for n in sorted((row["by_worker"] or {}).values(), reverse=True))
        split = split or "(standalone)"
        print(
            f"{row['workers']:>7} {row['flows']:>6} {row['flows_per_s'] or 0:>8.1f} "
            f"{row['requests_per_s'] or 0:>11.1f} {_ms(row['first_login_p50_ms']):>16} "
            f"{_ms(row['first_login_p95_ms']):>7} {(row['availability'] or 0) * 100:>6.1f}% "
            f"{split:<24} {row['exit']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
