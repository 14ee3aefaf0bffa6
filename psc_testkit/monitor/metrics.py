"""`/metrics` for Prometheus (the official client): what monitor/alerts.yml and the Grafana
dashboard read.

    psc_monitor_probes_total{target, outcome}                   up | down | tool
    psc_monitor_step_results_total{target, step, result}        ok | provider | protocol | tool
    psc_monitor_step_duration_seconds{target, step}             histogram, every step run
    psc_monitor_availability_ratio{target, window}              1h 6h 1d 30d, from the store
    psc_monitor_judged_probes{target, window}                   what each ratio rests on
    psc_monitor_up{target}                                      1 after an up probe, 0 down
    psc_monitor_last_probe_timestamp_seconds{target}

The counters start at zero for every known label, so rates exist before the first failure.
Availability over a window counts the store's probes (this session's and earlier ones), so a
restarted monitor does not forget the day.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from psc_testkit.load.failures import CLASSES
from psc_testkit.monitor.store import ProbeRow, Store

WINDOWS = {"1h": 3600, "6h": 6 * 3600, "1d": 86400, "30d": 30 * 86400}
OUTCOMES = ("up", "down", "tool")
# Seconds: a discovery answers in milliseconds, a login through a browser in seconds.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self, target: str, steps: tuple[str, ...]) -> None:
        self.target = target
        self.registry = CollectorRegistry()
        self.probes = Counter(
            "psc_monitor_probes",
            "Probes by outcome (tool: psc-testkit's own failure, never downtime)",
            ["target", "outcome"],
            registry=self.registry,
        )
        self.results = Counter(
            "psc_monitor_step_results",
            "Probe steps by result: ok, or the failure's class (provider, protocol, tool)",
            ["target", "step", "result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "psc_monitor_step_duration_seconds",
            "Duration of each probe step, failed ones included",
            ["target", "step"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.availability = Gauge(
            "psc_monitor_availability_ratio",
            "Up probes / judged probes (up + down) over the window, from the store",
            ["target", "window"],
            registry=self.registry,
        )
        self.judged = Gauge(
            "psc_monitor_judged_probes",
            "Judged probes (up + down) over the window: what the ratio rests on",
            ["target", "window"],
            registry=self.registry,
        )
        self.up = Gauge(
            "psc_monitor_up",
            "1 when the last judged probe was up, 0 when down",
            ["target"],
            registry=self.registry,
        )
        self.last = Gauge(
            "psc_monitor_last_probe_timestamp_seconds",
            "When the last probe started (Unix time)",
            ["target"],
            registry=self.registry,
        )
        self.interval = Gauge(
            "psc_monitor_interval_seconds",
            "The monitor's interval between probes: how long a silence is normal",
            ["target"],
            registry=self.registry,
        )
        for outcome in OUTCOMES:
            self.probes.labels(target, outcome)
        for step in steps:
            for result in ("ok", *CLASSES):
                self.results.labels(target, step, result)
        self.server = None
        self.thread = None

    def serve(self, host: str, port: int) -> None:
        self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)

    def observe(self, probe: ProbeRow, store: Store) -> None:
        self.probes.labels(self.target, probe.outcome).inc()
        for step in probe.steps:
            self.results.labels(self.target, step.name, "ok" if step.ok else step.kind).inc()
            self.duration.labels(self.target, step.name).observe(step.ms / 1000)
        self.last.labels(self.target).set(probe.started)
        if probe.outcome != "tool":
            self.up.labels(self.target).set(1 if probe.outcome == "up" else 0)
        self.refresh(store)

    def refresh(self, store: Store) -> None:
        now = time.time()
        for window, seconds in WINDOWS.items():
            counts = store.counts_since(now - seconds)
            judged = counts.get("up", 0) + counts.get("down", 0)
            self.judged.labels(self.target, window).set(judged)
            if judged:
                self.availability.labels(self.target, window).set(counts.get("up", 0) / judged)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
