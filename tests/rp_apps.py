"""App profiles for the RP plan's self-tests: the naive sample app on a free port, with its
switches, and variants that misbehave the way a broken app does (silence, a crash)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free port below Linux's ephemeral range (32768-60999): the simulators, browsers and
    clients of other tests bind port 0 and connect from that range, so a port taken from it
    could be theirs by the time the app listens."""
    for _ in range(200):
        port = random.randint(20_000, 32_000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


def naive_profile(
    folder: Path,
    skip: str = "",
    *,
    command: str = '["{python}", "examples/naive_app.py"]',
    jwks_refetch_limit: float = 0,
    rejected: str = '{ selector = "#login-error" }',
    timeout: float = 10,
    port: int | None = None,
    client_id: str = "naive-sample-app",
    secret: str = "naive-secret-for-the-self-tests-0123456789",
) -> Path:
    """An app profile for the naive app (or `command`, an app of the same contract)."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    path = folder / f"app-{port}.toml"
    path.write_text(
        f"""
[app]
name = "naive sample app{f" (skipping {skip})" if skip else ""}"
version = "test"
start_url = "{base}/"
command = {command}
ready_url = "{base}/health"
jwks_refetch_limit = {jwks_refetch_limit}

[app.env]
APP_PORT = "{port}"
PSC_ISSUER = "{{issuer}}"
PSC_CA_FILE = "{{ca_file}}"
PSC_CLIENT_ID = "{{client_id}}"
PSC_CLIENT_SECRET = "{{client_secret}}"
NAIVE_SKIP = "{skip}"

[login]
steps = [{{ click = "#psc-login" }}]
logged_in = {{ selector = "#who", text = "{{given_name}} {{family_name}}" }}
rejected = {rejected}
timeout = {timeout}

[logout]
steps = [{{ click = "#logout" }}]
logged_out = {{ selector = "#logged-out" }}

[client]
client_id = "{client_id}"
auth_method = "client_secret_basic"
client_secret = "{secret}"
redirect_uris = ["{base}/callback"]
post_logout_redirect_uris = ["{base}/logged-out"]
""",
        encoding="utf-8",
    )
    return path
