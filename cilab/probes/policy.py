"""CiliumNetworkPolicy probes, and the wait that says a policy is in force everywhere.

Traffic that tests a policy is sent only once every endpoint on every agent has realised
it.  How upstream does it: cilium-cli's connectivity test (cilium/cilium
`cilium-cli/connectivity/check/policy.go`, `applyPolicies` → `getCiliumPolicyRevisions`
/ `waitCiliumPolicyRevisions`) reads each agent's repository revision before applying
(`cilium policy get -o jsonpath='{.revision}'` in container cilium-agent), applies the
policies, then runs `cilium policy wait <old revision + number of changes>
--max-wait-time N` in every agent.  `policy wait` (`cilium-dbg/cmd/policy_wait.go`)
lists the agent's endpoints until every one is in state `ready` with
`status.policy.realized.policy-revision` at or above that revision.

`wait_policy_realised` is called after the apply, knowing only the policy's namespace and
name, so it cannot count revisions from before.  It asks each agent for the policy
itself instead; in every Running cilium agent pod (label k8s-app=cilium, container
cilium-agent), on each attempt:

1. `cilium-dbg policy get -o json k8s:io.cilium.k8s.policy.name=<name>
   k8s:io.cilium.k8s.policy.namespace=<ns> k8s:io.cilium.k8s.policy.uid=<uid>`: the
   rules the agent imported from this very CNP object (every rule parsed from a CNP carries
   these labels: cilium/cilium `pkg/policy/utils` ParseToCiliumLabels; the agent answers
   404 while none is imported).  The rules must have the shape of the CNP's current spec
   (its description and, per direction, the toPorts ports and L7 HTTP/DNS rules), so an
   updated policy is waited for too, not only a new one.  The answer's `revision` is the
   agent's repository revision R, which includes those rules.
2. `cilium-dbg endpoint list -o json`: every endpoint of that agent, except endpoints
   being deleted, must be `ready` with `status.policy.realized.policy-revision` ≥ R (the
   criterion of `cilium-dbg policy wait R`, read rather than waited on so that a timeout
   names the endpoints that lag).

The CNP's `.status.conditions[type=Valid]` (written by the operator's policy validator,
"Policy validation succeeded") says the policy was accepted, not that it is enforced: the
wait reports it when it is not True, but does not gate on it; `valid_condition` reads it
for the scenarios that check it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cilab.lab import Lab
from cilab.parsers.cilium_dbg import AgentEndpoint, PolicySnapshot, parse_endpoint_list, parse_policy_get
from cilab.probes import k8s

CNP_API = "cilium.io/v2"
AGENT_CONTAINER = k8s.AGENT_CONTAINER
POLICY_LABEL_NAME = "io.cilium.k8s.policy.name"
POLICY_LABEL_NAMESPACE = "io.cilium.k8s.policy.namespace"
POLICY_LABEL_UID = "io.cilium.k8s.policy.uid"
ENDPOINT_LIST = ["cilium-dbg", "endpoint", "list", "-o", "json"]
_DIRECTIONS = ("ingress", "ingressDeny", "egress", "egressDeny")


# --- the policy object ---------------------------------------------------------------------


def cnp(lab: Lab, namespace: str, name: str) -> dict[str, Any] | None:
    """`kubectl get cnp <name> -n <ns> -o json` (None when it does not exist)."""
    return lab.get(CNP_API, "CiliumNetworkPolicy", name, namespace)


def valid_condition(obj: dict[str, Any]) -> tuple[str | None, str]:
    """(status, message) of the `Valid` condition; (None, "") when not reported yet."""
    for cond in ((obj.get("status") or {}).get("conditions") or []):
        if isinstance(cond, dict) and cond.get("type") == "Valid":
            return str(cond.get("status")), str(cond.get("message") or "")
    return None, ""


def cnps(lab: Lab, namespace: str) -> list[dict[str, Any]]:
    """`kubectl get cnp -n <ns> -o json`: the CiliumNetworkPolicies of the namespace."""
    return lab.list(CNP_API, "CiliumNetworkPolicy", namespace)


def delete_cnp(lab: Lab, namespace: str, name: str) -> bool:
    """`kubectl delete cnp <name> -n <ns>` (False when there was none)."""
    return lab.delete(CNP_API, "CiliumNetworkPolicy", name, namespace)


@dataclass(frozen=True)
class RuleSummary:
    """What a student reads in one rule of `cilium-dbg policy get`: its ingress HTTP rules
    (method, path) and its `enableDefaultDeny` (ingress, egress; None when not stated)."""

    description: str
    http: tuple[tuple[str, str], ...]
    default_deny: tuple[bool | None, bool | None]

    def describe(self) -> str:
        http = ", ".join(f"{m or '*'} {p or '*'}" for m, p in self.http) or "no HTTP rule"
        ing, eg = self.default_deny
        return (f"{self.description!r}: ingress http {http}; "
                f"enableDefaultDeny ingress {_flag(ing)}, egress {_flag(eg)}")


def _flag(value: bool | None) -> str:
    return "unset" if value is None else str(value).lower()


def rule_summary(rule: dict[str, Any]) -> RuleSummary:
    """A rule as the agent holds it (seed 2129-2157) -> RuleSummary."""
    http = []
    for entry in rule.get("ingress") or []:
        for pr in entry.get("toPorts") or []:
            for h in (pr.get("rules") or {}).get("http") or []:
                http.append((str(h.get("method", "")), str(h.get("path", ""))))
    deny = rule.get("enableDefaultDeny") or {}
    flags = tuple(deny.get(d) if isinstance(deny.get(d), bool) else None for d in ("ingress", "egress"))
    return RuleSummary(str(rule.get("description") or ""), tuple(sorted(http)), flags)  # type: ignore[arg-type]


def _ports_shape(port_rules: Any) -> tuple[Any, ...]:
    shapes = []
    for pr in port_rules or []:
        ports = sorted((str(p.get("port", "")), str(p.get("protocol") or "ANY").upper())
                       for p in pr.get("ports") or [])
        rules = pr.get("rules") or {}
        http = sorted((str(h.get("method", "")), str(h.get("path", "")), str(h.get("host", "")))
                      for h in rules.get("http") or [])
        dns = sorted((str(d.get("matchName", "")), str(d.get("matchPattern", "")))
                     for d in rules.get("dns") or [])
        shapes.append((tuple(ports), tuple(http), tuple(dns)))
    return tuple(sorted(shapes))


def rule_shape(rule: dict[str, Any]) -> tuple[Any, ...]:
    """What tells one version of a policy rule from another, in a form that survives the
    agent's parsing (selectors get `any:` prefixes and the namespace label there, so they
    are left out): the description and, per direction, the toPorts ports and L7 rules."""
    return (str(rule.get("description") or ""),
            *(tuple(sorted(_ports_shape(entry.get("toPorts")) for entry in rule.get(d) or []))
              for d in _DIRECTIONS))


def spec_shapes(obj: dict[str, Any]) -> list[tuple[Any, ...]]:
    spec = obj.get("spec")
    specs = ([spec] if spec else []) + list(obj.get("specs") or [])
    return sorted(rule_shape(s) for s in specs)


def describe_shape(shape: tuple[Any, ...]) -> str:
    desc, *dirs = shape
    parts = []
    for d, entries in zip(_DIRECTIONS, dirs):
        for entry in entries:
            for ports, http, dns in entry:
                what = ",".join(f"{p}/{proto}" for p, proto in ports) or "any port"
                if http:
                    what += " http " + ",".join(f"{m or '*'} {p or '*'}" for m, p, _ in http)
                if dns:
                    what += " dns " + ",".join(n or pat for n, pat in dns)
                parts.append(f"{d} {what}")
    return f"{desc!r}: " + ("; ".join(parts) or "no port rules")


# --- selectors: as written (kubectl describe cnp) and as the agent holds them ---------------------

#: (endpointSelector matchLabels, (each ingress fromEndpoints matchLabels, ...)), items sorted
Selectors = tuple[tuple[tuple[str, str], ...], tuple[tuple[tuple[str, str], ...], ...]]


def _labels(sel: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in ((sel or {}).get("matchLabels") or {}).items()))


def _selectors(rule: dict[str, Any]) -> Selectors:
    froms = [_labels(sel) for entry in rule.get("ingress") or [] for sel in entry.get("fromEndpoints") or []]
    return _labels(rule.get("endpointSelector")), tuple(sorted(froms))


def cnp_selectors(obj: dict[str, Any]) -> Selectors:
    """The selectors of a CiliumNetworkPolicy as written (what `kubectl describe cnp` shows
    under Endpoint Selector and Ingress/From Endpoints, seed 2104-2113)."""
    return _selectors(obj.get("spec") or {})


def rule_selectors(rule: dict[str, Any]) -> Selectors:
    """The selectors of a rule as the agent holds it (`cilium-dbg policy get`, seed 2131-2142)."""
    return _selectors(rule)


def selectors_from_text(text: str) -> Selectors:
    """``class=deathstar org=empire; from org=empire`` -> Selectors (the form of
    docs/seed-sections.yaml: the endpoint selector, then one ``from`` part per fromEndpoints)."""
    parts = [p.strip() for p in text.split(";")]

    def items(words: str) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(tuple(w.split("=", 1)) for w in words.split()))  # type: ignore[misc]
    froms = [items(p[len("from "):]) for p in parts[1:] if p.startswith("from ")]
    return items(parts[0]), tuple(sorted(froms))


def with_namespace(written: Selectors, key: str, namespace: str) -> Selectors:
    """What the agent makes of selectors written in a namespaced policy: each written label
    `k=v` becomes `any:k=v`, and `key=namespace` (k8s:io.kubernetes.pod.namespace) is added
    (cilium pkg/policy/api, ParseToCiliumRule; seed 2131-2142)."""
    def conv(labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted([(f"any:{k}", v) for k, v in labels] + [(key, namespace)]))
    ep, froms = written
    return conv(ep), tuple(sorted(conv(f) for f in froms))


def selects_at_least(held: Selectors, want: Selectors) -> bool:
    """`held` has every label of `want` in its endpoint selector and, one for one, in its
    fromEndpoints (an agent may add labels of its own, e.g. a cluster label)."""
    (h_ep, h_from), (w_ep, w_from) = held, want
    if not set(w_ep) <= set(h_ep) or len(h_from) != len(w_from):
        return False
    left = [set(f) for f in h_from]
    for w in w_from:
        match = next((f for f in left if set(w) <= f), None)
        if match is None:
            return False
        left.remove(match)
    return True


def describe_selectors(sel: Selectors) -> str:
    ep, froms = sel
    show = (lambda labels: ", ".join(f"{k}={v}" for k, v in labels) or "(none)")  # noqa: E731
    return f"endpointSelector {show(ep)}; " + ("; ".join(f"from {show(f)}" for f in froms) or "no fromEndpoints")


# --- the agents ------------------------------------------------------------------------------


def agent_pods(lab: Lab) -> dict[str, str]:
    """Node -> name of the Running cilium agent pod there (label k8s-app=cilium)."""
    return {k8s.pod_node(p) or "?": p["metadata"]["name"]
            for p in k8s.running_pods(lab, "kube-system", "k8s-app=cilium")}


def policy_get_command(namespace: str, name: str, uid: str | None = None) -> list[str]:
    cmd = ["cilium-dbg", "policy", "get", "-o", "json",
           f"k8s:{POLICY_LABEL_NAME}={name}", f"k8s:{POLICY_LABEL_NAMESPACE}={namespace}"]
    if uid:
        cmd.append(f"k8s:{POLICY_LABEL_UID}={uid}")
    return cmd


def agent_policy(lab: Lab, agent: str, namespace: str, name: str,
                 uid: str | None = None) -> PolicySnapshot | str:
    """The agent's rules of this policy, or the reason there are none (text)."""
    result = k8s.agent_exec(lab, agent, policy_get_command(namespace, name, uid), scope=namespace,
                            what=f"cilium-dbg policy get in {agent}")
    if not result.ok:
        why = (result.stderr or result.stdout).strip().splitlines()
        return f"not imported (exit {result.rc}: {why[-1][:160] if why else 'no output'})"
    try:
        return parse_policy_get(result.stdout)
    except ValueError as exc:
        return f"unreadable policy get output ({exc})"


