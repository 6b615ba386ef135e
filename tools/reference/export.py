"""Chapter "Flows are exported to a file on every node" (seed lines 2240-2397): reference
calls and mutants.

The chapter also builds, for itself and for the metrics chapter (tools/reference/metrics.py),
what a scenario with curl-pod and webpod in a namespace of its own is answered: the
namespace's life cycle, the applies, the readiness polls, curl-pod's requests, and the
flows Hubble writes of them.  Pod names and IPs are the seed's webpod section
(seed 2484-2516: curl-pod 172.20.0.241 on k8s-ctr, identity 10292; webpod-697b545f57-ntmqj
172.20.1.179 on k8s-w1 and webpod-697b545f57-b2xst 172.20.2.207 on k8s-w2, identity 2460);
each scenario namespace reuses them (a real run gives other IPs and identities per
namespace: reconstructed).

Calls this chapter shares with the Hubble chapter (cilium-config, the Node list, the agent
pods, all in state [hubble]) are left to tools/reference/hubble.py (see `beyond_hubble` in tools/reference/lab.py).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from cilab import manifests
from cilab.plugin import scenario_namespace
from cilab.probes import export as export_probe
from cilab.probes import traffic, whoami
from tools.reference.l7_visibility import webpod_slice
from tools.reference.lab import *  # noqa: F401,F403
from tools.reference.lab import _cm_with, _replace  # noqa: F401

SEED = "seed lines 2240-2397 (the requests of seed 2398-2533)"

CURL_POD_IP, CURL_POD_NODE, CURL_ID, CURL_EP_ID = "172.20.0.241", "k8s-ctr", 10292, 1475  # seed 2463, 2501, 2516
WEBPODS = {  # seed 2493, 2502-2503 (nodes: 172.20.1/2.x are k8s-w1/w2, seed 603-606): name -> (node, IP); identity 2460
    "webpod-697b545f57-ntmqj": ("k8s-w1", "172.20.1.179"),
    "webpod-697b545f57-b2xst": ("k8s-w2", "172.20.2.207"),
}
WEBPOD_ID = 2460
WEBPOD_EP_ID = {"webpod-697b545f57-ntmqj": 3118, "webpod-697b545f57-b2xst": 642}  # reconstructed
WEBPOD_RS = "webpod-697b545f57"
COREDNS = ("coredns-674b8bbfcf-p8kth", "172.20.0.107", 5694)  # seed 643, 803
T0 = "2025-07-26T02:31:"


# --- a scenario's namespace ----------------------------------------------------------------


def _uuid(*parts: Any) -> str:
    """A stable, made-up UUID (uids and flow uuids are not in the seed: reconstructed)."""
    h = hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


class Scenario:
    """The calls of one scenario that works in a namespace of its own.

    `apply(relpath)` adds the applies of a manifest and advances the namespace's lab state
    the way `Lab.apply` does; `state` is the state a call in the namespace runs in now;
    `teardown()` is the namespace's deletion, in the final state."""

    def __init__(self, test: str, seed: str) -> None:
        self.test = test
        self.ns = scenario_namespace(test)
        self.seed = seed
        self.labels: list[str] = []
        ns_obj = {"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": self.ns, "labels": {"app.kubernetes.io/managed-by": "cilium-lab-conformance"}}}
        self.calls: list[dict[str, Any]] = [
            call("k8s_delete", "reconstructed (no leftover namespace of an earlier run)", [value(False)], HUBBLE,
                 api_version="v1", kind="Namespace", name=self.ns),
            call("k8s_get", "reconstructed (the namespace is gone)", [value(None)], HUBBLE,
                 api_version="v1", kind="Namespace", name=self.ns),
            call("k8s_apply", "reconstructed (namespace created)", [value(self._created(ns_obj))], HUBBLE,
                 manifest=ns_obj),
        ]
        self.labels.append(f"{self.ns}:Namespace/{self.ns}")

    @property
    def state(self) -> list[str]:
        return sorted(HUBBLE + self.labels)

    def _created(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        out = json.loads(json.dumps(obj))
        out["metadata"]["uid"] = _uuid(self.ns, obj["kind"], obj["metadata"]["name"])
        if namespace:
            out["metadata"]["namespace"] = namespace
        return out

    def apply(self, relpath: str, seed: str) -> list[dict[str, Any]]:
        created = []
        for obj in manifests.load(relpath):
            res = self._created(obj, self.ns)
            created.append(res)
            self.calls.append(call("k8s_apply", seed, [value(res)], self.state, manifest=obj, namespace=self.ns))
            label = f"{self.ns}:{relpath}"
            if label not in self.labels:
                self.labels.append(label)
        return created

    def add(self, op: str, seed: str, results: list[dict[str, Any]], **args: Any) -> None:
        self.calls.append(call(op, seed, results, self.state, **args))

    def teardown(self) -> list[dict[str, Any]]:
        return self.calls + [call("k8s_delete", "reconstructed (namespace deleted at teardown)", [value(True)],
                                  self.state, api_version="v1", kind="Namespace", name=self.ns)]


# --- curl-pod and webpod -------------------------------------------------------------------


def _labels(ns: str, app: str, sa: str = "default") -> list[str]:
    return [f"k8s:app={app}", f"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={ns}",
            "k8s:io.cilium.k8s.policy.cluster=default", f"k8s:io.cilium.k8s.policy.serviceaccount={sa}",
            f"k8s:io.kubernetes.pod.namespace={ns}"]


def curl_pod_obj(ns: str, ready: bool = True) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Running" if ready else "Pending", "hostIP": NODES[CURL_POD_NODE]["ip"],
                              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ready:
        status["podIP"] = CURL_POD_IP
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": whoami.CURL_POD, "namespace": ns, "labels": {"app": "curl"}},
            "spec": {"nodeName": CURL_POD_NODE, "containers": [{"name": "curl", "image": "nicolaka/netshoot:v0.13"}]},
            "status": status}


