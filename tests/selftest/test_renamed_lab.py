"""A lab whose nodes are not named as in the write-up (issue 15 point 7, `--lab kubeconfig`
on a student's own cluster): every scenario still passes.  The reference transcript is
replayed with its nodes renamed (k8s-ctr -> cp-1, k8s-w1 -> node-a, k8s-w2 -> node-b) in every
call and answer, as a recording of such a lab holds them, with the lab's roles in its header
(cilab.roles); the Helm values, the suite's own files, keep their text.  The steps that
name a write-up node (`node "k8s-ctr" is Ready`, the Hubble CLI on k8s-ctr, curl-pod pinned
to k8s-ctr) must find the node of that role."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from cilab.parsers.cluster import parse_node_table
from cilab.probes.cluster import KUBECTL_NODES_COMMAND
from tests.selftest.suite_runner import ROOT, run_suite
from tools.reference.cluster import tabwriter

REFERENCE = ROOT / "fixtures" / "transcripts" / "reference"
NAMES = {"k8s-ctr": "cp-1", "k8s-w1": "node-a", "k8s-w2": "node-b"}
WRITE_UP_NAME = re.compile(r"\bk8s-(?:ctr|w1|w2)\b")


def _renamed(value: Any) -> Any:
    if isinstance(value, str):
        return WRITE_UP_NAME.sub(lambda m: NAMES[m[0]], value)
    if isinstance(value, list):
        return [_renamed(v) for v in value]
    if isinstance(value, dict):
        return {_renamed(k): _renamed(v) for k, v in value.items()}
    return value


def _relaid(table: str) -> str:
    """The reference's `kubectl get node -owide` with the new names, laid out again as
    kubectl's tabwriter would."""
    parsed = parse_node_table(table)
    header = list(parsed.rows[0].cells)
    return tabwriter([header] + [[_renamed(r.cells[h]) for h in header] for r in parsed.rows])


def renamed_reference(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for path in sorted(REFERENCE.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        calls = []
        for call in doc["calls"]:
            if call["op"] == "node_shell" and call["args"].get("command") == KUBECTL_NODES_COMMAND:
                tables = [_relaid(result["stdout"]) for result in call["results"]]
                call = _renamed(call)
                for result, table in zip(call["results"], tables):
                    result["stdout"] = table
            elif call["op"] != "helm_upgrade":        # the values files are the suite's, not the lab's
                call = _renamed(call)
            calls.append(call)
        doc["calls"] = calls
        doc["transcript"]["roles"] = {"control_plane": "cp-1", "workers": ["node-a", "node-b"]}
        (folder / path.name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return folder


def test_every_scenario_passes_on_a_lab_with_other_node_names(tmp_path: Path) -> None:
    transcript = renamed_reference(tmp_path / "renamed")
    text = "".join(p.read_text(encoding="utf-8") for p in transcript.glob("*.yaml"))
    assert "node-b" in text and "nodeName: cp-1" in text      # the answers name the lab's nodes
    reference = run_suite(tmp_path / "reference", "-n", "2")
    run = run_suite(tmp_path / "run", f"--transcript={transcript}", "-n", "2")
    assert run.rc == 0 and not run.failed, {k: v[:1500] for k, v in run.failed.items()} or run.output[-3000:]
    assert run.passed == reference.passed and len(run.passed) > 80 and not run.skipped
