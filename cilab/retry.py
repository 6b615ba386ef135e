"""`eventually`: the one bounded retry helper every probe and step uses.

A check is polled with exponential backoff until it passes or its budget is spent; on
timeout the failure names what was expected and shows the last thing observed.  Time is
read from a `Clock`, so the replay lab runs the same retry logic on virtual time (a
retried probe that sees "not yet" before "now" costs nothing offline) while a real lab
waits for real.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from tenacity import (Retrying, RetryCallState, retry_if_exception,
                      wait_exponential)

from cilab.errors import LabError, LabUnavailable, ServiceNotReady

log = logging.getLogger("cilab.retry")
T = TypeVar("T")


class Final(AssertionError):
    """A failed expectation that no retry can change (a program the write-up installs is
    not on the node: cilab.node_tools): `eventually` lets it through at once."""


class Clock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def real_seconds(self, seconds: float) -> float:
        """How long a wait of `seconds` on this clock takes in wall time (for waits that
        block in the operating system, such as a file lock's timeout)."""
        return seconds


class ScaledClock(Clock):
    """Lab time running `speed` times faster than wall time (`--replay-timing recorded`).

    Every wait on it (a backoff sleep, a replayed call's recorded duration, a lock's poll)
    takes its length divided by `speed` in wall time, so workers, locks and retries
    interleave as on the real lab, only faster.  `slept` adds up the lab seconds waited
    (the benchmark's measure, free of this machine's own overhead).
    """

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.speed = float(speed)
        self.slept = 0.0
        self._start = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._start) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept += seconds
            time.sleep(seconds / self.speed)

    def real_seconds(self, seconds: float) -> float:
        return seconds / self.speed


@dataclass
class VirtualClock(Clock):
    """Time that only moves when somebody waits: replayed backoff costs no wall time."""

    t: float = 0.0
    slept: float = field(default=0.0)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds


class NotYet(AssertionError):
    """Raised by a check that has not passed yet; its message is the observation."""


@dataclass
class Attempts:
    """What a finished `eventually` saw (attached to reports)."""

    count: int = 0
    elapsed: float = 0.0
    observations: list[str] = field(default_factory=list)


#: one table of budgets (seconds) so a real lab's patience is tuned in one place
BUDGETS: dict[str, float] = {
    "default": 60.0,
    "rollout": 300.0,
    "relay": 180.0,
    "policy": 120.0,
    "flows": 60.0,
    "metrics": 120.0,
}


def _stop_before(clock: Clock, start: float, budget: float) -> Callable[[RetryCallState], bool]:
    def stop(state: RetryCallState) -> bool:
        upcoming = state.upcoming_sleep or 0.0
        return clock.now() - start + upcoming >= budget
    return stop


def eventually(check: Callable[[], T], *, what: str, budget: float | str = "default",
               clock: Clock | None = None, initial: float = 0.5, maximum: float = 2.0,
               on_attempt: Callable[[int, str], None] | None = None,
               transport_retries: int = 2, attempts_out: Attempts | None = None) -> T:
    """Call `check` until it returns without raising `AssertionError`.

    `check` raises AssertionError (or `NotYet`) whose text describes what it saw.  A
    service of the lab that does not answer yet (`ServiceNotReady`: a refused NodePort, a
    restarting container, a namespace without its ServiceAccount yet) is "not yet" like an
    AssertionError, retried until the budget ends.  A transport blip (`LabUnavailable`:
    the API server or SSH) is retried `transport_retries` times, then propagates; any
    other `LabError` propagates at once (a broken lab is not "not yet").
    On timeout an AssertionError is raised: "<what>: not true within <budget>s after <n>
    attempts; last observed: <text>".  `attempts_out`, when given, is filled in.
    """
    clock = clock or Clock()
    seconds = BUDGETS[budget] if isinstance(budget, str) else float(budget)
    start = clock.now()
    attempts = attempts_out if attempts_out is not None else Attempts()
    transport_errors = 0
    retrying = Retrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, AssertionError) and not isinstance(exc, Final)),
        wait=wait_exponential(multiplier=initial, min=initial, max=maximum),
        stop=_stop_before(clock, start, seconds),
        sleep=clock.sleep,
        reraise=True,
    )
    last: AssertionError | None = None
    try:
        for attempt in retrying:
            with attempt:
                attempts.count += 1
                try:
                    result = check()
                    attempts.elapsed = clock.now() - start
                    return result
                except ServiceNotReady as exc:
                    text = f"not ready: {exc}"
                    last = NotYet(text)
                    attempts.observations.append(text)
                    if on_attempt:
                        on_attempt(attempts.count, text)
                    log.info("%s: attempt %d not yet: %s", what, attempts.count, text)
                    raise last from None
                except LabUnavailable as exc:
                    transport_errors += 1
                    if transport_errors > transport_retries:
                        raise
                    attempts.observations.append(f"transport: {exc}")
                    if on_attempt:
                        on_attempt(attempts.count, f"transport: {exc}")
                    raise NotYet(f"transport: {exc}") from None
                except (LabError, Final):
                    raise
                except AssertionError as exc:
                    last = exc
                    # pytest's assertion rewriting appends "\nassert <expr>": keep the message
                    text = str(exc).split("\nassert ")[0] or exc.__class__.__name__
                    attempts.observations.append(text)
                    if on_attempt:
                        on_attempt(attempts.count, text)
                    log.info("%s: attempt %d not yet: %s", what, attempts.count, text)
                    raise
    except Final:
        attempts.elapsed = clock.now() - start
        raise
    except AssertionError:
        pass
    attempts.elapsed = clock.now() - start
    observed = str(last) if last is not None else "nothing"
    raise AssertionError(
        f"{what}: not true within {seconds:g}s after {attempts.count} attempt(s); "
        f"last observed: {observed}")
