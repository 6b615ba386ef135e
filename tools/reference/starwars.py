"""Chapter "Star Wars demo" (seed lines 1507-2239): reference calls and mutants.

Every scenario of features/starwars.feature runs in a namespace of its own
(`cilab.plugin.scenario_namespace` of its test name), so each scenario's calls are built
here by `Scenario`, which follows the lab state exactly as `Lab` does (the Namespace, then
each manifest applied into it).  Within a namespace the lab answers with the seed's
values: the pod names, IPs, nodes, endpoint ids and security identities of seed 1546-1599
(deathstar-8c4c77fb7-m8q2b on k8s-w1 172.20.1.167, deathstar-8c4c77fb7-nnzkt on k8s-w2
172.20.2.219, both identity 15933; tiefighter on k8s-w2 172.20.2.9, 9225; xwing on k8s-w1
172.20.1.160, 7207), the answers of seed 1923-1935, 2013-2030 and 2161-2163, the policy
revision 3 of the L7 rule1 (seed 2157) and the flows of seed 1725-1812 and 2197-2208.
Values the seed does not show (uids, flow timestamps and uuids, the revision of the
L3/L4 rule1, the 403 body from the facts) are reconstructed.

The calls every scenario shares with the Hubble chapter in state [hubble] (the agent pod
list, the Node list, the hubble-relay Service) are left to tools/reference/hubble.py.
"""
from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

from cilab import manifests
from cilab.plugin import scenario_namespace
from cilab.probes import policy, starwars, traffic
from tools.reference import timing
from tools.reference.lab import *  # noqa: F401,F403

SEED = "seed lines 1507-2239"
RELAY = f"{SVC_IPS['hubble-relay']}:80"
MAX_TIME = 5   # tests/steps/starwars.py MAX_TIME

# --- the documented demo (seed 1546-1599) -------------------------------------------------
DEATHSTAR_HASH = "8c4c77fb7"
PODS = {  # name: (node, ip, endpoint id, identity, labels)
    "deathstar-8c4c77fb7-m8q2b": ("k8s-w1", "172.20.1.167", 3615, 15933,
                                  {"app.kubernetes.io/name": "deathstar", "class": "deathstar", "org": "empire",
                                   "pod-template-hash": DEATHSTAR_HASH}),
    "deathstar-8c4c77fb7-nnzkt": ("k8s-w2", "172.20.2.219", 1041, 15933,
                                  {"app.kubernetes.io/name": "deathstar", "class": "deathstar", "org": "empire",
                                   "pod-template-hash": DEATHSTAR_HASH}),
    "tiefighter": ("k8s-w2", "172.20.2.9", 2090, 9225,
                   {"app.kubernetes.io/name": "tiefighter", "class": "tiefighter", "org": "empire"}),
    "xwing": ("k8s-w1", "172.20.1.160", 2885, 7207,
              {"app.kubernetes.io/name": "xwing", "class": "xwing", "org": "alliance"}),
}
DEATHSTAR_SVC_IP = "10.96.41.44"  # seed 1554
DEATHSTARS = sorted(n for n in PODS if n.startswith("deathstar"))
SYSTEM_ENDPOINTS = {  # node: [(endpoint id, identity, namespace, pod, ip, labels)], seed 1580-1592, 1940-2004
    "k8s-ctr": [(703, 1, None, None, None, ["reserved:host"]),
                (1174, 5694, "kube-system", "coredns-674b8bbfcf-p8kth", "172.20.0.107", ["k8s:k8s-app=kube-dns"]),
                (2609, 5694, "kube-system", "coredns-674b8bbfcf-2sbw2", "172.20.0.51", ["k8s:k8s-app=kube-dns"])],
    "k8s-w1": [(808, 1, None, None, None, ["reserved:host"]),
               (1782, 7661, "kube-system", UI_POD, UI_IP, ["k8s:k8s-app=hubble-ui"])],
    "k8s-w2": [(93, 11581, "kube-system", RELAY_POD, RELAY_IP, ["k8s:k8s-app=hubble-relay"]),
               (2374, 1, None, None, None, ["reserved:host"])],
}
#: under `pytest -n auto` another worker's scenario creates pods while this one waits: its
#: endpoint regenerates at an older revision on k8s-w2 (reconstructed); the policy-realised
#: wait must look only at the endpoints of its own namespace
FOREIGN_ENDPOINT = (3187, 48213, "cilab-another-workers-scenario-5e2f1a", "curl-pod", "172.20.2.31",
                    ["k8s:app=curl", "k8s:io.kubernetes.pod.namespace=cilab-another-workers-scenario-5e2f1a"])
REVISION = {None: 1, "l3l4": 2, "l7": 3}  # the L7 rule1 is revision 3 (seed 2157); 1 and 2 reconstructed
VALID = {"lastTransitionTime": "2025-07-25T18:01:50Z", "message": "Policy validation succeeded",
         "status": "True", "type": "Valid"}  # seed 1906-1913
NOT_FOUND_404 = "Error: Cannot get policy: [GET /policy][404] getPolicyNotFound \n"  # reconstructed (policy_get.go Fatalf)
PANIC_BODY = ("Panic: deathstar exploded\n\ngoroutine 1 [running]:\n"
              "main.HandleGarbage(0x2080c3f50, 0x2, 0x4, 0x425c0, 0x5, 0xa)\n"
              "        /code/src/github.com/empire/deathstar/\n        temp/main.go:9 +0x64\nmain.main()\n"
              "        /code/src/github.com/empire/deathstar/\n        temp/main.go:5 +0x85\n")  # seed 2022-2030
DENIED_BODY = "Access denied\r\n"  # facts §1 (cilium.l7policy local reply)
SCENARIOS = {  # feature scenario -> its pytest test name
    "demo": "test_the_demo_runs_two_deathstar_replicas_behind_a_service_and_two_ships",
    "identity": "test_pods_with_the_same_labels_share_one_security_identity",
    "land-tiefighter": "test_without_any_policy_the_ship_is_allowed_to_land[tiefighter]",
    "land-xwing": "test_without_any_policy_the_ship_is_allowed_to_land[xwing]",
    "every-replica": "test_each_deathstar_replica_lands_a_ship_and_blows_up_at_its_exhaust_port",
    "l3l4-enforced": "test_the_l3l4_rule1_is_accepted_and_enforced_on_the_deathstar_endpoints_only",
    "l3l4-xwing": "test_under_the_l3l4_rule1_the_xwings_landing_request_is_dropped",
    "l3l4-tiefighter": "test_under_the_l3l4_rule1_the_tiefighter_still_lands",
    "exhaust-before-l7": "test_before_any_l7_rule_an_empire_ship_can_hit_the_exhaust_port",
    "l7-landing": "test_under_the_l7_rule1_landing_is_still_allowed_and_hubble_sees_the_http_exchange",
    "l7-exhaust": "test_under_the_l7_rule1_the_exhaust_port_is_denied_by_the_proxy",
    "l7-xwing": "test_under_the_l7_rule1_the_xwing_is_still_blocked",
    "no-policy-endpoints": "test_without_any_policy_no_endpoint_of_the_demo_enforces_one",
    "visibility": "test_hubble_sees_the_exhaustport_put_at_l3l4_only_until_rule1_gains_its_http_rule",
    "l7-status": "test_the_l7_rule1_is_accepted_and_every_agent_holds_it_with_ingress_defaultdeny_only",
    "cleanup": "test_deleting_rule1_leaves_no_policy_behind",
}
SEED_DEMO = "seed 1546-1599 (the demo's pods, nodes, IPs, endpoints, identities) in the scenario's namespace"


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "cilab-reference/" + "/".join(parts)))


def _flow_uuid(*parts: Any) -> str:
    return _uid("flow", *(str(p) for p in parts))


# --- objects of one namespace ------------------------------------------------------------------


def pod_obj(ns: str, name: str, ready: bool) -> dict[str, Any]:
    node, ip, _, _, labels = PODS[name]
    status: dict[str, Any] = {"phase": "Running" if ready else "Pending", "hostIP": NODES[node]["ip"],
                              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ready:
        status["podIP"] = ip
    else:
        status["containerStatuses"] = [{"name": "deathstar" if name.startswith("deathstar") else "spaceship",
                                        "ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "uid": _uid(ns, "pod", name)},
            "spec": {"nodeName": node}, "status": status}


def deployment_obj(ns: str, ready: int = 2) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                              "readyReplicas": ready, "availableReplicas": ready}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "deathstar", "namespace": ns, "generation": 1,
                         "labels": {"app.kubernetes.io/name": "deathstar"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"org": "empire", "class": "deathstar"}}},
            "status": status}


