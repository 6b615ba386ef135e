"""Facts of the documented lab and builders shared by every chapter's reference calls.

(See tools/reference_lab.py for how the transcript is built.)
Build the reference replay transcript from the documented lab's outputs.

The reference transcript (fixtures/transcripts/reference/) is what a lab that behaves
exactly as the seed write-up documents would answer to every probe call the suite
makes.  Values come from the seed's real outputs (IPs, pod names, ports, messages); each
entry names the seed lines it is traced to.  Where the seed does not show a value the
API needs (uids, pids of processes the seed's grep hid), the value is a placeholder,
marked "reconstructed" in the entry's `seed` note.

Run `python tools/reference_lab.py` to regenerate; `--check` exits 1 when the checked-in
files differ from what this script builds (CI runs it).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


CILIUM_VERSION = "1.17.6"
KS = "kube-system"
HUBBLE = ["hubble"]

# --- the documented lab (seed lines in comments) -------------------------------------
NODES = {  # seed 603-606: kubectl get node -owide
    "k8s-ctr": {"ip": "192.168.10.100", "role": "control-plane", "podCIDR": "10.244.0.0/24", "cilium": "172.20.0.0/24"},
    "k8s-w1": {"ip": "192.168.10.101", "role": None, "podCIDR": "10.244.1.0/24", "cilium": "172.20.1.0/24"},
    "k8s-w2": {"ip": "192.168.10.102", "role": None, "podCIDR": "10.244.2.0/24", "cilium": "172.20.2.0/24"},
}
AGENT_PODS = {"k8s-ctr": "cilium-tstkf", "k8s-w1": "cilium-mm7xq", "k8s-w2": "cilium-kkt6t"}  # seed 638-641
OPERATOR_POD, OPERATOR_NODE = "cilium-operator-5bc66f5b9b-7v5fg", "k8s-ctr"  # seed 640
RELAY_POD, RELAY_NODE, RELAY_IP = "hubble-relay-5dcd46f5c-tln2s", "k8s-w2", "172.20.2.176"  # seed 1161-1165
UI_POD, UI_NODE, UI_IP = "hubble-ui-76d4965bb6-hcgj6", "k8s-w1", "172.20.1.129"  # seed 1191-1192, 1317
SVC_IPS = {"hubble-relay": "10.96.174.49", "hubble-peer": "10.96.68.0", "hubble-ui": "10.96.201.178"}  # seed 1164, 1170, 1191
AGENT_PID = {"k8s-ctr": 9298, "k8s-w1": 7154, "k8s-w2": 6930}  # seed 1144-1150
AGENT_4244_FD = {"k8s-ctr": 50, "k8s-w1": 55, "k8s-w2": 42}  # seed 1144-1150
IMAGES = {  # seed 1104-1122 (cilium status, image versions)
    "cilium": "quay.io/cilium/cilium:v1.17.6@sha256:544de3d4fed7acba72758413812780a4972d47c39035f2a06d6145d8644a3353",
    "relay": "quay.io/cilium/hubble-relay:v1.17.6@sha256:7d17ec10b3d37341c18ca56165b2f29a715cb8ee81311fd07088d8bf68c01e60",
    "ui": "quay.io/cilium/hubble-ui:v0.13.2@sha256:9e37c1296b802830834cc87342a9182ccbb71ffebb711971e849221bd9d59392",
    "ui-backend": "quay.io/cilium/hubble-ui-backend:v0.13.2@sha256:a034b7e98e6ea796ed26df8f4e71f83fc16465a19d166eff67a03b822c0bfa15",
}


def meta(name: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name}
    if namespace:
        m["namespace"] = namespace
    if labels:
        m["labels"] = {k.replace("__", "/").replace("_", "-") if "__" in k else k: v
                       for k, v in labels.items()}
    return m


def node_obj(name: str) -> dict[str, Any]:
    n = NODES[name]
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    if n["role"]:
        labels["node-role.kubernetes.io/control-plane"] = ""
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {"podCIDR": n["podCIDR"], "podCIDRs": [n["podCIDR"]]},
            "status": {"addresses": [{"type": "InternalIP", "address": n["ip"]},
                                     {"type": "Hostname", "address": name}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                       "nodeInfo": {"kubeletVersion": "v1.33.2", "containerRuntimeVersion": "containerd://1.7.27",
                                    "osImage": "Ubuntu 24.04.2 LTS", "kernelVersion": "6.8.0-53-generic"}}}


def pod_obj(name: str, node: str, ip: str, labels: dict[str, str], host_network: bool = False) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": KS, "labels": labels},
            "spec": {"nodeName": node, "hostNetwork": host_network},
            "status": {"phase": "Running", "podIP": ip, "hostIP": NODES[node]["ip"],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def service_obj(name: str, ports: list[dict[str, Any]], svc_type: str = "ClusterIP", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": KS, "labels": labels},
            "spec": {"type": svc_type, "clusterIP": SVC_IPS[name], "clusterIPs": [SVC_IPS[name]],
                     "ports": ports, "selector": {"k8s-app": labels.get("k8s-app", name)}}}


def slice_obj(service: str, port_name: str, port: int, addresses: list[tuple[str, str]]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service}-x1", "namespace": KS,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "nodeName": node, "conditions": {"ready": True}}
                          for ip, node in addresses]}


def workload(kind: str, name: str, ready: int, want: int, containers: list[dict[str, Any]],
             generation: int = 2) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": generation}
    if kind == "DaemonSet":
        status.update(desiredNumberScheduled=want, numberReady=ready, updatedNumberScheduled=want,
                      numberAvailable=ready, currentNumberScheduled=want)
    else:
        status.update(replicas=want, readyReplicas=ready, updatedReplicas=want, availableReplicas=ready)
    spec: dict[str, Any] = {"template": {"spec": {"containers": containers}}}
    if kind == "DaemonSet":  # the chart's selectors (k8s-app: cilium / cilium-envoy)
        spec["selector"] = {"matchLabels": {"k8s-app": name}}
    if kind == "Deployment":
        spec["replicas"] = want
    obj = {"apiVersion": "apps/v1", "kind": kind,
           "metadata": {"name": name, "namespace": KS, "generation": generation},
           "spec": spec, "status": status}
    if ready == 0 and kind == "Deployment":
        del status["readyReplicas"]  # the API omits zero counters
    return obj


def secret_obj(name: str, typ: str, keys: list[str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": KS},
            "type": typ, "data": {k: "<redacted by cilab>" for k in keys}}


def call(op: str, seed: str, results: list[dict[str, Any]], state: list[str] | None = None,
         **args: Any) -> dict[str, Any]:
    return {"op": op, "seed": seed, "args": args, "state": sorted(state or []), "results": results}


def value(v: Any) -> dict[str, Any]:
    return {"value": v}


def refused(url: str) -> dict[str, Any]:
    """A lab service that does not listen yet (the runner's connect is refused): "not yet"."""
    return {"error": "ServiceNotReady", "message": f"GET {url} failed: [Errno 111] Connection refused"}


def cmd(stdout: str, rc: int = 0, stderr: str = "") -> dict[str, Any]:
    return {"stdout": stdout, "stderr": stderr, "rc": rc}


def netshoot_start(started: str) -> str:
    """curl-pod's start time as nicolaka/netshoot prints it: BusyBox `date` without %N on
    musl gives the whole second (traffic.START_SCRIPT), never the nanoseconds."""
    return started[:19] + "Z"


#: curl-pod's curl.  The write-up's curl-pod runs `nicolaka/netshoot` (seed 2466, no tag: the
#: latest in July 2025), whose curl is 8.14.1: whoami echoes its `User-Agent: curl/8.14.1`
#: (seed 2942, 2985).
CURL_POD_CURL = "8.14.1"


def connect_timeout_error(host: str, port: int, ms: int = 2001) -> str:
    """What curl 7.88-8.15 prints when the suite's `--connect-timeout 2` runs out (within
    --max-time 5) with its one connect attempt still unanswered (a SYN dropped by policy):
    lib/connect.c's ``Failed to connect to HOST port P after N ms: Timeout was reached``
    (HOST as the URL names it; curl_easy_strerror(CURLE_OPERATION_TIMEDOUT)).  The real curl
    7.88 here prints exactly this on loopback (tests/unit/test_curl_connect_timeout.py), and
    8.14.1's lib/connect.c has the same failf.  Every other connect-timeout text of
    7.88-8.21 is recognised too (cilab.probes.traffic._CONNECT_TIMEOUT_RE)."""
    return f"Failed to connect to {host} port {port} after {ms} ms: Timeout was reached"


def curl_out(started: str, client_ip: str, *, body: str = "", status: int | None = 200, rc: int = 0,
             host: str = "", address: str = "", port: int = 80, error: str = "", connected: bool = True,
             namelookup: float = 0.004, total: float | None = None) -> dict[str, Any]:
    """What `cilab.probes.traffic.curl_argv` prints in the client pod: the start line (the
    pod's clock and `hostname -i`), the body, curl's -w trailer; on stderr curl's -v lines
    (only the `Trying` and connection lines: the request and response headers it also
    prints are left out) and its error.  `connected=False`: the connect attempt to
    `address` failed with `error` (exit `rc`)."""
    if connected:
        verbose = f"*   Trying {address}:{port}...\n* Connected to {host} ({address}) port {port} (#0)\n"
        connect, total = namelookup + 0.001, total if total is not None else namelookup + 0.008
        remote = address
    else:
        verbose = (f"*   Trying {address}:{port}...\n* {error}\n* Closing connection 0\n" if address
                   else f"* {error}\n* Closing connection 0\n")
        connect, remote = 0.0, ""
        total = total if total is not None else 2.001
    code = f"{status:03d}" if status is not None else "000"
    stdout = (f"cilab-start {started} {client_ip}\n{body}\ncilab-curl code={code} remote_ip={remote} "
              f"namelookup={namelookup:.6f} connect={connect:.6f} total={total:.6f}")
    stderr = verbose + (f"curl: ({rc}) {error}\n" if rc else "")
    return {"stdout": stdout, "stderr": stderr, "rc": rc}


def ss_line(addr: str, process: str, pid: int, fd: int, peer: str = "*:*") -> str:
    return f'LISTEN 0      4096      {addr:>18} {peer:>18}    users:(("{process}",pid={pid},fd={fd}))'


# --- cilium-config -------------------------------------------------------------------
BASE_CONFIG = {  # seed 766-773 (cilium config view) and 1045-1080; keys rendered by the 1.17.6 chart
    "agent-not-ready-taint-key": "node.cilium.io/agent-not-ready",
    "cluster-pool-ipv4-cidr": "172.20.0.0/16",
    "cluster-pool-ipv4-mask-size": "24",
    "ipam": "cluster-pool",
    "ipv4-native-routing-cidr": "172.20.0.0/16",
    "routing-mode": "native",
    "auto-direct-node-routes": "true",
    "kube-proxy-replacement": "true",
    "enable-bpf-masquerade": "true",
    "enable-ipv4-masquerade": "true",
    "enable-hubble": "false",
    "enable-endpoint-health-checking": "false",
    "enable-health-checking": "false",
    "enable-l7-proxy": "true",
    "external-envoy-proxy": "true",
    "debug": "true",
}
#: cilium-config keys the 1.17.6 chart renders only while Hubble is on: every `hubble-*`
#: key and `enable-hubble-open-metrics` sit inside `{{- if .Values.hubble.enabled }}` of
#: templates/cilium-configmap.yaml (lines 931-1036 of the 1.17.6 chart); with Hubble off
#: the chart writes `enable-hubble: "false"` and nothing else about Hubble (seed 968-969).
def hubble_gated(key: str) -> bool:
    return key.startswith("hubble-") or key == "enable-hubble-open-metrics"



HUBBLE_CONFIG = {**BASE_CONFIG,  # seed 1127-1136 (cilium config view | grep -i hubble), 2240-2397
                 "enable-hubble": "true",
                 "enable-hubble-open-metrics": "true",
                 "hubble-listen-address": ":4244",
                 "hubble-metrics-server": ":9965",
                 "hubble-metrics-server-enable-tls": "false",
                 "hubble-metrics": ("dns drop tcp flow port-distribution icmp httpV2:exemplars=true;labelsContext="
                                    "source_ip,source_namespace,source_workload,destination_ip,"
                                    "destination_namespace,destination_workload,traffic_direction"),
                 "hubble-export-file-max-size-mb": "10",
                 "hubble-export-file-max-backups": "5",
                 "hubble-export-file-path": "/var/run/cilium/hubble/events.log",
                 "hubble-export-allowlist": "",
                 "hubble-export-denylist": "",
                 "hubble-export-fieldmask": "",
                 "hubble-socket-path": "/var/run/cilium/hubble.sock",
                 "hubble-disable-tls": "false",
                 "hubble-tls-cert-file": "/var/lib/cilium/tls/hubble/server.crt",
                 "hubble-tls-key-file": "/var/lib/cilium/tls/hubble/server.key",
                 "hubble-tls-client-ca-files": "/var/lib/cilium/tls/hubble/client-ca.crt",
                 "prometheus-serve-addr": ":9962",
                 "operator-prometheus-serve-addr": ":9963",
                 "enable-metrics": "true"}


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": KS}, "data": data}


RELAY_CONFIG = """cluster-name: default
peer-service: "hubble-peer.kube-system.svc.cluster.local.:443"
listen-address: :4245
gops: true
gops-port: "9893"
dial-timeout:
retry-timeout:
sort-buffer-len-max:
sort-buffer-drain-timeout:
tls-hubble-client-cert-file: /var/lib/hubble-relay/tls/client.crt
tls-hubble-client-key-file: /var/lib/hubble-relay/tls/client.key
tls-hubble-server-ca-files: /var/lib/hubble-relay/tls/hubble-server-ca.crt
disable-server-tls: true
"""

BASE_SECRETS = [secret_obj("sh.helm.release.v1.cilium.v1", "helm.sh/release.v1", ["release"])]
HUBBLE_SECRETS = BASE_SECRETS + [  # seed 1138-1142
    secret_obj("cilium-ca", "Opaque", ["ca.crt", "ca.key"]),
    secret_obj("hubble-relay-client-certs", "kubernetes.io/tls", ["ca.crt", "tls.crt", "tls.key"]),
    secret_obj("hubble-server-certs", "kubernetes.io/tls", ["ca.crt", "tls.crt", "tls.key"]),
    secret_obj("sh.helm.release.v1.cilium.v2", "helm.sh/release.v1", ["release"]),
]


def ss_before(node: str) -> str:
    """seed 985-996: `ss -tnlp | grep -iE 'cilium|hubble'` before Hubble (pids not shown: reconstructed)."""
    lines = [ss_line("127.0.0.1:9890", "cilium-agent", 5120, 9, "0.0.0.0:*"),
             ss_line("127.0.0.1:9879", "cilium-agent", 5120, 10, "0.0.0.0:*"),
             ss_line("127.0.0.1:9878", "cilium-envoy", 4410, 22, "0.0.0.0:*"),
             ss_line("0.0.0.0:9964", "cilium-envoy", 4410, 25, "0.0.0.0:*"),
             ss_line("127.0.0.1:41353", "cilium-agent", 5120, 41, "0.0.0.0:*")]
    if node == OPERATOR_NODE:
        lines += [ss_line("127.0.0.1:9891", "cilium-operator", 3950, 6, "0.0.0.0:*"),
                  ss_line("127.0.0.1:9234", "cilium-operator", 3950, 7, "0.0.0.0:*"),
                  ss_line("*:9963", "cilium-operator", 3950, 8)]
    return "\n".join(lines) + "\n"


def ss_after(node: str, *, drop_port: int | None = None, operator: bool | None = None,
             bound: dict[int, str] | None = None) -> str:
    """seed 1144-1150: after Hubble, *:4244/*:9962/*:9965 by cilium-agent on every node.
    `bound` re-binds a port's socket to another address (mutants: ``[::]`` IPv6-only,
    ``127.0.0.1`` loopback only)."""
    pid = AGENT_PID[node]
    lines = [ss_line("127.0.0.1:9890", "cilium-agent", pid, 9, "0.0.0.0:*"),
             ss_line("127.0.0.1:9879", "cilium-agent", pid, 10, "0.0.0.0:*"),
             ss_line("127.0.0.1:9878", "cilium-envoy", 4410, 22, "0.0.0.0:*"),
             ss_line("0.0.0.0:9964", "cilium-envoy", 4410, 25, "0.0.0.0:*"),
             ss_line("127.0.0.1:41353", "cilium-agent", pid, 41, "0.0.0.0:*"),
             ss_line("*:4244", "cilium-agent", pid, AGENT_4244_FD[node]),
             ss_line("*:9962", "cilium-agent", pid, 7),
             ss_line("*:9965", "cilium-agent", pid, 42 if node == "k8s-ctr" else 44)]
    if operator if operator is not None else node == OPERATOR_NODE:
        lines += [ss_line("127.0.0.1:9891", "cilium-operator", 10240, 6, "0.0.0.0:*"),
                  ss_line("127.0.0.1:9234", "cilium-operator", 10240, 7, "0.0.0.0:*"),
                  ss_line("*:9963", "cilium-operator", 10240, 8)]
    if drop_port is not None:
        lines = [l for l in lines if f":{drop_port} " not in l]
    for port, addr in (bound or {}).items():
        lines = [l.replace(f"{'*:' + str(port):>18}", f"{addr + ':' + str(port):>18}") for l in lines]
    return "\n".join(lines) + "\n"


AGENT_CONTAINERS = [{"name": "cilium-agent", "image": IMAGES["cilium"],
                     "ports": [{"name": "peer-service", "containerPort": 4244, "hostPort": 4244},
                               {"name": "prometheus", "containerPort": 9962, "hostPort": 9962},
                               {"name": "hubble-metrics", "containerPort": 9965, "hostPort": 9965}]}]
BASE_AGENT_CONTAINERS = [{"name": "cilium-agent", "image": IMAGES["cilium"], "command": ["cilium-agent"],
                          "args": ["--config-dir=/tmp/cilium/config-map"]}]
RELAY_CONTAINERS = [{"name": "hubble-relay", "image": IMAGES["relay"],
                     "ports": [{"name": "grpc", "containerPort": 4245}]}]
UI_CONTAINERS = [  # seed 1180-1188 (kubectl describe pod -l k8s-app=hubble-ui)
    {"name": "frontend", "image": IMAGES["ui"], "ports": [{"name": "http", "containerPort": 8081}]},
    {"name": "backend", "image": IMAGES["ui-backend"], "ports": [{"name": "grpc", "containerPort": 8090}],
     "env": [{"name": "EVENTS_SERVER_PORT", "value": "8090"}, {"name": "FLOWS_API_ADDR", "value": "hubble-relay:80"}]},
]


def hubble_status_text(connected: int, total: int, unavailable: list[str] = ()) -> str:
    """seed 1297-1300 (`hubble status`), here through the relay's ClusterIP."""
    text = (f"Healthcheck (via {SVC_IPS['hubble-relay']}:80): Ok\n"
            "Current/Max Flows: 11,282/12,285 (91.84%)\n"
            "Flows/s: 35.22\n"
            f"Connected Nodes: {connected}/{total}\n")
    if unavailable:
        text += f"Unavailable Nodes: {len(unavailable)}\n" + "".join(f"  - {n}\n" for n in unavailable)
    return text


#: `hubble status` while Relay does not listen yet (the error form of seed 1281, through the relay's ClusterIP)
RELAY_REFUSED = ("failed getting status: rpc error: code = Unavailable desc = connection error: desc = "
                 f"\"transport: Error while dialing: dial tcp {SVC_IPS['hubble-relay']}:80: connect: connection refused\"\n")

UI_PAGE = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hubble UI</title>'
           '<link rel="icon" href="favicon.svg"></head><body><div id="app"></div>'
           '<script src="bundle.main.js"></script></body></html>')


