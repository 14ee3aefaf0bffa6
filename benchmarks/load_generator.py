"""How many first logins one Locust process drives with our scenario code, against a bare client.

One run, against the same embedded simulator (plain HTTP), the same users and seconds, each
measurement in a Locust process of its own:
  (a) bare:  a minimal FastHttpUser sending the requests of a first login and nothing else
             (authorize GET, which answers the login page; the credential POST, redirects off,
             the code read from Location; the token POST with PKCE and client_secret_basic;
             the userinfo GET), regexes for what it reads, no validation;
  (b) ours:  load/locustfile.py's FirstLogin (PSC_LOAD: first-login only, think 0), with the
             locustfile's listeners on the events a real `locust` run fires;
side by side: flows/s, requests/s, (b)/(a), and the generator's CPU per flow. The simulator and
the generator run on different cores (when there are two); the simulator's CPU share is
measured, and when it saturates its core the flows/s ratio measures the simulator, not the
generator: the output says so, and the generator's CPU per flow (which the simulator does not
pace) gives the ratio a generator-bound run would see.

Also (as before): the ceiling (requests/s from a trivial endpoint) and, unless --no-workers,
flows/s with `psc-testkit load --workers 2`.

    python benchmarks/load_generator.py [--seconds 12] [--users 20] [--repeat 3] [--no-workers]
    python benchmarks/load_generator.py --profile ours [--seconds 12]   # cProfile, one process

On a machine other processes use too, flows/s move with them; CPU per flow much less (the
output says how much CPU the rest of the machine used): read that, with --repeat.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "targets" / "simulator.toml"
ONLY_FIRST_LOGIN = "first-login=1,returning=0,refresher=0,poller=0,ciba=0"
WARMUP = 3.0  # s: users spawned, discovery and the user list fetched, connections open
SATURATED = 0.90  # a process using this share of a core (or more) is the bottleneck
KINDS = ("trivial", "bare", "ours")


# The parent: the simulator, one child process per measurement, the table ------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="per measurement")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument(
        "--repeat", type=int, default=1, help="alternate (a) and (b) this many times; medians"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the simulator and generator to cores"
    )
    parser.add_argument("--no-workers", action="store_true", help="skip the --workers 2 run")
    parser.add_argument(
        "--only", choices=KINDS, action="append", help="measure only these (repeatable)"
    )
    parser.add_argument(
        "--profile",
        choices=("bare", "ours"),
        help="run this one under cProfile (CPU clock) and print where its CPU goes",
    )
    parser.add_argument("--profile-out", default=None, help="where to write the pstats file")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.users, args.seconds, args.profile_out)
        return

    from psc_testkit.simulator.process import SimulatorProcess

    cores = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cores) >= 2
    sim_cores, gen_cores = ({cores[0]}, {cores[1]}) if pin else (set(cores), set(cores))
    kinds = [args.profile] if args.profile else (args.only or list(KINDS))
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    with (
        tempfile.TemporaryDirectory() as reports,
        SimulatorProcess(tls=False, config=PROFILE) as sim,
    ):
        pid = sim.process.pid
        if pin:
            pin_process(pid, sim_cores)
        runtime = sim.runtime()
        for round_ in range(1 if args.profile else max(1, args.repeat)):
            for kind in kinds:
                if kind == "trivial" and round_:
                    continue  # the ceiling once
                runs[kind].append(run_child(kind, args, runtime, reports, pid, gen_cores, pin))
    if args.profile:
        return
    workers = None
    if not args.no_workers and not args.only:
        workers = measure_workers(args.users * 2, args.seconds)
    report(runs, workers, args, pin, sim_cores, gen_cores)


def pin_process(pid: int, cores: set[int]) -> None:
    """Every thread of `pid` on `cores` (what `taskset -a -p` does)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(tid), cores)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process), from
    /proc/stat: user, nice, system, irq, softirq and steal (time the hypervisor gave away)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_child(
    kind: str, args, runtime: dict, reports: str, sim_pid: int, cores: set[int], pin: bool
) -> dict:
    """One measurement in its own Locust process; the simulator's CPU and the rest of the
    machine's over its measured window."""
    options = {
        "profile": str(PROFILE),
        "think": 0,
        "weights": {"first-login": 1},
        "runtime": runtime,
        "reports": reports,  # a tool-failures log, if any, goes there, not into reports/
    }
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind]
    command += ["--users", str(args.users), "--seconds", str(args.seconds)]
    if args.profile:
        out = args.profile_out or str(Path(tempfile.gettempdir()) / f"load_generator-{kind}.prof")
        command += ["--profile-out", out]
    marks: dict[str, tuple[float, float, float]] = {}
    result: dict = {}
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PSC_LOAD": json.dumps(options)},
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if pin else None,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(("START", "STOP")):
                marks[line.strip()] = (time.perf_counter(), cpu_seconds(sim_pid), machine_busy())
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
            else:
                print(line, end="")
    if process.returncode != 0 or not result or len(marks) != 2:
        raise SystemExit(f"the {kind} measurement failed (exit {process.returncode})")
    (t0, sim0, busy0), (t1, sim1, busy1) = marks["START"], marks["STOP"]
    sim_used = sim1 - sim0
    result["sim_share"] = sim_used / (t1 - t0)
    result["sim_cpu_per_flow"] = sim_used / result["flows"] if result["flows"] else None
    # Whatever else ran on the machine meanwhile (another test suite, say), in cores.
    result["others_share"] = max(0.0, (busy1 - busy0) - sim_used - result["gen_cpu_s"]) / (t1 - t0)
    return result


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def summarise(runs: list[dict]) -> dict:
    """The median run of each figure (one run: that run)."""
    keys = ("flows_s", "requests_s", "gen_share", "sim_share", "others_share")
    row = {k: median([r[k] for r in runs]) for k in keys}
    row["failures"] = sum(r["failures"] for r in runs)
    row["cpu_per_flow"] = median([r["gen_cpu_s"] / r["flows"] for r in runs if r["flows"]] or [0])
    row["sim_cpu_per_flow"] = median([r["sim_cpu_per_flow"] or 0 for r in runs])
    row["cpu_per_request"] = median(
        [r["gen_cpu_s"] / r["requests"] for r in runs if r["requests"]] or [0]
    )
    return row


