"""`psc-testkit load`: check everything a run needs before sending any load, start the target
if it is the simulator, run Locust (alone, as a master with local or remote workers, or as a
worker of a remote master), bounded in time, and pass its verdict on as the exit code.

Interruptions never lie: Locust and the simulator run in process groups of their own, so a
Ctrl-C in the terminal reaches this launcher alone, which stops them in order: Locust first
(it writes what it measured, marked interrupted), the target after it. SIGTERM is handled as
Ctrl-C; every child also gets SIGTERM if the launcher dies (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import argparse
import contextlib
import io
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from psc_testkit.child import die_with_parent
from psc_testkit.client.config import ProfileError, Target, load_target
from psc_testkit.load import names, slo
from psc_testkit.load import results as res

LOCUSTFILE = Path(__file__).resolve().parents[2] / "load" / "locustfile.py"
DEFAULT_RUN_TIME = "30s"
PREFIX = "psc-testkit load"
WORKERS_WAIT = 300  # seconds a master waits for its workers to connect
# Reachability and login findings of the profile check that stop a run before any load.
BLOCKING = {"DNS", "TCP", "TLS", "discovery", "hosts", "driver", "login"}


class LoadError(Exception):
    """A load run that must not start; the message says why, `code` the exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def is_loopback(url: str) -> bool:
    """Only literal loopback addresses and localhost: no name is resolved, since DNS could
    point a harmless-looking name anywhere."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    text = str(text).strip()
    try:
        return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise LoadError(f"cannot read the run time {text!r}: e.g. 60s, 10m, 2h") from None


def _address(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LoadError(f"cannot read {what} {text!r}: HOST:PORT, e.g. 10.0.0.1:5557")
    return host, int(port)


def _weights(text: str) -> dict[str, int]:
    try:
        pairs = (pair.split("=") for pair in text.split(","))
        return {k.strip(): int(v) for k, v in pairs}
    except ValueError:
        raise LoadError(f"cannot read --weights {text!r}: name=int,…") from None


def _options(args: argparse.Namespace, profile: dict) -> dict:
    """Flags win over the profile's [load] table, which wins over the defaults."""
    table = profile.get("load", {})

    def pick(flag: object, key: str, default: object) -> object:
        return flag if flag is not None else table.get(key, default)

    try:
        weights = names.weights(
            _weights(args.weights) if args.weights else table.get("weights", {})
        )
    except names.UnknownName as exc:
        raise LoadError(str(exc)) from None
    slos = list(table.get("slos", [])) + args.slo
    if not any(s.replace(" ", "").startswith("availability") for s in slos):
        slos.append(f"availability>={slo.DEFAULT_AVAILABILITY * 100:.3f}%")
    for text in slos:
        try:
            slo.parse(text)
        except slo.SloError as exc:
            raise LoadError(str(exc)) from None
    run_time = pick(args.run_time, "run_time", None)

    def number(flag: object, key: str, default: float, low: float, strict: bool) -> float:
        value = pick(flag, key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise LoadError(f"{key} must be a number, not {value!r}")
        if value < low or (strict and value == low):
            raise LoadError(f"{key} must be {'above' if strict else 'at least'} {low:g}: {value!r}")
        return value

    options = {
        "users": int(number(args.users, "users", 10, 1, False)),
        "spawn_rate": float(number(args.spawn_rate, "spawn_rate", 10, 0, True)),
        "run_time_text": run_time,
        "shape": pick(args.shape, "shape", None),
        "slos": slos,
        "weights": weights,
        "think": float(number(args.think, "think", 1.0, 0, False)),
        "probe_rate": float(number(args.probe_rate, "probe_rate", 1.0, 0, True)),
        "arrival_rate": float(number(args.arrival_rate, "arrival_rate", 0, 0, False)),
        "refresh": bool(args.refresh or table.get("refresh", False)),
        "logout": bool(args.logout or table.get("logout", False)),
        "exclusive_accounts": bool(table.get("exclusive_accounts", False)),
        "require_proof": bool(args.require_proof or table.get("require_proof", False)),
        "reports": args.reports,
        "workers": args.workers,
        "progress": True,
    }
    if options["arrival_rate"] and options["shape"]:
        raise LoadError("--shape varies the users of the closed model: not with --arrival-rate")
    return options


def check_names(options: dict, target: Target) -> None:
    """Every SLO names a flow or a step this run makes: a typo fails here, before any load,
    not as NO DATA after it."""
    ciba = any(c.ciba and c.auth_method != "tls_client_auth" for c in target.clients)
    flows = names.selected_flows(options["weights"], ciba, bool(options["arrival_rate"]))
    for text in options["slos"]:
        objective = slo.parse(text)
        if objective.target is None:
            continue
        try:
            names.check_slo_target(objective.target, flows, options)
        except names.UnknownName as exc:
            raise LoadError(f"{text!r}: {exc}") from None


def check_simulator_names(defects: list[str], quirks: list[str]) -> None:
    from psc_testkit.conformance.preflight import Stop, check_names

    try:
        check_names(defects, quirks)
    except Stop as stop:
        raise LoadError(
            stop.line.removeprefix("psc-testkit conformance: "), stop.exit_code
        ) from None


def _load_profile(path: Path) -> tuple[dict, Target]:
    try:
        profile = tomllib.loads(path.read_text(encoding="utf-8"))
        probe = load_target(path, discovery_url="-", require_secrets=False)
        if probe.safe:
            # Refused before anything else is asked (secrets included): no load, whatever else.
            raise LoadError(
                f"{path} is a safe profile (safe = true, a production service): a load test "
                "logs users in and sends load, which a safe profile forbids. Use a profile of "
                "a test deployment."
            )
        if not probe.simulator:
            probe = load_target(path)
    except (OSError, tomllib.TOMLDecodeError, ProfileError) as exc:
        text = exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
        raise LoadError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    if not any(c.auth_method != "tls_client_auth" and not c.public for c in probe.clients):
        raise LoadError(f"{path}: the journeys need a confidential client without mTLS")
    return profile, probe


def preflight(target: Target, path: Path, options: dict, out=sys.stdout) -> None:
    """In one line each: the profile (read, names checked: done by then), reachability as
    `psc-testkit profile check` (DNS, TCP, TLS, discovery, hosts, JWKS) and one real login. A
    failure stops the run (exit 3) before any load."""
    from psc_testkit.client.profile_check import ProfileCheck

    client = next(c for c in target.clients if c.auth_method != "tls_client_auth" and not c.public)
    users = (
        f"{len(target.driver.users)} test user(s)"
        if target.driver.users
        else "the simulator's professionals"
    )
    print(
        f"pre-flight: profile {path} ok: {target.name}, client {client.client_id}, {users}, "
        f"{len(options['slos'])} SLO(s) whose names the scenarios define",
        file=out,
        flush=True,
    )

    check = ProfileCheck(target, io.StringIO(), login=True)
    check.run()
    blocking = [
        f
        for f in check.findings
        if f.status == "FAIL"
        and (
            f.step in BLOCKING
            or (f.step == "client" and f.text.startswith(f"{client.client_id} ("))
        )
    ]
    if blocking:
        first = blocking[0]
        raise LoadError(f"pre-flight: {first.step}: {first.text} (no load was sent)", 3)
    seen = [f.step for f in check.findings if f.status == "ok"]
    reach = [s for s in ("DNS", "TCP", "TLS", "discovery", "JWKS") if s in seen]
    print(f"pre-flight: reachability ok ({', '.join(reach)})", file=out, flush=True)
    login = next((f for f in check.findings if f.step == "login"), None)
    if login is not None:
        print(f"pre-flight: login {login.status}: {login.text}", file=out, flush=True)


def run_load(args: argparse.Namespace) -> int:
    path = Path(args.target)
    profile, probe = _load_profile(path)
    options = _options(args, profile)
    if args.arrival_rate is not None and args.arrival_rate <= 0:
        raise LoadError("--arrival-rate is a number of flows/s above 0")
    if args.find_max_steps < 1:
        raise LoadError("--find-max-steps is at least 1")
    if args.expect_workers is not None and not args.master_bind:
        raise LoadError("--expect-workers goes with --master-bind (remote workers)")
    if args.worker_of and (args.master_bind or args.workers):
        raise LoadError("--worker-of runs one worker: not with --master-bind or --workers")
    if args.find_max and (args.worker_of or args.master_bind or args.workers):
        raise LoadError("--find-max runs its levels in one local process: not with workers")
    if args.web and (args.find_max or args.worker_of or args.master_bind):
        raise LoadError(
            "--web serves one local run: not with --find-max, --worker-of or --master-bind"
        )
    if (args.worker_of or args.master_bind) and probe.simulator:
        raise LoadError(
            "workers on other hosts need a target they can reach: run the simulator "
            "(psc-testkit simulator --host ADDR) and give a profile of it"
        )
    check_names(options, probe)
    if not probe.simulator:
        if args.defect or args.quirk:
            raise LoadError("--defect and --quirk need the simulator as target")
        if not is_loopback(probe.discovery_url) and not args.allow_remote:
            raise LoadError(
                f"{urlsplit(probe.discovery_url).hostname} is not on this machine: a load test "
                "of a shared service needs its operator's agreement. Pass --allow-remote and an "
                "explicit --run-time once you have it."
            )
        if args.allow_remote and options["run_time_text"] is None and not args.worker_of:
            raise LoadError("a remote target needs an explicit --run-time")
    options["run_time"] = _duration(options.pop("run_time_text") or DEFAULT_RUN_TIME)
    if options["run_time"] <= 0:
        raise LoadError("the run time must be positive")
    if args.method:
        profile.setdefault("driver", {})["method"] = args.method

    with ExitStack() as stack:
        runtime: dict[str, str] = {}
        sim = None
        if probe.simulator:
            from psc_testkit.simulator.process import SimulatorProcess, SimulatorStartError

            extra = ["--ecps-delay", str(args.ecps_delay)] if args.ecps_delay is not None else []
            try:
                check_simulator_names(args.defect, args.quirk)
                sim = stack.enter_context(
                    SimulatorProcess(
                        defects=args.defect, quirks=args.quirk, config=path, extra_args=extra
                    )
                )
            except SimulatorStartError as exc:
                raise LoadError(f"the simulator did not start: {exc}", 3) from None
            runtime = sim.runtime()
            host = sim.origin
        else:
            parts = urlsplit(probe.discovery_url)
            host = f"{parts.scheme}://{parts.netloc}"
        options.update(profile=str(path), runtime=runtime, method=args.method)
        if not (args.worker_of or args.no_preflight):
            preflight(load_target(path, **runtime) if runtime else probe, path, options)
        launcher = Launcher(options, host, sim)
        if args.worker_of:
            return launcher.worker(*_address(args.worker_of, "--worker-of"))
        if args.find_max:
            from psc_testkit.load.find_max import find_max

            return find_max(launcher, options, steps=args.find_max_steps)
        if args.master_bind:
            bind = _address(args.master_bind, "--master-bind")
            return launcher.run(master=bind, expect=args.expect_workers or 1)
        return launcher.run(web=args.web)


class Launcher:
    """Locust as child processes in groups of their own, stopped in order."""

    def __init__(self, options: dict, host: str, sim=None) -> None:
        self.options, self.host, self.sim = options, host, sim
        self.interrupted: str | None = None
        self.signal_count = 0
        self.main: subprocess.Popen | None = None

    def _spawn(self, extra: list[str], options: dict, env: dict | None = None) -> subprocess.Popen:
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", self.host]
        environment = {**os.environ, "PSC_LOAD": json.dumps(options), **(env or {})}
        return subprocess.Popen(
            command + extra,
            env=environment,
            start_new_session=True,  # a terminal's Ctrl-C reaches the launcher, not Locust
            preexec_fn=die_with_parent,
        )

    def _headless(self, options: dict, reports: Path) -> list[str]:
        users = options["users"]
        if options["arrival_rate"]:
            # Fixed-count users: the probe, and the arrivals, one per worker.
            users = 1 + max(1, int(options["workers"] or 0))
        return [
            "--headless",
            "-u",
            str(users),
            "-r",
            str(options["spawn_rate"] if not options["arrival_rate"] else users),
            # The run ends at its run time by the locustfile's own clock (and waits for the
            # workers' last samples); Locust's is a backstop.
            "-t",
            f"{int(options['run_time']) + 60}s",
            # At the end, flows under way get 2 s to finish; those still running then are
            # neither counted as done nor as failed.
            "--stop-timeout",
            "2",
            "--only-summary",
            "--csv",
            str(reports / "locust"),
            "--csv-full-history",
            "--html",
            str(reports / "locust.html"),
        ]

    def run(
        self,
        options: dict | None = None,
        *,
        web: bool = False,
        master: tuple[str, int] | None = None,
        expect: int = 0,
        quiet: bool = False,
    ) -> int:
        """One Locust run: standalone, with local workers, or as a master of remote ones."""
        options = dict(options or self.options)
        reports = Path(options["reports"])
        reports.mkdir(parents=True, exist_ok=True)
        # Whatever an earlier run left here: no part of it may pass for this run's.
        for stale in ("summary.json", "tool-failures.log", ".launcher.json", "locust.html"):
            (reports / stale).unlink(missing_ok=True)
        for stale in reports.glob("locust_*.csv"):
            stale.unlink(missing_ok=True)
        options["run_id"] = uuid.uuid4().hex
        options["progress"] = not quiet and not web
        local = int(options["workers"]) if master is None else 0
        options["workers"] = expect if master is not None else local
        extra = self._headless(options, reports)
        if web:
            port = _free_port()
            extra = [x for x in extra if x not in ("--headless", "--only-summary")]
            extra += ["--autostart", "--web-host", "127.0.0.1", "--web-port", str(port)]
            print(
                f"Locust's web UI: http://127.0.0.1:{port}/ for the run's "
                f"{options['run_time']:g} s (Ctrl-C stops it)",
                flush=True,
            )
        workers: list[subprocess.Popen] = []
        if master is not None or local > 0:
            bind = master or ("127.0.0.1", _free_port())
            extra += ["--master", "--master-bind-host", bind[0], "--master-bind-port", str(bind[1])]
            extra += ["--expect-workers", str(expect or local)]
            extra += ["--expect-workers-max-wait", str(WORKERS_WAIT)]
        started = time.time()
        with self.signals():
            self.main = self._spawn(extra, options)
            for _ in range(local):
                worker = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(bind[1])]
                workers.append(self._spawn(worker, options))
            code, target_died = self._wait(options, started, expect_remote=master is not None)
            self._stop_workers(workers)
        return self._conclude(reports, code, target_died, options)

    def worker(self, host: str, port: int) -> int:
        """A worker of a master elsewhere: it runs until the master stops it."""
        options = dict(self.options)
        with self.signals():
            self.main = self._spawn(
                ["--worker", "--master-host", host, "--master-port", str(port)], options
            )
            told = False
            while True:
                try:
                    return self.main.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    if self.interrupted and not told:
                        told = True
                        self._forward()

    # Signals and stopping in order -------------------------------------------------------------

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM are noted, not raised: the wait loop stops Locust in order (it
        writes what it measured). A second one hurries it (SIGTERM: Locust quits at once), a
        third kills it."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.interrupted = self.interrupted or signal.Signals(signum).name
        self.signal_count += 1
        if self.signal_count > 1 and self.main is not None and self.main.poll() is None:
            self.main.send_signal(signal.SIGTERM if self.signal_count == 2 else signal.SIGKILL)

    def _tell(self, options: dict, target_died: str | None) -> None:
        """For the summary Locust writes as it stops: why it was stopped."""
        said = {"interrupted": self.interrupted, "target_exited": target_died}
        with contextlib.suppress(OSError):  # else the summary is amended after Locust ends
            (Path(options["reports"]) / ".launcher.json").write_text(json.dumps(said))

    def _forward(self) -> None:
        """Locust stops on SIGINT: its users end, it writes what it measured."""
        if self.main is not None and self.main.poll() is None:
            self.main.send_signal(signal.SIGINT)

    def _wait(self, options: dict, started: float, expect_remote: bool) -> tuple[int, str | None]:
        """Until Locust ends; interrupted, or its target dead, it is told to stop."""
        # Locust stops by itself at the run time; the margin covers start-up and stop-timeout
        # (and, for a master, the workers it waits for).
        deadline = started + options["run_time"] + (WORKERS_WAIT + 300 if expect_remote else 180)
        target_died = None
        told = False
        while True:
            try:
                return self.main.wait(timeout=0.5), target_died
            except subprocess.TimeoutExpired:
                pass
            if self.sim is not None and target_died is None and self.sim.process is not None:
                status = self.sim.process.poll()
                if status is not None:
                    elapsed = time.time() - started
                    target_died = (
                        f"the embedded simulator exited (status {status}) {elapsed:.0f} s into "
                        "the run: what followed measures nothing"
                    )
            if (self.interrupted or target_died) and not told:
                told = True
                self._tell(options, target_died)
                self._forward()
                deadline = time.time() + 60
            if time.time() > deadline:
                self.main.kill()
                return self.main.wait(), target_died

    def _stop_workers(self, workers: list[subprocess.Popen]) -> None:
        """The master told them to quit; those still running after 15 s in all are stopped."""
        deadline = time.time() + 15
        for process in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.time()))
        for process in workers:
            if process.poll() is None:
                process.terminate()
        for process in workers:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _conclude(self, reports: Path, code: int, target_died: str | None, options: dict) -> int:
        """What the launcher knows and Locust may not (the signal it forwarded, a target that
        died) goes into the summary; its verdict is the exit code."""
        report = res.read(reports)
        if report is None or report.get("run_id") != options["run_id"]:
            # Nothing of this run was written: no verdict of an earlier one stands in for it.
            print(
                f"{PREFIX}: Locust exited (status {code}) without writing this run's summary: "
                "nothing measured can be judged",
                file=sys.stderr,
            )
            return 4
        amended = False
        if self.interrupted and report.get("interrupted") != self.interrupted:
            report["interrupted"], amended = self.interrupted, True
        if target_died and not report.get("target_exited"):
            report["target_exited"], amended = target_died, True
        if amended:
            res.rejudge(report, bool(options.get("require_proof")))
            res.write(report, reports)
            print(res.verdict_line(report), flush=True)
        return int(report.get("exit_code", code))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
