"""Kubernetes object probes (reads through `Lab`, results as API dicts or parsed types)."""
from __future__ import annotations

from typing import Any

from cilab.lab import Lab
from cilab.model import CommandResult
from cilab.parsers import kube


def configmap_data(lab: Lab, namespace: str, name: str) -> dict[str, str] | None:
    cm = lab.get("v1", "ConfigMap", name, namespace)
    return None if cm is None else dict(cm.get("data") or {})


def secret_types(lab: Lab, namespace: str) -> dict[str, str]:
    return kube.secret_types(lab.list("v1", "Secret", namespace))


def nodes(lab: Lab) -> dict[str, str]:
    """Node name -> InternalIP, for every node the API server knows."""
    return kube.node_internal_ips(lab.list("v1", "Node"))


def service(lab: Lab, namespace: str, name: str) -> dict[str, Any] | None:
    return lab.get("v1", "Service", name, namespace)


def cluster_ip(lab: Lab, namespace: str, name: str) -> str | None:
    """The Service's ClusterIP (the address a client's lookup of its name resolves to)."""
    svc = service(lab, namespace, name)
    assert svc is not None, f"Service {namespace}/{name} does not exist"
    return (svc.get("spec") or {}).get("clusterIP")


def service_endpoints(lab: Lab, namespace: str, name: str) -> set[tuple[str, int]]:
    """Ready (ip, port) pairs behind a Service, from its EndpointSlices."""
    slices = lab.list("discovery.k8s.io/v1", "EndpointSlice", namespace,
                      label_selector=f"kubernetes.io/service-name={name}")
    return kube.endpoint_addresses(slices)


def pod_ready(pod: dict[str, Any]) -> bool:
    """Running with its Ready condition True."""
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def check_endpoints_are(lab: Lab, namespace: str, service: str, pods: list[dict[str, Any]], what: str) -> None:
    """Assert that the Service's ready EndpointSlice addresses are exactly the IPs of the
    Ready pods among `pods` (a positive request sent before that may reach no backend, one
    only, or an address that is not the workload's).  Meant to be polled (`lab.eventually`):
    the message names the expected and the seen addresses."""
    want = sorted({str((p.get("status") or {}).get("podIP")) for p in pods
                   if pod_ready(p) and (p.get("status") or {}).get("podIP")})
    have = sorted({ip for ip, _ in service_endpoints(lab, namespace, service)})
    assert want and have == want, (f"Service {service}: expected its endpoints to be exactly the {what} pods "
                                   f"{', '.join(want) or '(none Ready)'}, saw {', '.join(have) or 'none'}")


def selector_of(obj: dict[str, Any]) -> str:
    """A workload's `spec.selector.matchLabels` as a label selector (`app=webpod`)."""
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def deployment(lab: Lab, namespace: str, name: str) -> dict[str, Any] | None:
    return lab.get("apps/v1", "Deployment", name, namespace)


def daemonset(lab: Lab, namespace: str, name: str) -> dict[str, Any] | None:
    return lab.get("apps/v1", "DaemonSet", name, namespace)


def pods(lab: Lab, namespace: str, selector: str) -> list[dict[str, Any]]:
    return lab.list("v1", "Pod", namespace, label_selector=selector)


def running_pods(lab: Lab, namespace: str, selector: str) -> list[dict[str, Any]]:
    return [p for p in pods(lab, namespace, selector)
            if (p.get("status") or {}).get("phase") == "Running"]


def pod_node(pod: dict[str, Any]) -> str | None:
    spec = pod.get("spec") or {}
    return spec.get("nodeName") or spec.get("node_name")


AGENT_CONTAINER = "cilium-agent"


def agent_exec(lab: Lab, agent: str, command: list[str], *, what: str, timeout: float = 30,
               scope: str | None = None, budget: float | str = "default",
               typed: str | None = None) -> CommandResult:
    """`kubectl exec -n kube-system <agent> -c cilium-agent -- <command>`, made again while
    that container is not there (a restarting agent) within `budget` (`Lab.when_ready`).
    `typed`: the student's command for it, where the suite runs a script of its own."""
    return lab.when_ready(lambda: lab.exec("kube-system", agent, AGENT_CONTAINER, command, timeout=timeout,
                                           scope=scope, typed=typed), what=what, budget=budget)


def cilium_agent_on(lab: Lab, node: str) -> str:
    """Name of the Running cilium agent pod on `node` (agent pods carry k8s-app=cilium)."""
    for pod in running_pods(lab, "kube-system", "k8s-app=cilium"):
        if pod_node(pod) == node:
            return pod["metadata"]["name"]
    raise AssertionError(f"no Running cilium agent pod (k8s-app=cilium) on node {node}")
