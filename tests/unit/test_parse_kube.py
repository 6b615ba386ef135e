"""cilab.parsers.kube over API dicts built from the lab's `kubectl get` facts (write-up,
"Enabling Hubble") and the chart facts (cilium-1.17.6-facts.md §6)."""
from __future__ import annotations

import pytest

from cilab.parsers.kube import (
    ServicePort,
    container_env,
    container_ports,
    daemonset_ready,
    deployment_ready,
    endpoint_addresses,
    node_internal_ips,
    parse_cilium_config_view,
    parse_relay_config,
    secret_types,
    service_ports,
    service_type,
)

# service/hubble-relay ClusterIP 10.96.174.49 80/TCP; endpoints 172.20.2.176:4245 (k8s-w2)
RELAY_SVC = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "hubble-relay", "namespace": "kube-system",
                 "labels": {"k8s-app": "hubble-relay"}},
    "spec": {"type": "ClusterIP", "clusterIP": "10.96.174.49",
             "selector": {"k8s-app": "hubble-relay"},
             "ports": [{"port": 80, "protocol": "TCP", "targetPort": "grpc"}]},
}
RELAY_SLICE = {
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "hubble-relay-x2k9f", "namespace": "kube-system",
                 "labels": {"kubernetes.io/service-name": "hubble-relay"}},
    "addressType": "IPv4",
    "endpoints": [{"addresses": ["172.20.2.176"], "nodeName": "k8s-w2",
                   "conditions": {"ready": True, "serving": True, "terminating": False},
                   "targetRef": {"kind": "Pod", "name": "hubble-relay-5dcd46f5c-tln2s"}}],
    "ports": [{"name": "grpc", "port": 4245, "protocol": "TCP"}],
}

# service/hubble-peer ClusterIP 10.96.68.0 443/TCP;
# endpoints 192.168.10.100:4244,192.168.10.101:4244,192.168.10.102:4244
PEER_SVC = {
    "metadata": {"name": "hubble-peer", "namespace": "kube-system"},
    "spec": {"clusterIP": "10.96.68.0", "internalTrafficPolicy": "Local",
             "ports": [{"name": "peer-service", "port": 443, "protocol": "TCP",
                        "targetPort": 4244}]},
}
PEER_ENDPOINTS = {
    "apiVersion": "v1", "kind": "Endpoints",
    "metadata": {"name": "hubble-peer", "namespace": "kube-system"},
    "subsets": [{"addresses": [{"ip": "192.168.10.100", "nodeName": "k8s-ctr"},
                               {"ip": "192.168.10.101", "nodeName": "k8s-w1"},
                               {"ip": "192.168.10.102", "nodeName": "k8s-w2"}],
                 "ports": [{"name": "peer-service", "port": 4244, "protocol": "TCP"}]}],
}
PEER_ADDRESSES = {("192.168.10.100", 4244), ("192.168.10.101", 4244), ("192.168.10.102", 4244)}

# service/hubble-ui NodePort 10.96.201.178 80:31234/TCP; endpoints 172.20.1.129:8081,
# as the python client's to_dict() returns it (snake_case keys, explicit None values).
UI_SVC_SNAKE = {
    "api_version": "v1", "kind": "Service",
    "metadata": {"name": "hubble-ui", "namespace": "kube-system"},
    "spec": {"type": "NodePort", "cluster_ip": "10.96.201.178",
             "ports": [{"name": "http", "port": 80, "target_port": 8081, "node_port": 31234,
                        "protocol": "TCP", "app_protocol": None}]},
}
UI_ENDPOINTS_SNAKE = {
    "kind": "Endpoints", "metadata": {"name": "hubble-ui"},
    "subsets": [{"addresses": [{"ip": "172.20.1.129", "node_name": "k8s-w1"}],
                 "not_ready_addresses": None,
                 "ports": [{"name": "http", "port": 8081, "protocol": "TCP"}]}],
}

