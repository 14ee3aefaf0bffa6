"""App profiles: how to reach a vendor's app, begin a login in it, and tell its outcomes apart.

```toml
[app]
name = "Cabinet Dupont"            # names the app in the report
version = "2.3.1"
start_url = "http://127.0.0.1:8600/"
# Optional: psc-testkit starts the app after the simulator (from the current folder) and stops
# it at the end. Its environment gets [app.env], where {issuer}, {ca_file}, {client_id},
# {client_secret}, {python} and {port} (of start_url) are replaced.
command = ["{python}", "examples/naive_app.py"]
ready_url = "http://127.0.0.1:8600/health"   # polled until it answers 2xx (default start_url)
jwks_refetch_limit = 0                        # s between two JWKS fetches the app allows itself

[app.env]
PSC_ISSUER = "{issuer}"

[login]
steps = [{ click = "#psc-login" }]            # from start_url to the provider's login page
# After login, the page shows the professional: {given_name} {family_name} {idNat}.
logged_in = { selector = "#who", text = "{given_name} {family_name}" }
rejected = { selector = "#login-error" }       # and/or text = "...", status = 401
timeout = 10                                   # seconds to wait for either marker

[logout]                                       # optional: RP-initiated logout
steps = [{ click = "#logout" }]
logged_out = { selector = "#logged-out" }      # the page the app shows once back

[client]                                       # the registration the app uses at the simulator
client_id = "naive-sample-app"
auth_method = "client_secret_basic"
client_secret_env = "NAIVE_APP_SECRET"         # read from the environment; made up when unset
redirect_uris = ["http://127.0.0.1:8600/callback"]
post_logout_redirect_uris = ["http://127.0.0.1:8600/logged-out"]

[simulator]
port = 0                                       # 0: any free port ({issuer} tells the app)
wallet_port = 0
```
"""

from __future__ import annotations

import os
import secrets
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
STEP_KINDS = ("click", "goto", "fill", "wait_for")


class AppProfileError(ValueError):
    """An app profile that cannot be used: one line naming the field."""


@dataclass(frozen=True)
class Marker:
    selector: str | None = None
    text: str | None = None
    status: int | None = None

    def describe(self) -> str:
        parts = []
        if self.selector:
            parts.append(f"selector {self.selector!r}")
        if self.text:
            parts.append(f"text {self.text!r}")
        if self.status:
            parts.append(f"status {self.status}")
        return " and ".join(parts)


