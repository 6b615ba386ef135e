"""The benchmark's schedule simulation (tools/schedule.py) and the reference timing model
(tools/reference/timing.py)."""
from __future__ import annotations

from typing import Any

import pytest

from tools.reference import timing
from tools.schedule import simulate


def scenario(name: str, seconds: float, *, exclusive: bool = False, stage: float | None = None,
             warm_part: float = 0.0) -> dict[str, Any]:
    marks: list[dict[str, Any]] = []
    t = 0.0
    if stage is not None:   # the first scenario applies the Hubble stage
        marks += [{"kind": "stage_begin", "stage": "hubble", "at": 0.0},
                  {"kind": "stage_end", "stage": "hubble", "at": stage, "application": stage - warm_part}]
        t = stage
    marks += [{"kind": "needs", "stage": "hubble", "at": t}, {"kind": "lock", "exclusive": exclusive, "at": t}]
    return {"name": name, "duration": t + seconds, "marks": marks}


def test_one_worker_runs_everything_in_a_row() -> None:
    tests = [scenario("a", 10, stage=100), scenario("b", 20), scenario("c", 30)]
    assert simulate(tests, 1, warm=False).makespan == pytest.approx(160)
    assert simulate(tests, 1, warm=True).makespan == pytest.approx(60)


def test_other_workers_wait_for_the_stage_once() -> None:
    tests = [scenario(f"t{i}", 10, stage=100 if i == 0 else None) for i in range(8)]
    r = simulate(tests, 2, warm=False)
    # worker 0 applies the stage (100 s) while worker 1 waits for it; then 4 x 10 s each
    assert r.makespan == pytest.approx(140)
    assert r.stage_wait == pytest.approx(100)


def test_the_exclusive_lock_runs_alone_and_others_wait() -> None:
    tests = [scenario("a", 50), scenario("b", 50), scenario("c", 50), scenario("x", 100, exclusive=True)]
    r = simulate(tests, 2, warm=True)
    # x waits for the readers, runs alone for 100 s
    assert r.exclusive_held == pytest.approx(100)
    assert r.makespan >= 50 + 100
    for seg in r.segments:
        if seg.test != "x":
            x = next(s for s in r.segments if s.test == "x")
            overlap = min(seg.end, x.end) - max(seg.start + seg.waited, x.end - 100)
            assert overlap <= 1e-6, f"{seg.test} ran while x held the exclusive lock"


def test_a_waiting_writer_keeps_new_readers_out() -> None:
    # xdist's first chunks: worker 0 gets a, b; worker 1 gets x, c.  x asks for the lock
    # while a runs; b, asked for after x, must wait for x (the turnstile)
    tests = [scenario("a", 30), scenario("b", 5), scenario("x", 10, exclusive=True), scenario("c", 5)]
    r = simulate(tests, 2, warm=True)
    x = next(s for s in r.segments if s.test == "x")
    assert x.waited == pytest.approx(30)
    b = next(s for s in r.segments if s.test == "b")
    assert b.end >= x.end


def with_resource(test: dict[str, Any], at: float, until: float | None = None,
                  name: str = "hubble-port-forward") -> dict[str, Any]:
    """The scenario takes the resource lock `at` seconds after its cluster lock, and
    releases it `until` seconds after (or at its end)."""
    base = test["marks"][-1]["at"]
    test["marks"].append({"kind": "resource", "resource": name, "at": base + at})
    if until is not None:
        test["marks"].append({"kind": "resource_release", "resource": name, "at": base + until})
    return test


def test_a_resource_lock_serialises_its_users_only() -> None:
    # p1, p2 use the port-forward from their 5th second to their end; q does not use it
    tests = [with_resource(scenario("p1", 20), 5), scenario("q", 20), with_resource(scenario("p2", 20), 5)]
    r = simulate(tests, 3, warm=True)
    seg = {s.test: s for s in r.segments}
    assert seg["q"].end == pytest.approx(20) and seg["q"].waited == 0
    assert seg["p1"].end == pytest.approx(20)
    # p2 waits from 5 s until p1 releases at 20 s, then needs 15 s more
    assert seg["p2"].waited == pytest.approx(15)
    assert seg["p2"].end == pytest.approx(35)
    assert r.resource_wait == {"hubble-port-forward": pytest.approx(15)}
    assert seg["p2"].blocker == (seg["p1"].worker, "p1")
    assert [s.test for s in r.critical_path] == ["p1", "p2"]


def test_a_resource_released_before_the_end_lets_the_next_user_in() -> None:
    # p1 holds it from 5 to 10 s of its 20; p2 asks at 5 s, gets it at 10 s
    tests = [with_resource(scenario("p1", 20), 5, 10), with_resource(scenario("p2", 20), 5, 10)]
    r = simulate(tests, 2, warm=True)
    seg = {s.test: s for s in r.segments}
    assert seg["p2"].waited == pytest.approx(5)
    assert seg["p2"].end == pytest.approx(25)


def test_another_resource_does_not_wait() -> None:
    tests = [with_resource(scenario("p1", 20), 5), with_resource(scenario("p2", 20), 5, name="other")]
    r = simulate(tests, 2, warm=True)
    assert r.makespan == pytest.approx(20)
    assert r.resource_wait == {}


