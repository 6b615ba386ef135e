"""A lab the suite did not build is checked as found, changed only with consent, and left
exactly as found (issue 15, point 4).

The cluster here is a Helm release kept like Helm keeps one: numbered revisions, each with
the values it was given; `helm upgrade -f ...` merges the documents left to right (maps
deep-merged, lists replaced) into a new revision, `helm rollback N` makes a new revision
with N's values, and cilium-config and the agent DaemonSet are rendered from the values of
the current revision, so whatever a stage switch leaves behind shows in both.  The lab
starts as the write-up leaves it after the redaction chapter: Hubble on with the student's
own `--set` flags, and redaction through the agent's extraArgs.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cilab.consent import MARKER, layered_values, restore_release
from cilab.errors import ConfigError
from cilab.lab import Lab
from cilab.model import CommandResult
from cilab.retry import VirtualClock
from cilab.stages import detect_stage, ensure_hubble, require_stage, stage_need, stage_switched, stage_values
from tests.standin_helm import helm_merge
from tests.unit.test_stage_detection import FakeCluster

#: what the write-up's student installed and upgraded with (--set flags; seed 290-300, 1009-1025,
#: 2922-2923), plus a setting of the student's own
WRITE_UP_HUBBLE = {"k8sServiceHost": "192.168.10.100", "k8sServicePort": 6443, "kubeProxyReplacement": True,
                   "hubble": {"enabled": True, "relay": {"enabled": True},
                              "ui": {"enabled": True, "service": {"type": "NodePort", "nodePort": 31234}}},
                   "operator": {"replicas": 1}, "cluster": {"name": "students-lab"}}
WRITE_UP_REDACTION = {**copy.deepcopy(WRITE_UP_HUBBLE),
                      "extraArgs": ["--hubble-redact-enabled", "--hubble-redact-http-urlquery"]}


class HelmCluster(FakeCluster):
    """A cluster whose Cilium release is a Helm release (see the module's docstring)."""

    def __init__(self, values: dict[str, Any], shared: Path, *, allow_helm_changes: bool) -> None:
        super().__init__("base", shared, allow_helm_changes=allow_helm_changes)
        self.suite_built = False
        self.revisions: list[dict[str, Any]] = [{"revision": 1, "values": {}}, {"revision": 2, "values": values}]
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self._render()

    # the stage, cilium-config and agent follow the current revision's values
    def _render(self) -> None:
        v = self.revisions[-1]["values"]
        hubble = bool((v.get("hubble") or {}).get("enabled"))
        args = [a for a in v.get("extraArgs") or [] if a.startswith("--hubble-redact")]
        redact = bool(((v.get("hubble") or {}).get("redact") or {}).get("enabled"))
        self.extra_args = bool(args)
        before = (self.stage, self.extra_args, redact, tuple(v.get("extraArgs") or []))
        self.stage = "redaction" if hubble and (args or redact) else "hubble" if hubble else "base"
        self._redact_cfg = redact
        if getattr(self, "_before", before) != before:
            self.generation += 1
        self._before = before

    def _config(self) -> dict[str, str]:
        v = self.revisions[-1]["values"]
        cfg = {"enable-hubble": "true" if (v.get("hubble") or {}).get("enabled") else "false", "debug": "true",
               "cluster-name": (v.get("cluster") or {}).get("name", "default")}
        if self._redact_cfg:
            cfg.update({"hubble-redact-enabled": "true", "hubble-redact-http-urlquery": "true"})
        return cfg

    def _agent(self) -> dict[str, Any]:
        ds = super()._agent()
        container = ds["spec"]["template"]["spec"]["containers"][0]
        container["args"] = ["--config-dir=/tmp/cilium/config-map",
                             *(self.revisions[-1]["values"].get("extraArgs") or [])]
        return ds

    # -- primitives ---------------------------------------------------------------------
    def k8s_get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        if kind == "ConfigMap" and name == MARKER:
            return copy.deepcopy(self.objects.get(name))
        return super().k8s_get(api_version, kind, name, namespace)

    def k8s_apply(self, manifest: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self.calls.append(f"apply {manifest['kind']}/{manifest['metadata']['name']}")
        self.objects[manifest["metadata"]["name"]] = copy.deepcopy(manifest)
        return manifest

    def k8s_delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        self.calls.append(f"delete {kind}/{name}")
        return self.objects.pop(name, None) is not None

    def helm_upgrade(self, release: str, chart: str, version: str, namespace: str,
                     values: list[str], timeout: float, repo: str | None = None) -> CommandResult:
        if not self.allow_helm_changes:
            raise ConfigError("not allowed")
        merged: dict[str, Any] = {}
        for doc in values:  # -f files left to right, without --reuse-values
            merged = helm_merge(merged, yaml.safe_load(doc) or {})
        self.revisions.append({"revision": self.revisions[-1]["revision"] + 1, "values": merged})
        self.calls.append(f"upgrade {len(values)} files")
        self._render()
        self.helm.append(self.stage)
        return CommandResult(stdout="upgraded\n", stderr="", rc=0)

    def helm_read(self, release: str, namespace: str, what: str, revision: int | None = None) -> CommandResult:
        self.calls.append(f"read {what}")
        if what == "history":
            last = self.revisions[-1]
            out = [{"revision": last["revision"], "chart": "cilium-1.17.6", "app_version": "1.17.6",
                    "status": "deployed", "description": "Upgrade complete"}]
            return CommandResult(stdout=json.dumps(out), stderr="", rc=0)
        rev = self.revisions[-1] if revision is None else \
            next(r for r in self.revisions if r["revision"] == revision)
        return CommandResult(stdout=json.dumps(rev["values"] or None), stderr="", rc=0)

    def helm_rollback(self, release: str, namespace: str, revision: int, timeout: float) -> CommandResult:
        self.calls.append(f"rollback {revision}")
        old = next(r for r in self.revisions if r["revision"] == revision)
        self.revisions.append({"revision": self.revisions[-1]["revision"] + 1,
                               "values": copy.deepcopy(old["values"])})
        self._render()
        return CommandResult(stdout="Rollback was a success! Happy Helming!\n", stderr="", rc=0)

    # what the student would compare: `helm get values cilium` and cilium-config
    def seen(self) -> tuple[dict[str, Any], dict[str, str], list[str]]:
        return (copy.deepcopy(self.revisions[-1]["values"]), self._config(),
                list(self._agent()["spec"]["template"]["spec"]["containers"][0]["args"]))


def start(cluster: HelmCluster, shared: Path, lines: list[str]) -> tuple[Lab, dict[str, Any]]:
    lab = Lab(cluster, clock=VirtualClock(), info={"run_id": "0a1b2c3d"})
    return lab, ensure_hubble(lab, shared, "1.17.6", progress=lines.append)


def test_no_consent_checks_the_lab_as_found(tmp_path: Path) -> None:
    cluster = HelmCluster(WRITE_UP_HUBBLE, tmp_path, allow_helm_changes=False)
    before = cluster.seen()
    lines: list[str] = []
    _, record = start(cluster, tmp_path, lines)
    assert cluster.helm == [] and [c for c in cluster.calls if not c.startswith("read")] == []
    assert cluster.seen() == before
    assert record["stage"] == "hubble" and record["snapshot"] is None
    assert require_stage(record, "hubble") is None and require_stage(record, "hubble-unredacted") is None
    for need in ("before-hubble", "redaction-switch", "redaction"):
        reason = require_stage(record, need)
        assert reason is not None and "\n" not in reason
        assert reason.startswith("not checked: this scenario needs ")
        assert "was found with Hubble on (stage hubble)" in reason and "only with --allow-helm-changes" in reason
    assert "stage: the lab is checked as found (hubble); its Cilium release is not changed " \
           "(no --allow-helm-changes)" in lines
    assert not (tmp_path / "helm-found.json").exists()


def test_no_consent_before_hubble_and_redaction_found(tmp_path: Path) -> None:
    base = HelmCluster({"hubble": {"enabled": False}}, tmp_path / "a", allow_helm_changes=False)
    (tmp_path / "a").mkdir()
    _, record = start(base, tmp_path / "a", [])
    assert base.helm == [] and record["snapshot"]["enable-hubble"] == "false"
    assert require_stage(record, "before-hubble") is None  # the snapshot is the lab as found
    assert "needs the Hubble stage, but the lab was found before Hubble (stage base)" in require_stage(record, "hubble")

    (tmp_path / "b").mkdir()
    red = HelmCluster(WRITE_UP_REDACTION, tmp_path / "b", allow_helm_changes=False)
    _, record = start(red, tmp_path / "b", [])
    assert red.helm == [] and record["stage"] == "redaction"
    assert require_stage(record, "hubble") is None  # Hubble is on: checked as found
    assert "needs the Hubble stage without URL query redaction" in require_stage(record, "hubble-unredacted")
    assert "with Hubble redaction on (stage redaction)" in require_stage(record, "redaction-switch")
    assert require_stage(record, "redaction") is None  # the redaction found is checked as found, no switch
    assert "needs Hubble redaction of URL queries on (stage redaction, as the write-up's extraArgs leave it), " \
           "but the lab was found with Hubble on (stage hubble)" in require_stage(
               {**record, "found": "hubble", "stage": "hubble"}, "redaction")


def test_layers_go_over_the_values_found(tmp_path: Path) -> None:
    docs = layered_values("hubble", stage_values("hubble"), WRITE_UP_REDACTION)
    assert len(docs) == 2 and docs[1] == stage_values("hubble")[1]  # base.yaml is not applied
    first = yaml.safe_load(docs[0])
    assert first["cluster"] == {"name": "students-lab"} and first["extraArgs"] == []
    assert yaml.safe_load(layered_values("base", stage_values("base"), WRITE_UP_HUBBLE)[0])["hubble"]["enabled"] is False
    assert yaml.safe_load(layered_values("redaction", stage_values("redaction"),
                                         WRITE_UP_REDACTION)[0])["extraArgs"] == WRITE_UP_REDACTION["extraArgs"]


@pytest.mark.parametrize("interrupted", [False, True], ids=["completed", "interrupted-mid-scenario"])
def test_consent_layers_switches_and_restores_exactly(tmp_path: Path, interrupted: bool) -> None:
    cluster = HelmCluster(WRITE_UP_REDACTION, tmp_path, allow_helm_changes=True)
    found = cluster.seen()
    lines: list[str] = []
    lab, record = start(cluster, tmp_path, lines)
    assert record["found"] == "redaction" and record["stage"] == "hubble"
    assert record["release_found"] == {"revision": 2, "chart": "cilium-1.17.6"}
    assert cluster.helm == ["base", "hubble"]
    marker = cluster.objects[MARKER]["data"]
    assert marker["revision"] == "2" and marker["run-id"] == "0a1b2c3d"
    assert "students-lab" not in json.dumps(marker)  # the marker holds no values
    # the student's own settings stayed through the stage switches
    values, cfg, args = cluster.seen()
    assert values["cluster"] == {"name": "students-lab"} and cfg["cluster-name"] == "students-lab"
    assert detect_stage(lab)["stage"] == "hubble" and args == ["--config-dir=/tmp/cilium/config-map"]
    with pytest.raises(KeyboardInterrupt) if interrupted else _nothing():
        with stage_switched(lab, "redaction", "1.17.6"):
            assert detect_stage(lab)["stage"] == "redaction"
            if interrupted:
                raise KeyboardInterrupt  # Ctrl-C mid-scenario: the fixture's finally still runs
    assert detect_stage(lab)["stage"] == "hubble"
    said: list[str] = []
    assert restore_release(lab, tmp_path, said.append) is True
    assert cluster.seen() == found
    assert MARKER not in cluster.objects
    assert said == ["stage: Helm release cilium restored to revision 2 as found (helm rollback; "
                    "helm get values as found)"]
    # exactly once: a second call (another process finishing) changes nothing
    n = len(cluster.revisions)
    assert restore_release(lab, tmp_path, said.append) is False and len(cluster.revisions) == n


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return False


def test_a_killed_runs_marker_is_acted_on_first(tmp_path: Path) -> None:
    cluster = HelmCluster(WRITE_UP_HUBBLE, tmp_path / "run1", allow_helm_changes=True)
    found = cluster.seen()
    (tmp_path / "run1").mkdir()
    start(cluster, tmp_path / "run1", [])
    assert cluster.seen() != found and MARKER in cluster.objects  # killed here: no restore
    # the next run, even without consent, first puts the release back as found
    (tmp_path / "run2").mkdir()
    cluster.allow_helm_changes = False
    cluster.calls.clear()
    lines: list[str] = []
    _, record = start(cluster, tmp_path / "run2", lines)
    assert lines[0] == ("stage: an earlier run (run id 0a1b2c3d) was stopped before it restored the Helm "
                        "release cilium: rolling it back to revision 2 first (marker kube-system/cilab-restore)")
    assert cluster.calls[:4] == ["read history", "read values", "rollback 2", "read values"]
    assert cluster.seen() == found and MARKER not in cluster.objects
    assert record["found"] == "hubble" and record["switches"] == [
        "restored revision 2 left by an interrupted run"]


def test_no_helm_release_is_one_line_before_any_change(tmp_path: Path) -> None:
    cluster = HelmCluster(WRITE_UP_HUBBLE, tmp_path, allow_helm_changes=True)
    cluster.helm_read = lambda *a, **k: CommandResult(  # type: ignore[method-assign]
        stdout="", stderr="Error: release: not found\n", rc=1)
    with pytest.raises(ConfigError) as err:
        start(cluster, tmp_path, [])
    assert str(err.value) == ("no Helm release 'cilium' in kube-system: the suite switches stages only on a Cilium "
                              "installed with Helm (as the write-up does); run without --allow-helm-changes to "
                              "check the lab as found")
    assert cluster.helm == [] and MARKER not in cluster.objects


def test_a_restore_that_does_not_give_the_values_back_keeps_the_marker(tmp_path: Path) -> None:
    cluster = HelmCluster(WRITE_UP_HUBBLE, tmp_path, allow_helm_changes=True)
    lab, _ = start(cluster, tmp_path, [])
    real = cluster.helm_rollback

    def lossy(*args: Any, **kw: Any) -> CommandResult:  # a rollback that lands elsewhere
        result = real(*args, **kw)
        cluster.revisions[-1]["values"] = {"hubble": {"enabled": True}}
        return result
    cluster.helm_rollback = lossy  # type: ignore[method-assign]
    from cilab.errors import CallFailed
    with pytest.raises(CallFailed, match="differ from the values found .* marker ConfigMap kube-system/cilab-restore is kept"):
        restore_release(lab, tmp_path, lambda line: None)
    assert MARKER in cluster.objects


def test_what_a_scenario_needs_comes_from_its_tags() -> None:
    assert stage_need({"hubble", "before"}) == "before-hubble"
    assert stage_need({"redaction", "cluster_change", "flows"}) == "redaction-switch"
    assert stage_need({"redaction", "cluster_change", "redaction_on"}) == "redaction"
    assert stage_need({"l7_visibility", "flows"}) == "hubble-unredacted"
    assert stage_need({"hubble", "ports"}) == "hubble"
