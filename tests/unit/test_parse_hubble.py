"""cilab.parsers.hubble: `hubble status` (seed outputs, formats §3.2) and flow JSON
(formats §1.1-§1.4, §4).  Hand-made flows follow §1.2/§1.3 and use the lab's pods,
IPs and identities (curl-pod 10292, webpod 2460, coredns 5694, Star Wars demo)."""
from __future__ import annotations

import json

import pytest

from cilab.parsers.hubble import (
    Endpoint,
    Flow,
    FlowBatch,
    HubbleStatus,
    parse_flow_line,
    parse_flows,
    parse_hubble_status,
    parse_hubble_status_json,
)

# ----------------------------------------------------------------------- hubble status

SEED_STATUS_OK = """\
Healthcheck (via localhost:4245): Ok
Current/Max Flows: 11,282/12,285 (91.84%)
Flows/s: 35.22
Connected Nodes: 3/3
"""

SEED_STATUS_FIRST = """\
Healthcheck (via localhost:4245): Ok
Current/Max Flows: 12,285/12,285 (100.00%)
Flows/s: 41.20
"""

SEED_STATUS_REFUSED = (
    'failed getting status: rpc error: code = Unavailable desc = connection error: desc = '
    '"transport: Error while dialing: dial tcp 127.0.0.1:4245: connect: connection refused"\n')


def test_status_seed_healthy_relay() -> None:
    assert parse_hubble_status(SEED_STATUS_OK) == HubbleStatus(
        healthy=True, via="localhost:4245", current_flows=11282, max_flows=12285, fill_percent=91.84,
        flows_per_second=35.22, connected_nodes=3, total_nodes=3, unavailable_nodes=(),
        message="Ok")


def test_status_seed_without_node_counts() -> None:
    status = parse_hubble_status(SEED_STATUS_FIRST)
    assert status.healthy is True
    assert (status.current_flows, status.max_flows, status.fill_percent) == (12285, 12285, 100.0)
    assert status.flows_per_second == 41.2
    assert (status.connected_nodes, status.total_nodes) == (None, None)


def test_status_seed_connection_refused() -> None:
    status = parse_hubble_status(SEED_STATUS_REFUSED)
    assert status.healthy is False
    assert status.via is None
    assert status.current_flows is None
    assert status.message == SEED_STATUS_REFUSED.strip()


def test_status_plain_numbers_na_rate_and_unavailable_nodes() -> None:
    text = ("Healthcheck (via 127.0.0.1:4245): Ok\n"
            "Current/Max Flows: 11917/12288 (96.98%)\n"
            "Flows/s: N/A\n"
            "Connected Nodes: 2/3\n"
            "Unavailable Nodes: 1\n"
            "  - k8s-w2\n")
    assert parse_hubble_status(text) == HubbleStatus(
        healthy=True, via="127.0.0.1:4245", current_flows=11917, max_flows=12288, fill_percent=96.98,
        flows_per_second=None, connected_nodes=2, total_nodes=3,
        unavailable_nodes=("k8s-w2",), message="Ok")


def test_status_unhealthy_healthcheck() -> None:
    text = "Healthcheck (via localhost:4245): Unavailable: NOT_SERVING\nError: not healthy\n"
    status = parse_hubble_status(text)
    assert (status.healthy, status.via, status.message) == (
        False, "localhost:4245", "Unavailable: NOT_SERVING")


def test_status_error_after_healthcheck_ok_is_unhealthy() -> None:
    text = SEED_STATUS_FIRST + "failed to get server status: rpc error: code = DeadlineExceeded\n"
    status = parse_hubble_status(text)
    assert (status.healthy, status.message) == (
        False, "failed to get server status: rpc error: code = DeadlineExceeded")
    assert status.current_flows == 12285


