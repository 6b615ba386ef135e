"""Steps of features/cluster.feature: each binds a sentence to one probe and one check."""
from __future__ import annotations

import ipaddress
from typing import Any

from pytest_bdd import parsers, then, when

from cilab.facts import asserts, fact, outcome
from cilab.lab import Lab
from cilab.parsers import kube
from cilab.parsers.cluster import NodeFacts, NodeTable
from cilab.parsers.iptables import BUILTIN_CHAINS, kube_proxy_entries
from cilab.probes import cluster, k8s, policy
from cilab.roles import of_lab
from cilab.versions import load_versions


def _node(lab: Lab, node: str) -> NodeFacts:
    """The Node object of the write-up's `node` (by its name in this lab, cilab.roles)."""
    found = cluster.nodes(lab)
    real = of_lab(lab).real(node)
    assert real in found, f"node {real} is not in the cluster (saw {', '.join(sorted(found)) or 'no nodes'})"
    return found[real]


def _readiness(facts: NodeFacts) -> str:
    return f"Ready={facts.ready}" + (f" ({facts.ready_reason})" if facts.ready_reason else "")


# --- nodes -------------------------------------------------------------------------------


@then(parsers.parse('node "{node}" is Ready'))
@outcome("the Node's Ready condition is True")
def cluster_node_ready(lab: Lab, node: str) -> None:
    def check() -> None:
        facts = _node(lab, node)
        assert facts.is_ready, f"node {node}: expected Ready=True, saw {_readiness(facts)}"
    lab.eventually(check, what=f"node {node} Ready")


@then(parsers.parse('node "{node}" has the InternalIP the lab assigns it ({address} by default)'))
@outcome("the Node's InternalIP is the address provisioning/versions.env assigns the node")
def cluster_node_internal_ip(lab: Lab, node: str, address: str) -> None:
    want = load_versions().node_ips.get(node)
    assert want is not None, (f"provisioning/versions.env assigns no address to {node} "
                              f"(its nodes: {', '.join(load_versions().node_ips)})")
    seen = _node(lab, node).internal_ip
    source = "provisioning/versions.env" + ("" if want == address else f", overriding the default {address}")
    assert seen == want, f"node {node}: expected InternalIP {want} ({source}), saw {seen or 'none'}"


@then(parsers.parse('node "{node}" runs the kubelet of the lab\'s pinned Kubernetes version'))
@outcome("the Node's kubelet version is v<KUBERNETES_VERSION> of provisioning/versions.env")
def cluster_node_kubelet(lab: Lab, node: str) -> None:
    want = f"v{load_versions().kubernetes_version}"
    seen = _node(lab, node).kubelet_version
    assert seen == want, (f"node {node}: expected kubelet {want} (KUBERNETES_VERSION in "
                          f"provisioning/versions.env), saw {seen or 'none'}")


@then(parsers.parse('node "{node}" runs the lab\'s pinned containerd version'))
@outcome("the Node's container runtime is containerd://<CONTAINERD_VERSION> of provisioning/versions.env")
def cluster_node_runtime(lab: Lab, node: str) -> None:
    want = f"containerd://{load_versions().containerd_version}"
    seen = _node(lab, node).container_runtime
    assert seen == want, (f"node {node}: expected container runtime {want} (CONTAINERD_VERSION in "
                          f"provisioning/versions.env), saw {seen or 'none'}")


def _lab_nodes(lab: Lab) -> list[str]:
    """The lab's nodes (provisioning/versions.env), by their names in this lab (cilab.roles:
    a cluster the suite did not build may name the write-up's k8s-ctr, k8s-w1, k8s-w2 otherwise)."""
    roles = of_lab(lab)
    return [roles.real(n) for n in load_versions().node_ips]


def _unparsed(table: NodeTable) -> str:
    return (f"; lines that are no row of the table: {' | '.join(table.unparsed[:3])}"
            if table.unparsed else "")


