"""Chapter "L7 visibility through Envoy" (seed lines 2398-2533, 2740-2904): reference calls
and mutants, plus the webpod builders the redaction chapter (tools/reference/redaction.py)
reuses.

Every scenario works in a namespace of its own (cilab.plugin.scenario_namespace of its test
name); the seed's values are reused in each: the webpod pods webpod-697b545f57-b2xst
(172.20.2.207, k8s-w2) and -ntmqj (172.20.1.179, k8s-w1), curl-pod 172.20.0.241 on
k8s-ctr, identities 10292 (curl-pod) / 2460 (webpod) / 5694 (coredns), Service webpod
10.96.166.184 (seed 2487-2500), whoami's echo (seed 2933-2947), the Envoy headers
(seed 2846-2849) and the L7 flows (seed 2853-2872, 2951-2956).  Markers, pinned ports and
URLs come from cilab.probes.traffic itself, run for the replay's run id "reference".
Values the seed does not show (uids, timestamps, policy revisions, endpoint ids of the
workers, the drop flow's details) are reconstructed.
"""
from __future__ import annotations

import copy
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from cilab import manifests
from cilab.model import CommandResult
from cilab.plugin import scenario_namespace
from cilab.probes import policy as policy_probe
from cilab.probes import traffic
from cilab.transcript import call_key
from tools.reference.lab import *  # noqa: F401,F403
from tools.reference.lab import _replace

SEED = "seed lines 2398-2533, 2740-2904"
RUN_ID = "reference"

WEBPODS = {  # seed 2502-2503 (kubectl get ciliumendpoints), 2493 (endpoints)
    "webpod-697b545f57-b2xst": {"ip": "172.20.2.207", "node": "k8s-w2"},
    "webpod-697b545f57-ntmqj": {"ip": "172.20.1.179", "node": "k8s-w1"},
}
FIRST, SECOND = "webpod-697b545f57-b2xst", "webpod-697b545f57-ntmqj"  # seed 2527, 2530: who answered
CURL_IP, CURL_NODE = "172.20.0.241", "k8s-ctr"  # seed 2501
ID_CURL, ID_WEBPOD, ID_DNS = 10292, 2460, 5694  # seed 2497-2499, 2856-2871
EP_CURL = 1475  # seed 2510 (endpoint id of curl-pod on k8s-ctr)
EP_WEBPOD = {"k8s-w1": 3017, "k8s-w2": 812}  # reconstructed
EP_HOST = {"k8s-ctr": 703, "k8s-w1": 1201, "k8s-w2": 245}  # k8s-ctr: seed 2503; workers reconstructed
COREDNS = {"coredns-674b8bbfcf-2sbw2": ("172.20.0.51", 2609), "coredns-674b8bbfcf-p8kth": ("172.20.0.107", 1174)}  # seed 2504-2519
WEBPOD_IP = "10.96.166.184"  # seed 2490
POLICY_REVISION = {"k8s-ctr": 7, "k8s-w1": 5, "k8s-w2": 5}  # reconstructed
API_SERVER = ("192.168.10.100", 6443)  # kubernetes.default.svc -> the API server on k8s-ctr (seed 290-300)
KUBERNETES_SVC = ("10.96.0.1", 443)  # Service default/kubernetes, where curl connects (reconstructed: first IP of kubeadm's 10.96.0.0/12)
STARTED = "2025-07-25T19:48:16.802114377Z"  # reconstructed: curl-pod's clock as a request starts, before its flows (WHEN)
ENVOY_TIMEOUT_MS = "3600000"  # seed 2846
WHOAMI_IPS = {FIRST: ["127.0.0.1", "::1", "172.20.2.207", "fe80::60b4:70ff:fedb:6d"],  # seed 2934-2938
              SECOND: ["127.0.0.1", "::1", "172.20.1.179", "fe80::c8a1:3cff:fe52:1e0a"]}  # ntmqj's IPv6 reconstructed
CURL_VERSION = "curl/8.14.1"  # seed 2942
CREATED = "2025-07-25T19:47:02Z"  # reconstructed: curl-pod was created before the flows of seed 2853


def ns_of(test: str) -> str:
    return scenario_namespace(test)


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "cilab-reference/" + "/".join(parts)))


def _request_id(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, seed))


# --- objects ---------------------------------------------------------------------------------


def namespace_obj(ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "uid": _uid(ns), "labels": {
                "app.kubernetes.io/managed-by": "cilium-lab-conformance", "kubernetes.io/metadata.name": ns}},
            "status": {"phase": "Active"}}


def applied(manifest: dict[str, Any], ns: str) -> dict[str, Any]:
    """What server-side apply returns: the object with namespace and uid."""
    obj = copy.deepcopy(manifest)
    obj["metadata"]["namespace"] = ns
    obj["metadata"]["uid"] = _uid(ns, obj["kind"], obj["metadata"]["name"])
    return obj


def deployment_obj(ns: str, ready: int) -> dict[str, Any]:
    obj = applied(manifests.load("webpod/webpod.yaml")[0], ns)
    obj["metadata"]["generation"] = 1
    obj["status"] = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                     "readyReplicas": ready, "availableReplicas": ready}
    if not ready:
        for key in ("readyReplicas", "availableReplicas"):
            del obj["status"][key]
    return obj


def webpod_slice(ns: str, names: list[str] | None = None,
                 strangers: dict[str, str] | None = None) -> dict[str, Any]:
    """EndpointSlice webpod-97xpr (seed 2497): the ready endpoints of `names` (all webpods by
    default), plus `strangers` (ip -> node: addresses that are no webpod pod, for mutants)."""
    chosen = {n: WEBPODS[n] for n in (names if names is not None else WEBPODS)}
    rows = [(p["ip"], p["node"], {"kind": "Pod", "name": n, "namespace": ns}) for n, p in chosen.items()]
    rows += [(ip, node, None) for ip, node in (strangers or {}).items()]
    endpoints = []
    for ip, node, ref in sorted(rows, key=lambda r: r[0]):
        ep: dict[str, Any] = {"addresses": [ip], "nodeName": node, "conditions": {"ready": True}}
        if ref is not None:
            ep["targetRef"] = ref
        endpoints.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "webpod-97xpr", "namespace": ns,  # seed 2491
                         "labels": {"kubernetes.io/service-name": "webpod", "app": "webpod"}},
            "addressType": "IPv4", "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
            "endpoints": endpoints}


