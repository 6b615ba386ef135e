"""Run the conformance suite in a subprocess and read its outcomes from JUnit XML."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = ROOT / "fixtures" / "transcripts" / "mutants"


@dataclass
class SuiteRun:
    rc: int
    output: str
    passed: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)   # test name -> failure message
    skipped: set[str] = field(default_factory=set)

    @property
    def outcomes(self) -> dict[str, str]:
        out = {n: "passed" for n in self.passed}
        out.update({n: "failed" for n in self.failed})
        out.update({n: "skipped" for n in self.skipped})
        return out


def run_suite(tmp_path: Path, *args: str, timeout: float = 300) -> SuiteRun:
    tmp_path.mkdir(parents=True, exist_ok=True)
    junit = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--lab", "replay", "-q", "-p", "no:randomly",
         f"--junitxml={junit}", "--basetemp", str(tmp_path / "basetemp"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    run = SuiteRun(rc=proc.returncode, output=proc.stdout + proc.stderr)
    if not junit.exists():
        return run
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            run.failed[name] = (bad.get("message") or "") + "\n" + (bad.text or "")
        elif case.find("skipped") is not None:
            run.skipped.add(name)
        else:
            run.passed.add(name)
    return run


#: the pid file of the suite's `cilium hubble port-forward` on the control plane; the loopback
#: doubles' "nodes" are this machine, so a port-forward a refused run started would be here
PORT_FORWARD_PID = Path("/run/cilab-hubble-port-forward.pid")
#: the marker ConfigMaps a run leaves in kube-system while it has a lab it did not build changed
MARKERS = ("cilab-restore", "cilab-remove-monitoring")


def half_created(outputs: tuple[Path, ...] = (), api: object = None, pid_file_before: bool = False) -> list[str]:
    """What a run refused for bad input left behind (empty when nothing): a record folder or
    call log among `outputs` (also a worker's `<path>.<worker>`), a request that changed the
    fake API server, a namespace of the suite or a marker ConfigMap in it, a port-forward's
    pid file that was not there before."""
    left = [str(p) for p in outputs if p.exists() or any(p.parent.glob(p.name + ".*"))]
    if api is not None:
        left += [f"{r.method} {r.path}" for r in api.requests if r.method != "GET"]  # type: ignore[attr-defined]
        for (gv, plural, ns, name), _ in list(api.store.items()):  # type: ignore[attr-defined]
            if (plural == "namespaces" and name.startswith("cilab-")) or (plural == "configmaps" and name in MARKERS):
                left.append(f"{plural}/{name}")
    if PORT_FORWARD_PID.exists() and not pid_file_before:
        left.append(str(PORT_FORWARD_PID))
    return left
