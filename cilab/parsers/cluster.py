"""Facts about the cluster from API objects: Nodes, CiliumNodes and Pods.

Objects come as the API server's JSON (camelCase) or as the python client's ``to_dict()``
(snake_case); both are read.  The shapes are the ones the lab write-up shows ("First
checks"): `kubectl get node -owide` (STATUS, VERSION, INTERNAL-IP, CONTAINER-RUNTIME),
``.spec.podCIDR`` of the nodes (kubeadm's 10.244.x.0/24), ``kubectl get ciliumnode -o
json | grep podCIDRs`` (Cilium's 172.20.x.0/24) and `kubectl get pod -A -owide`.
"""
from __future__ import annotations

import re
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


@dataclass(frozen=True)
class NodeRow:
    """One row of `kubectl get node -owide` as printed: NAME and STATUS (`Ready`,
    `NotReady`, `Ready,SchedulingDisabled`, `Unknown`), with every other column by header."""

    name: str
    status: str
    cells: dict[str, str]

    @property
    def is_ready(self) -> bool:
        """STATUS starts with Ready (kubectl appends `,SchedulingDisabled` to a cordoned node)."""
        return self.status.split(",")[0] == "Ready"


@dataclass(frozen=True)
class NodeTable:
    rows: tuple[NodeRow, ...]
    #: lines after the header that are no row of the table (a cut line, a misaligned line)
    unparsed: tuple[str, ...]
    #: the header was found (False: the output is no `kubectl get node` table at all)
    has_header: bool

    def names(self) -> list[str]:
        return [r.name for r in self.rows]


def parse_node_table(text: str) -> NodeTable:
    """`kubectl get node [-owide]` as printed (seed 599-603).  kubectl aligns its columns
    with a tabwriter (at least three spaces between columns, cells left-aligned under their
    header), while a cell may hold single spaces (OS-IMAGE `Ubuntu 24.04.2 LTS`): each cell
    is read from its header's column.  Lines before the header (a warning kubectl printed to
    the same stream) are skipped; a line after it that does not fit the columns is kept in
    `unparsed`, never guessed: a line cut short of its last column, a line out of step with
    the columns."""
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines)
               if line.split()[:2] == ["NAME", "STATUS"]), None)
    if at is None:
        return NodeTable(rows=(), unparsed=tuple(l for l in lines if l.strip()), has_header=False)
    header = lines[at]
    columns = [(m.group(0), m.start()) for m in re.finditer(r"\S+", header)]
    rows: list[NodeRow] = []
    unparsed: list[str] = []
    last_at = columns[-1][1]
    for line in lines[at + 1:]:
        if not line.strip():
            continue
        # a row reaches its last column (kubectl prints `<none>` for an empty cell, so every
        # cell holds something) and starts each cell where its header does
        if (len(line) <= last_at or line[0].isspace()
                or any(start > 0 and start < len(line) and not line[start - 1].isspace()
                       for _, start in columns[1:])):
            unparsed.append(line)
            continue
        cells: dict[str, str] = {}
        for i, (name, start) in enumerate(columns):
            end = columns[i + 1][1] if i + 1 < len(columns) else None
            cells[name] = line[start:end].strip()
        if not cells["NAME"] or " " in cells["NAME"] or not cells["STATUS"]:
            unparsed.append(line)
            continue
        rows.append(NodeRow(name=cells["NAME"], status=cells["STATUS"], cells=cells))
    return NodeTable(rows=tuple(rows), unparsed=tuple(unparsed), has_header=True)
