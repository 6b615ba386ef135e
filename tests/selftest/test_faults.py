"""Faults injected through transcripts (fixtures/transcripts/faults/): transient failures
pass within budget with the retries in the report, a component that stays down fails
exactly the scenarios that need it with that reason (never a silent skip), and a dead lab
ends the session with one error, fast."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.selftest.suite_runner import ROOT, run_suite

FAULTS = sorted((ROOT / "fixtures" / "transcripts" / "faults").glob("*.yaml"))


def _selected(tmp_path: Path, marker_expr: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--lab", "replay", "--collect-only", "-q",
                           "-m", marker_expr, "--basetemp", str(tmp_path / "collect")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    return {line.split("::", 1)[1] for line in proc.stdout.splitlines() if "::" in line}


@pytest.mark.parametrize("fault", FAULTS, ids=[f.stem for f in FAULTS])
def test_fault(fault: Path, tmp_path: Path) -> None:
    expect = yaml.safe_load(fault.read_text())["expect"]
    alluredir = tmp_path / "allure"
    started = time.monotonic()
    run = run_suite(tmp_path / "run", "--transcript", str(fault), f"--alluredir={alluredir}")
    took = time.monotonic() - started
    assert not run.skipped, f"{fault.name}: scenarios were skipped: {sorted(run.skipped)}"
    if expect.get("stops_session"):
        assert run.rc != 0
        assert len(run.failed) == 1 and not run.passed, (
            f"{fault.name}: expected the session to stop after one error, got "
            f"{len(run.failed)} failed / {len(run.passed)} passed")
        assert expect["message"] in next(iter(run.failed.values()))
        assert took < 60, f"a dead lab took {took:.0f}s to report"
        return
    failing = expect.get("failing", "none")
    want = set() if failing == "none" else _selected(tmp_path, failing)
    assert set(run.failed) == want, (f"{fault.name}: expected exactly {sorted(want)} to fail; "
                                     f"failed {sorted(run.failed)}\n{run.output[-2500:]}")
    for name, message in run.failed.items():
        assert expect["message"] in message, f"{fault.name}: {name} failed without the reason:\n{message[:1200]}"
    if "attachment" in expect:
        texts = [p.read_text(errors="replace") for p in alluredir.glob("*-attachment*")]
        assert any(expect["attachment"] in t for t in texts), \
            f"{fault.name}: no report attachment shows {expect['attachment']!r}"
