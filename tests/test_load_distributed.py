"""Distributed load runs across "hosts" made of network namespaces (tests/netns.py): the
simulator and a Locust master (`psc-testkit load --master-bind`) in one namespace, each worker
(`psc-testkit load --worker-of`) in a namespace of its own, reaching both over a private
bridge; and the Kubernetes manifests of load/k8s, read (no cluster here).

The namespaces need root; without it the distributed test is skipped, saying why (decided by
trying to create one). `distributed_run()` is shared with benchmarks/distributed_load.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import netns

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR_PROFILE = ROOT / "targets" / "simulator.toml"
K8S = ROOT / "load" / "k8s"
MASTER_PORT = 5557  # Locust's default: free, since each topology has its own namespaces
SECRET_ENV = "PSC_NETNS_BASIC_SECRET"
PSC = [sys.executable, "-m", "psc_testkit"]
# Exit 4, INCONCLUSIVE (load/README.md, "Exit codes"): accepted only with its reason in the
# summary. A run too short to prove the availability target is INCONCLUSIVE with exit 0
# (4 with --require-proof).
INCONCLUSIVE = 4


@dataclass
class Run:
    """What a distributed run left: the master's exit code, its summary, and the processes'
    output tails (for a failure message)."""

    workers: int
    code: int | None
    summary: dict | None
    seconds: float
    tails: str
    traffic: dict | None = None  # the simulator's own count of back-channel requests

    def figures(self) -> dict:
        s = self.summary or {}
        first = s.get("flows", {}).get("first-login", {})
        throughput = s.get("throughput", {})
        return {
            "workers": self.workers,
            "flows": sum(f.get("count", 0) for f in s.get("flows", {}).values()),
            "flows_per_s": throughput.get("flows_per_s"),
            "requests_per_s": throughput.get("requests_per_s"),
            "first_login_p50_ms": first.get("p50"),
            "first_login_p95_ms": first.get("p95"),
            "availability": s.get("availability", {}).get("ratio"),
            "by_worker": s.get("by_worker"),
            "exit": self.code,
        }


def _control(net: netns.Topology, url: str, ca: str):
    """GET on the simulator's control API, from inside the master namespace (it listens
    there only)."""
    code = (
        "import ssl, sys, urllib.request\n"
        f"context = ssl.create_default_context(cafile={ca!r})\n"
        f"sys.stdout.write(urllib.request.urlopen({url!r}, context=context, timeout=10)"
        ".read().decode())\n"
    )
    done = net.run("m", [sys.executable, "-c", code], timeout=20)
    if done.returncode != 0:
        raise RuntimeError(f"the simulator's control API did not answer: {done.stderr[-1500:]}")
    return json.loads(done.stdout)


def _users(net: netns.Topology, origin: str, ca: str) -> list[str]:
    """The simulator's professionals (idNat)."""
    users = _control(net, origin + "/_simulator/users?limit=200", ca)["users"]
    return [u["idNat"] for u in users]


def write_profile(path: Path, issuer: str, ca: str, users: list[str]) -> dict[str, str]:
    """A profile of a running provider (the simulator in its namespace), as an operator would
    write one for staging: no secret in the file, only the variable that holds it. Returns
    that environment."""
    clients = tomllib.loads(SIMULATOR_PROFILE.read_text(encoding="utf-8"))["clients"]
    basic = next(c for c in clients if c["auth_method"] == "client_secret_basic")
    path.write_text(
        "# Written by tests/test_load_distributed.py: the simulator in a network namespace.\n"
        "[target]\n"
        'name = "simulator-netns"\n'
        f"discovery_url = {json.dumps(issuer + '/.well-known/wallet-openid-configuration')}\n"
        f"ca_file = {json.dumps(ca)}\n"
        'scopes = ["openid", "scope_all"]\n'
        'acr_values = "eidas1"\n'
        "\n[driver]\n"
        'name = "simulator"\n'
        'method = "cps"\n'
        f"users = {json.dumps(users)}\n"
        "\n[[clients]]\n"
        f"client_id = {json.dumps(basic['client_id'])}\n"
        'auth_method = "client_secret_basic"\n'
        f'client_secret_env = "{SECRET_ENV}"\n'
        f"redirect_uris = {json.dumps(basic['redirect_uris'])}\n"
        f"post_logout_redirect_uris = {json.dumps(basic.get('post_logout_redirect_uris', []))}\n"
        f"ciba = {str(bool(basic.get('ciba'))).lower()}\n",
        encoding="utf-8",
    )
    return {SECRET_ENV: basic["client_secret"]}