def report(runs: dict, workers: float | None, args, pin: bool, sim_cores, gen_cores) -> None:
    where = (
        f"simulator on core {min(sim_cores)}, generator on core {min(gen_cores)}"
        if pin
        else "not pinned"
    )
    repeat = f", median of {args.repeat} runs" if args.repeat > 1 else ""
    print(
        f"\nload generator: one Locust process per line, {args.users} users, "
        f"{args.seconds:g} s each{repeat}, think 0 ({where})"
    )
    rows = {kind: summarise(r) for kind, r in runs.items() if r}
    if "trivial" in rows:
        t = rows["trivial"]
        print(
            f"ceiling (trivial endpoint): {t['requests_s']:6.0f} requests/s, generator "
            f"{t['gen_share'] * 100:.0f} % of a core, {t['cpu_per_request'] * 1e6:.0f} µs CPU "
            f"per request; simulator {t['sim_share'] * 100:.0f} %"
        )
    flows = [(k, rows[k]) for k in ("bare", "ours") if k in rows]
    if flows:
        print(
            f"\n{'':<10}{'flows/s':>8}{'requests/s':>11}{'fail':>6}{'gen CPU/flow':>14}"
            f"{'gen core':>9}{'sim CPU/flow':>14}{'sim core':>9}{'others':>8}"
            f"{'gen-bound flows/s':>19}"
        )
    for kind, r in flows:
        label = {"bare": "(a) bare", "ours": "(b) ours"}[kind]
        per_flow = r["cpu_per_flow"]
        print(
            f"{label:<10}{r['flows_s']:8.0f}{r['requests_s']:11.0f}{r['failures']:6d}"
            f"{per_flow * 1e6:11.0f} µs{r['gen_share'] * 100:8.0f}%"
            f"{r['sim_cpu_per_flow'] * 1e6:11.0f} µs{r['sim_share'] * 100:8.0f}%"
            f"{r['others_share'] * 100:7.0f}%{(1 / per_flow if per_flow else 0):19.0f}"
        )
    if "bare" in rows and "ours" in rows:
        a, b = rows["bare"], rows["ours"]
        print(f"\n(b)/(a) flows/s, measured:               {b['flows_s'] / a['flows_s']:5.2f}")
        print(f"(b)/(a) requests/s, measured:            {b['requests_s'] / a['requests_s']:5.2f}")
        ratio = a["cpu_per_flow"] / b["cpu_per_flow"]
        each = [
            (x["gen_cpu_s"] / x["flows"]) / (y["gen_cpu_s"] / y["flows"])
            for x, y in zip(runs["bare"], runs["ours"], strict=False)
            if x["flows"] and y["flows"]
        ]
        if len(each) > 1:
            ratio = median(each)  # (a) and (b) of a run ran one after the other: paired
        print(
            f"(b)/(a) generator-bound (CPU per flow):  {ratio:5.2f}   our code costs "
            f"{(b['cpu_per_flow'] - a['cpu_per_flow']) * 1e6:.0f} µs more CPU per flow"
        )
        if len(each) > 1:
            print(f"  the same, run by run:                  {', '.join(f'{x:.2f}' for x in each)}")
        verdict(flows)
    if workers is not None:
        print(f"\nwith --workers 2 (master + 2, not pinned): {workers:8.0f} flows/s")


