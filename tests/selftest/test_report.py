"""The HTML report people look at: built offline from a full replay run, opened in headless
Chromium, it shows every feature and every scenario, and a scenario's Gherkin steps with
the commands it ran as attachments."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.selftest.suite_runner import ROOT, run_suite

ALLURE = ROOT / "node_modules" / ".bin" / "allure"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OPEN = "Hubble UI is published on NodePort 31234"


def build_report(results: Path, out: Path) -> Path:
    """As scripts/suite builds it (from the repo root, so allurerc.json's categories apply)."""
    subprocess.run([str(ALLURE), "awesome", str(results), "--single-file", "--group-by", "feature",
                    "--name", "Cilium lab conformance", "-o", str(out)],
                   check=True, capture_output=True, text=True, timeout=300, cwd=ROOT)
    subprocess.run([sys.executable, str(ROOT / "tools" / "offline_report.py"), str(out / "index.html")],
                   check=True, capture_output=True, text=True, timeout=120)
    return out / "index.html"


def inspect(html: Path, shot: Path, open_name: str = OPEN) -> dict:
    proc = subprocess.run(["node", str(ROOT / "tests/report/inspect_report.mjs"), str(html), str(shot), open_name],
                          capture_output=True, text=True, timeout=180, env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout)
    # the page is opened with every network request refused: it must not have asked for any
    assert seen["remoteRequests"] == [], f"the report asked the network for {seen['remoteRequests']}"
    return seen


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not ALLURE.exists():
        pytest.fail("node_modules/.bin/allure is missing: run `npm ci` (scripts/test does)", pytrace=False)
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install chromium (scripts/test does as root)", pytrace=False)
    tmp = tmp_path_factory.mktemp("report")
    results = tmp / "allure-results"
    run = run_suite(tmp / "run", f"--alluredir={results}", "-n", "2")
    assert run.rc == 0, run.output[-2000:]
    return build_report(results, tmp / "html"), results


def test_report_shows_every_feature_scenario_and_attachments(report: tuple[Path, Path], tmp_path: Path) -> None:
    html, results = report
    shot = tmp_path / "report.png"
    seen = inspect(html, shot)
    features = {m.group(1).strip() for f in (ROOT / "features").glob("*.feature")
                for m in [re.search(r"^Feature:(.*)$", f.read_text(), re.M)] if m}
    scenarios = {json.loads(p.read_text())["name"] for p in results.glob("*-result.json")}
    assert set(seen["groups"]) == features, f"report groups {seen['groups']} != features {sorted(features)}"
    assert set(seen["leaves"]) == scenarios, f"missing from the page: {sorted(scenarios - set(seen['leaves']))}"
    assert seen["steps"][0] == "Given the lab has Hubble enabled"
    assert any("hubble-ui" in a for a in seen["attachments"]), seen["attachments"]
    # the description reads like the write-up: prose in paragraphs, every command the
    # student types on a line of its own in a code block (not run into the prose)
    blocks = [[line.strip() for line in b.splitlines() if line.strip()] for b in seen["descriptionBlocks"]]
    assert ["kubectl get svc,ep -n kube-system hubble-ui",
            "kubectl describe pod -n kube-system -l k8s-app=hubble-ui",
            "open http://192.168.10.100:31234 in a browser"] in blocks, seen["descriptionBlocks"]
    helm = next((b for b in blocks if b and b[0].startswith("helm upgrade cilium")), None)
    assert helm is not None and len(helm) > 3 and all(line.startswith("--set") for line in helm[1:]), blocks
    assert not any("kubectl get svc,ep" in p for p in seen["descriptionParagraphs"]), seen["descriptionParagraphs"]
    assert shot.exists() and shot.stat().st_size > 10_000


def test_report_tells_a_broken_lab_from_non_conformant_behaviour(tmp_path: Path) -> None:
    """A run on a node that is down (broken: the suite could not look) and a run on a mutant
    (failed: the lab did not behave as documented) land in their own categories."""
    mutants = ROOT / "fixtures" / "transcripts" / "mutants"
    faults = ROOT / "fixtures" / "transcripts" / "faults"
    broken_results, failed_results = tmp_path / "broken", tmp_path / "failed"
    run_suite(tmp_path / "b", "--transcript", str(faults / "node-down.yaml"), f"--alluredir={broken_results}")
    run_suite(tmp_path / "f", "--transcript", str(mutants / "hubble-ui-page-not-served.yaml"),
              f"--alluredir={failed_results}")
    broken = inspect(build_report(broken_results, tmp_path / "broken-html"), tmp_path / "b.png",
                     "--categories-only")["categories"]
    failed = inspect(build_report(failed_results, tmp_path / "failed-html"), tmp_path / "f.png",
                     "--categories-only")["categories"]
    assert "Lab unreachable or broken" in broken and "Behaviour not conformant" not in broken, broken[:1500]
    assert "Behaviour not conformant" in failed and "Lab unreachable or broken" not in failed, failed[:1500]
