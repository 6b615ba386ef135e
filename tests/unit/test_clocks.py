"""cilab.probes.clocks and the flow window of cilab.probes.flows: offsets from bracketed reads,
which are corrected, and flows matched in the clock of the node that stamped them."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from cilab.errors import LabUnavailable
from cilab.parsers.hubble import parse_flows
from cilab.probes import clocks, flows
from cilab.probes.traffic import Request, Response


def answer(node_minus_runner: float, rtt: float = 0.02, at: float = 1000.0) -> dict:
    samples = [{"before": at + i, "node": f"{at + i + (rtt + 0.01 * i) / 2 + node_minus_runner:.9f}", "rc": 0,
                "after": at + i + rtt + 0.01 * i} for i in range(3)]
    return {"command": "date -u +%s.%N", "samples": samples}


def test_the_shortest_round_trip_counts_and_its_midpoint() -> None:
    doc = answer(0.3)
    doc["samples"][0]["node"] = "not a number"
    offset, unc, problem = clocks.reading(doc)
    assert problem == "" and offset == pytest.approx(0.3, abs=1e-6) and unc == pytest.approx(0.015)  # read 2 of 3


def test_offsets_are_relative_to_the_median_node_and_far_ones_are_not_corrected() -> None:
    c = clocks.from_answers({"a": answer(5.001), "b": answer(5.0), "c": answer(5.0 - 4.0),
                             "d": LabUnavailable("ssh: no route")})
    assert c.nodes["b"].offset == 0 and c.nodes["a"].corrected
    assert c.nodes["c"].offset == pytest.approx(-4.0) and not c.nodes["c"].corrected
    assert not c.nodes["d"].corrected and "LabUnavailable" in c.nodes["d"].why_not()
    lines = c.warnings()
    assert len(lines) == 2 and "c is 4.000 s behind the other nodes" in lines[0] and "`timedatectl` on c" in lines[0]
    assert "clock.c" in c.properties() and "NOT corrected" in c.properties()["clock.c"]


def test_a_slow_read_is_not_trusted() -> None:
    c = clocks.from_answers({"a": answer(0.0), "b": answer(0.9, rtt=1.5)})
    assert not c.nodes["b"].corrected and "too long" in c.nodes["b"].why_not()


START = datetime(2025, 7, 25, 17, 44, 3, tzinfo=timezone.utc)
REQ = Request("ns", "xwing", "POST", "http://deathstar/v1/request-landing?m=1", "m1", 22008)
SENT = Response(REQ, 0, 200, "", "", started=START, client_ips=("172.20.1.160",))


def flow_at(node: str, seconds: float) -> dict:
    t = (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"flow": {"time": t, "node_name": node, "verdict": "DROPPED", "Type": "L3_L4",
                     "IP": {"source": "172.20.1.160", "destination": "172.20.2.219", "ipVersion": "IPv4"},
                     "l4": {"TCP": {"source_port": 22008, "destination_port": 80}},
                     "source": {"namespace": "ns", "pod_name": "xwing"},
                     "destination": {"namespace": "ns", "pod_name": "deathstar-1"}}}


@pytest.fixture
def measured() -> Iterator[None]:
    yield
    flows.use_clocks(None)


def batch(*docs: dict) -> list:
    return parse_flows("".join(json.dumps(d) + "\n" for d in docs)).flows


def test_a_node_behind_is_corrected(measured: None) -> None:
    fl = batch(flow_at("k8s-w2", -1.2 + 0.05))
    flows.use_clocks(None)
    assert flows.of_request(fl, SENT), "the old fixed 2 s allowance lets 1.2 s through"
    flows.use_clocks(clocks.from_answers({"k8s-w1": answer(0.0), "k8s-ctr": answer(0.0), "k8s-w2": answer(-1.2)}))
    assert flows.of_request(fl, SENT), "corrected by k8s-w2's measured offset"
    # a flow 1.2 s early from a node in step is outside the corrected, narrower window
    early = batch(flow_at("k8s-w1", -1.2))
    assert not flows.of_request(early, SENT)
    assert "set aside for their time: 1 flow(s) stamped by k8s-w1" in flows.window(SENT)


def test_a_node_too_far_off_is_named_with_its_flows(measured: None) -> None:
    flows.use_clocks(clocks.from_answers({"k8s-w1": answer(0.0), "k8s-ctr": answer(0.0), "k8s-w2": answer(-4.0)}))
    fl = batch(flow_at("k8s-w2", -4.0 + 0.05))
    assert not flows.of_request(fl, SENT)
    text = flows.window(SENT)
    assert "1 flow(s) stamped by k8s-w2 1.950-1.950 s before the window" in text
    assert "k8s-w2's clock is 4.000 s behind the other nodes" in text and "`timedatectl` on k8s-w2" in text
