"""Progress lines: what the worker writes reaches the terminal whole, and a long phase is
never silent (cilab.progress)."""
from __future__ import annotations

from pathlib import Path

from cilab.progress import MachineProgress, ProgressFile, Tail


def test_tail_prints_whole_lines_only(tmp_path: Path) -> None:
    seen: list[str] = []
    tail = Tail(tmp_path / "progress.log", seen.append)
    tail.poll()  # no file yet: nothing, no error
    ProgressFile(tmp_path)("k8s-ctr: boot, 5s, log x.log")
    with open(tmp_path / "progress.log", "ab") as f:
        f.write(b"[cilab] half a li")
    tail.poll()
    assert seen == ["[cilab] k8s-ctr: boot, 5s, log x.log"]
    with open(tmp_path / "progress.log", "ab") as f:
        f.write(b"ne\n")
    tail.poll()
    assert seen[-1] == "[cilab] half a line"


def test_phases_move_forward_and_heartbeat_repeats_the_line() -> None:
    now = [100.0]
    lines: list[str] = []
    p = MachineProgress(["k8s-ctr", "k8s-w1"], Path("up.log"), lines.append, now=lambda: now[0], heartbeat=30)
    p.feed("==> k8s-ctr: Importing base box 'bento/ubuntu-24.04'...")
    now[0] += 65
    p.feed("==> k8s-ctr: Booting VM...")
    p.feed("==> k8s-ctr: Importing base box again")       # never back to an earlier phase
    p.feed("==> other: Booting VM...")                      # not a lab machine
    p.feed("    k8s-ctr: [cilab k8s-ctr] kubeadm init (Kubernetes v1.33.2)")
    assert lines == ["k8s-ctr: box, 0s, log up.log", "k8s-ctr: boot, 1m05s, log up.log",
                     "k8s-ctr: kubeadm, 1m05s, log up.log"]
    now[0] += 31
    p.heartbeat()
    assert lines[-2:] == ["k8s-ctr: kubeadm, 1m36s, log up.log", "k8s-w1: waiting, 1m36s, log up.log"]
    p.heartbeat()  # nothing new within 30 s
    assert len(lines) == 5
