"""The uptime monitor: probes into a store (`psc-testkit monitor`), and what the store says
(`psc-testkit monitor report`), with Prometheus metrics."""