# deployment hubble-ui: frontend (nginx, 8081) + backend (8090, FLOWS_API_ADDR hubble-relay:80)
UI_DEPLOYMENT = {
    "kind": "Deployment", "metadata": {"name": "hubble-ui", "namespace": "kube-system"},
    "spec": {"replicas": 1, "template": {"spec": {"containers": [
        {"name": "frontend", "image": "quay.io/cilium/hubble-ui:v0.13.2",
         "ports": [{"name": "http", "containerPort": 8081, "protocol": "TCP"}]},
        {"name": "backend", "image": "quay.io/cilium/hubble-ui-backend:v0.13.2",
         "env": [{"name": "EVENTS_SERVER_PORT", "value": "8090"},
                 {"name": "FLOWS_API_ADDR", "value": "hubble-relay:80"},
                 {"name": "POD_NAMESPACE",
                  "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                 {"name": "EMPTY"}],
         "ports": [{"name": "grpc", "containerPort": 8090, "protocol": "TCP"}]},
    ]}}},
    "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
}


def test_relay_service() -> None:
    assert service_type(RELAY_SVC) == "ClusterIP"
    assert service_ports(RELAY_SVC) == [ServicePort(name=None, port=80, target_port="grpc",
                                                    node_port=None, protocol="TCP")]
    assert endpoint_addresses([RELAY_SLICE]) == {("172.20.2.176", 4245)}


def test_peer_service_and_core_endpoints() -> None:
    assert service_type(PEER_SVC) == "ClusterIP"  # type not set: API default
    assert service_ports(PEER_SVC) == [ServicePort("peer-service", 443, 4244, None, "TCP")]
    assert endpoint_addresses([PEER_ENDPOINTS]) == PEER_ADDRESSES
    assert endpoint_addresses(PEER_ENDPOINTS) == PEER_ADDRESSES  # a single object


def test_ui_service_snake_case() -> None:
    assert service_type(UI_SVC_SNAKE) == "NodePort"
    assert service_ports(UI_SVC_SNAKE) == [ServicePort("http", 80, 8081, 31234, "TCP")]
    assert endpoint_addresses([UI_ENDPOINTS_SNAKE]) == {("172.20.1.129", 8081)}


def test_service_port_defaults_and_numeric_string_target() -> None:
    svc = {"spec": {"ports": [{"port": 80}, {"port": "9090", "targetPort": "9090",
                                               "nodePort": 30001, "name": "webui"}]}}
    assert service_ports(svc) == [ServicePort(None, 80, None, None, "TCP"),
                                  ServicePort("webui", 9090, 9090, 30001, "TCP")]
    with pytest.raises(ValueError, match="without 'port'"):
        service_ports({"spec": {"ports": [{"name": "http"}]}})


def test_endpoint_slices_skip_not_ready_and_cross_ports() -> None:
    slices = {"kind": "EndpointSliceList", "items": [
        {"endpoints": [{"addresses": ["172.20.1.167"], "conditions": {"ready": True}},
                       {"addresses": ["172.20.2.219"], "conditions": {"ready": False}},
                       {"addresses": ["172.20.2.220"]}],
         "ports": [{"port": 80}, {"port": 8080}]},
        {"endpoints": [{"addresses": ["172.20.0.9"]}], "ports": None},
    ]}
    assert endpoint_addresses(slices) == {("172.20.1.167", 80), ("172.20.1.167", 8080),
                                          ("172.20.2.220", 80), ("172.20.2.220", 8080)}
    assert endpoint_addresses([]) == set()


def test_core_endpoints_not_ready_addresses_left_out() -> None:
    ep = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}],
                       "notReadyAddresses": [{"ip": "10.0.0.2"}],
                       "ports": [{"port": 53}]}]}
    assert endpoint_addresses([ep]) == {("10.0.0.1", 53)}


