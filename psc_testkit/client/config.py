"""Target profiles: which provider to test, with which clients, users and login driver.

A profile is a TOML file (`targets/*.toml`); `PSC_*` environment variables override its main
fields, and secrets come only from the environment (`client_secret_env`), except in the
simulator's own profile whose secrets are simulator-only values.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the field and says why."""


@dataclass(frozen=True)
class ClientProfile:
    client_id: str
    auth_method: str
    redirect_uri: str
    post_logout_redirect_uri: str | None = None
    secret: str | None = None
    private_key_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    ciba: bool = False
    userinfo_signed: bool = False
    secret_env: str | None = None  # where the secret comes from, for messages

    @property
    def public(self) -> bool:
        return self.auth_method == "none"


STEP_ACTIONS = ("fill", "click", "wait", "wait_url")
STEP_KEYS = {*STEP_ACTIONS, "value", "optional", "match"}


@dataclass(frozen=True)
class LoginStep:
    """One step of the browser driver: `fill` (with `value`), `click`, `wait` (a selector) or
    `wait_url` (a substring of the page URL)."""

    action: str
    target: str
    value: str | None = None
    optional: bool = False  # skipped when its element is absent (a consent page, say)
    match: str | None = None  # run only when the page URL contains this
    # The value holds a credential ("{password}" or "{env:NAME}"): the browser driver never
    # types it twice in one login.
    secret: bool = False

    def text(self) -> str:
        """The step as the profile wrote it, for messages; not its value (a password, maybe)."""
        parts = [f"{self.action} = {self.target!r}"]
        if self.optional:
            parts.append("optional = true")
        if self.match is not None:
            parts.append(f"match = {self.match!r}")
        return ", ".join(parts)


@dataclass(frozen=True)
class DriverProfile:
    name: str = "simulator"
    # Test professionals (idNat) to log in as; the simulator driver fetches some if empty.
    users: tuple[str, ...] = ()
    # Each user's own password, where the profile gives one (users = [{ login, password }]):
    # what "{password}" stands for in the fields and steps when that user logs in.
    passwords: dict[str, str] = field(default_factory=dict)
    method: str = "cps"  # cps | ecps: how the simulated professional authenticates
    # html_form: form fields to fill, "{user}" standing for the professional's identifier.
    fields: dict[str, str] = field(default_factory=dict)
    max_steps: int = 10
    # browser: what a person would do, step by step; none: the person does it in the window.
    steps: tuple[LoginStep, ...] = ()
    headless: bool = True
    chromium: str = "/usr/bin/chromium"
    step_timeout: float = 30.0  # seconds each browser step may wait
    login_timeout: float = 300.0  # seconds a person (manual, CIBA, visible browser) may take
    insecure_tls: bool = False  # browser: accept any certificate (only when asked for)
    # manual: the listener's certificate when the redirect URI is https.
    listener_cert: Path | None = None
    listener_key: Path | None = None


@dataclass(frozen=True)
class Target:
    name: str
    discovery_url: str
    scopes: tuple[str, ...] = ("openid", "scope_all")
    acr_values: str | None = "eidas1"
    clients: tuple[ClientProfile, ...] = ()
    driver: DriverProfile = field(default_factory=DriverProfile)
    ca_file: Path | None = None
    timeout: float = 10.0
    simulator: bool = False
    control_origin: str | None = None  # the simulator's control API, when the target is it
    # Where the checks answer CIBA requests as the professional's phone would (POST
    # {"login_hint", "decision"}): a Keycloak's authentication channel served by the suite.
    ciba_phone_url: str | None = None
    # PSC: the sandbox's EDIT test identities are accepted as idNat only where this is set.
    sandbox: bool = False
    # PSC claim checks run over this many test professionals, not one.
    psc_sample_size: int = 3
    # Production: no check that needs a user login (or asks a user's phone) runs, and no load.
    safe: bool = False
    # Values the driver read from the environment ({env:NAME}): redacted like client secrets.
    driver_secrets: tuple[str, ...] = ()
    # Hosts besides the discovery URL's that may receive credentials or a login (PSC's wallet.*
    # host); "*.example.org" names every subdomain. Nothing else is sent a secret.
    trusted_hosts: tuple[str, ...] = ()
    # Credentials over plain HTTP to a host off loopback: refused unless this is set.
    allow_plain_http: bool = False

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)

    def client(self, auth_method: str | None = None) -> ClientProfile | None:
        """The first client registered for `auth_method` (or the first one at all)."""
        for client in self.clients:
            if auth_method is None or client.auth_method == auth_method:
                return client
        return None

    @property
    def primary(self) -> ClientProfile:
        return self.clients[0]

    @property
    def secondary(self) -> ClientProfile | None:
        """Another confidential client, to prove codes and tokens are bound to their client."""
        for client in self.clients[1:]:
            if not client.public and client.auth_method != "tls_client_auth":
                return client
        return None


