"""Hubble probes: `hubble status` / `hubble observe` through Hubble Relay.

The runner has no route to the relay's ClusterIP, so the CLI that ships in the
cilium-agent container (same version as the agent) is used with
`--server <hubble-relay ClusterIP>:80`: the agent is host-network, where socket-LB makes
ClusterIPs reachable, but cluster DNS is not (reference: real-lab facts §5a/§5b).
"""
from __future__ import annotations

import shlex

from cilab.lab import Lab
from cilab.parsers.hubble import FlowBatch, HubbleStatus, parse_flows, parse_hubble_status
from cilab.probes import k8s


def relay_server(lab: Lab) -> str:
    svc = k8s.service(lab, "kube-system", "hubble-relay")
    if svc is None:
        raise AssertionError("Service kube-system/hubble-relay does not exist")
    spec = svc.get("spec") or {}
    ip = spec.get("clusterIP") or spec.get("cluster_ip")
    port = (spec.get("ports") or [{}])[0].get("port")
    return f"{ip}:{port}"


def _agent(lab: Lab) -> str:
    node = next(iter(sorted(k8s.nodes(lab))))
    return k8s.cilium_agent_on(lab, node)


def status(lab: Lab) -> HubbleStatus:
    server = relay_server(lab)
    agent = _agent(lab)
    result = k8s.agent_exec(lab, agent, ["hubble", "status", "--server", server],
                            what=f"hubble status runs in {agent}")
    return parse_hubble_status(result.stdout + ("\n" + result.stderr if result.stderr else ""))


def observe(lab: Lab, *args: str, scope: str | None = None, last: int = 1000) -> FlowBatch:
    server = relay_server(lab)
    agent = _agent(lab)
    result = k8s.agent_exec(lab, agent, ["hubble", "observe", "--server", server, "-o", "jsonpb",
                                         "--last", str(last), *args], timeout=60, scope=scope,
                            what=f"hubble observe runs in {agent}", budget="flows",
                            # what the student types on k8s-ctr (through cilium hubble port-forward)
                            typed=shlex.join(["hubble", "observe", *args]))
    if not result.ok:
        raise AssertionError(f"hubble observe failed (exit {result.rc}): {result.stderr.strip()[:300]}")
    return parse_flows(result.stdout)


def check_every_node_connected(st: HubbleStatus, want: int) -> None:
    """`hubble status` counts `want` nodes, every one connected (``Connected Nodes: 3/3``);
    raises AssertionError naming what was seen (and the unavailable nodes it lists)."""
    assert (st.connected_nodes, st.total_nodes) == (want, want), (
        f"hubble status: expected Connected Nodes {want}/{want}, saw {st.connected_nodes}/{st.total_nodes}"
        + (f" (unavailable: {', '.join(st.unavailable_nodes)})" if st.unavailable_nodes else ""))


# --- the images `cilium status` lists (its "Image versions", seed 1114-1120) ------------------------


def component_images(lab: Lab, namespace: str = "kube-system") -> dict[str, list[str]]:
    """image -> the pods (of `namespace`) whose containers run it, as `cilium status` counts
    them (`kubectl get pod -n kube-system -o jsonpath='{..image}'`; init containers left out,
    as cilium status does)."""
    out: dict[str, list[str]] = {}
    for pod in lab.list("v1", "Pod", namespace):
        name = (pod.get("metadata") or {}).get("name", "?")
        for c in ((pod.get("spec") or {}).get("containers") or []):
            image = str(c.get("image") or "")
            if image and name not in out.setdefault(image, []):
                out[image].append(name)
    return out


def image_repository(image: str) -> str:
    """quay.io/cilium/cilium:v1.17.6@sha256:... -> quay.io/cilium/cilium"""
    ref = image.split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def image_tag(image: str) -> str | None:
    """quay.io/cilium/cilium:v1.17.6@sha256:... -> v1.17.6 (None without a tag)"""
    last = image.split("@", 1)[0].rpartition("/")[2]
    return last.split(":", 1)[1] if ":" in last else None
