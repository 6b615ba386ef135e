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
