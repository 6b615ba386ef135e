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
#: a scenario whose feature description has inline code wrapped across two lines, a
#: Gherkin parameter, commands the suite wraps (the curl start line) and a cleanup
OPEN_STARWARS = "Without any policy, the tiefighter is allowed to land"


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


def _all_steps(result: dict) -> list[dict]:
    out = []
    for step in result.get("steps", []):
        out += [step, *_all_steps(step)]
    return out


def test_report_reads_like_the_write_up(report: tuple[Path, Path], tmp_path: Path) -> None:
    """What a student sees (issue 17 point 6): only the Gherkin parameters, inline code kept
    as written, attachments named by the student's commands, one cleanup step, chapters in
    the write-up's order, the write-up's section headings, the lab as the label."""
    from cilab.report_plugin import CLEANUP_STEP
    from cilab.report_text import CHAPTER_ORDER
    html, results = report
    seen = inspect(html, tmp_path / "starwars.png", OPEN_STARWARS)
    # chapters in the write-up's order
    chapter_of = {}
    for f in (ROOT / "features").glob("*.feature"):
        text = f.read_text()
        chapter_of[re.search(r"^Feature:(.*)$", text, re.M)[1].strip()] = re.search(r"^@(\w+)", text, re.M)[1]
    assert [chapter_of[g] for g in seen["groups"]] == list(CHAPTER_ORDER), seen["groups"]
    # the opened scenario: its Gherkin steps, then one cleanup step
    assert seen["steps"] == ["Given the lab has Hubble enabled",
                             "And the Star Wars demo is deployed in the scenario's namespace",
                             "When the tiefighter requests a landing",
                             'Then the deathstar answers "Ship landed"', CLEANUP_STEP], seen["steps"]
    opened = seen["openedText"]
    assert "object at 0x" not in opened and "\nctx\n" not in opened and "\nlab\n" not in opened, opened[:3000]
    assert "\nship\n'tiefighter'" in opened, opened[:3000]
    # the student's command names the request, not the suite's wrapper around it
    assert re.search(r"kubectl exec -n cilab-\S+ tiefighter -- curl -s -XPOST http://deathstar\.", opened), opened[:3000]
    assert "cilab-start" not in opened and "sh -c" not in opened, opened[:3000]
    # the description: the write-up's section headings, inline code wrapped over two lines intact
    paragraphs = seen["descriptionParagraphs"]
    assert paragraphs[0].startswith('Lab chapter "Star Wars demo" (write-up sections "Getting Started with the '
                                    'Star Wars Demo & Hubble/UI" to "실습 자원 삭제", seed lines 1507-2239)'), paragraphs[0]
    assert not any("&lt;" in p or "&gt;" in p or "&amp;" in p for p in paragraphs), paragraphs
    assert any("--namespace <namespace>" in p for p in paragraphs), paragraphs
    # every attempt of a retried request is in the report, each with its outcome (issue 16):
    # the reference's first landing is lag (no backend on the ship's node yet), the second lands
    landing = next(json.loads(p.read_text()) for p in results.glob("*-result.json")
                   if json.loads(p.read_text())["name"] == OPEN_STARWARS)
    step = next(s for s in landing["steps"] if s["name"] == "When the tiefighter requests a landing")
    attempts = [a for a in step.get("attachments", []) if a["name"].startswith("attempts: tiefighter: POST ")]
    assert len(attempts) == 1, [a["name"] for a in step.get("attachments", [])]
    body = (results / attempts[0]["source"]).read_text()
    assert re.search(r"^attempt 1 \(from port \d+, started [^)]+\): lag: the client's node has no backend", body, re.M) \
        and re.search(r"^attempt 2 \(from port \d+, started [^)]+\): answer: HTTP 200 'Ship landed'", body, re.M), body
    # every result of the run, as the report holds them
    wrappers = ("cilab-start", "setsid ", "/run/cilab-", "-o jsonpb", "sh -c")
    for path in results.glob("*-result.json"):
        result = json.loads(path.read_text())
        labels = {label["name"]: label["value"] for label in result["labels"] if label["name"] in ("host", "thread")}
        assert labels["host"].startswith("replay lab (fixtures/transcripts/reference)"), labels
        assert labels["thread"].startswith("pytest worker"), labels
        steps = _all_steps(result)
        for step in steps:
            for parameter in step.get("parameters", []):
                assert parameter["name"] not in ("lab", "ctx", "request", "scenario_ns"), (result["name"], step["name"])
                assert "object at 0x" not in parameter["value"], (result["name"], step["name"], parameter)
            for attachment in step.get("attachments", []):
                assert not any(w in attachment["name"] for w in wrappers), (result["name"], attachment["name"])
        assert not result.get("attachments"), (result["name"], [a["name"] for a in result["attachments"]])
        assert [s["name"] for s in result["steps"]].count(CLEANUP_STEP) <= 1
