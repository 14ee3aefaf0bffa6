"""The state folder (client keys, certificates, the CA's private key) lives as long as the
simulator: readable while it runs, gone once it stops, whichever way it stops, unless kept."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import pytest

from psc_testkit.simulator.process import SimulatorProcess
from tests.conftest import PROFILE, start

PRIVATE = ["ca.pem", "server.key.pem", "psc-testkit-jwt.key.pem", "psc-testkit-mtls.key.pem"]


def written(process: SimulatorProcess) -> list[str]:
    return sorted(p.name for p in process.state_dir.iterdir())


def test_the_state_folder_is_there_while_it_runs_and_gone_after_stop():
    process = start()
    state = process.state_dir
    try:
        assert set(PRIVATE) <= set(written(process))
        assert (state / "psc-testkit-mtls.cert.pem").read_bytes().startswith(b"-----BEGIN")
    finally:
        process.stop()  # SIGINT, as AnnouncingChild stops every child
    assert process.process is not None and process.process.returncode == 0
    assert not state.exists()


def test_sigterm_removes_it_too_and_the_process_still_ends_by_sigterm():
    process = start()
    state = process.state_dir
    assert process.process is not None
    try:
        process.process.send_signal(signal.SIGTERM)
        assert process.process.wait(timeout=10) == -signal.SIGTERM
    finally:
        process.stop()
    assert not state.exists()


def test_a_killed_simulator_leaves_nothing_either():
    """SIGKILL leaves no chance to clean up: SimulatorProcess.stop removes the temp folder."""
    process = start()
    state = process.state_dir
    assert process.process is not None
    process.process.kill()
    process.process.wait(timeout=10)
    assert state.exists()  # the child could not remove it...
    process.stop()
    assert not state.exists()  # ...its parent did


def test_keep_state_keeps_it():
    process = start(extra=["--keep-state"])
    state = process.state_dir
    try:
        process.stop()
        assert set(PRIVATE) <= {p.name for p in state.iterdir()}
    finally:
        shutil.rmtree(state, ignore_errors=True)


@pytest.mark.parametrize("keep", [False, True])
def test_in_an_existing_state_dir_only_what_it_wrote_goes(tmp_path, keep):
    mine = tmp_path / "notes.txt"
    mine.write_text("not the simulator's")
    extra = ["--state-dir", str(tmp_path)] + (["--keep-state"] if keep else [])
    process = start(extra=extra)
    assert process.state_dir == tmp_path
    process.stop()
    assert mine.read_text() == "not the simulator's"
    left = {p.name for p in tmp_path.iterdir()}
    if keep:
        assert {"notes.txt", *PRIVATE} <= left
    else:
        assert left == {"notes.txt"}


def test_a_state_dir_it_made_goes_entirely(tmp_path):
    target = tmp_path / "made" / "here"
    process = start(extra=["--state-dir", str(target)])
    assert target.is_dir()
    process.stop()
    assert not target.exists() and (tmp_path / "made").is_dir()


def test_a_port_already_taken_leaves_no_state_folder(tmp_path):
    with SimulatorProcess(tls=True, config=PROFILE) as running:
        port = running.origin.rsplit(":", 1)[1]
        target = tmp_path / "state"
        result = subprocess.run(
            [
                *(sys.executable, "-m", "psc_testkit.simulator", "--target", str(PROFILE)),
                *("--port", port, "--state-dir", str(target)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2 and "cannot listen" in result.stderr
    assert not target.exists()