def verdict(flows: list[tuple[str, dict]]) -> None:
    """Which figure to read, and why."""
    sim_bound = [k for k, r in flows if r["sim_share"] >= SATURATED]
    gen_bound = [k for k, r in flows if r["gen_share"] >= SATURATED]
    others = max(r["others_share"] for _, r in flows)
    if sim_bound:
        print(
            f"NOTE: the simulator saturates its core during {', '.join(sim_bound)} "
            f"(>= {SATURATED * 100:.0f} %): the measured flows/s ratio measures the simulator, "
            "not the generator; read the generator-bound ratio (CPU per flow), which the "
            "simulator does not pace. The simulator is one process (uvicorn, one event loop, "
            "its state in memory): it has no workers to add."
        )
    elif len(gen_bound) == len(flows):
        print("both generators saturate their core: the measured ratio is the generator's")
    else:
        print(
            "NOTE: neither the simulator nor both generators saturate a core: the users "
            "(--users) or other processes pace the run; read the generator-bound ratio"
        )
    if others >= 0.2:
        print(
            f"NOTE: other processes used up to {others * 100:.0f} % of a core during the "
            "measurements: flows/s are disturbed; CPU per flow much less (use --repeat)"
        )


# A child: one Locust process, one user class -------------------------------------------------


def child(kind: str, users: int, seconds: float, profile_out: str | None) -> None:
    # Locust patches the standard library for gevent when imported.
    import gevent
    import locust
    from locust.env import Environment

    user_class = {"trivial": trivial_user, "bare": bare_user, "ours": our_user}[kind]()
    # The events a `locust` run fires, so the locustfile's listeners (_record...) run too.
    env = Environment(user_classes=[user_class], host=origin(), events=locust.events)
    runner = env.create_local_runner()
    env.events.init.fire(environment=env, runner=runner, web_ui=None)
    runner.start(users, spawn_rate=users)
    gevent.sleep(WARMUP)
    env.stats.reset_all()
    profiler = None
    if profile_out:
        import cProfile

        # CPU clock: the time a greenlet waits for the network is nobody's.
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    print("START", flush=True)
    cpu, started = time.process_time(), time.perf_counter()
    gevent.sleep(seconds)
    cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
    print("STOP", flush=True)
    if profiler is not None:
        profiler.disable()
    stats = env.stats
    if kind == "ours":
        flows = stats.get("first-login", "FLOW").num_requests
        failures = stats.total.num_failures
        requests = stats.total.num_requests - flows
    elif kind == "bare":
        flows = stats.get("userinfo", "GET").num_requests
        failures = stats.total.num_failures
        requests = stats.total.num_requests
    else:
        flows = requests = stats.total.num_requests
        failures = stats.total.num_failures
    result = {
        "flows": flows,
        "requests": requests,
        "failures": failures,
        "flows_s": flows / elapsed,
        "requests_s": requests / elapsed,
        "gen_cpu_s": cpu,
        "gen_share": cpu / elapsed,
    }
    runner.quit()
    if profiler is not None:
        import pstats

        profiler.dump_stats(profile_out)
        print(f"\nprofile of {kind}: {flows} flows, written to {profile_out}")
        top = pstats.Stats(profiler)
        top.sort_stats("tottime").print_stats(30)
        top.sort_stats("cumulative").print_stats(r"psc_testkit|locustfile|load_generator", 30)
    print("RESULT " + json.dumps(result), flush=True)