def service_obj_ns(ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "deathstar", "namespace": ns, "labels": {"app.kubernetes.io/name": "deathstar"}},
            "spec": {"type": "ClusterIP", "clusterIP": DEATHSTAR_SVC_IP, "clusterIPs": [DEATHSTAR_SVC_IP],
                     "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                     "selector": {"class": "deathstar", "org": "empire"}}}


def endpointslice_obj(ns: str, pods: list[str]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "deathstar-x7k2p", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": "deathstar"}},
            "addressType": "IPv4", "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
            "endpoints": [{"addresses": [PODS[p][1]], "nodeName": PODS[p][0], "conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "name": p, "namespace": ns}} for p in pods]}


def _sec_labels(ns: str, name: str) -> list[str]:
    labels = PODS[name][4]
    out = [f"k8s:app.kubernetes.io/name={labels['app.kubernetes.io/name']}", f"k8s:class={labels['class']}",
           "k8s:io.cilium.k8s.namespace.labels.app.kubernetes.io/managed-by=cilium-lab-conformance",
           f"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={ns}",
           "k8s:io.cilium.k8s.policy.cluster=default", "k8s:io.cilium.k8s.policy.serviceaccount=default",
           f"k8s:io.kubernetes.pod.namespace={ns}", f"k8s:org={labels['org']}"]
    return out


def cep_obj(ns: str, name: str, identity: int | None = None) -> dict[str, Any]:
    node, ip, ep_id, ident, _ = PODS[name]
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumEndpoint",
            "metadata": {"name": name, "namespace": ns},
            "status": {"id": ep_id, "identity": {"id": identity or ident, "labels": _sec_labels(ns, name)},
                       "networking": {"addressing": [{"ipv4": ip}], "node": NODES[node]["ip"]},
                       "state": "ready"}}


def agent_endpoint(ep_id: int, identity: int, labels: list[str], *, ns: str | None = None,
                   pod: str | None = None, ip: str | None = None, state: str = "ready",
                   enabled: str = "none", revision: int = 1) -> dict[str, Any]:
    realized = {"policy-enabled": enabled, "policy-revision": revision}
    status: dict[str, Any] = {"state": state,
                              "identity": {"id": identity, "labels": labels},
                              "labels": {"security-relevant": labels},
                              "policy": {"realized": realized, "spec": dict(realized)}}
    if ip:
        status["networking"] = {"addressing": [{"ipv4": ip}], "interface-name": f"lxc{ep_id:04x}"}
    if pod:
        status["external-identifiers"] = {"k8s-namespace": ns, "k8s-pod-name": pod, "pod-name": f"{ns}/{pod}"}
    return {"id": ep_id, "status": status}


def endpoint_list(ns: str, node: str, policy_kind: str | None, *, lag: dict[int, str] | None = None,
                  enforce: dict[int, str] | None = None) -> str:
    """`cilium-dbg endpoint list -o json` on `node` (seed 1580-1592 endpoints, seed 1940-2004
    enforcement: the deathstar endpoints `ingress` under rule1, everything else `none`).
    `lag` names endpoints still regenerating at the previous revision; `enforce` overrides
    policy-enabled per endpoint id (mutants)."""
    rev = REVISION[policy_kind]
    lag = lag or {}
    enforce = enforce or {}
    items = []
    for ep_id, ident, sys_ns, pod, ip, labels in SYSTEM_ENDPOINTS[node]:
        items.append(agent_endpoint(ep_id, ident, labels, ns=sys_ns, pod=pod, ip=ip,
                                    enabled=enforce.get(ep_id, "none"), revision=rev))
    if node == "k8s-w2":
        ep_id, ident, other_ns, pod, ip, labels = FOREIGN_ENDPOINT
        items.append(agent_endpoint(ep_id, ident, labels, ns=other_ns, pod=pod, ip=ip, state="regenerating",
                                    revision=0))
    for name, (pod_node, ip, ep_id, ident, _) in PODS.items():
        if pod_node != node:
            continue
        enabled = "ingress" if policy_kind and name.startswith("deathstar") else "none"
        state, ep_rev = (lag[ep_id], rev - 1) if ep_id in lag else ("ready", rev)
        items.append(agent_endpoint(ep_id, ident, _sec_labels(ns, name), ns=ns, pod=name, ip=ip,
                                    state=state, enabled=enforce.get(ep_id, enabled), revision=ep_rev))
    items.sort(key=lambda e: e["id"])
    return json.dumps(items, indent=2) + "\n"


def identity_obj(ns: str, name: str) -> dict[str, Any]:
    """The CiliumIdentity of a demo pod's labels (seed 1572-1579: named by its number, NAMESPACE
    default -> the scenario's namespace); metadata labels = the k8s security labels without
    their source, security-labels with it (ciliumidentities CRD of 1.17; creation time
    reconstructed)."""
    ident = PODS[name][3]
    sec = _sec_labels(ns, name)
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumIdentity",
            "metadata": {"name": str(ident), "creationTimestamp": "2025-07-25T17:40:12Z",
                         "labels": {k.split(":", 1)[1].split("=", 1)[0]: k.split("=", 1)[1] for k in sec}},
            "security-labels": {k.split("=", 1)[0]: k.split("=", 1)[1] for k in sec}}


def demo_identities(ns: str, skip: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """One CiliumIdentity per identity of the demo (the two deathstar pods share 15933)."""
    seen: dict[int, dict[str, Any]] = {}
    for name, (_, _, _, ident, _) in PODS.items():
        if ident not in seen and ident not in skip:
            seen[ident] = identity_obj(ns, name)
    return list(seen.values())


def cnp_obj(ns: str, relpath: str, *, generation: int, valid: dict[str, Any] | None = VALID) -> dict[str, Any]:
    doc = manifests.load(relpath)[0]
    obj = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
           "metadata": {"name": "rule1", "namespace": ns, "uid": _uid(ns, "cnp", "rule1"),
                        "generation": generation, "resourceVersion": str(40000 + generation)},
           "spec": doc["spec"]}
    if valid is not None:
        obj["status"] = {"conditions": [valid]}
    return obj


def agent_rule(ns: str, relpath: str, default_deny: tuple[bool, bool] = (True, False),
               from_namespace: bool = True) -> dict[str, Any]:
    """rule1 as the agent's repository holds it (seed 2129-2157: `any:` selector keys,
    the namespace label, enableDefaultDeny; labels and description reconstructed).
    `from_namespace=False` leaves the namespace out of fromEndpoints (a mutant)."""
    spec = manifests.load(relpath)[0]["spec"]
    ingress = []
    ns_label = {"k8s:io.kubernetes.pod.namespace": ns} if from_namespace else {}
    for entry in spec["ingress"]:
        ingress.append({"fromEndpoints": [{"matchLabels": {**{f"any:{k}": v for k, v in sel["matchLabels"].items()},
                                                           **ns_label}}
                                          for sel in entry["fromEndpoints"]],
                        "toPorts": entry["toPorts"]})
    labels = [{"key": "io.cilium.k8s.policy.derived-from", "value": "CiliumNetworkPolicy", "source": "k8s"},
              {"key": policy.POLICY_LABEL_NAME, "value": "rule1", "source": "k8s"},
              {"key": policy.POLICY_LABEL_NAMESPACE, "value": ns, "source": "k8s"},
              {"key": policy.POLICY_LABEL_UID, "value": _uid(ns, "cnp", "rule1"), "source": "k8s"}]
    return {"endpointSelector": {"matchLabels": {**{f"any:{k}": v for k, v in spec["endpointSelector"]["matchLabels"].items()},
                                                 "k8s:io.kubernetes.pod.namespace": ns}},
            "ingress": ingress, "labels": labels,
            "enableDefaultDeny": {"ingress": default_deny[0], "egress": default_deny[1]},
            "description": spec["description"]}


def policy_get_output(ns: str, relpath: str, revision: int, default_deny: tuple[bool, bool] = (True, False),
                      from_namespace: bool = True) -> str:
    rules = json.dumps([agent_rule(ns, relpath, default_deny, from_namespace)], indent=2)
    return json.dumps({"policy": rules, "revision": revision}, indent=2) + "\n"


# --- flows ---------------------------------------------------------------------------------------


def _ep(ns: str, name: str, local_node: str) -> dict[str, Any]:
    node, _, ep_id, ident, _labels = PODS[name]
    out: dict[str, Any] = {}
    if node == local_node:
        out["ID"] = ep_id
    out.update({"identity": ident, "namespace": ns, "labels": _sec_labels(ns, name), "pod_name": name})
    if name.startswith("deathstar"):
        out["workloads"] = [{"name": "deathstar", "kind": "Deployment"}]
    return out


def _line(flow: dict[str, Any]) -> str:
    return json.dumps({"flow": flow, "node_name": flow["node_name"], "time": flow["time"]},
                      separators=(",", ":"))


def drop_flows(ns: str, port: int, *, reason: str = "POLICY_DENIED", sub_type: int = 133,
               when: str = "2025-07-25T18:04:2", source_ip: str | None = None, src: str = "xwing") -> list[str]:
    """The xwing's (`src`'s) SYN and its retransmission dropped at the deathstar's node
    (`hubble observe --type drop`; drop shape: hubble-1.17-formats.md §1.4; times reconstructed)."""
    dst = "deathstar-8c4c77fb7-nnzkt"
    lines = []
    for i, sec in enumerate(("0.112738921", "1.136492007")):  # the SYN and its retransmission within 2 s
        t = f"{when}{sec}Z"
        lines.append(_line({
            "time": t, "uuid": _flow_uuid(ns, port, i), "verdict": "DROPPED", "drop_reason": sub_type,
            "IP": {"source": source_ip or PODS[src][1], "destination": PODS[dst][1], "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": port, "destination_port": 80, "flags": {"SYN": True}}},
            "source": _ep(ns, src, "k8s-w2"), "destination": _ep(ns, dst, "k8s-w2"),
            "Type": "L3_L4", "node_name": "k8s-w2", "event_type": {"type": 1, "sub_type": sub_type},
            "traffic_direction": "INGRESS", "drop_reason_desc": reason, "Summary": "TCP Flags: SYN"}))
    return lines


def _forwarded_syn(ns: str, port: int) -> str:
    """The xwing's SYN leaving its own node k8s-w1 FORWARDED (a trace event, type 4): a flow
    `--type drop` leaves out (for the mutant whose Hubble ignores the flag; reconstructed)."""
    return _line({
        "time": "2025-07-25T18:04:20.101738921Z", "uuid": _flow_uuid(ns, port, "syn-out"), "verdict": "FORWARDED",
        "IP": {"source": PODS["xwing"][1], "destination": PODS["deathstar-8c4c77fb7-nnzkt"][1], "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": port, "destination_port": 80, "flags": {"SYN": True}}},
        "source": _ep(ns, "xwing", "k8s-w1"), "destination": _ep(ns, "deathstar-8c4c77fb7-nnzkt", "k8s-w1"),
        "Type": "L3_L4", "node_name": "k8s-w1", "event_type": {"type": 4, "sub_type": 11},
        "trace_observation_point": "TO_NETWORK", "traffic_direction": "EGRESS", "Summary": "TCP Flags: SYN"})


#: seed 2033-2041 (`hubble observe -f --protocol tcp --from-identity $DEATHSTARID` while the
#: tiefighter PUTs /v1/exhaust-port under the L3/L4 rule1): (observation point, node, flags);
#: the deathstar-8c4c77fb7-m8q2b on k8s-w1 answers the tiefighter on k8s-w2, each segment
#: seen leaving k8s-w1 (to-network) and arriving at the tiefighter (to-endpoint)
SEED_TCP_REPLIES = [("TO_NETWORK", "k8s-w1", ["SYN", "ACK"]), ("TO_ENDPOINT", "k8s-w2", ["SYN", "ACK"]),
                    ("TO_NETWORK", "k8s-w1", ["ACK", "PSH"]), ("TO_ENDPOINT", "k8s-w2", ["ACK", "PSH"]),
                    ("TO_NETWORK", "k8s-w1", ["ACK", "FIN"]), ("TO_ENDPOINT", "k8s-w2", ["ACK", "FIN"])]
_POINT_SUB = {"TO_ENDPOINT": 0, "TO_NETWORK": 11}