def test_container_env_and_ports() -> None:
    assert container_env(UI_DEPLOYMENT, "backend") == {
        "EVENTS_SERVER_PORT": "8090", "FLOWS_API_ADDR": "hubble-relay:80", "EMPTY": ""}
    assert container_env(UI_DEPLOYMENT, "frontend") == {}
    assert container_ports(UI_DEPLOYMENT, "frontend") == {"http": 8081}
    assert container_ports(UI_DEPLOYMENT, "backend") == {"grpc": 8090}
    with pytest.raises(ValueError, match="no container named 'relay'"):
        container_env(UI_DEPLOYMENT, "relay")


def test_container_env_of_a_pod_snake_case() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "hubble-ui-76d4965bb6-hcgj6"},
           "spec": {"containers": [{"name": "backend", "env": [
               {"name": "FLOWS_API_ADDR", "value": "hubble-relay:80", "value_from": None},
               {"name": "POD_NAMESPACE", "value": None,
                "value_from": {"field_ref": {"field_path": "metadata.namespace"}}}],
               "ports": [{"name": "grpc", "container_port": 8090}, {"container_port": 9999}]}]}}
    assert container_env(pod, "backend") == {"FLOWS_API_ADDR": "hubble-relay:80"}
    assert container_ports(pod, "backend") == {"grpc": 8090}


def test_readiness_counts() -> None:
    assert deployment_ready(UI_DEPLOYMENT) == (1, 1)
    assert deployment_ready({"spec": {"replicas": 2}, "status": {}}) == (0, 2)
    assert deployment_ready({}) == (0, 0)
    cilium_ds = {"kind": "DaemonSet", "metadata": {"name": "cilium"},
                 "status": {"desiredNumberScheduled": 3, "numberReady": 3,
                            "numberAvailable": 3, "currentNumberScheduled": 3}}
    assert daemonset_ready(cilium_ds) == (3, 3)
    assert daemonset_ready({"status": {"desired_number_scheduled": 3, "number_ready": 2}}) == (2, 3)
    assert daemonset_ready({}) == (0, 0)


