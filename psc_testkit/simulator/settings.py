"""The simulator's settings and registered clients, read from a target profile (TOML)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from psc_testkit.simulator.claims import ACR_LEVELS, AUTH_MODES, DEFAULT_ACR

AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "tls_client_auth",
    "none",
)


class SettingsError(ValueError):
    """A profile that cannot configure the simulator; the message says which field and why."""


@dataclass(frozen=True)
class ClientSettings:
    client_id: str
    auth_method: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()
    client_secret: str | None = None
    ciba: bool = False
    userinfo_signed_response_alg: str | None = None


@dataclass(frozen=True)
class SimulatorSettings:
    seed: int = 1
    population: int = 10_000
    tls: bool = False
    ecps_approval_delay: float = 0.0
    access_token_lifetime: int = 120
    refresh_token_lifetime: int = 1800
    session_max: int = 4 * 3600
    session_idle: int = 30 * 60
    code_lifetime: int = 60
    ciba_expires_in: int = 120
    ciba_interval: int = 5
    # Every opaque value issued holds + / = & % \ and non-ASCII characters (--awkward-secrets).
    awkward_secrets: bool = False
    # acr per means of login ({cps = "eidas2", ecps = "eidas2"}): PSC's value has changed over
    # time (fact sheet §2.3, §7), so a profile may set what its provider answers.
    acr: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ACR))
    clients: tuple[ClientSettings, ...] = field(default_factory=tuple)


def _client(raw: dict, index: int) -> ClientSettings:
    where = f"clients[{index}]"
    try:
        client_id = str(raw["client_id"])
        method = str(raw["auth_method"])
        redirect_uris = tuple(str(u) for u in raw["redirect_uris"])
    except KeyError as missing:
        raise SettingsError(f"{where}: missing field {missing}") from None
    if method not in AUTH_METHODS:
        raise SettingsError(f"{where}: auth_method {method!r} is not one of {AUTH_METHODS}")
    secret = raw.get("client_secret")
    if method.startswith("client_secret") and not secret:
        raise SettingsError(f"{where} ({client_id}): {method} needs a client_secret")
    alg = raw.get("userinfo_signed_response_alg")
    if alg not in (None, "RS256"):
        raise SettingsError(f"{where}: the simulator signs userinfo with RS256 only, not {alg!r}")
    return ClientSettings(
        client_id=client_id,
        auth_method=method,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=tuple(raw.get("post_logout_redirect_uris", ())),
        client_secret=secret,
        ciba=bool(raw.get("ciba", False)),
        userinfo_signed_response_alg=alg,
    )


def _acr(raw: object, path: Path) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise SettingsError(f'{path}: [simulator] acr is a table, e.g. {{ cps = "eidas2" }}')
    unknown = sorted(set(raw) - set(AUTH_MODES))
    if unknown:
        raise SettingsError(
            f"{path}: [simulator] acr: unknown means of login {unknown}; "
            f"expected {sorted(AUTH_MODES)}"
        )
    for means, level in raw.items():
        if level not in ACR_LEVELS:
            raise SettingsError(
                f"{path}: [simulator] acr.{means} = {level!r} is not one of {ACR_LEVELS}"
            )
    return {**DEFAULT_ACR, **raw}


def load_settings(path: Path, **overrides: object) -> SimulatorSettings:
    """Read the `[simulator]` table and `[[clients]]` of a profile; keyword overrides win."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:  # the path once: "x.toml: No such file or directory"
        raise SettingsError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    table = dict(data.get("simulator", {}))
    known = {f.name for f in fields(SimulatorSettings)} - {"clients"}
    unknown = set(table) - known
    if unknown:
        raise SettingsError(f"{path}: unknown [simulator] settings {sorted(unknown)}")
    table.update({k: v for k, v in overrides.items() if v is not None})
    if "acr" in table:
        table["acr"] = _acr(table["acr"], path)
    clients = tuple(_client(raw, i) for i, raw in enumerate(data.get("clients", [])))
    ids = [c.client_id for c in clients]
    if len(set(ids)) != len(ids):
        raise SettingsError(f"{path}: client_id values must be unique")
    return SimulatorSettings(clients=clients, **table)