@dataclass(frozen=True)
class AppProfile:
    path: Path
    name: str
    version: str
    start_url: str
    steps: tuple[dict, ...]
    logged_in: Marker
    rejected: Marker
    client_id: str
    auth_method: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()
    client_secret: str | None = None
    client_secret_env: str | None = None
    command: tuple[str, ...] = ()
    ready_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    acr_values: str = "eidas1"
    port: int = 0
    wallet_port: int = 0
    userinfo_signed: bool = False
    # The app fetches the JWKS again at most once per this many seconds (openid-client: 60):
    # before serving a new signing key, the run waits that long since the app's last fetch.
    jwks_refetch_limit: float = 0.0
    logout_steps: tuple[dict, ...] = ()
    logged_out: Marker | None = None

    @property
    def app_port(self) -> int:
        return urlsplit(self.start_url).port or 80

    def simulator_config(self) -> str:
        """The simulator profile (TOML) that registers this app's client, and nothing else."""
        lines = ["[simulator]", "tls = true", "", "[[clients]]"]
        lines.append(f"client_id = {_toml(self.client_id)}")
        lines.append(f"auth_method = {_toml(self.auth_method)}")
        lines.append(f"redirect_uris = [{', '.join(map(_toml, self.redirect_uris))}]")
        uris = ", ".join(map(_toml, self.post_logout_redirect_uris))
        lines.append(f"post_logout_redirect_uris = [{uris}]")
        if self.client_secret:
            lines.append(f"client_secret = {_toml(self.client_secret)}")
        if self.userinfo_signed:
            lines.append('userinfo_signed_response_alg = "RS256"')
        return "\n".join(lines) + "\n"

    def app_env(self, issuer: str, ca_file: str) -> dict[str, str]:
        values = {
            "issuer": issuer,
            "ca_file": ca_file,
            "client_id": self.client_id,
            "client_secret": self.client_secret or "",
            "python": sys.executable,
            "port": str(self.app_port),
        }
        env = {name: fill(value, values) for name, value in self.env.items()}
        if self.client_secret_env and self.client_secret:
            env[self.client_secret_env] = self.client_secret
        return env

    def app_command(self, issuer: str, ca_file: str) -> list[str]:
        values = {"python": sys.executable, "issuer": issuer, "ca_file": ca_file}
        return [fill(part, values) for part in self.command]


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fill(template: str, values: dict[str, str]) -> str:
    """{name} replaced by values[name]; other braces stay (no str.format surprises)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def _str(table: dict, key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise AppProfileError(f"{where}: {key} is required (a non-empty string)")
    return value


def _marker(raw: object, where: str) -> Marker:
    if not isinstance(raw, dict) or not raw:
        raise AppProfileError(f"{where} is required: a table with selector, text and/or status")
    unknown = sorted(set(raw) - {"selector", "text", "status"})
    if unknown:
        raise AppProfileError(f"{where}: unknown field(s) {unknown}")
    status = raw.get("status")
    if status is not None and not (isinstance(status, int) and 100 <= status <= 599):
        raise AppProfileError(f"{where}: status must be an HTTP status code")
    for name in ("selector", "text"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise AppProfileError(f"{where}: {name} must be a string")
    marker = Marker(raw.get("selector"), raw.get("text"), status)
    if not (marker.selector or marker.text or marker.status):
        raise AppProfileError(f"{where}: give a selector, a text or a status")
    return marker


def _logged_in(raw: object) -> Marker:
    marker = _marker(raw, "[login] logged_in")
    if not (marker.selector or marker.text):
        raise AppProfileError(
            "[login] logged_in needs a selector or a text: a status is on every page"
        )
    return marker


def _steps(raw: object, where: str = "[login]") -> tuple[dict, ...]:
    if not isinstance(raw, list):
        raise AppProfileError(f'{where} steps must be a list of tables, e.g. [{{ click = "#x" }}]')
    for i, step in enumerate(raw):
        if not isinstance(step, dict) or not set(step) & set(STEP_KINDS):
            raise AppProfileError(f"{where} steps[{i}]: one of {', '.join(STEP_KINDS)}")
    return tuple(raw)


def _seconds(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3600:
        raise AppProfileError(f"{where} must be a number of seconds in [0, 3600]")
    return float(value)


def load_app_profile(path: Path) -> AppProfile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AppProfileError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise AppProfileError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AppProfileError(f"{path}: not TOML ({exc})") from None
    try:
        return _profile(path, data)
    except AppProfileError as exc:
        raise AppProfileError(f"{path}: {exc}") from None


def _table(data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise AppProfileError(f"[{key}] must be a table")
    return value


def _strings(table: dict, key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AppProfileError(f"{where} {key} must be a list of strings")
    return tuple(value)


def _profile(path: Path, data: dict) -> AppProfile:
    app, login, client, logout = (_table(data, k) for k in ("app", "login", "client", "logout"))
    sim = _table(data, "simulator")
    env = app.get("env", {})
    if not isinstance(env, dict):
        raise AppProfileError("[app.env] must be a table")
    for key in ("client_secret", "client_secret_env", "client_id", "acr_values"):
        if client.get(key) is not None and not isinstance(client[key], str):
            raise AppProfileError(f"[client] {key} must be a string")
    if app.get("ready_url") is not None and not isinstance(app["ready_url"], str):
        raise AppProfileError("[app] ready_url must be a string")
    for key in ("port", "wallet_port"):
        value = sim.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise AppProfileError(f"[simulator] {key} must be a port number (0: any free one)")
    start_url = _str(app, "start_url", "[app]")
    try:
        parts = urlsplit(start_url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError:
        raise AppProfileError(f"[app] start_url {start_url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AppProfileError(f"[app] start_url {start_url!r} is not an http(s) URL")
    method = client.get("auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise AppProfileError(f"[client] auth_method must be one of {AUTH_METHODS}")
    secret_env = client.get("client_secret_env")
    secret = client.get("client_secret") or (os.environ.get(secret_env) if secret_env else None)
    if method.startswith("client_secret") and not secret:
        if not secret_env:
            raise AppProfileError(f"[client] {method} needs client_secret_env")
        if not app.get("command"):
            raise AppProfileError(
                f"[client] {secret_env} is not set, and psc-testkit does not start the app "
                "([app] command), so it cannot tell the app a secret of its own"
            )
        secret = secrets.token_urlsafe(32)  # the app gets it through its environment
    redirect_uris = _strings(client, "redirect_uris", "[client]")
    if not redirect_uris:
        raise AppProfileError("[client] redirect_uris is required (a list)")
    command = app.get("command", [])
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise AppProfileError("[app] command must be a list of strings")
    timeout = login.get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise AppProfileError("[login] timeout must be a number of seconds in (0, 300]")
    return AppProfile(
        path=path,
        name=_str(app, "name", "[app]"),
        version=str(app.get("version", "unknown")),
        start_url=start_url,
        steps=_steps(login.get("steps", [])),
        logged_in=_logged_in(login.get("logged_in")),
        rejected=_marker(login.get("rejected"), "[login] rejected"),
        client_id=_str(client, "client_id", "[client]"),
        auth_method=method,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=_strings(client, "post_logout_redirect_uris", "[client]"),
        client_secret=secret,
        client_secret_env=secret_env,
        command=tuple(command),
        ready_url=app.get("ready_url"),
        env={str(k): str(v) for k, v in env.items()},
        timeout=float(timeout),
        acr_values=str(client.get("acr_values", "eidas1")),
        port=sim.get("port", 0),
        wallet_port=sim.get("wallet_port", 0),
        userinfo_signed=client.get("userinfo_signed_response_alg") == "RS256",
        logout_steps=_steps(logout.get("steps", []), "[logout]"),
        logged_out=_marker(logout.get("logged_out"), "[logout] logged_out") if logout else None,
        jwks_refetch_limit=_seconds(app.get("jwks_refetch_limit", 0), "[app] jwks_refetch_limit"),
    )