def tcp_flows(ns: str, port: int, *, when: str = "2025-07-25T18:15:44.18") -> list[str]:
    """The L3/L4 flows of one tiefighter request to deathstar-8c4c77fb7-m8q2b under the L3/L4
    rule1, as `hubble observe --protocol tcp -o jsonpb` answers: the deathstar's replies of
    seed 2033-2041 (with the request's own client port for the seed's 58932) and the two
    sock-LB `pre-xlate-rev TRACED` events (no port) between them; the tiefighter's own
    segments (SYN, ACK, FIN: the `--from-identity` filter of the seed hid them) are
    reconstructed the same way, from k8s-w2 (to-network) and k8s-w1 (to-endpoint)."""
    src, dst = "tiefighter", "deathstar-8c4c77fb7-m8q2b"
    out = []

    def trace(i: int, point: str, node: str, frm: str, to: str, flags: list[str], reply: bool) -> None:
        sport, dport = (80, port) if reply else (port, 80)
        t = f"{when}{4000 + i:04d}00Z"
        out.append(_line({
            "time": t, "uuid": _flow_uuid(ns, port, "tcp", i), "verdict": "FORWARDED",
            "IP": {"source": PODS[frm][1], "destination": PODS[to][1], "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": sport, "destination_port": dport, "flags": {f: True for f in flags}}},
            "source": _ep(ns, frm, node), "destination": _ep(ns, to, node),
            "Type": "L3_L4", "node_name": node, "event_type": {"type": 4, "sub_type": _POINT_SUB[point]},
            "traffic_direction": "INGRESS" if reply == (node == "k8s-w2") else "EGRESS",
            "trace_observation_point": point, "is_reply": reply,
            "Summary": "TCP Flags: " + ", ".join(flags)}))

    i = 0
    for point, node, flags in [("TO_NETWORK", "k8s-w2", ["SYN"]), ("TO_ENDPOINT", "k8s-w1", ["SYN"])]:
        trace(i, point, node, src, dst, flags, False)
        i += 1
    for point, node, flags in SEED_TCP_REPLIES[:2]:
        trace(i, point, node, dst, src, flags, True)
        i += 1
    for _ in range(2):  # seed 2036-2037: deathstar <> tiefighter pre-xlate-rev TRACED (TCP)
        t = f"{when}{5000 + i:04d}00Z"
        out.append(_line({
            "time": t, "uuid": _flow_uuid(ns, port, "sock", i), "verdict": "TRACED",
            "IP": {"source": PODS[dst][1], "destination": PODS[src][1], "ipVersion": "IPv4"},
            "l4": {"TCP": {"destination_port": 80}},
            "source": _ep(ns, dst, "k8s-w2"), "destination": _ep(ns, src, "k8s-w2"),
            "Type": "SOCK", "node_name": "k8s-w2", "event_type": {"type": 130},
            "sock_xlate_point": "SOCK_XLATE_POINT_PRE_DIRECTION_REV", "socket_cookie": "4098",
            "Summary": "TCP"}))
        i += 1
    for point, node, flags in [("TO_NETWORK", "k8s-w2", ["ACK", "PSH"]), ("TO_ENDPOINT", "k8s-w1", ["ACK", "PSH"])]:
        trace(i, point, node, src, dst, flags, False)
        i += 1
    for point, node, flags in SEED_TCP_REPLIES[2:]:
        trace(i, point, node, dst, src, flags, True)
        i += 1
    return out


def backend_flows(ns: str, port: int, src: str, dst: str, replies: list[list[str]], *,
                  when: str = "2025-07-25T18:04:20.1") -> list[str]:
    """The L3/L4 flows of one connection of `src` (client port `port`) to the deathstar pod
    `dst` (mutants: a replica that refuses, `replies` [["RST", "ACK"]], or one that answers
    500): the SYN and each reply segment, seen at `dst`'s node (to-endpoint / to-network;
    shape as `tcp_flows`, reconstructed)."""
    node = PODS[dst][0]
    out = []
    for i, (frm, to, flags, reply) in enumerate([(src, dst, ["SYN"], False)]
                                                 + [(dst, src, f, True) for f in replies]):
        sport, dport = (80, port) if reply else (port, 80)
        out.append(_line({
            "time": f"{when}{4000 + i:04d}00Z", "uuid": _flow_uuid(ns, port, "backend", i), "verdict": "FORWARDED",
            "IP": {"source": PODS[frm][1], "destination": PODS[to][1], "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": sport, "destination_port": dport, "flags": {f: True for f in flags}}},
            "source": _ep(ns, frm, node), "destination": _ep(ns, to, node),
            "Type": "L3_L4", "node_name": node, "event_type": {"type": 4, "sub_type": 11 if reply else 0},
            "traffic_direction": "INGRESS", "trace_observation_point": "TO_NETWORK" if reply else "TO_ENDPOINT",
            "is_reply": reply, "Summary": "TCP Flags: " + ", ".join(flags)}))
    return out


def http_flows(ns: str, port: int, method: str, path: str, *, request_verdict: str = "FORWARDED",
               code: int | None = 200, latency_ns: str = "1173021", when: str = "2025-07-25T18:23:15.8") -> list[str]:
    """The L7 flows of one request at the deathstar's proxy (seed 2197-2208:
    tiefighter:52296 -> deathstar-8c4c77fb7-nnzkt:80 http-request / http-response)."""
    src, dst = "tiefighter", "deathstar-8c4c77fb7-nnzkt"
    url = starwars.deathstar_url(ns, path)
    headers = [{"key": ":scheme", "value": "http"}, {"key": "accept", "value": "*/*"},
               {"key": "user-agent", "value": "curl/7.88.1"},
               {"key": "x-envoy-internal", "value": "true"},
               {"key": "x-request-id", "value": _flow_uuid(ns, port, "x-request-id")}]
    req = {"time": f"{when}77123456Z", "uuid": _flow_uuid(ns, port, "request"), "verdict": request_verdict,
           "IP": {"source": PODS[src][1], "destination": PODS[dst][1], "ipVersion": "IPv4"},
           "l4": {"TCP": {"source_port": port, "destination_port": 80}},
           "source": _ep(ns, src, "k8s-w2"), "destination": _ep(ns, dst, "k8s-w2"),
           "Type": "L7", "node_name": "k8s-w2",
           "l7": {"type": "REQUEST", "http": {"method": method, "url": url, "protocol": "HTTP/1.1",
                                              "headers": headers}},
           "event_type": {"type": 129}, "traffic_direction": "INGRESS", "is_reply": False,
           "Summary": f"HTTP/1.1 {method} {url}"}
    lines = [_line(req)]
    if code is not None:
        ms = int(latency_ns) // 1_000_000
        resp = {"time": f"{when}78456789Z", "uuid": _flow_uuid(ns, port, "response"), "verdict": "FORWARDED",
                "IP": {"source": PODS[dst][1], "destination": PODS[src][1], "ipVersion": "IPv4"},
                "l4": {"TCP": {"source_port": 80, "destination_port": port}},
                "source": _ep(ns, dst, "k8s-w2"), "destination": _ep(ns, src, "k8s-w2"),
                "Type": "L7", "node_name": "k8s-w2",
                "l7": {"type": "RESPONSE", "latency_ns": latency_ns,
                       "http": {"code": code, "method": method, "url": url, "protocol": "HTTP/1.1",
                                "headers": [{"key": "content-length", "value": "12"},
                                            {"key": "content-type", "value": "text/plain"}]}},
                "event_type": {"type": 129}, "traffic_direction": "INGRESS", "is_reply": True,
                "Summary": f"HTTP/1.1 {code} {ms}ms ({method} {url})"}
        lines.append(_line(resp))
    return lines


# --- one scenario's calls, in the order the steps make them ------------------------------------


