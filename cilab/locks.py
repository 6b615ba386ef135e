"""Cross-process locks for one test run (shared by every xdist worker).

`cluster_lock` is a readers-writer lock on one file (fcntl.flock LOCK_SH / LOCK_EX):
ordinary scenarios hold it shared for their whole run, a scenario that changes the
cluster for everyone (a helm upgrade) holds it exclusive, so it waits for running
scenarios to finish and keeps new ones out until it has restored the cluster.
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


@contextmanager
def cluster_lock(shared_dir: Path, *, exclusive: bool, budget: float = LOCK_BUDGET,
                 clock: Clock | None = None) -> Iterator[None]:
    path = Path(shared_dir) / "cluster.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    kind = "exclusive" if exclusive else "shared"

    def take() -> None:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AssertionError(f"{path} is held {'by readers or a writer' if exclusive else 'exclusively'}") from None

    try:
        try:
            eventually(take, what=f"take the {kind} cluster lock", budget=budget,
                       clock=clock or Clock(), initial=0.05, maximum=2.0)
        except AssertionError as exc:
            raise LabUnavailable(str(exc)) from None
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