@then("the nodes of the cluster are exactly the lab's nodes")
@outcome("the NAME column of `kubectl get node -owide` on the control plane is exactly the nodes of "
         "provisioning/versions.env, none missing, none extra")
def cluster_nodes_exactly(lab: Lab) -> None:
    """Every: the lab is its three nodes (seed 599-603).  Read from the table the student's
    own `kubectl get node -owide` prints on the control plane, a read apart from the suite's
    API client, which every other chapter uses to learn the nodes."""
    want = set(_lab_nodes(lab))
    where, table = cluster.kubectl_nodes(lab)
    seen = set(table.names())
    assert seen == want, (f"`{cluster.KUBECTL_NODES_TYPED}` on {where}: expected nodes {', '.join(sorted(want))} "
                          f"(provisioning/versions.env), saw {', '.join(sorted(seen)) or 'none'} (missing: "
                          f"{', '.join(sorted(want - seen)) or '-'}; unexpected: {', '.join(sorted(seen - want)) or '-'})"
                          + _unparsed(table))


@then("every node of the cluster is Ready")
@outcome("every row of `kubectl get node -owide` on the control plane has STATUS Ready")
def cluster_every_node_ready(lab: Lab) -> None:
    def check() -> None:
        where, table = cluster.kubectl_nodes(lab)
        assert table.rows, f"`{cluster.KUBECTL_NODES_TYPED}` on {where} lists no nodes" + _unparsed(table)
        # a row that cannot be read cannot be judged Ready: it is not passed over
        assert not table.unparsed, (f"`{cluster.KUBECTL_NODES_TYPED}` on {where}: the STATUS of some rows "
                                    "cannot be read" + _unparsed(table))
        bad = [f"node {r.name}: expected Ready in STATUS, saw {r.status}" for r in table.rows if not r.is_ready]
        assert not bad, (f"not every node is Ready in `{cluster.KUBECTL_NODES_TYPED}` on {where}: "
                         + "; ".join(bad))
    lab.eventually(check, what="every node Ready")


# --- kube-proxy replacement ---------------------------------------------------------------


@then(parsers.parse('there is no DaemonSet "{name}" in "{namespace}"'))
@outcome("the API has no DaemonSet of that name in that namespace")
def cluster_no_daemonset(lab: Lab, name: str, namespace: str) -> None:
    obj = k8s.daemonset(lab, namespace, name)
    if obj is not None:
        ready, want = kube.daemonset_ready(obj)
        raise AssertionError(f"expected no DaemonSet {namespace}/{name}, saw it ({ready}/{want} ready)")


@then("no node has kube-proxy's KUBE-SERVICES or KUBE-SVC-* iptables chains")
@outcome("iptables-save on every node holds no KUBE-SERVICES or KUBE-SVC-* chain or rule")
def cluster_no_kube_proxy_rules(lab: Lab) -> None:
    def check() -> None:
        found = {}
        for node in sorted(k8s.nodes(lab)):
            entries = kube_proxy_entries(cluster.iptables(lab, node))
            if entries:
                found[node] = entries
        assert not found, "expected no kube-proxy iptables chains; saw " + "; ".join(
            f"on {node}: {', '.join(e[:4])}{' ...' if len(e) > 4 else ''}" for node, e in found.items())
    lab.eventually(check, what="no kube-proxy iptables chains on any node")


@then(parsers.parse('the ConfigMap "{name}" in "{namespace}" has {key} "{value}"'))
@outcome("the ConfigMap's data holds the key with exactly that value")
def cluster_configmap_key(lab: Lab, name: str, namespace: str, key: str, value: str) -> None:
    data = k8s.configmap_data(lab, namespace, name)
    assert data is not None, f"ConfigMap {namespace}/{name} does not exist"
    seen = data.get(key)
    assert seen == value, f"ConfigMap {namespace}/{name}: {key}: expected {value!r}, saw {seen if seen is None else repr(seen)}"


