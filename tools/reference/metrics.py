"""Chapter "Prometheus and Grafana" (seed lines 2534-2739): reference calls and mutants.

Seed values: the monitoring Deployments and Services (seed 2562-2565, 2708-2711: 1/1 ready,
ClusterIPs 10.96.210.3 / 10.96.103.7, NodePorts 30001 / 30002), the metrics ports
(seed 2683-2695: 9962 and 9965 on every node, 9963 on k8s-ctr only).  What the Prometheus and Grafana APIs answer is not printed in the
seed (it shows screenshots): those bodies are reconstructed from the example's scrape
configuration and dashboards (cilium-1.17.6-facts.md §3) and the metric names of
hubble-1.17-formats.md §5.  Scenario namespaces, curl-pod and webpod come from
tools/reference/export.py.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from cilab.monitoring import NAMESPACE as MON_NS
from cilab.monitoring import apply_command, patch_command
from cilab.probes import policy as policy_probe
from cilab.probes import traffic, whoami
from tools.reference.export import (
    CURL_EP_ID,
    CURL_POD_IP,
    CURL_POD_NODE,
    WEBPOD_EP_ID,
    T0,
    WEBPOD_SVC_IP,
    WEBPODS,
    Scenario,
    answered,
    curl_pod_obj,
    lines,
    request,
    send,
    start_workloads,
    tcp_flow,
    webpod_obj,
    whoami_body,
)
from tools.reference.l7_visibility import webpod_service
from tools.reference.lab import *  # noqa: F401,F403
from tools.reference.lab import _cm_with, _replace  # noqa: F401

SEED = "seed lines 2534-2739"

CTR_IP = NODES["k8s-ctr"]["ip"]
PROM = f"http://{CTR_IP}:30001"     # seed 2676, 2713: http://192.168.10.100:30001
GRAFANA = f"http://{CTR_IP}:30002"  # seed 2677, 2719: http://192.168.10.100:30002
MON_SVC = {"prometheus": ("10.96.210.3", 9090, 30001, "webui"), "grafana": ("10.96.103.7", 3000, 30002, None)}  # seed 2708-2711
DATASOURCE_UID = "PBFA97CFB590B2093"  # reconstructed (the provisioned data source has no uid of its own)
DASHBOARDS = [("Cilium Metrics", "vtuWtdumz"), ("Cilium Operator", "1GC0TT4Wz"), ("Hubble", "5HftnJAWz"),
              ("Hubble L7 HTTP Metrics by Workload", "3g264CZVz")]  # cilium-1.17.6-facts.md §3

TESTS = {
    "configmaps": "test_the_example_keeps_its_settings_in_configmaps_and_prometheus_scrapes_every_10_s",
    "prometheus": "test_prometheus_runs_and_is_published_on_nodeport_30001",
    "grafana": "test_grafana_runs_and_is_published_on_nodeport_30002",
    "targets": "test_prometheus_scrapes_component",
    "flows": "test_prometheus_stores_the_flows_hubble_processed",
    "drop": "test_a_request_denied_by_policy_is_counted_in_hubble_drop_total",
    "http": "test_http_requests_are_counted_per_workload_by_httpv2_with_the_labels_context",
    "dashboards": "test_grafana_lists_the_cilium_and_hubble_dashboards",
    "datasource": "test_grafanas_prometheus_data_source_answers_queries",
    "families": "test_every_hubble_metric_family_the_lab_enables_rises_on_curlpods_node_while_curlpod_sends_its_traffic",
    "prefix": "test_the_component_metrics_on_port_port_are_named_prefix",
}
PREFIX_ROWS = {9962: "Cilium agent-9962-cilium_-cilium_endpoint_state", 9964: "Envoy-9964-envoy_-envoy_server_live"}
EVERY_METRICS_TEST: list[str] = []  # filled below TARGET_ROWS
TARGET_ROWS = {9962: "the Cilium agent metrics-9962-of every node, and each is up",
               9965: "the Hubble metrics-9965-of every node, and each is up",
               9963: "the Cilium operator metrics-9963-exactly once, on the operator's node, and up"}

EVERY_METRICS_TEST += sorted([t for k, t in TESTS.items() if k not in ("targets", "prefix")]
                             + [f"{TESTS['targets']}[{row}]" for row in TARGET_ROWS.values()]
                             + [f"{TESTS['prefix']}[{row}]" for row in PREFIX_ROWS.values()])

DROP_SERVER = "webpod-697b545f57-ntmqj"   # the webpod curl-pod's denied request went to (k8s-w1)
HTTP_SERVER = "webpod-697b545f57-b2xst"   # the webpod that answered the httpV2 request (k8s-w2)
DROPS_BEFORE = {"k8s-ctr": 2.0, "k8s-w1": 14.0, "k8s-w2": 5.0}  # reconstructed
DROPS = 2  # curl's SYN and its one retransmission (after 1 s) within --connect-timeout 2


def http_json(doc: Any, status: int = 200) -> dict[str, Any]:
    return {"status": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(doc, separators=(",", ":"))}


def http_text(body: str, status: int = 200, ctype: str = "text/plain; version=0.0.4; charset=utf-8") -> dict[str, Any]:
    return {"status": status, "headers": {"Content-Type": ctype}, "body": body}


# --- the monitoring stage --------------------------------------------------------------------

#: a Ready pod does not listen at once: refused, then Prometheus' 503 while it starts, then ready
PROM_READY = [refused(f"{PROM}/-/ready"), http_text("Service Unavailable", 503),
              http_text("Prometheus Server is Ready.\n")]
GRAFANA_HEALTH = [refused(f"{GRAFANA}/api/health"),
                  http_json({"commit": "3a91dba8d3", "database": "ok", "version": "9.3.6"})]

APPLY_OUT = """namespace/cilium-monitoring created
serviceaccount/prometheus-k8s created
configmap/grafana-config created
configmap/grafana-cilium-dashboard created
configmap/grafana-cilium-operator-dashboard created
configmap/grafana-hubble-dashboard created
configmap/grafana-hubble-l7-http-metrics-by-workload created
configmap/prometheus created
clusterrole.rbac.authorization.k8s.io/prometheus created
clusterrolebinding.rbac.authorization.k8s.io/prometheus created
service/grafana created
service/prometheus created
deployment.apps/grafana created
deployment.apps/prometheus created
"""


#: the prometheus ConfigMap's prometheus.yaml: its global section as the 1.17.6 example sets it
#: (cilium-1.17.6-facts.md §3: scrape_interval 10s, scrape_timeout 10s, evaluation_interval 10s),
#: the four jobs abbreviated to their names and roles (reconstructed)
PROMETHEUS_YAML = """global:
  scrape_interval: {interval}
  scrape_timeout: 10s
  evaluation_interval: 10s
rule_files:
  - "/etc/prometheus-rules/*.rules"
scrape_configs:
  - job_name: 'kubernetes-endpoints'
    kubernetes_sd_configs:
      - role: endpoints
  - job_name: 'kubernetes-pods'
    kubernetes_sd_configs:
      - role: pod
  - job_name: 'kubernetes-services'
    kubernetes_sd_configs:
      - role: service
  - job_name: 'kubernetes-cadvisor'
    kubernetes_sd_configs:
      - role: node
