"""What must hold before any check runs: a readable profile, known defect and quirk names, a
simulator that starts, a target that answers its discovery document.

Each of these, broken, makes every check meaningless: the run stops before the checks with one
line and the exit code that says which kind of trouble it is (DESIGN.md), instead of erroring
every check with the same reason. What only some checks need (the JWKS, a login, a metadata
member) stays with the checks: their fixtures error those checks alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from psc_testkit.client.config import ProfileError, Target, load_target
from psc_testkit.client.errors import TargetError

if TYPE_CHECKING:
    from psc_testkit.conformance.harness import Harness
    from psc_testkit.simulator.process import SimulatorProcess

# Exit codes (DESIGN.md, every subcommand).
PASSED = 0  # every MUST holds
FAILED = 1  # a MUST failed
USAGE = 2  # usage or profile error
UNREACHABLE = 3  # target unreachable or a prerequisite broken
INCONCLUSIVE = 4  # interrupted

PREFIX = "psc-testkit conformance"


class Stop(Exception):
    """The run cannot give a meaningful verdict: `line` says why, `exit_code` which kind."""

    def __init__(self, line: str, exit_code: int) -> None:
        super().__init__(line)
        self.line = line
        self.exit_code = exit_code


def one_line(text: str) -> str:
    """The last non-empty line of a child's stderr (its error), or the text squeezed."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text.strip()


def check_names(defects: list[str], quirks: list[str]) -> None:
    """Unknown --defect or --quirk names: a usage error, with the nearest known name."""
    from psc_testkit.simulator.defects import DEFECTS
    from psc_testkit.simulator.quirks import QUIRKS, did_you_mean

    for kind, names, known, listing in (
        ("defect", defects, DEFECTS, "--list-defects"),
        ("quirk", quirks, QUIRKS, "--list-quirks"),
    ):
        for name in names:
            if name not in known:
                raise Stop(
                    f"{PREFIX}: unknown {kind} {name!r}{did_you_mean(name, tuple(known))}; "
                    f"see `psc-testkit simulator {listing}`",
                    USAGE,
                )


def read_profile(path: Path) -> Target:
    """The profile read without its runtime part: a profile error stops the run (exit 2)."""
    try:
        return load_target(path, discovery_url="-")
    except ProfileError as exc:
        raise Stop(f"{PREFIX}: profile error: {exc}", USAGE) from None


@dataclass
class Prepared:
    """What the run uses: the target, its harness (discovery fetched), and the simulator
    started for it, if any. `close()` stops what was started."""

    target: Target
    harness: Harness
    simulator: SimulatorProcess | None = None
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.harness.close()
        finally:
            if self.simulator is not None:
                self.simulator.stop()


def _start_simulator(path: Path, defects: list[str], quirks: list[str]) -> SimulatorProcess:
    from psc_testkit.simulator.process import SimulatorProcess, SimulatorStartError

    sim = SimulatorProcess(defects=defects, quirks=quirks, config=path)
    try:
        return sim.start()
    except SimulatorStartError as exc:
        # The simulator exits 2 on a usage or profile error (an unknown [simulator] setting).
        process = sim.child.process if sim.child else None
        code = USAGE if process is not None and process.returncode == USAGE else UNREACHABLE
        raise Stop(f"{PREFIX}: the simulator did not start: {one_line(str(exc))}", code) from None
    except BaseException:  # interrupted while it starts: no simulator left behind
        sim.stop()
        raise


def prepare(path: Path, defects: list[str], quirks: list[str]) -> Prepared:
    """Start the simulator if the profile is the simulator's, read the profile whole, and fetch
    the discovery document once (the harness keeps it for the checks)."""
    from psc_testkit.conformance.harness import Harness

    probe = read_profile(path)
    simulator = None
    if probe.simulator:
        simulator = _start_simulator(path, defects, quirks)
    elif defects or quirks:
        raise Stop(f"{PREFIX}: --defect and --quirk need the simulator as target", USAGE)
    try:
        try:
            if simulator is not None:  # as the quirks that act on the profile have it
                target = simulator.adapt(load_target(path, **simulator.runtime()))
            else:
                target = load_target(path)
            harness = Harness(target)  # its driver reads the profile's [driver] table
        except ProfileError as exc:  # e.g. a client secret's variable is not set
            raise Stop(f"{PREFIX}: profile error: {exc}", USAGE) from None
        prepared = Prepared(target, harness, simulator)
    except BaseException:
        if simulator is not None:
            simulator.stop()
        raise
    try:
        prepared.harness.discovery  # noqa: B018 - fetched once, kept by the harness
    except TargetError as exc:
        prepared.close()
        text = str(exc)
        unreachable = "cannot connect" in text or "timed out" in text
        kind = "target unreachable" if unreachable else "the discovery document is unusable"
        line = f"{PREFIX}: {kind}: {text} (at {target.discovery_url})"
        raise Stop(prepared.harness.recorder.redact.message(line), UNREACHABLE) from None
    return prepared