def test_critical_path_ends_with_the_last_scenario() -> None:
    tests = [scenario("a", 10, stage=100), scenario("b", 20), scenario("c", 5), scenario("d", 5)]
    r = simulate(tests, 2, warm=False)
    assert r.critical_path[-1].end == pytest.approx(r.makespan)
    assert r.critical_path[0].start == pytest.approx(0)


def test_more_workers_never_predict_longer_than_one() -> None:
    tests = [scenario(f"t{i}", 5 + i, stage=50 if i == 0 else None) for i in range(20)]
    one = simulate(tests, 1, warm=False).makespan
    for n in (2, 4, 8):
        assert simulate(tests, n, warm=False).makespan <= one


# --- the timing model ------------------------------------------------------------------------

def test_a_poll_sees_a_condition_at_the_first_attempt_after_it() -> None:
    # eventually waits 0.5, 1, 2, 2, ... (capped at 2 s): attempts at 0, 0.5, 1.5, 3.5, 5.5, ...
    assert timing.waits(5) == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert timing.seen_at(5.0) == pytest.approx(5.5)
    assert timing.seen_at(0.0) == 0.0


def test_a_denied_curl_costs_its_connect_timeout() -> None:
    argv = ["curl", "-sS", "--connect-timeout", "2", "--max-time", "5", "http://x/"]
    cost = timing.call_cost("pod_exec", {"command": argv}, ["hubble"], {"stdout": "", "rc": 28})
    assert cost.seconds == pytest.approx(timing.EXEC.seconds + 2)
    answered = timing.call_cost("pod_exec", {"command": argv}, ["hubble"], {"stdout": "ok", "rc": 0})
    assert answered.seconds < 1


def test_the_suite_s_deny_curl_with_its_start_line_costs_its_connect_timeout() -> None:
    # issue 9: `sh -c '<start line>; exec "$@"' sh curl --connect-timeout 2 --max-time 5 -v -w ...`
    argv = ["sh", "-c", 'echo "cilab-start $(date -u +%FT%T.%NZ) $(hostname -i)"; exec "$@"', "sh",
            "curl", "-sS", "-v", "--connect-timeout", "2", "--max-time", "5", "-w", "%{http_code}", "http://x/"]
    denied = timing.call_cost("pod_exec", {"command": argv}, ["hubble"], {"stdout": "", "rc": 28})
    assert denied.seconds == pytest.approx(timing.EXEC.seconds + 2)
    answered = timing.call_cost("pod_exec", {"command": argv}, ["hubble"], {"stdout": "ok", "rc": 0})
    assert answered.seconds == pytest.approx(timing.EXEC.seconds + timing.REQUEST.seconds)


def test_the_hubble_cli_on_the_node_costs_a_relay_query() -> None:
    observe = timing.call_cost("node_shell", {"node": "k8s-ctr", "command": "hubble observe -o jsonpb --last 1000"},
                               ["hubble"], {"rc": 0})
    assert observe is timing.HUBBLE_CLI
    status = timing.call_cost("node_shell", {"node": "k8s-ctr", "command": "hubble status"}, ["hubble"], {"rc": 0})
    assert status is timing.HUBBLE_CLI_STATUS
    ss = timing.call_cost("node_shell", {"node": "k8s-ctr", "command": "ss -tlnpH 'sport = :4245'"}, ["hubble"], {"rc": 0})
    assert ss is timing.SSH
    assert timing.progress("node_shell", {"command": "hubble observe --type drop"}, ["hubble"]) is timing.FLOWS
    from cilab.probes.hubble_cli import ALIVE_COMMAND, START_COMMAND
    first_look = timing.call_cost("node_shell", {"node": "k8s-ctr", "command": ALIVE_COMMAND}, ["hubble"], {"rc": 0})
    assert first_look is timing.PORT_FORWARD_UP
    assert timing.call_cost("node_shell", {"node": "k8s-ctr", "command": START_COMMAND}, ["hubble"], {"rc": 0}) is timing.SSH


def test_readiness_polls_wait_for_their_service() -> None:
    assert timing.progress("http_get", {"url": "http://n:30001/-/ready"}, ["hubble"]) is timing.PROM_READY
    assert timing.progress("http_get", {"url": "http://n:30002/api/health"}, ["hubble"]) is timing.GRAFANA_READY
    assert timing.progress("k8s_list", {"kind": "EndpointSlice", "namespace": "cilab-x"}, ["hubble"]) is timing.ENDPOINTS


def test_every_duration_names_its_source() -> None:
    entry = {"op": "k8s_get", "seed": "s", "args": {"kind": "Deployment", "name": "webpod",
                                                      "namespace": "cilab-x"},
             "state": ["hubble"], "results": [{"value": {"ready": 0}}, {"value": {"ready": 2}}]}
    timed = timing.apply_timing(entry)
    assert all("duration" in r for r in timed["results"])
    assert "estimated" in timed["timing"]
    # the "not yet" answer carries the pod start so that "now" comes when a poll would see it
    replayed = timed["results"][0]["duration"] + timing.waits(1)[0]
    assert replayed == pytest.approx(timing.seen_at(timing.POD_START.seconds))
