"""Load shapes for `psc-testkit load --shape`: ramp, step, spike, soak.

Each takes the run's users, spawn rate and duration from the load options. The run ends at its
run time by the locustfile's clock, which also waits for the workers' last samples; a shape
holds its last user count until then (tick() returning None would quit at once)."""

from __future__ import annotations

from locust import LoadTestShape


class _Shape(LoadTestShape):
    abstract = True
    users = 10
    spawn_rate = 10.0
    run_time = 60.0

    def tick(self):
        progress = min(1.0, self.get_run_time() / self.run_time)
        return max(1, round(self.users_at(progress))), self.spawn_rate

    def users_at(self, progress: float) -> float:
        raise NotImplementedError


class Ramp(_Shape):
    """From 1 user up to `users`, linearly, over the run."""

    abstract = True

    def users_at(self, progress: float) -> float:
        return 1 + (self.users - 1) * progress


class Step(_Shape):
    """Five equal steps up to `users`."""

    abstract = True

    def users_at(self, progress: float) -> float:
        return self.users * (min(4, int(progress * 5)) + 1) / 5


class Spike(_Shape):
    """A fifth of the users, then all of them for the middle fifth of the run, then back."""

    abstract = True

    def users_at(self, progress: float) -> float:
        return self.users if 0.4 <= progress < 0.6 else max(1, self.users / 5)


class Soak(_Shape):
    """All the users for the whole run (give it hours against staging)."""

    abstract = True

    def users_at(self, progress: float) -> float:
        return self.users


SHAPES = {"ramp": Ramp, "step": Step, "spike": Spike, "soak": Soak}
