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

On a lab the suite did not build (cilab.consent) the example is the student's business:

* found (the namespace `cilium-monitoring` exists: the student did the metrics chapter), it
  is checked as found: nothing is applied or patched;
* not found, and no `--allow-monitoring-example`: nothing is applied, and the metrics
  scenarios are skipped with one line naming that option (`not_checked_line`);
* not found, with `--allow-monitoring-example`: the example is applied only when none of
  the objects its manifest lists exists yet (`kubectl get -f URL --ignore-not-found`: its
  ClusterRole and ClusterRoleBinding are cluster-wide and could be someone else's).  Before
  the apply a marker is left in the cluster, the ConfigMap kube-system/cilab-remove-monitoring
  (the URL and the run's id).  At the end of the run the example is deleted again with
  `kubectl delete -f URL` (`remove_example`, run once by the process that owns the
  session, also after Ctrl-C or SIGTERM), then the marker.  A run killed before that leaves
  the marker, and the next run removes what it names first (`remove_left_over`).
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from cilab import node_tools
from cilab.errors import CallFailed, ConfigError, LabUnavailable
from cilab.lab import Lab
from cilab.stages import workload_ready

NAMESPACE = "cilium-monitoring"
#: the kubeconfig kubeadm writes on the control plane (root's ~/.kube/config is a copy)
KUBECONFIG = "/etc/kubernetes/admin.conf"
#: kubectl on the control plane; read when called (the loopback tests name a stand-in)
KUBECTL = "kubectl"
#: a lab the suite did not build gets the example only with this option
OPT_IN = "--allow-monitoring-example"
#: the marker of an example this run applied to a lab it did not build (kube-system ConfigMap)
MARKER = "cilab-remove-monitoring"
MARKER_NAMESPACE = "kube-system"
#: the run's note of what it applied, read by the process that removes it at the end
APPLIED_FILE = "monitoring-applied.json"
DELETE_TIMEOUT = 300
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
    return f"{KUBECTL} --kubeconfig {KUBECONFIG} {args}"


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
                            typed=command.replace(f"{KUBECTL} --kubeconfig {KUBECONFIG} ", "kubectl ", 1))
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


def not_checked_line() -> str:
    """The one-line reason a metrics scenario is skipped on a lab found without the example."""
    return (f"not checked: this scenario needs Cilium's monitoring example (namespace {NAMESPACE}), but the "
            "lab was found without it and the suite applies it to a lab it did not build only with "
            f"{OPT_IN} (it is removed again at the end of the run)")


def may_apply(lab: Lab) -> bool:
    """The suite may apply the example here (its own lab, or --allow-monitoring-example)."""
    return bool(getattr(lab.backend, "allow_monitoring_example", True))


def found_example(lab: Lab) -> dict[str, str] | None:
    """The example as found (None when its namespace does not exist): each Deployment's state."""
    if lab.get("v1", "Namespace", NAMESPACE) is None:
        return None
    return {app: workload_ready(lab.get("apps/v1", "Deployment", app, NAMESPACE))[1] for app in NODE_PORTS}


def existing_objects(lab: Lab, node: str, url: str) -> list[str]:
    """The objects of the example's manifest that exist already (`kubectl get -f URL`)."""
    out = _run(lab, node, kubectl(f"get -f {url} --ignore-not-found -o name"), "kubectl get of the example's objects")
    return [line.strip() for line in out.splitlines() if line.strip()]


def _marker(url: str, node: str, run_id: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": MARKER, "namespace": MARKER_NAMESPACE,
                         "labels": {"app.kubernetes.io/managed-by": "cilium-lab-conformance"}},
            "data": {"url": url, "node": node, "run-id": run_id,
                     "remove": f"kubectl delete -f {url} (done by the next run of the suite)"}}


def _apply_with_consent(lab: Lab, shared_dir: Path, cilium_version: str) -> dict[str, Any]:
    """Apply the example to a lab the suite did not build (with --allow-monitoring-example):
    only onto a lab holding none of its objects, marker first, noted for the removal."""
    node = control_plane_node(lab)
    url = example_url(cilium_version)
    existing = existing_objects(lab, node, url)
    if existing:
        return {"deployed": False, "not_checked": (
            f"not checked: this scenario needs Cilium's monitoring example, but the lab was found without namespace "
            f"{NAMESPACE} and with objects of the example already there ({', '.join(existing[:5])}); with "
            f"{OPT_IN} the suite applies it only to a lab holding none of them (it never changes objects it did "
            "not create): deploy the example yourself as the write-up does (seed 2540), or delete those")}
    lab.apply(_marker(url, node, str(lab.info.get("run_id", ""))), namespace=MARKER_NAMESPACE)
    path = Path(shared_dir) / APPLIED_FILE
    path.write_text(json.dumps({"url": url, "node": node, "removed": False}, indent=2))
    return {"deployed": True, "applied_by_this_run": True, **deploy(lab, cilium_version)}