def webpod_pod(ns: str, name: str, node: str | None = None) -> dict[str, Any]:
    p = WEBPODS[name]
    node = node or p["node"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": "webpod", "pod-template-hash": "697b545f57"}},
            "spec": {"nodeName": node, "containers": [{"name": "webpod", "image": "traefik/whoami"}]},
            "status": {"phase": "Running", "podIP": p["ip"], "hostIP": NODES[node]["ip"],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def curl_pod_obj(ns: str, phase: str = "Running") -> dict[str, Any]:
    obj = applied(manifests.load("webpod/curl-pod.yaml")[0], ns)
    obj["metadata"]["creationTimestamp"] = CREATED
    ready = "True" if phase == "Running" else "False"
    obj["status"] = {"phase": phase, "hostIP": NODES[CURL_NODE]["ip"],
                     "conditions": [{"type": "Ready", "status": ready}]}
    if phase == "Running":
        obj["status"]["podIP"] = CURL_IP
    return obj


def webpod_service(ns: str) -> dict[str, Any]:
    obj = applied(manifests.load("webpod/webpod.yaml")[1], ns)
    obj["spec"].update(clusterIP=WEBPOD_IP, clusterIPs=[WEBPOD_IP])
    return obj


def cnp_obj(ns: str) -> dict[str, Any]:
    obj = applied(manifests.load("webpod/l7_visibility_policy.yaml")[0], ns)
    obj["metadata"]["generation"] = 1
    obj["status"] = {"conditions": [{"type": "Valid", "status": "True",  # seed 2806-2811
                                     "lastTransitionTime": "2025-07-25T19:47:41Z",
                                     "message": "Policy validation succeeded"}]}
    return obj


def agent_rule(ns: str) -> dict[str, Any]:
    """The CNP as the agent holds it (`cilium-dbg policy get -o json`): namespace labels added
    to the selectors, the policy's labels attached (reconstructed)."""
    spec = copy.deepcopy(manifests.load("webpod/l7_visibility_policy.yaml")[0]["spec"])
    ns_label = {"k8s:io.kubernetes.pod.namespace": ns}
    spec["endpointSelector"] = {"matchLabels": dict(ns_label)}
    for rule in spec["egress"]:
        if "toEndpoints" in rule:
            rule["toEndpoints"] = [{"matchLabels": {"any:io.kubernetes.pod.namespace": ns}}]
    spec["labels"] = [{"key": "io.cilium.k8s.policy.derived-from", "value": "CiliumNetworkPolicy", "source": "k8s"},
                      {"key": "io.cilium.k8s.policy.name", "value": "l7-visibility", "source": "k8s"},
                      {"key": "io.cilium.k8s.policy.namespace", "value": ns, "source": "k8s"},
                      {"key": "io.cilium.k8s.policy.uid", "value": _uid(ns, "CiliumNetworkPolicy", "l7-visibility"),
                       "source": "k8s"}]
    return spec


def endpoint_json(ep_id: int, identity: int, labels: list[str], ipv4: str | None, revision: int,
                  enabled: str, ns: str | None = None, pod: str | None = None, state: str = "ready") -> dict[str, Any]:
    ext = {"k8s-namespace": ns, "k8s-pod-name": pod} if pod else {}
    return {"id": ep_id, "spec": {},
            "status": {"state": state, "identity": {"id": identity, "labels": labels},
                       "external-identifiers": ext,
                       "networking": {"addressing": [{"ipv4": ipv4}] if ipv4 else []},
                       "labels": {"security-relevant": labels},
                       "policy": {"realized": {"policy-enabled": enabled, "policy-revision": revision}}}}


def pod_labels(ns: str, app: str) -> list[str]:
    return [f"k8s:app={app}", f"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={ns}",
            "k8s:io.cilium.k8s.policy.cluster=default", "k8s:io.cilium.k8s.policy.serviceaccount=default",
            f"k8s:io.kubernetes.pod.namespace={ns}"]


DNS_LABELS = ["k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=kube-system",  # seed 2504-2508
              "k8s:io.cilium.k8s.policy.cluster=default", "k8s:io.cilium.k8s.policy.serviceaccount=coredns",
              "k8s:io.kubernetes.pod.namespace=kube-system", "k8s:k8s-app=kube-dns"]


def endpoint_list(ns: str, node: str, *, curl_state: str = "ready", lag: int = 0) -> str:
    """`cilium-dbg endpoint list -o json` on one agent, with the policy realised (seed 2501-2519
    for k8s-ctr; the workers' lists and every revision are reconstructed)."""
    rev = POLICY_REVISION[node]
    eps = [endpoint_json(EP_HOST[node], 1, ["reserved:host"], None, rev, "none")]
    if node == CURL_NODE:
        eps += [endpoint_json(ep, ID_DNS, DNS_LABELS, ip, rev, "none") for ip, ep in sorted(COREDNS.values())]
        eps.append(endpoint_json(EP_CURL, ID_CURL, pod_labels(ns, "curl"), CURL_IP, rev - lag, "egress",
                                 ns, "curl-pod", curl_state))
    for name, p in WEBPODS.items():
        if p["node"] == node:
            eps.append(endpoint_json(EP_WEBPOD[node], ID_WEBPOD, pod_labels(ns, "webpod"), p["ip"], rev,
                                     "egress", ns, name))
    return json.dumps(eps, indent=2) + "\n"


# --- whoami and curl ------------------------------------------------------------------------------


def whoami_body(pod: str, target: str, port: int, *, envoy: bool, request_id: str) -> str:
    """whoami's answer (seed 2933-2947): its own lines, then the request it received as Go's
    Request.Write prints it (CRLF lines, Host and User-Agent first, the rest sorted)."""
    head = [f"Hostname: {pod}"] + [f"IP: {ip}" for ip in WHOAMI_IPS[pod]] + [f"RemoteAddr: {CURL_IP}:{port}"]
    req = [f"GET {target} HTTP/1.1", "Host: webpod", f"User-Agent: {CURL_VERSION}", "Accept: */*"]
    if envoy:
        req += [f"X-Envoy-Expected-Rq-Timeout-Ms: {ENVOY_TIMEOUT_MS}", "X-Envoy-Internal: true",
                "X-Forwarded-Proto: http", f"X-Request-Id: {request_id}"]
    return "\n".join(head) + "\n" + "\r\n".join(req) + "\r\n\r\n"


class _Capture:
    """Stands in for the Lab so that cilab.probes.traffic builds the exact call the suite makes."""

    info: ClassVar[dict[str, str]] = {"run_id": RUN_ID}

    def __init__(self) -> None:
        self.args: dict[str, Any] = {}

    def exec(self, namespace: str, pod: str, container: str | None, command: list[str],
             timeout: float = 30.0, scope: str | None = None, typed: str | None = None) -> CommandResult:
        self.args = {"namespace": namespace, "pod": pod, "command": list(command)}
        if container is not None:
            self.args["container"] = container
        return CommandResult("", "", 28)

    def when_ready(self, call: Any, *, what: str, budget: Any = "default") -> Any:
        return call()


def answer(sent: "Sent", body: str, started: str | None = None, status: int = 200) -> dict[str, Any]:
    """curl-pod's output (traffic.curl_argv's shape) for a request answered with `body`."""
    host = urlsplit(sent.req.url).hostname or "webpod"
    address, port = KUBERNETES_SVC if host.startswith("kubernetes.") else (WEBPOD_IP, 80)
    return curl_out(netshoot_start(started or STARTED), CURL_IP, body=body, status=status, host=host, address=address, port=port)


@dataclass
class Sent:
    """One request of a scenario: the suite's Request and the pod_exec args it sends."""

    req: traffic.Request
    args: dict[str, Any]

    @property
    def target(self) -> str:
        parts = self.req.url.split("://", 1)[1]
        return "/" + parts.split("/", 1)[1] if "/" in parts else "/"


# --- Hubble flows ------------------------------------------------------------------------------------


def _ep(ns: str | None, pod: str | None, identity: int, labels: list[str], ep_id: int | None = None,
        workload: tuple[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ep_id:
        out["ID"] = ep_id
    out["identity"] = identity
    if ns:
        out["namespace"] = ns
    out["labels"] = labels
    if pod:
        out["pod_name"] = pod
    if workload:
        out["workloads"] = [{"name": workload[0], "kind": workload[1]}]
    return out


def _line(flow: dict[str, Any], node: str = CURL_NODE) -> str:
    return json.dumps({"flow": flow, "node_name": node, "time": flow["time"]}, separators=(",", ":"))


def _flow_uuid(*parts: Any) -> str:
    return _uid("flow", *(str(p) for p in parts))


def dns_flows(ns: str, when: str, port: int, *, coredns: str = "coredns-674b8bbfcf-p8kth",
              drop: tuple[tuple[str, str], ...] = (), ttl: int = 30) -> list[str]:
    """curl-pod's lookup of webpod through the DNS proxy: A and AAAA queries and answers
    (seed 2853-2862, 2951-2954, 2994-2997).  `drop` leaves out e.g. ("RESPONSE", "A"); `ttl`:
    the A answer's TTL (a mutant)."""
    query = f"webpod.{ns}.svc.cluster.local."
    dns_ip = COREDNS[coredns][0]
    client = _ep(ns, "curl-pod", ID_CURL, pod_labels(ns, "curl"), EP_CURL)
    server = _ep("kube-system", coredns, ID_DNS, DNS_LABELS, None, ("coredns", "Deployment"))
    lines = []
    for i, (kind, qtype) in enumerate((("REQUEST", "A"), ("REQUEST", "AAAA"), ("RESPONSE", "A"), ("RESPONSE", "AAAA"))):
        if (kind, qtype) in drop:
            continue
        t = f"{when}.{851 + i // 2:03d}{i:03d}000Z"
        request = kind == "REQUEST"
        dns: dict[str, Any] = {"query": query}
        if not request:
            if qtype == "A":
                dns.update(ips=[WEBPOD_IP], ttl=ttl, rrtypes=["A"])
            else:
                dns["ttl"] = 4294967295
        dns.update(observation_source="proxy", qtypes=[qtype])
        if request:
            summary = f"DNS Query {query} {qtype}"
        elif qtype == "A":
            summary = f'DNS Answer "{WEBPOD_IP}" TTL: {ttl} (Proxy {query} A)'
        else:
            summary = f"DNS Answer  TTL: 4294967295 (Proxy {query} AAAA)"
        flow = {"time": t, "uuid": _flow_uuid(ns, when, kind, qtype), "verdict": "FORWARDED",
                "IP": {"source": CURL_IP if request else dns_ip, "destination": dns_ip if request else CURL_IP,
                       "ipVersion": "IPv4"},
                "l4": {"UDP": {"source_port": port if request else 53, "destination_port": 53 if request else port}},
                "source": client if request else server, "destination": server if request else client,
                "Type": "L7", "node_name": CURL_NODE,
                "l7": {"type": kind, **({} if request else {"latency_ns": "1204000"}), "dns": dns},
                "event_type": {"type": 129}, "traffic_direction": "EGRESS", "is_reply": not request,
                "Summary": summary}
        lines.append(_line(flow))
    return lines


def http_flows(ns: str, when: str, sent: Sent, pod: str, *, url: str | None = None, code: int = 200,
               redacted_headers: bool = False) -> list[str]:
    """The http-request and http-response Envoy reports for one request (seed 2864-2872,
    2955-2956, 2998-2999); `url` overrides the URL shown (redaction)."""
    url = url if url is not None else sent.req.url
    p = WEBPODS[pod]
    port = sent.req.local_port
    client = _ep(ns, "curl-pod", ID_CURL, pod_labels(ns, "curl"), EP_CURL)
    server = _ep(ns, pod, ID_WEBPOD, pod_labels(ns, "webpod"), EP_WEBPOD[p["node"]], ("webpod", "Deployment"))
    rid = _request_id(sent.req.marker)
    headers = [("Accept", "*/*"), ("User-Agent", CURL_VERSION), ("X-Envoy-Internal", "true"),
               ("X-Forwarded-Proto", "http"), ("X-Request-Id", rid)]
    req_headers = [{"key": k, "value": "HUBBLE_REDACTED" if redacted_headers else v} for k, v in headers]
    resp_headers = [{"key": k, "value": "HUBBLE_REDACTED" if redacted_headers else v}
                    for k, v in (("Content-Length", "323"), ("Content-Type", "text/plain; charset=utf-8"),
                                 ("Date", "Fri, 25 Jul 2025 19:48:16 GMT"), ("X-Request-Id", rid))]
    request = {"time": f"{when}.855000000Z", "uuid": _flow_uuid(ns, sent.req.marker, "request"),
               "verdict": "FORWARDED",
               "IP": {"source": CURL_IP, "destination": p["ip"], "ipVersion": "IPv4"},
               "l4": {"TCP": {"source_port": port, "destination_port": 80}},
               "source": client, "destination": server, "Type": "L7", "node_name": CURL_NODE,
               "l7": {"type": "REQUEST", "http": {"method": "GET", "url": url, "protocol": "HTTP/1.1",
                                                  "headers": req_headers}},
               "event_type": {"type": 129}, "traffic_direction": "EGRESS", "is_reply": False,
               "Summary": f"HTTP/1.1 GET {url}"}
    response = {"time": f"{when}.859000000Z", "uuid": _flow_uuid(ns, sent.req.marker, "response"),
                "verdict": "FORWARDED",
                "IP": {"source": p["ip"], "destination": CURL_IP, "ipVersion": "IPv4"},
                "l4": {"TCP": {"source_port": 80, "destination_port": port}},
                "source": server, "destination": client, "Type": "L7", "node_name": CURL_NODE,
                "l7": {"type": "RESPONSE", "latency_ns": "4000000",
                       "http": {"code": code, "method": "GET", "url": url, "protocol": "HTTP/1.1",
                                "headers": resp_headers}},
                "event_type": {"type": 129}, "traffic_direction": "EGRESS", "is_reply": True,
                "Summary": f"HTTP/1.1 {code} 4ms (GET {url})"}
    return [_line(request), _line(response)]


DROP_WHEN = "2025-07-25T19:49:02"  # reconstructed: the denied request's SYNs


def drop_flows(ns: str, sent: Sent, when: str = DROP_WHEN) -> list[str]:
    """curl-pod's SYN to the API server dropped by the policy, and its retransmission
    (reconstructed: the seed shows no drop of this chapter; shape per hubble-1.17-formats §1.4)."""
    lines = []
    for i, t in enumerate((f"{when}.120000000Z", f"{when[:-2]}{int(when[-2:]) + 1:02d}.124000000Z")):
        flow = {"time": t,
                "uuid": _flow_uuid(ns, sent.req.marker, "drop", i), "verdict": "DROPPED", "drop_reason": 133,
                "IP": {"source": CURL_IP, "destination": API_SERVER[0], "ipVersion": "IPv4"},
                "l4": {"TCP": {"source_port": sent.req.local_port, "destination_port": API_SERVER[1],
                               "flags": {"SYN": True}}},
                "source": _ep(ns, "curl-pod", ID_CURL, pod_labels(ns, "curl"), EP_CURL),
                "destination": _ep(None, None, 1, ["reserved:host", "reserved:kube-apiserver"]),
                "Type": "L3_L4", "node_name": CURL_NODE, "event_type": {"type": 1, "sub_type": 133},
                "traffic_direction": "EGRESS", "drop_reason_desc": "POLICY_DENIED", "Summary": "TCP Flags: SYN"}
        lines.append(_line(flow))
    return lines


def jsonl(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def observe_args(ns: str, *filters: str, agent: str = AGENT_PODS["k8s-ctr"]) -> dict[str, Any]:
    return {"namespace": KS, "pod": agent, "container": "cilium-agent",
            "command": ["hubble", "observe", "--server", f"{SVC_IPS['hubble-relay']}:80", "-o", "jsonpb",
                        "--last", "1000", "--namespace", ns, *filters]}


def dns_port(ns: str, n: int = 1) -> int:
    """The resolver's UDP source port of curl's n-th lookup (reconstructed, stable per namespace)."""
    return 30000 + int(hashlib.sha1(f"{ns}/dns/{n}".encode()).hexdigest(), 16) % 20000


# --- one scenario ------------------------------------------------------------------------------------


@dataclass
class Scene:
    """The calls of one scenario, built in the order its steps make them, with the lab state
    each call runs in (stages plus `<ns>:<label>` for what the scenario applied)."""

    test: str
    stages: list[str] = field(default_factory=lambda: list(HUBBLE))
    labels: list[str] = field(default_factory=list)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ns = ns_of(self.test)
        traffic.reset_counters()

    def state(self, scoped: bool = True) -> list[str]:
        labels = [f"{self.ns}:{l}" for l in self.labels] if scoped else []
        return sorted(set(self.stages) | set(labels))

    def add(self, op: str, seed: str, results: list[dict[str, Any]], *, scoped: bool = True,
            **args: Any) -> dict[str, Any]:
        entry = call(op, seed, results, self.state(scoped), **args)
        key = call_key(op, entry["args"], entry["state"])
        old = self.calls.get(key)
        if old is not None:
            if old["results"] != results:
                raise SystemExit(f"{self.test}: {op} {args} in {entry['state']} made twice with different answers")
            return old
        self.calls[key] = entry
        return entry

    # -- the scenario's namespace (cilab.plugin / tests.steps.common scenario_ns) -------------------------
    def namespace(self) -> None:
        ns = self.ns
        self.add("k8s_delete", "reconstructed (no leftover namespace)", [value(False)], scoped=False,
                 api_version="v1", kind="Namespace", name=ns)
        self.add("k8s_get", "reconstructed (namespace gone)", [value(None)], scoped=False,
                 api_version="v1", kind="Namespace", name=ns)
        manifest = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"app.kubernetes.io/managed-by": "cilium-lab-conformance"}}}
        self.add("k8s_apply", "reconstructed (namespace created)", [value(namespace_obj(ns))], manifest=manifest)
        self.labels.append(f"Namespace/{ns}")

    def teardown(self) -> None:
        self.add("k8s_delete", "reconstructed (namespace deleted at teardown)", [value(True)],
                 api_version="v1", kind="Namespace", name=self.ns)

    def apply(self, relpath: str, results: list[dict[str, Any]], seed: str) -> None:
        for obj, result in zip(manifests.load(relpath), results):
            self.add("k8s_apply", seed, [value(result)], manifest=obj, namespace=self.ns)
            if relpath not in self.labels:
                self.labels.append(relpath)

    # -- webpod and curl-pod ------------------------------------------------------------------------------
    def webpod(self, pods: dict[str, str] | None = None) -> None:
        ns = self.ns
        wp = manifests.load("webpod/webpod.yaml")
        self.apply("webpod/webpod.yaml", [applied(wp[0], ns), webpod_service(ns)],
                   "seed 2410-2445 `webpod` `webpod` (deployment.apps/webpod, service/webpod created)")
        self.apply("webpod/curl-pod.yaml", [applied(manifests.load("webpod/curl-pod.yaml")[0], ns)],
                   "seed 2456-2469 `v1` `terminationGracePeriodSeconds` (pod/curl-pod created)")
        self.add("k8s_get", "seed 2487 `webpod` (webpod 2/2; 0/2 first: reconstructed 'not yet')",
                 [value(deployment_obj(ns, 0)), value(deployment_obj(ns, 2))],
                 api_version="apps/v1", kind="Deployment", name="webpod", namespace=ns)
        self.webpod_pods()
        self.add("k8s_list", "seed 2493 `172.20.1.179`, 2497 `172.20.2.207` (endpoints 172.20.1.179:80, 172.20.2.207:80; 172.20.2.207 alone "
                 "first: reconstructed lag of the EndpointSlice controller)",
                 [value([webpod_slice(ns, [FIRST])]), value([webpod_slice(ns)])],
                 api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=ns,
                 label_selector="kubernetes.io/service-name=webpod")
        self.add("k8s_get", "seed 2501 `172.20.0.241` (curl-pod 172.20.0.241; pinned to k8s-ctr by its manifest; creationTimestamp reconstructed)",
                 [value(curl_pod_obj(ns))], api_version="v1", kind="Pod", name="curl-pod", namespace=ns)

    def webpod_pods(self, nodes: dict[str, str] | None = None) -> dict[str, Any]:
        nodes = nodes or {}
        return self.add("k8s_list", "seed 2502-2503 `webpod-697b545f57-b2xst` `webpod-697b545f57-ntmqj` (webpod pods on k8s-w1 and k8s-w2)",
                        [value([webpod_pod(self.ns, n, nodes.get(n)) for n in sorted(WEBPODS)])],
                        api_version="v1", kind="Pod", namespace=self.ns, label_selector="app=webpod")

    def service(self) -> None:
        self.add("k8s_get", "seed 2490 `10.96.166.184` (service/webpod ClusterIP 10.96.166.184)", [value(webpod_service(self.ns))],
                 api_version="v1", kind="Service", name="webpod", namespace=self.ns)

    # -- the policy and its realisation (cilab.probes.policy.wait_policy_realised) -------------------------
    def policy(self) -> None:
        self.apply("webpod/l7_visibility_policy.yaml", [cnp_obj(self.ns)],
                   "seed 2759-2785 `cilium.io/v2` `http` (ciliumnetworkpolicy.cilium.io/l7-visibility created)")
        self.policy_realised(AGENT_PODS)

    def policy_realised(self, agents: dict[str, str]) -> None:
        ns = self.ns
        self.add("k8s_get", "seed 2806-2814 `l7-visibility` `Valid` (Valid: Policy validation succeeded; uid reconstructed)",
                 [value(cnp_obj(ns))], api_version="cilium.io/v2", kind="CiliumNetworkPolicy",
                 name="l7-visibility", namespace=ns)
        uid = _uid(ns, "CiliumNetworkPolicy", "l7-visibility")
        for node, agent in agents.items():
            doc = {"policy": json.dumps([agent_rule(ns)], indent=2), "revision": POLICY_REVISION[node]}
            self.add("pod_exec", "reconstructed (the agent holds l7-visibility; revision reconstructed)",
                     [cmd(json.dumps(doc, indent=2) + "\n")], namespace=KS, pod=agent, container="cilium-agent",
                     command=policy_probe.policy_get_command(ns, "l7-visibility", uid))
            results = [cmd(endpoint_list(ns, node))]
            if node == CURL_NODE:  # curl-pod's endpoint regenerates first: reconstructed "not yet"
                results.insert(0, cmd(endpoint_list(ns, node, curl_state="regenerating", lag=1)))
            self.add("pod_exec", "seed 2519 `io.cilium.k8s.policy.serviceaccount` (endpoints; policy revisions reconstructed)", results,
                     namespace=KS, pod=agent, container="cilium-agent", command=list(policy_probe.ENDPOINT_LIST))

    # -- requests -------------------------------------------------------------------------------------------
    def new_request(self, url: str, marker_param: str | None = "cilab", extra: tuple[str, ...] = ()) -> Sent:
        cap = _Capture()
        req = traffic.new_request(cap, self.ns, "curl-pod", "GET", url, marker_param=marker_param)  # type: ignore[arg-type]
        traffic.send(cap, req, extra=extra)  # type: ignore[arg-type]
        sent = Sent(req, cap.args)
        self.sent.append(sent)
        return sent

    def request(self, url: str, pod: str, *, envoy: bool, seed: str, marker_param: str = "cilab",
                body: str | None = None, started: str | None = None) -> Sent:
        sent = self.new_request(url, marker_param)
        body = body if body is not None else whoami_body(pod, sent.target, sent.req.local_port, envoy=envoy,
                                                         request_id=_request_id(sent.req.marker))
        self.add("pod_exec", seed + "; start line reconstructed (curl-pod's clock just before its flows)",
                 [answer(sent, body, started)], **sent.args)
        return sent

    def observe(self, seed: str, results: list[str], *filters: str, agent: str = AGENT_PODS["k8s-ctr"]) -> None:
        self.add("pod_exec", seed, [cmd(r) for r in results], **observe_args(self.ns, *filters, agent=agent))


# --- the scenarios -------------------------------------------------------------------------------------

T_SPREAD = "test_both_webpod_replicas_answer_curlpod"
T_ENVOY = "test_with_the_l7visibility_policy_requests_go_through_envoy"
T_EVERY_ENVOY = "test_with_the_l7visibility_policy_each_webpod_replica_answers_through_envoy"
T_DNS = "test_hubble_shows_curlpods_dns_lookup_of_webpod_through_the_dns_proxy"
T_HTTP = "test_hubble_shows_the_http_request_and_response_of_one_request"
T_DROP = "test_egress_the_policy_does_not_list_is_dropped"
WHEN = "2025-07-25T19:48:16"  # seed 2853-2872
EARLIER = "2025-07-25T19:41:10"  # reconstructed: an earlier run, before this run's curl-pod (CREATED)
API_URL = "https://kubernetes.default.svc.cluster.local/version"


def spread_scene() -> Scene:
    s = Scene(T_SPREAD)
    s.namespace()
    s.webpod()
    s.webpod_pods()
    s.request("http://webpod/", FIRST, envoy=False, seed="seed 2527 `Hostname: webpod-697b545f57-b2xst` (Hostname: webpod-697b545f57-b2xst; no policy)")
    s.request("http://webpod/", SECOND, envoy=False, seed="seed 2530 `Hostname: webpod-697b545f57-ntmqj` (Hostname: webpod-697b545f57-ntmqj)")
    s.teardown()
    return s


def envoy_scene() -> Scene:
    s = Scene(T_ENVOY)
    s.namespace()
    s.webpod()
    s.policy()
    s.request("http://webpod/", FIRST, envoy=True, seed="seed 2843-2849 `Hostname: webpod-697b545f57-b2xst` `X-Request-Id` (through Envoy: X-Envoy-* headers)")
    s.webpod_pods()
    s.teardown()
    return s


def every_envoy_scene() -> Scene:
    s = Scene(T_EVERY_ENVOY)
    s.namespace()
    s.webpod()
    s.policy()
    s.webpod_pods()
    s.request("http://webpod/", FIRST, envoy=True, seed="seed 2843-2849 `Hostname: webpod-697b545f57-b2xst` `X-Request-Id` (through Envoy: X-Envoy-* headers)")
    s.request("http://webpod/", SECOND, envoy=True, seed="seed 2530 `Hostname: webpod-697b545f57-ntmqj` (the other replica; "
              "through Envoy, its X-Envoy-* headers as in seed 2846-2849)")
    s.teardown()
    return s


def earlier_run(ns: str) -> list[str]:
    """Flows an earlier run of the same scenario left in the ring buffer (same namespace
    name, older than this run's curl-pod, another run id in the marker): reconstructed, so
    that the replay shows they never count."""
    marker = "3f9a1c2e-5d41b2a0"
    req = traffic.Request(ns, "curl-pod", "GET", f"http://webpod/?cilab={marker}", marker, 41877)
    return dns_flows(ns, EARLIER, dns_port(ns, 0)) + http_flows(ns, EARLIER, Sent(req, {}), SECOND)


def dns_scene() -> Scene:
    s = Scene(T_DNS)
    s.namespace()
    s.webpod()
    s.policy()
    sent = s.request("http://webpod/", FIRST, envoy=True, seed="seed 2843-2849 `Hostname: webpod-697b545f57-b2xst` `X-Request-Id` (through Envoy)")
    flows = dns_flows(s.ns, WHEN, dns_port(s.ns)) + http_flows(s.ns, WHEN, sent, FIRST)
    s.observe("seed 2854-2862 `10292` `10.96.166.184` (dns-request/dns-response proxy FORWARDED; first only an earlier run's flows: "
              "reconstructed 'not yet')", [jsonl(earlier_run(s.ns)), jsonl(earlier_run(s.ns) + flows)], "--type", "l7")
    s.service()
    s.teardown()
    return s


def http_scene() -> Scene:
    s = Scene(T_HTTP)
    s.namespace()
    s.webpod()
    s.policy()
    sent = s.request("http://webpod/", FIRST, envoy=True, seed="seed 2843-2849 `Hostname: webpod-697b545f57-b2xst` `X-Request-Id` (through Envoy)")
    s.observe("seed 2864-2872 `10292` `200` (http-request FORWARDED, http-response FORWARDED 200; an earlier run's flows too)",
              [jsonl(earlier_run(s.ns) + dns_flows(s.ns, WHEN, dns_port(s.ns)) + http_flows(s.ns, WHEN, sent, FIRST))],
              "--type", "l7")
    s.webpod_pods()
    s.teardown()
    return s


def drop_scene() -> Scene:
    s = Scene(T_DROP)
    s.namespace()
    s.webpod()
    s.policy()
    sent = s.new_request(API_URL, extra=("-k",))
    s.add("pod_exec", "reconstructed (seed 2757 and 2891 state that egress not listed is dropped; the seed prints no curl output for it: the connect attempt to the API server's "
          "ClusterIP times out, exit 28; message and start line reconstructed)",
          [curl_out(netshoot_start(f"{DROP_WHEN}.101532804Z"), CURL_IP, status=None, rc=28, connected=False,
                    address=KUBERNETES_SVC[0], port=KUBERNETES_SVC[1],
                    error=connect_timeout_error("kubernetes.default.svc.cluster.local", KUBERNETES_SVC[1]))],
          **sent.args)
    s.observe("reconstructed (Policy denied DROPPED, TCP Flags: SYN; hubble-1.17-formats §1.4)",
              [jsonl(drop_flows(s.ns, sent))], "--type", "drop")
    s.teardown()
    return s


SCENES = {T_SPREAD: spread_scene, T_ENVOY: envoy_scene, T_DNS: dns_scene, T_HTTP: http_scene, T_DROP: drop_scene,
          T_EVERY_ENVOY: every_envoy_scene}


def calls() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for build in SCENES.values():
        out += list(build().calls.values())
    return out


# --- mutants: each breaks one documented behaviour ----------------------------------------------------


def _entry(scene: Scene, sent: Sent, results: list[dict[str, Any]], seed: str = "MUTATED") -> dict[str, Any]:
    return {"op": "pod_exec", "seed": seed, "args": sent.args, "state": scene.state(), "results": results}


#: Envoy's local reply when its connect to the upstream host fails (EHOSTUNREACH, errno 113);
#: the text of Envoy's router (upstream_request.cc / router.cc), reconstructed
ENVOY_UPSTREAM_113 = ("upstream connect error or disconnect/reset before headers. reset reason: connection failure, "
                      "transport failure reason: delayed connect error: 113")


def _envoy_fails(scene: Scene) -> list[dict[str, Any]]:
    """The first request of `scene` (to FIRST) answered by Envoy itself with HTTP 503, its
    upstream connect error; Hubble shows the attempt's http-request to FIRST and Envoy's 503;
    the webpod pods as the step reads them to name the backend's node."""
    sent = scene.sent[0]
    flows = http_flows(scene.ns, WHEN, sent, FIRST, code=503)
    return [_entry(scene, sent, [answer(sent, ENVOY_UPSTREAM_113, status=503)],
                   seed="MUTATED (Envoy cannot connect to the replica the socket LB chose: its own 503)"),
            {"op": "pod_exec", "seed": "MUTATED (the attempt's http-request to the replica and Envoy's 503)",
             "args": observe_args(scene.ns), "state": scene.state(), "results": [cmd(jsonl(flows))]},
            call("k8s_list", "MUTATED (the webpod pods, as in the reference)",
                 [value([webpod_pod(scene.ns, n) for n in sorted(WEBPODS)])], scene.state(),
                 api_version="v1", kind="Pod", namespace=scene.ns, label_selector="app=webpod")]


def mutants() -> dict[str, dict[str, Any]]:
    ref = calls()
    spread, envoy, dns, http, drop, every_envoy = (build() for build in SCENES.values())
    more = Scene(T_SPREAD)  # requests 3..12 of the spread scenario, never made by the reference
    more.labels = list(spread.labels)
    extra = [more.new_request("http://webpod/") for _ in range(12)]
    same_pod = [_entry(spread, s, [answer(s, whoami_body(FIRST, s.target, s.req.local_port, envoy=False,
                                                         request_id=""))])
                for s in extra[1:]]
    e_sent, h_sent, d_sent = envoy.sent[0], http.sent[0], drop.sent[0]
    dns_sent = dns.sent[0]
    return {
        "l7-envoy-upstream-fails-for-one-webpod": {
            "breaks": f"under the l7-visibility policy Envoy cannot reach {FIRST} (on {WEBPODS[FIRST]['node']}): it "
                      "answers its own HTTP 503 'upstream connect error ... delayed connect error: 113' for every "
                      "request the socket LB sends to that replica, while the other replica answers",
            "expect": [T_ENVOY, T_EVERY_ENVOY, T_DNS, T_HTTP],
            "message": "attempt 1 of 1 (from port ",
            "message_also": [f") reached a backend and failed (backend: {FIRST} on {WEBPODS[FIRST]['node']}): Envoy could "
                             f"not get an answer from the backend (HTTP 503 {ENVOY_UPSTREAM_113!r})"],
            "calls": [c for scene in (envoy, every_envoy, dns, http) for c in _envoy_fails(scene)]},
        "l7-only-one-webpod-answers": {
            "breaks": "the webpod Service sends every request to the same replica",
            "expect": [T_SPREAD],
            "message": "webpod-697b545f57-ntmqj never answered",
            "calls": same_pod},
        "l7-one-answer-through-envoy-without-policy": {
            "breaks": "without a policy, the second of the two answers (webpod-697b545f57-ntmqj's) went through Envoy",
            "expect": [T_SPREAD],
            "message": "but the answer of webpod-697b545f57-ntmqj (client port ",
            "message_also": ["whoami echoed Envoy headers: X-Envoy-Expected-Rq-Timeout-Ms"],
            "calls": [_entry(spread, spread.sent[1], [answer(spread.sent[1], whoami_body(
                SECOND, spread.sent[1].target, spread.sent[1].req.local_port, envoy=True,
                request_id=_request_id(spread.sent[1].req.marker)))])]},
        "l7-webpod-replicas-on-one-node": {
            "breaks": "both webpod replicas run on k8s-w1",
            "expect": [T_SPREAD],
            "message": "expected the 2 webpod pods on 2 different nodes",
            "calls": [_replace(ref, "k8s_list", spread.state(), [value([
                webpod_pod(spread.ns, n, "k8s-w1") for n in sorted(WEBPODS)])],
                api_version="v1", kind="Pod", namespace=spread.ns, label_selector="app=webpod")]},
        "l7-webpod-service-stale-endpoint": {
            "breaks": "the webpod Service keeps an endpoint that is no webpod pod (a deleted pod's address)",
            "expect": [T_SPREAD],
            # no request is sent before the Service's endpoints are exactly the webpod pods
            "message": "Service webpod: expected its endpoints to be exactly the webpod pods "
                       "172.20.1.179, 172.20.2.207, saw 172.20.1.179, 172.20.1.32, 172.20.2.207",
            "calls": [_replace(ref, "k8s_list", spread.state(), [value([
                webpod_slice(spread.ns, strangers={"172.20.1.32": "k8s-w1"})])],
                api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=spread.ns,
                label_selector="kubernetes.io/service-name=webpod")]},
        "l7-policy-not-valid": {
            "breaks": "the operator reports l7-visibility as not Valid",
            "expect": [T_ENVOY],
            "message": "CiliumNetworkPolicy l7-visibility: expected condition Valid True, saw False",
            "calls": [_replace(ref, "k8s_get", envoy.state(), [value({**cnp_obj(envoy.ns), "status": {"conditions": [
                {"type": "Valid", "status": "False", "lastTransitionTime": "2025-07-25T19:47:41Z",
                 "message": "Invalid CiliumNetworkPolicy spec: unsupported L7 rule"}]}})],
                api_version="cilium.io/v2", kind="CiliumNetworkPolicy", name="l7-visibility", namespace=envoy.ns)]},
        "l7-envoy-headers-absent": {
            "breaks": "with the l7-visibility policy the request does not go through Envoy (no X-Envoy-* headers)",
            "expect": [T_ENVOY],
            "message": "X-Envoy-Internal: expected 'true', absent",
            "calls": [_entry(envoy, e_sent, [answer(e_sent, whoami_body(FIRST, e_sent.target, e_sent.req.local_port,
                                                                        envoy=False, request_id=""))])]},
        "l7-dns-response-missing": {
            "breaks": "Hubble shows no dns-response for curl-pod's lookup of webpod",
            "expect": [T_DNS],
            "message": f"no dns-response for webpod.{dns.ns}.svc.cluster.local. A of curl-pod",
            "calls": [{"op": "pod_exec", "seed": "MUTATED", "args": observe_args(dns.ns, "--type", "l7"),
                       "state": dns.state(), "results": [cmd(jsonl(
                           earlier_run(dns.ns)
                           + dns_flows(dns.ns, WHEN, dns_port(dns.ns), drop=(("RESPONSE", "A"),))
                           + http_flows(dns.ns, WHEN, dns_sent, FIRST)))]}]},
        "l7-dns-answer-ttl-300": {
            "breaks": "the DNS answer for webpod lives 300 s, not the 30 s CoreDNS gives the cluster's names",
            "expect": [T_DNS],
            "message": f"dns-response of webpod.{dns.ns}.svc.cluster.local. A: expected TTL 30 s or less (CoreDNS's ttl "
                       "for the cluster's names), saw TTL 300 for ['10.96.166.184']",
            "calls": [{"op": "pod_exec", "seed": "MUTATED", "args": observe_args(dns.ns, "--type", "l7"),
                       "state": dns.state(), "results": [cmd(jsonl(
                           earlier_run(dns.ns) + dns_flows(dns.ns, WHEN, dns_port(dns.ns), ttl=300)
                           + http_flows(dns.ns, WHEN, dns_sent, FIRST)))]}]},
        "l7-dns-no-aaaa-query": {
            "breaks": "curl-pod's resolver asks only for the A record of webpod (no AAAA query)",
            "expect": [T_DNS],
            "message": f"no dns-request for webpod.{dns.ns}.svc.cluster.local. AAAA of curl-pod",
            "calls": [{"op": "pod_exec", "seed": "MUTATED", "args": observe_args(dns.ns, "--type", "l7"),
                       "state": dns.state(), "results": [cmd(jsonl(
                           earlier_run(dns.ns)
                           + dns_flows(dns.ns, WHEN, dns_port(dns.ns), drop=(("REQUEST", "AAAA"), ("RESPONSE", "AAAA")))
                           + http_flows(dns.ns, WHEN, dns_sent, FIRST)))]}]},
        "l7-http-response-503": {
            "breaks": "the http-response of the request has code 503",
            "expect": [T_HTTP],
            "message": "expected code 200 FORWARDED, saw code 503",
            "calls": [{"op": "pod_exec", "seed": "MUTATED", "args": observe_args(http.ns, "--type", "l7"),
                       "state": http.state(), "results": [cmd(jsonl(
                           earlier_run(http.ns) + dns_flows(http.ns, WHEN, dns_port(http.ns))
                           + http_flows(http.ns, WHEN, h_sent, FIRST, code=503)))]}]},
        "l7-http-response-missing": {
            "breaks": "Envoy reports the http-request of curl-pod's request but no http-response",
            "expect": [T_HTTP],
            "message": "no http-response of GET http://webpod/",
            "calls": [{"op": "pod_exec", "seed": "MUTATED", "args": observe_args(http.ns, "--type", "l7"),
                       "state": http.state(), "results": [cmd(jsonl(
                           earlier_run(http.ns) + dns_flows(http.ns, WHEN, dns_port(http.ns))
                           + http_flows(http.ns, WHEN, h_sent, FIRST)[:1]))]}]},
        "l7-egress-name-not-resolved": {
            "breaks": "curl-pod's request to the API server times out resolving its name, not at the policy",
            "expect": [T_DROP],
            "message": "expected the connection to be dropped by policy (the connect attempt to the resolved address "
                       "times out after 2 s, no answer); saw: could not resolve kubernetes.default.svc.cluster.local "
                       "(curl 28 after 2 s: Resolving timed out after 2000 milliseconds)",
            "calls": [_entry(drop, d_sent, [curl_out(netshoot_start(f"{DROP_WHEN}.101532804Z"), CURL_IP, status=None, rc=28,
                                                     connected=False, namelookup=0.0, total=2.0,
                                                     error="Resolving timed out after 2000 milliseconds")])]},
        "l7-egress-not-dropped": {
            "breaks": "with the l7-visibility policy curl-pod still reaches the Kubernetes API",
            "expect": [T_DROP],
            "message": "expected the connection to be dropped by policy (the connect attempt to the resolved "
                       "address times out after 2 s, no answer); saw: HTTP 200 '{'",
            "calls": [_entry(drop, d_sent, [answer(d_sent, '{\n  "major": "1",\n  "minor": "33",\n  '
                                                           '"gitVersion": "v1.33.2"\n}\n', f"{DROP_WHEN}.101532804Z")])]},
    }
