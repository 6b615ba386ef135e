"""No secret (kubeconfig keys, certificates, bearer tokens, private keys, passwords) reaches
a report, a log or a recorded transcript, even when the lab's answers carry them."""
from __future__ import annotations

import re
from pathlib import Path

from tests.selftest.suite_runner import ROOT, run_suite

OVERLAY = ROOT / "tests" / "selftest" / "data" / "secrets-overlay.yaml"
# the secret values planted in the overlay, and the general shapes of secrets
PLANTED = ["U1VQRVJTRUNSRVRLRVlEQVRB", "TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0",
           "hunter2-super-secret", "sk-live-SUPERSECRETTOKEN12345", "supersecretkeymaterial",
           "c2lnbmF0dXJlc2lnbmF0dXJl"]
SHAPES = [re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
          re.compile(r"(?i)bearer\s+(?!<redacted)[A-Za-z0-9._~+/=-]{8,}"),
          re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
          re.compile(r"client-key-data\"?:\s*\"?(?!<redacted)[A-Za-z0-9+/=]{8,}")]


def scan(paths: list[Path]) -> list[str]:
    found = []
    for base in paths:
        for p in ([base] if base.is_file() else sorted(base.rglob("*"))):
            if not p.is_file():
                continue
            text = p.read_text(errors="replace")
            found += [f"{p.name}: {s}" for s in PLANTED if s in text]
            found += [f"{p.name}: {rx.pattern}" for rx in SHAPES if rx.search(text)]
    return found


def test_no_secret_in_reports_or_logs(tmp_path: Path) -> None:
    alluredir, log = tmp_path / "allure-results", tmp_path / "logs" / "calls.log"
    run = run_suite(tmp_path / "run", "--transcript", str(OVERLAY), f"--alluredir={alluredir}",
                    f"--call-log={log}", "-n", "2")
    assert run.passed, run.output[-2000:]
    attachments = list(alluredir.glob("*-attachment*"))
    assert len(attachments) > 20  # the scan looks at real output, not at an empty folder
    assert any("hubble-server-certs" in p.read_text(errors="replace") for p in attachments)
    leaks = scan([alluredir, log.parent, tmp_path / "run" / "junit.xml"])
    assert not leaks, "secrets reached the reports or logs:\n" + "\n".join(leaks[:20])


def test_the_scan_finds_planted_secrets(tmp_path: Path) -> None:
    """The scanner itself can fail: the overlay file it protects against is full of them."""
    assert len(scan([OVERLAY])) >= len(PLANTED)


def test_no_secret_in_a_recorded_transcript(tmp_path: Path) -> None:
    """The recorder scrubs at write time: record what a lab full of secrets answers, then scan."""
    from cilab.backends.replay import ReplayBackend
    from cilab.lab import Lab
    from cilab.probes import k8s, nodes
    from cilab.transcript import Recorder, load_transcript

    recorder = Recorder(tmp_path / "transcript" / "main.yaml", name="secrets", description="test")
    lab = Lab(ReplayBackend(load_transcript(OVERLAY)), recorder=recorder)
    lab.set_stages({"hubble"})
    assert "hubble-server-certs" in k8s.secret_types(lab, "kube-system")
    assert any(l.port == 4244 for l in nodes.listeners(lab, "k8s-w1"))
    lab.get("v1", "ConfigMap", "cilium-config", "kube-system")
    saved = recorder.save()
    assert len(saved.read_text()) > 1000
    leaks = scan([saved])
    assert not leaks, "secrets reached the recorded transcript:\n" + "\n".join(leaks)