def webpod_obj(ns: str, name: str) -> dict[str, Any]:
    node, ip = WEBPODS[name]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "generateName": f"{WEBPOD_RS}-",
                         "labels": {"app": "webpod", "pod-template-hash": WEBPOD_RS.rsplit("-", 1)[1]},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": WEBPOD_RS,
                                              "controller": True}]},
            "spec": {"nodeName": node, "containers": [{"name": "webpod", "image": "traefik/whoami:v1.11.0"}]},
            "status": {"phase": "Running", "podIP": ip, "hostIP": NODES[node]["ip"],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def webpod_deployment(ns: str, ready: int) -> dict[str, Any]:
    obj = workload("Deployment", "webpod", ready, 2, [{"name": "webpod", "image": "traefik/whoami:v1.11.0"}], 1)
    obj["metadata"]["namespace"] = ns
    obj["spec"]["selector"] = {"matchLabels": {"app": "webpod"}}  # seed 2487 (SELECTOR app=webpod)
    return obj


def start_workloads(sc: Scenario) -> None:
    """`Given curl-pod and webpod are running in the scenario's namespace`."""
    sc.apply(whoami.WEBPOD_MANIFEST, "seed 2410-2445 `webpod` `webpod` (webpod Deployment + Service, applied in the scenario's namespace)")
    sc.apply(whoami.CURL_POD_MANIFEST, "seed 2456-2469 `v1` `terminationGracePeriodSeconds` (curl-pod pinned to k8s-ctr)")
    sc.add("k8s_get", "seed 2487 `webpod` (deployment.apps/webpod 2/2; 0/2 first: reconstructed 'not yet')",
           [value(webpod_deployment(sc.ns, 0)), value(webpod_deployment(sc.ns, 2))],
           api_version="apps/v1", kind="Deployment", name="webpod", namespace=sc.ns)
    sc.add("k8s_list", "seed 2502-2503 `172.20.2.207` `172.20.1.179` (webpod pods 172.20.2.207, 172.20.1.179, Running and Ready)",
           [value([webpod_obj(sc.ns, n) for n in sorted(WEBPODS)])],
           api_version="v1", kind="Pod", namespace=sc.ns, label_selector="app=webpod")
    sc.add("k8s_list", "seed 2493 `172.20.1.179`, 2497 `172.20.2.207` (endpoints 172.20.1.179:80, 172.20.2.207:80; 172.20.2.207 alone first: "
           "reconstructed lag of the EndpointSlice controller)",
           [value([webpod_slice(sc.ns, ["webpod-697b545f57-b2xst"])]), value([webpod_slice(sc.ns)])],
           api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=sc.ns,
           label_selector="kubernetes.io/service-name=webpod")
    sc.add("k8s_get", "seed 2463 `k8s-ctr`, 2501 `172.20.0.241` (curl-pod 172.20.0.241 on k8s-ctr; Pending first: reconstructed)",
           [value(curl_pod_obj(sc.ns, False)), value(curl_pod_obj(sc.ns))],
           api_version="v1", kind="Pod", name=whoami.CURL_POD, namespace=sc.ns)


class _StubLab:
    info = {"run_id": "reference"}


def request(ns: str, n: int = 1, url: str | None = None) -> traffic.Request:
    """The n-th request curl-pod makes in a scenario (markers are per run and namespace)."""
    traffic.reset_counters()
    req = None
    for _ in range(n):
        req = traffic.new_request(_StubLab(), ns, whoami.CURL_POD, "GET", url or whoami.url(ns))  # type: ignore[arg-type]
    assert req is not None
    return req


def curl_argv(req: traffic.Request, max_time: int = 5) -> list[str]:
    return traffic.curl_argv(req, max_time=max_time)


def whoami_body(req: traffic.Request, server: str, headers: list[str] = ()) -> str:
    """What traefik/whoami echoes (seed 2527: `Hostname: webpod-697b545f57-b2xst`; the rest
    of the echo -- its IPs, the client's address and the request -- reconstructed)."""
    ip = WEBPODS[server][1]
    path = req.url.split(".svc.cluster.local", 1)[1]
    lines = [f"Hostname: {server}", "IP: 127.0.0.1", "IP: ::1", f"IP: {ip}",
             f"RemoteAddr: {CURL_POD_IP}:{req.local_port}", f"GET {path} HTTP/1.1",
             f"Host: webpod.{req.namespace}.svc.cluster.local", "User-Agent: curl/8.14.1", "Accept: */*", *headers]
    return "\n".join(lines) + "\n"


def send(sc: Scenario, req: traffic.Request, result: dict[str, Any], seed: str) -> None:
    sc.add("pod_exec", seed, [result], namespace=sc.ns, pod=whoami.CURL_POD, command=curl_argv(req))


WEBPOD_SVC_IP = "10.96.166.184"  # seed 2490 (service/webpod ClusterIP)
STARTED = f"{T0}07.050213884Z"  # reconstructed: curl-pod's clock as the request starts, before its flows (T0 + 7.101 s)


def answered(req: traffic.Request, server: str, status: int = 200, headers: list[str] = (),
             started: str = STARTED) -> dict[str, Any]:
    """curl-pod's output for a request whoami answered (traffic.curl_argv's shape)."""
    return curl_out(netshoot_start(started), CURL_POD_IP, body=whoami_body(req, server, headers), status=status,
                    host=f"webpod.{req.namespace}.svc.cluster.local", address=WEBPOD_SVC_IP)


# --- flows as Hubble writes them ----------------------------------------------------------------


def endpoint(ns: str, who: str, local: bool) -> dict[str, Any]:
    """A flow endpoint: curl-pod or a webpod; `ID` only when the endpoint is the node's own."""
    if who == whoami.CURL_POD:
        ep: dict[str, Any] = {"ID": CURL_EP_ID, "identity": CURL_ID, "cluster_name": "default", "namespace": ns,
                              "labels": _labels(ns, "curl"), "pod_name": who}
    elif who in WEBPODS:
        ep = {"ID": WEBPOD_EP_ID[who], "identity": WEBPOD_ID, "cluster_name": "default", "namespace": ns,
              "labels": _labels(ns, "webpod"), "pod_name": who,
              "workloads": [{"name": "webpod", "kind": "Deployment"}]}
    else:
        name, _, ident = COREDNS
        ep = {"ID": 1174, "identity": ident, "cluster_name": "default", "namespace": "kube-system",
              "labels": ["k8s:io.cilium.k8s.policy.serviceaccount=coredns", "k8s:k8s-app=kube-dns"],
              "pod_name": name, "workloads": [{"name": "coredns", "kind": "Deployment"}]}
    if not local:
        ep.pop("ID")
    return ep


def ip_of(who: str) -> str:
    if who == whoami.CURL_POD:
        return CURL_POD_IP
    if who in WEBPODS:
        return WEBPODS[who][1]
    return COREDNS[1]


def node_of(who: str) -> str:
    return CURL_POD_NODE if who == whoami.CURL_POD else WEBPODS[who][0] if who in WEBPODS else "k8s-ctr"


POINTS = {"TO_ENDPOINT": 0, "TO_STACK": 3, "TO_NETWORK": 11}


def tcp_flow(ns: str, node: str, src: str, dst: str, sport: int, dport: int, flags: list[str], *,
             second: float, reply: bool, verdict: str = "FORWARDED", point: str = "",
             n: int = 0) -> dict[str, Any]:
    """One L3/L4 TCP flow event as the export file (and `hubble observe -o jsonpb`) holds it."""
    t = f"{T0}{second:012.9f}Z"
    flow: dict[str, Any] = {
        "time": t, "uuid": _uuid(ns, node, sport, dport, n),
        "verdict": verdict,
        "ethernet": {"source": "2a:9b:31:e4:0c:11", "destination": "6e:f2:70:18:aa:35"},
        "IP": {"source": ip_of(src), "destination": ip_of(dst), "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": sport, "destination_port": dport, "flags": {f: True for f in flags}}},
        "source": endpoint(ns, src, node_of(src) == node),
        "destination": endpoint(ns, dst, node_of(dst) == node),
        "Type": "L3_L4", "node_name": node,
    }
    if verdict == "DROPPED":
        flow.update(drop_reason=133, event_type={"type": 1, "sub_type": 133}, traffic_direction="INGRESS",
                    drop_reason_desc="POLICY_DENIED")
    else:
        flow.update(event_type={"type": 4, "sub_type": POINTS[point]}, traffic_direction="INGRESS" if reply else "EGRESS",
                    trace_observation_point=point, is_reply=reply)
        if node_of(dst) == node and not reply:
            flow["traffic_direction"] = "INGRESS"
    flow["Summary"] = "TCP Flags: " + ", ".join(flags)
    return {"flow": flow, "node_name": node, "time": t}


