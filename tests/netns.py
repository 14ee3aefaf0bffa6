"""Hosts made of Linux network namespaces, for distributed load runs on one machine.

    with Topology(workers=2) as net:
        sim = net.popen("m", ["python", "-m", "psc_testkit", "simulator", ...], name="sim")
        net.popen("w1", [...], name="worker1")   # reaches sim at net.address("m")

A topology is private to one run: namespaces `psc-<pid>-<hex>-m` (the master and the target)
and `psc-<pid>-<hex>-w1`, `-w2`, … (the workers), joined by a bridge that lives *inside* the
master namespace (one veth pair per worker, both ends created directly in their namespaces),
addresses from 10.213.<n>.0/24. Nothing is created in the machine's own namespace, so nothing
started here listens outside these namespaces, and two runs at once never meet (their names
differ, their links and addresses are private to their namespaces).

Teardown kills what the topology started, by process group (each process leads its own), then
any process still inside its namespaces (children such as Locust workers), by PID, and deletes
the namespaces (their links go with them). Namespaces of this prefix whose creator PID (in the
name) is dead are removed the same way when a topology starts: the leftovers of a run that was
killed before its teardown.

Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and `ip` (iproute2); `unavailable()` says why not
by actually trying to create a namespace.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from psc_testkit.child import die_with_parent

PREFIX = "psc-"
NAME = re.compile(r"^psc-(?P<pid>\d+)-(?P<tag>[0-9a-f]{6})-(?P<role>m|w\d+|probe)$")
BRIDGE = "pscbr0"
IP_TIMEOUT = 10.0


class NetnsError(RuntimeError):
    """An `ip` command failed; the message carries its stderr."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    ip = shutil.which("ip") or "/usr/sbin/ip"
    done = subprocess.run(
        [ip, *args], capture_output=True, text=True, timeout=IP_TIMEOUT, check=False
    )
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    done = _ip("netns", "list", check=False)
    # "psc-1-abcdef-m (id: 3)": the name is the first word.
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _pids_in(namespace: str) -> list[int]:
    done = _ip("netns", "pids", namespace, check=False)
    return [int(p) for p in done.stdout.split() if p.isdigit()]


def _kill_pids(pids: Sequence[int], grace: float = 3.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _delete(namespace: str) -> None:
    _kill_pids(_pids_in(namespace))
    _ip("netns", "delete", namespace, check=False)


def sweep_stale() -> list[str]:
    """Delete the namespaces of this prefix whose creator is dead (and kill what runs in
    them); returns their names. Another run's live namespaces are left alone."""
    removed = []
    for name in _namespaces():
        match = NAME.match(name)
        if match and not _alive(int(match["pid"])):
            _delete(name)
            removed.append(name)
    return removed


def unavailable() -> str | None:
    """None when namespaces can be made here, else why not (for pytest.skip)."""
    if shutil.which("ip") is None and not Path("/usr/sbin/ip").exists():
        return "no `ip` command (iproute2) on this machine"
    name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}-probe"
    done = _ip("netns", "add", name, check=False)
    if done.returncode != 0:
        return (
            f"cannot create a network namespace (`ip netns add` needs root: CAP_SYS_ADMIN and "
            f"CAP_NET_ADMIN): {done.stderr.strip()}"
        )
    try:
        up = _ip("-n", name, "link", "add", "p0", "type", "veth", "peer", "name", "p1", check=False)
        if up.returncode != 0:
            return f"cannot create a veth pair in a namespace: {up.stderr.strip()}"
        bridge = _ip("-n", name, "link", "add", "b0", "type", "bridge", check=False)
        if bridge.returncode != 0:
            return f"cannot create a bridge in a namespace: {bridge.stderr.strip()}"
    finally:
        _ip("netns", "delete", name, check=False)
    return None


