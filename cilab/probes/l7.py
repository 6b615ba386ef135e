"""L7 visibility probes: what traefik/whoami echoes, and the L7 flows of one request.

whoami (the webpod application) answers with its hostname and IPs, then the request it
received: the request line and every header.  So the body of a response shows what
reached the application: the headers Envoy added on the way (seed lines 2849-2853) and
the query string Hubble may have redacted from its own flows (seed lines 2938-2951).

HTTP flows of a request are those of `cilab.probes.flows.of_request`: after the request's
start, from the client pod at its current address, with the marker in the URL or, when
Hubble redacted the query that carries the marker, on the request's pinned client port.  DNS flows carry neither, so they are matched by the client pod, the query name
(the scenario's own namespace is part of it) and time: a flow older than the client pod
belongs to an earlier run of the same scenario.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cilab.parsers.hubble import Flow
from cilab.probes.flows import of_request
from cilab.probes.traffic import Response, parse_time

#: the headers the seed's response shows once the request went through Envoy (seed 2849-2853)
ENVOY_HEADERS = ("X-Envoy-Expected-Rq-Timeout-Ms", "X-Envoy-Internal", "X-Forwarded-Proto", "X-Request-Id")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_REQUEST_LINE = re.compile(r"^(?P<method>[A-Z]+) (?P<target>\S+) (?P<proto>HTTP/\d(?:\.\d)?)$")


@dataclass(frozen=True)
class WhoamiEcho:
    """A whoami answer: `Hostname`/`IP`/`RemoteAddr` lines, then the request it received."""

    hostname: str | None = None
    ips: tuple[str, ...] = ()
    remote_addr: str | None = None
    request_line: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def header(self, name: str) -> str | None:
        """A header's value (case-insensitive name), None when the request did not carry it."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def target(self) -> str | None:
        """The request target as whoami received it (`/?user_id=...`)."""
        m = _REQUEST_LINE.match(self.request_line or "")
        return m["target"] if m else None


def parse_whoami(body: str) -> WhoamiEcho:
    """Parse a whoami body.  Lines before the request line describe whoami itself; lines
    after it are the request's headers, up to the first blank line."""
    hostname: str | None = None
    ips: list[str] = []
    remote: str | None = None
    request_line: str | None = None
    headers: list[tuple[str, str]] = []
    for raw in body.splitlines():
        line = raw.rstrip("\r")
        if request_line is None:
            if _REQUEST_LINE.match(line):
                request_line = line
                continue
            key, sep, value = line.partition(": ")
            if not sep:
                continue
            if key == "Hostname":
                hostname = value.strip()
            elif key == "IP":
                ips.append(value.strip())
            elif key == "RemoteAddr":
                remote = value.strip()
            continue
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep:
            headers.append((key.strip(), value.strip()))
    return WhoamiEcho(hostname, tuple(ips), remote, request_line, tuple(headers))


# --- flows ------------------------------------------------------------------------------


def http_flows_of(flows: list[Flow], sent: Response) -> list[Flow]:
    """The HTTP flows of exactly this request (requests and responses)."""
    return [f for f in of_request(flows, sent) if f.l7_protocol == "http"]


def dns_flows(flows: list[Flow], namespace: str, pod: str, query: str,
              not_before: datetime | None) -> list[Flow]:
    """DNS flows (dns-request and dns-response) of `pod` for `query`, not older than
    `not_before` (the pod's creation: older flows are an earlier run's)."""
    out = []
    for f in flows:
        if f.l7_protocol != "dns" or (f.dns_query or "").lower() != query.lower():
            continue
        if not any(ep.pod_name == pod and ep.namespace == namespace for ep in (f.source, f.destination)):
            continue
        when = parse_time(f.time)
        if not_before is not None and (when is None or when < not_before):
            continue
        out.append(f)
    return out


def pod_created(pod: dict[str, Any] | None) -> datetime | None:
    return parse_time(((pod or {}).get("metadata") or {}).get("creationTimestamp"))
