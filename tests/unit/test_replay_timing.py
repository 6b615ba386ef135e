"""Real-lab time: recorded durations, replay at recorded speed, waits on scaled real time
(issue "Real-lab time, measured")."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from cilab.backends.replay import ReplayBackend
from cilab.errors import TranscriptError
from cilab.lab import Lab
from cilab.locks import cluster_lock
from cilab.model import CommandResult
from cilab.retry import ScaledClock, VirtualClock, eventually
from cilab.transcript import Recorder, load_transcript

TIMED = """
transcript: {name: timed, source: recorded, description: d}
calls:
  - op: node_shell
    args: {node: n1, command: sleep-ish}
    state: []
    results:
      - {stdout: "slow", stderr: "", rc: 0, duration: 2.0, at: 0.0}
  - op: k8s_get
    args: {api_version: v1, kind: Pod, name: p, namespace: ns}
    state: []
    results:
      - {value: {phase: Pending}, duration: 0.8}
      - {value: {phase: Running}, duration: 0.04}
"""


def _write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def _scaled_lab(path: Path, speed: float) -> tuple[Lab, ScaledClock]:
    clock = ScaledClock(speed)
    return Lab(ReplayBackend(load_transcript(path), clock=clock), clock=clock, wait_clock=clock), clock


def test_a_call_recorded_at_2s_replayed_at_speed_4_takes_half_a_second(tmp_path: Path) -> None:
    lab, clock = _scaled_lab(_write(tmp_path, "t.yaml", TIMED), 4)
    started = time.monotonic()
    assert lab.shell("n1", "sleep-ish").stdout == "slow"
    took = time.monotonic() - started
    assert 0.45 <= took < 0.9, f"a 2 s call at speed 4 took {took:.2f} s"
    assert clock.slept == pytest.approx(2.0)


def test_speed_factor_divides_every_duration(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.yaml", TIMED)
    timings = {}
    for speed in (2, 8):
        lab, _ = _scaled_lab(path, speed)
        started = time.monotonic()
        lab.shell("n1", "sleep-ish")
        timings[speed] = time.monotonic() - started
    assert timings[2] == pytest.approx(1.0, abs=0.3)
    assert timings[8] == pytest.approx(0.25, abs=0.2)
    assert timings[2] > 2.5 * timings[8]


def test_virtual_timing_ignores_durations(tmp_path: Path) -> None:
    lab = Lab(ReplayBackend(load_transcript(_write(tmp_path, "t.yaml", TIMED))), clock=VirtualClock())
    started = time.monotonic()
    lab.shell("n1", "sleep-ish")
    assert time.monotonic() - started < 0.2


def test_a_poll_at_recorded_timing_makes_the_same_calls_on_scaled_time(tmp_path: Path) -> None:
    """Pending (0.8 s) then Running: the same two calls as at virtual timing, with the
    answer's duration and the backoff (0.5 s) on the scaled clock."""
    path = _write(tmp_path, "t.yaml", TIMED)
    lab, clock = _scaled_lab(path, 10)
    seen: list[str] = []

    def running() -> None:
        phase = lab.get("v1", "Pod", "p", "ns")["phase"]
        seen.append(phase)
        assert phase == "Running", phase
    started = time.monotonic()
    lab.eventually(running, what="pod running")
    took = time.monotonic() - started
    assert seen == ["Pending", "Running"]
    assert clock.slept == pytest.approx(0.8 + 0.5 + 0.04)
    assert 0.12 <= took < 0.6, took
    lab = Lab(ReplayBackend(load_transcript(path)), clock=VirtualClock())
    recorded, seen = seen, []
    lab.eventually(running, what="pod running")
    assert seen == recorded   # the same calls at virtual timing


def _raise(seen: list[str]) -> None:
    raise AssertionError(f"not yet: {seen[-1:]}")


def test_a_wait_on_scaled_real_time_ends_when_its_condition_turns_true() -> None:
    """A condition that another thread makes true after 0.3 s of wall time: at speed 10 the
    wait ends soon after (within one backoff step), far before its 60 s (6 s wall) budget."""
    clock = ScaledClock(10)
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()

    def check() -> None:
        assert flag.is_set(), "not yet"
    started = time.monotonic()
    eventually(check, what="flag", budget=60, clock=clock)
    took = time.monotonic() - started
    assert 0.3 <= took < 1.5, took