def _delete_example(lab: Lab, node: str, url: str) -> None:
    _run(lab, node, kubectl(f"delete -f {url} --ignore-not-found --wait=true --timeout={DELETE_TIMEOUT}s"),
         "kubectl delete of the monitoring example")

    def gone() -> None:
        ns = lab.get("v1", "Namespace", NAMESPACE)
        assert ns is None, f"namespace {NAMESPACE} still {(ns.get('status') or {}).get('phase', 'present')}"
    lab.eventually(gone, what=f"namespace {NAMESPACE} deleted", budget="rollout")
    lab.delete("v1", "ConfigMap", MARKER, MARKER_NAMESPACE)


def remove_example(lab: Lab, shared_dir: Path, say: Callable[[str], None]) -> bool:
    """Delete the example this run applied to a lab it did not build (once; True when done now)."""
    path = Path(shared_dir) / APPLIED_FILE
    if not path.exists():
        return False
    applied = json.loads(path.read_text())
    if applied.get("removed"):
        return False
    _delete_example(lab, applied["node"], applied["url"])
    path.write_text(json.dumps({**applied, "removed": True}, indent=2))
    say(f"monitoring: the example this run applied is removed again (kubectl delete -f {applied['url']}; "
        f"namespace {NAMESPACE} gone), the lab is as found")
    return True


def remove_left_over(lab: Lab, say: Callable[[str], None]) -> dict[str, str] | None:
    """A marker left by a run killed before it removed the example it applied: remove what
    it names first (one line), then the marker.  Returns the marker's data."""
    marker = lab.get("v1", "ConfigMap", MARKER, MARKER_NAMESPACE)
    if marker is None:
        return None
    data = dict(marker.get("data") or {})
    url = data.get("url", "")
    if not url.startswith("https://"):
        raise ConfigError(f"ConfigMap {MARKER_NAMESPACE}/{MARKER} names no manifest URL: delete it with "
                          f"`kubectl -n {MARKER_NAMESPACE} delete configmap {MARKER}` after checking "
                          f"namespace {NAMESPACE}")
    say(f"monitoring: an earlier run (run id {data.get('run-id', '?')}) was stopped before it removed the "
        f"monitoring example it applied: removing it first (marker {MARKER_NAMESPACE}/{MARKER})")
    _delete_example(lab, data.get("node") or control_plane_node(lab), url)
    return data


def ensure_monitoring(lab: Lab, shared_dir: Path, cilium_version: str,
                      lock_timeout: float = 1800.0) -> dict[str, Any]:
    """Deploy the monitoring example once per run; returns the stage record.

    On a lab the suite did not build the example is checked as found, or applied only with
    --allow-monitoring-example (the module's doc); a record with `not_checked` says why the
    scenarios are skipped.  A failed deployment is recorded too, so the other workers fail
    fast with the same message instead of trying again.
    """
    record_path = Path(shared_dir) / RECORD
    try:
        with FileLock(str(record_path) + ".lock", timeout=lab.wait_clock.real_seconds(lock_timeout),
                      poll_interval=lab.wait_clock.real_seconds(0.05)):
            if record_path.exists():
                record = json.loads(record_path.read_text())
            else:
                try:
                    from cilab.consent import suite_built
                    if suite_built(lab):
                        record = {"deployed": True, **deploy(lab, cilium_version)}
                    else:
                        found = found_example(lab)
                        if found is not None:
                            record = {"deployed": True, "found": found, "applied_by_this_run": False,
                                      "note": "a lab the suite did not build, checked as found"}
                        elif not may_apply(lab):
                            record = {"deployed": False, "not_checked": not_checked_line()}
                        else:
                            record = _apply_with_consent(lab, shared_dir, cilium_version)
                except (CallFailed, LabUnavailable, ConfigError) as exc:
                    record = {"deployed": False, "error": str(exc)}
                except node_tools.MissingTool as exc:  # kubectl is not on the control plane
                    record = {"deployed": False, "missing": [exc.node, exc.tool]}
                except AssertionError as exc:  # deployed, but never ready within the budget
                    record = {"deployed": False, "not_ready": True, "error": str(exc).split("\nassert ")[0]}
                record_path.write_text(json.dumps(record, indent=2, sort_keys=True))
    except Timeout:
        raise LabUnavailable(f"another worker held the monitoring stage lock for over "
                             f"{lock_timeout:g}s") from None
    if record.get("not_checked"):
        return record
    if record.get("missing"):
        raise node_tools.MissingTool(*record["missing"])
    if record.get("not_ready"):
        raise AssertionError(f"the monitoring example never got ready: {record.get('error')}")
    if not record.get("deployed"):
        raise CallFailed(f"the monitoring example could not be deployed: {record.get('error')}")
    return record
