"""A profile for a running simulator as any other provider: the generic html_form driver, no
control API, the basic client's secret from PSC_TEST_SECRET (set it before the run)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

SECRET_ENV = "PSC_TEST_SECRET"


def html_form_profile(process, path: Path, name: str = "a provider") -> Path:
    context = ssl.create_default_context(cafile=process.ca)
    listed = httpx.get(f"{process.origin}/_simulator/users?limit=3", verify=context).json()
    users = ", ".join(f'"{u["idNat"]}"' for u in listed["users"])
    path.write_text(f'''
[target]
name = "{name}"
discovery_url = "{process.issuer}/.well-known/wallet-openid-configuration"
ca_file = "{process.ca}"
scopes = ["openid", "scope_all"]
acr_values = "eidas1"

[driver]
name = "html_form"
users = [{users}]
[driver.fields]
idNat = "{{user}}"
method = "cps"

[[clients]]
client_id = "psc-testkit-basic"
auth_method = "client_secret_basic"
client_secret_env = "{SECRET_ENV}"
redirect_uri = "http://127.0.0.1:8080/callback"
post_logout_redirect_uri = "http://127.0.0.1:8080/logged-out"
ciba = true

[[clients]]
client_id = "psc-testkit-post"
auth_method = "client_secret_post"
client_secret = "sim-post-83b7e0f215"
redirect_uri = "http://127.0.0.1:8080/callback"
''')
    return path
