"""Probe run by tests/selftest/test_consent_restore.py in a pytest of its own (never collected
otherwise): on `--lab kubeconfig --allow-helm-changes` it changes the Cilium release the way
the stage code does (the release recorded once per run under a lock, then a stage layered over
the values found), and can stop the whole run with a signal mid-test, as Ctrl-C in a terminal
does (to every process of the run), or kill it (SIGKILL: nothing runs after it)."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from filelock import FileLock

from cilab.consent import found_release, record_release, restore_left_over
from cilab.lab import Lab
from cilab.stages import apply_stage


def _changed(lab: Lab, shared: Path, stage: str) -> None:
    with FileLock(str(shared / "probe-stage.lock"), timeout=60):
        found = found_release(shared)
        if found is None:
            found = record_release(lab, shared, str(lab.info.get("run_id", "")), print)
        lab.info["helm_found"] = found
        apply_stage(lab, stage, "1.17.6")
    stop = os.environ.get("CILAB_PROBE_STOP")
    if stop:
        os.killpg(os.getpgid(0), getattr(signal, stop))


@pytest.mark.parametrize("stage", ["hubble", "redaction"])
def test_stage_changed(lab: Lab, lab_shared_dir: Path, stage: str) -> None:
    _changed(lab, lab_shared_dir, stage)


def test_next_run_acts_on_the_marker(lab: Lab) -> None:
    lines: list[str] = []
    assert restore_left_over(lab, lines.append) is not None
    print("\n".join(lines))
