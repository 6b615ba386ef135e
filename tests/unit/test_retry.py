from __future__ import annotations

import pytest

from cilab.errors import ConfigError, LabUnavailable, ServiceNotReady
from cilab.retry import Attempts, VirtualClock, eventually


def test_passes_after_not_yet_within_budget_on_virtual_time() -> None:
    clock = VirtualClock()
    seen = iter(["0/1 ready", "0/1 ready", None])
    attempts = Attempts()

    def check() -> str:
        state = next(seen)
        assert state is None, state
        return "ok"

    assert eventually(check, what="relay ready", budget=60, clock=clock, attempts_out=attempts) == "ok"
    assert attempts.count == 3
    assert attempts.observations == ["0/1 ready", "0/1 ready"]
    assert 0 < clock.slept < 60


def test_timeout_names_expectation_and_last_observation() -> None:
    clock = VirtualClock()
    n = 0

    def check() -> None:
        nonlocal n
        n += 1
        raise AssertionError(f"saw {n}/3 connected")

    with pytest.raises(AssertionError) as exc:
        eventually(check, what="every node connected", budget=30, clock=clock)
    text = str(exc.value)
    assert text.startswith("every node connected: not true within 30s after ")
    assert text.endswith(f"last observed: saw {n}/3 connected")
    assert clock.now() <= 30  # stop_before: never sleeps past the budget


def test_transport_blips_are_retried_then_propagate() -> None:
    clock = VirtualClock()
    calls = iter([LabUnavailable("ssh reset"), LabUnavailable("ssh reset"), "fine"])

    def flaky() -> str:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert eventually(flaky, what="ss", budget=60, clock=clock) == "fine"

    def dead() -> None:
        raise LabUnavailable("connection refused")

    with pytest.raises(LabUnavailable):
        eventually(dead, what="ss", budget=60, clock=VirtualClock())


def test_lab_errors_other_than_transport_propagate_at_once() -> None:
    n = 0

    def check() -> None:
        nonlocal n
        n += 1
        raise ConfigError("bad kubeconfig")

    with pytest.raises(ConfigError):
        eventually(check, what="x", budget=60, clock=VirtualClock())
    assert n == 1


def test_a_service_not_ready_is_not_yet_until_the_budget_ends() -> None:
    # a refused NodePort or a restarting container: retried far beyond the 2 transport blips
    clock = VirtualClock()
    n = 0

    def refused_five_times() -> str:
        nonlocal n
        n += 1
        if n <= 5:
            raise ServiceNotReady("GET http://192.168.10.100:30001/-/ready failed: [Errno 111] Connection refused")
        return "ready"

    assert eventually(refused_five_times, what="Prometheus ready", budget=60, clock=clock) == "ready"
    assert n == 6

    def never() -> None:
        raise ServiceNotReady("GET http://192.168.10.100:30002/api/health failed: timed out")

    attempts = Attempts()
    with pytest.raises(AssertionError) as exc:
        eventually(never, what="Grafana healthy", budget=30, clock=VirtualClock(), attempts_out=attempts)
    assert attempts.count > 3
    assert str(exc.value).startswith("Grafana healthy: not true within 30s")
    assert str(exc.value).endswith("last observed: not ready: GET http://192.168.10.100:30002/api/health "
                                   "failed: timed out")
