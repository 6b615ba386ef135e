"""Probes of the cluster as built: nodes, Cilium's IPAM, pods and each node's iptables."""
from __future__ import annotations

from cilab.lab import Lab
from cilab.parsers.cluster import NodeFacts, PodAddress, cilium_pod_cidrs, node_facts, pod_addresses
from cilab.parsers.iptables import Table, parse_iptables_save

IPTABLES_COMMAND = "iptables-save"


def nodes(lab: Lab) -> dict[str, NodeFacts]:
    """`kubectl get node -owide`: every node the API server knows."""
    return node_facts(lab.list("v1", "Node"))


def cilium_node_cidrs(lab: Lab) -> dict[str, tuple[str, ...]]:
    """`kubectl get ciliumnode -o json`: node name -> Cilium's pod CIDRs for it."""
    return cilium_pod_cidrs(lab.list("cilium.io/v2", "CiliumNode"))


def all_pods(lab: Lab) -> list[PodAddress]:
    """`kubectl get pod -A -owide`."""
    return pod_addresses(lab.list("v1", "Pod"))


def iptables(lab: Lab, node: str) -> dict[str, Table]:
    """`iptables-save` on `node` (as root): every table of the node's ruleset."""
    result = lab.shell(node, IPTABLES_COMMAND, timeout=30)
    if not result.ok:
        raise AssertionError(f"`{IPTABLES_COMMAND}` failed on {node} (exit {result.rc}): "
                             f"{result.stderr.strip()[:200]}")
    return parse_iptables_save(result.stdout)