def distributed_run(
    workers: int,
    folder: Path,
    *,
    run_time: int = 10,
    users: int = 12,
    think: float = 0.5,
    weights: str | None = None,
    extra: list[str] | None = None,
) -> Run:
    """The simulator and a master in namespace m, `workers` workers in w1…wN; a bounded run
    (workers=0: a standalone run in m). Everything it starts is stopped, and the namespaces
    removed, before it returns."""
    folder.mkdir(parents=True, exist_ok=True)
    reports = folder / "reports"
    started = time.monotonic()
    with netns.Topology(workers=workers, logs=folder / "logs") as net:
        host = net.address("m")
        code: int | None = None
        try:
            sim = net.popen(
                "m",
                [*PSC, "simulator", "--host", host, "--tls", "--target", str(SIMULATOR_PROFILE)],
                name="simulator",
                cwd=ROOT,
            )
            info = sim.announced("state", timeout=30)
            origin = info["issuer"].split("/auth/", 1)[0]
            profile = folder / "profile.toml"
            env = write_profile(
                profile, info["issuer"], info["ca"], _users(net, origin, info["ca"])
            )
            # Master and workers get the same profile and journey options (the workers' users
            # read theirs: think time, mix); the run time is the master's alone.
            load = [*PSC, "load", "--target", str(profile), "--allow-remote", "--think", str(think)]
            load += (["--weights", weights] if weights else []) + (extra or [])
            # workers=0: one standalone Locust process in the master's namespace, the baseline.
            bind = ["--master-bind", f"{host}:{MASTER_PORT}", "--expect-workers", str(workers)]
            bind = (bind if workers else []) + ["--run-time", f"{run_time}s"]
            master = net.popen(
                "m",
                [*load, *bind, "--users", str(users), "--reports", str(reports)],
                name="master",
                env=env,
                cwd=ROOT,
            )
            for index in range(1, workers + 1):
                net.popen(
                    f"w{index}",
                    [*load, "--worker-of", f"{host}:{MASTER_PORT}"],
                    name=f"worker{index}",
                    env=env,
                    cwd=ROOT,
                )
            # Start-up (a few s) + the run + Locust's stop timeout + the summary.
            try:
                code = master.wait(timeout=run_time + 45)
            except subprocess.TimeoutExpired:
                code = None
            for process in net.processes[2:]:  # the workers leave once the master quits
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=15)
            traffic = _control(net, origin + "/_simulator/traffic", info["ca"])
        finally:
            tails = net.tails()
    path = reports / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    return Run(workers, code, summary, time.monotonic() - started, tails, traffic)


# The distributed run --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def namespaces_available() -> None:
    reason = netns.unavailable()
    if reason:
        pytest.skip(f"distributed load across network namespaces: {reason}")


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.xdist_group("netns")
def test_two_workers_in_their_own_namespaces(namespaces_available, tmp_path):
    # No pre-flight: every back-channel request the simulator counts is then one of the run's.
    run = distributed_run(2, tmp_path, run_time=6, extra=["--no-preflight"])
    context = f"exit {run.code}, {run.seconds:.0f} s\n{run.tails}"
    assert run.summary is not None, f"no summary.json\n{context}"
    s = run.summary
    figures = run.figures()
    print("distributed run (2 workers, 6 s):", json.dumps(figures, indent=2))
    # 0, or 4 with the reason in the summary: a 10 s run holds the availability target but
    # cannot prove it (2,799 flows needed), which is INCONCLUSIVE, exit 0 unless
    # --require-proof.
    assert run.code in (0, INCONCLUSIVE), context
    assert s["exit_code"] == run.code, context
    if run.code == INCONCLUSIVE or s["verdict"] == "INCONCLUSIVE":
        assert s["verdict"] == "INCONCLUSIVE" and "too short" in s["verdict_reason"], context
    else:
        assert s["verdict"] == "PASSED", context
    assert s["failures_by_class"] == {"provider": 0, "protocol": 0, "tool": 0}, context
    assert s["workers"] == 2, context
    by_worker = s["by_worker"]
    assert len(by_worker) == 2 and all(n > 0 for n in by_worker.values()), context
    # Every flow the master judged came from a worker, and every worker's flow reached it.
    flows = sum(row["count"] for row in s["flows"].values())
    assert flows == sum(by_worker.values()) == s["availability"]["attempts"], context
    assert not s["workers_silent"] and not s["samples_lost"], context
    # Against a count the master does not make: the simulator's own. A request whose user
    # was stopped before its answer came is counted there and not here: a few at most.
    back = ("token", "userinfo", "introspection", "refresh", "ciba", "ciba-token")
    made = sum(s["steps"].get(name, {}).get("count", 0) for name in back)
    assert 0 <= run.traffic["back_channel"] - made <= 4, (made, run.traffic, context)
    assert run.traffic["back_channel_with_cookie"] == 0, run.traffic
    assert s["availability"]["ratio"] == 1.0, context
    assert {"first-login", "returning"} <= set(s["flows"]), context
    assert {"authorize", "authenticate", "token", "userinfo"} <= set(s["steps"]), context
    for kind in ("flows", "steps"):
        for name, row in s[kind].items():
            assert row["failures"] == 0, f"{kind} {name}: {row}\n{context}"
            assert 0 < row["p50"] <= row["p95"] <= row["p99"], f"{kind} {name}: {row}"
    assert s["throughput"]["flows_per_s"] > 0 and s["throughput"]["requests_per_s"] > 0
    # Nothing of the topology is left behind.
    left = [n for n in netns._namespaces() if n.startswith(f"{netns.PREFIX}{os.getpid()}-")]
    assert not left, left


