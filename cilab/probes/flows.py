"""Hubble flows of one request: observe through Relay, keep only the flows that belong.

Flows are asked for with the scenario's namespace as filter and matched in Python on the
request's marker (HTTP URL), its pinned client port (L3/L4 flows, and the L7 flows of a
request sent without a marker in its URL), its pods and kind; a
flow of another scenario or an earlier run can never satisfy a check.
"""
from __future__ import annotations

from typing import Callable

from cilab.lab import Lab
from cilab.parsers.hubble import Flow
from cilab.probes import hubble
from cilab.probes.traffic import Request


def observe(lab: Lab, namespace: str, *filters: str) -> list[Flow]:
    """Recent flows touching `namespace` (`hubble observe --namespace NS -o jsonpb`)."""
    return hubble.observe(lab, "--namespace", namespace, *filters, scope=namespace).flows


def of_request(flows: list[Flow], req: Request) -> list[Flow]:
    """Flows of exactly this request: its marker in the HTTP URL, or its client endpoint,
    the request's pod in its namespace on the pinned source port (L3/L4 flows, and the L7
    flows of a request sent without its marker: an L7 `path` rule is matched against the
    whole :path, query included, so such requests carry none)."""
    def client_side(f: Flow) -> bool:
        return any(ep.pod_name == req.pod and ep.namespace == req.namespace and ep.port == req.local_port
                   for ep in (f.source, f.destination))
    return [f for f in flows if (f.http_url is not None and req.marker in f.http_url) or client_side(f)]


def describe(flows: list[Flow]) -> str:
    """One line per flow, close to `hubble observe -o compact`."""
    if not flows:
        return "no flows"
    out = []
    for f in flows[:12]:
        kind = f.kind or f.type or "?"
        if f.dns_observation_source:
            kind += f" {f.dns_observation_source}"
        reason = f" {f.drop_reason_desc}" if f.drop_reason_desc else ""
        out.append(f"{f.source.pod_name or f.source.ip} -> {f.destination.pod_name or f.destination.ip} "
                   f"{kind} {f.verdict}{reason} ({f.summary or ''})")
    more = f" (+{len(flows) - 12} more)" if len(flows) > 12 else ""
    return "; ".join(out) + more


def await_flows(lab: Lab, req: Request, want: Callable[[list[Flow]], bool], what: str,
                *filters: str) -> list[Flow]:
    """Poll Hubble until the request's flows satisfy `want`; fail with the flows last seen."""
    seen: list[Flow] = []

    def check() -> list[Flow]:
        nonlocal seen
        seen = of_request(observe(lab, req.namespace, *filters), req)
        assert want(seen), f"{what}: saw {describe(seen)}"
        return seen
    return lab.eventually(check, what=what, budget="flows")
