"""Pure functions of a load run's judgement: whose fault a failure is, which names an SLO may
use, what the samples say over time, and which verdict wins."""

import pytest

from psc_testkit.load import failures, names, slo
from psc_testkit.load import results as res


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (0, b"", "provider", "token: connection reset"),
        (503, b"busy", "provider", "token: HTTP 503"),
        (
            400,
            b'{"error":"invalid_grant","error_description":"code 4f2 used"}',
            "protocol",
            "token: HTTP 400 invalid_grant",
        ),
        (401, b'{"error":"<script>"}', "protocol", "token: HTTP 401"),
        (404, b"<html>", "protocol", "token: HTTP 404"),
        (302, b"", "provider", "token: HTTP 302"),
    ],
)
def test_an_unusable_answer_is_classified_and_its_description_left_out(status, body, kind, text):
    failure = failures.of_response("token", status, body, "connection reset")
    assert (failure.kind, str(failure)) == (kind, text)


def test_a_login_without_code_is_the_protocols_when_oauth_says_why():
    assert failures.of_callback("access_denied", None, 302).kind == "protocol"
    assert failures.of_callback(None, "an error page", 400).kind == "protocol"
    assert failures.of_callback(None, "no way back to the client", 200).kind == "provider"
    assert str(failures.of_callback("a b c", None, 302)) == "authorize: an error"


def test_weights_take_the_old_names_and_refuse_typos():
    assert names.weights({"refresher": 2, "poller": 0})["refresh"] == 2
    with pytest.raises(names.UnknownName, match="did you mean first-login"):
        names.weights({"first-logins": 1})
    with pytest.raises(names.UnknownName, match="whole number"):
        names.weights({"ciba": -1})


def test_an_slo_must_name_what_this_run_makes():
    mix = names.weights({"returning": 0, "refresh": 0, "userinfo-poll": 0, "ciba": 0})
    flows = names.selected_flows(mix, ciba=False, open_model=False)
    assert flows == {"first-login", "probe"}
    names.check_slo_target("token", flows, {})
    names.check_slo_target("first-login", flows, {})
    for target, message in [
        ("introspection", "no journey of this run makes"),
        ("returning", "does not run"),
        ("refresh", "no journey of this run makes"),
        ("tokn", "did you mean token"),
    ]:
        with pytest.raises(names.UnknownName, match=message):
            names.check_slo_target(target, flows, {})
    names.check_slo_target("refresh", flows, {"refresh": True})
    assert names.selected_flows(mix, ciba=True, open_model=True) == {"arrival", "probe"}


def _results(*samples) -> res.Results:
    results = res.Results(started=1000.0)
    for sample in samples:
        results.record(*sample)
    return results


def test_tool_failures_count_for_nothing_in_availability():
    results = _results(
        ("FLOW", "first-login", 30.0, None, None, 1000.5),
        ("FLOW", "first-login", 0.0, "token: HTTP 503", "provider", 1001.0),
        ("FLOW", "first-login", 0.0, "psc-testkit: KeyError", "tool", 1002.5),
        ("FLOW", "first-login", 10.0, None, None, 1003.0),
    )
    availability = results.availability(0.99893)
    assert (availability.successes, availability.total) == (2, 3)
    assert results.classes() == {"provider": 1, "protocol": 0, "tool": 1}


def test_the_time_series_counts_every_flow_and_times_only_the_providers():
    results = _results(
        ("FLOW", "first-login", 30.0, None, None, 1000.5),
        ("FLOW", "ciba", 4000.0, None, None, 1001.0),  # a human's approval time
        ("GET", "token", 5.0, None, None, 1001.5),
        ("FLOW", "first-login", 0.0, "token: HTTP 503", "provider", 1004.5),
    )
    points = results.timeline(until=1005.0)["points"]
    assert [p["t"] for p in points] == [0.0, 2.0, 4.0]
    assert [p["flows"] for p in points] == [2, 0, 1]
    assert points[0]["p95_ms"] == 30.0 and points[0]["requests_per_s"] == 0.5
    assert points[1]["p50_ms"] is None
    assert points[2]["failures"]["provider"] == 1
    assert points[2]["flows_per_s"] == 1.0  # the last interval covered 1 s, not 2