@dataclass
class Process:
    """A process started in a namespace; its stdout and stderr go to files (never a pipe that
    nobody reads), for the announced lines and for the tails shown when a test fails."""

    name: str
    namespace: str
    popen: subprocess.Popen
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def tail(self, chars: int = 2500) -> str:
        code = self.popen.poll()
        state = "running" if code is None else f"exit {code}"
        return (
            f"--- {self.name} in {self.namespace} (pid {self.pid}, {state})\n"
            f"stdout: …{self.stdout()[-chars:]}\nstderr: …{self.stderr()[-chars:]}"
        )

    def announced(self, last: str, timeout: float) -> dict[str, str]:
        """The `key=value` lines on stdout up to and including `last` (the simulator's
        `state=`), waiting at most `timeout` s; RuntimeError if it exits or stays silent."""
        deadline = time.monotonic() + timeout
        while True:
            info = {}
            for line in self.stdout().splitlines():
                key, sep, value = line.strip().partition("=")
                if sep and " " not in key:
                    info[key] = value
            if last in info:
                return info
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited before announcing {last}=\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} announced no {last}= in {timeout} s\n{self.tail()}"
                )
            time.sleep(0.1)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)


@dataclass
class Topology:
    """A master namespace and `workers` worker namespaces on one private /24."""

    workers: int = 2
    logs: Path | None = None
    tag: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}")
    subnet: int = field(default_factory=lambda: secrets.randbelow(250) + 1)
    processes: list[Process] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    own_logs: bool = False  # a folder of its own for the logs, removed at teardown

    @property
    def roles(self) -> list[str]:
        return ["m"] + [f"w{i}" for i in range(1, self.workers + 1)]

    def namespace(self, role: str) -> str:
        return f"{self.tag}-{role}"

    def address(self, role: str) -> str:
        host = 1 if role == "m" else 10 + int(role[1:])
        return f"10.213.{self.subnet}.{host}"

    def __enter__(self) -> Topology:
        sweep_stale()
        if self.logs is None:
            self.logs, self.own_logs = Path(tempfile.mkdtemp(prefix=f"{self.tag}-")), True
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _create(self) -> None:
        master = self.namespace("m")
        for role in self.roles:
            _ip("netns", "add", self.namespace(role))
            self.created.append(self.namespace(role))
            _ip("-n", self.namespace(role), "link", "set", "lo", "up")
        _ip("-n", master, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0")
        _ip("-n", master, "addr", "add", f"{self.address('m')}/24", "dev", BRIDGE)
        _ip("-n", master, "link", "set", BRIDGE, "up")
        for role in self.roles[1:]:
            # Both ends made in their namespaces at once: no link ever exists outside them.
            _ip(
                "-n",
                master,
                "link",
                "add",
                f"v{role}",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                self.namespace(role),
            )
            _ip("-n", master, "link", "set", f"v{role}", "master", BRIDGE, "up")
            _ip(
                "-n", self.namespace(role), "addr", "add", f"{self.address(role)}/24", "dev", "eth0"
            )
            _ip("-n", self.namespace(role), "link", "set", "eth0", "up")

    def popen(
        self,
        role: str,
        command: Sequence[str],
        *,
        name: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Process:
        """Start `command` inside the role's namespace (`ip netns exec`, which execs it: the
        PID is the command's), in a process group of its own."""
        assert self.logs is not None
        out, err = self.logs / f"{name}.out", self.logs / f"{name}.err"
        ip = shutil.which("ip") or "/usr/sbin/ip"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            popen = subprocess.Popen(
                [ip, "netns", "exec", self.namespace(role), *command],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                # SIGTERM if the creator dies (killed before its teardown): nothing it started
                # outlives it; its namespaces go at the next topology's sweep.
                preexec_fn=die_with_parent,
            )
        process = Process(name, self.namespace(role), popen, out, err)
        self.processes.append(process)
        return process

    def run(
        self, role: str, command: Sequence[str], *, timeout: float = 30.0
    ) -> subprocess.CompletedProcess:
        """Run `command` inside the role's namespace to its end (bounded), output captured."""
        ip = shutil.which("ip") or "/usr/sbin/ip"
        return subprocess.run(
            [ip, "netns", "exec", self.namespace(role), *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def tails(self, chars: int = 2500) -> str:
        return "\n".join(p.tail(chars) for p in self.processes)

    def stop(self, process: Process, grace: float = 5.0) -> None:
        """SIGINT to the process's group (Locust and the simulator stop cleanly on it), then
        SIGKILL after `grace` s."""
        if process.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # what is left of its group
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=grace)

    def close(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        for namespace in reversed(self.created):
            _delete(namespace)
        self.created.clear()
        if self.own_logs and self.logs is not None:
            shutil.rmtree(self.logs, ignore_errors=True)
