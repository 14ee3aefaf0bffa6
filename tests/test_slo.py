"""SLO expressions, exact percentiles and availability confidence (pure functions)."""

import pytest

from psc_testkit.load import slo


@pytest.mark.parametrize(
    ("text", "target", "metric", "op", "value"),
    [
        ("first-login:p95<800ms", "first-login", "p95", "<", 800.0),
        ("token:p99<=0.3s", "token", "p99", "<=", 300.0),
        ("error_ratio<0.5%", None, "error_ratio", "<", 0.005),
        ("availability>=99.893%", None, "availability", ">=", 0.99893),
        ("userinfo:avg<50", "userinfo", "avg", "<", 50.0),
    ],
)
def test_parse(text, target, metric, op, value):
    parsed = slo.parse(text)
    assert (parsed.target, parsed.metric, parsed.op) == (target, metric, op)
    assert parsed.value == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "p95<800ms",
        "token:p95<80%",
        "availability>=150%",
        "token:availability>99%",
        "token:p95 ~ 3ms",
        "",
        "token:p0<1ms",
    ],
)
def test_parse_refuses_with_a_message(text):
    with pytest.raises(slo.SloError):
        slo.parse(text)


def test_percentile_is_nearest_rank_on_exact_samples():
    samples = [float(i) for i in range(1, 101)]
    assert slo.percentile(samples, 50) == 50
    assert slo.percentile(samples, 95) == 95
    assert slo.percentile(samples, 99.9) == 100
    assert slo.percentile([], 95) is None


def test_flows_needed_to_prove_the_psc_target():
    # One-sided 95 % Clopper-Pearson (load anchors §4.3): 2 799 flows with no failure,
    # 4 432 with one, 5 882 with two.
    assert slo.flows_needed(0.99893) == 2799
    assert slo.flows_needed(0.99893, 1) == 4432
    assert slo.flows_needed(0.99893, 2) == 5882


def test_availability_verdicts():
    assert slo.Availability(2799, 2799, 0.99893).proven
    assert not slo.Availability(2798, 2798, 0.99893).proven
    short = slo.Availability(1000, 1000, 0.99893)
    assert not short.breached and "too short to conclude" in short.verdict()
    assert slo.Availability(990, 1000, 0.99893).verdict() == "BREACHED"
    low, high = slo.wilson(990, 1000)
    assert low < 0.99 < high and high - low < 0.02