def dns_flow(ns: str, sport: int, second: float) -> dict[str, Any]:
    """curl-pod resolving webpod's name: UDP to CoreDNS on k8s-ctr (to-endpoint)."""
    t = f"{T0}{second:012.9f}Z"
    flow = {"time": t, "uuid": _uuid(ns, "dns", sport), "verdict": "FORWARDED",
            "IP": {"source": CURL_POD_IP, "destination": COREDNS[1], "ipVersion": "IPv4"},
            "l4": {"UDP": {"source_port": sport, "destination_port": 53}},
            "source": endpoint(ns, whoami.CURL_POD, True), "destination": endpoint(ns, "coredns", True),
            "Type": "L3_L4", "node_name": "k8s-ctr", "event_type": {"type": 4, "sub_type": 0},
            "traffic_direction": "EGRESS", "trace_observation_point": "TO_ENDPOINT", "is_reply": False,
            "Summary": "UDP"}
    return {"flow": flow, "node_name": "k8s-ctr", "time": t}


def request_flows(ns: str, req: traffic.Request, server: str, node: str) -> list[dict[str, Any]]:
    """What one agent exports of one request: the handshake and the close, on its side."""
    client_side = node == CURL_POD_NODE
    out_point, in_point = ("TO_NETWORK", "TO_ENDPOINT") if client_side else ("TO_ENDPOINT", "TO_NETWORK")
    p, c = req.local_port, whoami.CURL_POD
    return [
        tcp_flow(ns, node, c, server, p, 80, ["SYN"], second=7.101, reply=False, point=out_point, n=1),
        tcp_flow(ns, node, server, c, 80, p, ["SYN", "ACK"], second=7.102, reply=True, point=in_point, n=2),
        tcp_flow(ns, node, c, server, p, 80, ["ACK", "FIN"], second=7.109, reply=False, point=out_point, n=3),
        tcp_flow(ns, node, server, c, 80, p, ["ACK", "FIN"], second=7.110, reply=True, point=in_point, n=4),
    ]


