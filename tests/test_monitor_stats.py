"""The monitor's statistics as pure functions: Clopper-Pearson against published values, the
verdict and the probes still needed, what each probe stands for, unobserved gaps, downtime
episodes and MTTR; and the period tables of a report built from a store."""

import math
import sqlite3

import pytest

from psc_testkit.monitor import report, stats
from psc_testkit.monitor.stats import Probe, clopper_pearson
from psc_testkit.monitor.store import ProbeRow, StepRow, Store, StoreError

TARGET = 0.99893


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (9, 10, 0.5549839, 0.9974714),  # R: binom.test(9, 10)$conf.int
        (0, 10, 0.0, 0.3084971),  # 1 - 0.025^(1/10)
        (10, 10, 0.6915029, 1.0),  # 0.025^(1/10)
        (1, 2, 0.01257912, 0.98742088),
        (50, 100, 0.3983211, 0.6016789),
        (995, 1000, 0.98838, 0.99837),
    ],
)
def test_clopper_pearson_matches_published_values(k, n, low, high):
    got = clopper_pearson(k, n)
    assert got[0] == pytest.approx(low, abs=2e-5) and got[1] == pytest.approx(high, abs=2e-5)


def test_clopper_pearson_edges():
    assert clopper_pearson(0, 0) == (0.0, 1.0)  # no trial: anything is possible
    assert clopper_pearson(5, 5)[1] == 1.0 and clopper_pearson(0, 5)[0] == 0.0
    # k = n: the lower end is (alpha/2)^(1/n) exactly.
    for n in (1, 7, 3446, 100_000):
        assert clopper_pearson(n, n)[0] == pytest.approx(0.025 ** (1 / n), rel=1e-12)
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


def test_the_binomial_distribution_agrees_with_a_plain_sum():
    """The incomplete-beta route against the definition, where the sum is cheap."""
    for n, p in ((10, 0.3), (40, 0.97), (200, 0.5)):
        for k in range(n + 1):
            exact = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k + 1))
            assert stats.binom_cdf(k, n, p) == pytest.approx(exact, abs=1e-12)


def test_clopper_pearson_is_fast_and_sane_for_a_month_of_probes():
    low, high = clopper_pearson(43_140, 43_200)  # 60 down probes in a month at 60 s
    assert low < 43_140 / 43_200 < high
    assert high == pytest.approx(0.998940, abs=2e-6)


def test_verdicts_and_probes_needed():
    # No failure: ln(0.025) / ln(0.99893) = 3445.4, so 3446 consecutive up probes prove it.
    assert stats.up_probes_needed(0, 0, TARGET) == 3446
    assert stats.verdict(3446, 3446, TARGET).verdict == stats.MET
    unproven = stats.verdict(3445, 3445, TARGET)
    assert unproven.verdict == stats.UNPROVEN and unproven.needed == 1
    assert "1 more consecutive up probes" in unproven.text()
    assert stats.verdict(90, 100, TARGET).verdict == stats.BREACHED
    one_down = stats.verdict(99, 100, TARGET)  # 99 % measured, but 100 probes cannot tell
    assert one_down.verdict == stats.UNPROVEN and "measured below the target" in one_down.text()
    needed = one_down.needed
    assert stats.verdict(99 + needed, 100 + needed, TARGET).verdict == stats.MET
    assert stats.verdict(99 + needed - 1, 99 + needed, TARGET).verdict == stats.UNPROVEN
    empty = stats.verdict(0, 0, TARGET)
    assert empty.verdict == stats.UNPROVEN and empty.ratio is None


def series(outcomes: str, start: float = 1000.0, every: float = 10.0) -> list[Probe]:
    """u: up, d: down, t: tool, '.': a missing probe (the monitor was not running)."""
    out = []
    for i, c in enumerate(outcomes):
        if c != ".":
            kind = {"u": "up", "d": "down", "t": "tool"}[c]
            step = None if kind == "up" else "discovery"
            out.append(Probe(start + i * every, kind, every, first_step=step, error="HTTP 503"))
    return out


