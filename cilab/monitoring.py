"""The monitoring stage: Cilium's Prometheus + Grafana example, once per run.

The documented lab (seed lines 2534-2739) deploys the upstream example by its URL, pinned
to the Cilium version, and publishes both UIs on NodePorts:

    kubectl apply -f https://raw.githubusercontent.com/cilium/cilium/1.17.6/examples/kubernetes/addons/prometheus/monitoring-example.yaml
    kubectl patch svc -n cilium-monitoring prometheus -p '{"spec": {"type": "NodePort", ...30001}]}}'
    kubectl patch svc -n cilium-monitoring grafana -p '{"spec": {"type": "NodePort", ...30002}]}}'

The suite runs the same commands with kubectl on the control-plane node: the cluster
fetches the manifest (its dashboards included, never copied into this project); the
runner needs no internet access.  Like the Helm stages (cilab/stages.py) this happens once
per run across xdist workers: the first worker does it under a file lock and writes a
record that the others read.  The namespace `cilium-monitoring` is fixed by the example,
so it is shared by every scenario; no scenario changes it.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from cilab import node_tools
from cilab.errors import CallFailed, LabUnavailable
from cilab.lab import Lab
from cilab.stages import workload_ready

NAMESPACE = "cilium-monitoring"
#: the kubeconfig kubeadm writes on the control plane (root's ~/.kube/config is a copy)
KUBECONFIG = "/etc/kubernetes/admin.conf"
#: app -> (service port, NodePort) as the seed publishes them (seed 2660-2661, 2694-2703)
NODE_PORTS = {"prometheus": (9090, 30001), "grafana": (3000, 30002)}
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
RECORD = "stage-monitoring.json"
#: what answers when each server of the example is ready: a Ready pod may not listen yet,
#: so the stage polls these through the NodePorts (Prometheus' readiness endpoint answers
#: 503 while it starts; Grafana's health endpoint reports its database)
READINESS = {"prometheus": "/-/ready", "grafana": "/api/health"}


def example_url(cilium_version: str) -> str:
    """The example manifest, pinned to the Cilium version as the seed does (seed 2540)."""
    return (f"https://raw.githubusercontent.com/cilium/cilium/{cilium_version}"
            "/examples/kubernetes/addons/prometheus/monitoring-example.yaml")


def kubectl(args: str) -> str:
    return f"kubectl --kubeconfig {KUBECONFIG} {args}"


def apply_command(cilium_version: str) -> str:
    return kubectl(f"apply -f {example_url(cilium_version)}")


def patch_command(app: str) -> str:
    port, node_port = NODE_PORTS[app]
    patch = {"spec": {"type": "NodePort",
                      "ports": [{"port": port, "targetPort": port, "nodePort": node_port}]}}
    return kubectl(f"patch svc -n {NAMESPACE} {app} -p "
                   + shlex.quote(json.dumps(patch, separators=(",", ":"))))


def control_plane_node(lab: Lab) -> str:
    """The node kubectl runs on: the one labelled control-plane (k8s-ctr in the lab)."""
    names = sorted(n["metadata"]["name"] for n in lab.list("v1", "Node")
                   if CONTROL_PLANE_LABEL in ((n.get("metadata") or {}).get("labels") or {}))
    if not names:
        raise LabUnavailable(f"no node carries the label {CONTROL_PLANE_LABEL}: "
                             "cannot run kubectl on the control plane")
    return names[0]


def _run(lab: Lab, node: str, command: str, what: str) -> str:
    # the report names it as the student types it on k8s-ctr (kubectl reads ~/.kube/config there)
    result = node_tools.run(lab, node, "kubectl", command, timeout=180,
                            typed=command.replace(f"kubectl --kubeconfig {KUBECONFIG} ", "kubectl ", 1))
    if not result.ok:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise CallFailed(f"{what} failed on {node} (exit {result.rc}): {' | '.join(tail)}")
    return result.stdout.strip()


def server_ready(app: str, status: int, body: str) -> tuple[bool, str]:
    """Whether the answer of `READINESS[app]` says the server is ready, and what it said."""
    text = " ".join(body.split())[:160]
    if status != 200:
        return False, f"HTTP {status} {text!r}"
    if app == "grafana":
        try:
            database = json.loads(body).get("database")
        except (ValueError, AttributeError):
            return False, f"HTTP 200 but not JSON: {text!r}"
        return database == "ok", f"database {database!r}"
    return True, text


def wait_ready(lab: Lab) -> dict[str, str]:
    """Wait (bounded) until both Deployments are rolled out and both servers answer their
    readiness endpoint through the NodePort; returns what was seen.  A wait that runs out
    fails the stage (AssertionError naming the last observation): every scenario of the
    chapter asks these servers, so none can pass on an example that never got ready."""
    from cilab.probes import prometheus
    seen: dict[str, str] = {}
    for app in NODE_PORTS:
        def rolled_out(app: str = app) -> None:
            ok, text = workload_ready(lab.get("apps/v1", "Deployment", app, NAMESPACE))
            seen[app] = text
            assert ok, f"Deployment {NAMESPACE}/{app}: {text}"
        lab.eventually(rolled_out, what=f"Deployment {app} rolled out", budget="rollout")
    for app, path in READINESS.items():
        url = prometheus.base_url(lab, NODE_PORTS[app][1]) + path

        def answers(app: str = app, url: str = url) -> None:
            resp = lab.http_get(url, timeout=10)
            ok, text = server_ready(app, resp.status, resp.body)
            seen[f"{app} {READINESS[app]}"] = text
            assert ok, f"GET {url}: {app} not ready: {text}"
        lab.eventually(answers, what=f"{app} answers {path} on its NodePort", budget="rollout")
    return seen


def deploy(lab: Lab, cilium_version: str) -> dict[str, Any]:
    node = control_plane_node(lab)
    applied = _run(lab, node, apply_command(cilium_version), "kubectl apply of the monitoring example")
    patched = [_run(lab, node, patch_command(app), f"kubectl patch svc {app}") for app in NODE_PORTS]
    return {"node": node, "url": example_url(cilium_version), "applied": applied.splitlines(),
            "patched": patched, "rollout": wait_ready(lab)}


def ensure_monitoring(lab: Lab, shared_dir: Path, cilium_version: str,
                      lock_timeout: float = 1800.0) -> dict[str, Any]:
    """Deploy the monitoring example once per run; returns the stage record.

    A failed deployment is recorded too, so the other workers fail fast with the same
    message instead of trying again.
    """
    record_path = Path(shared_dir) / RECORD
    try:
        with FileLock(str(record_path) + ".lock", timeout=lab.wait_clock.real_seconds(lock_timeout),
                      poll_interval=lab.wait_clock.real_seconds(0.05)):
            if record_path.exists():
                record = json.loads(record_path.read_text())
            else:
                try:
                    record = {"deployed": True, **deploy(lab, cilium_version)}
                except (CallFailed, LabUnavailable) as exc:
                    record = {"deployed": False, "error": str(exc)}
                except node_tools.MissingTool as exc:  # kubectl is not on the control plane
                    record = {"deployed": False, "missing": [exc.node, exc.tool]}
                except AssertionError as exc:  # deployed, but never ready within the budget
                    record = {"deployed": False, "not_ready": True, "error": str(exc).split("\nassert ")[0]}
                record_path.write_text(json.dumps(record, indent=2, sort_keys=True))
    except Timeout:
        raise LabUnavailable(f"another worker held the monitoring stage lock for over "
                             f"{lock_timeout:g}s") from None
    if record.get("missing"):
        raise node_tools.MissingTool(*record["missing"])
    if record.get("not_ready"):
        raise AssertionError(f"the monitoring example never got ready: {record.get('error')}")
    if not record.get("deployed"):
        raise CallFailed(f"the monitoring example could not be deployed: {record.get('error')}")
    return record