def agent_endpoints(lab: Lab, agent: str, scope: str | None = None) -> list[AgentEndpoint]:
    """`cilium-dbg endpoint list -o json` in one agent."""
    result = k8s.agent_exec(lab, agent, ENDPOINT_LIST, scope=scope, what=f"cilium-dbg endpoint list in {agent}")
    if not result.ok:
        raise AssertionError(f"`{' '.join(ENDPOINT_LIST)}` failed in {agent} (exit {result.rc}): "
                             f"{result.stderr.strip()[:200]}")
    try:
        return parse_endpoint_list(result.stdout)
    except ValueError as exc:
        raise AssertionError(f"{agent}: {exc}") from None


def namespace_endpoints(lab: Lab, namespace: str) -> dict[str, tuple[str, AgentEndpoint]]:
    """Pod name -> (node, endpoint) for the pods of `namespace`, from every agent."""
    found: dict[str, tuple[str, AgentEndpoint]] = {}
    for node, agent in sorted(agent_pods(lab).items()):
        for ep in agent_endpoints(lab, agent, scope=namespace):
            if ep.namespace == namespace and ep.pod and not ep.leaving:
                found[ep.pod] = (node, ep)
    return found


# --- the wait ---------------------------------------------------------------------------------


def _lagging(endpoints: list[AgentEndpoint], revision: int) -> list[AgentEndpoint]:
    return [ep for ep in endpoints
            if not ep.leaving and (ep.state != "ready" or ep.policy_revision < revision)]


