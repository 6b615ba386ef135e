"""What Hubble says about one attempt of a positive request (`traffic.send_positive`).

An attempt is a request of its own: its flows are told apart by its pinned client port
and start (`flows.of_request`).  Two questions are asked of them, each bounded:

* `backend_of`: which pod the attempt reached (the far end of its connection), and on
  which node that pod runs, for the message of an attempt that reached a backend and
  failed;
* `policy_drop_of`: whether a timed-out attempt was dropped by policy (a DROPPED flow of
  its own with drop reason POLICY_DENIED, "Policy denied"), which fails the request even
  when a later attempt was answered.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from cilab.lab import Lab
from cilab.parsers.hubble import Flow
from cilab.probes import flows
from cilab.probes.traffic import Response

#: seconds to wait for an attempt's own flows to reach Relay (they follow the request by
#: about a second on a healthy lab: the reference's flows come one read after the request)
LOOKUP_BUDGET = 20.0
POLICY_DENIED = ("POLICY_DENIED", "Policy denied")


def _backend_ends(found: list[Flow], resp: Response) -> list[tuple[str, str | None]]:
    """The pods at the far end of the attempt's flows: (pod, node that observed it)."""
    req = resp.request
    out = []
    for f in found:
        for end in (f.source, f.destination):
            if end.pod_name and not (end.pod_name == req.pod and end.namespace == req.namespace):
                out.append((end.pod_name, flows.node_of(f.node_name)))
    return out


def backend_of(lab: Lab, resp: Response, nodes: Mapping[str, str | None]) -> str:
    """'<pod> on <node>': the pod the attempt reached, from its own flows; `nodes` maps the
    backend pods to their nodes (the pod list the scenario read).  When Hubble shows no flow
    of the attempt naming a pod within `LOOKUP_BUDGET`, says so (with what it saw)."""
    ns = resp.request.namespace

    def check() -> list[tuple[str, str | None]]:
        seen = flows.of_request(flows.observe(lab, ns), resp)
        ends = [e for e in _backend_ends(seen, resp) if e[0] in nodes]
        assert ends, f"no flow of the attempt names a backend pod yet: saw {flows.describe(seen)}"
        return ends
    try:
        ends = lab.eventually(check, what=f"the backend of {resp.request.pod}'s attempt {resp.attempt}",
                              budget=LOOKUP_BUDGET)
    except AssertionError as exc:
        return f"not named by Hubble ({str(exc).splitlines()[0]})"
    pods = sorted({p for p, _ in ends})
    return ", ".join(f"{p} on {nodes.get(p) or 'an unknown node'}" for p in pods)


def policy_drop_of(lab: Lab, resp: Response) -> str | None:
    """The attempt's own POLICY_DENIED drop ("<src> -> <dst> DROPPED POLICY_DENIED (...)"),
    or None when Hubble shows none (a timeout from lag)."""
    found = flows.of_request(flows.observe(lab, resp.request.namespace, "--type", "drop"), resp)
    denied = [f for f in found if f.verdict == "DROPPED" and f.drop_reason_desc in POLICY_DENIED]
    return flows.describe(denied[:1]) if denied else None


def judges(lab: Lab, nodes: Mapping[str, str | None]) -> dict[str, Callable[[Response], str | None]]:
    """The keyword arguments of `traffic.send_positive` that judge attempts by their flows."""
    return {"backend_of": lambda resp: backend_of(lab, resp, nodes),
            "policy_drop_of": lambda resp: policy_drop_of(lab, resp)}
