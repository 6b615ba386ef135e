"""cilab.parsers.metrics on Hubble / cilium-agent expositions shaped as in
hubble-1.17-formats.md §5 (label sets, `_total` names, OpenMetrics exemplars)."""
from __future__ import annotations

import pytest

from cilab.parsers.metrics import Sample, metric_sum, parse_metrics, samples_named

HUBBLE_TEXT = """\
# HELP hubble_drop_total Number of drops
# TYPE hubble_drop_total counter
hubble_drop_total{protocol="TCP",reason="POLICY_DENIED"} 12
hubble_drop_total{protocol="UDP",reason="POLICY_DENIED"} 3
hubble_drop_total{protocol="HTTP",reason="POLICY_DENIED"} 0
# HELP hubble_flows_processed_total Total number of flows processed
# TYPE hubble_flows_processed_total counter
hubble_flows_processed_total{protocol="TCP",subtype="to-endpoint",type="Trace",verdict="FORWARDED"} 5021
hubble_flows_processed_total{protocol="HTTP",subtype="HTTP",type="L7",verdict="FORWARDED"} 44
hubble_flows_processed_total{protocol="TCP",subtype="",type="Drop",verdict="DROPPED"} 12
# HELP hubble_http_requests_total Count of HTTP requests
# TYPE hubble_http_requests_total counter
hubble_http_requests_total{destination="destination-ns/destination-deploy-pod",destination_pod="destination-deploy-pod",method="GET",protocol="HTTP/1.1",reporter="server",source="source-ns/source-deploy-pod",source_pod="source-deploy-pod",status="200"} 1
# HELP hubble_http_request_duration_seconds Quantiles of HTTP request duration in seconds
# TYPE hubble_http_request_duration_seconds histogram
hubble_http_request_duration_seconds_bucket{method="GET",reporter="client",le="0.005"} 3
hubble_http_request_duration_seconds_bucket{method="GET",reporter="client",le="0.01"} 7
hubble_http_request_duration_seconds_bucket{method="GET",reporter="client",le="+Inf"} 9
hubble_http_request_duration_seconds_sum{method="GET",reporter="client"} 0.0421
hubble_http_request_duration_seconds_count{method="GET",reporter="client"} 9
# HELP hubble_lost_events_total Number of lost events
# TYPE hubble_lost_events_total counter
hubble_lost_events_total{source="hubble_ring_buffer"} 0
"""

HUBBLE_OPENMETRICS = """\
# HELP hubble_http_requests Count of HTTP requests
# TYPE hubble_http_requests counter
hubble_http_requests_total{method="GET",protocol="HTTP/1.1",reporter="client",status="200"} 2.0 # {traceID="4bf92f3577b34da6a3ce929d0e0e4736"} 1.0 1.7e+09
hubble_http_requests_total{method="POST",protocol="HTTP/1.1",reporter="client",status="403"} 1.0
# HELP hubble_http_request_duration_seconds Quantiles of HTTP request duration in seconds
# TYPE hubble_http_request_duration_seconds histogram
hubble_http_request_duration_seconds_bucket{method="GET",reporter="client",le="0.025"} 1 # {traceID="4bf92f3577b34da6a3ce929d0e0e4736"} 0.012345678 1.7e+09
hubble_http_request_duration_seconds_bucket{method="GET",reporter="client",le="+Inf"} 2
hubble_http_request_duration_seconds_sum{method="GET",reporter="client"} 0.03
hubble_http_request_duration_seconds_count{method="GET",reporter="client"} 2
# EOF
"""

AGENT_TEXT = """\
# HELP cilium_drop_count_total Total dropped packets, tagged by drop reason and ingress/egress direction
# TYPE cilium_drop_count_total counter
cilium_drop_count_total{direction="INGRESS",reason="Policy denied"} 7
cilium_drop_count_total{direction="EGRESS",reason="Policy denied"} 2
cilium_drop_count_total{direction="INGRESS",reason="Stale or unroutable IP"} 1
# HELP cilium_endpoint_state Count of all endpoints, tagged by different endpoint states
# TYPE cilium_endpoint_state gauge
cilium_endpoint_state{endpoint_state="ready"} 4
"""