@then("cilium-config turns the L7 proxy on and runs it as a separate Envoy")
@asserts("l7-proxy-on")
def cluster_l7_proxy(ctx: dict[str, Any]) -> None:
    name, data = ctx["configmap"]
    want = dict(pair.split("=", 1) for pair in fact("l7-proxy-on").split())
    wrong = [f"{key}: expected {value!r}, saw {data.get(key, '<absent>')!r}"
             for key, value in want.items() if data.get(key) != value]
    assert not wrong, f"ConfigMap {name}: " + "; ".join(wrong)


# --- IPAM ----------------------------------------------------------------------------------


def _networks(cidrs: tuple[str, ...]) -> list[ipaddress.IPv4Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _inside(ip: str, nets: list[ipaddress.IPv4Network]) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr in net for net in nets)


@then(parsers.parse("every node has a Cilium pod CIDR of its own, a /{bits:d} inside {pool}"))
@outcome("each node's CiliumNode has pod CIDRs of that prefix length inside the pool, overlapping no other node's")
def cluster_cilium_cidrs(lab: Lab, bits: int, pool: str) -> None:
    pool_net = ipaddress.ip_network(pool)

    def check() -> None:
        node_names = sorted(cluster.nodes(lab))
        cidrs = cluster.cilium_node_cidrs(lab)
        wrong = []
        owners: dict[ipaddress.IPv4Network, str] = {}
        for node in node_names:
            if not cidrs.get(node):
                wrong.append(f"{node}: no Cilium pod CIDR (CiliumNode "
                             f"{'absent' if node not in cidrs else 'has no spec.ipam.podCIDRs'})")
                continue
            for net in _networks(cidrs[node]):
                if net.prefixlen != bits or not net.subnet_of(pool_net):
                    wrong.append(f"{node}: expected a /{bits} inside {pool}, saw {net}")
                clash = next((o for n, o in owners.items() if o != node and n.overlaps(net)), None)
                if clash:
                    wrong.append(f"{node}: {net} is also {clash}'s")
                owners[net] = node
        assert not wrong, "Cilium pod CIDRs: " + "; ".join(wrong)
    lab.eventually(check, what=f"every node has its own /{bits} of {pool}")


@when('I run "cilium-dbg status" in the Cilium agent of every node')
def run_agent_status(lab: Lab, ctx: dict[str, Any]) -> None:
    agents = policy.agent_pods(lab)
    nodes = k8s.nodes(lab)
    missing = sorted(set(nodes) - set(agents))
    assert not missing, f"no Running cilium agent pod on {', '.join(missing)}"
    ctx["agent_status"] = {node: (agents[node], cluster.agent_status(lab, agents[node])) for node in sorted(nodes)}
    ctx["node_ips"] = nodes


def _devices(st: Any) -> str:
    return ", ".join(f"{d.name} {' '.join(d.ips)}{' (Direct Routing)' if d.direct_routing else ''}"
                     for d in st.devices) or "no devices"


@then("every agent's KubeProxyReplacement is True, with its node's InternalIP on the Direct Routing device")
@asserts("agent-kpr-direct-routing")
def agent_kpr(ctx: dict[str, Any]) -> None:
    # seed 784: `True` `eth1 192.168.10.100 (Direct Routing)` -- the device name is the lab's; what
    # holds on every node is that the direct-routing device carries the node's InternalIP
    mode, seed_dev = fact("agent-kpr-direct-routing").split(" ", 1)
    seed_ips = seed_dev.replace("(Direct Routing)", "").split()[1:]
    wrong = []
    for node, (agent, st) in ctx["agent_status"].items():
        ip = ctx["node_ips"].get(node)
        direct = [d for d in st.devices if d.direct_routing]
        if st.kube_proxy_replacement != mode or len(direct) != 1 or ip not in direct[0].ips:
            wrong.append(f"{node} ({agent}): KubeProxyReplacement {st.kube_proxy_replacement or 'line missing'} "
                         f"[{_devices(st)}]")
    assert not wrong, (f"cilium-dbg status: expected KubeProxyReplacement {mode} with the node's InternalIP on the "
                       f"(Direct Routing) device (the seed's k8s-ctr: {seed_dev}, {' '.join(seed_ips)}), saw "
                       + "; ".join(wrong))


