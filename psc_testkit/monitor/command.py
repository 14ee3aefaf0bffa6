"""`psc-testkit monitor` (probe a provider once per interval, until stopped, into a store) and
`psc-testkit monitor report` (what the store says)."""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import signal
import sqlite3
import sys
import threading
import time
import tomllib
from pathlib import Path

from psc_testkit.monitor import probe as probes
from psc_testkit.monitor.store import Store, StoreError, default_path

PREFIX = "psc-testkit monitor"
DEFAULT_PROFILE = Path("targets/simulator.toml")
JITTER = 0.10  # each interval drawn in ±10 %: monitors started together do not probe in step
STEPS = ("discovery", "jwks", "token", "authorize", "userinfo", "refresh")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

DESCRIPTION = (
    "Probe a provider once per interval (±10 % jitter) until stopped (SIGINT, SIGTERM) or for "
    "--for, writing every result to a SQLite store as it ends: a restarted monitor resumes the "
    "series, and the time it was not running is recorded as unobserved. Levels: safe (what "
    "`profile check` does without a login: discovery, JWKS, the token endpoint answering "
    "invalid_grant to a made-up code, an authorization request answered; the only level on a "
    "safe profile) and login (a full first login through the profile's unattended driver, "
    "UserInfo, optionally a refresh); the default is login when the profile allows it. Each "
    "failed step is the provider's, the protocol's or psc-testkit's own (tool: recorded, never "
    "downtime). `psc-testkit monitor report` judges the series. Exit 0 stopped as asked, 2 "
    "usage or profile error, 3 target or prerequisite broken (the simulator did not start, the "
    "login budget is spent)."
)
REPORT_DESCRIPTION = (
    "Judge a monitor's series: uptime per day, ISO week and month and over the window (up "
    "probes / judged probes with its exact Clopper-Pearson 95 % interval, and time-weighted), "
    "the verdict against the availability target (MET, BREACHED, NOT YET PROVABLE with the "
    "consecutive up probes still needed), downtime episodes, MTTR, unobserved time, latency "
    "percentiles per step per day; written as JSON and a self-contained HTML page. Exit 0 MET, "
    "1 BREACHED, 4 NOT YET PROVABLE, 2 usage (no store, not a store)."
)


class Usage(Exception):
    """One line, exit 2."""


def duration(text: str, what: str) -> float:
    text = str(text).strip()
    try:
        value = float(text[:-1]) * UNITS[text[-1]] if text[-1:] in UNITS else float(text)
    except (ValueError, IndexError):
        raise Usage(f"cannot read {what} {text!r}: e.g. 30s, 10m, 2h, 30d") from None
    if not math.isfinite(value) or value <= 0:
        raise Usage(f"{what} must be a positive duration, not {text!r}")
    return value


def address(text: str, allow_remote: bool) -> tuple[str, int]:
    from psc_testkit.load.run import is_loopback

    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise Usage(f"cannot read --metrics {text!r}: HOST:PORT, e.g. 127.0.0.1:9464")
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address, bracketed in a URL
    if not allow_remote and not is_loopback(f"http://{shown}:{port}"):
        raise Usage(
            f"--metrics {text}: not a loopback address; metrics name the target and its "
            "failures: pass --allow-remote to serve them beyond this machine"
        )
    return host, int(port)


def availability_target(path: Path) -> float:
    """The profile's availability SLO ([load] slos, as load reads it), else PSC's 99.893 %."""
    from psc_testkit.load import slo

    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("load", {})
    except (OSError, tomllib.TOMLDecodeError):
        return slo.DEFAULT_AVAILABILITY
    for text in table.get("slos", []) if isinstance(table, dict) else []:
        try:
            parsed = slo.parse(str(text))
        except slo.SloError:
            continue
        if parsed.metric == "availability":
            return parsed.value
    return slo.DEFAULT_AVAILABILITY