# --- mutants: each breaks one documented behaviour --------------------------------------

def _replace(calls: list[dict[str, Any]], op: str, state: list[str], results: list[dict[str, Any]],
             **args: Any) -> dict[str, Any]:
    """An overlay entry replacing the reference call with these op/args/state."""
    for c in calls:
        if c["op"] == op and c["args"] == args and c["state"] == sorted(state):
            return {**c, "seed": f"MUTATED ({c['seed']})", "results": results}
    raise SystemExit(f"mutant overlays a call the reference does not hold: {op} {args} {state}")


def _cm_with(data: dict[str, str], **changes: str) -> dict[str, Any]:
    return configmap("cilium-config", {**data, **{k.replace("_", "-"): v for k, v in changes.items()}})




def hubble_calls() -> list[dict[str, Any]]:
    """The Hubble chapter's reference calls: the reads (nodes, cilium-config, agent and
    operator pods, workloads in state [hubble]) that later chapters make too."""
    from tools.reference import hubble
    return hubble.calls()


def beyond_hubble(own: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A chapter's own calls less those the Hubble chapter already answers (one entry per call)."""
    from cilab.transcript import call_key
    shared = {call_key(c["op"], c["args"], c["state"]) for c in hubble_calls()}
    return [c for c in own if call_key(c["op"], c["args"], c["state"]) not in shared]
