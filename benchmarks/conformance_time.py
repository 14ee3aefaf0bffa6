"""Wall time of a whole conformance run against the embedded simulator (target: ≤ 20 s).

Runs `psc-testkit conformance` as a user does — simulator start, every check, reports — a few
times, and prints the wall time of each run with the counts from summary.json.

    python benchmarks/conformance_time.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    walls = []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as reports:
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "psc_testkit", "conformance", "--reports", reports],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - started
            summary = json.loads((Path(reports) / "summary.json").read_text())
        walls.append(wall)
        counts = ", ".join(f"{n} {v}" for v, n in sorted(summary["counts"].items()))
        print(
            f"run {run}: {wall:5.2f} s wall, exit {result.returncode}, {len(summary['checks'])} "
            f"checks ({counts}), {len(summary['requirements'])} requirements"
        )
    print(f"median wall time: {statistics.median(walls):.2f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
