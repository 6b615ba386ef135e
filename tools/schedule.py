"""Simulate the suite on a real lab under `pytest -n N`: xdist's load scheduler, the
once-per-run stages and the cluster readers-writer lock, on measured scenario times.

Input: per scenario (in collection order) its lab-time duration and marks measured in one
run (tools/benchmark_timing.py): when a once-per-run stage began and ended (and how much
of it a warm lab still spends), and when the cluster lock was taken, shared or exclusive.
The simulation replays those scenarios on N workers:

* scheduling as pytest-xdist 3.x `LoadScheduling`: each worker first gets a chunk of
  consecutive tests (collection // N // 4, at least 2); a worker that finishes a test and
  has fewer than 2 left (and fewer than pending // N // 4) gets up to pending // N // 2
  more; tests run in the order received;
* a stage (Hubble, monitoring) is applied by the first worker that needs it, the others
  wait on its file lock until it is done, later ones pay nothing (cilab.stages);
* the cluster lock (cilab.locks): a scenario holds it shared from the mark to its end; an
  exclusive holder waits until no reader holds it and keeps new readers out while it
  waits (the turnstile: writer preference);
* a resource lock (cilab.locks.resource_lock, e.g. the Hubble port-forward's port 4245 on
  k8s-ctr): exclusive, from its mark to its release mark (or the scenario's end); a
  scenario that wants it while another holds it waits for the release, and scenarios that
  do not use the resource go on.

Nothing else competes (no CPU or API-server contention between workers is modelled: a
real lab's three VMs serve the API and kubelets; see docs/benchmarks.md).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Segment:
    worker: int
    test: str
    start: float
    end: float
    waited: float = 0.0
    waited_for: str = ""
    #: (worker, test) whose release ended the wait
    blocker: tuple[int, str] | None = None


@dataclass
class Result:
    workers: int
    makespan: float
    segments: list[Segment]
    exclusive_held: float = 0.0
    exclusive_writer_wait: float = 0.0
    blocked_by_exclusive: float = 0.0
    stage_wait: float = 0.0
    #: worker-seconds spent waiting for a resource lock, per resource
    resource_wait: dict[str, float] = field(default_factory=dict)
    critical_path: list[Segment] = field(default_factory=list)


def ops_of(test: dict[str, Any], warm: bool) -> list[tuple[Any, ...]]:
    """A measured scenario as a list of operations: work, stage, lock."""
    ops: list[tuple[Any, ...]] = []
    t = 0.0
    open_stage: dict[str, float] = {}
    for mark in test["marks"]:
        at = mark["at"]
        if mark["kind"] == "stage_begin":
            if at > t:
                ops.append(("work", at - t))
            t = at
            open_stage[mark["stage"]] = at
        elif mark["kind"] == "stage_end":
            began = open_stage.pop(mark["stage"], at)
            cost = at - began
            if warm:
                cost = max(0.0, cost - mark["application"])
            ops.append(("stage", mark["stage"], cost))
            t = at
        elif mark["kind"] == "needs":
            if at > t:
                ops.append(("work", at - t))
            t = at
            ops.append(("stage", mark["stage"], None))
        elif mark["kind"] == "lock":
            if at > t:
                ops.append(("work", at - t))
            t = at
            ops.append(("lock", bool(mark["exclusive"])))
        elif mark["kind"] in ("resource", "resource_release"):
            if at > t:
                ops.append(("work", at - t))
            t = at
            ops.append(("acquire" if mark["kind"] == "resource" else "release", mark["resource"]))
    if test["duration"] > t:
        ops.append(("work", test["duration"] - t))
    return ops


class _Lock:
    def __init__(self) -> None:
        self.readers: set[int] = set()
        self.writer: int | None = None
        self.waiting_writer: int | None = None


def simulate(tests: list[dict[str, Any]], workers: int, *, warm: bool) -> Result:
    names = [t["name"] for t in tests]
    ops = [ops_of(t, warm) for t in tests]
    # stage cost: what the first scenario that needed it measured (later ones measured ~0)
    stage_cost: dict[str, float] = {}
    for test_ops in ops:
        for op in test_ops:
            if op[0] == "stage" and op[2] is not None and op[1] not in stage_cost:
                stage_cost[op[1]] = op[2]
    pending = list(range(len(tests)))
    queues: list[list[int]] = [[] for _ in range(workers)]
    done_workers: set[int] = set()

    def send(w: int, n: int) -> None:
        queues[w].extend(pending[:n])
        del pending[:n]

    if len(pending) < 2 * workers:
        for i in range(len(pending)):
            send(i % workers, 1)
    else:
        chunk = max(min(len(tests) // workers // 4, len(tests)), 2)
        for w in range(workers):
            send(w, chunk)

    def refill(w: int) -> None:
        if not pending:
            return
        lo = max(2, len(pending) // workers // 4)
        hi = max(2, len(pending) // workers // 2)
        if len(queues[w]) < lo and len(queues[w]) < 2:
            send(w, hi - len(queues[w]))

    lock = _Lock()
    resources: dict[str, int] = {}   # resource -> worker holding it
    stage_state: dict[str, tuple[str, int, str, float]] = {}   # name -> (running|done, worker, test, end)
    segments: list[Segment] = []
    result = Result(workers, 0.0, segments)
    # per worker: current test index, op position, segment
    cur: dict[int, list[Any]] = {}
    events: list[tuple[float, int, int]] = []   # (time, seq, worker): worker may proceed
    seq = 0
    blocked: dict[int, tuple[str, float, Any]] = {}   # worker -> (what, since, detail)
    exclusive_start = 0.0

    def wake(t: float, w: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, w))

    def start_next(w: int, t: float) -> None:
        if not queues[w]:
            done_workers.add(w)
            return
        i = queues[w].pop(0)
        seg = Segment(w, names[i], t, t)
        cur[w] = [i, 0, seg]
        wake(t, w)

    def release_lock(w: int, t: float) -> None:
        nonlocal exclusive_start
        if lock.writer == w:
            lock.writer = None
            result.exclusive_held += t - exclusive_start
        lock.readers.discard(w)
        for other in list(blocked):
            if blocked[other][0] == "lock":
                wake(t, other)

    def release_resource(w: int, name: str, t: float) -> None:
        if resources.get(name) == w:
            del resources[name]
            for other in list(blocked):
                if blocked[other][0] == "resource" and blocked[other][2][0] == name:
                    wake(t, other)

    def step(w: int, t: float) -> None:
        nonlocal exclusive_start
        i, pos, seg = cur[w]
        test_ops = ops[i]
        while pos < len(test_ops):
            op = test_ops[pos]
            if op[0] == "work":
                cur[w][1] = pos + 1
                wake(t + op[1], w)
                return
            if op[0] == "stage":
                name = op[1]
                if name in seen[w] or name not in stage_cost:
                    pos += 1   # a session fixture: this worker has it already
                    continue
                state = stage_state.get(name)
                if state is None:
                    stage_state[name] = ("running", w, seg.test, t + stage_cost[name])
                    seen[w].add(name)
                    cur[w][1] = pos + 1
                    wake(t + stage_cost[name], w)
                    return
                if state[0] == "running" and state[1] != w:
                    if t < state[3]:
                        if w not in blocked:
                            blocked[w] = ("stage", t, (state[1], state[2]))
                        cur[w][1] = pos
                        wake(state[3], w)
                        return
                if state[0] == "running" and t >= state[3]:
                    stage_state[name] = ("done",) + state[1:]
                seen[w].add(name)
                if w in blocked and blocked[w][0] == "stage":
                    what, since, who = blocked.pop(w)
                    seg.waited += t - since
                    seg.waited_for = f"the {name} stage"
                    seg.blocker = who
                    result.stage_wait += t - since
                pos += 1
                continue
            if op[0] == "acquire":
                name = op[1]
                holder = resources.get(name)
                if holder is not None and holder != w:
                    if w not in blocked:
                        blocked[w] = ("resource", t, (name, holder, cur[holder][2].test))
                    cur[w][1] = pos
                    return   # woken by the holder's release
                if w in blocked and blocked[w][0] == "resource":
                    what, since, (_, holder_w, holder_test) = blocked.pop(w)
                    seg.waited += t - since
                    seg.waited_for = f"the {name} lock"
                    seg.blocker = (holder_w, holder_test)
                    result.resource_wait[name] = result.resource_wait.get(name, 0.0) + t - since
                resources[name] = w
                pos += 1
                continue
            if op[0] == "release":
                release_resource(w, op[1], t)
                pos += 1
                continue
            if op[0] == "lock":
                exclusive = op[1]
                if exclusive:
                    if lock.waiting_writer is None and lock.writer is None:
                        lock.waiting_writer = w
                    ok = lock.waiting_writer == w and lock.writer is None and not lock.readers
                else:
                    ok = lock.writer is None and lock.waiting_writer is None
                if not ok:
                    if w not in blocked:
                        holder = lock.writer if lock.writer is not None else lock.waiting_writer
                        blocked[w] = ("lock", t, holder)
                    cur[w][1] = pos
                    return   # woken by a release
                if w in blocked and blocked[w][0] == "lock":
                    what, since, holder = blocked.pop(w)
                    seg.waited += t - since
                    if exclusive:
                        seg.waited_for = "running scenarios to release the shared lock"
                        result.exclusive_writer_wait += t - since
                    else:
                        seg.waited_for = "the exclusive cluster lock"
                        result.blocked_by_exclusive += t - since
                        if holder is not None and holder in cur:
                            seg.blocker = (holder, segments_by_worker_last.get(holder, ""))
                if exclusive:
                    lock.waiting_writer = None
                    lock.writer = w
                    exclusive_start = t
                else:
                    lock.readers.add(w)
                pos += 1
                continue
        # test finished
        seg.end = t
        segments.append(seg)
        segments_by_worker_last[w] = seg.test
        for name in [n for n, holder in resources.items() if holder == w]:
            release_resource(w, name, t)
        release_lock(w, t)
        del cur[w]
        refill(w)
        start_next(w, t)

    segments_by_worker_last: dict[int, str] = {}
    seen: dict[int, set[str]] = {w: set() for w in range(workers)}
    for w in range(workers):
        segments_by_worker_last[w] = ""
        start_next(w, 0.0)
    # a worker that received its tests proceeds; also keep `cur` names for blockers
    while events:
        t, _, w = heapq.heappop(events)
        if w not in cur:
            continue
        if w in blocked and blocked[w][0] == "lock":
            # re-check the lock at a release
            step(w, t)
            continue
        if w in blocked and blocked[w][0] in ("stage", "resource"):
            step(w, t)
            continue
        step(w, t)
        result.makespan = max(result.makespan, t)
    result.makespan = max((s.end for s in segments), default=0.0)
    result.critical_path = critical_path(segments)
    return result


def critical_path(segments: list[Segment]) -> list[Segment]:
    """From the last scenario to finish back to the start: on its worker, and across to
    the worker that held what a scenario waited for."""
    if not segments:
        return []
    by_worker: dict[int, list[Segment]] = {}
    for s in segments:   # in the order each worker ran them
        by_worker.setdefault(s.worker, []).append(s)
    path: list[Segment] = []
    seg: Segment | None = max(segments, key=lambda s: s.end)
    while seg is not None:
        path.append(seg)
        if seg.blocker is not None and seg.waited > 1.0:
            worker, test = seg.blocker
            resumed = seg.start + seg.waited
            candidates = [s for s in by_worker.get(worker, []) if s.start <= resumed + 1e-6
                          and (not test or s.test == test) and s not in path]
            if candidates:
                seg = max(candidates, key=lambda s: s.end)
                continue
        mine = by_worker[seg.worker]
        k = mine.index(seg)
        seg = mine[k - 1] if k > 0 else None
    return list(reversed(path))
