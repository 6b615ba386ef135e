"""The stage is read from the live cluster, never assumed (issue 8, point 2).

A small in-memory cluster answers the primitives the stage code uses and changes its
cilium-config, agent DaemonSet, Relay/UI and listeners with each `helm upgrade` (one values
file: base; two: hubble; three: redaction).  It can start in any stage, including the
write-up's redaction through the agent's extraArgs, which leaves cilium-config untouched.
"""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

import pytest

from cilab.errors import ConfigError
from cilab.lab import Lab
from cilab.model import CommandResult
from cilab.retry import VirtualClock
from cilab.stages import detect_stage, ensure_hubble, stage_switched

NODES = {"k8s-ctr": "192.168.10.100", "k8s-w1": "192.168.10.101", "k8s-w2": "192.168.10.102"}
STAGES = {1: "base", 2: "hubble", 3: "redaction"}


class FakeCluster:
    kind = "fake"

    def __init__(self, stage: str, shared: Path, *, extra_args: bool = False,
                 allow_helm_changes: bool = True) -> None:
        self.stage = stage
        self.extra_args = extra_args  # redaction as the write-up switched it (extraArgs)
        self.generation = 5
        self.shared = shared
        self.helm: list[str] = []
        self.exclusive_during_helm: list[bool] = []
        self.allow_helm_changes = allow_helm_changes
        self.version = "1.17.6"

    # -- what the cluster shows in its current stage -----------------------------------
    def _config(self) -> dict[str, str]:
        cfg = {"enable-hubble": "true" if self.stage != "base" else "false", "debug": "true"}
        if self.stage == "redaction" and not self.extra_args:
            cfg.update({"hubble-redact-enabled": "true", "hubble-redact-http-urlquery": "true"})
        return cfg

    def _agent(self) -> dict[str, Any]:
        args = ["--config-dir=/tmp/cilium/config-map"]
        if self.stage == "redaction" and self.extra_args:
            args += ["--hubble-redact-enabled", "--hubble-redact-http-urlquery"]
        return {"apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": "cilium", "namespace": "kube-system", "generation": self.generation},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "cilium-agent", "image": f"quay.io/cilium/cilium:v{self.version}@sha256:{'0' * 64}",
                     "command": ["cilium-agent"], "args": args}]}}},
                "status": {"observedGeneration": self.generation, "desiredNumberScheduled": 3,
                           "numberReady": 3, "updatedNumberScheduled": 3}}

    def _workload(self, kind: str, name: str) -> dict[str, Any]:
        status = ({"observedGeneration": 1, "desiredNumberScheduled": 3, "numberReady": 3,
                   "updatedNumberScheduled": 3} if kind == "DaemonSet" else
                  {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1})
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "generation": 1},
                "spec": {"replicas": 1}, "status": status}

    # -- primitives ---------------------------------------------------------------------
    def k8s_get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        if kind == "ConfigMap" and name == "cilium-config":
            return {"data": self._config()}
        if kind == "DaemonSet" and name == "cilium":
            return self._agent()
        if kind == "Service" and name == "hubble-relay":   # the Hubble stage's Relay (ClusterIP)
            return None if self.stage == "base" else {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
                "spec": {"clusterIP": "10.96.174.49", "ports": [{"port": 80}]}}
        if name in ("hubble-relay", "hubble-ui") and kind == "Deployment":
            return None if self.stage == "base" else self._workload(kind, name)
        if kind in ("DaemonSet", "Deployment"):
            return self._workload(kind, name)
        return None  # no hubble-relay Service in this fake: Relay is reported, not awaited

    def k8s_list(self, api_version: str, kind: str, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None) -> Any:
        if kind == "Node":
            return [{"metadata": {"name": n}, "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}
                    for n, ip in NODES.items()]
        if kind == "Pod" and label_selector == "k8s-app=cilium":
            return [{"metadata": {"name": f"cilium-{n}"}, "spec": {"nodeName": n}, "status": {"phase": "Running"}}
                    for n in NODES]
        if kind == "Secret":
            return [] if self.stage == "base" else [{"metadata": {"name": "hubble-server-certs"},
                                                     "type": "kubernetes.io/tls"}]
        return []

    def node_shell(self, node: str, command: str, timeout: float) -> CommandResult:
        lines = ['LISTEN 0 4096 127.0.0.1:9879 0.0.0.0:* users:(("cilium-agent",pid=1,fd=7))']
        if self.stage != "base":
            lines.append('LISTEN 0 4096 *:4244 *:* users:(("cilium-agent",pid=1,fd=9))')
        return CommandResult(stdout="\n".join(lines) + "\n", stderr="", rc=0)

    def pod_exec(self, namespace: str, pod: str, container: str | None,
                 command: list[str], timeout: float) -> CommandResult:
        # `hubble status --server <relay>` in an agent: Relay reaches every node (issue 9's wait)
        if command[:2] == ["hubble", "status"] and self.stage != "base":
            return CommandResult(stdout="Healthcheck (via 10.96.174.49:80): Ok\nCurrent/Max Flows: 100/12,285 (0.81%)\n"
                                        f"Flows/s: 1.00\nConnected Nodes: {len(NODES)}/{len(NODES)}\n", stderr="", rc=0)
        return CommandResult(stdout="", stderr=f"unexpected command in the fake lab: {command}", rc=1)

    def helm_upgrade(self, release: str, chart: str, version: str, namespace: str,
                     values: list[str], timeout: float, repo: str | None = None) -> CommandResult:
        if not self.allow_helm_changes:
            raise ConfigError("not allowed")
        fd = os.open(self.shared / "cluster.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            self.exclusive_during_helm.append(False)
        except BlockingIOError:
            self.exclusive_during_helm.append(True)
        finally:
            os.close(fd)
        new = STAGES[len(values)]
        self.helm.append(new)
        if new != self.stage:
            self.generation += 1
        self.stage = new
        self.extra_args = False  # -f files without --reuse-values drop the write-up's extraArgs
        return CommandResult(stdout=f"Release cilium upgraded to {new}\n", stderr="", rc=0)

    def close(self) -> None:
        pass


def run(cluster: FakeCluster, shared: Path) -> tuple[dict[str, Any], list[str]]:
    lines: list[str] = []
    lab = Lab(cluster, clock=VirtualClock())
    record = ensure_hubble(lab, shared, "1.17.6", progress=lines.append)
    return record, lines


def test_base_lab_snapshot_then_hubble(tmp_path: Path) -> None:
    cluster = FakeCluster("base", tmp_path)
    record, lines = run(cluster, tmp_path)
    assert cluster.helm == ["hubble"]
    assert record["found"] == "base" and record["switches"] == ["base -> hubble"]
    assert record["snapshot"]["enable-hubble"] == "false"
    assert any("stage found: base" in line for line in lines)


def test_lab_found_with_hubble_is_taken_back_to_base_for_the_snapshot(tmp_path: Path) -> None:
    cluster = FakeCluster("hubble", tmp_path)
    record, lines = run(cluster, tmp_path)
    assert cluster.helm == ["base", "hubble"]
    assert cluster.exclusive_during_helm[0] is True, "back to base must run under the exclusive cluster lock"
    assert record["found"] == "hubble"
    assert record["switches"] == ["hubble -> base", "base -> hubble"]
    snap = record["snapshot"]
    assert snap["enable-hubble"] == "false" and snap["secrets"] == []
    assert all(not any(":4244 " in l for l in ls) for ls in snap["listeners"].values())
    assert cluster.stage == "hubble"
    assert any("stage found: hubble" in line for line in lines)
    assert any("agents ready 3/3" in line for line in lines)
    # the record the other workers read holds the same
    assert json.loads((tmp_path / "stage-hubble.json").read_text())["found"] == "hubble"


@pytest.mark.parametrize("extra_args", [False, True], ids=["chart-values", "write-up-extraArgs"])
def test_lab_left_in_redaction_is_switched_back_before_any_scenario(tmp_path: Path, extra_args: bool) -> None:
    cluster = FakeCluster("redaction", tmp_path, extra_args=extra_args)
    record, lines = run(cluster, tmp_path)
    assert record["found"] == "redaction"
    assert cluster.helm == ["base", "hubble"]
    assert cluster.stage == "hubble" and not cluster.extra_args
    lab = Lab(cluster, clock=VirtualClock())
    assert detect_stage(lab)["stage"] == "hubble"
    evidence = " ".join(record["found_evidence"])
    assert ("agent DaemonSet args --hubble-redact-enabled" in evidence) == extra_args
    assert ("cilium-config hubble-redact-enabled=true" in evidence) == (not extra_args)


def test_detection_reads_flag_values(tmp_path: Path) -> None:
    cluster = FakeCluster("hubble", tmp_path)
    lab = Lab(cluster, clock=VirtualClock())
    agent = cluster._agent()
    agent["spec"]["template"]["spec"]["containers"][0]["args"].append("--hubble-redact-enabled=false")
    cluster._agent = lambda: agent  # type: ignore[method-assign]
    assert detect_stage(lab)["stage"] == "hubble"
    agent["spec"]["template"]["spec"]["containers"][0]["args"][-1] = "--hubble-redact-enabled=true"
    assert detect_stage(lab)["stage"] == "redaction"


def test_cluster_the_suite_may_not_change(tmp_path: Path) -> None:
    cluster = FakeCluster("hubble", tmp_path, allow_helm_changes=False)
    record, _ = run(cluster, tmp_path)
    assert cluster.helm == [] and record["snapshot"] is None and record["found"] == "hubble"
    assert record["stage"] == "hubble" and record["may_change"] is False
    red = tmp_path / "red"
    red.mkdir()
    cluster = FakeCluster("redaction", red, allow_helm_changes=False, extra_args=True)
    record, _ = run(cluster, red)  # checked as found: no error, no switch
    assert cluster.helm == [] and record["stage"] == "redaction" and cluster.extra_args


def test_stage_switch_reports_progress(tmp_path: Path) -> None:
    cluster = FakeCluster("hubble", tmp_path)
    lab = Lab(cluster, clock=VirtualClock())
    lines: list[str] = []
    with stage_switched(lab, "redaction", "1.17.6", progress=lines.append):
        assert detect_stage(lab)["stage"] == "redaction"
    assert cluster.stage == "hubble"
    assert [l for l in lines if "switching" in l] == [
        "stage: switching to redaction (helm upgrade, base + hubble + redaction)",
        "stage: switching to hubble (helm upgrade, base + hubble)"]
    assert "stage: agents ready 3/3 (generation 6)" in lines


def test_a_lab_at_another_cilium_version_is_not_switched(tmp_path: Path) -> None:
    cluster = FakeCluster("base", tmp_path)
    cluster.version = "1.17.5"
    with pytest.raises(ConfigError, match=r"runs Cilium 1\.17\.5 .* chart 1\.17\.6: run with CILIUM_VERSION=1\.17\.5"):
        run(cluster, tmp_path)
    assert cluster.helm == []
