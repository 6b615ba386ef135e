"""JSON outputs of `cilium-dbg` (run in the cilium-agent container) read by the policy probes.

Sources (research notes `hubble-1.17-formats.md` §6.3 and cilium/cilium):
  * `cilium-dbg endpoint list -o json`: a JSON array of `models.Endpoint`
    (`api/v1/models/endpoint.go`): `{id, spec, status}` with kebab-case keys.  Used here:
    `status.state` (`ready`, `waiting-for-identity`, `regenerating`, `disconnecting`, ...),
    `status.identity.id`, `status.external-identifiers.{k8s-namespace,k8s-pod-name}`,
    `status.networking.addressing[].ipv4`, `status.labels.security-relevant[]` and
    `status.policy.realized.{policy-enabled,policy-revision}`.  `policy-enabled` is
    `none`/`ingress`/`egress`/`both`/`audit-*` (the table view's POLICY (ingress|egress)
    ENFORCEMENT columns, `cilium-dbg/cmd/endpoint_list.go`); `policy-revision` is omitted
    while 0 (`omitempty`).
  * `cilium-dbg policy get -o json [<labels>]`: one `models.Policy` object
    (`api/v1/models/policy.go`): `{"policy": "<the matching rules as JSON text>",
    "revision": <the repository's revision>}`; both keys are `omitempty`.  With labels
    and no matching rule the agent answers 404 and the command exits non-zero
    (`daemon/cmd/policy.go` getPolicy handler; `cilium-dbg/cmd/policy_get.go`).
Unknown keys are ignored.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cilab.parsers import _json

#: endpoint states of an endpoint that is going away (it realises no policy any more)
LEAVING_STATES = ("disconnecting", "disconnected")


_obj, _int = _json.obj, _json.integer


@dataclass(frozen=True)
class AgentEndpoint:
    """One endpoint as its agent sees it."""

    id: int
    state: str | None = None
    identity: int | None = None
    namespace: str | None = None
    pod: str | None = None
    ipv4: str | None = None
    labels: tuple[str, ...] = ()
    policy_enabled: str | None = None     # realized: none / ingress / egress / both / audit-*
    policy_revision: int = 0              # realized policy revision (0 when omitted)

    @property
    def ingress_enforced(self) -> bool:
        return self.policy_enabled in ("ingress", "both")

    @property
    def egress_enforced(self) -> bool:
        return self.policy_enabled in ("egress", "both")

    @property
    def leaving(self) -> bool:
        return self.state in LEAVING_STATES

    @property
    def name(self) -> str:
        """`ns/pod` for a pod's endpoint, else the endpoint id with its first label."""
        if self.pod:
            return f"{self.namespace}/{self.pod}" if self.namespace else self.pod
        return f"endpoint {self.id}" + (f" ({self.labels[0]})" if self.labels else "")


def endpoint_from_dict(item: dict[str, Any]) -> AgentEndpoint:
    ep_id = _int(item.get("id"), "endpoint id")
    if ep_id is None:
        raise ValueError(f"endpoint without id: {str(item)[:120]!r}")
    status = _obj(item.get("status"), "status")
    ident = _obj(status.get("identity"), "status.identity")
    ext = _obj(status.get("external-identifiers"), "status.external-identifiers")
    realized = _obj(_obj(status.get("policy"), "status.policy").get("realized"), "status.policy.realized")
    addressing = _obj(status.get("networking"), "status.networking").get("addressing") or []
    ipv4 = next((a.get("ipv4") for a in addressing if isinstance(a, dict) and a.get("ipv4")), None)
    labels = _obj(status.get("labels"), "status.labels").get("security-relevant") or []
    return AgentEndpoint(
        id=ep_id,
        state=status.get("state"),
        identity=_int(ident.get("id"), "status.identity.id"),
        namespace=ext.get("k8s-namespace"),
        pod=ext.get("k8s-pod-name"),
        ipv4=ipv4,
        labels=tuple(str(x) for x in labels),
        policy_enabled=realized.get("policy-enabled"),
        policy_revision=_int(realized.get("policy-revision"), "policy-revision") or 0,
    )


