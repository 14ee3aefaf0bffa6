"""The simulator's acr per means of login ([simulator] acr): PSC's value has changed over time
(eidas3 for a CPS card in 2021-2023 BAS tokens, eidas2 since 2026: fact sheet §2.3, §7), so a
profile says what its provider answers, and the quirk acr-eidas3-for-card plays the older one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from psc_testkit.simulator.claims import DEFAULT_ACR
from psc_testkit.simulator.process import SimulatorProcess
from psc_testkit.simulator.settings import SettingsError, load_settings
from tests.conftest import PROFILE, client_context
from tests.simulator.flows import Sim

ACR_LINE = 'acr = { cps = "eidas2", ecps = "eidas2" }'


def profile_with(tmp_path: Path, acr_line: str) -> Path:
    text = PROFILE.read_text(encoding="utf-8")
    assert ACR_LINE in text
    path = tmp_path / "simulator.toml"
    path.write_text(text.replace(ACR_LINE, acr_line), encoding="utf-8")
    return path


def test_the_default_follows_the_newest_evidence():
    assert DEFAULT_ACR == {"cps": "eidas2", "ecps": "eidas2"}
    assert load_settings(PROFILE).acr == DEFAULT_ACR


def test_one_means_may_be_set_alone(tmp_path):
    settings = load_settings(profile_with(tmp_path, 'acr = { cps = "eidas3" }'))
    assert settings.acr == {"cps": "eidas3", "ecps": "eidas2"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('acr = { card = "eidas2" }', "unknown means of login ['card']"),
        ('acr = { cps = "eidas4" }', "acr.cps = 'eidas4' is not one of"),
        ('acr = "eidas2"', "[simulator] acr is a table"),
    ],
)
def test_a_wrong_acr_table_is_refused_with_its_reason(tmp_path, line, message):
    with pytest.raises(SettingsError) as raised:
        load_settings(profile_with(tmp_path, line))
    assert message in str(raised.value)


def acr_by_means(process: SimulatorProcess) -> dict[str, tuple[str, str]]:
    """(ID token acr, introspection acr) of one login per means."""
    found = {}
    for means in ("cps", "ecps"):  # a browser each: an SSO session would keep the first means
        with httpx.Client(verify=client_context(process), timeout=10) as http:
            sim = Sim(process, http)
            tokens = sim.token(sim.code(method=means)).json()
            id_token = sim.verify(tokens["id_token"], "psc-testkit-basic")
            body = sim.back("introspection_endpoint", {"token": tokens["access_token"]}).json()
            found[means] = (id_token["acr"], body["acr"])
    return found


@pytest.fixture
def configured(tmp_path) -> Iterator[SimulatorProcess]:
    config = profile_with(tmp_path, 'acr = { cps = "eidas3", ecps = "eidas1" }')
    process = SimulatorProcess(tls=True, config=config).start()
    yield process
    process.stop()


def test_tokens_carry_the_profile_s_acr_per_means(configured):
    assert acr_by_means(configured) == {"cps": ("eidas3",) * 2, "ecps": ("eidas1",) * 2}


@pytest.fixture
def quirked() -> Iterator[SimulatorProcess]:
    process = SimulatorProcess(quirks=["acr-eidas3-for-card"], tls=True, config=PROFILE).start()
    yield process
    process.stop()


def test_the_quirk_plays_the_older_card_value(quirked):
    assert acr_by_means(quirked) == {"cps": ("eidas3",) * 2, "ecps": ("eidas2",) * 2}