@then("every agent allocates pod IPv4 addresses from its node's Cilium pod CIDR")
@asserts("agent-ipam-from-node-cidr")
def agent_ipam(lab: Lab, ctx: dict[str, Any]) -> None:
    # seed 785: `3/254 allocated from 172.20.0.0/24` -- k8s-ctr's CIDR; used <= total every time
    seed = cluster.parse_agent_status(f"IPAM: IPv4: {fact('agent-ipam-from-node-cidr')}")
    assert seed.ipv4_cidr is not None, f"the declared seed IPAM line {fact('agent-ipam-from-node-cidr')!r} does not parse"
    cidrs = cluster.cilium_node_cidrs(lab)
    wrong = []
    for node, (agent, st) in ctx["agent_status"].items():
        own = cidrs.get(node) or ()
        if (st.ipv4_cidr is None or st.ipv4_cidr not in own or st.ipv4_used is None or st.ipv4_total is None
                or not 0 < st.ipv4_used <= st.ipv4_total):
            wrong.append(f"{node} ({agent}): IPAM {st.ipam or 'line missing'!s} (its CiliumNode: "
                         f"{', '.join(own) or 'no pod CIDR'})")
    assert not wrong, ("cilium-dbg status: expected 'IPAM: IPv4: N/M allocated from <the node's Cilium pod CIDR>' "
                       f"with 0 < N <= M (the seed's k8s-ctr: {fact('agent-ipam-from-node-cidr')}), saw " + "; ".join(wrong))


@then("every pod that is not in the host network has an IP from its node's Cilium pod CIDR")
@outcome("every Running or Pending pod outside the host network has an IP inside its node's CiliumNode pod CIDRs")
def cluster_pod_ips_from_cilium(lab: Lab) -> None:
    cidrs = {node: _networks(c) for node, c in cluster.cilium_node_cidrs(lab).items()}
    pods = [p for p in cluster.all_pods(lab)
            if not p.host_network and p.ip and p.node and p.phase in ("Running", "Pending")]
    assert pods, "expected pods with pod-network IPs (CoreDNS at least), saw none"
    wrong = [f"{p.ref} on {p.node}: {p.ip} not in {', '.join(map(str, cidrs.get(p.node, []))) or 'no Cilium CIDR'}"
             for p in pods if not _inside(p.ip, cidrs.get(p.node, []))]
    assert not wrong, "expected pod IPs from their node's Cilium pod CIDR; " + "; ".join(wrong)


@then("no pod has an IP from its node's kubeadm podCIDR")
@outcome("no pod outside the host network has an IP inside its Node's spec.podCIDRs")
def cluster_no_kubeadm_pod_ips(lab: Lab) -> None:
    kubeadm = {name: _networks(f.pod_cidrs) for name, f in cluster.nodes(lab).items()}
    wrong = [f"{p.ref} on {p.node}: {p.ip} in {', '.join(map(str, kubeadm[p.node]))}"
             for p in cluster.all_pods(lab)
             if not p.host_network and p.ip and p.node in kubeadm and _inside(p.ip, kubeadm[p.node])]
    assert not wrong, "expected no pod IP from kubeadm's node podCIDR; " + "; ".join(wrong)


# --- Cilium workloads ------------------------------------------------------------------------


@then(parsers.parse('the DaemonSet "{name}" in "{namespace}" is scheduled and ready on every node of the cluster'))
@outcome("every node holds a Running, Ready pod of the DaemonSet, and its status says desired = ready = the "
         "number of nodes")