def test_node_internal_ips() -> None:
    def node(name: str, ip: str) -> dict:
        return {"metadata": {"name": name}, "status": {"addresses": [
            {"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}}

    nodes = [node("k8s-ctr", "192.168.10.100"), node("k8s-w1", "192.168.10.101"),
             node("k8s-w2", "192.168.10.102"),
             {"metadata": {"name": "no-ip"}, "status": {"addresses": []}}]
    assert node_internal_ips(nodes) == {"k8s-ctr": "192.168.10.100",
                                        "k8s-w1": "192.168.10.101",
                                        "k8s-w2": "192.168.10.102"}
    assert node_internal_ips({"kind": "NodeList", "items": nodes[:1]}) == {
        "k8s-ctr": "192.168.10.100"}


def test_secret_types() -> None:
    secrets = [{"metadata": {"name": "cilium-ca"}, "type": "Opaque"},
               {"metadata": {"name": "hubble-relay-client-certs"}, "type": "kubernetes.io/tls"},
               {"metadata": {"name": "hubble-server-certs"}, "type": "kubernetes.io/tls"},
               {"metadata": {"name": "untyped"}}]
    assert secret_types(secrets) == {"cilium-ca": "Opaque",
                                     "hubble-relay-client-certs": "kubernetes.io/tls",
                                     "hubble-server-certs": "kubernetes.io/tls",
                                     "untyped": "Opaque"}
    with pytest.raises(ValueError, match="metadata.name"):
        secret_types([{"type": "Opaque"}])


RELAY_CONFIG_YAML = """\
cluster-name: default
peer-service: "hubble-peer.kube-system.svc.cluster.local.:443"
listen-address: :4245
gops: true
gops-port: "9893"
retry-timeout:
sort-buffer-len-max:
sort-buffer-drain-timeout:
tls-hubble-client-cert-file: /var/lib/hubble-relay/tls/client.crt
tls-hubble-client-key-file: /var/lib/hubble-relay/tls/client.key
tls-hubble-server-ca-files: /var/lib/hubble-relay/tls/hubble-server-ca.crt
disable-server-tls: true
"""


def test_relay_config() -> None:
    config = parse_relay_config(RELAY_CONFIG_YAML)
    assert config["peer-service"] == "hubble-peer.kube-system.svc.cluster.local.:443"
    assert config["listen-address"] == ":4245"
    assert config["gops-port"] == "9893"
    assert config["disable-server-tls"] is True
    assert config["retry-timeout"] is None
    assert parse_relay_config("") == {}


@pytest.mark.parametrize("bad", ["peer-service: [unclosed", "- a\n- b\n", "just text"])
def test_relay_config_rejects_non_mapping(bad: str) -> None:
    with pytest.raises(ValueError, match="hubble-relay config.yaml"):
        parse_relay_config(bad)


# `cilium config view` lines from the write-up (before and after enabling Hubble).
CONFIG_VIEW_BEFORE = """\
agent-not-ready-taint-key                         node.cilium.io/agent-not-ready
cluster-pool-ipv4-cidr                         172.20.0.0/16
ipv4-native-routing-cidr                       172.20.0.0/16
routing-mode                                   native
kube-proxy-replacement                         true
enable-bpf-masquerade                          true
enable-hubble                                  false
enable-endpoint-health-checking                false
enable-l7-proxy                                true
external-envoy-proxy                           true
"""

CONFIG_VIEW_HUBBLE = """\
enable-hubble                                     true
enable-hubble-open-metrics                        true
hubble-export-allowlist                           
hubble-export-denylist                            
hubble-export-fieldmask                           
hubble-export-file-max-backups                    5
hubble-export-file-max-size-mb                    10
hubble-export-file-path                           /var/run/cilium/hubble/events.log
hubble-listen-address                             :4244
hubble-metrics                                    dns drop tcp flow port-distribution icmp httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction
hubble-metrics-server                             :9965
"""


def test_cilium_config_view_before_hubble() -> None:
    config = parse_cilium_config_view(CONFIG_VIEW_BEFORE)
    assert config == {
        "agent-not-ready-taint-key": "node.cilium.io/agent-not-ready",
        "cluster-pool-ipv4-cidr": "172.20.0.0/16",
        "ipv4-native-routing-cidr": "172.20.0.0/16",
        "routing-mode": "native",
        "kube-proxy-replacement": "true",
        "enable-bpf-masquerade": "true",
        "enable-hubble": "false",
        "enable-endpoint-health-checking": "false",
        "enable-l7-proxy": "true",
        "external-envoy-proxy": "true",
    }


def test_cilium_config_view_hubble_keys_empty_and_multiword_values() -> None:
    config = parse_cilium_config_view(CONFIG_VIEW_HUBBLE + "\n")
    assert config["enable-hubble"] == "true"
    assert config["hubble-export-allowlist"] == ""
    assert config["hubble-export-fieldmask"] == ""
    assert config["hubble-export-file-max-backups"] == "5"
    assert config["hubble-export-file-max-size-mb"] == "10"
    assert config["hubble-export-file-path"] == "/var/run/cilium/hubble/events.log"
    assert config["hubble-listen-address"] == ":4244"
    assert config["hubble-metrics-server"] == ":9965"
    assert config["hubble-metrics"].split(" ")[:6] == [
        "dns", "drop", "tcp", "flow", "port-distribution", "icmp"]
    assert len(config) == 11


@pytest.mark.parametrize("bad", ["# a comment", "  indented value", "{\"enable-hubble\": true}"])
def test_cilium_config_view_bad_line_raises_naming_it(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_cilium_config_view("enable-hubble  true\n" + bad + "\n")
    assert repr(bad) in str(info.value)
