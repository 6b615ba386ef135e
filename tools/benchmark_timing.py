"""pytest plugin of tools/benchmark.py: the lab time each scenario, step and stage takes.

Loaded with `-p tools.benchmark_timing` on a run at `--replay-timing recorded`; writes
JSON to $CILAB_BENCH_TIMING_OUT at the end.  Time is read from the run's `ScaledClock` as
the lab seconds it waited (`slept`: recorded call durations and retry backoff), so the
figures are the lab's and not this machine's overhead at the chosen speed.

Per scenario it keeps the marks a schedule simulation needs, as offsets from the
scenario's start: when a once-per-run stage (Hubble, monitoring) began and ended, how
much of it a warm lab would still spend, when the cluster lock was taken (shared or
exclusive), and when a resource lock (the Hubble port-forward's port) was taken and released.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pytest

import cilab.retry as retry

_clocks: list[retry.ScaledClock] = []
_init = retry.ScaledClock.__init__


def _register(self: retry.ScaledClock, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    _clocks.append(self)


retry.ScaledClock.__init__ = _register  # type: ignore[method-assign]


def lab_now() -> float:
    return _clocks[0].slept if _clocks else 0.0


class Timing:
    def __init__(self) -> None:
        self.tests: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None
        self.calls: list[list[tuple[str, float, int]]] = []   # call recorders (stack)
        self.wall_start = time.monotonic()

    def mark(self, **mark: Any) -> None:
        if self.current is not None:
            mark["at"] = lab_now() - self.current["start"]
            self.current["marks"].append(mark)


T = Timing()


@contextmanager
def _stage(name: str, warm: Any) -> Iterator[dict[str, Any]]:
    info: dict[str, Any] = {"application": 0.0}
    T.mark(kind="stage_begin", stage=name)
    try:
        yield info
    finally:
        T.mark(kind="stage_end", stage=name, application=info["application"])


def _install_wrappers() -> None:
    import cilab.locks as locks
    import cilab.monitoring as monitoring
    import cilab.stages as stages
    from cilab.lab import Lab

    original_call = Lab.call

    def call(self: Lab, op: str, scope: str | None = None, **args: Any) -> Any:
        before = lab_now()
        try:
            return original_call(self, op, scope, **args)
        finally:
            if T.calls:
                key = json.dumps([op, {k: v for k, v in args.items() if k not in ("timeout", "typed")}, scope],
                                 sort_keys=True, default=str)
                T.calls[-1].append((key, lab_now() - before, 0))
    Lab.call = call  # type: ignore[method-assign]

    def timed(fn: Any, bucket: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            before = lab_now()
            try:
                return fn(*args, **kwargs)
            finally:
                if _active.get(bucket) is not None:
                    _active[bucket]["application"] += lab_now() - before
        return wrapper

    _active: dict[str, dict[str, Any] | None] = {"hubble": None, "monitoring": None}

    ensure_hubble = stages.ensure_hubble

    def ensure_hubble_w(*args: Any, **kwargs: Any) -> Any:
        with _stage("hubble", None) as info:
            _active["hubble"] = info
            try:
                return ensure_hubble(*args, **kwargs)
            finally:
                _active["hubble"] = None
    # what a warm lab (Hubble already on) does not do: the pre-Hubble snapshot, the upgrade
    # and the rollout wait (ensure_hubble skips them when enable-hubble is already true), nor
    # wait for Relay to reconnect
    def warm_wait(wait: Callable[..., Any], stage: str) -> Callable[..., Any]:
        """A wait a warm lab passes at its first poll: only the last call per command remains
        part of the scenario; the time before is the stage's application."""
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            T.calls.append([])
            before = lab_now()
            try:
                return wait(*args, **kwargs)
            finally:
                last: dict[str, float] = {}
                for key, seconds, _ in T.calls.pop():
                    last[key] = seconds
                info = _active.get(stage)
                if info is not None:
                    info["application"] += max(0.0, lab_now() - before - sum(last.values()))
        return wrapper

    # a warm lab's Relay has long been connected: the first poll sees every node (the
    # reference has Relay reconnecting after the upgrade, a cold lab's wait)
    stages.wait_relay_connected = warm_wait(stages.wait_relay_connected, "hubble")
    stages.pre_hubble_snapshot = timed(stages.pre_hubble_snapshot, "hubble")
    stages.apply_stage = timed(stages.apply_stage, "hubble")
    stages.wait_rollout = timed(stages.wait_rollout, "hubble")
    stages.ensure_hubble = ensure_hubble_w

    ensure_monitoring = monitoring.ensure_monitoring

    def ensure_monitoring_w(*args: Any, **kwargs: Any) -> Any:
        with _stage("monitoring", None) as info:
            _active["monitoring"] = info
            try:
                return ensure_monitoring(*args, **kwargs)
            finally:
                _active["monitoring"] = None
    # a warm lab (monitoring already running) sees every Deployment ready at the first poll
    monitoring.wait_ready = warm_wait(monitoring.wait_ready, "monitoring")
    monitoring.ensure_monitoring = ensure_monitoring_w

    cluster_lock = locks.cluster_lock

    @contextmanager
    def cluster_lock_w(*args: Any, exclusive: bool, **kwargs: Any) -> Iterator[None]:
        # every scenario takes the Hubble stage (a session fixture: applied once per worker,
        # measured only in the first scenario) right before the cluster lock
        T.mark(kind="needs", stage="hubble")
        with cluster_lock(*args, exclusive=exclusive, **kwargs):
            T.mark(kind="lock", exclusive=exclusive)
            yield
    locks.cluster_lock = cluster_lock_w

    resource_lock = locks.resource_lock

    @contextmanager
    def resource_lock_w(shared_dir: Any, name: str, **kwargs: Any) -> Iterator[None]:
        with resource_lock(shared_dir, name, **kwargs):
            T.mark(kind="resource", resource=name)
            try:
                yield
            finally:
                T.mark(kind="resource_release", resource=name)
    locks.resource_lock = resource_lock_w
    # step modules that imported it by name before this plugin was configured
    import sys
    for module in list(sys.modules.values()):
        if getattr(module, "resource_lock", None) is resource_lock and module is not locks:
            module.resource_lock = resource_lock_w  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    _install_wrappers()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Iterator[None]:
    T.current = {"nodeid": item.nodeid, "name": item.name, "start": lab_now(), "marks": [],
                 "wall_start": time.monotonic()}
    yield
    T.current["end"] = lab_now()
    T.current["duration"] = T.current["end"] - T.current["start"]
    T.current["wall"] = time.monotonic() - T.current["wall_start"]
    T.tests.append(T.current)
    T.current = None


