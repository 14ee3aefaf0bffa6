"""`psc-testkit rp` as a vendor runs it: one line per test, a signed report that
`verify-certification` holds to the key, one clear line and the right exit code when the
profile, the app or the run goes wrong."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import greenlet
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from psc_testkit.rp.browser import Interruption
from psc_testkit.rp.plan import PLAN
from tests.rp_apps import ROOT, free_port, naive_profile

CLI = [sys.executable, "-m", "psc_testkit"]
needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)"
)


def rp(*args: str, cwd: Path = ROOT, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "rp", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_list_shows_the_whole_plan() -> None:
    done = rp("--list")
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == len(PLAN)
    assert re.search(
        r"^refuses-unsigned-id-token +OIDCC-3.1.3.7-7 +SHOULD +reject", done.stdout, re.M
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s.replace('rejected = { selector = "#login-error" }', ""),
            "[login] rejected is required",
        ),
        (
            lambda s: s.replace('client_id = "naive-sample-app"', ""),
            "[client]: client_id is required",
        ),
        (lambda s: s.replace("timeout = 10", "timeout = -1"), "[login] timeout must be"),
        (lambda s: s + "\n[oops", "not TOML"),
    ],
)
def test_an_unusable_profile_is_one_line_and_exit_2(tmp_path: Path, edit, message: str) -> None:
    profile = naive_profile(tmp_path)
    profile.write_text(edit(profile.read_text()))
    done = rp("--app", str(profile))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr + done.stdout


def test_an_unknown_test_name_is_exit_2(tmp_path: Path) -> None:
    done = rp("--app", str(naive_profile(tmp_path)), "--test", "refuses-everything")
    assert done.returncode == 2 and "unknown RP test(s) refuses-everything" in done.stderr


def test_an_app_that_does_not_start_is_one_line_and_exit_3(tmp_path: Path) -> None:
    profile = naive_profile(tmp_path, command='["{python}", "-c", "raise SystemExit(7)"]')
    done = rp("--app", str(profile))
    assert done.returncode == 3, done.stderr
    assert "the app exited (status 7) before it answered" in done.stderr
    assert "Traceback" not in done.stderr


@needs_chromium
def test_an_app_nobody_started_is_one_line_and_exit_3(tmp_path: Path) -> None:
    profile = naive_profile(tmp_path, port=free_port())
    text = profile.read_text().replace("command = ", "# command = ")
    profile.write_text(text.replace("client_secret = ", "client_secret = "))
    done = rp("--app", str(profile))
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("psc-testkit rp: the app cannot be driven: http://127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1


@needs_chromium
def test_a_run_prints_each_verdict_and_writes_a_signed_report(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    reports = tmp_path / "reports"
    done = rp(
        "--app",
        str(naive_profile(tmp_path, "nonce")),
        "--test",
        "refuses-wrong-nonce",
        "--reports",
        str(reports),
        "--sign-key",
        str(tmp_path / "key.pem"),
    )
    assert done.returncode == 1, done.stderr  # the nonce switch: a MUST fails
    lines = done.stdout.splitlines()
    assert lines[1].startswith("PASSED         MUST   OIDCC-3.1.3.7    honest-login")
    assert lines[2].startswith(
        "FAILED         MUST   OIDCC-3.1.3.7-11 refuses-wrong-nonce: "
        "the app logged the professional in"
    )
    assert lines[-1].startswith("RP certification of naive sample app (skipping nonce): FAILED")
    assert lines[-1].endswith("rp-report.json, signed")
    # The terminal is redacted as the report is: no code, token or secret in clear.
    assert not re.search(r"(code|state|access_token)=[^«&\s]", done.stdout)
    assert "naive-secret-for-the-self-tests" not in done.stdout + done.stderr
    document = json.loads((reports / "rp-report.json").read_text())
    assert document["verdict"] == "FAILED" and document["signature"]["alg"] == "EdDSA"

    def verify_report() -> subprocess.CompletedProcess:
        report, key = str(reports / "rp-report.json"), str(tmp_path / "pub.pem")
        command = [*CLI, "verify-certification", report, "--public-key", key]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)

    verify = verify_report()
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert (
        "verified: naive sample app (skipping nonce) test, as a PSC client: FAILED" in verify.stdout
    )
    # Altered after signing: no longer verifies.
    document["tests"][1]["verdict"] = "PASSED"
    (reports / "rp-report.json").write_text(json.dumps(document))
    verify = verify_report()
    assert verify.returncode == 1 and "altered" in verify.stdout


def _started_rp(tmp_path: Path, reports: Path) -> subprocess.Popen:
    """`psc-testkit rp` on the naive app, as a terminal starts it: SIGINT at its default even if
    this test runs where it is ignored (started in the background by a shell), else Python
    ignores it too and the run goes on to its end; a hang dumps its stacks (SIGABRT)."""
    return subprocess.Popen(
        [*CLI, "rp", "--app", str(naive_profile(tmp_path)), "--reports", str(reports)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _descendants(pid: int) -> set[tuple[int, str]]:
    """Every process under `pid` (its start time too: a PID used again is another process)."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child[0])
    return found