def wait_policy_realised(lab: Lab, namespace: str, policy_name: str,
                         budget: str | float = "policy") -> None:
    """Return once every endpoint of the policy's namespace, on every agent, has realised
    the CNP's current version (endpoints of other namespaces are not looked at).

    See the module docstring for the commands and their upstream source.  Raises
    AssertionError naming, per node, what is missing when `budget` runs out.
    """
    what = f"CiliumNetworkPolicy {namespace}/{policy_name} realised on every agent"

    def check() -> None:
        obj = cnp(lab, namespace, policy_name)
        assert obj is not None, f"CiliumNetworkPolicy {namespace}/{policy_name} does not exist"
        uid = (obj.get("metadata") or {}).get("uid")
        want = spec_shapes(obj)
        agents = agent_pods(lab)
        assert agents, "no Running cilium agent pod (label k8s-app=cilium) in kube-system"
        problems = []
        for node, agent in sorted(agents.items()):
            snap = agent_policy(lab, agent, namespace, policy_name, uid)
            if isinstance(snap, str):
                problems.append(f"{node} ({agent}): {policy_name} {snap}")
                continue
            have = sorted(rule_shape(r) for r in snap.rules)
            if have != want:
                problems.append(f"{node} ({agent}): holds {policy_name} as "
                                f"{' | '.join(describe_shape(s) for s in have) or 'nothing'}, "
                                f"expected {' | '.join(describe_shape(s) for s in want)}")
                continue
            # only the endpoints the policy can select (its namespace): other workers' pods come
            # and go and regenerate on their own; one slow endpoint elsewhere is not this policy's
            mine = [ep for ep in agent_endpoints(lab, agent, scope=namespace) if ep.namespace == namespace]
            behind = _lagging(mine, snap.revision)
            if behind:
                problems.append(f"{node} ({agent}): {len(behind)} endpoint(s) not yet at policy "
                                f"revision {snap.revision}: " + ", ".join(
                                    f"{ep.name} {ep.state} at {ep.policy_revision}" for ep in behind[:6]))
        status, message = valid_condition(obj)
        if problems and status not in (None, "True"):
            problems.append(f"the policy reports Valid={status}: {message}")
        assert not problems, "; ".join(problems)

    lab.eventually(check, what=what, budget=budget)

