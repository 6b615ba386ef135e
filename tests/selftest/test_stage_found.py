"""The whole suite on a lab that a killed run left in the redaction stage (its `finally`
never ran): before the first scenario the stage is read from the cluster, the lab is taken
back to base under the exclusive lock, the before-Hubble snapshot is taken there, then
Hubble is enabled; the terminal and the report's environment say what was found and done.

The lab is the reference lab with an overlay written here: cilium-config and the agent
DaemonSet first answer as the redaction stage left them (the write-up's way, through the
agent's extraArgs, so cilium-config alone would not tell), then as the base stage after the
helm upgrade back to base.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from cilab.stages import CHART_REPO, stage_values
from cilab.transcript import load_transcript
from tests.selftest.suite_runner import run_suite

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "fixtures" / "transcripts" / "reference"
KS = "kube-system"


def _entry(op: str, args: dict, state: list[str], results: list[dict]) -> dict:
    return {"op": op, "args": args, "state": state, "results": results}


def left_in_redaction(tmp: Path) -> Path:
    ref = load_transcript(REFERENCE)
    cm_args = {"api_version": "v1", "kind": "ConfigMap", "name": "cilium-config", "namespace": KS}
    ds_args = {"api_version": "apps/v1", "kind": "DaemonSet", "name": "cilium", "namespace": KS}
    base_cm = ref.lookup("k8s_get", cm_args, []).results[0]["value"]
    base_ds = ref.lookup("k8s_get", ds_args, []).results[0]["value"]
    found_cm = copy.deepcopy(base_cm)
    found_cm["data"]["enable-hubble"] = "true"
    found_ds = copy.deepcopy(base_ds)
    found_ds["metadata"]["generation"] = found_ds["status"]["observedGeneration"] = 7
    agent = found_ds["spec"]["template"]["spec"]["containers"][0]
    agent["args"] = agent["args"] + ["--hubble-redact-enabled", "--hubble-redact-http-urlquery"]
    back_ds = copy.deepcopy(base_ds)
    back_ds["metadata"]["generation"] = back_ds["status"]["observedGeneration"] = 8
    red = ["hubble", "redaction"]
    calls = [
        _entry("k8s_get", cm_args, [], [{"value": found_cm}, {"value": base_cm}]),
        _entry("k8s_get", ds_args, [], [{"value": found_ds}, {"value": back_ds}]),
        _entry("k8s_get", ds_args, red, [{"value": found_ds}]),
        _entry("helm_upgrade", {"release": "cilium", "chart": "cilium", "version": "1.17.6", "namespace": KS,
                                "values": stage_values("base"), "repo": CHART_REPO}, red,
               [{"stdout": 'Release "cilium" has been upgraded. Happy Helming!\n', "stderr": "", "rc": 0}]),
        *[_entry("k8s_get", {"api_version": "apps/v1", "kind": "Deployment", "name": name, "namespace": KS}, [],
                 [{"value": None}]) for name in ("hubble-relay", "hubble-ui")],
    ]
    doc = {"transcript": {"name": "left-in-redaction", "source": "overlay of the reference (tests/selftest)",
                          "description": "a lab a killed run left in the redaction stage"},
           "base": str(REFERENCE), "calls": calls}
    path = tmp / "left-in-redaction.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_lab_left_in_redaction_is_switched_back_before_the_first_scenario(tmp_path: Path) -> None:
    allure = tmp_path / "allure"
    run = run_suite(tmp_path / "run", f"--transcript={left_in_redaction(tmp_path)}",
                    f"--alluredir={allure}", "-k", "before_the_upgrade or hubble_status")
    assert run.rc == 0 and run.passed and not run.failed, run.output[-3000:]
    lines = [l for l in run.output.splitlines() if l.startswith("[cilab] stage")]
    assert lines[0] == ("[cilab] stage found: redaction (cilium-config enable-hubble=true; "
                        "agent DaemonSet args --hubble-redact-enabled --hubble-redact-http-urlquery)"), lines
    assert lines[1] == "[cilab] stage: switching redaction -> base (helm upgrade, base.yaml)"
    assert "[cilab] stage: base reached (enable-hubble false, agents restarted)" in lines
    assert lines.index("[cilab] stage: base reached (enable-hubble false, agents restarted)") < \
        lines.index("[cilab] stage: switching base -> hubble (helm upgrade, base.yaml + hubble.yaml)")
    env = (allure / "environment.properties").read_text()
    assert "stage.found=redaction\n" in env
    assert "stage.switches=redaction -> base, base -> hubble\n" in env
