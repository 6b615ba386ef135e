"""Probes of the cluster as built: nodes, Cilium's IPAM, pods and each node's iptables."""
from __future__ import annotations

from cilab import node_tools
from cilab.lab import Lab
from cilab.parsers.cilium_dbg import AgentStatus, parse_agent_status
from cilab.parsers.cluster import (NodeFacts, NodeTable, PodAddress, cilium_pod_cidrs, node_facts,
                                   parse_node_table, pod_addresses)
from cilab.parsers.iptables import Table, parse_iptables_save
from cilab.probes import k8s
from cilab.roles import of_lab

IPTABLES_COMMAND = "iptables-save"


def nodes(lab: Lab) -> dict[str, NodeFacts]:
    """Every Node object the API server knows (what `kubectl get node -owide` prints its
    columns from), read through the suite's API client; `kubectl_nodes` reads the printed table."""
    return node_facts(lab.list("v1", "Node"))


#: what the student types on k8s-ctr (seed 599-603) ...
KUBECTL_NODES_TYPED = "kubectl get node -owide"
#: ... and what runs there as root: the same command with kubeadm's admin kubeconfig named,
#: so the answer does not hang on which kubeconfig root's login would pick up
KUBECTL_NODES_COMMAND = "kubectl --kubeconfig /etc/kubernetes/admin.conf get node -owide"


def kubectl_nodes(lab: Lab) -> tuple[str, NodeTable]:
    """`kubectl get node -owide` as the student types it on the control-plane node: the
    cluster as the student sees it, read from the printed table (a read of its own, apart
    from the suite's API client).  Returns the node it ran on and the table."""
    node = of_lab(lab).control_plane
    result = node_tools.run(lab, node, "kubectl", KUBECTL_NODES_COMMAND, typed=KUBECTL_NODES_TYPED, timeout=30)
    said = (result.stderr.strip() or result.stdout.strip()).splitlines()
    if not result.ok:
        raise AssertionError(f"`{KUBECTL_NODES_TYPED}` on {node} failed (exit {result.rc}): "
                             f"{said[-1][:200] if said else 'it printed nothing'}")
    table = parse_node_table(result.stdout)
    if not table.has_header:
        raise AssertionError(f"`{KUBECTL_NODES_TYPED}` on {node} printed no node table (no NAME STATUS header): "
                             f"{said[0][:200] if said else 'it printed nothing'}")
    return node, table


def cilium_node_cidrs(lab: Lab) -> dict[str, tuple[str, ...]]:
    """`kubectl get ciliumnode -o json`: node name -> Cilium's pod CIDRs for it."""
    return cilium_pod_cidrs(lab.list("cilium.io/v2", "CiliumNode"))


def all_pods(lab: Lab) -> list[PodAddress]:
    """`kubectl get pod -A -owide`."""
    return pod_addresses(lab.list("v1", "Pod"))


def selected_pods_by_node(lab: Lab, namespace: str, match_labels: dict[str, str]) -> dict[str, list[str]]:
    """The pods of `namespace` carrying every label of `match_labels` (a workload's
    spec.selector.matchLabels) that are Running and Ready, by node: node -> pod names.
    Read from the same `kubectl get pod -A` list as `all_pods`."""
    out: dict[str, list[str]] = {}
    for pod in lab.list("v1", "Pod"):
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        labels = meta.get("labels") or {}
        if meta.get("namespace") != namespace or any(labels.get(k) != v for k, v in match_labels.items()):
            continue
        ready = status.get("phase") == "Running" and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        node = spec.get("nodeName")
        if ready and node:
            out.setdefault(node, []).append(str(meta.get("name")))
    return out


def iptables(lab: Lab, node: str) -> dict[str, Table]:
    """`iptables-save` on `node` (as root): every table of the node's ruleset."""
    result = node_tools.run(lab, node, "iptables-save", IPTABLES_COMMAND, timeout=30)
    if not result.ok:
        raise AssertionError(f"`{IPTABLES_COMMAND}` failed on {node} (exit {result.rc}): "
                             f"{result.stderr.strip()[:200]}")
    return parse_iptables_save(result.stdout)


#: `kubectl exec -n kube-system <cilium pod> -c cilium-agent -- cilium-dbg status` (seed 715, 784-789)
AGENT_STATUS_COMMAND = ["cilium-dbg", "status"]


def agent_status(lab: Lab, agent: str) -> AgentStatus:
    """The KubeProxyReplacement and IPAM lines of one agent's `cilium-dbg status`."""
    result = k8s.agent_exec(lab, agent, AGENT_STATUS_COMMAND, what=f"cilium-dbg status in {agent}")
    # the command exits non-zero when some subsystem is not Ok, and still prints the lines
    status = parse_agent_status(result.stdout)
    if status.kube_proxy_replacement is None and status.ipam is None and not result.ok:
        raise AssertionError(f"`cilium-dbg status` failed in {agent} (exit {result.rc}): "
                             f"{(result.stderr or result.stdout).strip()[:200]}")
    return status