# The monitor ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except Usage as exc:
        print(f"{PREFIX}: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from psc_testkit.client.config import ProfileError, load_target

    path = Path(args.target)
    every = duration(args.every, "--every")
    if every < 1:
        raise Usage("--every is at least 1s")
    bound = duration(args.for_, "--for") if args.for_ else None
    metrics_at = address(args.metrics, args.allow_remote) if args.metrics else None
    try:
        first = load_target(path, discovery_url="-", require_secrets=False)
    except ProfileError as exc:
        raise Usage(str(exc)) from None
    level = args.level or probes.default_level(first)
    if (problem := probes.level_problem(first, level)) is not None:
        raise Usage(problem)
    store_path = Path(args.store) if args.store else default_path(first.name)
    try:
        store = Store(store_path)
        store.claim(first.name, availability_target(path))
    except StoreError as exc:
        raise Usage(str(exc)) from None

    sim = None
    try:
        if first.simulator:
            from psc_testkit.simulator.process import SimulatorProcess, SimulatorStartError

            try:
                sim = SimulatorProcess(config=path).start()
            except SimulatorStartError as exc:
                print(f"{PREFIX}: the simulator did not start: {exc}", file=sys.stderr)
                return 3
            print(f"{PREFIX}: simulator started for this profile: {sim.issuer}", flush=True)
        try:
            runtime = sim.runtime() if sim else {}
            target = load_target(path, require_secrets=level == probes.LOGIN, **runtime)
        except ProfileError as exc:
            raise Usage(str(exc)) from None
        return Monitor(args, target, level, every, bound, store, metrics_at).loop()
    finally:
        store.close()
        if sim is not None:
            sim.stop()


class Monitor:
    def __init__(self, args, target, level, every, bound, store, metrics_at) -> None:
        self.target = target
        self.level = level
        self.every = every
        self.bound = bound
        self.store = store
        self.metrics_at = metrics_at
        self.prober = probes.Prober(target, level, refresh=args.refresh)
        self.stop = threading.Event()
        self.why = "asked"
        self.counts = {"up": 0, "down": 0, "tool": 0}

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stop.is_set():  # a second one: do not wait for the probe in progress
            raise KeyboardInterrupt
        self.why = signal.Signals(signum).name
        self.stop.set()

    def loop(self) -> int:
        from psc_testkit import __version__

        metrics = None
        if self.metrics_at is not None:
            from psc_testkit.monitor.metrics import Metrics

            metrics = Metrics(self.target.name, STEPS)
            metrics.interval.labels(self.target.name).set(self.every)
            try:
                metrics.serve(*self.metrics_at)
            except OSError as exc:
                raise Usage(
                    f"--metrics {self.metrics_at[0]}:{self.metrics_at[1]}: {exc.strerror or exc}"
                ) from None
            metrics.refresh(self.store)
        before = sum(self.store.counts_since(0).values())
        session = self.store.begin(self.every, self.level, __version__)
        where = (
            f", metrics http://{self.metrics_at[0]}:{self.metrics_at[1]}/metrics"
            if self.metrics_at
            else ""
        )
        resumes = f"resumes a series of {before} probes" if before else "a new series"
        print(
            f"{PREFIX}: {self.target.name}, level {self.level}, every {self.every:g} s ±10 %, "
            f"store {self.store.path} (session {session}: {resumes}){where}",
            flush=True,
        )
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        deadline = time.monotonic() + self.bound if self.bound else math.inf
        code = 0
        try:
            while not self.stop.is_set() and time.monotonic() < deadline - 0.05:
                began = time.monotonic()
                try:
                    result = self.prober.probe(self.every)
                except probes.StopMonitor as exc:
                    # No more logins (the account would be locked); availability is still
                    # watched, at the level that logs nobody in.
                    print(f"{PREFIX}: {exc}; probing at the safe level from now on", flush=True)
                    self.prober.level = self.level = probes.SAFE
                    continue
                self.store.add(result)
                self.counts[result.outcome] += 1
                if metrics is not None:
                    metrics.observe(result, self.store)
                print(self._line(result), flush=True)
                pause = self.every * (1 + random.uniform(-JITTER, JITTER))
                wait = min(began + pause, deadline) - time.monotonic()
                if wait > 0:
                    self.stop.wait(wait)
            if not self.stop.is_set():
                self.why = f"--for {self.bound:g} s elapsed"
        except sqlite3.Error as exc:
            print(f"{PREFIX}: the store cannot be written: {exc}", file=sys.stderr)
            self.why, code = f"store error: {exc}", 3
        except KeyboardInterrupt:
            self.why = "interrupted twice (the probe in progress is not stored)"
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            with contextlib.suppress(sqlite3.Error):
                self.store.end(self.why)
            if metrics is not None:
                metrics.close()
        c = self.counts
        total = sum(c.values())
        print(
            f"{PREFIX}: stopped ({self.why}): {total} probe(s) stored in {self.store.path} this "
            f"session ({c['up']} up, {c['down']} down, {c['tool']} tool); the series holds "
            f"{before + total}. Judge it: psc-testkit monitor report --store {self.store.path}",
            flush=True,
        )
        return code

    @staticmethod
    def _line(result) -> str:
        from psc_testkit.monitor.report import iso

        total = sum(s.ms for s in result.steps)
        if result.outcome == "up":
            return f"{iso(result.started)} up {total:.0f} ms"
        return (
            f"{iso(result.started)} {result.outcome} {result.first_step}: {result.error} "
            f"({result.kind})"
        )


# The report ----------------------------------------------------------------------------------


def report(args: argparse.Namespace) -> int:
    from psc_testkit.monitor import report as reports

    try:
        if args.store:
            store_path = Path(args.store)
        else:
            from psc_testkit.client.config import ProfileError, load_target

            try:
                name = load_target(Path(args.target), discovery_url="-", require_secrets=False).name
            except ProfileError as exc:
                raise Usage(str(exc)) from None
            store_path = default_path(name)
        since = None
        if args.since and args.since != "all":
            since = time.time() - duration(args.since, "--since")
        try:
            store = Store(store_path, create=False)
        except StoreError as exc:
            raise Usage(str(exc)) from None
    except Usage as exc:
        print(f"{PREFIX} report: {exc}", file=sys.stderr)
        return 2
    try:
        document = reports.build(store, since)
        folder = Path(args.reports) if args.reports else store_path.parent
        data, page = reports.write(document, folder, store_path.stem)
    except sqlite3.Error as exc:
        print(f"{PREFIX} report: {store_path}: not a usable monitor store ({exc})", file=sys.stderr)
        return 2
    except OSError as exc:
        where = exc.filename or folder
        print(f"{PREFIX} report: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    for line in reports.terminal(document):
        print(line)
    print(f"written: {data} and {page}")
    return document["exit_code"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    monitor = commands.add_parser(
        "monitor",
        help="probe a provider every interval for weeks into a store; `monitor report` judges",
        description=DESCRIPTION,
    )
    monitor.add_argument(
        "--target",
        default=str(DEFAULT_PROFILE),
        metavar="FILE",
        help=f"target profile (default {DEFAULT_PROFILE}: the embedded simulator, started "
        "for the monitor's life)",
    )
    monitor.add_argument(
        "--every", default="60s", metavar="DURATION", help="interval between probes (60s)"
    )
    monitor.add_argument(
        "--store",
        default=None,
        metavar="FILE",
        help="the series' SQLite file (default reports/monitor/<target name>.sqlite)",
    )
    monitor.add_argument(
        "--metrics",
        default=None,
        metavar="HOST:PORT",
        help="serve Prometheus /metrics there, e.g. 127.0.0.1:9464 (loopback only unless "
        "--allow-remote)",
    )
    monitor.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --metrics on an address outside loopback",
    )
    monitor.add_argument(
        "--level",
        choices=probes.LEVELS,
        default=None,
        help="safe (no login) or login (a full first login); default: login when the profile "
        "is not safe and its driver logs in unattended, else safe",
    )
    monitor.add_argument(
        "--refresh", action="store_true", help="login level: also refresh the tokens"
    )
    monitor.add_argument(
        "--for",
        dest="for_",
        default=None,
        metavar="DURATION",
        help="stop after this long (tests, demos); default: until SIGINT or SIGTERM",
    )
    monitor.set_defaults(func=run)
    sub = monitor.add_subparsers(
        dest="monitor_command",
        required=False,
        metavar="COMMAND",
        title="commands",
        help="`report`: judge the stored series",
    )
    rep = sub.add_parser(
        "report",
        help="uptime, verdict against the target, episodes, MTTR: JSON, HTML and a summary",
        description=REPORT_DESCRIPTION,
    )
    # SUPPRESS: `monitor --store X report` keeps X (a sub-parser's default would replace it).
    rep.add_argument(
        "--store",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="the series' SQLite file (default: the --target profile's)",
    )
    rep.add_argument(
        "--target",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="the profile whose default store to read when --store is not given",
    )
    rep.add_argument(
        "--since",
        default="30d",
        metavar="DURATION",
        help="the window: the last 30d (default), 7d, 24h…, or all",
    )
    rep.add_argument(
        "--reports",
        default=None,
        metavar="DIR",
        help="where to write <store>.report.json and .html (default: beside the store)",
    )
    rep.set_defaults(func=report)
