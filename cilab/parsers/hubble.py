"""Hubble CLI outputs: `hubble status` (compact and `-o json`) and flow records
(`hubble observe -o json|jsonpb`, the legacy bare flow, and export-file lines).

Sources (research notes `hubble-1.17-formats.md`):
  §1.1 framing: one JSON document per line; a jsonpb line wraps one of `flow`,
       `lost_events`, `node_status` (agent/debug events use `agent_event`/`debug_event`)
       with top-level `node_name` and `time`; the legacy format is the bare Flow.
  §1.2 keys are proto field names (`IP`, `Type`, `Summary`, `TCP`, ...); zero values are
       omitted; enums are strings; 64-bit integers are JSON strings; wrappers such as
       `is_reply` are bare values and absent when unset.
  §1.3 Flow fields, `l7.http` / `l7.dns` shapes, `is_reply` per event kind.
  §2   the compact TYPE column wording (`http-request`, `dns-response`, ...).
  §3.2 `hubble status` compact text and JSON.
  §4   export-file lines have the jsonpb shape.
Unknown keys are ignored everywhere (later versions add fields, §1.3).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from cilab.parsers import _json

# ---------------------------------------------------------------------------- helpers


_obj, _list, _int = _json.obj, _json.array, _json.integer


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------------- hubble status


@dataclass(frozen=True)
class HubbleStatus:
    """`hubble status` (§3.2).  `message` is the health text after ``Healthcheck (via …):``
    (``Ok``, ``Unavailable: NOT_SERVING``) or the error line the CLI printed instead."""

    healthy: bool
    via: str | None = None
    current_flows: int | None = None
    max_flows: int | None = None
    #: the percentage after Current/Max Flows, as printed (``91.84`` for ``(91.84%)``)
    fill_percent: float | None = None
    flows_per_second: float | None = None
    connected_nodes: int | None = None
    total_nodes: int | None = None
    unavailable_nodes: tuple[str, ...] = ()
    message: str = ""


_HEALTH_RE = re.compile(r"^Healthcheck \(via (?P<via>[^)]*)\):\s*(?P<state>.*)$")
_FLOWS_RE = re.compile(r"^Current/Max Flows:\s*(?P<cur>[\d,]+)/(?P<max>[\d,]+)"
                       r"(?:\s+\((?:(?P<pct>\d+(?:\.\d+)?)%|.*)\))?$")
_RATE_RE = re.compile(r"^Flows/s:\s*(?P<rate>N/A|\d+(?:\.\d+)?)$")
_NODES_RE = re.compile(r"^Connected Nodes:\s*(?P<con>\d+)/(?P<total>\d+)$")
_UNAVAIL_RE = re.compile(r"^Unavailable Nodes:\s*(?P<n>\d+)$")
_UNAVAIL_ITEM_RE = re.compile(r"^\s*-\s+(?P<name>\S.*?)\s*$")
_ERROR_RE = re.compile(r"^(failed\b|Error:|error:)|rpc error:")


def _grouped_int(text: str) -> int:
    """``11,282`` (uint64Grouping, §3.2) or ``11917`` -> int."""
    return int(text.replace(",", ""))


def parse_hubble_status(text: str) -> HubbleStatus:
    """Parse compact `hubble status` output (§3.2).

    Lines the parser does not know are ignored; a known line with a malformed value
    raises ValueError naming the line.  Text with neither a ``Healthcheck`` line nor an
    error line (``failed getting status: rpc error: …``) raises ValueError.
    """
    values: dict[str, Any] = {}
    unavailable: list[str] = []
    in_unavailable = False
    error: str | None = None
    health: tuple[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if in_unavailable and (m := _UNAVAIL_ITEM_RE.match(raw)):
            unavailable.append(m["name"])
            continue
        in_unavailable = False
        if m := _HEALTH_RE.match(line):
            health = (m["via"], m["state"].strip())
        elif line.startswith("Current/Max Flows:"):
            if not (m := _FLOWS_RE.match(line)):
                raise ValueError(f"hubble status: cannot parse line {raw!r}")
            values["current_flows"] = _grouped_int(m["cur"])
            values["max_flows"] = _grouped_int(m["max"])
            if m["pct"] is not None:
                values["fill_percent"] = float(m["pct"])
        elif line.startswith("Flows/s:"):
            if not (m := _RATE_RE.match(line)):
                raise ValueError(f"hubble status: cannot parse line {raw!r}")
            values["flows_per_second"] = None if m["rate"] == "N/A" else float(m["rate"])
        elif line.startswith("Connected Nodes:"):
            if not (m := _NODES_RE.match(line)):
                raise ValueError(f"hubble status: cannot parse line {raw!r}")
            values["connected_nodes"] = int(m["con"])
            values["total_nodes"] = int(m["total"])
        elif line.startswith("Unavailable Nodes:"):
            if not _UNAVAIL_RE.match(line):
                raise ValueError(f"hubble status: cannot parse line {raw!r}")
            in_unavailable = True
        elif error is None and _ERROR_RE.search(line):
            error = line
    if health is None and error is None:
        raise ValueError("hubble status: no 'Healthcheck (via …)' line and no error line")
    via, state = health if health is not None else (None, "")
    healthy = error is None and state == "Ok"
    message = state if (state and state != "Ok") or error is None else error
    return HubbleStatus(healthy=healthy, via=via, unavailable_nodes=tuple(unavailable),
                        message=message, **values)


def parse_hubble_status_json(text: str) -> HubbleStatus:
    """Parse `hubble status -o json` (one ServerStatusResponse line, §3.2).

    The CLI prints JSON only after a passing health check, so a parsed document is
    healthy.  Counters are JSON strings and omitted when zero (§1.2).  Node counts exist
    only behind Hubble Relay; total = connected + unavailable.  Flows/s is `flows_rate`,
    else seen_flows / uptime as the compact printer does, else None.  An error line
    instead of JSON (``failed getting status: …``) gives healthy=False with that message.
    """
    stripped = text.strip()
    if not stripped.startswith("{"):
        first = stripped.splitlines()[0] if stripped else ""
        if first and _ERROR_RE.search(first):
            return HubbleStatus(healthy=False, message=first)
        raise ValueError(f"hubble status -o json: not a JSON object: {first!r}")
    try:
        doc = _obj(json.loads(stripped), "hubble status")
    except json.JSONDecodeError as exc:
        raise ValueError(f"hubble status -o json: invalid JSON ({exc})") from None
    current = _int(doc.get("num_flows", 0), "num_flows")
    maximum = _int(doc.get("max_flows", 0), "max_flows")
    seen = _int(doc.get("seen_flows", 0), "seen_flows") or 0
    uptime_ns = _int(doc.get("uptime_ns", 0), "uptime_ns") or 0
    rate: float | None
    if doc.get("flows_rate") is not None:
        rate = float(doc["flows_rate"])
    else:
        rate = seen / (uptime_ns / 1e9) if uptime_ns > 0 else None
    connected = _int(doc.get("num_connected_nodes"), "num_connected_nodes")
    unavailable_count = _int(doc.get("num_unavailable_nodes"), "num_unavailable_nodes")
    total = None
    if connected is not None or unavailable_count is not None:
        total = (connected or 0) + (unavailable_count or 0)
    names = tuple(str(n) for n in _list(doc.get("unavailable_nodes"), "unavailable_nodes"))
    return HubbleStatus(healthy=True, current_flows=current, max_flows=maximum,
                        flows_per_second=rate, connected_nodes=connected, total_nodes=total,
                        unavailable_nodes=names, message="")


# ------------------------------------------------------------------------------ flows


@dataclass(frozen=True)
class Endpoint:
    """One side of a flow: Flow.source/destination plus IP.source/destination and the
    l4 source_port/destination_port (§1.3)."""

    namespace: str | None = None
    pod_name: str | None = None
    identity: int | None = None
    labels: tuple[str, ...] = ()
    ip: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class Flow:
    """A Hubble flow (§1.3).  Absent keys are None (protojson omits zero values, §1.2);
    `is_reply` is None when unset, which is the case for every drop.  `dns_rcode` is
    None on requests and 0 on responses that omit it.  `l7_protocol` is ``http``,
    ``dns`` or ``kafka`` when the flow carries that L7 record."""

    time: str | None = None
    uuid: str | None = None
    verdict: str | None = None
    drop_reason_desc: str | None = None
    type: str | None = None
    l7_type: str | None = None
    http_method: str | None = None
    http_url: str | None = None
    http_protocol: str | None = None
    http_code: int | None = None
    http_headers: tuple[tuple[str, str], ...] = ()
    dns_query: str | None = None
    dns_ips: tuple[str, ...] = ()
    dns_rcode: int | None = None
    dns_qtypes: tuple[str, ...] = ()
    #: the answer's TTL in seconds (responses only; §1.3 `l7.dns.ttl`, a 32-bit number)
    dns_ttl: int | None = None
    dns_observation_source: str | None = None
    source: Endpoint = field(default_factory=Endpoint)
    destination: Endpoint = field(default_factory=Endpoint)
    node_name: str | None = None
    is_reply: bool | None = None
    traffic_direction: str | None = None
    event_type: int | None = None
    summary: str | None = None
    trace_observation_point: str | None = None
    l7_protocol: str | None = None
    tcp_flags: tuple[str, ...] = ()
    sock_xlate_point: str | None = None
    #: the socket a trace-sock event belongs to (a 64-bit JSON string, §1.2); pre- and
    #: post-translation events of one connect() share it
    socket_cookie: str | None = None
    #: ``TCP``, ``UDP``, ``SCTP``, ``ICMPv4`` or ``ICMPv6``: the key of `l4` (§1.3)
    l4_protocol: str | None = None

    @property
    def kind(self) -> str | None:
        """The compact TYPE column for L7 flows (§2): ``http-request``, ``http-response``,
        ``dns-request``, ``dns-response``, ``kafka-…``, ``l7-…``; None for other flows.
        The compact printer appends the DNS observation source (``dns-request proxy``);
        that part is `dns_observation_source`, not part of `kind`."""
        if self.type != "L7" and self.l7_type is None and self.l7_protocol is None:
            return None
        proto = self.l7_protocol or "l7"
        return f"{proto}-{(self.l7_type or 'unknown').lower()}"


@dataclass
class FlowBatch:
    """The flows of one output.  `lost_events` sums `num_events_lost` of the
    ``lost_events`` lines (§1.1); `skipped` counts other non-flow lines
    (node_status, agent_event, debug_event, unknown)."""

    flows: list[Flow] = field(default_factory=list)
    lost_events: int = 0
    skipped: int = 0


_WRAPPER_KEYS = ("flow", "lost_events", "node_status", "agent_event", "debug_event")
_FLOW_KEYS = ("verdict", "IP", "l4", "source", "destination", "Type", "uuid", "l7",
              "event_type", "Summary", "ethernet", "drop_reason_desc")
_L4_KINDS = ("TCP", "UDP", "SCTP")


def _endpoint(ep: dict[str, Any], ip: str | None, port: int | None, what: str) -> Endpoint:
    return Endpoint(namespace=_str(ep.get("namespace")), pod_name=_str(ep.get("pod_name")),
                    identity=_int(ep.get("identity"), f"{what}.identity"),
                    labels=tuple(str(x) for x in _list(ep.get("labels"), f"{what}.labels")),
                    ip=ip, port=port)


_L4_ANY = ("TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6")
#: the order the agent's Summary lists TCP flags in (§2, threefour decodeLayers)
TCP_FLAG_ORDER = ("SYN", "ACK", "RST", "FIN", "PSH", "URG", "ECE", "CWR", "NS")


def _l4_kind(l4: dict[str, Any]) -> str | None:
    return next((kind for kind in _L4_ANY if kind in l4), None)


def _tcp_flags(l4: dict[str, Any]) -> tuple[str, ...]:
    """The set flags of `l4.TCP.flags` (bools, omitted when false, §1.2), in Summary order."""
    if "TCP" not in l4:
        return ()
    flags = _obj(_obj(l4["TCP"], "l4.TCP").get("flags"), "l4.TCP.flags")
    return tuple(f for f in TCP_FLAG_ORDER if flags.get(f) is True)


def _ports(l4: dict[str, Any]) -> tuple[int | None, int | None]:
    for kind in _L4_KINDS:
        if kind in l4:
            proto = _obj(l4[kind], f"l4.{kind}")
            return (_int(proto.get("source_port"), f"l4.{kind}.source_port"),
                    _int(proto.get("destination_port"), f"l4.{kind}.destination_port"))
    return None, None


def _l7_fields(l7: dict[str, Any]) -> dict[str, Any]:
    l7_type = _str(l7.get("type"))
    out: dict[str, Any] = {"l7_type": l7_type}
    if "http" in l7:
        http = _obj(l7["http"], "l7.http")
        headers = []
        for h in _list(http.get("headers"), "l7.http.headers"):
            h = _obj(h, "l7.http.headers[]")
            headers.append((str(h.get("key", "")), str(h.get("value", ""))))
        out.update(l7_protocol="http", http_method=_str(http.get("method")),
                   http_url=_str(http.get("url")), http_protocol=_str(http.get("protocol")),
                   http_code=_int(http.get("code"), "l7.http.code"),
                   http_headers=tuple(headers))
    elif "dns" in l7:
        dns = _obj(l7["dns"], "l7.dns")
        rcode = _int(dns.get("rcode"), "l7.dns.rcode")
        if rcode is None and l7_type == "RESPONSE":
            rcode = 0  # omitted zero value: NOERROR
        out.update(l7_protocol="dns", dns_query=_str(dns.get("query")),
                   dns_ips=tuple(str(x) for x in _list(dns.get("ips"), "l7.dns.ips")),
                   dns_rcode=rcode,
                   dns_qtypes=tuple(str(x) for x in _list(dns.get("qtypes"), "l7.dns.qtypes")),
                   dns_ttl=_int(dns.get("ttl"), "l7.dns.ttl"),
                   dns_observation_source=_str(dns.get("observation_source")))
    elif "kafka" in l7:
        out["l7_protocol"] = "kafka"
    return out


def flow_from_dict(flow: dict[str, Any], node_name: str | None = None,
                   time: str | None = None) -> Flow:
    """Build a Flow from a proto-named Flow object (§1.3).  `node_name`/`time` from the
    jsonpb wrapper fill in when the flow itself lacks them (field masks, §4)."""
    ip = _obj(flow.get("IP"), "IP")
    l4 = _obj(flow.get("l4"), "l4")
    src_port, dst_port = _ports(l4)
    is_reply = flow.get("is_reply")
    if is_reply is not None and not isinstance(is_reply, bool):
        raise ValueError(f"is_reply is not a boolean: {is_reply!r}")
    event_type = _obj(flow.get("event_type"), "event_type")
    return Flow(
        time=_str(flow.get("time")) or time,
        uuid=_str(flow.get("uuid")),
        verdict=_str(flow.get("verdict")),
        drop_reason_desc=_str(flow.get("drop_reason_desc")),
        type=_str(flow.get("Type")),
        source=_endpoint(_obj(flow.get("source"), "source"), _str(ip.get("source")),
                         src_port, "source"),
        destination=_endpoint(_obj(flow.get("destination"), "destination"),
                              _str(ip.get("destination")), dst_port, "destination"),
        node_name=_str(flow.get("node_name")) or node_name,
        is_reply=is_reply,
        traffic_direction=_str(flow.get("traffic_direction")),
        event_type=_int(event_type.get("type"), "event_type.type"),
        summary=_str(flow.get("Summary")),
        trace_observation_point=_str(flow.get("trace_observation_point")),
        tcp_flags=_tcp_flags(l4),
        sock_xlate_point=_str(flow.get("sock_xlate_point")),
        socket_cookie=_str(flow.get("socket_cookie")),
        l4_protocol=_l4_kind(l4),
        **_l7_fields(_obj(flow.get("l7"), "l7")),
    )


def _decode(line: str) -> dict[str, Any]:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg}): {line[:120]!r}") from None
    return _obj(doc, "line")


def _flow_of(doc: dict[str, Any]) -> Flow | None:
    if "flow" in doc:
        return flow_from_dict(_obj(doc["flow"], "flow"), node_name=_str(doc.get("node_name")),
                              time=_str(doc.get("time")))
    if any(key in doc for key in _WRAPPER_KEYS):
        return None
    if any(key in doc for key in _FLOW_KEYS):
        return flow_from_dict(doc)  # legacy bare Flow (HUBBLE_COMPAT=legacy-json-output)
    return None


def parse_flow_line(line: str) -> Flow | None:
    """One JSON line -> Flow, or None when the line holds no flow (blank, `lost_events`,
    `node_status`, agent/debug events, unknown objects).  ValueError when it is not a
    JSON object or a known field has the wrong JSON type."""
    if not line.strip():
        return None
    return _flow_of(_decode(line))


def parse_flows(text: str) -> FlowBatch:
    """All flows in `hubble observe -o json|jsonpb` output or an export file (§1.1, §4).
    Blank lines are ignored; a bad line raises ValueError naming its line number."""
    batch = FlowBatch()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = _decode(line)
            flow = _flow_of(doc)
            if flow is None and "lost_events" in doc:
                lost = _obj(doc["lost_events"], "lost_events")
                batch.lost_events += _int(lost.get("num_events_lost", 0), "num_events_lost") or 0
                continue
        except ValueError as exc:
            raise ValueError(f"flows line {number}: {exc}") from None
        if flow is None:
            batch.skipped += 1
        else:
            batch.flows.append(flow)
    return batch