def test_a_wait_on_scaled_time_times_out_on_the_scaled_budget() -> None:
    clock = ScaledClock(20)
    started = time.monotonic()
    with pytest.raises(AssertionError, match="not true within 10s"):
        eventually(lambda: _raise(["never"]), what="never", budget=10, clock=clock)
    assert time.monotonic() - started < 1.5   # 10 lab seconds at speed 20: about 0.5 s


def test_cluster_lock_waits_on_scaled_real_time(tmp_path: Path) -> None:
    """A shared lock waits while another holder keeps it exclusive and takes it soon
    after the release: waiting interleaves on real time like on the lab."""
    clock = ScaledClock(50)
    taken = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with cluster_lock(tmp_path, exclusive=True, clock=clock):
            taken.set()
            release.wait(5)
    t = threading.Thread(target=writer)
    t.start()
    assert taken.wait(5)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    with cluster_lock(tmp_path, exclusive=False, clock=clock):
        took = time.monotonic() - started
    t.join()
    assert 0.29 <= took < 1.0, took


def test_scaled_clock_rejects_a_speed_that_is_not_positive() -> None:
    with pytest.raises(ValueError):
        ScaledClock(0)


# --- recording ----------------------------------------------------------------------------

def test_recorder_keeps_duration_and_start_and_spans_a_repeated_answer(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "main.yaml", name="r", description="d")
    rec.begin_scenario("one")
    start = time.monotonic()
    pending, running = CommandResult("Pending"), CommandResult("Running")
    args = {"node": "n1", "command": "status"}
    rec.add("node_shell", args, [], pending, started=start + 1.0, duration=0.2)
    rec.add("node_shell", args, [], pending, started=start + 2.0, duration=0.3)   # polled again
    rec.add("node_shell", args, [], running, started=start + 4.0, duration=0.1)
    rec.begin_scenario("two")
    rec.add("node_shell", args, [], running, started=start + 9.0, duration=0.1)    # another scenario
    doc = yaml.safe_load(rec.save().read_text())
    assert "started" in doc["transcript"]
    results = doc["calls"][0]["results"]
    assert [r["stdout"] for r in results] == ["Pending", "Running"]
    assert results[0]["duration"] == pytest.approx(1.3, abs=0.01)    # 1.0 -> 2.3: every call that got it
    assert results[0]["at"] == pytest.approx(1.0, abs=0.05)
    assert results[1]["duration"] == pytest.approx(0.1)                # not stretched by scenario two
    replayed = load_transcript(tmp_path / "main.yaml")
    replayed.require_durations()


def test_lab_records_wall_duration_of_a_real_call(tmp_path: Path) -> None:
    class Slow:
        kind = "fake"

        def node_shell(self, node: str, command: str, timeout: float) -> CommandResult:
            time.sleep(0.15)
            return CommandResult("ok")

        def close(self) -> None:
            pass
    rec = Recorder(tmp_path / "main.yaml", name="r", description="d")
    Lab(Slow(), recorder=rec).shell("n1", "true")
    result = yaml.safe_load(rec.save().read_text())["calls"][0]["results"][0]
    assert 0.15 <= result["duration"] < 1.0
    assert result["at"] >= 0


def test_transcript_without_durations_still_replays_and_says_so_for_recorded_timing(tmp_path: Path) -> None:
    untimed = _write(tmp_path, "old.yaml", TIMED.replace(", duration: 2.0, at: 0.0", "")
                     .replace(", duration: 0.8", "").replace(", duration: 0.04", ""))
    transcript = load_transcript(untimed)
    lab = Lab(ReplayBackend(transcript), clock=VirtualClock())
    assert lab.shell("n1", "sleep-ish").stdout == "slow"
    with pytest.raises(TranscriptError, match=f"transcript {untimed}: holds no call durations"):
        ReplayBackend(transcript, clock=ScaledClock(1))


def test_mutant_overlay_inherits_the_durations_of_what_it_replaces(tmp_path: Path) -> None:
    _write(tmp_path, "base.yaml", TIMED)
    mutant = _write(tmp_path, "mutant.yaml", """
transcript: {name: m}
base: base.yaml
calls:
  - op: node_shell
    args: {node: n1, command: sleep-ish}
    state: []
    results: [{stdout: "changed", stderr: "", rc: 0}]
""")
    transcript = load_transcript(mutant)
    transcript.require_durations()
    entry = transcript.lookup("node_shell", {"node": "n1", "command": "sleep-ish"}, [])
    assert entry is not None and entry.results[0]["duration"] == 2.0