def _json_array(text: str, what: str) -> list[Any]:
    """The JSON array `cilium-dbg <what> -o json` prints (`null` is an empty list);
    ValueError naming the command on anything else."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"cilium-dbg {what} -o json: not JSON ({exc.msg}): {text[:120]!r}") from None
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise ValueError(f"cilium-dbg {what} -o json: expected a JSON array, got {type(doc).__name__}")
    return doc


def parse_endpoint_list(text: str) -> list[AgentEndpoint]:
    """`cilium-dbg endpoint list -o json` -> endpoints; ValueError on anything else."""
    return [endpoint_from_dict(_obj(item, "endpoint")) for item in _json_array(text, "endpoint list")]


@dataclass(frozen=True)
class PolicySnapshot:
    """What `cilium-dbg policy get -o json` answered: the matching rules and the revision."""

    revision: int
    rules: tuple[dict[str, Any], ...]


def parse_policy_get(text: str) -> PolicySnapshot:
    """`cilium-dbg policy get -o json [labels]` -> PolicySnapshot; ValueError otherwise."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"cilium-dbg policy get -o json: not JSON ({exc.msg}): {text[:120]!r}") from None
    doc = _obj(doc, "cilium-dbg policy get -o json")
    revision = _int(doc.get("revision"), "revision") or 0
    policy_text = doc.get("policy") or ""
    if not isinstance(policy_text, str):
        raise ValueError(f"policy is not a JSON string: {str(policy_text)[:120]!r}")
    rules: list[dict[str, Any]] = []
    if policy_text.strip():
        try:
            parsed = json.loads(policy_text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"policy rules are not JSON ({exc.msg}): {policy_text[:120]!r}") from None
        if parsed is None:
            parsed = []
        if not isinstance(parsed, list):
            raise ValueError(f"policy rules are not a JSON array: {policy_text[:120]!r}")
        rules = [_obj(r, "rule") for r in parsed]
    return PolicySnapshot(revision=revision, rules=tuple(rules))


@dataclass(frozen=True)
class IPCacheEntry:
    """One row of `cilium-dbg ip list -o json`: a prefix and the identity the agent maps it to."""

    cidr: str
    identity: int | None
    source: str | None = None


def parse_ip_list(text: str) -> list[IPCacheEntry]:
    """`cilium-dbg ip list -o json` -> entries.  The output is a JSON array of
    `models.IPListEntry` (`api/v1/models/ip_list_entry.go`: `cidr`, `identity`,
    `hostIP`, `encryptKey`, `metadata{name,namespace,source}`); ValueError on anything else."""
    out = []
    for item in _json_array(text, "ip list"):
        item = _obj(item, "ip list entry")
        cidr = item.get("cidr")
        if not isinstance(cidr, str):
            raise ValueError(f"cilium-dbg ip list -o json: an entry without a cidr: {item!r:.120}")
        meta = _obj(item.get("metadata"), "metadata")
        out.append(IPCacheEntry(cidr=cidr, identity=_int(item.get("identity"), "identity"),
                                source=meta.get("source")))
    return out


# --------------------------------------------------------------- cilium-dbg status (text)


@dataclass(frozen=True)
class KprDevice:
    """One device of the KubeProxyReplacement line: its name, addresses and whether it is
    the direct-routing device (pkg/client FormatStatusResponse: "<name> <ip> <ip>...[ (Direct Routing)]")."""

    name: str
    ips: tuple[str, ...]
    direct_routing: bool


@dataclass(frozen=True)
class AgentStatus:
    """What `cilium-dbg status` prints on its KubeProxyReplacement and IPAM lines (seed 784-785)."""

    kube_proxy_replacement: str | None
    devices: tuple[KprDevice, ...]
    ipam: str | None                  # the IPAM line's text after "IPAM:"
    ipv4_used: int | None = None
    ipv4_total: int | None = None
    ipv4_cidr: str | None = None


_KPR_RE = re.compile(r"^KubeProxyReplacement:\s+(?P<mode>\S+)(?:\s+\[(?P<devs>.*)\])?\s*$")
_IPAM_RE = re.compile(r"^IPAM:\s+(?P<text>.*?)\s*$")
_IPAM_V4_RE = re.compile(r"IPv4:\s*(?P<used>\d+)/(?P<total>\d+) allocated from (?P<cidr>[0-9.]+/\d+)")
_DR = "(Direct Routing)"


def parse_agent_status(text: str) -> AgentStatus:
    """`cilium-dbg status` (compact text) -> AgentStatus.  Only the KubeProxyReplacement and
    IPAM lines are read; every other line (and a real agent prints many) is ignored.  A
    missing line leaves its fields None."""
    mode: str | None = None
    devices: list[KprDevice] = []
    ipam: str | None = None
    used = total = None
    cidr = None
    for raw in text.splitlines():
        line = raw.strip()
        if m := _KPR_RE.match(line):
            mode = m["mode"]
            for part in (m["devs"] or "").split(", "):
                part = part.strip()
                if not part:
                    continue
                direct = part.endswith(_DR)
                words = part[: -len(_DR)].split() if direct else part.split()
                devices.append(KprDevice(words[0], tuple(words[1:]), direct))
        elif m := _IPAM_RE.match(line):
            ipam = m["text"]
            if v4 := _IPAM_V4_RE.search(ipam):
                used, total, cidr = int(v4["used"]), int(v4["total"]), v4["cidr"]
    return AgentStatus(mode, tuple(devices), ipam, used, total, cidr)