def test_hubble_text_samples_keep_emitted_names_and_sorted_labels() -> None:
    samples = parse_metrics(HUBBLE_TEXT)
    assert len(samples) == 13
    assert samples[0] == Sample("hubble_drop_total",
                                (("protocol", "TCP"), ("reason", "POLICY_DENIED")), 12.0)
    names = {s.name for s in samples}
    assert "hubble_drop_total" in names and "hubble_drop" not in names
    assert "hubble_http_request_duration_seconds_bucket" in names


def test_filters_and_sums() -> None:
    samples = parse_metrics(HUBBLE_TEXT)
    assert metric_sum(samples, "hubble_drop_total") == 15.0
    assert metric_sum(samples, "hubble_drop_total", protocol="UDP") == 3.0
    assert metric_sum(samples, "hubble_drop_total", reason="POLICY_DENY") == 0.0
    assert metric_sum(samples, "hubble_nope_total") == 0.0
    [l7] = samples_named(samples, "hubble_flows_processed_total", type="L7")
    assert (l7.label("subtype"), l7.label("verdict"), l7.value) == ("HTTP", "FORWARDED", 44.0)
    assert l7.label("missing") is None
    [drop] = samples_named(samples, "hubble_flows_processed_total", subtype="")
    assert drop.label("type") == "Drop"
    [inf] = samples_named(samples, "hubble_http_request_duration_seconds_bucket", le="+Inf")
    assert inf.value == 9.0
    [req] = samples_named(samples, "hubble_http_requests_total", reporter="server",
                          status="200", source_pod="source-deploy-pod")
    assert req.label("destination") == "destination-ns/destination-deploy-pod"


def test_openmetrics_detected_by_eof_with_exemplars() -> None:
    samples = parse_metrics(HUBBLE_OPENMETRICS)
    assert [s.name for s in samples] == [
        "hubble_http_requests_total", "hubble_http_requests_total",
        "hubble_http_request_duration_seconds_bucket",
        "hubble_http_request_duration_seconds_bucket",
        "hubble_http_request_duration_seconds_sum",
        "hubble_http_request_duration_seconds_count"]
    get, post = samples_named(samples, "hubble_http_requests_total")
    assert (get.value, get.exemplar) == (2.0, (("traceID", "4bf92f3577b34da6a3ce929d0e0e4736"),))
    assert (post.label("status"), post.exemplar) == ("403", ())
    assert metric_sum(samples, "hubble_http_requests_total", reporter="client") == 3.0
    [bucket] = samples_named(samples, "hubble_http_request_duration_seconds_bucket", le="0.025")
    assert bucket.exemplar == (("traceID", "4bf92f3577b34da6a3ce929d0e0e4736"),)


def test_openmetrics_forced_and_refused() -> None:
    assert len(parse_metrics(HUBBLE_OPENMETRICS, openmetrics=True)) == 6
    with pytest.raises(ValueError, match="OpenMetrics"):
        parse_metrics(HUBBLE_TEXT, openmetrics=True)  # no '# EOF'


def test_agent_drop_reasons_are_human_readable() -> None:
    samples = parse_metrics(AGENT_TEXT, openmetrics=False)
    assert metric_sum(samples, "cilium_drop_count_total", reason="Policy denied") == 9.0
    assert metric_sum(samples, "cilium_drop_count_total", direction="INGRESS") == 8.0
    assert metric_sum(samples, "cilium_endpoint_state", endpoint_state="ready") == 4.0


def test_labels_are_sorted_by_name() -> None:
    [sample] = parse_metrics('hubble_port_distribution_total{protocol="TCP",port="80"} 5\n')
    assert sample.labels == (("port", "80"), ("protocol", "TCP"))


def test_a_label_called_name_can_be_filtered() -> None:
    samples = parse_metrics('cilium_feature{name="x"} 1\ncilium_feature{name="y"} 2\n')
    assert metric_sum(samples, "cilium_feature", name="y") == 2.0


def test_empty_text_has_no_samples() -> None:
    assert parse_metrics("") == []


@pytest.mark.parametrize("bad", [
    "hubble_drop_total{protocol=\"TCP\"} twelve\n",
    "<html><body>404 page not found</body></html>\n",
    'hubble_drop_total{protocol="TCP" 12\n',
])
def test_unparsable_text_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="unparsable Prometheus text"):
        parse_metrics(bad)