def test_samples_merged_from_workers_are_counted_per_worker():
    results = res.Results(started=1000.0)
    results.merge([("FLOW", "first-login", 20.0, None, None, 1001.0)] * 3, worker="w1")
    results.merge([("FLOW", "first-login", 20.0, None, None, 1001.0)], worker="w2")
    assert results.by_worker == {"w1": 3, "w2": 1}
    assert results.flows["first-login"].count == 4


def _report(**extra) -> dict:
    base = {"slos": [{"slo": "token:p95<1s", "verdict": "pass"}], "failures_by_class": {}}
    return {**base, **extra}


@pytest.mark.parametrize(
    ("extra", "word", "code"),
    [
        ({}, "PASSED", 0),
        ({"slos": [{"slo": "a", "verdict": "FAIL"}]}, "BREACHED", 1),
        (
            {"slos": [{"slo": "a", "verdict": "INCONCLUSIVE", "note": "too short"}]},
            "INCONCLUSIVE",
            0,
        ),
        ({"slos": [{"slo": "a", "verdict": "NO DATA"}]}, "INCONCLUSIVE", 4),
        ({"interrupted": "SIGINT", "slos": [{"slo": "a", "verdict": "FAIL"}]}, "INCONCLUSIVE", 4),
        ({"failures_by_class": {"tool": 2}, "interrupted": "SIGINT"}, "INVALID", 4),
        ({"target_exited": "the embedded simulator exited"}, "INVALID", 4),
        ({"stopped": "discovery: HTTP 500", "failures_by_class": {"tool": 1}}, "STOPPED", 3),
    ],
)
def test_what_makes_a_measurement_meaningless_comes_before_the_slos(extra, word, code):
    got, _reason, exit_code = res.judge(_report(**extra))
    assert (got, exit_code) == (word, code)


def test_an_unprovable_availability_exits_4_only_when_proof_is_required():
    report = _report(
        slos=[{"slo": "availability>=99.893%", "verdict": "INCONCLUSIVE", "note": "n"}]
    )
    assert res.judge(report)[2] == 0
    assert res.judge(report, require_proof=True)[2] == 4


def test_an_availability_slo_is_inconclusive_until_proven_and_fails_when_breached():
    objective = slo.parse("availability>=99.893%")
    ok = _results(*[("FLOW", "first-login", 1.0, None, None, 1000.0)] * 100)
    assert res.evaluate(ok, [objective])[0]["verdict"] == "INCONCLUSIVE"
    proven = _results(*[("FLOW", "first-login", 1.0, None, None, 1000.0)] * 2800)
    assert res.evaluate(proven, [objective])[0]["verdict"] == "pass"
    bad = _results(
        *[("FLOW", "first-login", 1.0, None, None, 1000.0)] * 99,
        ("FLOW", "first-login", 1.0, "x", "protocol", 1000.0),
    )
    assert res.evaluate(bad, [objective])[0]["verdict"] == "FAIL"


def test_no_data_makes_a_run_inconclusive_whatever_the_slos_order():
    inconclusive = {"slo": "availability>=99.893%", "verdict": "INCONCLUSIVE", "note": "n"}
    no_data = {"slo": "refresh:p95<1s", "verdict": "NO DATA"}
    for rows in ([inconclusive, no_data], [no_data, inconclusive]):
        assert res.judge(_report(slos=rows))[2] == 4


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"workers_silent": ["w2"]}, "no last samples from worker(s) w2"),
        ({"samples_lost": {"w1": 3}}, "3 sample(s) sent by the workers never reached"),
        ({"arrivals": {"offered": 90, "late": 10}}, "the generator fell behind"),
        ({"arrivals": {"offered": 100, "dropped": 5, "unfinished": 1}}, "the provider fell"),
        ({"expected_flows": ["refresh"], "flows": {}}, "no refresh flow was made"),
    ],
)
def test_a_run_that_measured_less_than_asked_is_inconclusive(extra, reason):
    word, why, code = res.judge(_report(**extra))
    assert (word, code) == ("INCONCLUSIVE", 4) and reason in why
