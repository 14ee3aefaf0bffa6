"""`psc-testkit load`: start the target if it is the simulator, run Locust (alone, or as a
master with local workers), bounded in time, and pass its verdict on as the exit code."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tomllib
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from psc_testkit import slo
from psc_testkit.config import ProfileError, load_target

LOCUSTFILE = Path(__file__).resolve().parent.parent / "load" / "locustfile.py"
DEFAULT_RUN_TIME = "30s"


class LoadError(Exception):
    """A load run that must not start; the message says why."""


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
    text = text.strip()
    try:
        return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise LoadError(f"cannot read the run time {text!r}: e.g. 60s, 10m, 2h") from None


def _options(args: argparse.Namespace, profile: dict) -> dict:
    """Flags win over the profile's [load] table, which wins over the defaults."""
    table = profile.get("load", {})

    def pick(flag: object, key: str, default: object) -> object:
        return flag if flag is not None else table.get(key, default)

    weights = table.get("weights", {})
    if args.weights:
        try:
            weights = {
                k.strip(): int(v) for k, v in (pair.split("=") for pair in args.weights.split(","))
            }
        except ValueError:
            raise LoadError(f"cannot read --weights {args.weights!r}: name=int,…") from None
    slos = list(table.get("slos", [])) + args.slo
    if not any(s.replace(" ", "").startswith("availability") for s in slos):
        slos.append(f"availability>={slo.DEFAULT_AVAILABILITY * 100:.3f}%")
    for text in slos:
        try:
            slo.parse(text)
        except slo.SloError as exc:
            raise LoadError(str(exc)) from None
    run_time = pick(args.run_time, "run_time", None)
    return {
        "users": int(pick(args.users, "users", 10)),
        "spawn_rate": float(pick(args.spawn_rate, "spawn_rate", 10)),
        "run_time_text": run_time,
        "shape": pick(args.shape, "shape", None),
        "slos": slos,
        "weights": weights,
        "think": float(pick(args.think, "think", 1.0)),
        "probe_rate": float(pick(args.probe_rate, "probe_rate", 1.0)),
        "refresh": bool(args.refresh or table.get("refresh", False)),
        "logout": bool(args.logout or table.get("logout", False)),
        "reports": args.reports,
        "workers": args.workers,
    }


def run_load(args: argparse.Namespace) -> int:
    path = Path(args.target)
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
        raise LoadError(f"{path}: {exc}") from None
    options = _options(args, profile)
    if not probe.simulator:
        if args.defect:
            raise LoadError("--defect needs the simulator as target")
        if not is_loopback(probe.discovery_url) and not args.allow_remote:
            raise LoadError(
                f"{urlsplit(probe.discovery_url).hostname} is not on this machine: a load test "
                "of a shared service needs its operator's agreement. Pass --allow-remote and an "
                "explicit --run-time once you have it."
            )
        if args.allow_remote and options["run_time_text"] is None:
            raise LoadError("a remote target needs an explicit --run-time")
    options["run_time"] = _duration(options.pop("run_time_text") or DEFAULT_RUN_TIME)
    if options["run_time"] <= 0:
        raise LoadError("the run time must be positive")
    if args.method:
        profile.setdefault("driver", {})["method"] = args.method

    with ExitStack() as stack:
        runtime: dict[str, str] = {}
        if probe.simulator:
            from psc_testkit.simulator.process import SimulatorProcess

            extra = ["--ecps-delay", str(args.ecps_delay)] if args.ecps_delay is not None else []
            sim = stack.enter_context(
                SimulatorProcess(defects=args.defect, config=path, extra_args=extra)
            )
            runtime = sim.runtime()
            host = sim.origin
        else:
            parts = urlsplit(probe.discovery_url)
            host = f"{parts.scheme}://{parts.netloc}"
        options.update(profile=str(path), runtime=runtime, method=args.method)
        return _locust(options, host)


def _locust(options: dict, host: str) -> int:
    reports = Path(options["reports"])
    reports.mkdir(parents=True, exist_ok=True)
    common = ["-f", str(LOCUSTFILE), "--host", host]
    headless = [
        "--headless",
        "-u",
        str(options["users"]),
        "-r",
        str(options["spawn_rate"]),
        "-t",
        f"{int(options['run_time'])}s",
        "--stop-timeout",
        "5",
        "--only-summary",
        "--csv",
        str(reports / "locust"),
        "--csv-full-history",
        "--html",
        str(reports / "locust.html"),
    ]
    env = {**os.environ, "PSC_LOAD": json.dumps(options)}
    python = [sys.executable, "-m", "locust"]
    workers = int(options["workers"])
    processes: list[subprocess.Popen] = []
    if workers <= 0:
        main = subprocess.Popen(python + common + headless, env=env)
    else:
        port = _free_port()
        main = subprocess.Popen(
            python
            + common
            + headless
            + [
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--expect-workers",
                str(workers),
            ],
            env=env,
        )
        for index in range(workers):
            processes.append(
                subprocess.Popen(
                    python
                    + common
                    + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                    env={**env, "PSC_WORKER_INDEX": str(index), "PSC_WORKER_COUNT": str(workers)},
                )
            )
    try:
        # Locust stops by itself at the run time; the margin covers start-up and stop-timeout.
        code = main.wait(timeout=options["run_time"] + 120)
    except KeyboardInterrupt:
        # Interrupted: let Locust stop and write the summary of what it measured.
        main.send_signal(signal.SIGINT)
        code = main.wait(timeout=60)
    except subprocess.TimeoutExpired:
        main.kill()
        code = 1
    finally:
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    return code


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