def options() -> dict:
    return json.loads(os.environ["PSC_LOAD"])


def origin() -> str:
    return options()["runtime"]["control_origin"]


def trivial_user():
    from locust import FastHttpUser, constant, task

    class Trivial(FastHttpUser):
        wait_time = constant(0)

        @task
        def hit(self) -> None:
            self.client.get("/_simulator/defects", name="trivial")

    return Trivial


def our_user():
    sys.path.insert(0, str(ROOT / "load"))
    import locustfile

    return locustfile.FirstLogin


def bare_user():
    """The same requests as FirstLogin, with the least code: what a load generator costs."""
    import base64
    import hashlib
    import itertools
    import secrets
    import urllib.request
    from urllib.parse import quote, unquote, urlencode, urljoin

    from locust import FastHttpUser, constant, task

    from psc_testkit.client.config import load_target

    # Setup, outside any measurement: discovery, the client, the test professionals.
    target = load_target(PROFILE, **options()["runtime"])
    client = next(c for c in target.clients if c.auth_method == "client_secret_basic")
    meta = json.loads(urllib.request.urlopen(target.discovery_url).read())
    with urllib.request.urlopen(f"{origin()}/_simulator/users?limit=10000") as r:
        pros = [u["idNat"] for u in json.loads(r.read())["users"]]
    basic = base64.b64encode(
        f"{quote(client.client_id, safe='')}:{quote(client.secret, safe='')}".encode()
    ).decode()
    authorize = meta["authorization_endpoint"]
    action_re, tx_re = re.compile(rb'action="([^"]+)"'), re.compile(rb'name="tx" value="([^"]+)"')
    code_re = re.compile(r"[?&]code=([^&]+)")
    slices = itertools.count()

    class Bare(FastHttpUser):
        wait_time = constant(0)

        def on_start(self) -> None:
            # Professionals of its own (97 slices: more than the users of any run here).
            self.pros = itertools.cycle(pros[next(slices) :: 97])

        @task
        def first_login(self) -> None:
            self.client.cookiejar.clear()
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            query = urlencode(
                {
                    "response_type": "code",
                    "client_id": client.client_id,
                    "redirect_uri": client.redirect_uri,
                    "scope": target.scope,
                    "state": secrets.token_urlsafe(16),
                    "nonce": secrets.token_urlsafe(16),
                    "acr_values": target.acr_values,
                    "code_challenge": challenge.rstrip(b"=").decode(),
                    "code_challenge_method": "S256",
                }
            )
            page = self.client.get(f"{authorize}?{query}", name="authorize").content
            login = self.client.post(
                urljoin(authorize, action_re.search(page).group(1).decode()),
                data={
                    "tx": tx_re.search(page).group(1).decode(),
                    "method": "cps",
                    "idNat": next(self.pros),
                },
                allow_redirects=False,
                name="authenticate",
            )
            code = unquote(code_re.search(login.headers["location"]).group(1))
            tokens = self.client.post(
                meta["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": client.redirect_uri,
                    "code_verifier": verifier,
                },
                headers={"Authorization": f"Basic {basic}"},
                name="token",
            ).json()
            self.client.get(
                meta["userinfo_endpoint"],
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
                name="userinfo",
            )

    return Bare


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