@pytest.mark.xdist_group("netns")
def test_stale_namespaces_of_dead_creators_are_swept(namespaces_available):
    """A topology whose creator died (killed before its teardown) is removed by the next one;
    a live creator's namespaces are left alone."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{netns.PREFIX}{dead.pid}-abcdef-m"
    netns._ip("netns", "add", stale)
    try:
        with netns.Topology(workers=1) as net:
            assert stale not in netns._namespaces()
            assert net.namespace("m") in netns._namespaces()
            other = netns.sweep_stale()
            assert net.namespace("m") not in other  # ours: our PID is alive
        assert net.namespace("m") not in netns._namespaces()
    finally:
        netns._ip("netns", "delete", stale, check=False)


# The Kubernetes manifests (read, not applied) ------------------------------------------------

# Applied by hand after the run, not part of the kustomization (it reads the reports' volume).
NOT_IN_KUSTOMIZATION = {"kustomization.yaml", "reports-reader.yaml"}


def _documents(text: str) -> list[dict]:
    yaml = pytest.importorskip("yaml")
    return [d for d in yaml.safe_load_all(text) if d]


def _objects(documents: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in documents}


def _command(pod: dict) -> list[str]:
    container = pod["spec"]["containers"][0]
    return [str(a) for a in container.get("command", []) + container.get("args", [])]


def _flag(args: list[str], name: str) -> str:
    assert name in args, (name, args)
    return args[args.index(name) + 1]


def _seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def _secret_refs(pod: dict) -> dict[str, dict]:
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in pod["spec"]["containers"][0].get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def _check_run(objects: dict[tuple[str, str], dict], secret_name: str, tmp_path: Path) -> None:
    """What makes the manifests one bounded distributed run of psc-testkit against a profile
    whose secrets come from a Secret."""
    service = objects[("Service", "locust-master")]
    assert service["spec"]["clusterIP"] == "None"  # headless
    assert [p["port"] for p in service["spec"]["ports"]] == [5557]
    job = objects[("Job", "locust-master")]
    worker = objects[("Deployment", "locust-worker")]
    master_pod, worker_pod = job["spec"]["template"], worker["spec"]["template"]
    # One bounded run, never repeated: no restart, no retry, a deadline.
    assert master_pod["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 0
    selector = service["spec"]["selector"]
    assert selector.items() <= master_pod["metadata"]["labels"].items()
    assert not selector.items() <= worker_pod["metadata"]["labels"].items()
    master, workers = _command(master_pod), _command(worker_pod)
    assert master[:2] == workers[:2] == ["psc-testkit", "load"]
    assert _flag(master, "--master-bind") == "0.0.0.0:5557"
    assert int(_flag(master, "--expect-workers")) == worker["spec"]["replicas"]
    assert "--allow-remote" in master and "--allow-remote" in workers
    assert _flag(workers, "--worker-of") == "locust-master:5557"
    run_time = _seconds(_flag(master, "--run-time"))
    assert run_time < job["spec"]["activeDeadlineSeconds"] <= run_time + 900
    reports = _flag(master, "--reports")
    mounts = {
        m["mountPath"]: m["name"] for m in master_pod["spec"]["containers"][0]["volumeMounts"]
    }
    volumes = {v["name"]: v for v in master_pod["spec"]["volumes"]}
    assert "persistentVolumeClaim" in volumes[mounts[reports]]  # the reports outlive the pod
    # One worker per core: a whole CPU requested, and no more allowed.
    cpu = worker_pod["spec"]["containers"][0]["resources"]
    assert str(cpu["requests"]["cpu"]) == str(cpu["limits"]["cpu"]) == "1"
    for pod in (master_pod, worker_pod):
        resources = pod["spec"]["containers"][0]["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"])

    # The profile: a running provider's, in the ConfigMap, that load_target reads; its secrets
    # only as variable names, which both pods take from the Secret.
    config = objects[("ConfigMap", "psc-load-profile")]
    ((profile_name, profile_text),) = config["data"].items()
    profile = tomllib.loads(profile_text)
    assert "client_secret " not in profile_text and "client_secret=" not in profile_text
    variables = {c["client_secret_env"] for c in profile["clients"] if "client_secret_env" in c}
    variables |= set(re.findall(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}", profile_text))
    assert variables
    for pod in (master_pod, worker_pod):
        refs = _secret_refs(pod)
        assert variables == set(refs), refs
        assert {r["name"] for r in refs.values()} == {secret_name}
        assert all(r["key"] == name for name, r in refs.items())
        container = pod["spec"]["containers"][0]
        target = Path(_flag(_command(pod), "--target"))
        mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == target.parent)
        assert target.name == profile_name and mount.get("readOnly") is True
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
        assert volume["configMap"]["name"] == "psc-load-profile"

    from psc_testkit.client.config import load_target

    path = tmp_path / profile_name
    path.write_text(profile_text, encoding="utf-8")
    target = load_target(path, require_secrets=False)
    assert not target.simulator and not target.safe
    assert target.discovery_url.startswith("https://")


def test_kubernetes_manifests_parse_and_make_one_bounded_run(tmp_path):
    files = {p.name: _documents(p.read_text(encoding="utf-8")) for p in sorted(K8S.glob("*.yaml"))}
    kustomization = files["kustomization.yaml"][0]
    assert sorted(kustomization["resources"]) == sorted(set(files) - NOT_IN_KUSTOMIZATION)
    objects = _objects([d for name in kustomization["resources"] for d in files[name]])
    namespace = next(name for kind, name in objects if kind == "Namespace")
    assert kustomization["namespace"] == namespace
    # The secrets: generated from secrets.env, which git ignores; the example names them all.
    (generator,) = kustomization["secretGenerator"]
    assert generator["envs"] == ["secrets.env"]
    assert "secrets.env" in (K8S / ".gitignore").read_text(encoding="utf-8").split()
    assert (
        not (K8S / "secrets.env").exists()
        or "secrets.env"
        not in subprocess.run(
            ["git", "ls-files", "load/k8s/secrets.env"], cwd=ROOT, capture_output=True, text=True
        ).stdout
    )
    example = (K8S / "secrets.env.example").read_text(encoding="utf-8")
    names = {line.split("=")[0] for line in example.splitlines() if "=" in line and line[0] != "#"}
    assert all(
        line.endswith("=") for line in example.splitlines() if "=" in line and line[0] != "#"
    )
    _check_run(objects, generator["name"], tmp_path)
    profile = next(iter(objects[("ConfigMap", "psc-load-profile")]["data"].values()))
    assert names == {r for r in _secret_refs(objects[("Job", "locust-master")]["spec"]["template"])}
    assert all(name in profile for name in names)
    reader = files["reports-reader.yaml"][0]
    assert reader["metadata"]["namespace"] == namespace
    assert reader["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "psc-load-reports"


def test_kustomize_builds_the_manifests(tmp_path):
    """What `kubectl apply -k` would send, rendered offline by kubectl's kustomize: the Secret
    generated (its name hashed, the pods' references following it), the namespace on all."""
    import shutil

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the manifests' kustomize build is not checked")
    folder = tmp_path / "k8s"
    shutil.copytree(K8S, folder)
    missing = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode != 0 and "secrets.env" in missing.stderr  # no secrets, no run
    example = (folder / "secrets.env.example").read_text(encoding="utf-8")
    (folder / "secrets.env").write_text(example.replace("=\n", "=not-a-secret\n"))
    built = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    objects = _objects(_documents(built.stdout))
    secret = next(d for (kind, _), d in objects.items() if kind == "Secret")
    assert secret["metadata"]["name"].startswith("psc-load-secrets-")
    assert all(
        d["metadata"].get("namespace") == "psc-load"
        for (kind, _), d in objects.items()
        if kind != "Namespace"
    )
    _check_run(objects, secret["metadata"]["name"], tmp_path)