def test_each_probe_stands_for_the_time_until_the_next_and_gaps_are_unobserved():
    probes = series("uu..uu")  # probes at 1000, 1010, 1040, 1050
    spans = stats.coverage(probes, end=1055)
    assert [(s.start, s.end, s.outcome) for s in spans] == [
        (1000, 1010, "up"),
        (1010, 1020, "up"),
        (1020, 1040, "unobserved"),
        (1040, 1050, "up"),
        (1050, 1055, "up"),  # the last one, cut at the report's now
    ]
    assert stats.gaps(probes) == [stats.Span(1020, 1040, "unobserved")]
    # Late by less than two intervals (a slow probe, jitter): no gap.
    assert not stats.gaps([Probe(0, "up", 10), Probe(19.9, "up", 10)])
    assert stats.gaps([Probe(0, "up", 10), Probe(20.1, "up", 10)])
    totals = stats.seconds_by_outcome(spans)
    assert totals == {"up": 35.0, "down": 0.0, "tool": 0.0, "unobserved": 20.0}
    assert stats.seconds_by_outcome(spans, 1005, 1025)["unobserved"] == 5.0


def test_episodes_are_consecutive_down_probes_ignoring_tool_probes():
    probes = series("uuddtduuduu")
    found = stats.episodes(probes)
    assert len(found) == 2
    first, second = found
    assert (first.start, first.end, first.probes, first.ends) == (1020, 1060, 3, "recovered")
    assert first.duration == 40 and first.first_step == "discovery"
    assert (second.start, second.end, second.duration) == (1080, 1090, 10)
    assert stats.mttr(found) == 25


def test_an_episode_ends_where_the_monitor_stopped_watching_and_one_may_be_ongoing():
    found = stats.episodes(series("udd...uud"))
    assert [(e.start, e.end, e.ends) for e in found] == [
        (1010, 1030, "unobserved"),  # the last down probe's interval ends it
        (1080, None, "ongoing"),
    ]
    assert stats.mttr(found) is None  # neither recovered while watched


def test_percentile_is_nearest_rank():
    assert stats.percentile([], 50) is None
    assert stats.percentile([5, 1, 3, 2, 4], 50) == 3
    assert stats.percentile(list(range(1, 101)), 95) == 95
    assert stats.percentile([7], 99) == 7


