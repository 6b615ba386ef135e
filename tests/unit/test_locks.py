"""The cluster lock is a readers-writer lock across processes (xdist workers)."""
from __future__ import annotations

import fcntl
import multiprocessing as mp
import os
from pathlib import Path

import pytest

from cilab.errors import LabUnavailable
from cilab.locks import cluster_lock
from cilab.retry import eventually


def _hold(shared: str, exclusive: bool, ready: "mp.synchronize.Event", release: "mp.synchronize.Event") -> None:
    with cluster_lock(Path(shared), exclusive=exclusive):
        ready.set()
        release.wait(30)


@pytest.fixture
def holder(tmp_path: Path):
    procs = []

    def start(exclusive: bool) -> "mp.synchronize.Event":
        ready, release = mp.Event(), mp.Event()
        p = mp.Process(target=_hold, args=(str(tmp_path), exclusive, ready, release))
        p.start()
        assert ready.wait(10), "holder did not get the lock"
        procs.append((p, release))
        return release
    yield start
    for p, release in procs:
        release.set()
        p.join(10)


def test_readers_share(tmp_path: Path, holder) -> None:
    holder(False)
    with cluster_lock(tmp_path, exclusive=False, budget=2):
        pass


def test_writer_waits_for_readers_and_reports_it(tmp_path: Path, holder) -> None:
    holder(False)
    with pytest.raises(LabUnavailable, match="exclusive cluster lock"):
        with cluster_lock(tmp_path, exclusive=True, budget=0.5):
            pass


def test_readers_wait_for_a_writer(tmp_path: Path, holder) -> None:
    release = holder(True)
    with pytest.raises(LabUnavailable, match="shared cluster lock"):
        with cluster_lock(tmp_path, exclusive=False, budget=0.5):
            pass
    release.set()
    with cluster_lock(tmp_path, exclusive=False, budget=10):
        pass


def test_a_waiting_writer_keeps_new_readers_out(tmp_path: Path, holder) -> None:
    """Writer preference: while a writer waits for a reader, a new reader must wait too."""
    reader = holder(False)
    ready, release = mp.Event(), mp.Event()

    def writer() -> None:
        with cluster_lock(tmp_path, exclusive=True, budget=20):
            ready.set()
            release.wait(30)

    p = mp.Process(target=writer)
    p.start()
    try:
        gate = os.open(tmp_path / "cluster.turnstile", os.O_RDWR | os.O_CREAT, 0o600)

        def writer_holds_turnstile() -> None:
            try:
                fcntl.flock(gate, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            fcntl.flock(gate, fcntl.LOCK_UN)
            raise AssertionError("the writer has not reached the turnstile yet")

        eventually(writer_holds_turnstile, what="writer waiting", budget=10, initial=0.01, maximum=0.1)
        os.close(gate)
        # the writer now waits behind the first reader, holding the turnstile: a new reader waits
        with pytest.raises(LabUnavailable, match="turnstile"):
            with cluster_lock(tmp_path, exclusive=False, budget=0.5):
                pass
        reader.set()                 # the first reader leaves ...
        assert ready.wait(10)        # ... and the writer gets the lock
    finally:
        release.set()
        p.join(10)