class Scenario:
    """Builds the calls of one scenario, tracking its namespace's lab state like `Lab`."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.test = SCENARIOS[key]
        self.ns = scenario_namespace(self.test)
        self.labels: dict[str, str] = {}
        self.policy_kind: str | None = None
        self.calls: list[dict[str, Any]] = []
        self.started: dict[str, str] = {}
        traffic.reset_counters()
        self._lab = SimpleNamespace(info={"run_id": "reference"})

    # state, as LabState.labels(ns)
    @property
    def state(self) -> list[str]:
        return sorted(set(HUBBLE) | {f"{self.ns}:{label}" for label in self.labels.values()})

    def add(self, op: str, seed: str, results: list[dict[str, Any]], **args: Any) -> None:
        self.calls.append(call(op, seed, results, self.state, **args))

    def apply(self, manifest: dict[str, Any], label: str, result: dict[str, Any], seed: str,
              namespace: str | None = None) -> None:
        args: dict[str, Any] = {"manifest": manifest}
        if namespace is not None:
            args["namespace"] = namespace
        self.add("k8s_apply", seed, [value(result)], **args)
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        self.labels[f"{kind}/{name}"] = label

    # --- the scenario_ns fixture -------------------------------------------------------
    def namespace_created(self) -> None:
        seed = "reconstructed (the scenario's own namespace; no leftover from an earlier run)"
        self.calls.append(call("k8s_delete", seed, [value(False)], HUBBLE,
                               api_version="v1", kind="Namespace", name=self.ns))
        self.calls.append(call("k8s_get", seed, [value(None)], HUBBLE,
                               api_version="v1", kind="Namespace", name=self.ns))
        manifest = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": self.ns, "labels": {"app.kubernetes.io/managed-by": "cilium-lab-conformance"}}}
        result = {**manifest, "metadata": {**manifest["metadata"], "uid": _uid(self.ns)},
                  "status": {"phase": "Active"}}
        self.calls.append(call("k8s_apply", seed, [value(result)], HUBBLE, manifest=manifest))
        self.labels[f"Namespace/{self.ns}"] = f"Namespace/{self.ns}"

    def namespace_deleted(self) -> None:
        self.add("k8s_delete", "reconstructed (the namespace teardown deletes the demo and rule1)", [value(True)],
                 api_version="v1", kind="Namespace", name=self.ns)

    # --- Given the Star Wars demo is deployed ----------------------------------------------
    def demo_deployed(self) -> None:
        for doc in manifests.load(starwars.APP):
            result = {**doc, "metadata": {**doc["metadata"], "namespace": self.ns,
                                          "uid": _uid(self.ns, doc["kind"], doc["metadata"]["name"])}}
            name = doc["metadata"]["name"]
            line = {"Service": 1554, "tiefighter": 1550, "xwing": 1551}.get(doc["kind"], 0) or \
                {"tiefighter": 1550, "xwing": 1551}.get(name, 1548)
            self.apply(doc, starwars.APP, result, f"seed {line} `{name}` (the {doc['kind']} that "
                       "kubectl apply -f http-sw-app.yaml of seed 1523 created)", namespace=self.ns)
        pending = [pod_obj(self.ns, n, ready=False) for n in PODS]
        ready = [pod_obj(self.ns, n, ready=True) for n in PODS]
        self.add("k8s_list", "seed 1548-1551 `deathstar-8c4c77fb7-m8q2b` `xwing` (4 pods Running 1/1 with their labels; ContainerCreating first: "
                 "reconstructed 'not yet')", [value(pending), value(ready)],
                 api_version="v1", kind="Pod", namespace=self.ns)
        both = ["deathstar-8c4c77fb7-m8q2b", "deathstar-8c4c77fb7-nnzkt"]
        self.add("k8s_list", "seed 1555 `172.20.1.167` (endpoints/deathstar 172.20.1.167:80,172.20.2.219:80; one endpoint "
                 "before the second pod's is programmed: reconstructed 'not yet')",
                 [value([endpointslice_obj(self.ns, both[1:])]), value([endpointslice_obj(self.ns, both)])],
                 api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=self.ns,
                 label_selector="kubernetes.io/service-name=deathstar")

    # --- policies --------------------------------------------------------------------------
    def policy_applied(self, kind: str) -> None:
        relpath = starwars.L3_L4_POLICY if kind == "l3l4" else starwars.L7_POLICY
        doc = manifests.load(relpath)[0]
        generation = 1 if kind == "l3l4" else 2
        seed = ("seed 1863 `rule1` (ciliumnetworkpolicy.cilium.io/rule1 created)" if kind == "l3l4"
                else "seed 2089 `rule1` (ciliumnetworkpolicy.cilium.io/rule1 configured)")
        self.apply(doc, relpath, cnp_obj(self.ns, relpath, generation=generation, valid=None), seed,
                   namespace=self.ns)
        self.policy_kind = kind
        self.policy_realised(kind)

    def policy_realised(self, kind: str) -> None:
        """The calls of policy.wait_policy_realised right after rule1 (`kind`) was applied."""
        relpath = starwars.L3_L4_POLICY if kind == "l3l4" else starwars.L7_POLICY
        gen = 1 if kind == "l3l4" else 2
        cnp_results = ([value(cnp_obj(self.ns, relpath, generation=gen, valid=None)),
                        value(cnp_obj(self.ns, relpath, generation=gen))] if kind == "l3l4"
                       else [value(cnp_obj(self.ns, relpath, generation=gen))])
        self.add("k8s_get", "seed 1863-1908 `rule1` `lastTransitionTime` (kubectl get cnp: rule1 VALID True, 'Policy validation succeeded'; "
                 "no status before the operator validated it: reconstructed 'not yet')" if kind == "l3l4" else
                 "seed 2093 `rule1` (rule1 updated in place, VALID True)",
                 cnp_results, api_version="cilium.io/v2", kind="CiliumNetworkPolicy", name="rule1", namespace=self.ns)
        uid = _uid(self.ns, "cnp", "rule1")
        cmd_get = policy.policy_get_command(self.ns, "rule1", uid)
        rev = REVISION[kind]
        for node in NODES:
            if kind == "l3l4":
                results = [cmd(policy_get_output(self.ns, relpath, rev))]
                seed = "reconstructed (the agent's rules of rule1 and its revision 2; policy get shape of seed 2129-2157)"
                if node == "k8s-w2":
                    results = [cmd("", 1, NOT_FOUND_404)] + results
                    seed += "; k8s-w2 has not imported it on the first look (404: reconstructed 'not yet')"
            else:
                results = [cmd(policy_get_output(self.ns, relpath, rev))]
                seed = "seed 2131-2154 `endpointSelector` `egress` (c0 policy get: rule1 with the http rule POST /v1/request-landing, Revision: 3)"
                if node == "k8s-ctr":
                    results = [cmd(policy_get_output(self.ns, starwars.L3_L4_POLICY, REVISION["l3l4"]))] + results
                    seed += "; the L3/L4 version first (reconstructed 'not yet')"
            self.add("pod_exec", seed, results, namespace=KS, pod=AGENT_PODS[node], container="cilium-agent",
                     command=cmd_get)
            ep_results = [cmd(endpoint_list(self.ns, node, kind))]
            ep_seed = (f"seed 1944-2004 `reserved:host` `reserved:host` (endpoint list on {node}: deathstar endpoints ingress Enabled, "
                       f"the rest Disabled) as JSON; revision {rev} reconstructed")
            if kind == "l3l4" and node == "k8s-w1":
                ep_results = [cmd(endpoint_list(self.ns, node, kind, lag={3615: "regenerating"}))] * 2 + ep_results
                ep_seed += "; deathstar endpoint 3615 still regenerating on the first two looks (reconstructed 'not yet')"
            if node == "k8s-w2":
                ep_seed += "; an endpoint of another worker's namespace regenerating: reconstructed"
            self.add("pod_exec", ep_seed, ep_results, namespace=KS, pod=AGENT_PODS[node],
                     container="cilium-agent", command=policy.ENDPOINT_LIST)

    # --- requests ------------------------------------------------------------------------------
    def request(self, ship: str, method: str, path: str, outcome: tuple[Any, ...], seed: str,
                started: str = "2025-07-25T18:04:20.081532114Z") -> traffic.Request:
        """One request of `ship` with its `outcome` (LANDED, TIMED_OUT, ...); `started` is the
        ship's clock on the start line (reconstructed: just before the request's flows)."""
        req = traffic.new_request(self._lab, self.ns, ship, method, starwars.deathstar_url(self.ns, path),
                                  marker_param=None)
        self.started[ship] = started
        self.add("pod_exec", seed + "; start line, -v lines and -w timings reconstructed",
                 [curl_result(self.ns, ship, outcome, started)], namespace=self.ns, pod=ship,
                 container=starwars.SHIP_CONTAINER, command=traffic.curl_argv(req, max_time=MAX_TIME))
        return req

    def request_pod(self, ship: str, method: str, path: str, pod: str, outcome: tuple[Any, ...], seed: str,
                    started: str) -> traffic.Request:
        """One request of `ship` to the deathstar pod `pod`'s own IP (no Service), answered `outcome`."""
        req = traffic.new_request(self._lab, self.ns, ship, method, f"http://{PODS[pod][1]}{path}", marker_param=None)
        self.add("pod_exec", seed + "; start line, -v lines and -w timings reconstructed",
                 [curl_result(self.ns, ship, outcome, started, pod=pod)], namespace=self.ns, pod=ship,
                 container=starwars.SHIP_CONTAINER, command=traffic.curl_argv(req, max_time=MAX_TIME))
        return req

    def exhaust_port_denied(self, request_seed: str, observe_seed: str) -> None:
        """Under the L7 rule1: the tiefighter's PUT /v1/exhaust-port gets Envoy's 403, and
        Hubble shows its http-request DROPPED and the 403 response."""
        req = self.request("tiefighter", *starwars.EXHAUST_PORT, DENIED, request_seed,
                           started="2025-07-25T18:24:02.231870452Z")
        self.observe(["--protocol", "http"],
                     [cmd("\n".join(http_flows(self.ns, req.local_port, *starwars.EXHAUST_PORT,
                                               request_verdict="DROPPED", code=403, latency_ns="0",
                                               when="2025-07-25T18:24:02.3")) + "\n")],
                     observe_seed)

    def deathstar_service(self) -> None:
        """The deny check reads the deathstar Service's ClusterIP (the address curl must have tried)."""
        self.add("k8s_get", "seed 1554 `10.96.41.44` (service/deathstar ClusterIP 10.96.41.44)", [value(service_obj_ns(self.ns))],
                 api_version="v1", kind="Service", name="deathstar", namespace=self.ns)

    def observe(self, filters: list[str], results: list[dict[str, Any]], seed: str) -> None:
        self.add("pod_exec", seed, results, namespace=KS, pod=AGENT_PODS["k8s-ctr"], container="cilium-agent",
                 command=["hubble", "observe", "--server", RELAY, "-o", "jsonpb", "--last", "1000",
                          "--namespace", self.ns, *filters])


def curl_result(ns: str, ship: str, outcome: tuple[Any, ...], started: str, pod: str | None = None) -> dict[str, Any]:
    """What `traffic.curl_argv` prints in `ship` for `outcome`: ("answer", body, status), or
    ("failed", curl exit, error, connected-to-address?, total seconds); to the Service's
    name, or to the deathstar pod `pod`'s own IP."""
    ip = PODS[ship][1]
    host = address = PODS[pod][1] if pod else ""
    if not pod:
        host, address = f"deathstar.{ns}.svc.cluster.local", DEATHSTAR_SVC_IP
    if outcome[0] == "answer":
        return curl_out(started, ip, body=outcome[1], status=outcome[2], host=host, address=address)
    _, rc, error, tried, total = outcome
    if pod:
        error = error.replace("deathstar port", f"{address} port")
    return curl_out(started, ip, status=None, rc=rc, connected=False, host=host, error=error,
                    address=address if tried else "", namelookup=0.004 if tried and not pod else 0.0, total=total)


def answer(body: str, status: int) -> tuple[Any, ...]:
    return ("answer", body, status)


# seed 1923-1924: the xwing's connect attempt gives up after --connect-timeout 2 (exit 28); curl's text
TIMED_OUT = ("failed", 28, "Connection timed out after 2001 milliseconds", True, 2.001)
LANDED = answer("Ship landed\n", 200)
EXPLODED = answer(PANIC_BODY, 503)
DENIED = answer(DENIED_BODY, 403)
REFUSED = ("failed", 7, "Failed to connect to deathstar port 80 after 2 ms: Couldn't connect to server", True, 0.002)
# a Service whose backends the client's node has not programmed yet: the socket LB's connect hook
# answers EHOSTUNREACH (cilium/cilium bpf/bpf_sock.c, cil_sock4_connect); curl exit 7 (text reconstructed)
BACKENDS_NOT_PROGRAMMED = ("failed", 7, "Failed to connect to deathstar port 80 after 1 ms: No route to host",
                           True, 0.001)
RESOLVER_TIMEOUT = ("failed", 28, "Resolving timed out after 2000 milliseconds", False, 2.0)
NO_ANSWER_AFTER_CONNECT = ("failed", 28, "Operation timed out after 5001 milliseconds with 0 bytes received",
                           True, 5.001)


# --- the scenarios ----------------------------------------------------------------------------------


