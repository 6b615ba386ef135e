"""The replay backend: answers every primitive call from a transcript, strictly.

A call with no recording in the current lab state is an error that names the call and
the state (and, when the same call exists in other states, which ones): never a default
answer.  A recording with several results is a sequence: the n-th identical call in one
scenario gets the n-th result (the last one repeats), so "not yet" before "now" replays
exactly, on virtual time.  At recorded timing (`--replay-timing recorded`) each answer
takes its recorded `duration` on a scaled clock instead: the same calls, in real time.
"""
from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import Any

from cilab.errors import ReplayMiss
from cilab.retry import Clock
from cilab.transcript import Transcript, call_key, decode_result


class ReplayBackend:
    kind = "replay"

    def __init__(self, transcript: Transcript, clock: Clock | None = None) -> None:
        """`clock`, when given, replays at recorded timing: each answer takes its recorded
        `duration` on that clock (`cilab.retry.ScaledClock`); without it answers are instant."""
        self.transcript = transcript
        self.clock = clock
        if clock is not None:
            transcript.require_durations()
        self._counts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self.scenario: str | None = None
        # a recording of a lab the suite did not build replays as one (cilab.consent)
        lab = transcript.header.get("lab") or {}
        self.suite_built = bool(lab.get("suite_built", True))
        self.allow_helm_changes = bool(lab.get("allow_helm_changes", self.suite_built))
        self.allow_monitoring_example = bool(lab.get("allow_monitoring_example", self.suite_built))

    def begin_scenario(self, name: str) -> None:
        with self._lock:
            self._counts.clear()
            self.scenario = name

    def node_names(self) -> list[str]:
        nodes = self.transcript.header.get("lab", {}).get("nodes", {})
        return list(nodes)

    def _fault(self, op: str, args: dict[str, Any], state: list[str]) -> dict[str, Any] | None:
        for i, fault in enumerate(self.transcript.faults):
            if not fault.matches(op, args):
                continue
            counter = f"fault:{i}:{call_key(op, args, state)}" if fault.per_call else f"fault:{i}"
            with self._lock:
                n = self._counts[counter]
                self._counts[counter] = n + 1
            if fault.times is not None and n >= fault.times:
                continue  # the fault is over: the transcript answers
            return fault.results[min(n, len(fault.results) - 1)]
        return None

    def _take_time(self, data: dict[str, Any]) -> None:
        if self.clock is not None:
            self.clock.sleep(float(data.get("duration", 0.0)))

    def replay(self, op: str, args: dict[str, Any], state: list[str]) -> Any:
        injected = self._fault(op, args, state)
        if injected is not None:
            self._take_time(injected)  # a fault's answer is instant unless it gives a duration
            result = decode_result(op, injected)
            if isinstance(result, BaseException):
                raise result
            return result
        entry = self.transcript.lookup(op, args, state)
        if entry is None:
            others = self.transcript.near_misses(op, args)
            hint = ""
            if others:
                hint = "; recorded only in state(s) " + ", ".join(
                    json.dumps(e.state) for e in others[:4])
            raise ReplayMiss(
                f"replay: transcript {self.transcript.name!r} has no recording of "
                f"{op} {json.dumps(args, sort_keys=True)[:300]} in lab state "
                f"{json.dumps(state)}{hint}")
        key = call_key(op, args, state)
        with self._lock:
            n = self._counts[key]
            self._counts[key] = n + 1
        data = entry.results[min(n, len(entry.results) - 1)]
        self._take_time(data)
        result = decode_result(op, data)
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        pass
