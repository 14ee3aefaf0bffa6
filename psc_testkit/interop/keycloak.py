"""Keycloak, the software PSC runs on, as a real target: the pinned server distribution from
Maven Central and a realm shaped like `esante-wallet` (interop/keycloak/realm.jsonc).

`python -m psc_testkit.interop.keycloak fetch` (`make keycloak-dist`) downloads
`org.keycloak:keycloak-quarkus-dist` with Maven, unpacks it under `.cache/keycloak/` and runs
Keycloak's build step once; later calls reuse it. `KeycloakProcess` starts it on 127.0.0.1
over HTTPS with a local CA, imports the realm with test professionals of the synthetic Annuaire
Santé, serves the CIBA authentication channel (`ciba_channel.py`) and writes a target profile
that logs in through Keycloak's own login page.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from psc_testkit.child import ChildStartError, Started, die_with_parent
from psc_testkit.interop.ciba_channel import CibaChannel
from psc_testkit.interop.oidc_provider import LOGGED_OUT, REDIRECT, _pem, _public_jwk
from psc_testkit.simulator import annuaire, claims
from psc_testkit.simulator.tls import LocalCA, subject_dn

ROOT = Path(__file__).resolve().parents[2]
# Keycloak >= 26.6 runs on Java 25, the newest JDK of these machines (26.6.0 release notes).
VERSION = "26.7.3"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:tar.gz"
CACHE = ROOT / ".cache" / "keycloak"
DIST = CACHE / f"keycloak-{VERSION}"
REALM = ROOT / "interop" / "keycloak" / "realm.jsonc"
EXPECTED = ROOT / "interop" / "keycloak" / "expected-results.toml"
MIN_JAVA = 21  # Keycloak 26 supports OpenJDK 21 and 25
# Options Keycloak fixes at build time (`kc.sh build`); a start with others would rebuild.
# --db=dev-mem: nothing kept between runs.
BUILD_OPTIONS = ("--db=dev-mem", "--http-relative-path=/auth", "--https-client-auth=request")
BUILT = DIST / ".psc-testkit-build"


class KeycloakError(ChildStartError):
    """Keycloak cannot be fetched or started; the message says what is missing."""


def java_version(home: Path) -> int:
    """The major version of the JDK in `home` (its `release` file), 0 if none is there."""
    try:
        text = (home / "release").read_text(encoding="utf-8")
    except OSError:
        return 0
    match = re.search(r'^JAVA_VERSION="(\d+)', text, re.M)
    return int(match.group(1)) if match and (home / "bin" / "java").exists() else 0


def find_java() -> Path | None:
    """A JDK Keycloak runs on: JAVA_HOME if it is recent enough, else the newest of the
    system's JVM directory (Debian's /usr/lib/jvm)."""
    homes = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        homes += sorted(jvm.iterdir(), key=java_version, reverse=True)
    return next((h for h in homes if java_version(h) >= MIN_JAVA), None)


def unavailable() -> str | None:
    """Why Keycloak cannot run here (one line), or None."""
    if find_java() is None:
        return (
            f"no Java {MIN_JAVA}+ for Keycloak {VERSION}: set JAVA_HOME to a JDK 21 or 25 "
            "(e.g. /usr/lib/jvm/temurin-25-jdk-amd64)"
        )
    if not BUILT.exists():
        return f"Keycloak {VERSION} is not in {DIST.relative_to(ROOT)}: run `make keycloak-dist`"
    return None


def _java_env(java: Path) -> dict[str, str]:
    return {**os.environ, "JAVA_HOME": str(java), "PATH": f"{java / 'bin'}:{os.environ['PATH']}"}


def _last_error(output: str) -> str:
    """The line that says why a Maven or Keycloak command failed: its last ERROR line (Java 25
    prints warnings about Maven's own libraries after it), else its last line."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line]
    return (errors or lines or ["no output"])[-1][:300]


def fetch(out=sys.stderr) -> int:
    """Download, unpack and build the pinned Keycloak once; 0 when it is ready."""
    java = find_java()
    if java is None:
        print(f"keycloak: {unavailable()}", file=out)
        return 2
    if BUILT.exists() and BUILT.read_text(encoding="utf-8").split() == list(BUILD_OPTIONS):
        return 0
    if not DIST.is_dir():
        mvn = shutil.which("mvn")
        if mvn is None:
            print(f"keycloak: Maven (mvn) is needed to download {ARTIFACT}", file=out)
            return 2
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as download:
            print(f"keycloak: downloading {ARTIFACT} from Maven Central", file=out, flush=True)
            command = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={ARTIFACT}"]
            command.append(f"-DoutputDirectory={download}")
            try:
                got = subprocess.run(
                    command, env=_java_env(java), capture_output=True, text=True, timeout=900
                )
            except subprocess.TimeoutExpired:
                print(f"keycloak: the download of {ARTIFACT} took over 15 min", file=out)
                return 2
            archive = Path(download) / f"keycloak-quarkus-dist-{VERSION}.tar.gz"
            if got.returncode != 0 or not archive.exists():
                why = _last_error(got.stdout + got.stderr)
                print(f"keycloak: the download of {ARTIFACT} failed: {why}", file=out)
                return 2
            with tarfile.open(archive) as tar:
                tar.extractall(download, filter="tar")
            (Path(download) / f"keycloak-{VERSION}").rename(DIST)
    print(f"keycloak: building Keycloak {VERSION} ({' '.join(BUILD_OPTIONS)})", file=out)
    try:
        built = subprocess.run(
            [str(DIST / "bin" / "kc.sh"), "build", *BUILD_OPTIONS],
            env=_java_env(java),
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        print("keycloak: `kc.sh build` took over 10 min", file=out)
        return 2
    if built.returncode != 0:
        why = _last_error(built.stdout + built.stderr)
        print(f"keycloak: `kc.sh build` failed: {why}", file=out)
        return 2
    BUILT.write_text(" ".join(BUILD_OPTIONS) + "\n", encoding="utf-8")
    return 0


def read_realm(text: str | None = None) -> dict:
    """The realm template (or `text`): JSON once its `//` comment lines are dropped."""
    lines = (REALM.read_text(encoding="utf-8") if text is None else text).splitlines()
    return json.loads("\n".join(line for line in lines if not line.lstrip().startswith("//")))


def user_representation(pro: annuaire.Professional, password_env: str) -> dict:
    """A test professional as a Keycloak user: their idNat as username, their PSC claims as
    attributes (JSON ones as strings, parsed back by the realm's JSON mappers)."""
    info = claims.userinfo(pro, "CARD", scope_all=True)
    attributes = {
        "SubjectNameID": [info["SubjectNameID"]],
        "authMode": [info["authMode"]],
        "SubjectOrganization": [info["SubjectOrganization"]],
        "SubjectOrganizationID": [info["SubjectOrganizationID"]],
        "Secteur_Activite": [info["Secteur_Activite"]],
        "SubjectRole": list(info["SubjectRole"]),
        "otherIds": [json.dumps(info["otherIds"], ensure_ascii=False)],
        "SubjectRefPro": [json.dumps(info["SubjectRefPro"], ensure_ascii=False)],
    }
    return {
        "username": pro.id_nat,
        "enabled": True,
        "firstName": info["given_name"],
        "lastName": info["family_name"],
        "emailVerified": False,
        "attributes": {k: v for k, v in attributes.items() if v and v != [""]},
        "credentials": [{"type": "password", "value": f"${{{password_env}}}", "temporary": False}],
        "requiredActions": [],
    }


def _remove_stale_runs() -> None:
    """Run folders of a Keycloak that is gone (killed before its stop() could run): they hold
    the run's keys and its written profile, so they do not stay."""
    for run in CACHE.glob("run-*"):
        try:
            pid = int((run / "keycloak.pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            shutil.rmtree(run, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class KeycloakProcess(Started):
    """`with KeycloakProcess() as kc:` then run the suite with `kc.profile`."""

    users: int = 8
    driver: str = "html_form"  # or "browser": Keycloak's login page in headless Chromium
    startup_timeout: float = 180.0
    port: int = 0  # 0: a free one
    issuer: str = ""
    profile: Path = Path()
    process: subprocess.Popen | None = None
    started_in: float = 0.0
    env: dict[str, str] = field(default_factory=dict)
    log_level: str = os.environ.get("PSC_KEYCLOAK_LOG_LEVEL", "WARN,org.keycloak.services:INFO")

    def _write_realm(self, work: Path, home: Path) -> None:
        ca = self.ca = LocalCA()
        (work / "ca.pem").write_bytes(ca.pem())
        ca.issue_server(["127.0.0.1", "localhost"]).write(work / "server.pem", work / "server.key")
        # The whole chain: Chromium trusts the run's CA by its key only when the server presents
        # the CA's certificate (drivers/chromium.py, --ignore-certificate-errors-spki-list).
        with (work / "server.pem").open("ab") as chain:
            chain.write(ca.pem())
        mtls = ca.issue_client("psc-testkit-mtls")
        mtls.write(work / "mtls.cert.pem", work / "mtls.key.pem")
        self.trust_password = secrets.token_urlsafe(16)
        keytool = [str(self.java / "bin" / "keytool"), "-importcert", "-noprompt", "-alias", "ca"]
        keytool += ["-file", str(work / "ca.pem"), "-keystore", str(work / "trust.p12")]
        keytool += ["-storetype", "PKCS12", "-storepass", self.trust_password]
        made = subprocess.run(keytool, capture_output=True, text=True)
        if made.returncode != 0:
            raise KeycloakError(f"keytool could not write the truststore: {made.stderr.strip()}")
        client_key = ec.generate_private_key(ec.SECP256R1())
        (work / "jwt.key.pem").write_bytes(_pem(client_key))
        jwks = {"keys": [_public_jwk(client_key, "psc-testkit-jwt")]}

        self.secrets = {name: secrets.token_urlsafe(24) for name in ("basic", "post", "ciba")}
        self.env = {f"PSC_KC_SECRET_{k.upper()}": v for k, v in self.secrets.items()}
        directory = annuaire.Annuaire(1, self.users)
        self.passwords: dict[str, str] = {}
        users = []
        for index, pro in enumerate(directory.professionals):
            name = f"PSC_KC_PASSWORD_{index}"
            self.env[name] = self.passwords[pro.id_nat] = secrets.token_urlsafe(12)
            users.append(user_representation(pro, name))

        text = REALM.read_text(encoding="utf-8")
        filled = {"MTLS_SUBJECT_DN": subject_dn(mtls.cert), "JWT_CLIENT_JWKS": json.dumps(jwks)}
        for name, value in filled.items():
            text = text.replace("{{" + name + "}}", json.dumps(value)[1:-1])
        realm = read_realm(text)
        realm["users"] = users
        imports = home / "data" / "import"
        imports.mkdir(parents=True, exist_ok=True)
        (imports / "esante-wallet-realm.json").write_text(
            json.dumps(realm, ensure_ascii=False), encoding="utf-8"
        )

    def _home(self, work: Path) -> Path:
        """A home of this run's own (its data/ folder: the realm to import, logs), sharing the
        cached distribution's files through hard links."""
        home = work / "home"
        try:
            subprocess.run(["cp", "-al", str(DIST), str(home)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            shutil.copytree(DIST, home, symlinks=True)
        shutil.rmtree(home / "data", ignore_errors=True)
        return home

    def command(self, home: Path, work: Path) -> list[str]:
        port = self.port
        return [
            str(home / "bin" / "kc.sh"),
            "start",
            "--optimized",
            "--import-realm",
            "--http-enabled=false",
            "--http-host=127.0.0.1",
            # One node: no JGroups cluster, which would listen on every interface (*:57800,
            # :7800) and spend seconds of each start looking for peers.
            "--cache=local",
            f"--https-port={port}",
            f"--hostname=https://127.0.0.1:{port}/auth",
            f"--https-certificate-file={work / 'server.pem'}",
            f"--https-certificate-key-file={work / 'server.key'}",
            f"--https-trust-store-file={work / 'trust.p12'}",
            f"--https-trust-store-password={self.trust_password}",
            "--spi-ciba-auth-channel--ciba-http-auth-channel--http-authentication-channel-uri="
            f"{self.channel.origin}/channel",
            f"--log-level={self.log_level}",
        ]

    def start(self) -> KeycloakProcess:
        reason = unavailable()
        if reason:
            raise KeycloakError(reason)
        self.java = find_java()
        assert self.java is not None
        CACHE.mkdir(parents=True, exist_ok=True)
        _remove_stale_runs()
        self.work = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))
        (self.work / "keycloak.pid").write_text(str(os.getpid()), encoding="utf-8")
        try:
            home = self._home(self.work)
            self._write_realm(self.work, home)
            self.port = self.port or _free_port()
            self.issuer = f"https://127.0.0.1:{self.port}/auth/realms/esante-wallet"
            self.channel = CibaChannel(self.issuer, self.work / "ca.pem").start()
            self.log = (self.work / "keycloak.log").open("w")
            began = time.monotonic()
            self.process = subprocess.Popen(
                self.command(home, self.work),
                env={**_java_env(self.java), **self.env},
                stdout=self.log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # kc.sh and its java: one group to stop
                preexec_fn=die_with_parent,
            )
            (self.work / "keycloak.pid").write_text(str(self.process.pid), encoding="utf-8")
            self._wait_ready()
            self.started_in = time.monotonic() - began
            self.profile = self.write_profile()
            self.env_file = self.write_env()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        url = f"{self.issuer}/.well-known/openid-configuration"
        deadline = time.monotonic() + self.startup_timeout
        trust = ssl.create_default_context(cafile=str(self.work / "ca.pem"))
        with httpx.Client(verify=trust, timeout=2) as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise KeycloakError(f"Keycloak exited: {self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(url).status_code == 200:
                        return
                time.sleep(0.25)
        raise KeycloakError(f"Keycloak did not answer in {self.startup_timeout:g} s")

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = (self.work / "keycloak.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def _driver_table(self, driver: str) -> str:
        users = ", ".join(
            f'{{ login = "{login}", password = "{password}" }}'
            for login, password in self.passwords.items()
        )
        if driver == "browser":
            return (
                f'[driver]\nname = "browser"\nusers = [{users}]\nstep_timeout = 15\n'
                '[[driver.steps]]\nfill = "#username"\nvalue = "{user}"\n'
                '[[driver.steps]]\nfill = "#password"\nvalue = "{password}"\n'
                '[[driver.steps]]\nclick = "#kc-login"\n'
            )
        return (
            f'[driver]\nname = "html_form"\nusers = [{users}]\n'
            '[driver.fields]\nusername = "{user}"\npassword = "{password}"\n'
        )

    def write_profile(self, driver: str | None = None) -> Path:
        """A target profile for this Keycloak, logging in through `driver` (html_form or
        browser; the process's own by default)."""
        driver = driver or self.driver
        work = self.work
        s = self.secrets
        common = f'redirect_uri = "{REDIRECT}"\npost_logout_redirect_uri = "{LOGGED_OUT}"'
        text = f"""# Written by psc_testkit.interop.keycloak for one run against Keycloak {VERSION}.
[target]
name = "keycloak"
discovery_url = "{self.issuer}/.well-known/openid-configuration"
ca_file = "{work / "ca.pem"}"
scopes = ["openid", "scope_all"]
acr_values = "eidas1"
sandbox = true
psc_sample_size = 3
ciba_phone_url = "{self.channel.origin}/phone"

{self._driver_table(driver)}

[[clients]]
client_id = "psc-testkit"
auth_method = "client_secret_basic"
client_secret = "{s["basic"]}"
{common}

[[clients]]
client_id = "psc-testkit-post"
auth_method = "client_secret_post"
client_secret = "{s["post"]}"
{common}

[[clients]]
client_id = "psc-testkit-jwt"
auth_method = "private_key_jwt"
private_key_file = "{work / "jwt.key.pem"}"
userinfo_signed_response_alg = "RS256"
{common}

[[clients]]
client_id = "psc-testkit-mtls"
auth_method = "tls_client_auth"
tls_cert_file = "{work / "mtls.cert.pem"}"
tls_key_file = "{work / "mtls.key.pem"}"
{common}

[[clients]]
client_id = "psc-testkit-public"
auth_method = "none"
{common}

[[clients]]
client_id = "psc-testkit-ciba"
auth_method = "client_secret_basic"
client_secret = "{s["ciba"]}"
ciba = true
{common}
"""
        path = work / ("keycloak.toml" if driver == "html_form" else f"keycloak-{driver}.toml")
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    def targets_env(self) -> dict[str, str]:
        """The environment that points targets/keycloak.toml at this Keycloak: discovery, CA,
        the secrets of its three clients and the passwords of its two users."""
        first, second = list(self.passwords)[:2]
        return {
            "PSC_DISCOVERY_URL": f"{self.issuer}/.well-known/openid-configuration",
            "PSC_CA_FILE": str(self.work / "ca.pem"),
            "KEYCLOAK_CLIENT_SECRET": self.secrets["basic"],
            "KEYCLOAK_CLIENT_SECRET_POST": self.secrets["post"],
            "KEYCLOAK_CLIENT_SECRET_CIBA": self.secrets["ciba"],
            "KEYCLOAK_PRO1_PASSWORD": self.passwords[first],
            "KEYCLOAK_PRO2_PASSWORD": self.passwords[second],
        }

    def write_env(self) -> Path:
        """targets_env() as shell exports (`source` it): written beside the profile, readable
        by its owner only, never printed."""
        path = self.work / "keycloak.env"
        path.touch(mode=0o600)
        exports = "".join(f"export {k}='{v}'\n" for k, v in self.targets_env().items())
        path.write_text(exports, encoding="utf-8")
        return path

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if getattr(self, "channel", None) is not None:
            self.channel.stop()
        if getattr(self, "log", None) is not None:
            self.log.close()
        if getattr(self, "work", None):
            shutil.rmtree(self.work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["fetch"]:
        return fetch()
    print("usage: python -m psc_testkit.interop.keycloak fetch", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
