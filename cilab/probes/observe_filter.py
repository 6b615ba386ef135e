"""Which flows a `hubble observe` filter lets through, part by part, as Hubble decides it.

A check of a filtered `hubble observe` takes the command apart (`parse`) and asks of every
flow it returned whether it matches every part of the filter (`ObserveFilter.broken`), so
a Hubble that ignores one part of a compound filter is caught and the failure names the
flag.  The semantics are Cilium's (the Hubble CLI vendors them; Cilium 1.17):

* hubble/cmd/observe/flows_filter.go turns the flags into FlowFilters.  A flag with a
  direction (`--from-pod`, `--to-identity`, `--protocol`, `--verdict`, `--type`,
  `--http-method`, `--http-path`, ...) goes into every FlowFilter.  A flag without one
  (`--pod`, `--identity`, `--namespace`) builds two FlowFilters, "left" with the value on
  the source and "right" with it on the destination; a flow passes when it matches either
  (so several such flags must hold at the same end).  `--namespace NS` adds NS to the pod
  names of that end that have none, or selects pod name "NS/" (any pod of NS);
  `--from-namespace`/`--to-namespace` do the same for one end.  Values of one flag are
  alternatives; different flags must all hold.
* pkg/hubble/filters: pods and namespaces (k8s.go) match an endpoint's namespace and a
  prefix of its pod name (a name without "/" is in "default"; an endpoint with neither
  never matches); identities (identity.go) the endpoint's numeric identity; `--protocol`
  (protocol.go) the kind of the `l4` record (tcp, udp, sctp, icmp, icmpv4, icmpv6) or of
  the `l7` record (http, dns, kafka); `--type` (event_type.go) the event type number
  (monitor API: drop 1, debug 2, capture 3, trace 4, policy-verdict 5, trace-sock 7,
  l7 129, agent 130; the suite uses no `TYPE:SUB-TYPE`); `--verdict` (verdict.go) the verdict;
  `--http-method` (http.go) the HTTP method, case-insensitively; `--http-path` (http.go)
  a regular expression searched in the path of the HTTP URL.

Flags this module does not know raise `UnknownFilter`: a check never passes by skipping a
part of the filter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from cilab.parsers.hubble import Endpoint, Flow

#: `hubble observe` flags that select no flows (output, amount, connection)
NOT_FILTERS_WITH_VALUE = {"-o", "--output", "--last", "--first", "--since", "--until", "--server", "--timeout"}
NOT_FILTERS = {"-f", "--follow", "--all", "--print-node-name", "--time-format"}
SHORT = {"-n": "--namespace", "-t": "--type"}
#: monitor API message types (pkg/monitor/api/types.go MessageTypeNames)
EVENT_TYPES = {"drop": 1, "debug": 2, "capture": 3, "trace": 4, "policy-verdict": 5, "trace-sock": 7,
               "l7": 129, "agent": 130}
L4_PROTOCOLS = {"tcp": ("TCP",), "udp": ("UDP",), "sctp": ("SCTP",), "icmp": ("ICMPv4", "ICMPv6"),
                "icmpv4": ("ICMPv4",), "icmpv6": ("ICMPv6",)}
L7_PROTOCOLS = {"http", "dns", "kafka"}
#: flags without a direction: the value must hold at the source or at the destination
BOTH_ENDS = {"--pod", "--identity", "--namespace"}


class UnknownFilter(ValueError):
    """A `hubble observe` flag whose semantics the suite does not model."""


@dataclass
class Part:
    """One flag of the filter with its values (alternatives)."""

    flag: str
    values: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"{self.flag} {v}" for v in self.values)


def _pod_spec(name: str, namespaces: list[str]) -> list[tuple[str, str]]:
    """(namespace, pod-name prefix) pairs of a pod filter value (k8s.ParseNamespaceName; a
    namespace flag fills in names that have none)."""
    if "/" in name:
        ns, _, prefix = name.partition("/")
        return [(ns, prefix)]
    if namespaces:
        return [(ns, name) for ns in namespaces]
    return [("default", name)]


def _pod_match(ep: Endpoint, specs: list[tuple[str, str]]) -> bool:
    if not ep.namespace and not ep.pod_name:
        return False
    return any((not prefix or (ep.pod_name or "").startswith(prefix)) and (not ns or ns == ep.namespace)
               for ns, prefix in specs)


def _identity(value: str) -> int:
    reserved = {"host": 1, "world": 2, "unmanaged": 3, "health": 4, "init": 5, "remote-node": 6,
                "kube-apiserver": 7, "ingress": 8}
    if value in reserved:
        return reserved[value]
    try:
        return int(value)
    except ValueError:
        raise UnknownFilter(f"identity {value!r} is neither a number nor a reserved identity name") from None


def _event_type(value: str) -> int:
    kind, _, sub = value.partition(":")
    if sub:
        raise UnknownFilter(f"--type {value!r}: the suite models event types without a sub-type")
    number = EVENT_TYPES.get(kind)
    if number is None:
        if not kind.isdigit():
            raise UnknownFilter(f"--type {value!r}: unknown event type (known: {', '.join(EVENT_TYPES)})")
        number = int(kind)
    return number


def _http_path(flow: Flow) -> str | None:
    if flow.l7_protocol != "http" or not flow.http_url:
        return None
    try:
        return urlsplit(flow.http_url).path
    except ValueError:
        return None


def _seen(flag: str, f: Flow) -> str:
    """What the flow carries for the field `flag` tests (for the failure message)."""
    ep = f.source if flag.startswith("--from") else f.destination if flag.startswith("--to") else None

    def pod(e: Endpoint) -> str:
        return f"{e.namespace}/{e.pod_name}" if e.pod_name else (f"{e.namespace}/" if e.namespace else "no pod")
    if ep is not None:
        return (f"identity {ep.identity}" if flag.endswith("identity")
                else f"namespace {ep.namespace or 'none'}" if flag.endswith("namespace") else pod(ep))
    if flag == "--identity":
        return f"identities {f.source.identity} -> {f.destination.identity}"
    if flag in ("--pod", "--namespace"):
        return f"{pod(f.source)} -> {pod(f.destination)}"
    if flag == "--protocol":
        return " and ".join(x for x in (f.l4_protocol, f.l7_protocol) if x) or "no protocol"
    if flag == "--type":
        return f"event type {f.event_type}"
    if flag == "--verdict":
        return f"{f.verdict}"
    if flag == "--http-method":
        return f"method {f.http_method or 'none'}"
    if flag == "--http-path":
        return f"path {_http_path(f) or 'none'}"
    return "?"


class ObserveFilter:
    """The filter of one `hubble observe` command line."""

    def __init__(self, args: list[str]) -> None:
        self.args = list(args)
        self.parts: list[Part] = []
        by_flag: dict[str, Part] = {}
        it = iter(args)
        for arg in it:
            flag, _, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            flag = SHORT.get(flag, flag)
            if flag in NOT_FILTERS:
                continue
            value = inline or next(it, None)
            if value is None:
                raise UnknownFilter(f"hubble observe {' '.join(args)}: {flag} without a value")
            if flag in NOT_FILTERS_WITH_VALUE:
                continue
            if flag not in TESTS and flag not in BOTH_ENDS:
                raise UnknownFilter(f"hubble observe {' '.join(args)}: the suite does not model the filter {flag}")
            if flag not in by_flag:
                by_flag[flag] = Part(flag)
                self.parts.append(by_flag[flag])
            by_flag[flag].values.append(value)
        self._by_flag = by_flag
        for part in self.parts:  # values are checked when the command is taken apart, not per flow
            if part.flag in ("--identity", "--from-identity", "--to-identity"):
                [_identity(v) for v in part.values]
            elif part.flag == "--type":
                [_event_type(v) for v in part.values]
            elif part.flag == "--protocol":
                bad = [v for v in part.values if v.lower() not in L4_PROTOCOLS and v.lower() not in L7_PROTOCOLS]
                if bad:
                    raise UnknownFilter(f"--protocol {bad[0]!r}: unknown protocol")

    def __str__(self) -> str:
        return " ".join(str(p) for p in self.parts)

    def _ns(self, flag: str) -> list[str]:
        part = self._by_flag.get(flag)
        return list(part.values) if part else []

    def _end_parts(self) -> list[Part]:
        return [p for p in self.parts if p.flag in BOTH_ENDS]

    def _at_end(self, ep: Endpoint) -> list[Part]:
        """The parts without a direction that do not hold at this end."""
        out = []
        namespaces = self._ns("--namespace")
        pods = self._by_flag.get("--pod")
        for part in self._end_parts():
            if part.flag == "--pod":
                ok = _pod_match(ep, [s for v in part.values for s in _pod_spec(v, namespaces)])
            elif part.flag == "--namespace":
                # with --pod the namespace only fills in the pods' names (flows_filter.go applySrc)
                ok = True if pods else _pod_match(ep, [(ns, "") for ns in part.values])
            else:
                ok = ep.identity in {_identity(v) for v in part.values}
            if not ok:
                out.append(part)
        return out

    def broken(self, f: Flow) -> list[tuple[Part, str]]:
        """The parts of the filter the flow does not match, each with what the flow carries."""
        out = [(p, _seen(p.flag, f)) for p in self.parts if p.flag in TESTS and not TESTS[p.flag](self, p, f)]
        if self._end_parts():
            at_src, at_dst = self._at_end(f.source), self._at_end(f.destination)
            if at_src and at_dst:
                # one end must match them all: name those that fail at both ends, else all of them
                both = [p for p in at_src if p in at_dst] or self._end_parts()
                out += [(p, _seen(p.flag, f) + (" (not at one end together)" if p not in at_src or p not in at_dst
                                                 else "")) for p in both]
        return out

    def violations(self, flows: list[Flow]) -> dict[str, list[tuple[Flow, str]]]:
        """part text -> the flows that break it (with what each carries), in the command's order."""
        out: dict[str, list[tuple[Flow, str]]] = {}
        for f in flows:
            for part, seen in self.broken(f):
                out.setdefault(str(part), []).append((f, seen))
        return out


