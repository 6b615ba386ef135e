"""Probe run by tests/selftest/test_foreign_vagrant_run.py in a pytest of its own (never
collected otherwise), on `--lab vagrant --vagrant-dir <a write-up folder>` with the stand-in
vagrant, the loopback sshd and the fake API server.  It asks for the monitoring example and
the stages the way the suite's stage code does (cilab.monitoring.ensure_monitoring;
consent_probe's record-then-layer), and can stop the whole run with a signal after its
first stage change (CILAB_PROBE_STOP), as Ctrl-C in a terminal does.  Without consent each
change is refused (and the monitoring scenarios' reason is printed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from cilab.consent import may_change
from cilab.errors import ConfigError
from cilab.lab import Lab
from cilab.monitoring import ensure_monitoring
from cilab.stages import apply_stage
from tests.selftest.data.consent_probe import _changed


def test_monitoring_example(lab: Lab, lab_shared_dir: Path) -> None:
    record = ensure_monitoring(lab, lab_shared_dir, "1.17.6")
    if record.get("not_checked"):
        pytest.skip(record["not_checked"])
    assert record["deployed"] and record["applied_by_this_run"], record


@pytest.mark.parametrize("stage", ["hubble", "redaction"])
def test_stage_changed(lab: Lab, lab_shared_dir: Path, stage: str) -> None:
    if not may_change(lab):
        with pytest.raises(ConfigError, match="pass --allow-helm-changes"):
            apply_stage(lab, stage, "1.17.6")
        return
    _changed(lab, lab_shared_dir, stage)