def cluster_daemonset_every_node(lab: Lab, name: str, namespace: str) -> None:
    """Every node: the agent and Envoy run one pod per node (seed 633-647), so each node must
    hold a Running, Ready pod of the DaemonSet, and the nodes without one are named; the
    DaemonSet's own counts must agree (a pod of it may be found while it is still rolling)."""
    def check() -> None:
        nodes = sorted(k8s.nodes(lab))
        obj = k8s.daemonset(lab, namespace, name)
        assert obj is not None, f"DaemonSet {namespace}/{name} does not exist"
        match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        assert match, f"DaemonSet {namespace}/{name} has no spec.selector.matchLabels"
        ready, desired = kube.daemonset_ready(obj)
        on = cluster.selected_pods_by_node(lab, namespace, match)
        missing = [n for n in nodes if not on.get(n)]
        assert not missing, (f"DaemonSet {namespace}/{name}: no Running, Ready pod on {', '.join(missing)} "
                             f"(expected one on every node; seen on {', '.join(sorted(on)) or 'no node'}; "
                             f"status desired {desired}, {ready}/{desired} ready)")
        assert desired == len(nodes) and ready == desired, (
            f"DaemonSet {namespace}/{name}: expected desired {len(nodes)} (one per node), {len(nodes)}/{len(nodes)} "
            f"ready; saw desired {desired}, {ready}/{desired} ready")
    lab.eventually(check, what=f"DaemonSet {name} ready on every node", budget="rollout")


@then(parsers.parse('the Deployment "{name}" in "{namespace}" has {ready:d}/{want:d} replicas ready'))
@outcome("the Deployment's ready and wanted replicas are exactly the numbers of the sentence")
def cluster_deployment_replicas(lab: Lab, name: str, namespace: str, ready: int, want: int) -> None:
    def check() -> None:
        obj = k8s.deployment(lab, namespace, name)
        assert obj is not None, f"Deployment {namespace}/{name} does not exist"
        seen = kube.deployment_ready(obj)
        assert seen == (ready, want), (f"Deployment {namespace}/{name}: expected {ready}/{want} "
                                       f"replicas ready, saw {seen[0]}/{seen[1]}")
    lab.eventually(check, what=f"Deployment {name} {ready}/{want} ready", budget="rollout")


# --- iptables ----------------------------------------------------------------------------------


@then(parsers.parse("on every node the {table} table has the chains {chains}, each fed by a cilium-feeder rule "
                    "of a built-in chain"))
@asserts("cilium-feeder-rules")
def cluster_cilium_chains(lab: Lab, table: str, chains: str) -> None:
    """seed 666-668, 692-693: `-A PREROUTING -m comment --comment "cilium-feeder: CILIUM_PRE_nat" -j
    CILIUM_PRE_nat` -- each chain of Cilium's is jumped to from a built-in chain by a rule the agent
    marks with the comment `cilium-feeder: <chain>` (a hand-written jump is not Cilium's feeder)."""
    wanted = [c.strip() for c in chains.split(",") if c.strip()]
    mark = fact("cilium-feeder-rules")   # `cilium-feeder:`, then the chain's name

    def check() -> None:
        wrong = []
        for node in sorted(k8s.nodes(lab)):
            tables = cluster.iptables(lab, node)
            t = tables.get(table)
            if t is None:
                wrong.append(f"{node}: no {table} table in iptables-save")
                continue
            present = sorted(c for c in t.chains if c.startswith("CILIUM_"))
            for chain in wanted:
                fed = t.fed_from_builtin(chain)
                if chain not in t.chains:
                    wrong.append(f"{node} {table}: {chain} missing (CILIUM_* chains there: "
                                 f"{', '.join(present) or 'none'})")
                elif not fed:
                    wrong.append(f"{node} {table}: {chain} is not fed from a built-in chain "
                                 f"(no rule in {'/'.join(sorted(BUILTIN_CHAINS & set(t.chains)))} "
                                 f"jumps to it)")
                elif not any(r.comment == f"{mark} {chain}" for r in fed):
                    wrong.append(f"{node} {table}: {chain} is fed from {'/'.join(sorted({r.chain for r in fed}))}, "
                                 f"but by no rule commented \"{mark} {chain}\" (saw: {' | '.join(r.text for r in fed)})")
        assert not wrong, "; ".join(wrong)
    lab.eventually(check, what=f"Cilium's {table} chains on every node")
