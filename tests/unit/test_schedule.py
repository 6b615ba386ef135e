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
