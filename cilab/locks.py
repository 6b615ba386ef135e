"""Cross-process locks for one test run (shared by every xdist worker).

`cluster_lock` is a readers-writer lock on files in the run's shared folder
(`fcntl.flock`): ordinary scenarios hold `cluster.lock` shared for their whole run, a
scenario that changes the cluster for everyone (a helm upgrade) holds it exclusive, so it
waits for running scenarios to finish and keeps new ones out until it has restored the
cluster.  flock alone would let a steady stream of readers starve a writer, so a second
file, `cluster.turnstile`, gives the writer preference: a writer holds the turnstile while
it waits, and every new reader must pass the turnstile before it takes its shared lock.
Waiting is bounded and polled with backoff; on timeout the error says who waited for what.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cilab.errors import LabUnavailable
from cilab.retry import Clock, eventually

LOCK_BUDGET = 1800.0


def _take(fd: int, mode: int, what: str, budget: float, clock: Clock) -> None:
    def attempt() -> None:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AssertionError("held by another scenario") from None
    try:
        eventually(attempt, what=what, budget=budget, clock=clock, initial=0.05, maximum=2.0)
    except AssertionError as exc:
        raise LabUnavailable(str(exc)) from None


@contextmanager
def cluster_lock(shared_dir: Path, *, exclusive: bool, budget: float = LOCK_BUDGET,
                 clock: Clock | None = None) -> Iterator[None]:
    clock = clock or Clock()
    shared_dir = Path(shared_dir)
    shared_dir.mkdir(parents=True, exist_ok=True)
    kind = "exclusive" if exclusive else "shared"
    gate = os.open(shared_dir / "cluster.turnstile", os.O_RDWR | os.O_CREAT, 0o600)
    fd = os.open(shared_dir / "cluster.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # readers pass the turnstile (and release it at once); a writer keeps it while it waits
        _take(gate, fcntl.LOCK_EX, f"pass the cluster lock's turnstile ({kind})", budget, clock)
        try:
            _take(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH,
                  f"take the {kind} cluster lock", budget, clock)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
        os.close(gate)


@contextmanager
def resource_lock(shared_dir: Path, name: str, *, what: str, budget: float = LOCK_BUDGET,
                  clock: Clock | None = None) -> Iterator[None]:
    """An exclusive lock on one shared resource of the lab (a port on a node, say) for the
    scenarios of this run that use it, across xdist workers (`<name>.lock` in the run's
    shared folder).  Scenarios that do not use the resource are not held up."""
    clock = clock or Clock()
    shared_dir = Path(shared_dir)
    shared_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(shared_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _take(fd, fcntl.LOCK_EX, f"take the lock on {what}", budget, clock)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