# Every field a profile may hold, table by table. load_target rejects any other: a misspelt
# field would otherwise be ignored without a word, and a run would use a default the user
# thought they had changed (a production profile whose "safe" was typed "sfae", say).
KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "target": frozenset(
        {
            "name",
            "discovery_url",
            "scopes",
            "acr_values",
            "ca_file",
            "timeout",
            "simulator",
            "sandbox",
            "psc_sample_size",
            "safe",
            "trusted_hosts",
            "allow_plain_http",
            "ciba_phone_url",
        }
    ),
    # Free-form sub-tables, checked elsewhere: fields (form field names), steps (_step), and
    # users' entries (_users). passwords are read from users, not a field of their own.
    "driver": frozenset(f.name for f in fields(DriverProfile)) - {"passwords"},
    "clients": frozenset(
        {
            "client_id",
            "auth_method",
            "redirect_uri",
            "redirect_uris",
            "post_logout_redirect_uri",
            "post_logout_redirect_uris",
            "client_secret",
            "client_secret_env",
            "private_key_file",
            "tls_cert_file",
            "tls_key_file",
            "ciba",
            "userinfo_signed_response_alg",
        }
    ),
    # Read by the simulator (simulator/settings.py) and the load command (loadrun.py).
    "simulator": frozenset(
        {
            "seed",
            "population",
            "tls",
            "ecps_approval_delay",
            "access_token_lifetime",
            "refresh_token_lifetime",
            "session_max",
            "session_idle",
            "code_lifetime",
            "ciba_expires_in",
            "ciba_interval",
            "awkward_secrets",
            "acr",
        }
    ),
    "load": frozenset(
        {
            "users",
            "spawn_rate",
            "run_time",
            "shape",
            "slos",
            "weights",
            "think",
            "probe_rate",
            "refresh",
            "arrival_rate",
            "exclusive_accounts",
            "require_proof",
            "logout",
        }
    ),
    # Read by certification.py: what a certificate names and the requirements it covers.
    "certification": frozenset({"product", "version", "tester", "scope", "exclude"}),
}