"""
#: ConfigMap -> its keys (cilium-1.17.6-facts.md §3; the dashboards' JSON cut to title and uid)
MON_CONFIGMAPS = {
    "grafana-cilium-dashboard": {"cilium-dashboard.json": '{"title": "Cilium Metrics", "uid": "vtuWtdumz"}'},
    "grafana-cilium-operator-dashboard": {"cilium-operator-dashboard.json": '{"title": "Cilium Operator", "uid": "1GC0TT4Wz"}'},
    "grafana-config": {"config.yaml": "apiVersion: 1\nproviders:\n- name: cilium-dashboard-config\n  type: file\n"
                                      "  options:\n    path: /configmap/dashboards/\n",
                       "grafana.ini": "[server]\nhttp_port = 3000\n",
                       "prometheus-datasource.yaml": "apiVersion: 1\ndatasources:\n- name: prometheus\n  type: prometheus\n"
                                                     "  access: proxy\n  url: http://prometheus:9090\n"},
    "grafana-hubble-dashboard": {"hubble-dashboard.json": '{"title": "Hubble", "uid": "5HftnJAWz"}'},
    "grafana-hubble-l7-http-metrics-by-workload": {
        "hubble-l7-http-metrics-by-workload.json": '{"title": "Hubble L7 HTTP Metrics by Workload", "uid": "3g264CZVz"}'},
    "kube-root-ca.crt": {"ca.crt": "-----BEGIN CERTIFICATE-----\nreconstructed\n-----END CERTIFICATE-----\n"},
    "prometheus": {"prometheus.yaml": PROMETHEUS_YAML.format(interval="10s")},
}


def mon_configmaps(*, interval: str = "10s", skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    out = []
    for name, data in MON_CONFIGMAPS.items():
        if name in skip:
            continue
        if name == "prometheus":
            data = {"prometheus.yaml": PROMETHEUS_YAML.format(interval=interval)}
        meta: dict[str, Any] = {"name": name, "namespace": MON_NS}
        if name.startswith("grafana"):
            meta["labels"] = {"app": "grafana"}
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": dict(data)})
    return out


def mon_deployment(app: str, ready: int) -> dict[str, Any]:
    image = {"prometheus": "prom/prometheus:v2.42.0", "grafana": "docker.io/grafana/grafana:9.3.6"}[app]
    obj = workload("Deployment", app, ready, 1, [{"name": "grafana-core" if app == "grafana" else app, "image": image}], 1)
    obj["metadata"]["namespace"] = MON_NS
    return obj


def mon_service(app: str, node_port: bool = True) -> dict[str, Any]:
    ip, port, np, name = MON_SVC[app]
    p: dict[str, Any] = {"protocol": "TCP", "port": port, "targetPort": port}
    if name:
        p["name"] = name
    if node_port:
        p["nodePort"] = np
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": app, "namespace": MON_NS, "labels": {"app": app}},
            "spec": {"type": "NodePort" if node_port else "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                     "ports": [p], "selector": {"app": app}}}


def stage_calls() -> list[dict[str, Any]]:
    out = [
        call("node_shell", "seed 2542 `monitoring-example.yaml`, 2564-2565 `grafana` `prometheus` (kubectl apply -f .../1.17.6/.../monitoring-example.yaml; "
             "object list of the 1.17.6 file: cilium-1.17.6-facts.md §3)", [cmd(APPLY_OUT)], HUBBLE,
             node="k8s-ctr", command=apply_command(CILIUM_VERSION)),
        call("node_shell", "seed 2703 `prometheus` (service/prometheus patched)", [cmd("service/prometheus patched\n")], HUBBLE,
             node="k8s-ctr", command=patch_command("prometheus")),
        call("node_shell", "seed 2706 `grafana` (service/grafana patched)", [cmd("service/grafana patched\n")], HUBBLE,
             node="k8s-ctr", command=patch_command("grafana")),
    ]
    out.append(call("k8s_list", "seed 2584-2587 `grafana-cilium-dashboard` `grafana-config` `grafana-hubble-dashboard` "
                    "`prometheus` (kubectl get cm -n cilium-monitoring: four ConfigMaps); the 1.17.6 file's two other "
                    "dashboards, kube-root-ca.crt and the data reconstructed (cilium-1.17.6-facts.md §3)",
                    [value(mon_configmaps())], HUBBLE, api_version="v1", kind="ConfigMap", namespace=MON_NS))
    for app in ("prometheus", "grafana"):
        out.append(call("k8s_get", f"seed {2565 if app == 'prometheus' else 2564} `{app}` (deployment.apps/{app} 1/1; 0/1 first: "
                        "reconstructed 'not yet' while the images are pulled)",
                        [value(mon_deployment(app, 0)), value(mon_deployment(app, 1))], HUBBLE,
                        api_version="apps/v1", kind="Deployment", name=app, namespace=MON_NS))
    return out


# --- Prometheus ------------------------------------------------------------------------------


def _target(job: str, scheme: str, address: str, path: str, labels: dict[str, str], health: str = "up",
            error: str = "") -> dict[str, Any]:
    url = f"{scheme}://{address}{path}"
    return {"discoveredLabels": {"__address__": address, "__metrics_path__": path, "__scheme__": scheme,
                                 "job": job},
            "labels": {"instance": address, "job": job, **labels}, "scrapePool": job, "scrapeUrl": url,
            "globalUrl": url, "lastError": error, "lastScrape": "2025-07-26T02:40:11.512318302Z",
            "lastScrapeDuration": 0.018, "health": health, "scrapeInterval": "10s", "scrapeTimeout": "10s"}


def targets_doc(*, health: dict[str, str] | None = None, drop: tuple[str, ...] = (),
                extra: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """`/api/v1/targets?state=active` of the example's scrape jobs (cilium-1.17.6-facts.md §3
    "How each Cilium target is selected"): the agents (9962) and the operator (9963) through
    their pod annotations, Hubble (9965) through the hubble-metrics Service, cAdvisor through
    the API server.  `health` overrides by address; `drop` leaves addresses out."""
    health = health or {}
    out = []
    for node, n in NODES.items():
        ip = n["ip"]
        out.append(_target("kubernetes-pods", "http", f"{ip}:9962", "/metrics", {
            "app_kubernetes_io_name": "cilium-agent", "app_kubernetes_io_part_of": "cilium",
            "controller_revision_hash": "6f95cb5f8c", "k8s_app": "cilium", "kubernetes_namespace": KS,
            "kubernetes_pod_name": AGENT_PODS[node], "pod_template_generation": "2"}))
    out.append(_target("kubernetes-pods", "http", f"{NODES[OPERATOR_NODE]['ip']}:9963", "/metrics", {
        "app_kubernetes_io_name": "cilium-operator", "app_kubernetes_io_part_of": "cilium",
        "io_cilium_app": "operator", "kubernetes_namespace": KS, "kubernetes_pod_name": OPERATOR_POD,
        "name": "cilium-operator", "pod_template_hash": OPERATOR_POD.split("-")[2]}))
    for n in NODES.values():
        out.append(_target("kubernetes-endpoints", "http", f"{n['ip']}:9965", "/metrics", {
            "app_kubernetes_io_name": "hubble", "app_kubernetes_io_part_of": "cilium", "k8s_app": "hubble",
            "kubernetes_name": "hubble-metrics", "kubernetes_namespace": KS}))
    for node in NODES:
        out.append(_target("kubernetes-cadvisor", "https", "kubernetes.default.svc:443",
                           f"/api/v1/nodes/{node}/proxy/metrics/cadvisor",
                           {"kubernetes_io_hostname": node, "kubernetes_io_os": "linux"}))
    out += list(extra)
    out = [t for t in out if t["labels"]["instance"] not in drop or t["scrapePool"] == "kubernetes-cadvisor"]
    for t in out:
        addr = t["labels"]["instance"]
        if addr in health:
            t["health"] = health[addr]
            if health[addr] == "down":
                t["lastError"] = f'Get "{t["scrapeUrl"]}": dial tcp {addr}: connect: connection refused'
            elif health[addr] == "unknown":
                t["lastScrape"], t["lastScrapeDuration"] = "0001-01-01T00:00:00Z", 0
    return {"status": "success", "data": {"activeTargets": out, "droppedTargets": []}}


def query_url(promql: str) -> str:
    return f"{PROM}/api/v1/query?query={quote(promql, safe='')}"


def vector(series: list[tuple[dict[str, str], float]]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": m, "value": [1753497611.512, f"{v:g}"]} for m, v in series]}}


FLOWS_QUERY = "sum by (instance) (hubble_flows_processed_total)"
FLOWS_PROCESSED = {"k8s-ctr": 48213, "k8s-w1": 30977, "k8s-w2": 61540}  # reconstructed


def flows_vector(*, drop: str | None = None, zero: str | None = None) -> dict[str, Any]:
    """`sum by (instance) (hubble_flows_processed_total)`: one series per node's :9965
    instance (mutants leave one out, or report it 0)."""
    return vector([({"instance": f"{NODES[n]['ip']}:9965"}, 0.0 if n == zero else float(FLOWS_PROCESSED[n]))
                   for n in NODES if n != drop])


def drops_query(node: str) -> str:
    return f'sum(hubble_drop_total{{reason="POLICY_DENIED",instance="{NODES[node]["ip"]}:9965"}})'


# --- Hubble metrics (:9965) ---------------------------------------------------------------------

HTTP_LABELS = ("destination_ip", "destination_namespace", "destination_workload", "method", "protocol",
               "reporter", "source_ip", "source_namespace", "source_workload", "status", "traffic_direction")


#: the families of seed 1024 beyond drop/flow/httpV2, as every agent serves them after a while of
#: lab traffic (names and labels: hubble-1.17-formats.md §5.1; counts reconstructed): (HELP, TYPE
#: name, [(labels, value)])
FAMILY_SERIES = {
    "hubble_dns_queries_total": ("Number of DNS queries observed",
                                 [({"ips_returned": "0", "qtypes": "A", "rcode": ""}, 6),
                                  ({"ips_returned": "0", "qtypes": "AAAA", "rcode": ""}, 6)]),
    "hubble_dns_responses_total": ("Number of DNS queries observed",
                                   [({"ips_returned": "1", "qtypes": "A", "rcode": "No Error"}, 6),
                                    ({"ips_returned": "0", "qtypes": "AAAA", "rcode": "No Error"}, 6)]),
    "hubble_dns_response_types_total": ("Number of DNS queries observed", [({"qtypes": "A", "type": "A"}, 6)]),
    "hubble_icmp_total": ("Number of ICMP messages", [({"family": "IPv4", "type": "DestinationUnreachable(Port)"}, 1)]),
    "hubble_port_distribution_total": ("Numbers of packets distributed by destination port",
                                       [({"port": "53", "protocol": "UDP"}, 212), ({"port": "80", "protocol": "TCP"}, 57),
                                        ({"port": "4244", "protocol": "TCP"}, 390), ({"port": "6443", "protocol": "TCP"}, 1104)]),
    "hubble_tcp_flags_total": ("TCP flag occurrences",
                               [({"family": "IPv4", "flag": "FIN"}, 1480), ({"family": "IPv4", "flag": "SYN"}, 1502),
                                ({"family": "IPv4", "flag": "SYN-ACK"}, 1497)]),
}


def _series(name: str, labels: dict[str, str], value: float) -> str:
    pairs = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    return f"{name}{{{pairs}}} {value:g}"


def hubble_metrics(node: str, *, drops: float | None = None, http: list[dict[str, str]] = (),
                   rose: dict[tuple[str, tuple[tuple[str, str], ...]], float] | None = None) -> str:
    """What `GET http://<node>:9965/metrics` answers (Prometheus text, labels sorted by
    name; hubble-1.17-formats.md §5.1).  Values reconstructed.  `rose` adds to (or
    creates) series: (metric, sorted label pairs) -> increment."""
    drops = DROPS_BEFORE[node] if drops is None else drops
    rose = dict(rose or {})

    def emit(name: str, labels: dict[str, str], value: float) -> str:
        return _series(name, labels, value + rose.pop((name, tuple(sorted(labels.items()))), 0))

    out = ["# HELP hubble_drop_total Number of drops",
           "# TYPE hubble_drop_total counter",
           emit("hubble_drop_total", {"protocol": "ICMPv4", "reason": "STALE_OR_UNROUTABLE_IP"}, 2),
           f'hubble_drop_total{{protocol="TCP",reason="POLICY_DENIED"}} {drops:g}',
           "# HELP hubble_flows_processed_total Total number of flows processed",
           "# TYPE hubble_flows_processed_total counter",
           (f'hubble_flows_processed_total{{protocol="TCP",subtype="to-endpoint",type="Trace",verdict="FORWARDED"}} '
            f"{FLOWS_PROCESSED[node] // 2}"),
           (f'hubble_flows_processed_total{{protocol="TCP",subtype="to-network",type="Trace",verdict="FORWARDED"}} '
            f"{FLOWS_PROCESSED[node] - FLOWS_PROCESSED[node] // 2 - 40}"),
           'hubble_flows_processed_total{protocol="UDP",subtype="to-endpoint",type="Trace",verdict="FORWARDED"} 40',
           emit("hubble_flows_processed_total", {"protocol": "HTTP", "subtype": "HTTP", "type": "L7",
                                                 "verdict": "FORWARDED"}, 24)]
    for name, (help_text, series) in sorted(FAMILY_SERIES.items()):
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        out += [emit(name, labels, value) for labels, value in series]
    # series that did not exist before: appended to their family's block
    for (name, pairs), value in sorted(rose.items()):
        if name == "hubble_http_requests_total":
            continue
        block = max(i for i, line in enumerate(out) if line.startswith(name + "{") or line == f"# TYPE {name} counter")
        out.insert(block + 1, _series(name, dict(pairs), value))
    http = list(http) + [dict(pairs) for (name, pairs), _ in rose.items() if name == "hubble_http_requests_total"]
    if http:
        out += ["# HELP hubble_http_requests_total Count of HTTP requests",
                "# TYPE hubble_http_requests_total counter"]
        for labels in http:
            pairs = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
            out.append(f"hubble_http_requests_total{{{pairs}}} 1")
    out += ["# HELP hubble_lost_events_total Number of lost events",
            "# TYPE hubble_lost_events_total counter",
            'hubble_lost_events_total{source="hubble_ring_buffer"} 0',
            'hubble_lost_events_total{source="observer_events_queue"} 0',
            'hubble_lost_events_total{source="perf_event_ring_buffer"} 0']
    return "\n".join(out) + "\n"


def http_labels(ns: str, *, context: bool = True) -> dict[str, str]:
    """The httpV2 series of curl-pod's request to HTTP_SERVER, as Hubble labels it with the
    lab's labelsContext (hubble-1.17-formats.md §5.1): the request's point of view, counted
    on the response; curl-pod is a bare Pod, so it has no workload."""
    base = {"method": "GET", "protocol": "HTTP/1.1", "reporter": "server", "status": "200"}
    if not context:
        return base
    return {**base, "source_ip": CURL_POD_IP, "source_namespace": ns, "source_workload": "",
            "destination_ip": WEBPODS[HTTP_SERVER][1], "destination_namespace": ns,
            "destination_workload": "webpod", "traffic_direction": "ingress"}


# --- policies ------------------------------------------------------------------------------------


def _selector(ns: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"matchLabels": {**{f"any:{k}": v for k, v in labels.items()}, "k8s:io.kubernetes.pod.namespace": ns}}


def policy_rules(ns: str, obj: dict[str, Any], uid: str) -> list[dict[str, Any]]:
    """The repository rules an agent imports from a CNP (`cilium-dbg policy get -o json`):
    selectors namespaced, labels naming the object; ports and L7 rules as in the spec."""
    spec = obj["spec"]
    rule: dict[str, Any] = {"endpointSelector": _selector(ns, spec["endpointSelector"].get("matchLabels") or {})}
    ingress = []
    for entry in spec.get("ingress") or []:
        e: dict[str, Any] = {"fromEndpoints": [_selector(ns, s.get("matchLabels") or {})
                                               for s in entry.get("fromEndpoints") or []]}
        if entry.get("toPorts"):
            e["toPorts"] = entry["toPorts"]
        ingress.append(e)
    if ingress or not spec.get("egress"):
        rule["ingress"] = ingress
    egress = []
    for entry in spec.get("egress") or []:
        e = {"toEndpoints": [_selector(ns, s.get("matchLabels") or {}) for s in entry["toEndpoints"]]} \
            if "toEndpoints" in entry else {}
        if entry.get("toPorts"):
            e["toPorts"] = entry["toPorts"]
        egress.append(e)
    if egress:
        rule["egress"] = egress
    rule["enableDefaultDeny"] = {"ingress": bool(ingress), "egress": bool(egress)}
    rule["labels"] = [{"key": "io.cilium.k8s.policy.derived-from", "value": "CiliumNetworkPolicy", "source": "k8s"},
                      {"key": policy_probe.POLICY_LABEL_NAME, "value": obj["metadata"]["name"], "source": "k8s"},
                      {"key": policy_probe.POLICY_LABEL_NAMESPACE, "value": ns, "source": "k8s"},
                      {"key": policy_probe.POLICY_LABEL_UID, "value": uid, "source": "k8s"}]
    return [rule]


def endpoint_json(ns: str, ep_id: int, pod: str | None, ip: str | None, identity: int, enabled: str,
                  revision: int, labels: list[str]) -> dict[str, Any]:
    status: dict[str, Any] = {"state": "ready", "identity": {"id": identity, "labels": labels},
                              "labels": {"security-relevant": labels},
                              "policy": {"realized": {"policy-enabled": enabled, "policy-revision": revision}}}
    if pod:
        status["external-identifiers"] = {"k8s-namespace": ns, "k8s-pod-name": pod, "pod-name": f"{ns}/{pod}"}
    if ip:
        status["networking"] = {"addressing": [{"ipv4": ip}]}
    return {"id": ep_id, "spec": {}, "status": status}


def agent_endpoints(ns: str, node: str, revision: int) -> list[dict[str, Any]]:
    host = endpoint_json(ns, {"k8s-ctr": 703, "k8s-w1": 808, "k8s-w2": 1906}[node], None, None, 1, "none", revision,
                         ["reserved:host"])
    out = [host]
    if node == CURL_POD_NODE:
        out.append(endpoint_json(ns, CURL_EP_ID, whoami.CURL_POD, CURL_POD_IP, 10292, "none", revision,
                                 ["k8s:app=curl", f"k8s:io.kubernetes.pod.namespace={ns}"]))
    for name, (n, ip) in WEBPODS.items():
        if n == node:
            out.append(endpoint_json(ns, WEBPOD_EP_ID[name], name, ip, 2460, "ingress", revision,
                                     ["k8s:app=webpod", f"k8s:io.kubernetes.pod.namespace={ns}"]))
    return out


POLICY_REVISION = {"k8s-ctr": 12, "k8s-w1": 12, "k8s-w2": 12}  # reconstructed


def apply_policy(sc: Scenario, relpath: str) -> None:
    """`Given the policy "<relpath>" is applied and realised`: the apply, then what
    cilab.probes.policy.wait_policy_realised asks of the API and of every agent."""
    created = sc.apply(relpath, f"reconstructed (the chapter's own policy {relpath})")
    for obj in created:
        name, uid = obj["metadata"]["name"], obj["metadata"]["uid"]
        with_status = {**obj, "status": {"conditions": [{"type": "Valid", "status": "True",
                                                         "message": "Policy validation succeeded"}]}}
        sc.add("k8s_get", "seed 2812 `Policy validation succeeded` (a CNP reports Valid: Policy validation succeeded; this policy reconstructed)",
               [value(with_status)], api_version=policy_probe.CNP_API, kind="CiliumNetworkPolicy",
               name=name, namespace=sc.ns)
        for node, agent in AGENT_PODS.items():
            rev = POLICY_REVISION[node]
            doc = {"policy": json.dumps(policy_rules(sc.ns, obj, uid), indent=2), "revision": rev}
            results = [cmd(json.dumps(doc, indent=2) + "\n")]
            if node == "k8s-w1":  # one agent imports it a moment later
                results.insert(0, cmd("", rc=1, stderr="Error: Cannot get policy: [GET /policy][404] "
                                                        "getPolicyNotFound \n"))
            sc.add("pod_exec", "reconstructed (cilium-dbg policy get: the agent's rules of the CNP, repository revision)",
                   results, namespace=KS, pod=agent, container=policy_probe.AGENT_CONTAINER,
                   command=policy_probe.policy_get_command(sc.ns, name, uid))
            sc.add("pod_exec", "reconstructed (cilium-dbg endpoint list: every endpoint ready at the revision)",
                   [cmd(json.dumps(agent_endpoints(sc.ns, node, rev), indent=2) + "\n")],
                   namespace=KS, pod=agent, container=policy_probe.AGENT_CONTAINER, command=policy_probe.ENDPOINT_LIST)


# --- the agent's (:9962) and Envoy's (:9964) metrics ---------------------------------------------


def agent_metrics(node: str, prefix: str = "cilium_") -> str:
    """`GET http://<node>:9962/metrics`: the agent's registry (cilium_..., the process collector
    under cilium_ too) next to the Go collector and controller-runtime's workqueue metrics
    (cilium/cilium pkg/metrics/registry.go; names hubble-1.17-formats.md §5.2; values
    reconstructed).  `prefix` renames the agent's own families (mutants)."""
    eps = {"k8s-ctr": 3, "k8s-w1": 2, "k8s-w2": 2}[node]
    own = [("endpoint_state", "gauge", "Count of all endpoints, tagged by different endpoint states",
            [({"endpoint_state": "ready"}, eps)]),
           ("drop_count_total", "counter", "Total dropped packets, tagged by drop reason and ingress/egress direction",
            [({"direction": "INGRESS", "reason": "Policy denied"}, 31), ({"direction": "EGRESS", "reason": "Policy denied"}, 4)]),
           ("forward_count_total", "counter", "Total forwarded packets, tagged by ingress/egress direction",
            [({"direction": "EGRESS"}, 184220), ({"direction": "INGRESS"}, 171904)]),
           ("policy", "gauge", "Number of policies currently loaded", [({}, 3)]),
           ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", [({}, 412.7)])]
    out = []
    for name, kind, help_text, series in own:
        full = prefix + name
        out += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"]
        out += [_series(full, labels, value) if labels else f"{full} {value:g}" for labels, value in series]
    out += ["# HELP go_goroutines Number of goroutines that currently exist.", "# TYPE go_goroutines gauge",
            "go_goroutines 1874",
            "# HELP workqueue_adds_total Total number of adds handled by workqueue",
            "# TYPE workqueue_adds_total counter", 'workqueue_adds_total{name="ciliumendpoint"} 87']
    return "\n".join(out) + "\n"


def envoy_metrics(node: str, prefix: str = "envoy_") -> str:
    """`GET http://<node>:9964/metrics`: Envoy's Prometheus stats (server.live, listener and
    cluster statistics) under envoy_ (seed 2737; values reconstructed)."""
    out = [f"# TYPE {prefix}server_live gauge", f"{prefix}server_live{{}} 1",
           f"# TYPE {prefix}server_uptime gauge", f"{prefix}server_uptime{{}} 86112",
           f"# TYPE {prefix}listener_manager_total_listeners_active gauge",
           f"{prefix}listener_manager_total_listeners_active{{}} 3",
           f"# TYPE {prefix}cluster_upstream_cx_total counter",
           f'{prefix}cluster_upstream_cx_total{{envoy_cluster_name="egress-cluster"}} '
           f'{ {"k8s-ctr": 41, "k8s-w1": 0, "k8s-w2": 0}[node]}',
           f'{prefix}cluster_upstream_cx_total{{envoy_cluster_name="ingress-cluster"}} '
           f'{ {"k8s-ctr": 0, "k8s-w1": 17, "k8s-w2": 23}[node]}']
    return "\n".join(out) + "\n"


def prefix_calls() -> list[dict[str, Any]]:
    out = []
    for node in NODES:
        ip = NODES[node]["ip"]
        out.append(call("http_get", "seed 2736 `cilium_` (Cilium metrics under cilium_) and 2683-2695 (9962 on every node); "
                        "body reconstructed (hubble-1.17-formats.md §5.2)", [http_text(agent_metrics(node))], HUBBLE,
                        url=f"http://{ip}:9962/metrics"))
        out.append(call("http_get", "seed 2737 `envoy_` (Envoy metrics under envoy_) and 992 (0.0.0.0:9964 cilium-envoy); "
                        "body reconstructed", [http_text(envoy_metrics(node))], HUBBLE, url=f"http://{ip}:9964/metrics"))
    return out


# --- the scenarios ------------------------------------------------------------------------------


def scrape_url(node: str) -> str:
    return f"http://{NODES[node]['ip']}:9965/metrics"


def drop_scenario() -> tuple[Scenario, traffic.Request]:
    sc = Scenario(TESTS["drop"], SEED)
    start_workloads(sc)
    apply_policy(sc, "metrics/webpod-deny-curl.yaml")
    req = request(sc.ns)
    send(sc, req, curl_out(netshoot_start(f"{T0}20.951377012Z"), CURL_POD_IP, status=None, rc=28, connected=False,
                           address=WEBPOD_SVC_IP, error=connect_timeout_error("webpod", 80)),
         "reconstructed (the denied request's connect attempt to the webpod Service times out after "
         "--connect-timeout 2: curl exit 28, as xwing's in seed 1923-1924; start line before its drops)")
    sc.add("k8s_get", "seed 2490 `10.96.166.184` (service/webpod ClusterIP 10.96.166.184)",
           [value(webpod_service(sc.ns))], api_version="v1", kind="Service", name="webpod", namespace=sc.ns)
    node = WEBPODS[DROP_SERVER][0]
    drops = [tcp_flow(sc.ns, node, whoami.CURL_POD, DROP_SERVER, req.local_port, 80, ["SYN"], second=s,
                      reply=False, verdict="DROPPED", n=i) for i, s in enumerate((21.004, 22.031))]
    sc.add("pod_exec", "reconstructed (POLICY_DENIED drops of curl-pod's SYNs at webpod; shape of hubble-1.17-formats.md §1.4; "
           "the retransmission reaches Relay one read after the first drop: 1, then 2 drops)",
           [cmd(lines(drops[:1])), cmd(lines(drops))], namespace=KS, pod=AGENT_PODS["k8s-ctr"], container="cilium-agent",
           command=["hubble", "observe", "--server", f"{SVC_IPS['hubble-relay']}:80", "-o", "jsonpb", "--last",
                    "1000", "--namespace", sc.ns, "--verdict", "DROPPED"])
    return sc, req


def http_scenario() -> tuple[Scenario, traffic.Request]:
    sc = Scenario(TESTS["http"], SEED)
    start_workloads(sc)
    apply_policy(sc, "metrics/webpod-http-visibility.yaml")
    req = request(sc.ns)
    envoy = ["X-Envoy-Expected-Rq-Timeout-Ms: 3600000", "X-Envoy-Internal: true", "X-Forwarded-Proto: http",
             "X-Request-Id: 3c5e1f2a-9b7d-4e61-8a0c-5f4d2b1e7a93"]  # seed 2842-2849 (headers Envoy adds)
    send(sc, req, answered(req, HTTP_SERVER, headers=envoy),
         "seed 2843-2849 `Hostname: webpod-697b545f57-b2xst` `X-Request-Id` (curl-pod -> webpod through Envoy: HTTP 200 with Envoy's headers)")
    sc.add("k8s_get", "seed 2502 `172.20.2.207` (webpod-697b545f57-b2xst 172.20.2.207, a k8s-w2 pod IP)", [value(webpod_obj(sc.ns, HTTP_SERVER))],
           api_version="v1", kind="Pod", name=HTTP_SERVER, namespace=sc.ns)
    sc.add("k8s_get", "seed 2501 `172.20.0.241` (curl-pod 172.20.0.241)", [value(curl_pod_obj(sc.ns))],
           api_version="v1", kind="Pod", name=whoami.CURL_POD, namespace=sc.ns)
    return sc, req


PING_TARGET = HTTP_SERVER


def families_rose(ns: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """What curl-pod's lookup, request and ping add on its node (k8s-ctr): A and AAAA queries
    and answers through the DNS proxy, the request's TCP handshake and L7 flows, the ping's
    drop (hubble-1.17-formats.md §5.1; counts reconstructed)."""
    def k(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted(labels.items()))
    return {
        k("hubble_dns_queries_total", ips_returned="0", qtypes="A", rcode=""): 1,
        k("hubble_dns_queries_total", ips_returned="0", qtypes="AAAA", rcode=""): 1,
        k("hubble_dns_responses_total", ips_returned="1", qtypes="A", rcode="No Error"): 1,
        k("hubble_dns_responses_total", ips_returned="0", qtypes="AAAA", rcode="No Error"): 1,
        k("hubble_dns_response_types_total", qtypes="A", type="A"): 1,
        k("hubble_drop_total", protocol="ICMPv4", reason="POLICY_DENIED"): 1,
        k("hubble_tcp_flags_total", family="IPv4", flag="SYN"): 1,
        k("hubble_tcp_flags_total", family="IPv4", flag="SYN-ACK"): 1,
        k("hubble_tcp_flags_total", family="IPv4", flag="FIN"): 2,
        k("hubble_flows_processed_total", protocol="HTTP", subtype="HTTP", type="L7", verdict="FORWARDED"): 2,
        k("hubble_port_distribution_total", port="53", protocol="UDP"): 2,
        k("hubble_port_distribution_total", port="80", protocol="TCP"): 2,
        k("hubble_icmp_total", family="IPv4", type="EchoRequest"): 1,
        k("hubble_http_requests_total", destination_ip=WEBPODS[HTTP_SERVER][1], destination_namespace=ns,
          destination_workload="webpod", method="GET", protocol="HTTP/1.1", reporter="client",
          source_ip=CURL_POD_IP, source_namespace=ns, source_workload="", status="200",
          traffic_direction="egress"): 1,
    }


def families_scenario() -> tuple[Scenario, traffic.Request]:
    sc = Scenario(TESTS["families"], SEED)
    start_workloads(sc)
    apply_policy(sc, "webpod/l7_visibility_policy.yaml")
    sc.add("k8s_get", "seed 2463 `k8s-ctr`, 2501 `172.20.0.241` (curl-pod 172.20.0.241 on k8s-ctr)", [value(curl_pod_obj(sc.ns))],
           api_version="v1", kind="Pod", name=whoami.CURL_POD, namespace=sc.ns)
    req = request(sc.ns)
    envoy = ["X-Envoy-Expected-Rq-Timeout-Ms: 3600000", "X-Envoy-Internal: true", "X-Forwarded-Proto: http",
             "X-Request-Id: 9e1b7c44-2f0a-4d3e-b5a6-81c0d7e2f915"]  # seed 2842-2849 (headers Envoy adds)
    send(sc, req, answered(req, HTTP_SERVER, headers=envoy),
         "seed 2843-2849 `Hostname: webpod-697b545f57-b2xst` `X-Request-Id` (curl-pod -> webpod under l7-visibility, through Envoy: HTTP 200); start line, -v lines "
         "and -w timings reconstructed")
    sc.add("k8s_get", "seed 2502 `172.20.2.207` (webpod-697b545f57-b2xst 172.20.2.207)", [value(webpod_obj(sc.ns, PING_TARGET))],
           api_version="v1", kind="Pod", name=PING_TARGET, namespace=sc.ns)
    ip = WEBPODS[PING_TARGET][1]
    sc.add("pod_exec", "reconstructed (netshoot's ping: the policy allows no ICMP, so no reply; seed 2757, 2891 "
           "'Zero Trust')", [cmd(f"PING {ip} ({ip}) 56(84) bytes of data.\n\n--- {ip} ping statistics ---\n"
                                 "1 packets transmitted, 0 received, 100% packet loss, time 0ms\n\n", rc=1)],
           namespace=sc.ns, pod=whoami.CURL_POD, command=["ping", "-c", "1", "-W", "2", ip])
    return sc, req


def _own_calls() -> list[dict[str, Any]]:
    drop_sc, _ = drop_scenario()
    http_sc, _ = http_scenario()
    families_sc, _ = families_scenario()
    drop_node = WEBPODS[DROP_SERVER][0]
    http_node = WEBPODS[HTTP_SERVER][0]
    scrapes = []
    for node in NODES:
        if node == drop_node:
            results = [http_text(hubble_metrics(node)), http_text(hubble_metrics(node, drops=DROPS_BEFORE[node] + DROPS))]
            seed = "seed 2686-2694 `9965` `9965` (9965 on every node); drops before and after the denied request: reconstructed"
        elif node == http_node:
            results = [http_text(hubble_metrics(node, http=[http_labels(http_sc.ns)]))]
            seed = "seed 2686-2694 `9965` `9965` (9965); httpV2 series with the labelsContext of seed 2658: reconstructed"
        elif node == CURL_POD_NODE:
            results = [http_text(hubble_metrics(node)), http_text(hubble_metrics(node, rose=families_rose(families_sc.ns)))]
            seed = ("seed 2686-2694 `9965` `9965` (9965 on every node) and 1024 (the families enabled); before and after curl-pod's "
                    "lookup, request and ping: reconstructed")
        else:
            results = [http_text(hubble_metrics(node))]
            seed = "seed 2686-2694 `9965` `9965` (9965 on every node); values reconstructed"
        scrapes.append(call("http_get", seed, results, HUBBLE, url=scrape_url(node)))
    after = DROPS_BEFORE[drop_node] + DROPS
    ip_of = {n: NODES[n]["ip"] for n in NODES}
    return [
        *stage_calls(),
        call("k8s_get", "seed 2711 `prometheus` (service/prometheus NodePort 9090:30001/TCP)", [value(mon_service("prometheus"))],
             HUBBLE, api_version="v1", kind="Service", name="prometheus", namespace=MON_NS),
        call("k8s_get", "seed 2710 `grafana` (service/grafana NodePort 3000:30002/TCP)", [value(mon_service("grafana"))],
             HUBBLE, api_version="v1", kind="Service", name="grafana", namespace=MON_NS),
        call("http_get", "seed 2676 `30001`, 2713 `30001` (Prometheus on :30001; /-/ready answer reconstructed; refused, then "
             "503 while the server starts behind its Ready pod: reconstructed 'not yet')",
             PROM_READY, HUBBLE, url=f"{PROM}/-/ready"),
        call("http_get", "seed 2677 `30002`, 2719 `30002` (Grafana on :30002; 9.3.6 from cilium-1.17.6-facts.md §3; /api/health answer "
             "reconstructed; refused first, before Grafana listens: reconstructed 'not yet')",
             GRAFANA_HEALTH, HUBBLE, url=f"{GRAFANA}/api/health"),
        call("http_get", "reconstructed (the example's jobs, cilium-1.17.6-facts.md §3; seed 2715 names the "
             "Prometheus > Targets page but prints none of it; first answer before the first scrape: 'not yet')",
             [http_json(targets_doc(health={f"{ip}:{p}": "unknown" for ip in ip_of.values() for p in (9962, 9965)})),
              http_json(targets_doc())], HUBBLE, url=f"{PROM}/api/v1/targets?state=active"),
        call("http_get", "reconstructed (hubble_flows_processed_total per node, scraped from 9965)",
             [http_json(flows_vector())],
             HUBBLE, url=query_url(FLOWS_QUERY)),
        *scrapes,
        call("http_get", "reconstructed (seed 2717 names the query hubble_drop_total but prints no "
             "answer; before the next scrape, then after)", [http_json(vector([({}, DROPS_BEFORE[drop_node])])), http_json(vector([({}, after)]))],
             HUBBLE, url=query_url(drops_query(drop_node))),
        call("http_get", "seed 2721-2730 `Metrics` `Workload` (Grafana: Cilium Metrics, Operator, Hubble, Hubble L7 HTTP Metrics by "
             "Workload; titles and uids: cilium-1.17.6-facts.md §3)", [http_json(search_doc())], HUBBLE,
             url=f"{GRAFANA}/api/search?type=dash-db"),
        call("http_get", "reconstructed from the example's prometheus-datasource.yaml (cilium-1.17.6-facts.md §3)",
             [http_json(datasources_doc())], HUBBLE, url=f"{GRAFANA}/api/datasources"),
        call("http_get", "reconstructed (Prometheus' answer to `up` through Grafana's data source proxy)",
             [http_json(vector([({"__name__": "up", "instance": f"{NODES[n]['ip']}:{p}", "job": j}, 1.0)
                                for n in NODES for p, j in ((9962, "kubernetes-pods"), (9965, "kubernetes-endpoints"))]))],
             HUBBLE, url=grafana_query_url("up")),
        *drop_sc.teardown(),
        *http_sc.teardown(),
        *families_sc.teardown(),
        *prefix_calls(),
    ]


def search_doc(drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{"id": i, "uid": uid, "title": title, "uri": f"db/{title.lower().replace(' ', '-')}",
             "url": f"/d/{uid}/{title.lower().replace(' ', '-')}", "slug": "", "type": "dash-db", "tags": [],
             "isStarred": False, "sortMeta": 0}
            for i, (title, uid) in enumerate(sorted(DASHBOARDS), start=1) if title not in drop]


def datasources_doc() -> list[dict[str, Any]]:
    return [{"id": 1, "uid": DATASOURCE_UID, "orgId": 1, "name": "prometheus", "type": "prometheus",
             "typeName": "Prometheus", "typeLogoUrl": "public/app/plugins/datasource/prometheus/img/prometheus_logo.svg",
             "access": "proxy", "url": "http://prometheus:9090", "user": "", "database": "", "basicAuth": False,
             "isDefault": False, "jsonData": {}, "readOnly": False}]


def grafana_query_url(promql: str) -> str:
    return f"{GRAFANA}/api/datasources/proxy/uid/{DATASOURCE_UID}/api/v1/query?query={quote(promql, safe='')}"


def calls() -> list[dict[str, Any]]:
    return beyond_hubble(_own_calls())


def mutants() -> dict[str, dict[str, Any]]:
    ref = _own_calls() + hubble_calls()
    targets_url = {"url": f"{PROM}/api/v1/targets?state=active"}
    http_ns = Scenario(TESTS["http"], SEED).ns
    families_ns = Scenario(TESTS["families"], SEED).ns
    drop_node = WEBPODS[DROP_SERVER][0]

    def targets(**kw: Any) -> list[dict[str, Any]]:
        return [_replace(ref, "http_get", HUBBLE, [http_json(targets_doc(**kw))], **targets_url)]

    ip = {n: NODES[n]["ip"] for n in NODES}
    second_operator = targets_doc()["data"]["activeTargets"][3]
    second_operator = json.loads(json.dumps(second_operator).replace(f"{ip['k8s-ctr']}:9963", f"{ip['k8s-w1']}:9963"))
    return {
        "metrics-prometheus-never-ready": {
            "breaks": "the prometheus Deployment never gets a ready replica",
            # the monitoring stage waits for it, so no scenario of the chapter can pass
            "expect": EVERY_METRICS_TEST,
            "message": "Deployment cilium-monitoring/prometheus: 0/1 ready",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(mon_deployment("prometheus", 0))], api_version="apps/v1",
                               kind="Deployment", name="prometheus", namespace=MON_NS)]},
        "metrics-prometheus-ready-pod-not-serving": {
            "breaks": "the prometheus pod is Ready but the server behind NodePort 30001 keeps answering "
                      "/-/ready with 503",
            "expect": EVERY_METRICS_TEST,
            "message": "prometheus not ready: HTTP 503 'Service Unavailable'",
            "calls": [_replace(ref, "http_get", HUBBLE, [http_text("Service Unavailable", 503)], url=f"{PROM}/-/ready")]},
        "metrics-no-prometheus-configmap": {
            "breaks": "the monitoring namespace has no ConfigMap prometheus",
            "expect": [TESTS["configmaps"]],
            "message": "expected grafana-cilium-dashboard, grafana-config, grafana-hubble-dashboard, prometheus among "
                       "the ConfigMaps, missing prometheus",
            "calls": [_replace(ref, "k8s_list", HUBBLE, [value(mon_configmaps(skip=("prometheus",)))],
                               api_version="v1", kind="ConfigMap", namespace=MON_NS)]},
        "metrics-scrape-interval-15s": {
            "breaks": "the example's prometheus.yaml scrapes every 15s (the write-up's summary), not the 10s the "
                      "1.17.6 example sets",
            "expect": [TESTS["configmaps"]],
            "message": "expected prometheus.yaml's global scrape_interval 10s, saw 15s",
            "calls": [_replace(ref, "k8s_list", HUBBLE, [value(mon_configmaps(interval="15s"))],
                               api_version="v1", kind="ConfigMap", namespace=MON_NS)]},
        "metrics-grafana-not-published": {
            "breaks": "the grafana Service stays a ClusterIP (the NodePort patch did not apply)",
            "expect": [TESTS["grafana"]],
            "message": "Service cilium-monitoring/grafana: expected type NodePort, saw ClusterIP",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(mon_service("grafana", node_port=False))],
                               api_version="v1", kind="Service", name="grafana", namespace=MON_NS)]},
        "metrics-agent-target-down-on-w2": {
            "breaks": "Prometheus cannot scrape the agent metrics of k8s-w2",
            "expect": [f"{TESTS['targets']}[{TARGET_ROWS[9962]}]"],
            "message": f"target {ip['k8s-w2']}:9962 [kubernetes-pods] down",
            "calls": targets(health={f"{ip['k8s-w2']}:9962": "down"})},
        "metrics-hubble-target-missing-on-w1": {
            "breaks": "Prometheus has no Hubble metrics target for k8s-w1",
            "expect": [f"{TESTS['targets']}[{TARGET_ROWS[9965]}]"],
            "message": f"no active target {ip['k8s-w1']}:9965 (k8s-w1)",
            "calls": targets(drop=(f"{ip['k8s-w1']}:9965",))},
        "metrics-operator-scraped-twice": {
            "breaks": "Prometheus scrapes operator metrics on two nodes although one operator runs",
            "expect": [f"{TESTS['targets']}[{TARGET_ROWS[9963]}]"],
            "message": f"expected exactly one target on port 9963, {ip['k8s-ctr']}:9963 on k8s-ctr where the operator runs; saw 2",
            "calls": targets(extra=[second_operator])},
        "metrics-flows-processed-absent": {
            "breaks": "Prometheus holds no hubble_flows_processed_total",
            "expect": [TESTS["flows"]],
            "message": "no positive series for " + ", ".join(f"{ip[n]}:9965 ({n})" for n in NODES),
            "calls": [_replace(ref, "http_get", HUBBLE, [http_json(vector([]))], url=query_url(FLOWS_QUERY))]},
        "metrics-flows-processed-missing-on-w1": {
            "breaks": "Prometheus holds hubble_flows_processed_total for k8s-ctr and k8s-w2 but none for "
                      "k8s-w1's Hubble metrics (its observer counts no flow)",
            "expect": [TESTS["flows"]],
            "message": f"no positive series for {ip['k8s-w1']}:9965 (k8s-w1) (expected one",
            "calls": [_replace(ref, "http_get", HUBBLE, [http_json(flows_vector(drop="k8s-w1"))],
                               url=query_url(FLOWS_QUERY))]},
        "metrics-flows-processed-zero-on-w2": {
            "breaks": "k8s-w2's Hubble metrics report hubble_flows_processed_total 0 (series present, no flow counted)",
            "expect": [TESTS["flows"]],
            "message": f"no positive series for {ip['k8s-w2']}:9965 (k8s-w2) (expected one",
            "calls": [_replace(ref, "http_get", HUBBLE, [http_json(flows_vector(zero="k8s-w2"))],
                               url=query_url(FLOWS_QUERY))]},
        "metrics-drop-counter-not-rising": {
            "breaks": "hubble_drop_total does not count the policy drops on k8s-w1",
            "expect": [TESTS["drop"]],
            "message": f'hubble_drop_total{{reason="POLICY_DENIED"}} on k8s-w1: expected a rise of at least {DROPS}',
            "calls": [_replace(ref, "http_get", HUBBLE, [http_text(hubble_metrics(drop_node))], url=scrape_url(drop_node))]},
        "metrics-drop-counter-rises-less-than-own-drops": {
            "breaks": "hubble_drop_total on k8s-w1 rises by 1 while Hubble shows the request's 3 drops there "
                      "(a rise that a first, partial read of the flows would accept)",
            "expect": [TESTS["drop"]],
            "message": f'hubble_drop_total{{reason="POLICY_DENIED"}} on k8s-w1: expected a rise of at least {DROPS}',
            "calls": [_replace(ref, "http_get", HUBBLE, [http_text(hubble_metrics(drop_node)), http_text(
                hubble_metrics(drop_node, drops=DROPS_BEFORE[drop_node] + 1))], url=scrape_url(drop_node))]},
        "metrics-prometheus-misses-the-drops": {
            "breaks": "Prometheus never scrapes the new hubble_drop_total of k8s-w1",
            "expect": [TESTS["drop"]],
            "message": f"expected at least {DROPS_BEFORE[drop_node] + DROPS:g} (scraped from k8s-w1), saw {DROPS_BEFORE[drop_node]:g}",
            "calls": [_replace(ref, "http_get", HUBBLE, [http_json(vector([({}, DROPS_BEFORE[drop_node])]))],
                               url=query_url(drops_query(drop_node)))]},
        "metrics-http-without-labels-context": {
            "breaks": "hubble_http_requests_total carries none of the labelsContext labels",
            "expect": [TESTS["http"]],
            "message": f"hubble_http_requests_total on k8s-w2 ({ip['k8s-w2']}:9965): expected a series",
            "calls": [_replace(ref, "http_get", HUBBLE, [http_text(hubble_metrics(
                "k8s-w2", http=[http_labels(http_ns, context=False)]))], url=scrape_url("k8s-w2"))]},
        "metrics-icmp-family-not-counting": {
            "breaks": "hubble_icmp_total does not count curl-pod's ping on k8s-ctr",
            "expect": [TESTS["families"]],
            "message": 'did not rise: icmp: hubble_icmp_total{family="IPv4",type="EchoRequest"} 0 -> 0',
            "calls": [_replace(ref, "http_get", HUBBLE, [http_text(hubble_metrics(CURL_POD_NODE)), http_text(
                hubble_metrics(CURL_POD_NODE, rose={k: v for k, v in families_rose(families_ns).items()
                                                    if k[0] != "hubble_icmp_total"}))], url=scrape_url(CURL_POD_NODE))]},
        "metrics-hubble-metrics-without-icmp": {
            "breaks": "cilium-config's hubble-metrics enables every family of the lab's Helm upgrade but icmp",
            "expect": [TESTS["families"]],
            "message": "cilium-config hubble-metrics enables dns, drop, flow, httpV2, port-distribution, tcp; "
                       "the lab's Helm upgrade enables dns, drop, flow, httpV2, icmp, port-distribution, tcp",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(_cm_with(HUBBLE_CONFIG, **{
                "hubble-metrics": HUBBLE_CONFIG["hubble-metrics"].replace(" icmp ", " ")}))],
                api_version="v1", kind="ConfigMap", name="cilium-config", namespace=KS)]},
        "metrics-agent-metrics-without-cilium-prefix": {
            "breaks": "k8s-w1's agent serves its metrics without the cilium_ prefix",
            "expect": [f"{TESTS['prefix']}[{PREFIX_ROWS[9962]}]"],
            "message": "k8s-w1 (192.168.10.101:9962): expected metrics named cilium_... (among them "
                       "cilium_endpoint_state) and no hubble_..., saw 4 own metric name(s), not cilium_...: drop_count_total",
            "calls": [_replace(ref, "http_get", HUBBLE, [http_text(agent_metrics("k8s-w1", prefix=""))],
                               url=f"http://{ip['k8s-w1']}:9962/metrics")]},
        "metrics-envoy-metrics-renamed": {
            "breaks": "k8s-w2's Envoy serves its statistics under cilium_envoy_ instead of envoy_",
            "expect": [f"{TESTS['prefix']}[{PREFIX_ROWS[9964]}]"],
            "message": "k8s-w2 (192.168.10.102:9964): expected metrics named envoy_... (among them envoy_server_live)",
            "calls": [_replace(ref, "http_get", HUBBLE, [http_text(envoy_metrics("k8s-w2", prefix="cilium_envoy_"))],
                               url=f"http://{ip['k8s-w2']}:9964/metrics")]},
        "metrics-grafana-l7-dashboard-missing": {
            "breaks": "Grafana lacks the Hubble L7 HTTP Metrics by Workload dashboard",
            "expect": [TESTS["dashboards"]],
            "message": "missing 'Hubble L7 HTTP Metrics by Workload'",
            "calls": [_replace(ref, "http_get", HUBBLE, [http_json(search_doc(drop=("Hubble L7 HTTP Metrics by Workload",)))],
                               url=f"{GRAFANA}/api/search?type=dash-db")]},
        "metrics-grafana-datasource-bad-gateway": {
            "breaks": "Grafana's Prometheus data source cannot reach Prometheus",
            "expect": [TESTS["datasource"]],
            "message": "query 'up' answered HTTP 502",
            "calls": [_replace(ref, "http_get", HUBBLE, [http_json({"message": "Bad Gateway"}, 502)],
                               url=grafana_query_url("up"))]},
    }