def lines(events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)


# --- this chapter's scenarios -----------------------------------------------------------------

FILE_TEST = "test_the_sides_node_writes_the_requests_flows_to_its_export_file"
CONFIG_TEST = "test_the_agent_configuration_exports_every_flow_unfiltered_to_eventslog"
ROTATION_TEST = "test_every_node_keeps_its_export_file_within_the_rotation_limits"
#: row -> the webpod that answers that row's request
FILE_ROWS = {"client": "webpod-697b545f57-ntmqj", "server": "webpod-697b545f57-b2xst"}
MB = 1024 * 1024


def export_files(node: str, backups: int | None = None) -> str:
    """`find /var/run/cilium/hubble -maxdepth 1 -type f -printf '%s %f\\n'` (reconstructed:
    the seed shows the path, 10 MB / 5 backups, not a listing)."""
    default = {"k8s-ctr": 2, "k8s-w1": 1, "k8s-w2": 0}[node]
    count = default if backups is None else backups
    rotated = [f"{10 * MB - 1317 - 211 * i} events-2025-07-26T0{1 + i // 6}-{10 + 7 * (i % 6):02d}-41.{503 + i}.log"
               for i in range(count)]
    size = {"k8s-ctr": 7349215, "k8s-w1": 3912040, "k8s-w2": 8801377}[node]
    return "\n".join([f"{size} events.log", *rotated]) + "\n"


