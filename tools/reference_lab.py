"""Build the reference replay transcript from the documented lab's outputs.

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

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cilab.stages import CHART_REPO, stage_values  # noqa: E402
from cilab.transcript import _LiteralDumper  # noqa: E402

OUT = ROOT / "fixtures" / "transcripts" / "reference"
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
RELAY_POD, RELAY_NODE, RELAY_IP = "hubble-relay-5dcd46f5c-tln2s", "k8s-w2", "172.20.2.176"  # seed 1151-1157
UI_POD, UI_NODE, UI_IP = "hubble-ui-76d4965bb6-hcgj6", "k8s-w1", "172.20.1.129"  # seed 1187-1189, 1297
SVC_IPS = {"hubble-relay": "10.96.174.49", "hubble-peer": "10.96.68.0", "hubble-ui": "10.96.201.178"}  # seed 1156,1162,1186
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


def cmd(stdout: str, rc: int = 0, stderr: str = "") -> dict[str, Any]:
    return {"stdout": stdout, "stderr": stderr, "rc": rc}


def ss_line(addr: str, process: str, pid: int, fd: int, peer: str = "*:*") -> str:
    return f'LISTEN 0      4096      {addr:>18} {peer:>18}    users:(("{process}",pid={pid},fd={fd}))'


# --- cilium-config -------------------------------------------------------------------
BASE_CONFIG = {  # seed 777-790 (cilium config view) and 1045-1080; keys rendered by the 1.17.6 chart
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
    "hubble-export-file-max-size-mb": "10",
    "hubble-export-file-max-backups": "5",
}
HUBBLE_CONFIG = {**BASE_CONFIG,  # seed 1127-1136 (cilium config view | grep -i hubble), 2240-2397
                 "enable-hubble": "true",
                 "enable-hubble-open-metrics": "true",
                 "hubble-listen-address": ":4244",
                 "hubble-metrics-server": ":9965",
                 "hubble-metrics-server-enable-tls": "false",
                 "hubble-metrics": ("dns drop tcp flow port-distribution icmp httpV2:exemplars=true;labelsContext="
                                    "source_ip,source_namespace,source_workload,destination_ip,"
                                    "destination_namespace,destination_workload,traffic_direction"),
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


def ss_after(node: str, *, drop_port: int | None = None, operator: bool | None = None) -> str:
    """seed 1144-1150: after Hubble, *:4244/*:9962/*:9965 by cilium-agent on every node."""
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
    return "\n".join(lines) + "\n"


AGENT_CONTAINERS = [{"name": "cilium-agent", "image": IMAGES["cilium"],
                     "ports": [{"name": "peer-service", "containerPort": 4244, "hostPort": 4244},
                               {"name": "prometheus", "containerPort": 9962, "hostPort": 9962},
                               {"name": "hubble-metrics", "containerPort": 9965, "hostPort": 9965}]}]
RELAY_CONTAINERS = [{"name": "hubble-relay", "image": IMAGES["relay"],
                     "ports": [{"name": "grpc", "containerPort": 4245}]}]
UI_CONTAINERS = [  # seed 1169-1180 (kubectl describe pod -l k8s-app=hubble-ui)
    {"name": "frontend", "image": IMAGES["ui"], "ports": [{"name": "http", "containerPort": 8081}]},
    {"name": "backend", "image": IMAGES["ui-backend"], "ports": [{"name": "grpc", "containerPort": 8090}],
     "env": [{"name": "EVENTS_SERVER_PORT", "value": "8090"}, {"name": "FLOWS_API_ADDR", "value": "hubble-relay:80"}]},
]


def hubble_status_text(connected: int, total: int, unavailable: list[str] = ()) -> str:
    """seed 1276-1280 (`hubble status`), here through the relay's ClusterIP."""
    text = (f"Healthcheck (via {SVC_IPS['hubble-relay']}:80): Ok\n"
            "Current/Max Flows: 11,282/12,285 (91.84%)\n"
            "Flows/s: 35.22\n"
            f"Connected Nodes: {connected}/{total}\n")
    if unavailable:
        text += f"Unavailable Nodes: {len(unavailable)}\n" + "".join(f"  - {n}\n" for n in unavailable)
    return text


UI_PAGE = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hubble UI</title>'
           '<link rel="icon" href="favicon.svg"></head><body><div id="app"></div>'
           '<script src="bundle.main.js"></script></body></html>')


def hubble_chapter() -> list[dict[str, Any]]:
    nodes_list = [node_obj(n) for n in NODES]
    agent_pods = [pod_obj(AGENT_PODS[n], n, NODES[n]["ip"],
                          {"k8s-app": "cilium", "app.kubernetes.io/name": "cilium-agent"}, True) for n in NODES]
    operator_pods = [pod_obj(OPERATOR_POD, OPERATOR_NODE, NODES[OPERATOR_NODE]["ip"],
                             {"io.cilium/app": "operator", "name": "cilium-operator"}, True)]
    relay_svc = service_obj("hubble-relay", [{"protocol": "TCP", "port": 80, "targetPort": "grpc"}],
                            **{"k8s-app": "hubble-relay"})
    peer_svc = service_obj("hubble-peer", [{"name": "peer-service", "protocol": "TCP", "port": 443, "targetPort": 4244}],
                           **{"k8s-app": "cilium"})
    ui_svc = service_obj("hubble-ui", [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8081,
                                        "nodePort": 31234}], "NodePort", **{"k8s-app": "hubble-ui"})
    status_cmd = ["hubble", "status", "--server", f"{SVC_IPS['hubble-relay']}:80"]
    calls = [
        # --- the stage: before Hubble (state []) -------------------------------------------
        call("k8s_get", "seed 777-790, 960-967 (enable-hubble false)", [value(configmap("cilium-config", BASE_CONFIG))],
             api_version="v1", kind="ConfigMap", name="cilium-config", namespace=KS),
        call("k8s_list", "seed 968-971 (no cilium-ca/hubble secrets)", [value(BASE_SECRETS)],
             api_version="v1", kind="Secret", namespace=KS),
        call("k8s_list", "seed 603-606 (nodes, InternalIPs)", [value(nodes_list)], api_version="v1", kind="Node"),
        *[call("node_shell", "seed 985-996 (ports before Hubble; pids reconstructed)", [cmd(ss_before(n))],
               node=n, command="ss -tlnpH") for n in NODES],
        call("helm_upgrade", "seed 1081-1093 (Release \"cilium\" has been upgraded)",
             [cmd('Release "cilium" has been upgraded. Happy Helming!\nNAME: cilium\n'
                  'LAST DEPLOYED: Sat Jul 26 01:59:21 2025\nNAMESPACE: kube-system\nSTATUS: deployed\nREVISION: 2\n')],
             release="cilium", chart="cilium", version=CILIUM_VERSION, namespace=KS,
             values=stage_values("hubble"), repo=CHART_REPO),
        # --- rollout after the upgrade (state [hubble]) ------------------------------------
        call("k8s_get", "seed 1101 (cilium 3/3)", [value(workload("DaemonSet", "cilium", 3, 3, AGENT_CONTAINERS))], HUBBLE,
             api_version="apps/v1", kind="DaemonSet", name="cilium", namespace=KS),
        call("k8s_get", "seed 1102 (cilium-envoy 3/3)",
             [value(workload("DaemonSet", "cilium-envoy", 3, 3, [{"name": "cilium-envoy"}], 1))], HUBBLE,
             api_version="apps/v1", kind="DaemonSet", name="cilium-envoy", namespace=KS),
        call("k8s_get", "seed 1103 (cilium-operator 1/1)",
             [value(workload("Deployment", "cilium-operator", 1, 1, [{"name": "cilium-operator"}]))], HUBBLE,
             api_version="apps/v1", kind="Deployment", name="cilium-operator", namespace=KS),
        call("k8s_get", "seed 1097-1104 (relay 'temporary error, then OK': not ready, then 1/1)",
             [value(workload("Deployment", "hubble-relay", 0, 1, RELAY_CONTAINERS, 1)),
              value(workload("Deployment", "hubble-relay", 1, 1, RELAY_CONTAINERS, 1))], HUBBLE,
             api_version="apps/v1", kind="Deployment", name="hubble-relay", namespace=KS),
        call("k8s_get", "seed 1105, 1169-1180 (hubble-ui 1/1; frontend 8081, backend 8090 FLOWS_API_ADDR hubble-relay:80)", [value(workload("Deployment", "hubble-ui", 1, 1, UI_CONTAINERS, 1))], HUBBLE,
             api_version="apps/v1", kind="Deployment", name="hubble-ui", namespace=KS),
        # --- after Hubble (state [hubble]) --------------------------------------------------
        call("k8s_list", "seed 603-606 (nodes, InternalIPs)", [value(nodes_list)], HUBBLE, api_version="v1", kind="Node"),
        call("k8s_get", "seed 1127-1136 (cilium config view | grep -i hubble)",
             [value(configmap("cilium-config", HUBBLE_CONFIG))], HUBBLE,
             api_version="v1", kind="ConfigMap", name="cilium-config", namespace=KS),
        call("k8s_list", "seed 1138-1142 (cilium-ca, hubble-relay-client-certs, hubble-server-certs)",
             [value(HUBBLE_SECRETS)], HUBBLE, api_version="v1", kind="Secret", namespace=KS),
        *[call("node_shell", "seed 1144-1150 (*:4244, *:9962, *:9965 by cilium-agent)", [cmd(ss_after(n))], HUBBLE,
               node=n, command="ss -tlnpH") for n in NODES],
        call("k8s_list", "seed 640 (operator pod on k8s-ctr)", [value(operator_pods)], HUBBLE,
             api_version="v1", kind="Pod", namespace=KS, label_selector="io.cilium/app=operator"),
        call("k8s_list", "seed 638-641 (agent pods per node)", [value(agent_pods)], HUBBLE,
             api_version="v1", kind="Pod", namespace=KS, label_selector="k8s-app=cilium"),
        call("k8s_get", "seed 1156 (service/hubble-relay ClusterIP 80/TCP)", [value(relay_svc)], HUBBLE,
             api_version="v1", kind="Service", name="hubble-relay", namespace=KS),
        call("k8s_list", "seed 1157 (endpoints/hubble-relay 172.20.2.176:4245)",
             [value([slice_obj("hubble-relay", "", 4245, [(RELAY_IP, RELAY_NODE)])])], HUBBLE,
             api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=KS,
             label_selector="kubernetes.io/service-name=hubble-relay"),
        call("k8s_get", "seed 1164-1166 (peer-service, listen-address)",
             [value(configmap("hubble-relay-config", {"config.yaml": RELAY_CONFIG}))], HUBBLE,
             api_version="v1", kind="ConfigMap", name="hubble-relay-config", namespace=KS),
        call("k8s_get", "seed 1162 (service/hubble-peer ClusterIP 443/TCP)", [value(peer_svc)], HUBBLE,
             api_version="v1", kind="Service", name="hubble-peer", namespace=KS),
        call("k8s_list", "seed 1163 (endpoints/hubble-peer 192.168.10.100/101/102:4244)",
             [value([slice_obj("hubble-peer", "peer-service", 4244, [(NODES[n]["ip"], n) for n in NODES])])], HUBBLE,
             api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=KS,
             label_selector="kubernetes.io/service-name=hubble-peer"),
        call("k8s_get", "seed 1186 (service/hubble-ui NodePort 80:31234/TCP)", [value(ui_svc)], HUBBLE,
             api_version="v1", kind="Service", name="hubble-ui", namespace=KS),
        call("http_get", "seed 1192-1196 (http://192.168.10.100:31234; page title reconstructed from hubble-ui)",
             [{"status": 200, "headers": {"Content-Type": "text/html"}, "body": UI_PAGE}], HUBBLE,
             url="http://192.168.10.100:31234/"),
        call("pod_exec", "seed 1272-1280 (hubble status: Ok, Connected Nodes 3/3; 2/3 first: reconstructed 'not yet')",
             [cmd(hubble_status_text(2, 3, ["k8s-w2"])), cmd(hubble_status_text(3, 3))], HUBBLE,
             namespace=KS, pod=AGENT_PODS["k8s-ctr"], container="cilium-agent", command=status_cmd),
    ]
    return calls


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


def hubble_mutants() -> dict[str, dict[str, Any]]:
    ref = hubble_chapter()
    status_cmd = ["hubble", "status", "--server", f"{SVC_IPS['hubble-relay']}:80"]
    nodes_list = [node_obj(n) for n in NODES]
    peer_slice = slice_obj("hubble-peer", "peer-service", 4244,
                           [(NODES[n]["ip"], n) for n in NODES if n != "k8s-w1"])
    return {
        "hubble-before-4244-already-open": {
            "breaks": "before the upgrade k8s-ctr already listened on 4244",
            "expect": ["test_before_the_upgrade_hubble_was_off"],
            "message": "before Hubble: expected nothing on 4244",
            "calls": [_replace(ref, "node_shell", [], [cmd(ss_before("k8s-ctr") + ss_line("*:4244", "cilium-agent", 5120, 50) + "\n")],
                               node="k8s-ctr", command="ss -tlnpH")]},
        "hubble-config-open-metrics-off": {
            "breaks": "cilium-config has enable-hubble-open-metrics false",
            "expect": ["test_the_agent_configuration_turns_hubble_on"],
            "message": "enable-hubble-open-metrics: expected 'true', saw 'false'",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(_cm_with(HUBBLE_CONFIG, **{"enable-hubble-open-metrics": "false"}))],
                               api_version="v1", kind="ConfigMap", name="cilium-config", namespace=KS)]},
        "hubble-secret-relay-client-certs-missing": {
            "breaks": "the hubble-relay-client-certs Secret was not created",
            "expect": ["test_the_chart_created_the_hubble_tls_secrets"],
            "message": "hubble-relay-client-certs: expected type kubernetes.io/tls, absent",
            "calls": [_replace(ref, "k8s_list", HUBBLE, [value([s for s in HUBBLE_SECRETS
                                                                if s["metadata"]["name"] != "hubble-relay-client-certs"])],
                               api_version="v1", kind="Secret", namespace=KS)]},
        "hubble-4244-missing-on-w2": {
            "breaks": "the Hubble server does not listen on k8s-w2",
            "expect": ["test_component_listens_on_port_port[Hubble server (gRPC API)-4244-cilium-agent-every node]"],
            "message": "4244 not listening on k8s-w2",
            "calls": [_replace(ref, "node_shell", HUBBLE, [cmd(ss_after("k8s-w2", drop_port=4244))],
                               node="k8s-w2", command="ss -tlnpH")]},
        "hubble-9962-missing-on-w1": {
            "breaks": "the agent's Prometheus metrics do not listen on k8s-w1",
            "expect": ["test_component_listens_on_port_port[Cilium agent metrics-9962-cilium-agent-every node]"],
            "message": "9962 not listening on k8s-w1",
            "calls": [_replace(ref, "node_shell", HUBBLE, [cmd(ss_after("k8s-w1", drop_port=9962))],
                               node="k8s-w1", command="ss -tlnpH")]},
        "hubble-9965-missing-on-ctr": {
            "breaks": "Hubble metrics do not listen on k8s-ctr",
            "expect": ["test_component_listens_on_port_port[Hubble metrics-9965-cilium-agent-every node]"],
            "message": "9965 not listening on k8s-ctr",
            "calls": [_replace(ref, "node_shell", HUBBLE, [cmd(ss_after("k8s-ctr", drop_port=9965))],
                               node="k8s-ctr", command="ss -tlnpH")]},
        "hubble-operator-metrics-on-two-nodes": {
            "breaks": "cilium-operator metrics listen on two nodes although one operator runs",
            "expect": ["test_component_listens_on_port_port[Cilium operator metrics-9963-cilium-operator-the node running the operator]"],
            "message": "9963 listened on by cilium-operator on k8s-ctr, k8s-w1; expected exactly one node",
            "calls": [_replace(ref, "node_shell", HUBBLE, [cmd(ss_after("k8s-w1", operator=True))],
                               node="k8s-w1", command="ss -tlnpH")]},
        "hubble-relay-peer-service-port-80": {
            "breaks": "hubble-relay-config points at the peer service on port 80",
            "expect": ["test_hubble_relay_serves_the_clusterwide_flow_api"],
            "message": "peer-service: expected 'hubble-peer.kube-system.svc.cluster.local.:443'",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(configmap("hubble-relay-config", {
                "config.yaml": RELAY_CONFIG.replace("local.:443", "local.:80")}))],
                api_version="v1", kind="ConfigMap", name="hubble-relay-config", namespace=KS)]},
        "hubble-peer-endpoint-missing": {
            "breaks": "hubble-peer has no endpoint for k8s-w1",
            "expect": ["test_hubblepeer_points_at_every_nodes_hubble_server"],
            "message": "missing 192.168.10.101:4244",
            "calls": [_replace(ref, "k8s_list", HUBBLE, [value([peer_slice])],
                               api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=KS,
                               label_selector="kubernetes.io/service-name=hubble-peer")]},
        "hubble-ui-backend-wrong-relay-address": {
            "breaks": "the UI backend reads flows from hubble-relay:443",
            "expect": ["test_hubble_ui_is_published_on_nodeport_31234"],
            "message": "expected FLOWS_API_ADDR='hubble-relay:80', saw 'hubble-relay:443'",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(workload("Deployment", "hubble-ui", 1, 1, [
                UI_CONTAINERS[0], {**UI_CONTAINERS[1], "env": [{"name": "EVENTS_SERVER_PORT", "value": "8090"},
                                                               {"name": "FLOWS_API_ADDR", "value": "hubble-relay:443"}]}], 1))],
                api_version="apps/v1", kind="Deployment", name="hubble-ui", namespace=KS)]},
        "hubble-ui-page-not-served": {
            "breaks": "NodePort 31234 answers 503 instead of the UI page",
            "expect": ["test_hubble_ui_is_published_on_nodeport_31234"],
            "message": "expected 200, saw 503",
            "calls": [_replace(ref, "http_get", HUBBLE, [{"status": 503, "headers": {}, "body": "no healthy upstream"}],
                               url="http://192.168.10.100:31234/")]},
        "hubble-status-w2-unavailable": {
            "breaks": "Relay never connects to k8s-w2",
            "expect": ["test_hubble_status_through_relay_sees_every_node"],
            "message": "expected Connected Nodes 3/3, saw 2/3 (unavailable: k8s-w2)",
            "calls": [_replace(ref, "pod_exec", HUBBLE, [cmd(hubble_status_text(2, 3, ["k8s-w2"]))],
                               namespace=KS, pod=AGENT_PODS["k8s-ctr"], container="cilium-agent", command=status_cmd)]},
    }


MUTANTS = {"hubble": hubble_mutants}
MUTANT_DIR = ROOT / "fixtures" / "transcripts" / "mutants"


def render_mutant(name: str, spec: dict[str, Any]) -> str:
    doc = {"transcript": {"name": f"mutant-{name}", "source": "mutant of the reference",
                          "description": f"Breaks one documented behaviour: {spec['breaks']}."},
           "base": "../reference",
           "mutant": {"breaks": spec["breaks"], "expect_failing": spec["expect"],
                      "expect_message": spec["message"]},
           "calls": spec["calls"]}
    return ("# Mutant transcript: generated by tools/reference_lab.py (an overlay on the reference)\n"
            + yaml.dump(doc, Dumper=_LiteralDumper, sort_keys=False, allow_unicode=True, width=110))


def header(chapter: str, seed: str) -> dict[str, Any]:
    return {"name": f"reference-{chapter}", "source": "reconstructed-from-seed",
            "description": ("Reconstructed from the documented lab (shared/seed, Cilium 1.17.6 study "
                            f"write-up, {seed}), not recorded from a live cluster: every value is traced "
                            "to the seed output named in the entry's `seed` note; values the seed does "
                            "not show are marked reconstructed. Regenerate with tools/reference_lab.py."),
            "lab": {"kubernetes": "1.33.2", "cilium": CILIUM_VERSION, "containerd": "1.7.27",
                    "nodes": {n: NODES[n]["ip"] for n in NODES}}}


CHAPTERS = {"hubble": ("seed lines 870-1365", hubble_chapter)}


def render(chapter: str) -> str:
    seed, build = CHAPTERS[chapter]
    calls = build()
    from cilab.transcript import call_key
    keys = [call_key(c["op"], c["args"], c["state"]) for c in calls]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise SystemExit(f"chapter {chapter}: the same call is listed twice: {sorted(dupes)[0][:200]}")
    doc = {"transcript": header(chapter, seed), "calls": calls}
    return ("# Reference lab transcript, chapter " + chapter + ": generated by tools/reference_lab.py\n"
            + yaml.dump(doc, Dumper=_LiteralDumper, sort_keys=False, allow_unicode=True, width=110))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the checked-in files are stale")
    args = ap.parse_args()
    stale = []
    outputs = {OUT / f"{chapter}.yaml": render(chapter) for chapter in CHAPTERS}
    for build in MUTANTS.values():
        for name, spec in build().items():
            outputs[MUTANT_DIR / f"{name}.yaml"] = render_mutant(name, spec)
    for path, text in outputs.items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check:
        known = set(outputs)
        stale += [str(p.relative_to(ROOT)) + " (not built by this script)"
                  for d in (OUT, MUTANT_DIR) if d.exists() for p in d.glob("*.yaml") if p not in known]
    if stale:
        print("stale reference transcript(s): " + ", ".join(stale) + " (run python tools/reference_lab.py)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
