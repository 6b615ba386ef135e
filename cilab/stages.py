"""Cluster stages: the Helm configurations the lab goes through.

`base` is the install of seed lines 290-300 (done by provisioning); `hubble` is the
upgrade of seed lines 1009-1025; `redaction` adds URL-query redaction (seed 2905-3000).
Stage values are layered files under provisioning/helm/, always applied together with a
pinned chart version (no --reuse-values, see docs/real-lab.md).  A stage is applied once
per run across xdist workers: the first worker does it under a file lock and writes a
record that the others read.

A stage that changes the cluster for one scenario only (`redaction`) is switched on and
back with `stage_switched`, under the exclusive cluster lock (cilab.locks): each switch
waits until cilium-config holds the stage's entries and every agent was restarted with them
(a new DaemonSet generation, rolled out); it does not wait for Relay (see switch_stage).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from cilab.errors import CallFailed, LabUnavailable
from cilab.lab import Lab
from cilab.parsers import kube
from cilab.probes import hubble, k8s, nodes

log = logging.getLogger("cilab.stages")
REPO_ROOT = Path(__file__).resolve().parent.parent
HELM_DIR = REPO_ROOT / "provisioning" / "helm"
CHART_REPO = "https://helm.cilium.io/"
STAGE_LAYERS = {"base": ["base"], "hubble": ["base", "hubble"],
                "redaction": ["base", "hubble", "redaction"]}
HUBBLE_COMPONENTS = [("apps/v1", "DaemonSet", "cilium"), ("apps/v1", "DaemonSet", "cilium-envoy"),
                     ("apps/v1", "Deployment", "cilium-operator"),
                     ("apps/v1", "Deployment", "hubble-relay"), ("apps/v1", "Deployment", "hubble-ui")]


def stage_values(stage: str) -> list[str]:
    return [(HELM_DIR / f"{layer}.yaml").read_text(encoding="utf-8") for layer in STAGE_LAYERS[stage]]


def stage_labels(stage: str) -> set[str]:
    return {layer for layer in STAGE_LAYERS[stage] if layer != "base"}


def apply_stage(lab: Lab, stage: str, cilium_version: str) -> None:
    result = lab.helm_upgrade(release="cilium", chart="cilium", version=cilium_version,
                              namespace="kube-system", values=stage_values(stage),
                              stages=stage_labels(stage), repo=CHART_REPO)
    if not result.ok:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise CallFailed(f"helm upgrade to stage {stage!r} failed (exit {result.rc}): {' | '.join(tail)}")


def workload_ready(obj: dict[str, Any] | None) -> tuple[bool, str]:
    if obj is None:
        return False, "absent"
    status = obj.get("status") or {}
    gen_ok = (status.get("observedGeneration") or 0) >= (obj["metadata"].get("generation") or 0)
    if obj["kind"] == "DaemonSet":
        ready, want = kube.daemonset_ready(obj)
        updated = status.get("updatedNumberScheduled", 0)
        ok = gen_ok and want > 0 and ready == want and updated == want
        return ok, f"{ready}/{want} ready, {updated} updated"
    ready, want = kube.deployment_ready(obj)
    updated = status.get("updatedReplicas", 0)
    ok = gen_ok and want > 0 and ready == want and updated == want
    return ok, f"{ready}/{want} ready, {updated} updated"


def wait_rollout(lab: Lab, components: list[tuple[str, str, str]] = HUBBLE_COMPONENTS) -> None:
    for api_version, kind, name in components:
        def check(api_version: str = api_version, kind: str = kind, name: str = name) -> None:
            ok, seen = workload_ready(lab.get(api_version, kind, name, "kube-system"))
            assert ok, f"{kind} kube-system/{name}: {seen}"
        lab.eventually(check, what=f"{kind} {name} rolled out", budget="rollout")


def wait_relay_connected(lab: Lab) -> None:
    def check() -> None:
        want = len(k8s.nodes(lab))
        st = hubble.status(lab)
        assert st.healthy, f"hubble status not healthy: {st.message}"
        assert st.connected_nodes == want == st.total_nodes, \
            f"relay connected to {st.connected_nodes}/{st.total_nodes} nodes, cluster has {want}"
    lab.eventually(check, what="Hubble Relay connected to every node", budget="relay")


def pre_hubble_snapshot(lab: Lab) -> dict[str, Any]:
    """What the seed's "before Hubble" section looks at (seed lines 870-1008)."""
    cfg = k8s.configmap_data(lab, "kube-system", "cilium-config") or {}
    secrets = sorted(n for n in k8s.secret_types(lab, "kube-system")
                     if n == "cilium-ca" or "hubble" in n)
    listening: dict[str, list[str] | None] = {}
    unavailable: dict[str, str] = {}
    for node in sorted(k8s.nodes(lab)):
        try:
            found = lab.eventually(lambda node=node: nodes.listeners(lab, node),
                                   what=f"listening sockets on {node}")
            listening[node] = [f"{l.address}:{l.port} {'/'.join(l.processes)}" for l in found]
        except (LabUnavailable, AssertionError) as exc:  # one node down must not stop the stage
            listening[node] = None
            unavailable[node] = str(exc)
    return {"enable-hubble": cfg.get("enable-hubble"),
            "hubble_keys": {k: v for k, v in cfg.items() if "hubble" in k},
            "secrets": secrets, "listeners": listening, "unavailable": unavailable}