def pytest_bdd_before_step(request: Any, feature: Any, scenario: Any, step: Any, step_func: Any) -> None:
    import inspect
    for param in inspect.signature(step_func).parameters:
        if param == "monitoring_stage":   # a session fixture: once per worker, at its first use
            T.mark(kind="needs", stage="monitoring")
    request.node.stash.setdefault(_STEP, []).append(lab_now())


def _after(request: Any, step: Any) -> None:
    started = request.node.stash.get(_STEP, [])
    if started:
        T.steps.append({"test": request.node.name, "step": f"{step.keyword} {step.name}",
                        "seconds": lab_now() - started.pop()})


def pytest_bdd_after_step(request: Any, feature: Any, scenario: Any, step: Any, step_func: Any,
                          step_func_args: Any) -> None:
    _after(request, step)


def pytest_bdd_step_error(request: Any, feature: Any, scenario: Any, step: Any, step_func: Any,
                          step_func_args: Any, exception: Any) -> None:
    _after(request, step)


_STEP = pytest.StashKey[list]()


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("CILAB_BENCH_TIMING_OUT")
    if not out:
        return
    speed = _clocks[0].speed if _clocks else 1.0
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"speed": speed, "tests": T.tests, "steps": T.steps,
                   "wall": time.monotonic() - T.wall_start,
                   "passed": session.testscollected - session.testsfailed,
                   "failed": session.testsfailed}, fh, indent=1)