def _unknown(
    key: str, known: frozenset[str] | set[str], where: str, what: str = "field"
) -> ProfileError:
    """The error for a field nobody reads, with the field the user most likely meant."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    owners = [table for table, names in KNOWN_FIELDS.items() if key in names]
    if close:
        hint = f" (did you mean {close[0]!r}?)"
    elif owners:
        hint = f" (it belongs in [{owners[0]}])"
    else:
        hint = ""
    return ProfileError(f"{where}: unknown {what} {key!r}{hint}")


def check_fields(data: dict, path: Path) -> None:
    """Refuse any table or field of the profile that KNOWN_FIELDS does not list."""
    for key, value in data.items():
        if key not in KNOWN_FIELDS:
            what = "table" if isinstance(value, dict | list) else "field"
            raise _unknown(key, set(KNOWN_FIELDS), f"{path}: top level", what)
        rows = value if key == "clients" and isinstance(value, list) else [value]
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                shape = "[[clients]] entries" if key == "clients" else f"a table [{key}]"
                raise ProfileError(f"{path}: {key} must be {shape}")
            where = f"{path}: [[clients]] #{index + 1}" if key == "clients" else f"{path}: [{key}]"
            for name in row:
                if name not in KNOWN_FIELDS[key]:
                    raise _unknown(name, KNOWN_FIELDS[key], where)


def _path(raw: object, substitutions: dict[str, str], base: Path) -> Path | None:
    if not raw:
        return None
    text = str(raw).format(**substitutions)
    path = Path(text)
    return path if path.is_absolute() else base / path


def _client(
    raw: dict, index: int, subst: dict[str, str], base: Path, require_secrets: bool = True
) -> ClientProfile:
    where = f"clients[{index}]"
    for key in ("client_id", "auth_method"):
        if key not in raw:
            raise ProfileError(f"{where}: missing field {key!r}")
    redirect = raw.get("redirect_uri") or next(iter(raw.get("redirect_uris", [])), None)
    if not redirect:
        raise ProfileError(f"{where} ({raw['client_id']}): needs redirect_uri")
    secret = raw.get("client_secret")
    if raw.get("client_secret_env"):
        secret = os.environ.get(raw["client_secret_env"]) or None  # set but empty: not set
        needed = require_secrets and raw["auth_method"].startswith("client_secret")
        if secret is None and needed:
            raise ProfileError(
                f"{where} ({raw['client_id']}): set the environment variable "
                f"{raw['client_secret_env']} to the client secret"
            )
    post_logout = raw.get("post_logout_redirect_uri") or next(
        iter(raw.get("post_logout_redirect_uris", [])), None
    )
    return ClientProfile(
        client_id=str(raw["client_id"]),
        auth_method=str(raw["auth_method"]),
        redirect_uri=str(redirect),
        post_logout_redirect_uri=post_logout,
        secret=secret,
        private_key_file=_path(raw.get("private_key_file"), subst, base),
        tls_cert_file=_path(raw.get("tls_cert_file"), subst, base),
        tls_key_file=_path(raw.get("tls_key_file"), subst, base),
        ciba=bool(raw.get("ciba", False)),
        userinfo_signed=bool(raw.get("userinfo_signed_response_alg")),
        secret_env=raw.get("client_secret_env") or None,
    )


def _step(raw: object, where: str) -> LoginStep:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: a step is a table ([[driver.steps]])")
    unknown = sorted(set(raw) - STEP_KEYS)
    if unknown:
        raise ProfileError(
            f"{where}: unknown key {unknown[0]!r} (expected {', '.join(STEP_ACTIONS)}, "
            "value, optional, match)"
        )
    actions = [a for a in STEP_ACTIONS if a in raw]
    if not actions:
        raise ProfileError(f"{where}: no action: give one of {', '.join(STEP_ACTIONS)}")
    if len(actions) > 1:
        raise ProfileError(f"{where}: two actions ({', '.join(actions)}): one action per step")
    action = actions[0]
    target = raw[action]
    if not isinstance(target, str) or not target.strip():
        raise ProfileError(f"{where}: {action} needs a non-empty string")
    value = raw.get("value")
    if action == "fill" and not isinstance(value, str):
        raise ProfileError(f'{where}: fill needs a value (e.g. value = "{{user}}")')
    if action != "fill" and value is not None:
        raise ProfileError(f"{where}: value goes with fill, not {action}")
    secret = isinstance(value, str) and (
        "{password}" in value or ENV_REFERENCE.search(value) is not None
    )
    optional, match = raw.get("optional", False), raw.get("match")
    if not isinstance(optional, bool):
        raise ProfileError(f"{where}: optional is true or false")
    if match is not None and (not isinstance(match, str) or not match):
        raise ProfileError(f"{where}: match is a non-empty part of a URL")
    return LoginStep(action, target, value, optional, match, secret)


def _seconds(raw: dict, key: str, default: float, where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ProfileError(f"{where}: {key} must be a positive number of seconds")
    return float(value)


USER_KEYS = {"login", "password"}


def _users(raw: dict, where: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """[driver] users: identifiers ("899700000005"), or tables that give a user's own password
    ({ login = "test-pro-1", password = "{env:PRO1_PASSWORD}" }), mixed as needed."""
    value = raw.get("users", [])
    if not isinstance(value, list):
        raise ProfileError(f'{where}: users is a list (["alice"] or [{{ login = "alice" }}])')
    logins: list[str] = []
    passwords: dict[str, str] = {}
    for index, entry in enumerate(value):
        at = f"{where}: users[{index}]"
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - USER_KEYS)
            if unknown:
                raise _unknown(unknown[0], USER_KEYS, at, "key")
            login, password = entry.get("login"), entry.get("password")
            if not isinstance(login, str) or not login:
                raise ProfileError(f"{at}: login is the user's identifier, a non-empty string")
            if password is not None:
                if not isinstance(password, str) or not password:
                    raise ProfileError(f'{at}: password is a string ("{{env:NAME}}")')
                passwords[login] = password
        elif isinstance(entry, str) and entry:
            login = entry
        else:
            raise ProfileError(f"{at}: a user is an identifier or a table {{ login, password }}")
        if login in logins:
            raise ProfileError(f"{at}: {login!r} is listed twice")
        logins.append(login)
    fields_table = raw.get("fields", {})
    uses = (
        [v for v in fields_table.values() if "{password}" in str(v)]
        if isinstance(fields_table, dict)
        else []
    )
    uses += [
        s.get("value")
        for s in raw.get("steps", [])
        if isinstance(s, dict) and "{password}" in str(s.get("value", ""))
    ]
    if uses:
        bare = [login for login in logins if login not in passwords]
        if bare:
            raise ProfileError(
                f"{where}: the fields or steps type {{password}}, but the user {bare[0]!r} has "
                'none: users = [{ login = "...", password = "{env:NAME}" }]'
            )
    elif passwords:
        raise ProfileError(
            f"{where}: users carry passwords, but no [driver.fields] value or fill step types "
            '"{password}": they would never be used'
        )
    return tuple(logins), passwords


def _driver(raw: dict, path: Path, subst: dict[str, str], base: Path) -> DriverProfile:
    where = f"{path}: [driver]"
    users = os.environ.get("PSC_USERS")
    steps = raw.get("steps", [])
    if not isinstance(steps, list):
        raise ProfileError(f"{where}: steps is an array of tables ([[driver.steps]])")
    logins, passwords = _users(raw, where)
    headless = raw.get("headless", True)
    if not isinstance(headless, bool):
        raise ProfileError(f"{where}: headless is true or false")
    if raw.get("name") == "browser" and not steps and headless:
        raise ProfileError(
            f"{where}: the browser driver needs [[driver.steps]], or headless = false for a "
            "person to log in in the window"
        )
    cert, key = raw.get("listener_cert"), raw.get("listener_key")
    if bool(cert) != bool(key):
        raise ProfileError(f"{where}: listener_cert and listener_key go together")
    return DriverProfile(
        name=str(raw.get("name", "simulator")),
        users=tuple(users.split(",")) if users else logins,
        passwords=passwords,
        method=str(raw.get("method", "cps")),
        fields=dict(raw.get("fields", {})),
        max_steps=int(raw.get("max_steps", 10)),
        steps=tuple(_step(s, f"{path}: driver.steps[{i}]") for i, s in enumerate(steps)),
        headless=headless,
        # The environment wins, as for the other PSC_* settings: one machine, one Chromium.
        chromium=os.environ.get("PSC_CHROMIUM") or str(raw.get("chromium", "/usr/bin/chromium")),
        step_timeout=_seconds(raw, "step_timeout", 30.0, where),
        login_timeout=_seconds(raw, "login_timeout", 300.0, where),
        insecure_tls=bool(raw.get("insecure_tls", False)),
        listener_cert=_path(cert, subst, base),
        listener_key=_path(key, subst, base),
    )


ENV_REFERENCE = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


def _driver_env(
    driver: DriverProfile, where: str, require: bool
) -> tuple[DriverProfile, tuple[str, ...]]:
    """Replace `{env:NAME}` in the form fields, browser steps and users' passwords by the
    variable's value: a test user's password stays out of the file, as client secrets do.
    Returns the values too, and every user's password (written in the file or not): all are
    redacted like client secrets."""
    found: list[str] = []

    def expand(text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                if not require:
                    return match.group(0)
                raise ProfileError(f"{where}: set the environment variable {name}")
            found.append(os.environ[name])
            return os.environ[name]

        return ENV_REFERENCE.sub(value, text)

    expanded = replace(
        driver,
        fields={k: expand(str(v)) for k, v in driver.fields.items()},
        steps=tuple(replace(s, value=expand(s.value)) if s.value else s for s in driver.steps),
        passwords={login: expand(p) for login, p in driver.passwords.items()},
    )
    found.extend(p for p in expanded.passwords.values() if not ENV_REFERENCE.search(p))
    return expanded, tuple(dict.fromkeys(found))


def _flag(raw: dict, key: str, where: str) -> bool:
    # A string ("false") would be true for bool(): a safety switch must be a real boolean.
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise ProfileError(f"{where}: {key} is true or false, not {value!r}")
    return value


HOST = re.compile(r"^(\*\.)?[A-Za-z0-9._-]+$|^\[[0-9A-Fa-f:.]+\]$")


def _hosts(raw: dict, where: str) -> tuple[str, ...]:
    value = raw.get("trusted_hosts", [])
    if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
        raise ProfileError(f'{where}: trusted_hosts is a list of host names (["wallet.example"])')
    for host in value:
        if not HOST.match(host):
            hint = (
                " (a host name, without scheme, port or path)" if "/" in host or ":" in host else ""
            )
            raise ProfileError(f"{where}: trusted_hosts: {host!r} is not a host name{hint}")
    return tuple(h.lower().strip("[]") for h in value)


def load_target(path: Path, *, require_secrets: bool = True, **runtime: str) -> Target:
    """Read a profile. `runtime` fills what is known only at run time: for the simulator,
    `discovery_url`, `state` (its folder of generated keys), `ca_file` and `control_origin`.
    With `require_secrets=False` a client whose secret variable is unset is still read (its
    secret None), for `profile check` to report it among the other findings."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    check_fields(data, path)
    table = data.get("target", {})
    base = path.parent.resolve()
    subst = {"state": runtime.get("state", "")}
    discovery = (
        runtime.get("discovery_url")
        or os.environ.get("PSC_DISCOVERY_URL")
        or table.get("discovery_url")
    )
    if not discovery:
        raise ProfileError(f"{path}: [target] needs discovery_url (or PSC_DISCOVERY_URL)")
    clients = tuple(
        _client(raw, i, subst, base, require_secrets)
        for i, raw in enumerate(data.get("clients", []))
    )
    if not clients:
        raise ProfileError(f"{path}: at least one [[clients]] entry is needed")
    if runtime.get("state"):
        # mTLS clients the simulator could not register (no TLS) are left out.
        clients = tuple(
            c
            for c in clients
            if c.auth_method != "tls_client_auth" or (c.tls_cert_file and c.tls_cert_file.exists())
        )
    driver = _driver(data.get("driver", {}), path, subst, base)
    driver, driver_secrets = _driver_env(driver, f"{path}: [driver]", require_secrets)
    ca = runtime.get("ca_file") or os.environ.get("PSC_CA_FILE") or table.get("ca_file")
    scopes = table.get("scopes", ["openid", "scope_all"])
    return Target(
        name=str(table.get("name", path.stem)),
        discovery_url=str(discovery),
        scopes=tuple(scopes.split() if isinstance(scopes, str) else scopes),
        acr_values=table.get("acr_values", "eidas1") or None,
        clients=clients,
        driver=driver,
        ca_file=_path(ca, subst, base),
        timeout=float(table.get("timeout", 10.0)),
        simulator=bool(table.get("simulator", False)),
        control_origin=runtime.get("control_origin"),
        ciba_phone_url=table.get("ciba_phone_url"),
        sandbox=bool(table.get("sandbox", False)),
        psc_sample_size=int(table.get("psc_sample_size", 3)),
        safe=_flag(table, "safe", f"{path}: [target]"),
        driver_secrets=driver_secrets,
        trusted_hosts=_hosts(table, f"{path}: [target]"),
        allow_plain_http=_flag(table, "allow_plain_http", f"{path}: [target]"),
    )