@pytest.mark.parametrize("bad", [
    "Current/Max Flows: lots/12,285 (91.84%)",
    "Flows/s: fast",
    "Connected Nodes: three/3",
    "Unavailable Nodes: some",
])
def test_status_malformed_line_raises_naming_it(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_hubble_status("Healthcheck (via localhost:4245): Ok\n" + bad + "\n")
    assert repr(bad) in str(info.value)


def test_status_without_healthcheck_or_error_raises() -> None:
    with pytest.raises(ValueError, match="Healthcheck"):
        parse_hubble_status("")
    with pytest.raises(ValueError, match="Healthcheck"):
        parse_hubble_status("Current/Max Flows: 1/2 (50.00%)\n")


def test_status_json_printer_example() -> None:
    # formats §3.2, verbatim printer_test.go example.
    text = ('{"num_flows":"2771","max_flows":"8190","seen_flows":"2771",'
            '"uptime_ns":"301515181665","num_connected_nodes":2,"num_unavailable_nodes":0,'
            '"version":"hubble-relay v1.15.0+g4145278","flows_rate":23.456}\n')
    assert parse_hubble_status_json(text) == HubbleStatus(
        healthy=True, via=None, current_flows=2771, max_flows=8190, flows_per_second=23.456,
        connected_nodes=2, total_nodes=2, unavailable_nodes=(), message="")


def test_status_json_unavailable_nodes_and_computed_rate() -> None:
    text = json.dumps({"num_flows": "4095", "max_flows": "4095", "seen_flows": "10000",
                       "uptime_ns": "100000000000", "num_connected_nodes": 2,
                       "num_unavailable_nodes": 1, "unavailable_nodes": ["k8s-w2"]})
    status = parse_hubble_status_json(text)
    assert (status.current_flows, status.max_flows, status.flows_per_second) == (4095, 4095, 100.0)
    assert (status.connected_nodes, status.total_nodes, status.unavailable_nodes) == (
        2, 3, ("k8s-w2",))


def test_status_json_agent_without_relay_has_no_node_counts() -> None:
    status = parse_hubble_status_json('{"num_flows":"7","max_flows":"4095","seen_flows":"7"}')
    assert (status.connected_nodes, status.total_nodes, status.flows_per_second) == (
        None, None, None)
    assert (status.current_flows, status.max_flows) == (7, 4095)


def test_status_json_error_line_and_garbage() -> None:
    status = parse_hubble_status_json(SEED_STATUS_REFUSED)
    assert (status.healthy, status.message) == (False, SEED_STATUS_REFUSED.strip())
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_hubble_status_json("Healthcheck (via localhost:4245): Ok")
    with pytest.raises(ValueError, match="invalid JSON"):
        parse_hubble_status_json('{"num_flows": }')


# ------------------------------------------------------------------------------- flows

# formats §1.4 (1): export.rst, an exporter with a field mask (verbatim).
EXPORT_DROP = (
    '{"flow":{"time":"2023-08-21T12:12:18.510175415Z","verdict":"DROPPED","IP":{"source":'
    '"10.244.1.60","destination":"10.244.1.5","ipVersion":"IPv4"},"l4":{"TCP":{"source_port"'
    ':44916,"destination_port":80,"flags":{"SYN":true}}},"source":{"namespace":"default",'
    '"pod_name":"xwing"},"destination":{"namespace":"default","pod_name":'
    '"deathstar-7848d6c4d5-th9v2"},"node_name":"kind-kind/kind-worker","drop_reason_desc":'
    '"POLICY_DENIED"},"node_name":"kind-kind/kind-worker","time":"2023-08-21T12:12:18.510175415Z"}')

# formats §1.1: a lost_events line on stdout (verbatim printer_test.go).
LOST = '{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"1","cpu":5}}'


def _line(flow: dict, node: str | None = None) -> str:
    """A jsonpb line the way the printer writes it (compact JSON, HTML-escaped)."""
    doc: dict = {"flow": flow}
    if node is not None:
        doc["node_name"] = node
    if "time" in flow:
        doc["time"] = flow["time"]
    return json.dumps(doc, separators=(",", ":")).replace("&", "\\u0026")


def _labels(ns: str, *extra: str) -> list[str]:
    return [*extra, f"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={ns}",
            "k8s:io.cilium.k8s.policy.cluster=default",
            "k8s:io.cilium.k8s.policy.serviceaccount=default",
            f"k8s:io.kubernetes.pod.namespace={ns}"]


CURL_POD = {"ID": 1201, "identity": 10292, "namespace": "default",
            "labels": _labels("default", "k8s:app=curl"), "pod_name": "curl-pod"}
WEBPOD = {"ID": 3312, "identity": 2460, "namespace": "default",
          "labels": _labels("default", "k8s:app=webpod"), "pod_name": "webpod-697b545f57-b2xst",
          "workloads": [{"name": "webpod", "kind": "Deployment"}]}
COREDNS = {"ID": 1174, "identity": 5694, "namespace": "kube-system",
           "labels": ["k8s:k8s-app=kube-dns"], "pod_name": "coredns-674b8bbfcf-p8kth"}
TIEFIGHTER = {"ID": 2090, "identity": 9225, "namespace": "default",
              "labels": _labels("default", "k8s:class=tiefighter", "k8s:org=empire"),
              "pod_name": "tiefighter"}
XWING = {"ID": 2885, "identity": 7207, "namespace": "default",
         "labels": _labels("default", "k8s:class=xwing", "k8s:org=alliance"),
         "pod_name": "xwing"}
DEATHSTAR = {"ID": 3615, "identity": 15933, "namespace": "default",
             "labels": _labels("default", "k8s:class=deathstar", "k8s:org=empire"),
             "pod_name": "deathstar-8c4c77fb7-m8q2b"}

HTTP_REQUEST = {
    "time": "2025-07-25T19:56:27.568123456Z", "uuid": "6a1f4a8e-2b61-4e69-9d0f-0c1d8c1e5a01",
    "verdict": "FORWARDED",
    "IP": {"source": "172.20.0.241", "destination": "172.20.2.207", "ipVersion": "IPv4"},
    "l4": {"TCP": {"source_port": 52422, "destination_port": 80}},
    "source": CURL_POD, "destination": WEBPOD, "Type": "L7", "node_name": "k8s-ctr",
    "l7": {"type": "REQUEST", "http": {
        "method": "GET", "url": "http://webpod/?user_id=1234&page=2", "protocol": "HTTP/1.1",
        "headers": [{"key": ":scheme", "value": "http"}, {"key": "accept", "value": "*/*"},
                    {"key": "user-agent", "value": "curl/8.14.1"},
                    {"key": "x-envoy-internal", "value": "true"},
                    {"key": "x-request-id", "value": "3006845a-138e-41a2-8021-d1ff0eb87452"}]}},
    "event_type": {"type": 129}, "traffic_direction": "EGRESS", "is_reply": False,
    "Summary": "HTTP/1.1 GET http://webpod/?user_id=1234&page=2",
}

HTTP_RESPONSE = {
    "time": "2025-07-25T19:56:27.572000Z", "uuid": "6a1f4a8e-2b61-4e69-9d0f-0c1d8c1e5a02",
    "verdict": "FORWARDED",
    "IP": {"source": "172.20.2.207", "destination": "172.20.0.241", "ipVersion": "IPv4"},
    "l4": {"TCP": {"source_port": 80, "destination_port": 52422}},
    "source": WEBPOD, "destination": CURL_POD, "Type": "L7", "node_name": "k8s-ctr",
    "l7": {"type": "RESPONSE", "latency_ns": "4187012", "http": {
        "code": 200, "method": "GET", "url": "http://webpod/", "protocol": "HTTP/1.1",
        "headers": [{"key": "content-length", "value": "331"},
                    {"key": "x-request-id", "value": "3006845a-138e-41a2-8021-d1ff0eb87452"}]}},
    "reply": True, "event_type": {"type": 129}, "traffic_direction": "EGRESS",
    "is_reply": True, "Summary": "HTTP/1.1 200 4ms (GET http://webpod/)",
}

EXHAUST = "http://deathstar.default.svc.cluster.local/v1/exhaust-port"

L7_DROP = {  # §1.3: L7 drops have no drop_reason_desc and event_type 129
    "time": "2025-07-25T18:41:02.100200300Z", "uuid": "0b7e6a52-4d8e-4f3e-a1de-0f5d3c2b9a11",
    "verdict": "DROPPED",
    "IP": {"source": "172.20.2.9", "destination": "172.20.1.167", "ipVersion": "IPv4"},
    "l4": {"TCP": {"source_port": 41276, "destination_port": 80}},
    "source": TIEFIGHTER, "destination": DEATHSTAR, "Type": "L7", "node_name": "k8s-w1",
    "l7": {"type": "REQUEST", "http": {"method": "PUT", "url": EXHAUST, "protocol": "HTTP/1.1",
                                       "headers": [{"key": "accept", "value": "*/*"}]}},
    "event_type": {"type": 129}, "traffic_direction": "INGRESS", "is_reply": False,
    "Summary": f"HTTP/1.1 PUT {EXHAUST}",
}

HTTP_403 = {
    "time": "2025-07-25T18:41:02.100900000Z", "uuid": "0b7e6a52-4d8e-4f3e-a1de-0f5d3c2b9a12",
    "verdict": "FORWARDED",
    "IP": {"source": "172.20.1.167", "destination": "172.20.2.9", "ipVersion": "IPv4"},
    "l4": {"TCP": {"source_port": 80, "destination_port": 41276}},
    "source": DEATHSTAR, "destination": TIEFIGHTER, "Type": "L7", "node_name": "k8s-w1",
    "l7": {"type": "RESPONSE", "http": {"code": 403, "method": "PUT", "url": EXHAUST,
                                        "protocol": "HTTP/1.1"}},
    "reply": True, "event_type": {"type": 129}, "traffic_direction": "INGRESS",
    "is_reply": True, "Summary": f"HTTP/1.1 403 0ms (PUT {EXHAUST})",
}

DNS_REQUEST = {
    "time": "2025-07-25T19:56:27.558000Z", "uuid": "d1c3b7a0-0000-4000-8000-000000000001",
    "verdict": "FORWARDED",
    "IP": {"source": "172.20.0.241", "destination": "172.20.0.107", "ipVersion": "IPv4"},
    "l4": {"UDP": {"source_port": 55694, "destination_port": 53}},
    "source": CURL_POD, "destination": COREDNS, "Type": "L7", "node_name": "k8s-ctr",
    "l7": {"type": "REQUEST", "dns": {"query": "webpod.default.svc.cluster.local.",
                                      "observation_source": "proxy", "qtypes": ["A"]}},
    "event_type": {"type": 129}, "traffic_direction": "EGRESS", "is_reply": False,
    "Summary": "DNS Query webpod.default.svc.cluster.local. A",
}

DNS_RESPONSE = {
    "time": "2025-07-25T19:56:27.560000Z", "uuid": "d1c3b7a0-0000-4000-8000-000000000002",
    "verdict": "FORWARDED",
    "IP": {"source": "172.20.0.107", "destination": "172.20.0.241", "ipVersion": "IPv4"},
    "l4": {"UDP": {"source_port": 53, "destination_port": 55694}},
    "source": COREDNS, "destination": CURL_POD, "Type": "L7", "node_name": "k8s-ctr",
    "l7": {"type": "RESPONSE", "latency_ns": "1880421", "dns": {
        "query": "webpod.default.svc.cluster.local.", "ips": ["10.96.166.184"], "ttl": 30,
        "observation_source": "proxy", "qtypes": ["A"], "rrtypes": ["A"]}},
    "reply": True, "event_type": {"type": 129}, "traffic_direction": "EGRESS",
    "is_reply": True,
    "Summary": 'DNS Answer "10.96.166.184" TTL: 30 (Proxy webpod.default.svc.cluster.local. A)',
}

POLICY_DENIED = {  # §1.4 (1) unmasked: drops leave is_reply unset
    "time": "2025-07-25T18:20:11.734512001Z", "uuid": "5f0c2a9b-7b7d-4e55-9f3e-3c6b1d0e8a21",
    "verdict": "DROPPED", "drop_reason": 133,
    "ethernet": {"source": "7a:11:22:33:44:55", "destination": "7a:66:77:88:99:aa"},
    "IP": {"source": "172.20.1.160", "destination": "172.20.1.167", "ipVersion": "IPv4"},
    "l4": {"TCP": {"source_port": 42818, "destination_port": 80, "flags": {"SYN": True}}},
    "source": XWING, "destination": DEATHSTAR, "Type": "L3_L4", "node_name": "k8s-w1",
    "event_type": {"type": 1, "sub_type": 133}, "traffic_direction": "INGRESS",
    "drop_reason_desc": "POLICY_DENIED", "Summary": "TCP Flags: SYN",
    "file": {"name": "bpf_lxc.c", "line": 2112},
}

TRACE_TO_ENDPOINT = {  # the seed's hubble-ui -> hubble-relay:4245 to-endpoint flow
    "time": "2025-07-25T17:13:13.125000Z", "verdict": "FORWARDED",
    "IP": {"source": "172.20.1.129", "destination": "172.20.2.176", "ipVersion": "IPv4"},
    "l4": {"TCP": {"source_port": 55468, "destination_port": 4245,
                   "flags": {"PSH": True, "ACK": True}}},
    "source": {"identity": 7661, "namespace": "kube-system",
               "pod_name": "hubble-ui-76d4965bb6-hcgj6"},
    "destination": {"identity": 11581, "namespace": "kube-system",
                    "pod_name": "hubble-relay-5dcd46f5c-tln2s"},
    "Type": "L3_L4", "node_name": "k8s-w2", "event_type": {"type": 4},
    "traffic_direction": "INGRESS", "trace_observation_point": "TO_ENDPOINT",
    "is_reply": False, "Summary": "TCP Flags: ACK, PSH",
    "emitter": {"name": "Hubble", "version": "1.19.4"}, "ip_trace_id": {"trace_id": "7"},
}


def test_reference_export_drop_verbatim() -> None:
    assert parse_flow_line(EXPORT_DROP) == Flow(
        time="2023-08-21T12:12:18.510175415Z", verdict="DROPPED",
        drop_reason_desc="POLICY_DENIED",
        source=Endpoint(namespace="default", pod_name="xwing", ip="10.244.1.60", port=44916),
        destination=Endpoint(namespace="default", pod_name="deathstar-7848d6c4d5-th9v2",
                             ip="10.244.1.5", port=80),
        node_name="kind-kind/kind-worker", tcp_flags=("SYN",), l4_protocol="TCP")


def test_reference_printer_fixture_drop() -> None:
    # formats §1.4 (1), the printer_test.go jsonpb fixture (IP from its compact line).
    line = ('{"flow":{"time":"1970-01-01T00:20:34.567800Z","verdict":"DROPPED","IP":'
            '{"source":"1.1.1.1","destination":"2.2.2.2","ipVersion":"IPv4"},"l4":{"TCP":'
            '{"source_port":31793,"destination_port":8080}},"source":{"identity":4},'
            '"destination":{"identity":12345},"Type":"L3_L4","node_name":"k8s1","event_type":'
            '{"type":1,"sub_type":133},"is_reply":false,"Summary":"TCP Flags: SYN"}}')
    flow = parse_flow_line(line)
    assert flow is not None
    assert (flow.source, flow.destination) == (
        Endpoint(identity=4, ip="1.1.1.1", port=31793),
        Endpoint(identity=12345, ip="2.2.2.2", port=8080))
    assert (flow.type, flow.event_type, flow.is_reply, flow.summary, flow.node_name) == (
        "L3_L4", 1, False, "TCP Flags: SYN", "k8s1")
    assert flow.kind is None


def test_reference_hubble_otel_http_request_legacy_bare_flow() -> None:
    # formats §1.4 (2): a 2021 capture, bare Flow without wrapper and without uuid.
    bare = {"time": "2021-05-11T09:12:41.117243372Z", "verdict": "FORWARDED",
            "IP": {"source": "10.128.0.11", "destination": "10.128.0.4", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": 36894, "destination_port": 9990}},
            "source": {"identity": 1, "labels": ["reserved:host"]},
            "destination": {"identity": 6, "labels": ["reserved:remote-node"]},
            "Type": "L7", "node_name": "gke-node-1",
            "l7": {"type": "REQUEST", "http": {
                "method": "GET", "url": "http://10.128.0.4:9990/metrics", "protocol": "HTTP/1.1",
                "headers": [{"key": "Accept", "value": "text/plain"}]}},
            "event_type": {"type": 129}, "traffic_direction": "EGRESS", "is_reply": False,
            "Summary": "HTTP/1.1 GET http://10.128.0.4:9990/metrics"}
    flow = parse_flow_line(json.dumps(bare))
    assert flow is not None
    assert (flow.uuid, flow.kind, flow.http_method, flow.http_url, flow.http_code) == (
        None, "http-request", "GET", "http://10.128.0.4:9990/metrics", None)
    assert flow.http_headers == (("Accept", "text/plain"),)
    assert flow.source == Endpoint(identity=1, labels=("reserved:host",), ip="10.128.0.11",
                                   port=36894)


def test_http_request_flow() -> None:
    line = _line(HTTP_REQUEST, "k8s-ctr")
    assert "\\u0026" in line and "&" not in line  # §1.2: the encoder HTML-escapes
    flow = parse_flow_line(line)
    assert flow == Flow(
        time="2025-07-25T19:56:27.568123456Z", uuid="6a1f4a8e-2b61-4e69-9d0f-0c1d8c1e5a01",
        verdict="FORWARDED", type="L7", l7_type="REQUEST", l7_protocol="http",
        http_method="GET", http_url="http://webpod/?user_id=1234&page=2",
        http_protocol="HTTP/1.1", http_code=None,
        http_headers=((":scheme", "http"), ("accept", "*/*"), ("user-agent", "curl/8.14.1"),
                      ("x-envoy-internal", "true"),
                      ("x-request-id", "3006845a-138e-41a2-8021-d1ff0eb87452")),
        source=Endpoint("default", "curl-pod", 10292, tuple(CURL_POD["labels"]),
                        "172.20.0.241", 52422),
        destination=Endpoint("default", "webpod-697b545f57-b2xst", 2460,
                             tuple(WEBPOD["labels"]), "172.20.2.207", 80),
        node_name="k8s-ctr", is_reply=False, traffic_direction="EGRESS", event_type=129,
        summary="HTTP/1.1 GET http://webpod/?user_id=1234&page=2", l4_protocol="TCP")
    assert flow.kind == "http-request"


def test_http_response_flow() -> None:
    flow = parse_flow_line(_line(HTTP_RESPONSE, "k8s-ctr"))
    assert flow is not None
    assert (flow.kind, flow.http_code, flow.is_reply, flow.verdict) == (
        "http-response", 200, True, "FORWARDED")
    assert (flow.source.pod_name, flow.source.port) == ("webpod-697b545f57-b2xst", 80)
    assert (flow.destination.pod_name, flow.destination.port) == ("curl-pod", 52422)
    assert flow.summary == "HTTP/1.1 200 4ms (GET http://webpod/)"


def test_l7_drop_and_403_response() -> None:
    batch = parse_flows(_line(L7_DROP, "k8s-w1") + "\n" + _line(HTTP_403, "k8s-w1") + "\n")
    drop, denied = batch.flows
    assert (drop.verdict, drop.drop_reason_desc, drop.event_type, drop.kind) == (
        "DROPPED", None, 129, "http-request")
    assert (drop.http_method, drop.http_url, drop.is_reply) == ("PUT", EXHAUST, False)
    assert (denied.verdict, denied.kind, denied.http_code, denied.is_reply) == (
        "FORWARDED", "http-response", 403, True)
    assert denied.summary == f"HTTP/1.1 403 0ms (PUT {EXHAUST})"
    assert (denied.source.identity, denied.destination.identity) == (15933, 9225)


def test_dns_request_and_response() -> None:
    batch = parse_flows(_line(DNS_REQUEST, "k8s-ctr") + "\n" + _line(DNS_RESPONSE, "k8s-ctr"))
    request, response = batch.flows
    assert (request.kind, request.dns_query, request.dns_qtypes, request.dns_rcode,
            request.dns_ips, request.dns_observation_source) == (
        "dns-request", "webpod.default.svc.cluster.local.", ("A",), None, (), "proxy")
    assert (request.source.port, request.destination.port) == (55694, 53)
    assert (response.kind, response.dns_ips, response.dns_rcode, response.is_reply,
            response.dns_observation_source) == (
        "dns-response", ("10.96.166.184",), 0, True, "proxy")
    assert (request.dns_ttl, response.dns_ttl) == (None, 30)
    assert response.http_method is None and response.http_headers == ()


def test_dns_nxdomain_response_rcode() -> None:
    # formats §1.4 (2): hubble-otel DNS response with rcode 3.
    flow = {"Type": "L7", "verdict": "FORWARDED", "is_reply": True,
            "l7": {"type": "RESPONSE", "dns": {"query": "nope.default.svc.cluster.local.",
                                               "ttl": 4294967295, "observation_source": "proxy",
                                               "rcode": 3, "qtypes": ["A"]}},
            "Summary": "DNS Answer RCode: Non-Existent Domain TTL: 4294967295 "
                       "(Proxy nope.default.svc.cluster.local. A)"}
    parsed = parse_flow_line(_line(flow))
    assert parsed is not None
    assert (parsed.dns_rcode, parsed.dns_ips, parsed.kind) == (3, (), "dns-response")


def test_policy_denied_drop_has_no_is_reply() -> None:
    flow = parse_flow_line(_line(POLICY_DENIED, "k8s-w1"))
    assert flow == Flow(
        time="2025-07-25T18:20:11.734512001Z", uuid="5f0c2a9b-7b7d-4e55-9f3e-3c6b1d0e8a21",
        verdict="DROPPED", drop_reason_desc="POLICY_DENIED", type="L3_L4",
        source=Endpoint("default", "xwing", 7207, tuple(XWING["labels"]), "172.20.1.160", 42818),
        destination=Endpoint("default", "deathstar-8c4c77fb7-m8q2b", 15933,
                             tuple(DEATHSTAR["labels"]), "172.20.1.167", 80),
        node_name="k8s-w1", is_reply=None, traffic_direction="INGRESS", event_type=1,
        summary="TCP Flags: SYN", tcp_flags=("SYN",), l4_protocol="TCP")
    assert flow.kind is None


def test_trace_flow_with_unknown_keys() -> None:
    flow = parse_flow_line(_line(TRACE_TO_ENDPOINT, "k8s-w2"))
    assert flow is not None
    assert (flow.trace_observation_point, flow.event_type, flow.is_reply, flow.summary) == (
        "TO_ENDPOINT", 4, False, "TCP Flags: ACK, PSH")
    assert (flow.destination.pod_name, flow.destination.port, flow.destination.identity) == (
        "hubble-relay-5dcd46f5c-tln2s", 4245, 11581)


def test_icmp_flow_has_no_ports_and_wrapper_fills_node_and_time() -> None:
    line = ('{"flow":{"verdict":"FORWARDED","IP":{"source":"172.20.0.241","destination":'
            '"172.20.2.207","ipVersion":"IPv4"},"l4":{"ICMPv4":{"type":8}},"Type":"L3_L4",'
            '"Summary":"ICMPv4 EchoRequest"},"node_name":"k8s-ctr",'
            '"time":"2025-07-25T20:00:00Z"}')
    flow = parse_flow_line(line)
    assert flow is not None
    assert (flow.source.port, flow.destination.port) == (None, None)
    assert (flow.node_name, flow.time) == ("k8s-ctr", "2025-07-25T20:00:00Z")


def test_non_flow_lines_give_none() -> None:
    assert parse_flow_line(LOST) is None
    assert parse_flow_line('{"node_status":{"state_change":"NODE_UNAVAILABLE",'
                           '"node_names":["k8s-w2"]},"time":"2025-07-25T20:00:00Z"}') is None
    assert parse_flow_line('{"agent_event":{"type":"ENDPOINT_REGENERATE_SUCCESS"},'
                           '"node_name":"k8s-ctr","time":"2025-07-25T20:00:00Z"}') is None
    assert parse_flow_line('{"debug_event":{"type":"DBG_GENERIC"},"node_name":"k8s-ctr"}') is None
    assert parse_flow_line("{}") is None
    assert parse_flow_line("   ") is None


def test_parse_flows_counts_lost_and_skipped() -> None:
    text = "\n".join([
        EXPORT_DROP,
        LOST.replace('"num_events_lost":"1"', '"num_events_lost":"2"'),
        "",
        '{"lost_events":{"source":"PERF_EVENT_RING_BUFFER","num_events_lost":"41","cpu":1}}',
        '{"agent_event":{"type":"ENDPOINT_CREATED"},"node_name":"k8s-w1"}',
        _line(POLICY_DENIED, "k8s-w1"),
        json.dumps(HTTP_REQUEST),  # legacy bare flow among jsonpb lines
    ]) + "\n"
    batch = parse_flows(text)
    assert isinstance(batch, FlowBatch)
    assert [f.verdict for f in batch.flows] == ["DROPPED", "DROPPED", "FORWARDED"]
    assert [f.node_name for f in batch.flows] == ["kind-kind/kind-worker", "k8s-w1", "k8s-ctr"]
    assert (batch.lost_events, batch.skipped) == (43, 1)


def test_parse_flows_empty() -> None:
    assert parse_flows("") == FlowBatch(flows=[], lost_events=0, skipped=0)


@pytest.mark.parametrize("bad, reason", [
    ("Jul 25 19:56:27.568: default/curl-pod:52422 (ID:10292) -> ...", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"flow":"DROPPED"}', "flow is not a JSON object"),
    ('{"flow":{"IP":"10.0.0.1"}}', "IP is not a JSON object"),
    ('{"flow":{"source":{"identity":"many"}}}', "source.identity is not an integer"),
    ('{"flow":{"is_reply":"yes"}}', "is_reply is not a boolean"),
    ('{"flow":{"l7":{"type":"RESPONSE","http":{"code":"ok"}}}}', "l7.http.code"),
    ('{"lost_events":{"num_events_lost":"some"}}', "num_events_lost"),
])
def test_bad_line_raises_naming_line_number(bad: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_flows(EXPORT_DROP + "\n\n" + bad + "\n" + EXPORT_DROP + "\n")
    assert "line 3" in str(info.value)
    assert reason in str(info.value)


def test_parse_flow_line_rejects_non_json() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        parse_flow_line("EVENTS LOST: HUBBLE_RING_BUFFER CPU(5) 1")