def _still_running(processes: set[tuple[int, str]]) -> list[str]:
    alive = []
    for pid, started in processes:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if fields[19] == started and fields[0] != "Z":
            alive.append(f"{pid} {command.decode(errors='replace')[:120]}")
    return alive


def _interrupt(process: subprocess.Popen, *, before=None, bound: float = 30) -> tuple[str, str]:
    """SIGINT after the title and two verdicts (`before` first, given the process tree); the
    run must end within `bound` s and leave no process behind."""
    assert process.stdout is not None
    seen = [process.stdout.readline() for _ in range(3)]  # the title, then two verdicts
    assert seen[2].startswith("PASSED"), seen
    tree = _descendants(process.pid)
    if before is not None:
        before(process.pid)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: its stacks on stderr
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        for line in _still_running(tree):  # what holds its pipes open (a driver shares stderr)
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
        out, err = process.communicate(timeout=10)
        pytest.fail(f"still running 60 s after SIGINT: {err[-6000:]}")
    took = time.monotonic() - started
    assert took < bound, f"{took:.1f} s from SIGINT to exit"
    time.sleep(0.5)
    assert _still_running(tree) == []  # the app, the simulator, Playwright's driver, Chromium
    return out, err


@needs_chromium
def test_an_interrupted_run_keeps_what_it_judged_and_says_incomplete(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    out, err = _interrupt(_started_rp(tmp_path, reports))
    assert "INCOMPLETE" in out and "interrupted (SIGINT)" in out and "Traceback" not in err
    document = json.loads((reports / "rp-report.json").read_text())
    assert document["interrupted"] == "SIGINT" and document["verdict"] == "INCOMPLETE"
    assert 2 <= len(document["tests"]) < len(PLAN)


@needs_chromium
def test_an_interrupted_run_ends_even_when_the_browser_no_longer_answers(tmp_path: Path) -> None:
    """Playwright's driver frozen: no close can return; the driver and Chromium are killed by
    PID once the grace period is over, and the report is written all the same."""
    reports = tmp_path / "reports"
    frozen: list[int] = []

    def freeze_the_driver(pid: int) -> None:
        drivers = subprocess.run(
            ["pgrep", "-P", str(pid), "-f", "run-driver"], capture_output=True, text=True
        ).stdout.split()
        assert len(drivers) == 1, drivers
        frozen.append(int(drivers[0]))
        os.kill(frozen[0], signal.SIGSTOP)

    try:
        out, err = _interrupt(_started_rp(tmp_path, reports), before=freeze_the_driver)
    finally:
        for pid in frozen:  # should the run not have killed it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert "interrupted (SIGINT)" in out and "Traceback" not in err
    document = json.loads((reports / "rp-report.json").read_text())
    assert document["interrupted"] == "SIGINT" and len(document["tests"]) >= 2


# The handler of SIGINT and SIGTERM, without a browser. Playwright's sync API runs its asyncio
# loop in a greenlet of its own: a KeyboardInterrupt raised in there can lose a task's wake-up
# or bytes from the driver's pipe, after which every call (closing included) waits forever.


def test_a_signal_in_the_runs_own_code_raises_at_once() -> None:
    interruption = Interruption()
    with pytest.raises(KeyboardInterrupt):
        interruption.handler(signal.SIGTERM, None)
    assert interruption.signal == "SIGTERM"


def test_a_signal_in_playwrights_loop_is_raised_in_the_waiting_code_not_in_the_loop() -> None:
    interruption = Interruption()
    loop = asyncio.new_event_loop()
    went_on: list[str] = []

    async def dispatch() -> None:  # what Playwright's loop runs while the run's code waits
        interruption.handler(signal.SIGINT, None)  # the signal lands here: nothing raised
        went_on.append("the interrupted callback finished")
        await asyncio.sleep(0.05)
        went_on.append("the loop ran on")

    dispatcher = greenlet.greenlet(lambda: loop.run_until_complete(dispatch()))
    try:
        with pytest.raises(KeyboardInterrupt):
            dispatcher.switch()  # the run's code waiting in a Playwright call
        assert interruption.signal == "SIGINT"
        assert went_on == ["the interrupted callback finished"]
        dispatcher.switch()  # the next call: the loop is whole and goes on
        assert went_on[-1] == "the loop ran on" and dispatcher.dead
    finally:
        loop.close()


def test_once_the_run_winds_up_a_signal_hurries_it_and_raises_nothing() -> None:
    interruption = Interruption()
    interruption.winding_up = True
    interruption.handler(signal.SIGINT, None)
    assert interruption.hurry.is_set() and interruption.signal == "SIGINT"
    interruption.check()  # nothing raised either


def test_a_sigint_ignored_when_the_command_starts_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    term = signal.getsignal(signal.SIGTERM)
    try:
        interruption = Interruption()
        restore = interruption.install()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == interruption.handler
        restore()
        assert signal.getsignal(signal.SIGTERM) == term
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, term)
