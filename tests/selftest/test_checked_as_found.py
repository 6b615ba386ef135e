"""A write-up lab with Hubble on, run without --allow-helm-changes: no Helm change at all,
the scenarios that need another stage are skipped with one line naming the opt-in, the
others are checked on the lab as found, and the Allure results list the skipped ones as not
checked (issue 15, point 4).

The lab is the reference lab with an overlay written here: its header says the suite did not
build it (a recording of a `--vagrant-dir` lab of the student's own says so too), and before
any stage is known cilium-config answers `enable-hubble: "true"`, as the write-up leaves it
after its Hubble chapter.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from cilab.transcript import load_transcript
from tests.selftest.suite_runner import MUTANTS, run_suite

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "fixtures" / "transcripts" / "reference"
KS = "kube-system"


def write_up_lab_with_hubble(tmp: Path, hubble: bool = True, redaction: bool = False,
                             base: Path = REFERENCE) -> Path:
    """`redaction`: left with the write-up's redaction on (seed 2922-2923: the agent
    DaemonSet runs with extraArgs --hubble-redact-enabled --hubble-redact-http-urlquery).
    `base`: the transcript overlaid (the reference, or a mutant of it)."""
    ref = load_transcript(REFERENCE)
    cm_args = {"api_version": "v1", "kind": "ConfigMap", "name": "cilium-config", "namespace": KS}
    found_cm = copy.deepcopy(ref.lookup("k8s_get", cm_args, []).results[0]["value"])
    found_cm["data"]["enable-hubble"] = "true" if hubble else found_cm["data"]["enable-hubble"]
    marker_args = {"api_version": "v1", "kind": "ConfigMap", "name": "cilab-restore", "namespace": KS}
    monitoring_marker = {**marker_args, "name": "cilab-remove-monitoring"}
    calls = [{"op": "k8s_get", "args": marker_args, "state": [], "results": [{"value": None}]},
             {"op": "k8s_get", "args": monitoring_marker, "state": [], "results": [{"value": None}]}]
    if hubble:
        calls.append({"op": "k8s_get", "args": cm_args, "state": [], "results": [{"value": found_cm}]})
    if redaction:
        ds_args = {"api_version": "apps/v1", "kind": "DaemonSet", "name": "cilium", "namespace": KS}
        found_ds = copy.deepcopy(ref.lookup("k8s_get", ds_args, []).results[-1]["value"])
        agent = next(c for c in found_ds["spec"]["template"]["spec"]["containers"] if c["name"] == "cilium-agent")
        agent["args"] = [*agent.get("args", []), "--hubble-redact-enabled", "--hubble-redact-http-urlquery"]
        calls.append({"op": "k8s_get", "args": ds_args, "state": [], "results": [{"value": found_ds}]})
    header = {"name": "write-up-lab-with-hubble", "source": "overlay of the reference (tests/selftest)",
              "description": "a lab the student built from the write-up, left at its Hubble chapter"
                             + (" with redaction on" if redaction else ""),
              "lab": {**ref.header.get("lab", {}), "suite_built": False, "allow_helm_changes": False}}
    path = tmp / "write-up-lab.yaml"
    path.write_text(yaml.safe_dump({"transcript": header, "base": str(base), "calls": calls}, sort_keys=False))
    return path


def test_a_write_up_lab_is_checked_as_found(tmp_path: Path) -> None:
    allure, calls = tmp_path / "allure", tmp_path / "calls.log"
    run = run_suite(tmp_path / "run", f"--transcript={write_up_lab_with_hubble(tmp_path)}",
                    f"--alluredir={allure}", f"--call-log={calls}", "-rs",
                    "-k", "before_the_upgrade or hubble_status or url_queries")
    assert run.rc == 0 and not run.failed, run.output[-3000:]
    assert any("hubble_status" in n for n in run.passed), run.outcomes
    before = [n for n in run.skipped if "before_the_upgrade" in n]
    redaction = [n for n in run.skipped if "url_queries" in n]
    assert before and redaction, run.outcomes
    assert not any(("helm upgrade" in l or "helm rollback" in l) for l in calls.read_text().splitlines())
    reasons = [l for l in run.output.splitlines() if l.startswith("SKIPPED")]
    want_before = ("not checked: this scenario needs the lab before Hubble (the pre-Hubble snapshot), but the "
                   "lab was found with Hubble on (stage hubble) and the suite changes the Cilium release of a lab "
                   "it did not build only with --allow-helm-changes (the release is restored at the end of the run)")
    assert any(l.endswith(want_before) for l in reasons), reasons
    assert any("needs Hubble redaction switched on during the scenario" in l and "--allow-helm-changes" in l
               for l in reasons), reasons
    assert "[cilab] stage: the lab is checked as found (hubble); its Cilium release is not changed " \
           "(no --allow-helm-changes)" in run.output
    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    skipped = [r for r in results if r.get("status") == "skipped"]
    assert len(skipped) == len(before) + len(redaction)
    assert all("--allow-helm-changes" in r.get("statusDetails", {}).get("message", "") for r in skipped), skipped
    env = (allure / "environment.properties").read_text()
    assert "stage.checked_as_found=yes" in env and "stage.switches=none" in env


def test_a_lab_found_before_hubble_is_snapshotted_as_found(tmp_path: Path) -> None:
    calls = tmp_path / "calls.log"
    run = run_suite(tmp_path / "run", f"--transcript={write_up_lab_with_hubble(tmp_path, hubble=False)}",
                    f"--call-log={calls}", "-rs", "-k", "before_the_upgrade or hubble_status")
    assert run.rc == 0 and not run.failed, run.output[-3000:]
    assert any("before_the_upgrade" in n for n in run.passed), run.outcomes  # checked on the lab as found
    assert any("hubble_status" in n for n in run.skipped), run.outcomes
    assert any("not checked: this scenario needs the Hubble stage, but the lab was found before Hubble "
               "(stage base)" in l for l in run.output.splitlines() if l.startswith("SKIPPED")), run.output[-2000:]
    assert not any("helm upgrade" in l for l in calls.read_text().splitlines())


FOUND_REDACTION = "test_with_redaction_on_hubble_shows_the_url_without_its_query"
SWITCHED_REDACTION = "test_hubble_stops_showing_url_queries_once_redaction_is_on"
SELECTED = "url_without_its_query or url_queries_once or status_through_relay or http_request_and_response_of_one"


def test_a_lab_found_with_redaction_on_gets_its_redaction_checked_as_found(tmp_path: Path) -> None:
    calls = tmp_path / "calls.log"
    run = run_suite(tmp_path / "run", f"--transcript={write_up_lab_with_hubble(tmp_path, redaction=True)}",
                    f"--call-log={calls}", "-rs", "-k", SELECTED)
    assert run.rc == 0 and not run.failed, run.output[-3000:]
    assert FOUND_REDACTION in run.passed, run.outcomes  # the query reached whoami, the flows show http://webpod/
    assert any("hubble_status" in n for n in run.passed), run.outcomes
    assert SWITCHED_REDACTION in run.skipped, run.outcomes  # it switches redaction on itself
    assert any("http_request_and_response_of_one" in n for n in run.skipped), run.outcomes  # compares URLs as sent
    assert not any(("helm upgrade" in l or "helm rollback" in l) for l in calls.read_text().splitlines())
    assert "[cilab] stage found: redaction (cilium-config enable-hubble=true; agent DaemonSet args " \
           "--hubble-redact-enabled --hubble-redact-http-urlquery)" in run.output
    assert "stage: switching" not in run.output
    reasons = [l for l in run.output.splitlines() if l.startswith("SKIPPED")]
    assert any("needs Hubble redaction switched on during the scenario" in l and
               "found with Hubble redaction on (stage redaction)" in l for l in reasons), reasons


def test_a_lab_found_with_redaction_on_whose_flows_leak_the_query_fails_that_scenario(tmp_path: Path) -> None:
    mutant = MUTANTS / "redaction-on-query-still-visible.yaml"
    run = run_suite(tmp_path / "run", f"--transcript={write_up_lab_with_hubble(tmp_path, redaction=True, base=mutant)}",
                    "-k", SELECTED)
    assert set(run.failed) == {FOUND_REDACTION}, run.outcomes
    message = run.failed[FOUND_REDACTION]
    assert "expected the flows to show the URL 'http://webpod/', saw http-request URL 'http://webpod/?user_id=" \
        in message, message[:1500]


def test_a_lab_found_at_the_hubble_stage_does_not_check_redaction_on(tmp_path: Path) -> None:
    run = run_suite(tmp_path / "run", f"--transcript={write_up_lab_with_hubble(tmp_path)}", "-rs",
                    "-k", "url_without_its_query")
    assert run.rc == 0 and run.skipped == {FOUND_REDACTION}, run.outcomes
    assert any(l.endswith("not checked: this scenario needs Hubble redaction of URL queries on (stage redaction, "
                          "as the write-up's extraArgs leave it), but the lab was found with Hubble on (stage hubble) "
                          "and the suite changes the Cilium release of a lab it did not build only with "
                          "--allow-helm-changes (the release is restored at the end of the run)")
               for l in run.output.splitlines() if l.startswith("SKIPPED")), run.output[-2000:]


def test_a_lab_found_without_the_monitoring_example_skips_the_metrics_scenarios(tmp_path: Path) -> None:
    """No --allow-monitoring-example, no `cilium-monitoring` on the lab: nothing is applied, each
    metrics scenario is skipped with one line naming the option, in the report's "Not checked"
    category (allurerc.json's rule, applied here as Allure applies it: the whole message)."""
    import re
    overlay = write_up_lab_with_hubble(tmp_path)
    doc = yaml.safe_load(overlay.read_text())
    doc["calls"].append({"op": "k8s_get", "args": {"api_version": "v1", "kind": "Namespace",
                                                  "name": "cilium-monitoring"},
                         "state": ["hubble"], "results": [{"value": None}]})
    overlay.write_text(yaml.safe_dump(doc, sort_keys=False))
    allure, calls = tmp_path / "allure", tmp_path / "calls.log"
    run = run_suite(tmp_path / "run", f"--transcript={overlay}", f"--alluredir={allure}", f"--call-log={calls}",
                    "-rs", "-m", "metrics")
    assert run.rc == 0 and not run.failed and not run.passed and len(run.skipped) >= 10, run.output[-3000:]
    line = ("not checked: this scenario needs Cilium's monitoring example (namespace cilium-monitoring), but the "
            "lab was found without it and the suite applies it to a lab it did not build only with "
            "--allow-monitoring-example (it is removed again at the end of the run)")
    reasons = [l for l in run.output.splitlines() if l.startswith("SKIPPED")]
    assert reasons and all(l.endswith(line) for l in reasons), reasons
    reads = ("kubectl get ", "kubectl -n kube-system exec ", "GET ")  # and the nodes' clocks, read
    lines = [l for l in calls.read_text().splitlines() if " $ date -u +%s.%N " not in l]
    assert lines and all(l.startswith(reads) for l in lines), [l for l in lines if not l.startswith(reads)]
    rule = json.loads((ROOT / "allurerc.json").read_text())["categories"][0]
    assert rule["name"].startswith("Not checked")
    messages = [r["statusDetails"]["message"] for r in map(json.loads, (p.read_text() for p in allure.glob("*-result.json")))]
    assert messages and all(re.fullmatch(rule["messageRegex"], m) for m in messages), messages