def build() -> dict[str, Scenario]:
    out: dict[str, Scenario] = {}

    def begin(key: str) -> Scenario:
        s = Scenario(key)
        s.namespace_created()
        s.demo_deployed()
        out[key] = s
        return s

    s = begin("demo")
    s.add("k8s_get", "seed 1548-1549 `deathstar` `deathstar` (two deathstar pods Running; the Deployment's READY 2/2: reconstructed, the seed never prints it: from replicas: 2 of http-sw-app.yaml)", [value(deployment_obj(s.ns))],
          api_version="apps/v1", kind="Deployment", name="deathstar", namespace=s.ns)
    s.add("k8s_get", "seed 1554 `10.96.41.44` (service/deathstar ClusterIP 10.96.41.44 80/TCP)", [value(service_obj_ns(s.ns))],
          api_version="v1", kind="Service", name="deathstar", namespace=s.ns)
    s.namespace_deleted()

    s = begin("identity")
    s.add("k8s_list", "seed 1562-1565 `15933` `7207` (CiliumEndpoints: deathstar x2 15933, tiefighter 9225, xwing 7207)",
          [value([cep_obj(s.ns, n) for n in PODS])], api_version="cilium.io/v2", kind="CiliumEndpoint",
          namespace=s.ns)
    s.add("k8s_list", "seed 1574-1576 `15933` `9225` `7207` (kubectl get ciliumidentities: 15933, 9225, 7207 of "
          "NAMESPACE default, here the scenario's namespace); the objects' labels and time reconstructed",
          [value(demo_identities(s.ns))], api_version="cilium.io/v2", kind="CiliumIdentity",
          label_selector=f"{starwars.IDENTITY_NS_LABEL}={s.ns}")
    host_line = {"k8s-ctr": (1584, 703), "k8s-w1": (1587, 808), "k8s-w2": (1594, 2374)}
    for node in NODES:
        line, host = host_line[node]
        s.add("pod_exec", f"seed {line} `{host}` ({node}'s host endpoint {host}, identity 1); the endpoint list as "
              "JSON reconstructed", [cmd(endpoint_list(s.ns, node, None))],
              namespace=KS, pod=AGENT_PODS[node], container="cilium-agent", command=policy.ENDPOINT_LIST)
    s.namespace_deleted()

    for ship in ("tiefighter", "xwing"):
        s = begin(f"land-{ship}")
        if ship == "tiefighter":
            s.request(ship, *starwars.LANDING, BACKENDS_NOT_PROGRAMMED,
                      "reconstructed lag (a real lab's first connect can come before the agent on the ship's node "
                      "has programmed the new deathstar Service's backends: Cilium's socket LB then rejects the "
                      "connect with EHOSTUNREACH, bpf/bpf_sock.c cil_sock4_connect; the landing is made again "
                      "from a new client port)", started="2025-07-25T18:04:19.412808530Z")
        s.request(ship, *starwars.LANDING, LANDED,
                  f"seed 1686-1691 `request-landing` `request-landing` ({ship} requests a landing with no policy; the exchange is forwarded in "
                  "seed 1723-1736, 1804-1812); body 'Ship landed' (facts §1)")
        s.namespace_deleted()

    s = begin("every-replica")
    for n, pod in enumerate(DEATHSTARS):
        s.request_pod("tiefighter", *starwars.LANDING, pod, LANDED,
                      f"seed 1555 `{PODS[pod][1]}` ({pod}'s endpoint, asked directly), 1690 `request-landing` "
                      "(the tiefighter's landing); body 'Ship landed' (facts §1)",
                      started=f"2025-07-25T18:04:3{n}.081532114Z")
    for n, pod in enumerate(DEATHSTARS):
        s.request_pod("tiefighter", *starwars.EXHAUST_PORT, pod, EXPLODED,
                      f"seed 1555 `{PODS[pod][1]}` ({pod}'s endpoint, asked directly), 2022 "
                      "`Panic: deathstar exploded` (PUT /v1/exhaust-port; HTTP status not documented: reconstructed)",
                      started=f"2025-07-25T18:04:4{n}.081532114Z")
    s.namespace_deleted()

    s = begin("l3l4-enforced")
    s.policy_applied("l3l4")
    s.namespace_deleted()

    s = begin("l3l4-xwing")
    s.policy_applied("l3l4")
    req = s.request("xwing", *starwars.LANDING, TIMED_OUT, "seed 1924 `28` (xwing: command terminated with exit code 28)")
    s.deathstar_service()
    s.observe(["--type", "drop"], [cmd(""), cmd("\n".join(drop_flows(s.ns, 40112, when="2025-07-25T18:03:5")[:1]
                                                          + drop_flows(s.ns, req.local_port)) + "\n")],
              "seed 1848 `drop` (hubble observe --type drop): the xwing's SYNs dropped POLICY_DENIED at the deathstar "
              "(flow shape: facts, hubble-1.17-formats.md §1.4; a drop of an earlier request from port 40112 "
              "and nothing on the first look: reconstructed)")
    s.namespace_deleted()

    s = begin("l3l4-tiefighter")
    s.policy_applied("l3l4")
    s.request("tiefighter", *starwars.LANDING, LANDED, "seed 1935 `Ship landed` (tiefighter: Ship landed)")
    s.namespace_deleted()

    s = begin("exhaust-before-l7")
    s.policy_applied("l3l4")
    s.request("tiefighter", *starwars.EXHAUST_PORT, EXPLODED,
              "seed 2022-2030 `Panic: deathstar exploded` `temp/main.go:5 +0x85` (PUT /v1/exhaust-port: Panic: deathstar exploded; HTTP status not documented: "
              "reconstructed)")
    s.namespace_deleted()

    s = begin("l7-landing")
    s.policy_applied("l3l4")
    s.policy_applied("l7")
    req = s.request("tiefighter", *starwars.LANDING, LANDED, "seed 2163 `Ship landed` (Ship landed under the L7 rule1)",
                    started="2025-07-25T18:23:15.801244910Z")
    s.observe(["--protocol", "http"], [cmd(""), cmd("\n".join(http_flows(s.ns, req.local_port, *starwars.LANDING)) + "\n")],
              "seed 2200-2208 `tiefighter` `request-landing` (http-request FORWARDED, http-response FORWARDED HTTP/1.1 200 1ms; "
              "nothing on the first look: reconstructed)")
    s.namespace_deleted()

    s = begin("l7-exhaust")
    s.policy_applied("l3l4")
    s.policy_applied("l7")
    s.exhaust_port_denied("facts §1 (the L7 rule denies PUT /v1/exhaust-port: Envoy's 403 'Access denied')",
                          "facts §1 (hubble-cli.rst: http-request DROPPED (HTTP/1.1 PUT .../v1/exhaust-port), then "
                          "Envoy's http-response FORWARDED 403)")
    s.namespace_deleted()

    s = begin("no-policy-endpoints")
    for node in NODES:
        s.add("pod_exec", f"reconstructed (before any policy every endpoint shows POLICY (ingress) and (egress) "
              f"ENFORCEMENT Disabled, seed 1614-1618): endpoint list on {node} as JSON, policy-enabled none, revision 1 "
              "reconstructed", [cmd(endpoint_list(s.ns, node, None))], namespace=KS, pod=AGENT_PODS[node],
              container="cilium-agent", command=policy.ENDPOINT_LIST)
    s.namespace_deleted()

    s = begin("visibility")
    s.policy_applied("l3l4")
    req = s.request("tiefighter", *starwars.EXHAUST_PORT, EXPLODED,
                    "seed 2022-2030 `Panic: deathstar exploded` `temp/main.go:5 +0x85` (PUT /v1/exhaust-port under the L3/L4 rule1: Panic: deathstar exploded)",
                    started="2025-07-25T18:15:44.101532114Z")
    s.observe(["--protocol", "tcp"], [cmd(""), cmd("\n".join(tcp_flows(s.ns, req.local_port)) + "\n")],
              "seed 2034-2041 `deathstar-8c4c77fb7-m8q2b` `deathstar-8c4c77fb7-m8q2b` (hubble observe --protocol tcp: the exchange as TCP flows only, SYN/ACK, ACK/PSH, "
              "ACK/FIN, pre-xlate-rev TRACED; no HTTP); the tiefighter's own segments and nothing on the first "
              "look: reconstructed")
    # the teardown of a scenario that stops before the L7 update (rule1 still L3/L4)
    s.add("k8s_delete", "reconstructed (the namespace teardown when the scenario stops before the L7 update)",
          [value(True)], api_version="v1", kind="Namespace", name=s.ns)
    s.policy_applied("l7")
    s.exhaust_port_denied("facts §1 (under the L7 rule1 the PUT is denied: Envoy's 403 'Access denied')",
                          "seed 2901 `HTTP` (L7 visibility: method and URL) and facts §1 (hubble-cli.rst: http-request "
                          "DROPPED (HTTP/1.1 PUT .../v1/exhaust-port), then Envoy's http-response FORWARDED 403)")
    s.namespace_deleted()

    s = begin("l7-status")
    s.policy_applied("l3l4")
    s.policy_applied("l7")
    s.namespace_deleted()

    s = begin("cleanup")
    s.policy_applied("l3l4")
    s.policy_applied("l7")
    s.add("k8s_delete", "seed 2189 `rule1` (kubectl delete cnp rule1: ciliumnetworkpolicy.cilium.io \"rule1\" deleted)",
          [value(True)], api_version="cilium.io/v2", kind="CiliumNetworkPolicy", name="rule1", namespace=s.ns)
    del s.labels["CiliumNetworkPolicy/rule1"]
    s.add("k8s_list", "seed 2192 `No resources found` (kubectl get cnp: No resources found in default namespace.)", [value([])],
          api_version="cilium.io/v2", kind="CiliumNetworkPolicy", namespace=s.ns)
    for node in NODES:
        s.add("pod_exec", "reconstructed (cilium-dbg policy get with rule1's labels after the delete: the agent "
              "answers 404, policy_get.go)", [cmd("", 1, NOT_FOUND_404)], namespace=KS, pod=AGENT_PODS[node],
              container="cilium-agent", command=policy.policy_get_command(s.ns, "rule1"))
    s.namespace_deleted()

    s = begin("l7-xwing")
    s.policy_applied("l3l4")
    s.policy_applied("l7")
    s.request("xwing", *starwars.LANDING, TIMED_OUT, "seed 1924 `28` (xwing still cannot connect: exit code 28)")
    s.deathstar_service()
    s.namespace_deleted()
    return out


def calls() -> list[dict[str, Any]]:
    return [c for s in build().values() for c in s.calls]


# --- mutants -------------------------------------------------------------------------------------------


