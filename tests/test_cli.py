"""The command line, run as a user runs it."""

from psc_testkit.simulator.defects import DEFECTS
from tests.cli import psc_testkit

run = psc_testkit


def test_list_defects_prints_name_requirement_description_per_line():
    result = run("simulator", "--list-defects")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(DEFECTS)
    assert all(len(line.split(None, 2)) == 3 for line in lines)


def test_unknown_defect_is_a_clear_error():
    result = run("simulator", "--defect", "no-such-thing")
    assert result.returncode == 2
    assert "unknown defect(s) no-such-thing" in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_profile_is_a_clear_error(tmp_path):
    profile = tmp_path / "broken.toml"
    profile.write_text('[simulator]\nseed = 1\nbogus = 2\n[[clients]]\nclient_id = "x"\n')
    result = run("simulator", "--target", str(profile))
    assert result.returncode == 2
    assert "unknown [simulator] settings ['bogus']" in result.stderr
    profile.write_text("[simulator\n")
    result = run("simulator", "--target", str(profile))
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("simulator", "--port", str(port), "--no-tls")
    assert result.returncode == 2
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_conformance_with_an_option_pytest_does_not_know_is_a_usage_error(tmp_path):
    """pytest's own usage error (its exit code 4) is psc-testkit's 2; 4 means inconclusive."""
    result = run("conformance", "--reports", str(tmp_path), "--", "--no-such-option")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "summary.json").exists()