def test_a_report_from_a_store_counts_periods_excludes_tool_probes_and_gaps(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.claim("demo", TARGET)
    store.begin(10, "safe", "test")
    day = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday (ISO week 2026-W01)
    plan = "uuuudddutuu"  # four up, three down, one up, a tool, two up
    for i, c in enumerate(plan):
        outcome = {"u": "up", "d": "down", "t": "tool"}[c]
        step = StepRow("discovery", c == "u", 5.0 + i, None if c == "u" else "provider")
        store.add(
            ProbeRow(
                day - 50 + i * 10,  # across midnight: the first five on 2025-12-31
                day - 50 + i * 10 + 0.01,
                outcome,
                "safe",
                10,
                (step,),
                first_step=None if c == "u" else "discovery",
                kind=None if c == "u" else ("tool" if c == "t" else "provider"),
                error=None if c == "u" else "discovery: HTTP 503",
            )
        )
    # A restart after a pause: 60 s later, unobserved time recorded by the store.
    store.add(ProbeRow(day + 100, day + 100.01, "up", "safe", 10, (StepRow("discovery", True, 4),)))
    assert store.unobserved() == [(day + 60, day + 100)]
    document = report.build(store, now=day + 110)
    store.close()
    whole = document["overall"]
    assert (whole["up"], whole["down"], whole["tool"], whole["judged"]) == (8, 3, 1, 11)
    assert whole["uptime"] == pytest.approx(8 / 11)
    assert whole["seconds"]["unobserved"] == 40
    assert whole["time_weighted"] == pytest.approx(80 / 110)  # 8 up × 10 s, 3 down × 10 s
    assert list(document["days"]) == ["2025-12-31", "2026-01-01"]
    assert document["days"]["2025-12-31"]["up"] == 4 and document["days"]["2025-12-31"]["down"] == 1
    assert list(document["weeks"]) == ["2026-W01"]  # 31 December 2025 is in ISO week 2026-W01
    assert list(document["months"]) == ["2025-12", "2026-01"]
    (episode,) = document["episodes"]
    assert episode["start_epoch"] == day - 10 and episode["end_epoch"] == day + 20
    assert episode["first_step"] == "discovery" and episode["error"] == "discovery: HTTP 503"
    assert document["mttr_s"] == 30
    assert document["verdict"] == stats.BREACHED and document["exit_code"] == 1
    assert document["unobserved"][0]["seconds"] == 40
    assert document["latency_ms"]["2026-01-01"]["discovery"]["n"] == 4
    page = report.render_html(document)
    assert 'id="verdict">BREACHED' in page and "<svg" in page and "2026-W01" in page


# What a review found ----------------------------------------------------------------------


def test_a_probe_that_hangs_longer_than_its_interval_is_down_all_that_time():
    """A provider that hangs makes each probe last 10 s at a 2 s interval: that is downtime,
    not time nobody watched."""
    probes = [Probe(0.0 + 10 * i, "down", 2.0, ended=10.0 * (i + 1)) for i in range(3)]
    spans = stats.coverage(probes, end=30.0)
    totals = stats.seconds_by_outcome(spans)
    assert totals["unobserved"] == 0.0 and totals["down"] == 30.0
    (episode,) = stats.episodes(probes, end=30.0)
    assert episode.start == 0.0 and episode.ends == "ongoing"


def test_the_time_after_the_last_probe_is_unobserved_once_it_is_late():
    probes = [Probe(float(i), "up", 1.0, ended=i + 0.1) for i in range(10)]
    late = stats.seconds_by_outcome(stats.coverage(probes, end=70.0))
    assert late["unobserved"] == pytest.approx(60.0) and late["up"] == pytest.approx(10.0)
    now = stats.seconds_by_outcome(stats.coverage(probes, end=10.5))
    assert now["unobserved"] == 0.0  # a running monitor's last interval is not a gap
    down = [Probe(0.0, "up", 1.0), Probe(1.0, "down", 1.0)]
    (episode,) = stats.episodes(down, end=100.0)
    assert episode.ends == "unobserved" and episode.end == 2.0  # the monitor died during it


def _row(started, outcome="up", ended=None):
    ended = started + 0.1 if ended is None else ended
    return ProbeRow(started, ended, outcome, "safe", 1.0, (StepRow("discovery", True, 1.0),))


def test_one_monitor_at_a_time_per_store_and_other_files_are_left_alone(tmp_path):
    path = tmp_path / "series.sqlite"
    first = Store(path)
    with pytest.raises(StoreError, match="another monitor is writing this series"):
        Store(path)
    first.close()
    Store(path).close()  # the lock went with the first monitor
    other = tmp_path / "app.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE foo (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a monitor store"):
        Store(other)
    with pytest.raises(StoreError, match="not a monitor store"):
        Store(other, create=False)
    db = sqlite3.connect(other)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["foo"]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    db.close()


def test_a_clock_stepping_back_does_not_interleave_the_series(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.claim("t", TARGET)
    store.begin(1.0, "safe", "test")
    for started in (100.0, 101.0, 102.0, 50.0, 51.0):  # the clock went back 52 s
        store.add(_row(started, "down" if started > 101 or started < 60 else "up"))
    starts = [p.started for p in store.probes()]
    assert starts == sorted(starts) and len(starts) == 5
    assert len(stats.episodes([p.probe() for p in store.probes()])) == 1
    store.close()


def test_the_command_line_keeps_the_parents_store_and_takes_ipv6_loopback():
    from psc_testkit.cli import parser
    from psc_testkit.monitor.command import address

    args = parser().parse_args(["monitor", "--store", "x.sqlite", "report"])
    assert args.store == "x.sqlite" and args.func.__name__ == "report"
    assert address("[::1]:9464", allow_remote=False) == ("::1", 9464)
