"""The command line has no surprises: `--version`, the profile as `--target FILE` everywhere
(old spellings still work, with one note), help text on every option, `-- pytest args` in the
usage of the commands that take them, and messages that name a path once."""

import argparse
import re

import pytest

from psc_testkit import __version__, cli
from psc_testkit.simulator import command as simulator_command
from psc_testkit.simulator.process import SimulatorProcess
from tests.cli import psc_testkit
from tests.conftest import PROFILE

NOTE = "psc-testkit: note: {} is deprecated; use --target FILE"


def test_version_prints_name_and_version_and_exits_0():
    result = psc_testkit("--version", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"psc-testkit {__version__}\n"
    assert result.stderr == ""


def actions_without_help(parser: argparse.ArgumentParser, path: str) -> list[str]:
    """Every action of `parser` and of its subcommands, at any depth, that has no help."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        if not (action.help or "").strip():
            missing.append(f"{path} {name}")
        if isinstance(action, argparse._SubParsersAction):
            missing += [
                f"{path} {choice.dest}"
                for choice in action._choices_actions
                if not (choice.help or "").strip()
            ]
            for command, subparser in action.choices.items():
                missing += actions_without_help(subparser, f"{path} {command}")
    return missing


def test_every_option_and_positional_has_help_text():
    root = cli.parser()
    assert actions_without_help(root, "psc-testkit") == []
    # The walk reached every subcommand, the nested `profile check` included.
    (commands,) = [a for a in root._actions if isinstance(a, argparse._SubParsersAction)]
    assert {"simulator", "rp", "conformance", "load", "interop", "profile"} <= set(commands.choices)
    (profile,) = [
        a for a in commands.choices["profile"]._actions if isinstance(a, argparse._SubParsersAction)
    ]
    assert "check" in profile.choices


def test_the_simulators_own_parser_has_help_on_every_option_too():
    """`python -m psc_testkit.simulator` (what SimulatorProcess starts) shares the options."""
    own = simulator_command.parser()
    assert actions_without_help(own, "python -m psc_testkit.simulator") == []
    sub = cli.parser()._subparsers._group_actions[0].choices["simulator"]
    options = {o for a in own._actions for o in a.option_strings}
    assert options == {o for a in sub._actions for o in a.option_strings}


@pytest.mark.parametrize("command", ["conformance", "interop"])
def test_usage_shows_the_pytest_arguments_after_the_double_dash(command):
    result = psc_testkit(command, "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"usage: psc-testkit {command} [options] [-- pytest args]"
    # Still readable: the options are listed, each with its help.
    assert "  --reports " in result.stdout and "show this help message" in result.stdout


def test_commands_that_run_no_pytest_refuse_arguments_after_the_double_dash(capsys):
    assert cli.main(["validate-claims", "x.json", "--", "-k", "x"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "psc-testkit validate-claims: arguments after -- go to pytest, which only conformance "
        "and interop run\n"
    )


# --- the profile is --target FILE ---------------------------------------------------------


def broken_profile(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[simulator]\nseed = 1\nbogus = 2\n[[clients]]\nclient_id = "x"\n')
    return path


def test_simulator_takes_its_profile_as_target(tmp_path):
    path = broken_profile(tmp_path)
    result = psc_testkit("simulator", "--target", str(path), timeout=60)
    assert result.returncode == 2
    assert result.stderr == (
        f"psc-testkit simulator: {path}: unknown [simulator] settings ['bogus']\n"
    )


def test_simulator_starts_with_target():
    """`python -m psc_testkit.simulator --target FILE`, as SimulatorProcess runs it."""
    with SimulatorProcess(tls=False, extra_args=["--target", str(PROFILE)]) as sim:
        assert sim.issuer.startswith("http://127.0.0.1:")
        assert "deprecated" not in sim.child.stderr()


def test_simulator_help_parses_with_target():
    result = psc_testkit("simulator", "--target", str(PROFILE), "--help", timeout=60)
    assert result.returncode == 0 and "--target FILE" in result.stdout, result.stderr


def test_simulator_config_still_works_with_one_note(tmp_path):
    path = broken_profile(tmp_path)
    result = psc_testkit("simulator", "--config", str(path), "--config", str(path), timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        NOTE.format("--config FILE"),  # once, however often it is given
        f"psc-testkit simulator: {path}: unknown [simulator] settings ['bogus']",
    ]


def test_simulator_config_and_target_naming_different_files_is_a_usage_error(tmp_path):
    other = tmp_path / "other.toml"
    result = psc_testkit("simulator", "--config", str(PROFILE), "--target", str(other), timeout=60)
    assert result.returncode == 2
    assert result.stderr == (
        f"psc-testkit simulator: --config FILE ({PROFILE}) and --target ({other}) name "
        "different profiles: give --target FILE only\n"
    )
    # The same file twice is no conflict: the old spelling's note, then the list.
    result = psc_testkit(
        "simulator", "--config", str(PROFILE), "--target", str(PROFILE), "--list-quirks"
    )
    assert result.returncode == 0 and result.stderr == NOTE.format("--config FILE") + "\n"


def verdict_steps(stdout: str) -> list[str]:
    """The status and step of each line, and the verdict: what does not vary between runs
    (ports, times)."""
    lines = stdout.splitlines()
    return [" ".join(line.split()[:2]) for line in lines[:-1]] + [lines[-1]]


def test_profile_check_with_target_and_with_the_old_positional():
    new = psc_testkit("profile", "check", "--target", str(PROFILE), timeout=120)
    assert new.returncode == 0, new.stdout + new.stderr
    assert new.stderr == ""
    assert new.stdout.splitlines()[-1].startswith("verdict: simulator is ready")
    old = psc_testkit("profile", "check", str(PROFILE), timeout=120)
    assert old.returncode == 0, old.stdout + old.stderr
    assert old.stderr == NOTE.format("profile check FILE") + "\n"
    assert verdict_steps(old.stdout) == verdict_steps(new.stdout)


def test_profile_check_positional_and_target_naming_different_files_is_a_usage_error(
    tmp_path, capsys
):
    other = tmp_path / "other.toml"
    code = cli.main(["profile", "check", str(PROFILE), "--target", str(other)])
    assert code == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith("psc-testkit profile check: profile check FILE (")
    assert err.endswith("give --target FILE only\n")


# --- messages name a path once -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "check", "--target", "{missing}"],
        ["validate-claims", "{missing}"],
        ["verify-certification", "{missing}"],
        ["conformance", "--reveal-test-identities", "--target", "{missing}"],
    ],
    ids=lambda argv: argv[0],
)
def test_an_unreadable_file_is_named_once(tmp_path, capsys, argv):
    missing = str(tmp_path / "no-such-file.toml")
    code = cli.main([a.format(missing=missing) for a in argv])
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.count(missing) == 1, err
    assert "Errno" not in err and re.search(r"No such file or directory\n$", err), err


# --- conformance --reveal-test-identities ---------------------------------------------------


def no_pytest(*args, **kwargs):
    raise AssertionError("pytest ran")


@pytest.mark.parametrize("target", [None, str(PROFILE)], ids=["default", "explicit"])
def test_reveal_test_identities_is_refused_without_a_sandbox_profile(
    tmp_path, capsys, monkeypatch, target
):
    monkeypatch.setattr(pytest, "main", no_pytest)
    argv = ["conformance", "--reveal-test-identities", "--reports", str(tmp_path / "r")]
    code = cli.main(argv + (["--target", target] if target else []))
    assert code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "psc-testkit conformance: --reveal-test-identities needs a profile with sandbox = true\n"
    )
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_reveal_test_identities_reaches_pytest_with_a_sandbox_profile(tmp_path, monkeypatch):
    profile = tmp_path / "sandbox.toml"
    text = PROFILE.read_text(encoding="utf-8")
    assert "\nsandbox = false" in text
    profile.write_text(text.replace("\nsandbox = false", "\nsandbox = true"), encoding="utf-8")
    seen: list[list[str]] = []
    monkeypatch.setattr(pytest, "main", lambda argv: seen.append(argv) or 0)
    argv = ["--target", str(profile), "--reports", str(tmp_path), "--no-allure"]
    assert cli.main(["conformance", "--reveal-test-identities", *argv]) == 0
    assert cli.main(["conformance", *argv]) == 0
    assert "--psc-reveal-test-identities" in seen[0]
    assert "--psc-reveal-test-identities" not in seen[1]
