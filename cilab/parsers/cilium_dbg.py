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