def _find(s: Scenario, op: str, pred: Any, state_has: str | None = None) -> dict[str, Any]:
    for c in s.calls:
        if c["op"] == op and pred(c["args"]) and (state_has is None or any(l.endswith(state_has) for l in c["state"])):
            return c
    raise SystemExit(f"mutant: scenario {s.key} has no such {op} call")


def _over(c: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {**c, "seed": f"MUTATED ({c['seed']})", "results": results}


def _curl(s: Scenario, ship: str) -> dict[str, Any]:
    return _find(s, "pod_exec", lambda a: a["pod"] == ship and "curl" in a["command"])


def _every_attempt(s: Scenario, ship: str, outcome: tuple[Any, ...], what: str) -> list[dict[str, Any]]:
    """A lab where `ship` never lands: a landing the policy allows is made again from a new
    client port while it gets no answer (cilab.probes.starwars.send_allowed), so the mutant
    answers every one of those requests, matched by the words they share, not by a port."""
    url = starwars.deathstar_url(s.ns, starwars.LANDING[1])
    call = _curl(s, ship)
    result = curl_result(s.ns, ship, outcome, s.started[ship])
    result["duration"] = timing.call_cost("pod_exec", call["args"], call["state"], result).seconds
    return [{"name": f"every landing request of the {ship} {what}",
             "match": {"op": "pod_exec", "namespace": s.ns, "pod": ship,
                       "command_has": ["curl", "-X", starwars.LANDING[0], url]},
             "results": [result]}]


def _every_drop_lookup(s: Scenario, lines: list[str], what: str) -> dict[str, Any]:
    """The answer to every look-up of a timed-out attempt's drops in the scenario's namespace
    (`hubble observe --namespace <ns> --type drop`, cilab.probes.attempt_flows)."""
    return {"name": f"every drop look-up of {s.ns} {what}",
            "match": {"op": "pod_exec", "namespace": KS, "pod": AGENT_PODS["k8s-ctr"],
                      "command_has": ["hubble", "observe", "--type", "drop", s.ns]},
            "results": [cmd("\n".join(lines) + "\n" if lines else "")]}


def _curls(s: Scenario, ship: str) -> list[dict[str, Any]]:
    """Every curl call of `ship` in the scenario, in the order they are made."""
    return [c for c in s.calls if c["op"] == "pod_exec" and c["args"]["pod"] == ship and "curl" in c["args"]["command"]]


def _port(c: dict[str, Any]) -> int:
    argv = c["args"]["command"]
    return int(argv[argv.index("--local-port") + 1])


def _attempt_call(s: Scenario, ship: str, n: int, outcome: tuple[Any, ...], started: str,
                  state: list[str], seed: str) -> dict[str, Any]:
    """The n-th landing request `ship` sends in the scenario (its n-th marker and client port),
    answered `outcome`: a further attempt `traffic.send_positive` makes."""
    traffic.reset_counters()
    lab = SimpleNamespace(info={"run_id": "reference"})
    url = starwars.deathstar_url(s.ns, starwars.LANDING[1])
    req = None
    for _ in range(n):
        req = traffic.new_request(lab, s.ns, ship, starwars.LANDING[0], url, marker_param=None)
    assert req is not None
    return call("pod_exec", seed, [curl_result(s.ns, ship, outcome, started)], state, namespace=s.ns, pod=ship,
                container=starwars.SHIP_CONTAINER, command=traffic.curl_argv(req, max_time=MAX_TIME))


def _observe_call(s: Scenario, state: list[str], filters: list[str], lines: list[str], seed: str) -> dict[str, Any]:
    return call("pod_exec", seed, [cmd("\n".join(lines) + "\n")], state, namespace=KS, pod=AGENT_PODS["k8s-ctr"],
                container="cilium-agent", command=["hubble", "observe", "--server", RELAY, "-o", "jsonpb", "--last",
                                                   "1000", "--namespace", s.ns, *filters])


def _observe(s: Scenario) -> dict[str, Any]:
    return _find(s, "pod_exec", lambda a: a["command"][0] == "hubble")


def _agent_call(s: Scenario, node: str, what: str, state_has: str) -> dict[str, Any]:
    return _find(s, "pod_exec", lambda a: a["pod"] == AGENT_PODS[node] and a["command"][1] == what, state_has)


def mutants() -> dict[str, dict[str, Any]]:
    sc = build()
    t = SCENARIOS

    def res(key: str, ship: str, outcome: tuple[Any, ...]) -> dict[str, Any]:
        return curl_result(sc[key].ns, ship, outcome, sc[key].started[ship])

    def port_of(key: str, ship: str) -> int:
        argv = _curl(sc[key], ship)["args"]["command"]
        return int(argv[argv.index("--local-port") + 1])

    demo, ident = sc["demo"], sc["identity"]
    slices = _find(demo, "k8s_list", lambda a: a["kind"] == "EndpointSlice")
    ceps = _find(ident, "k8s_list", lambda a: a["kind"] == "CiliumEndpoint")
    enforced = sc["l3l4-enforced"]
    cnp_get = _find(enforced, "k8s_get", lambda a: a["kind"] == "CiliumNetworkPolicy")
    invalid = {**VALID, "status": "False", "message": "Invalid CiliumNetworkPolicy spec: rule1 has no endpointSelector"}
    w1_eps = _agent_call(enforced, "k8s-w1", "endpoint", "l3_l4_policy.yaml")
    xw_port = port_of("l3l4-xwing", "xwing")
    l7_land_port = port_of("l7-landing", "tiefighter")
    l7_ex_port = port_of("l7-exhaust", "tiefighter")
    stale = _agent_call(sc["l7-xwing"], "k8s-w1", "policy", "l7_policy.yaml")
    lagging = _agent_call(sc["l3l4-tiefighter"], "k8s-w2", "endpoint", "l3_l4_policy.yaml")
    ns_t = sc["l3l4-tiefighter"].ns
    vis, status, cleanup = sc["visibility"], sc["l7-status"], sc["cleanup"]
    vis_tcp = _find(vis, "pod_exec", lambda a: a["command"][0] == "hubble" and "tcp" in a["command"])
    vis_http = _find(vis, "pod_exec", lambda a: a["command"][0] == "hubble" and "http" in a["command"])
    vis_ports = [int(c["args"]["command"][c["args"]["command"].index("--local-port") + 1]) for c in vis.calls
                 if c["op"] == "pod_exec" and "--local-port" in c["args"]["command"]]
    status_cnp = _find(status, "k8s_get", lambda a: a["kind"] == "CiliumNetworkPolicy", "l7_policy.yaml")
    status_w2 = _agent_call(status, "k8s-w2", "policy", "l7_policy.yaml")
    left = _find(cleanup, "k8s_list", lambda a: a["kind"] == "CiliumNetworkPolicy")
    lt, lx, l3 = sc["land-tiefighter"], sc["land-xwing"], sc["l3l4-tiefighter"]
    lt_curls, lx_curls, l3_curls = _curls(lt, "tiefighter"), _curls(lx, "xwing"), _curls(l3, "tiefighter")
    er = sc["every-replica"]
    er_curls = _curls(er, "tiefighter")  # landing m8q2b, landing nnzkt, exhaust port m8q2b, exhaust port nnzkt
    return {
        "starwars-endpoint-enforces-without-policy": {
            "breaks": "before any policy the deathstar endpoint on k8s-w1 already enforces ingress policy",
            "expect": [t["no-policy-endpoints"]],
            "message": "on every endpoint of the demo before any policy, saw deathstar-8c4c77fb7-m8q2b on k8s-w1 "
                       "(endpoint 3615) policy-enabled 'ingress'",
            "calls": [_over(_agent_call(sc["no-policy-endpoints"], "k8s-w1", "endpoint", "app.yaml"),
                            [cmd(endpoint_list(sc["no-policy-endpoints"].ns, "k8s-w1", None, enforce={3615: "ingress"}))])]},
        "starwars-http-visible-under-l3l4-rule": {
            "breaks": "under the L3/L4 rule1 Hubble already shows the PUT as an http-request",
            "expect": [t["visibility"]],
            "message": f"tiefighter's PUT from port {vis_ports[0]}: expected only L3/L4 TCP flows before rule1 has an "
                       "HTTP rule, saw tiefighter -> deathstar-8c4c77fb7-nnzkt http-request FORWARDED",
            "calls": [_over(vis_tcp, [cmd("\n".join(tcp_flows(vis.ns, vis_ports[0]) + http_flows(
                vis.ns, vis_ports[0], *starwars.EXHAUST_PORT)) + "\n")])]},
        "starwars-l7-request-flow-without-url": {
            "breaks": "under the L7 rule1 the PUT's http-request flow carries no URL",
            "expect": [t["visibility"]],
            "message": f"an http-request PUT {starwars.deathstar_url(vis.ns, starwars.EXHAUST_PORT[1])} DROPPED "
                       f"for tiefighter's request from port {vis_ports[1]}: saw",
            "calls": [_over(vis_http, [cmd("\n".join(
                line.replace(starwars.deathstar_url(vis.ns, starwars.EXHAUST_PORT[1]), "")
                for line in http_flows(vis.ns, vis_ports[1], *starwars.EXHAUST_PORT, request_verdict="DROPPED",
                                       code=403, latency_ns="0", when="2025-07-25T18:24:02.3")) + "\n")])]},
        "starwars-l7-rule1-not-valid-after-update": {
            "breaks": "after the L7 update the operator reports rule1 as not Valid",
            "expect": [t["l7-status"]],
            "message": "CiliumNetworkPolicy rule1: expected condition Valid True, saw False",
            "calls": [_over(status_cnp, [value(cnp_obj(status.ns, starwars.L7_POLICY, generation=2, valid={
                **VALID, "status": "False", "message": "Invalid CiliumNetworkPolicy spec: unsupported HTTP rule"}))])]},
        "starwars-l7-rule1-egress-default-deny": {
            "breaks": "k8s-w2's agent holds the L7 rule1 with egress default-deny on",
            "expect": [t["l7-status"]],
            "message": "k8s-w2: 'L7 policy to restrict access to specific HTTP call': ingress http POST "
                       "/v1/request-landing; enableDefaultDeny ingress true, egress true",
            "calls": [_over(status_w2, [cmd(policy_get_output(status.ns, starwars.L7_POLICY, REVISION["l7"],
                                                              default_deny=(True, True)))])]},
        "starwars-rule1-still-held-by-w1": {
            "breaks": "k8s-w1's agent still holds rule1 after `kubectl delete cnp rule1`",
            "expect": [t["cleanup"]],
            "message": "expected no agent to hold rule1 after its deletion; k8s-w1 (cilium-mm7xq) still holds "
                       "'L7 policy to restrict access to specific HTTP call'",
            "calls": [_over(_find(cleanup, "pod_exec", lambda a: a["pod"] == AGENT_PODS["k8s-w1"]
                                  and a["command"] == policy.policy_get_command(cleanup.ns, "rule1")),
                            [cmd(policy_get_output(cleanup.ns, starwars.L7_POLICY, REVISION["l7"]))])]},
        "starwars-rule1-left-after-delete": {
            "breaks": "rule1 is still listed after `kubectl delete cnp rule1`",
            "expect": [t["cleanup"]],
            "message": f"expected `kubectl get cnp -n {cleanup.ns}` to find no resources, saw rule1",
            "calls": [_over(left, [value([cnp_obj(cleanup.ns, starwars.L7_POLICY, generation=2)])])]},
        "starwars-deathstar-service-one-endpoint": {
            "breaks": "the deathstar Service routes to one deathstar pod only",
            "expect": [t["demo"]],
            # no request is sent before the Service's endpoints are exactly the deathstar pods
            "message": "Service deathstar: expected its endpoints to be exactly the deathstar pods "
                       "172.20.1.167, 172.20.2.219, saw 172.20.2.219",
            "calls": [_over(slices, [value([endpointslice_obj(demo.ns, ["deathstar-8c4c77fb7-nnzkt"])])])]},
        "starwars-deathstar-two-identities": {
            "breaks": "the two deathstar pods get different security identities",
            "expect": [t["identity"]],
            "message": "expected both deathstar pods to share one security identity, saw "
                       "deathstar-8c4c77fb7-m8q2b: 15933, deathstar-8c4c77fb7-nnzkt: 15934",
            "calls": [_over(ceps, [value([cep_obj(ident.ns, n, 15934 if n.endswith("nnzkt") else None)
                                          for n in PODS])])]},
        "starwars-deathstar-replica-refuses": {
            "breaks": "one deathstar replica (deathstar-8c4c77fb7-m8q2b on k8s-w1) refuses connections: it has no "
                      "readiness probe, so it stays behind the Service, and a landing that reaches it is refused "
                      "while the next one reaches the other replica and lands",
            "expect": [t["land-tiefighter"], t["every-replica"]],
            # the landing through the Service fails on its attempt 2 (after the reference's lag), the one
            # to the pod's own IP on its attempt 1: the words both failures share
            "message": ") reached a backend and failed (backend: deathstar-8c4c77fb7-m8q2b on k8s-w1): the connection to ",
            "message_also": ["\nevery attempt:\nattempt 1 (from port "],
            "calls": [_over(er_curls[0], [curl_result(er.ns, "tiefighter", REFUSED, "2025-07-25T18:04:30.081532114Z",
                                                      pod="deathstar-8c4c77fb7-m8q2b")]),
                      _over(lt_curls[1], [res("land-tiefighter", "tiefighter", REFUSED)]),
                      _attempt_call(lt, "tiefighter", 3, LANDED, "2025-07-25T18:04:20.402318233Z", lt_curls[1]["state"],
                                    "MUTATED (the third landing reaches the other replica and lands)"),
                      _observe_call(lt, lt_curls[1]["state"], [], backend_flows(
                          lt.ns, _port(lt_curls[1]), "tiefighter", "deathstar-8c4c77fb7-m8q2b", [["RST", "ACK"]]),
                          "MUTATED (the refused landing's SYN reaches deathstar-8c4c77fb7-m8q2b, which resets it)")]},
        "starwars-deathstar-replica-answers-500": {
            "breaks": "one deathstar replica (deathstar-8c4c77fb7-nnzkt on k8s-w2) answers HTTP 500, while the next "
                      "landing reaches the other replica and lands",
            "expect": [t["land-xwing"], t["every-replica"]],
            "message": "attempt 1 of 1 (from port ",
            "message_also": [") reached a backend and failed (backend: deathstar-8c4c77fb7-nnzkt on k8s-w2): the backend "
                             "answered HTTP 500 'Internal Server Error'"],
            "calls": [_over(er_curls[1], [curl_result(er.ns, "tiefighter", answer("Internal Server Error\n", 500),
                                                      "2025-07-25T18:04:31.081532114Z", pod="deathstar-8c4c77fb7-nnzkt")]),
                      _over(lx_curls[0], [res("land-xwing", "xwing", answer("Internal Server Error\n", 500))]),
                      _attempt_call(lx, "xwing", 2, LANDED, "2025-07-25T18:04:20.392318233Z", lx_curls[0]["state"],
                                    "MUTATED (the second landing reaches the other replica and lands)"),
                      _observe_call(lx, lx_curls[0]["state"], [], backend_flows(
                          lx.ns, _port(lx_curls[0]), "xwing", "deathstar-8c4c77fb7-nnzkt",
                          [["SYN", "ACK"], ["ACK", "PSH"], ["ACK", "FIN"]]),
                          "MUTATED (the landing that got HTTP 500 was answered by deathstar-8c4c77fb7-nnzkt)")]},
        "starwars-l3l4-tiefighter-dropped-first": {
            "breaks": "under the L3/L4 rule1 the allowed tiefighter's first landing is dropped by policy (its SYNs "
                      "DROPPED POLICY_DENIED after the policy was read as realised), and the next one lands",
            "expect": [t["l3l4-tiefighter"]],
            "message": f"attempt 1 of 2 (from port {_port(l3_curls[0])}) was dropped by policy (tiefighter -> "
                       "deathstar-8c4c77fb7-nnzkt L3_L4 DROPPED POLICY_DENIED (TCP Flags: SYN)), although attempt 2 "
                       "was answered",
            "calls": [_over(l3_curls[0], [res("l3l4-tiefighter", "tiefighter", TIMED_OUT)]),
                      _attempt_call(l3, "tiefighter", 2, LANDED, "2025-07-25T18:04:22.291532114Z", l3_curls[0]["state"],
                                    "MUTATED (the second landing lands)"),
                      _observe_call(l3, l3_curls[0]["state"], ["--type", "drop"], drop_flows(
                          l3.ns, _port(l3_curls[0]), src="tiefighter"),
                          "MUTATED (the first landing's SYN and its retransmission DROPPED POLICY_DENIED)")]},
        "starwars-xwing-identity-not-an-object": {
            "breaks": "the xwing's identity 7207 has no CiliumIdentity object of the scenario's namespace",
            "expect": [t["identity"]],
            "message": "xwing: identity 7207 has no CiliumIdentity of namespace",
            "calls": [_over(_find(ident, "k8s_list", lambda a: a["kind"] == "CiliumIdentity"),
                            [value(demo_identities(ident.ns, skip=(7207,)))])]},
        "starwars-w2-without-host-endpoint": {
            "breaks": "k8s-w2's agent lists no host endpoint (reserved:host, identity 1)",
            "expect": [t["identity"]],
            "message": "expected on every node one host endpoint (reserved:host) with identity 1, saw k8s-w2 "
                       "(cilium-kkt6t): no endpoint labelled reserved:host",
            "calls": [_over(_agent_call(ident, "k8s-w2", "endpoint", "app.yaml"),
                            [cmd(json.dumps([e for e in json.loads(endpoint_list(ident.ns, "k8s-w2", None))
                                             if e["id"] != 2374], indent=2) + "\n")])]},
        "starwars-l7-rule1-from-any-namespace": {
            "breaks": "k8s-w2's agent holds rule1's fromEndpoints without the namespace label (org=empire of any "
                      "namespace may land)",
            "expect": [t["l7-status"]],
            "message": "k8s-w2: endpointSelector any:class=deathstar, any:org=empire, "
                       f"k8s:io.kubernetes.pod.namespace={status.ns}; from any:org=empire",
            "calls": [_over(status_w2, [cmd(policy_get_output(status.ns, starwars.L7_POLICY, REVISION["l7"],
                                                              from_namespace=False))])]},
        "starwars-no-policy-xwing-times-out": {
            "breaks": "without any policy the xwing's landing request gets no answer",
            "expect": [t["land-xwing"]],
            "message": "expected the answer 'Ship landed', saw the connect attempt to deathstar.",
            "faults": [*_every_attempt(sc["land-xwing"], "xwing", TIMED_OUT, "times out"),
                       # no policy is in force: no attempt's flows show a policy drop
                       _every_drop_lookup(sc["land-xwing"], [], "shows no drop (no policy is in force)")]},
        "starwars-no-policy-tiefighter-refused": {
            "breaks": "without any policy the tiefighter's landing request is refused",
            "expect": [t["land-tiefighter"]],
            "message": f"attempt 1 of 1 (from port {_port(lt_curls[0])}) reached a backend and failed (backend: "
                       "deathstar-8c4c77fb7-m8q2b on k8s-w1): the connection to deathstar.",
            "faults": _every_attempt(sc["land-tiefighter"], "tiefighter", REFUSED, "is refused"),
            "calls": [_observe_call(lt, lt_curls[0]["state"], [], backend_flows(
                lt.ns, _port(lt_curls[0]), "tiefighter", "deathstar-8c4c77fb7-m8q2b", [["RST", "ACK"]]),
                "MUTATED (the refused landing's SYN reaches deathstar-8c4c77fb7-m8q2b, which resets it)")]},
        "starwars-rule1-not-valid": {
            "breaks": "the operator reports rule1 as not Valid",
            "expect": [t["l3l4-enforced"]],
            "message": "CiliumNetworkPolicy rule1: expected condition Valid True, saw False "
                       "(Invalid CiliumNetworkPolicy spec",
            "calls": [_over(cnp_get, [value(cnp_obj(enforced.ns, starwars.L3_L4_POLICY, generation=1, valid=invalid))])]},
        "starwars-deathstar-ingress-not-enforced": {
            "breaks": "under rule1 the deathstar endpoint on k8s-w1 does not enforce ingress policy",
            "expect": [t["l3l4-enforced"]],
            "message": "expected POLICY (ingress) ENFORCEMENT Enabled and (egress) Disabled (policy-enabled 'ingress') "
                       "on the deathstar endpoints, saw deathstar-8c4c77fb7-m8q2b on k8s-w1 (endpoint 3615) "
                       "policy-enabled 'none'",
            "calls": [_over(w1_eps, [cmd(endpoint_list(enforced.ns, "k8s-w1", "l3l4", enforce={3615: "none"}))])]},
        "starwars-xwing-enforces-ingress-under-rule1": {
            "breaks": "under rule1 the xwing's endpoint on k8s-w1 enforces ingress policy too (rule1 selects only the deathstar)",
            "expect": [t["l3l4-enforced"]],
            "message": "expected POLICY ENFORCEMENT Disabled both ways (policy-enabled 'none') on the ships' endpoints, "
                       "saw xwing on k8s-w1 (endpoint 2885) policy-enabled 'ingress'",
            "calls": [_over(w1_eps, [cmd(endpoint_list(enforced.ns, "k8s-w1", "l3l4", enforce={2885: "ingress"}))])]},
        "starwars-xwing-lands-under-rule1": {
            "breaks": "under the L3/L4 rule1 the xwing still lands",
            "expect": [t["l3l4-xwing"]],
            "message": "expected the connection to be dropped by policy (the connect attempt to the deathstar "
                       "Service times out after 2 s); saw: HTTP 200 'Ship landed'",
            "calls": [_over(_curl(sc["l3l4-xwing"], "xwing"), [res("l3l4-xwing", "xwing", LANDED)])]},
        "starwars-xwing-drop-other-reason": {
            "breaks": "the xwing's packets are dropped for another reason than the policy",
            "expect": [t["l3l4-xwing"]],
            "message": "L3_L4 DROPPED CT_MAP_INSERTION_FAILED (TCP Flags: SYN)",
            "calls": [_over(_observe(sc["l3l4-xwing"]), [cmd("\n".join(drop_flows(
                sc["l3l4-xwing"].ns, xw_port, reason="CT_MAP_INSERTION_FAILED", sub_type=155)) + "\n")])]},
        "starwars-xwing-drop-filter-ignores-type": {
            "breaks": "hubble observe --namespace NS --type drop ignores --type: besides the xwing's drops it returns "
                      "the xwing's SYN forwarded by its own node (a trace event)",
            "expect": [t["l3l4-xwing"]],
            "message": (f"`hubble observe --namespace {sc['l3l4-xwing'].ns} --type drop`: expected every flow to match "
                        "every part of the filter, saw flows that do not: --type drop is broken by 1 flow(s): "),
            "message_also": ["L3_L4 FORWARDED (TCP Flags: SYN): event type 4"],
            "calls": [_over(_observe(sc["l3l4-xwing"]), [cmd("\n".join(
                drop_flows(sc["l3l4-xwing"].ns, xw_port) + [_forwarded_syn(sc["l3l4-xwing"].ns, xw_port)]) + "\n")])]},
        "starwars-xwing-drop-flow-missing": {
            "breaks": "Hubble shows no drop for the xwing's request (only an earlier request's)",
            "expect": [t["l3l4-xwing"]],
            "message": f"a DROPPED flow with drop_reason_desc POLICY_DENIED for xwing's request from port {xw_port}: "
                       "saw no flows",
            "calls": [_over(_observe(sc["l3l4-xwing"]), [cmd("\n".join(drop_flows(
                sc["l3l4-xwing"].ns, 40112, when="2025-07-25T18:03:5")) + "\n")])]},
        "starwars-xwing-drop-only-before-the-request": {
            "breaks": "Hubble's only POLICY_DENIED drops on the xwing's port are older than the request (an earlier "
                      "run on a reused lab, or an earlier try)",
            "expect": [t["l3l4-xwing"]],
            "message": f"a DROPPED flow with drop_reason_desc POLICY_DENIED for xwing's request from port {xw_port}: "
                       "saw no flows (flows since 2025-07-25T18:04:20.081532Z",
            "calls": [_over(_observe(sc["l3l4-xwing"]), [cmd("\n".join(drop_flows(
                sc["l3l4-xwing"].ns, xw_port, when="2025-07-25T18:03:5")) + "\n")])]},
        "starwars-xwing-drop-of-another-pod-address": {
            "breaks": "the POLICY_DENIED drops on the xwing's port come from another address than the xwing's "
                      "(a pod of the same name from an earlier run)",
            "expect": [t["l3l4-xwing"]],
            "message": f"a DROPPED flow with drop_reason_desc POLICY_DENIED for xwing's request from port {xw_port}: "
                       "saw no flows",
            "calls": [_over(_observe(sc["l3l4-xwing"]), [cmd("\n".join(drop_flows(
                sc["l3l4-xwing"].ns, xw_port, source_ip="172.20.2.77")) + "\n")])]},
        "starwars-xwing-resolver-times-out": {
            "breaks": "the xwing's request times out in name resolution (CoreDNS down), not at the policy",
            "expect": [t["l3l4-xwing"]],
            "message": "expected the connection to be dropped by policy (the connect attempt to the deathstar Service "
                       f"times out after 2 s); saw: could not resolve deathstar.{sc['l3l4-xwing'].ns}.svc.cluster.local "
                       "(curl 28 after 2 s: Resolving timed out after 2000 milliseconds)",
            "calls": [_over(_curl(sc["l3l4-xwing"], "xwing"), [res("l3l4-xwing", "xwing", RESOLVER_TIMEOUT)])]},
        "starwars-l7-xwing-connects-but-gets-no-answer": {
            "breaks": "under the L7 rule1 the xwing connects and then hears nothing until --max-time",
            "expect": [t["l7-xwing"]],
            "message": "expected the connection to be dropped by policy (the connect attempt to the deathstar Service "
                       "times out after 2 s); saw: no answer (curl 28 after 5.001 s: Operation timed out after 5001 "
                       "milliseconds with 0 bytes received)",
            "calls": [_over(_curl(sc["l7-xwing"], "xwing"), [res("l7-xwing", "xwing", NO_ANSWER_AFTER_CONNECT)])]},
        "starwars-tiefighter-blocked-under-rule1": {
            "breaks": "under the L3/L4 rule1 the tiefighter cannot land either",
            "expect": [t["l3l4-tiefighter"]],
            "message": f"(from port {_port(l3_curls[0])}) was dropped by policy (tiefighter -> "
                       "deathstar-8c4c77fb7-nnzkt L3_L4 DROPPED POLICY_DENIED (TCP Flags: SYN)), and no attempt of ",
            "message_also": ["attempt 1 of ", " was answered: the connect attempt to deathstar."],
            "faults": [*_every_attempt(sc["l3l4-tiefighter"], "tiefighter", TIMED_OUT, "times out under rule1"),
                       _every_drop_lookup(sc["l3l4-tiefighter"], drop_flows(
                           ns_t, _port(l3_curls[0]), src="tiefighter"),
                           "shows the first landing's SYNs DROPPED POLICY_DENIED")]},
        "starwars-rule1-endpoint-never-realised": {
            "breaks": "the deathstar endpoint on k8s-w2 never reaches the revision holding rule1",
            "expect": [t["l3l4-tiefighter"]],
            "message": f"CiliumNetworkPolicy {ns_t}/rule1 realised on every agent: not true within 120s",
            "calls": [_over(lagging, [cmd(endpoint_list(ns_t, "k8s-w2", "l3l4", lag={1041: "regenerating"}))])]},
        "starwars-exhaust-port-already-denied": {
            "breaks": "before any L7 rule the exhaust port is already refused",
            "expect": [t["exhaust-before-l7"]],
            "message": "expected the answer 'Panic: deathstar exploded', saw HTTP 403 'Access denied'",
            "calls": [_over(_curl(sc["exhaust-before-l7"], "tiefighter"), [res("exhaust-before-l7", "tiefighter", DENIED)])]},
        "starwars-l7-landing-denied": {
            "breaks": "under the L7 rule1 the allowed landing request is denied by the proxy",
            "expect": [t["l7-landing"]],
            "message": "expected HTTP 200 'Ship landed', saw HTTP 403 'Access denied'",
            "calls": [_over(_curl(sc["l7-landing"], "tiefighter"), [res("l7-landing", "tiefighter", DENIED)])]},
        "starwars-l7-response-flow-missing": {
            "breaks": "Hubble shows the landing's http-request but no http-response",
            "expect": [t["l7-landing"]],
            "message": "http-request FORWARDED and http-response 200 FORWARDED flows for tiefighter's POST from port "
                       f"{l7_land_port}: saw tiefighter -> deathstar-8c4c77fb7-nnzkt http-request FORWARDED",
            "calls": [_over(_observe(sc["l7-landing"]), [cmd(http_flows(sc["l7-landing"].ns, l7_land_port,
                                                                        *starwars.LANDING, code=None)[0] + "\n")])]},
        "starwars-l7-exhaust-port-not-denied": {
            "breaks": "under the L7 rule1 the exhaust port still explodes",
            "expect": [t["l7-exhaust"]],
            "message": "expected HTTP 403 'Access denied', saw HTTP 503 'Panic: deathstar exploded'",
            "calls": [_over(_curl(sc["l7-exhaust"], "tiefighter"), [res("l7-exhaust", "tiefighter", EXPLODED)])]},
        "starwars-l7-exhaust-request-forwarded": {
            "breaks": "Hubble shows the denied PUT as forwarded",
            "expect": [t["l7-exhaust"]],
            "message": f"an http-request DROPPED flow for tiefighter's PUT from port {l7_ex_port}: saw "
                       "tiefighter -> deathstar-8c4c77fb7-nnzkt http-request FORWARDED",
            "calls": [_over(_observe(sc["l7-exhaust"]), [cmd("\n".join(http_flows(
                sc["l7-exhaust"].ns, l7_ex_port, *starwars.EXHAUST_PORT, code=403, latency_ns="0",
                when="2025-07-25T18:24:02.3")) + "\n")])]},
        "starwars-l7-xwing-reaches-proxy": {
            "breaks": "under the L7 rule1 the xwing gets through L3/L4 and is answered by the proxy",
            "expect": [t["l7-xwing"]],
            "message": "expected the connection to be dropped by policy (the connect attempt to the deathstar "
                       "Service times out after 2 s); saw: HTTP 403 'Access denied'",
            "calls": [_over(_curl(sc["l7-xwing"], "xwing"), [res("l7-xwing", "xwing", DENIED)])]},
        "starwars-l7-update-never-imported-on-w1": {
            "breaks": "k8s-w1's agent keeps the L3/L4 version of rule1 after the update",
            "expect": [t["l7-xwing"]],
            "message": "k8s-w1 (cilium-mm7xq): holds rule1 as 'L3-L4 policy to restrict deathstar access to empire "
                       "ships only': ingress 80/TCP, expected 'L7 policy to restrict access to specific HTTP call': "
                       "ingress 80/TCP http POST /v1/request-landing",
            "calls": [_over(stale, [cmd(policy_get_output(sc["l7-xwing"].ns, starwars.L3_L4_POLICY, REVISION["l3l4"]))])]},
    }