def file_scenario(side: str) -> tuple[Scenario, traffic.Request, str]:
    sc = Scenario(f"{FILE_TEST}[{side}]", SEED)
    start_workloads(sc)
    req = request(sc.ns)
    server = FILE_ROWS[side]
    send(sc, req, answered(req, server), "seed 2527 `Hostname: webpod-` (kubectl exec curl-pod -- curl webpod: Hostname: webpod-...)")
    return sc, req, server


def file_calls(side: str, *, flows: bool = True, exists: bool = True) -> list[dict[str, Any]]:
    sc, req, server = file_scenario(side)
    node = CURL_POD_NODE if side == "client" else WEBPODS[server][0]
    sc.add("k8s_get", "seed 2502-2503 `webpod-697b545f57-` `webpod-697b545f57-` (webpod pods, their IPs and so their nodes; endpoints at 2493)", [value(webpod_obj(sc.ns, server))],
           api_version="v1", kind="Pod", name=server, namespace=sc.ns)
    events = []
    if node == CURL_POD_NODE:
        events.append(dns_flow(sc.ns, 41327, 7.093))
    if flows:
        events += request_flows(sc.ns, req, server, node)
    if exists:
        results = [cmd(""), cmd(lines(events))]
    else:
        results = [cmd("", rc=export_probe.NO_FILE_RC, stderr=f"no such file: {export_probe.EXPORT_FILE}\n")]
    sc.add("pod_exec", "seed 2258-2259 `events.log` `events.log` (tail of events.log: JSON flow events of that node; "
           "first read before the flows were written: reconstructed 'not yet')", results,
           namespace=KS, pod=AGENT_PODS[node], container="cilium-agent",
           command=export_probe.tail_command(sc.ns))
    return sc.teardown()


