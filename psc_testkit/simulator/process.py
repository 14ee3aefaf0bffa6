"""Start the simulator as a child process and read where it listens: for the test suite, the
conformance runner, load runs and benchmarks alike."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from psc_testkit.child import AnnouncingChild, ChildStartError, Started
from psc_testkit.simulator.state import PREFIX

if TYPE_CHECKING:
    from psc_testkit.client.config import Target

# More options for every simulator started here, e.g. PSC_SIMULATOR_ARGS=--awkward-secrets:
# a whole conformance run, load run or self-test against a variant, with no profile field.
ARGS_VARIABLE = "PSC_SIMULATOR_ARGS"


class SimulatorStartError(ChildStartError):
    pass


@dataclass
class SimulatorProcess(Started):
    """`with SimulatorProcess(defects=[...]) as sim:` then use sim.issuer, sim.wallet, sim.ca."""

    defects: list[str] = field(default_factory=list)
    quirks: list[str] = field(default_factory=list)
    tls: bool | None = None
    config: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    startup_timeout: float = 30.0
    info: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    child: AnnouncingChild | None = None

    def command(self) -> list[str]:
        # The simulator's own entry point (command.py): its options (--keep-state...) live
        # there, whatever `psc-testkit simulator` accepts.
        cmd = [sys.executable, "-m", "psc_testkit.simulator", "--host", "127.0.0.1"]
        if self.config is not None:
            cmd += ["--target", str(self.config)]
        if self.tls is not None:
            cmd.append("--tls" if self.tls else "--no-tls")
        for name in self.defects:
            cmd += ["--defect", name]
        for name in self.quirks:
            cmd += ["--quirk", name]
        return cmd + self.extra_args + shlex.split(os.environ.get(ARGS_VARIABLE, ""))

    def start(self) -> SimulatorProcess:
        self.child = AnnouncingChild(
            self.command(),
            name="the simulator",
            until="state",  # the last line it announces
            timeout=self.startup_timeout,
            env={"PYTHONUNBUFFERED": "1"},
            error=SimulatorStartError,
        )
        self.info = self.child.start()
        self.process = self.child.process
        return self

    @property
    def issuer(self) -> str:
        return self.info["issuer"]

    @property
    def wallet(self) -> str:
        return self.info["wallet"]

    @property
    def ca(self) -> str | None:
        return self.info.get("ca")

    @property
    def state_dir(self) -> Path:
        return Path(self.info["state"])

    def runtime(self) -> dict[str, str]:
        """What a profile of the simulator learns only once it runs (config.load_target)."""
        return {
            "discovery_url": self.issuer + "/.well-known/wallet-openid-configuration",
            "state": str(self.state_dir),
            "ca_file": self.ca or "",
            "control_origin": self.origin,
        }

    def adapt(self, target: Target) -> Target:
        """The profile as the quirks that act on it (not on the simulator) have it."""
        from psc_testkit.simulator.quirks import apply_to_profile

        return apply_to_profile(target, self.quirks)

    @property
    def origin(self) -> str:
        """scheme://host:port of the issuer host (where the control API lives)."""
        scheme, rest = self.issuer.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"

    def stop(self) -> None:
        if self.child is None:
            return
        self.child.stop()
        # The simulator removes its state folder as it exits; one killed (SIGKILL after the
        # grace period) cannot, so its temp folder goes from here. Only that one: not a
        # --state-dir of the caller's, not one asked to be kept.
        state = self.info.get("state")
        command = self.command()
        if state and "--keep-state" not in command and "--state-dir" not in command:
            path = Path(state)
            if path.name.startswith(PREFIX) and path.parent == Path(tempfile.gettempdir()):
                shutil.rmtree(path, ignore_errors=True)