def _from_pod(flt: ObserveFilter, p: Part, f: Flow) -> bool:
    return _pod_match(f.source, [s for v in p.values for s in _pod_spec(v, flt._ns("--from-namespace"))])


def _to_pod(flt: ObserveFilter, p: Part, f: Flow) -> bool:
    return _pod_match(f.destination, [s for v in p.values for s in _pod_spec(v, flt._ns("--to-namespace"))])


def _protocol(flt: ObserveFilter, p: Part, f: Flow) -> bool:
    for v in (x.lower() for x in p.values):
        if v in L4_PROTOCOLS and f.l4_protocol in L4_PROTOCOLS[v]:
            return True
        if v in L7_PROTOCOLS and f.l7_protocol == v:
            return True
    return False


def _type(flt: ObserveFilter, p: Part, f: Flow) -> bool:
    return f.event_type in {_event_type(v) for v in p.values}


def _http_path_ok(flt: ObserveFilter, p: Part, f: Flow) -> bool:
    path = _http_path(f)
    return path is not None and any(re.search(v, path) for v in p.values)


TESTS: dict[str, Callable[[ObserveFilter, Part, Flow], bool]] = {
    "--from-pod": _from_pod,
    "--to-pod": _to_pod,
    # a namespace of one end holds with or without pods named (with them it only fills in their names)
    "--from-namespace": lambda flt, p, f: _pod_match(f.source, [(ns, "") for ns in p.values]),
    "--to-namespace": lambda flt, p, f: _pod_match(f.destination, [(ns, "") for ns in p.values]),
    "--from-identity": lambda flt, p, f: f.source.identity in {_identity(v) for v in p.values},
    "--to-identity": lambda flt, p, f: f.destination.identity in {_identity(v) for v in p.values},
    "--protocol": _protocol,
    "--type": _type,
    "--verdict": lambda flt, p, f: f.verdict in p.values,
    "--http-method": lambda flt, p, f: f.l7_protocol == "http" and bool(f.http_method)
    and any((f.http_method or "").upper() == v.upper() for v in p.values),
    "--http-path": _http_path_ok,
}


def parse(args: list[str]) -> ObserveFilter:
    return ObserveFilter(args)


def describe(flow: Flow) -> str:
    """One flow, as the compact line names its ends, with its time and node."""
    def end(e: Endpoint) -> str:
        who = f"{e.namespace}/{e.pod_name}" if e.pod_name else (e.ip or "?")
        port = f":{e.port}" if e.port else ""
        return f"{who}{port} (ID:{e.identity})"
    kind = flow.kind or flow.type or "?"
    return (f"{flow.time or '?'} [{flow.node_name or '?'}] {end(flow.source)} -> {end(flow.destination)} "
            f"{kind} {flow.verdict} ({flow.summary or flow.l4_protocol or ''})")


def report(flt: ObserveFilter, flows: list[Flow], limit: int = 3) -> str:
    """The parts broken, each with the flows that break it (for a failure message)."""
    out = []
    for part, bad in flt.violations(flows).items():
        shown = "; ".join(f"{describe(f)}: {seen}" for f, seen in bad[:limit])
        more = f" (+{len(bad) - limit} more)" if len(bad) > limit else ""
        out.append(f"{part} is broken by {len(bad)} flow(s): {shown}{more}")
    return " | ".join(out)