def ensure_hubble(lab: Lab, shared_dir: Path, cilium_version: str,
                  lock_timeout: float = 1800.0) -> dict[str, Any]:
    """Bring the lab to the Hubble stage once per run; returns the stage record."""
    record_path = Path(shared_dir) / "stage-hubble.json"
    try:
        with FileLock(str(record_path) + ".lock", timeout=lab.wait_clock.real_seconds(lock_timeout),
                      poll_interval=lab.wait_clock.real_seconds(0.05)):
            if record_path.exists():
                record = json.loads(record_path.read_text())
                lab.set_stages(stage_labels("hubble"))
                return record
            cfg = k8s.configmap_data(lab, "kube-system", "cilium-config")
            if cfg is None:
                raise LabUnavailable("ConfigMap kube-system/cilium-config not found: "
                                     "is Cilium installed on this lab?")
            if cfg.get("enable-hubble") == "true":
                record = {"applied_by_this_run": False, "snapshot": None,
                          "note": "Hubble was already enabled when this run started, so no "
                                  "pre-Hubble snapshot exists"}
                lab.set_stages(stage_labels("hubble"))
            else:
                snapshot = pre_hubble_snapshot(lab)
                apply_stage(lab, "hubble", cilium_version)
                wait_rollout(lab)
                record = {"applied_by_this_run": True, "snapshot": snapshot,
                          "note": "pre-Hubble snapshot taken before the helm upgrade"}
            try:
                wait_relay_connected(lab)
                record["relay"] = "every node connected"
            except AssertionError as exc:
                # not the stage's verdict to give: the status scenario reports it precisely
                record["relay"] = f"not every node connected when the stage finished: {exc}"
            record_path.write_text(json.dumps(record, indent=2, sort_keys=True))
            return record
    except Timeout:
        raise LabUnavailable(f"another worker held the Hubble stage lock for over {lock_timeout:g}s") from None


# --- stages switched on for one scenario (redaction) -----------------------------------------

#: cilium-config entries a stage adds to the Hubble stage; in every other stage they are absent
#: (the chart renders the hubble-redact-* keys only when hubble.redact.enabled is true)
STAGE_CONFIG: dict[str, dict[str, str]] = {
    "redaction": {"hubble-redact-enabled": "true", "hubble-redact-http-urlquery": "true"},
}


def expected_config(stage: str) -> dict[str, str | None]:
    """The STAGE_CONFIG entries as `stage` has them: a value, or None for absent."""
    want: dict[str, str | None] = {key: None for cfg in STAGE_CONFIG.values() for key in cfg}
    want.update(STAGE_CONFIG.get(stage, {}))
    return want


def agent_generation(lab: Lab) -> int:
    ds = k8s.daemonset(lab, "kube-system", "cilium")
    if ds is None:
        raise LabUnavailable("DaemonSet kube-system/cilium not found: is Cilium installed on this lab?")
    return int(ds["metadata"].get("generation") or 0)


def wait_stage_config(lab: Lab, stage: str) -> None:
    want = expected_config(stage)

    def check() -> None:
        cfg = k8s.configmap_data(lab, "kube-system", "cilium-config") or {}
        wrong = [f"{key}: expected {'absent' if value is None else repr(value)}, "
                 f"saw {cfg.get(key, '<absent>')!r}" for key, value in want.items() if cfg.get(key) != value]
        assert not wrong, "cilium-config: " + "; ".join(wrong)
    lab.eventually(check, what=f"cilium-config holds the entries of stage {stage!r}", budget="rollout")


def wait_agents_restarted(lab: Lab, since_generation: int) -> None:
    """Every agent runs a pod of a DaemonSet generation other than `since_generation`."""
    def check() -> None:
        ds = k8s.daemonset(lab, "kube-system", "cilium")
        assert ds is not None, "DaemonSet kube-system/cilium does not exist"
        gen = int(ds["metadata"].get("generation") or 0)
        assert gen != since_generation, (
            f"DaemonSet kube-system/cilium still at generation {gen}: its pod template did not change, "
            "so the agents were not restarted and still run the previous configuration")
        ok, seen = workload_ready(ds)
        assert ok, f"DaemonSet kube-system/cilium generation {gen}: {seen}"
    lab.eventually(check, what="every cilium agent restarted with the new configuration", budget="rollout")


def switch_stage(lab: Lab, stage: str, cilium_version: str, *, restart: bool = True) -> None:
    """Apply `stage` and wait until the agents run with it (`restart=False`: the agents'
    pod template is not expected to change, only to be rolled out)."""
    since = agent_generation(lab)
    apply_stage(lab, stage, cilium_version)
    wait_stage_config(lab, stage)
    if restart:
        wait_agents_restarted(lab, since)
    else:
        wait_rollout(lab, [("apps/v1", "DaemonSet", "cilium")])
    # No wait for Relay to reconnect here: this switch runs under the exclusive cluster lock,
    # where every second idles every worker, and nothing under it reads flows through Relay
    # (the redaction scenario reads the agent's own `hubble observe`).  A later scenario that
    # needs Relay waits for it itself (the status scenario's poll, budget "relay").


@contextmanager
def stage_switched(lab: Lab, stage: str, cilium_version: str, *, back_to: str = "hubble") -> Iterator[None]:
    """The lab at `stage` for the block, then at `back_to` again, also when the switch or
    the block failed.  The caller holds the exclusive cluster lock around it."""
    start = agent_generation(lab)
    try:
        switch_stage(lab, stage, cilium_version)
        yield
    finally:
        # a switch that failed before changing the agents' pod template leaves nothing to restart
        switch_stage(lab, back_to, cilium_version, restart=agent_generation(lab) != start)
