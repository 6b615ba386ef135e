"""SIGINT or SIGTERM during a scenario still runs its cleanup (the namespace delete shows in
the lab's call log), and the next run starts clean (it deletes and awaits leftovers before
creating anything)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.selftest.suite_runner import ROOT

SCENARIO = "tiefighter_still_lands"
STEP = "the deathstar answers"


def _run(tmp: Path, log: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
    env.update(env_extra)
    tmp.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "pytest", "--lab", "replay", "-q", "-p", "tests.selftest.interrupt_plugin",
                           "-k", SCENARIO, f"--call-log={log}", "--basetemp", str(tmp / "bt")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_runs_cleanup_and_the_next_run_starts_clean(sig: str, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    first = _run(tmp_path / "1", log, {"CILAB_INTERRUPT_AT": STEP, "CILAB_INTERRUPT_SIGNAL": sig})
    assert first.returncode == 2, f"expected an interrupted run (exit 2), got {first.returncode}:\n{first.stdout[-1500:]}"
    lines = log.read_text().splitlines()
    created = [m.group(1) for line in lines if (m := re.search(r"kubectl apply --server-side \(Namespace/(\S+)\)", line))]
    assert created, "the scenario never created its namespace:\n" + "\n".join(lines[-20:])
    ns = created[-1]
    deletes = [i for i, line in enumerate(lines) if line.startswith(f"kubectl delete Namespace {ns}") and "=>  bool" in line]
    applied = max(i for i, line in enumerate(lines) if f"(Namespace/{ns})" in line)
    assert any(i > applied for i in deletes), (f"after {sig} the namespace {ns} was not deleted:\n"
                                               + "\n".join(lines[applied:]))
    assert "ReplayMiss" not in log.read_text()

    log2 = tmp_path / "calls2.log"
    second = _run(tmp_path / "2", log2, {})
    assert second.returncode == 0, second.stdout[-2000:]
    lines2 = log2.read_text().splitlines()
    first_touch = [line for line in lines2 if ns in line][:3]
    assert first_touch[0].startswith(f"kubectl delete Namespace {ns}"), first_touch
    assert first_touch[1].startswith(f"kubectl get Namespace {ns}") and "not found" in first_touch[1], first_touch
    assert f"(Namespace/{ns})" in first_touch[2], first_touch
