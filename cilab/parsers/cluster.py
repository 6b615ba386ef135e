"""Facts about the cluster from API objects: Nodes, CiliumNodes and Pods.

Objects come as the API server's JSON (camelCase) or as the python client's ``to_dict()``
(snake_case); both are read.  The shapes are the ones the lab write-up shows ("First
checks"): `kubectl get node -owide` (STATUS, VERSION, INTERNAL-IP, CONTAINER-RUNTIME),
``.spec.podCIDR`` of the nodes (kubeadm's 10.244.x.0/24), ``kubectl get ciliumnode -o
json | grep podCIDRs`` (Cilium's 172.20.x.0/24) and `kubectl get pod -A -owide`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cilab.parsers import _json

_get, _path, _items = _json.get, _json.path, _json.items


@dataclass(frozen=True)
class NodeFacts:
    """What `kubectl get node -owide` shows of one node, plus kubeadm's podCIDRs."""

    name: str
    ready: str                 # status of the Ready condition: "True", "False", "Unknown" or "absent"
    ready_reason: str          # its reason (KubeletReady, KubeletNotReady, ...)
    internal_ip: str | None
    kubelet_version: str | None     # e.g. v1.33.2
    container_runtime: str | None   # e.g. containerd://1.7.27
    pod_cidrs: tuple[str, ...]      # node.spec.podCIDRs (kubeadm's allocation)

    @property
    def is_ready(self) -> bool:
        return self.ready == "True"


def node_facts(nodes: list[dict[str, Any]] | dict[str, Any]) -> dict[str, NodeFacts]:
    """Node name -> `NodeFacts`."""
    out: dict[str, NodeFacts] = {}
    for node in _items(nodes):
        name = str(_path(node, "metadata", "name"))
        ready = next((c for c in _path(node, "status", "conditions") or []
                      if _get(c, "type") == "Ready"), None)
        ip = next((str(_get(a, "address")) for a in _path(node, "status", "addresses") or []
                   if _get(a, "type") == "InternalIP" and _get(a, "address")), None)
        info = _path(node, "status", "nodeInfo") or {}
        cidrs = _path(node, "spec", "podCIDRs") or ([_path(node, "spec", "podCIDR")]
                                                    if _path(node, "spec", "podCIDR") else [])
        out[name] = NodeFacts(
            name=name,
            ready=str(_get(ready, "status")) if ready is not None else "absent",
            ready_reason=str(_get(ready, "reason") or "") if ready is not None else "",
            internal_ip=ip,
            kubelet_version=_get(info, "kubeletVersion"),
            container_runtime=_get(info, "containerRuntimeVersion"),
            pod_cidrs=tuple(str(c) for c in cidrs),
        )
    return out


def cilium_pod_cidrs(cilium_nodes: list[dict[str, Any]] | dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """CiliumNode (cilium.io/v2) name -> spec.ipam.podCIDRs: the pod CIDRs Cilium's
    cluster-pool IPAM allocated to that node (a CiliumNode is named after its node)."""
    return {str(_path(cn, "metadata", "name")): tuple(str(c) for c in _path(cn, "spec", "ipam", "podCIDRs") or [])
            for cn in _items(cilium_nodes)}


@dataclass(frozen=True)
class PodAddress:
    namespace: str
    name: str
    node: str | None
    ip: str | None
    host_network: bool
    phase: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def pod_addresses(pods: list[dict[str, Any]] | dict[str, Any]) -> list[PodAddress]:
    """Every pod's node, IP (status.podIP), hostNetwork flag and phase."""
    out = []
    for pod in _items(pods):
        out.append(PodAddress(
            namespace=str(_path(pod, "metadata", "namespace") or ""),
            name=str(_path(pod, "metadata", "name")),
            node=_path(pod, "spec", "nodeName"),
            ip=_path(pod, "status", "podIP"),
            host_network=bool(_path(pod, "spec", "hostNetwork")),
            phase=str(_path(pod, "status", "phase") or ""),
        ))
    return out
