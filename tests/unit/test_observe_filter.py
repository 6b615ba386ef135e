"""cilab.probes.observe_filter: each part of a `hubble observe` filter, as Hubble applies it."""
from __future__ import annotations

import json
from typing import Any

import pytest

from cilab.parsers.hubble import Flow, parse_flows
from cilab.probes.observe_filter import UnknownFilter, parse, report

NS = "sw"


def flow(src: dict[str, Any], dst: dict[str, Any], *, l4: str = "TCP", etype: int = 4, verdict: str = "FORWARDED",
         http: dict[str, Any] | None = None) -> Flow:
    f: dict[str, Any] = {"time": "2025-07-25T17:44:03.1Z", "verdict": verdict, "source": src, "destination": dst,
                         "IP": {"source": "10.0.0.1", "destination": "10.0.0.2", "ipVersion": "IPv4"},
                         "l4": {l4: {"source_port": 40000, "destination_port": 80}},
                         "Type": "L7" if http else "L3_L4", "node_name": "k8s-w1", "event_type": {"type": etype}}
    if http:
        f["l7"] = {"type": "REQUEST", "http": http}
    return parse_flows(json.dumps({"flow": f}) + "\n").flows[0]


XWING = {"namespace": NS, "pod_name": "xwing", "identity": 7207}
TIE = {"namespace": NS, "pod_name": "tiefighter", "identity": 9225}
DEATHSTAR = {"namespace": NS, "pod_name": "deathstar-8c4c77fb7-nnzkt", "identity": 15933}
COREDNS = {"namespace": "kube-system", "pod_name": "coredns-674b8bbfcf-2sbw2", "identity": 5694}
WORLD = {"identity": 2, "labels": ["reserved:world"]}


def broken(args: str, f: Flow) -> list[str]:
    return [str(p) for p, _ in parse(args.split()).broken(f)]


def test_a_compound_filter_needs_every_part() -> None:
    args = "--from-identity 7207 --protocol udp"
    assert broken(args, flow(XWING, COREDNS, l4="UDP")) == []
    assert broken(args, flow(TIE, COREDNS, l4="UDP")) == ["--from-identity 7207"]
    assert broken(args, flow(XWING, DEATHSTAR)) == ["--protocol udp"]
    assert broken(args, flow(TIE, DEATHSTAR)) == ["--from-identity 7207", "--protocol udp"]


def test_directions() -> None:
    assert broken("--to-identity 15933", flow(DEATHSTAR, XWING)) == ["--to-identity 15933"]
    assert broken("--to-pod sw/deathstar", flow(XWING, DEATHSTAR)) == []
    assert broken("--from-pod sw/deathstar", flow(XWING, DEATHSTAR)) == ["--from-pod sw/deathstar"]
    # a name without a namespace is in "default" (k8s.ParseNamespaceName), unless --from-namespace says
    assert broken("--from-pod xwing", flow(XWING, DEATHSTAR)) == ["--from-pod xwing"]
    assert broken("--from-namespace sw --from-pod xwing", flow(XWING, DEATHSTAR)) == []


def test_flags_without_a_direction_hold_at_either_end_together() -> None:
    assert broken("--pod sw/xwing", flow(DEATHSTAR, XWING)) == []
    assert broken("--pod sw/xwing", flow(TIE, DEATHSTAR)) == ["--pod sw/xwing"]
    assert broken("--namespace sw", flow(COREDNS, XWING)) == []
    assert broken("--namespace sw", flow(WORLD, COREDNS)) == ["--namespace sw"]
    # --pod and --identity must hold at the same end (the "left" or the "right" FlowFilter)
    assert broken("--pod sw/xwing --identity 15933", flow(XWING, DEATHSTAR)) == ["--pod sw/xwing",
                                                                                "--identity 15933"]
    assert broken("--pod sw/xwing --identity 7207", flow(DEATHSTAR, XWING)) == []
    # --namespace fills in the namespace of a pod named without one
    assert broken("--pod xwing --namespace sw", flow(XWING, DEATHSTAR)) == []


def test_verdict_type_and_http() -> None:
    assert broken("--verdict FORWARDED --namespace sw", flow(XWING, DEATHSTAR, verdict="DROPPED", etype=1)) == [
        "--verdict FORWARDED"]
    assert broken("--verdict FORWARDED --namespace sw", flow(WORLD, COREDNS)) == ["--namespace sw"]
    assert broken("--type drop", flow(XWING, DEATHSTAR, etype=1, verdict="DROPPED")) == []
    assert broken("-t l7", flow(XWING, DEATHSTAR)) == ["--type l7"]
    put = flow(TIE, DEATHSTAR, etype=129, http={"method": "PUT", "url": "http://deathstar/v1/exhaust-port"})
    assert broken("--http-method put", put) == []
    assert broken("--http-path /v1/request-landing", put) == ["--http-path /v1/request-landing"]
    assert broken("--http-path ^/v1/", put) == []
    assert broken("--protocol http", put) == []
    assert broken("--http-method PUT", flow(TIE, DEATHSTAR)) == ["--http-method PUT"]


def test_values_of_one_flag_are_alternatives() -> None:
    assert broken("--verdict DROPPED --verdict FORWARDED", flow(XWING, DEATHSTAR)) == []
    assert broken("--protocol udp --protocol tcp", flow(XWING, DEATHSTAR)) == []


def test_output_flags_are_not_filters_and_unknown_filters_are_refused() -> None:
    assert broken("-o jsonpb --last 1000 -f --protocol tcp", flow(XWING, DEATHSTAR)) == []
    with pytest.raises(UnknownFilter, match="--fqdn"):
        parse(["--fqdn", "example.com"])
    with pytest.raises(UnknownFilter, match="unknown protocol"):
        parse(["--protocol", "quic"])
    with pytest.raises(UnknownFilter, match="sub-type"):
        parse(["--type", "trace:to-endpoint"])


def test_report_names_the_part_and_the_flow() -> None:
    text = report(parse("--from-identity 7207 --protocol udp".split()), [flow(TIE, COREDNS, l4="UDP")])
    assert text.startswith("--from-identity 7207 is broken by 1 flow(s): ")
    assert "sw/tiefighter:40000 (ID:9225) -> kube-system/coredns-674b8bbfcf-2sbw2:80 (ID:5694)" in text
    assert text.endswith(": identity 9225")
