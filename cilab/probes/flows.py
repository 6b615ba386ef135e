"""Hubble flows of one request: observe through Relay, keep only the flows that belong.

A flow belongs to a request (`of_request`) only when all of these hold:

* it happened after the request started: its `time` is not before the start the client
  pod printed (`traffic.Response.started`, the pod's node clock), in the clock of the
  node that stamped the flow (`node_name`): corrected by that node's offset measured once
  per run, less a margin (cilab.probes.clocks; `CLOCK_SKEW`, the old fixed allowance, for
  a node whose offset is not corrected).  A flow left out only for its time is "set aside",
  and `window` names such flows with their node and how far before the window they were;
* one of its ends is the request's client: the client pod's name and namespace, and the
  pod's address at the time of the request (`Response.client_ips`: a pod of the same name
  from an earlier run had another address);
* it carries the request's marker in its HTTP URL, or that client end is on the pinned
  client port (L3/L4 flows, and the L7 flows of a request sent without its marker: an L7
  `path` rule is matched against the whole :path, query included, so such requests carry
  none).

So a flow of another scenario, of an earlier request of the same scenario, of a retry, or
of an earlier run on a reused lab never satisfies a check.  A step that expects "no flow
of kind X" for a request first finds the request's other flows in the same window.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from cilab.lab import Lab
from cilab.parsers.hubble import Flow
from cilab.probes import clocks, hubble, traffic
from cilab.probes.traffic import Response, parse_time

#: the clocks of the client's node and of the node that saw a flow may differ this much
#: when the flow's node has no corrected offset (cilab.probes.clocks.UNCORRECTED_ALLOWANCE)
CLOCK_SKEW = clocks.UNCORRECTED_ALLOWANCE
#: the nodes' clocks measured for this run (`use_clocks`); None: every node gets CLOCK_SKEW
CLOCKS: clocks.Clocks | None = None
#: request (marker, attempt) -> the flows of its client left out for their time only (last look)
_SET_ASIDE: dict[tuple[str, int], list[tuple[Flow, float]]] = {}


def use_clocks(measured: clocks.Clocks | None) -> None:
    """Match flows with these clock offsets from now on (set once per run by the plugin)."""
    global CLOCKS
    CLOCKS = measured


def _not_before(sent: Response, node_name: str | None) -> datetime:
    assert sent.started is not None
    shift = CLOCKS.not_before_shift(node_of(node_name)) if CLOCKS is not None else CLOCK_SKEW
    return sent.started - shift


def observe(lab: Lab, namespace: str, *filters: str) -> list[Flow]:
    """Recent flows touching `namespace` (`hubble observe --namespace NS -o jsonpb`)."""
    return hubble.observe(lab, "--namespace", namespace, *filters, scope=namespace).flows


def of_request(flows: list[Flow], sent: Response) -> list[Flow]:
    """Flows of exactly this request (see the module doc): after its start, with the client
    pod (name, namespace, current IP) at one end, and its marker or pinned port."""
    req = sent.request
    return [f for f in from_client(flows, sent)
            if _client_end(f, sent, port=req.local_port) or (f.http_url is not None and req.marker in f.http_url)]


def since(flows: list[Flow], sent: Response) -> list[Flow]:
    """Flows not before the request's start in the clock of the node that stamped each (see
    the module doc); none when the start is unknown."""
    if sent.started is None:
        return []

    def when(f: Flow) -> bool:
        t = parse_time(f.time)
        return t is not None and t >= _not_before(sent, f.node_name)
    return [f for f in flows if when(f)]


def _early(flows: list[Flow], sent: Response) -> list[tuple[Flow, float]]:
    """The flows stamped before the request's window, with how many seconds before it."""
    if sent.started is None:
        return []
    out = []
    for f in flows:
        t = parse_time(f.time)
        if t is not None:
            gap = (_not_before(sent, f.node_name) - t).total_seconds()
            if gap > 0:
                out.append((f, gap))
    return out


def from_client(flows: list[Flow], sent: Response) -> list[Flow]:
    """Flows after the request's start with its client pod (name, namespace, current IP) at
    one end, on any port: what the client did for this request besides the request's own
    connection (its DNS lookup, which has a source port of its own)."""
    if not sent.client_ips:
        return []
    _SET_ASIDE[(sent.request.marker, sent.attempt)] = [(f, gap) for f, gap in _early(flows, sent)
                                                       if _client_end(f, sent)]
    return [f for f in since(flows, sent) if _client_end(f, sent)]


def _client_end(f: Flow, sent: Response, port: int | None = None) -> bool:
    """One end of the flow is the request's client pod at its address then (and on `port`)."""
    req = sent.request
    return any(ep.pod_name == req.pod and ep.namespace == req.namespace and ep.ip in sent.client_ips
               and (port is None or ep.port == port) for ep in (f.source, f.destination))


def window(sent: Response) -> str:
    """The request's window and client, for failure messages; with the flows of its client the
    last look set aside for their time only (node, how far before the window, the node's clock)."""
    req = sent.request
    start = sent.started.isoformat().replace("+00:00", "Z") if sent.started else traffic.unknown_start(sent)
    allowance = (f"in the clock of each flow's node: corrected by its measured offset, or less "
                 f"{CLOCK_SKEW.total_seconds():g} s where it is not" if CLOCKS is not None and CLOCKS.nodes
                 else f"less {CLOCK_SKEW.total_seconds():g} s")
    text = (f"flows since {start} ({allowance}) of {req.namespace}/{req.pod} "
            f"at {', '.join(sent.client_ips) or 'an unknown address'} port {req.local_port}")
    aside = [(f, gap) for f, gap in _SET_ASIDE.get((req.marker, sent.attempt), [])
             if _client_end(f, sent, port=req.local_port) or (f.http_url is not None and req.marker in f.http_url)]
    if aside:
        by_node: dict[str, list[float]] = {}
        for f, gap in aside:
            by_node.setdefault(node_of(f.node_name) or "?", []).append(gap)
        parts = []
        for node, gaps in sorted(by_node.items()):
            clock = CLOCKS.note(node) if CLOCKS is not None else f"{node}'s clock was not measured"
            parts.append(f"{len(gaps)} flow(s) stamped by {node} {min(gaps):.3f}-{max(gaps):.3f} s before the "
                         f"window ({clock}; `{clocks.TIMEDATECTL}` on {node} shows its clock)")
        text += "; set aside for their time: " + "; ".join(parts)
    return text


def node_of(node_name: str | None) -> str | None:
    """The Kubernetes node of a flow's `node_name`.  Hubble writes `<node>` when the
    cluster is named `default` and `<cluster-name>/<node>` otherwise (Cilium's node
    naming; the flow-export example of Cilium's docs shows `kind-kind/kind-worker`)."""
    if not node_name:
        return node_name
    return node_name.rsplit("/", 1)[-1]


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


def await_flows(lab: Lab, sent: Response, want: Callable[[list[Flow]], bool], what: str,
                *filters: str) -> list[Flow]:
    """Poll Hubble until the request's flows satisfy `want`; fail with the flows last seen."""
    seen: list[Flow] = []

    def check() -> list[Flow]:
        nonlocal seen
        seen = of_request(observe(lab, sent.request.namespace, *filters), sent)
        assert want(seen), f"{what}: saw {describe(seen)} ({window(sent)})"
        return seen
    return lab.eventually(check, what=what, budget="flows")