def _own_calls() -> list[dict[str, Any]]:
    out = [call("pod_exec", "seed 2306 `events.log` (events.log rotated at 10 MB, 5 backups kept; listing reconstructed)",
                [cmd(export_files(n))], HUBBLE, namespace=KS, pod=AGENT_PODS[n], container="cilium-agent",
                command=export_probe.LIST_COMMAND) for n in NODES]
    for side in FILE_ROWS:
        out += file_calls(side)
    return out


def calls() -> list[dict[str, Any]]:
    return beyond_hubble(_own_calls())


def mutants() -> dict[str, dict[str, Any]]:
    ref = _own_calls() + hubble_calls()
    config = {"api_version": "v1", "kind": "ConfigMap", "name": "cilium-config", "namespace": KS}

    def file_mutant(side: str, **kw: Any) -> list[dict[str, Any]]:
        mutated = [c for c in file_calls(side, **kw) if c["op"] == "pod_exec" and c["args"]["namespace"] == KS]
        return [{**c, "seed": f"MUTATED ({c['seed']})"} for c in mutated]

    return {
        "export-file-path-elsewhere": {
            "breaks": "the agent exports flows to /var/log/hubble/events.log",
            "expect": [CONFIG_TEST, "test_the_agent_configuration_turns_hubble_on"],
            "message": "hubble-export-file-path: expected '/var/run/cilium/hubble/events.log', saw '/var/log/hubble/events.log'",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(_cm_with(HUBBLE_CONFIG, **{
                "hubble-export-file-path": "/var/log/hubble/events.log"}))], **config)]},
        "export-denylist-drops-verdicts": {
            "breaks": "the exporter's deny list leaves DROPPED flows out of the file",
            "expect": [CONFIG_TEST],
            "message": "hubble-export-denylist: expected '', saw '{\"verdict\":[\"DROPPED\"]}'",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(_cm_with(HUBBLE_CONFIG, **{
                "hubble-export-denylist": '{"verdict":["DROPPED"]}'}))], **config)]},
        "export-too-many-backups-on-w1": {
            "breaks": "k8s-w1 keeps 7 rotated export files instead of 5",
            "expect": [ROTATION_TEST],
            "message": "expected at most 5 rotated backups on k8s-w1, saw 7",
            "calls": [_replace(ref, "pod_exec", HUBBLE, [cmd(export_files("k8s-w1", backups=7))], namespace=KS,
                               pod=AGENT_PODS["k8s-w1"], container="cilium-agent",
                               command=export_probe.LIST_COMMAND)]},
        "export-no-events-log-on-w2": {
            "breaks": "k8s-w2's agent writes no export file (its export directory is empty)",
            "expect": [ROTATION_TEST],
            "message": "no events.log in /var/run/cilium/hubble on k8s-w2 (saw nothing)",
            "calls": [_replace(ref, "pod_exec", HUBBLE, [cmd("")], namespace=KS,
                               pod=AGENT_PODS["k8s-w2"], container="cilium-agent",
                               command=export_probe.LIST_COMMAND)]},
        "export-client-node-misses-the-request": {
            "breaks": "k8s-ctr's export file lacks the flows of curl-pod's request",
            "expect": [f"{FILE_TEST}[client]"],
            "message": "expected flows of request reference-",
            "calls": file_mutant("client", flows=False)},
        "export-server-node-writes-no-file": {
            "breaks": "the agent on k8s-w2 writes no export file",
            "expect": [f"{FILE_TEST}[server]"],
            "message": "no export file on k8s-w2 (no such file: /var/run/cilium/hubble/events.log)",
            "calls": file_mutant("server", exists=False)},
    }
