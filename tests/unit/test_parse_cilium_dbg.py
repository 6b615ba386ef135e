"""cilab.parsers.cilium_dbg and the policy-shape comparison of cilab.probes.policy, over
outputs shaped like the lab's (seed 1955-2004 endpoint lists, seed 2129-2157 policy get)."""
from __future__ import annotations

import json

import pytest

from cilab.parsers.cilium_dbg import parse_endpoint_list, parse_policy_get
from cilab.probes.policy import rule_shape, spec_shapes, valid_condition

DEATHSTAR_3615 = {
    "id": 3615,
    "spec": {"label-configuration": {}},
    "status": {
        "state": "ready",
        "identity": {"id": 15933, "labels": ["k8s:class=deathstar", "k8s:org=empire"]},
        "labels": {"security-relevant": ["k8s:class=deathstar", "k8s:org=empire"]},
        "external-identifiers": {"k8s-namespace": "default", "k8s-pod-name": "deathstar-8c4c77fb7-m8q2b",
                                 "pod-name": "default/deathstar-8c4c77fb7-m8q2b"},
        "networking": {"addressing": [{"ipv4": "172.20.1.167"}]},
        "policy": {"realized": {"policy-enabled": "ingress", "policy-revision": 3}},
    },
}
HOST_808 = {"id": 808, "status": {"state": "ready", "identity": {"id": 1},
                                  "labels": {"security-relevant": ["reserved:host"]},
                                  "policy": {"realized": {"policy-enabled": "none"}}}}

L7_SPEC = {
    "description": "L7 policy to restrict access to specific HTTP call",
    "endpointSelector": {"matchLabels": {"org": "empire", "class": "deathstar"}},
    "ingress": [{"fromEndpoints": [{"matchLabels": {"org": "empire"}}],
                 "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}],
                              "rules": {"http": [{"method": "POST", "path": "/v1/request-landing"}]}}]}],
}
AGENT_RULE = {  # seed 2129-2157: selectors rewritten with any: and the namespace label
    "endpointSelector": {"matchLabels": {"any:class": "deathstar", "any:org": "empire",
                                         "k8s:io.kubernetes.pod.namespace": "default"}},
    "ingress": [{"fromEndpoints": [{"matchLabels": {"any:org": "empire",
                                                    "k8s:io.kubernetes.pod.namespace": "default"}}],
                 "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}],
                              "rules": {"http": [{"path": "/v1/request-landing", "method": "POST"}]}}]}],
    "labels": [{"key": "io.cilium.k8s.policy.name", "value": "rule1", "source": "k8s"}],
    "enableDefaultDeny": {"ingress": True, "egress": False},
    "description": "L7 policy to restrict access to specific HTTP call",
}


def test_endpoint_list_fields() -> None:
    eps = parse_endpoint_list(json.dumps([HOST_808, DEATHSTAR_3615]))
    host, ds = eps
    assert (ds.id, ds.identity, ds.namespace, ds.pod, ds.ipv4) == \
        (3615, 15933, "default", "deathstar-8c4c77fb7-m8q2b", "172.20.1.167")
    assert ds.ingress_enforced and not ds.egress_enforced and ds.policy_revision == 3
    assert host.policy_enabled == "none" and host.policy_revision == 0 and not host.ingress_enforced
    assert host.name == "endpoint 808 (reserved:host)" and ds.name == "default/deathstar-8c4c77fb7-m8q2b"


def test_endpoint_list_rejects_other_output() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        parse_endpoint_list("ENDPOINT   POLICY (ingress)")
    with pytest.raises(ValueError, match="JSON array"):
        parse_endpoint_list("{}")


def test_policy_get() -> None:
    snap = parse_policy_get(json.dumps({"policy": json.dumps([AGENT_RULE], indent=2), "revision": 3}, indent=2))
    assert snap.revision == 3 and len(snap.rules) == 1
    assert {"key": "io.cilium.k8s.policy.name", "value": "rule1"}.items() <= next(
        label for label in snap.rules[0]["labels"] if label["key"] == "io.cilium.k8s.policy.name").items()
    assert parse_policy_get("{}").rules == ()


def test_agent_rule_has_the_shape_of_the_spec_and_an_update_does_not() -> None:
    cnp = {"spec": L7_SPEC}
    assert [rule_shape(AGENT_RULE)] == spec_shapes(cnp)
    l3l4 = {**AGENT_RULE, "description": "L3-L4 policy to restrict deathstar access to empire ships only",
            "ingress": [{**AGENT_RULE["ingress"][0], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}]}
    assert [rule_shape(l3l4)] != spec_shapes(cnp)


def test_protocol_defaults_to_any() -> None:
    spec = {"egress": [{"toPorts": [{"ports": [{"port": "53"}], "rules": {"dns": [{"matchPattern": "*"}]}}]}]}
    agent = {"egress": [{"toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}],
                                      "rules": {"dns": [{"matchPattern": "*"}]}}]}]}
    assert rule_shape(spec) == rule_shape(agent)


def test_valid_condition() -> None:
    obj = {"status": {"conditions": [{"type": "Valid", "status": "True", "message": "Policy validation succeeded"}]}}
    assert valid_condition(obj) == ("True", "Policy validation succeeded")
    assert valid_condition({}) == (None, "")


# --------------------------------------------------------------- cilium-dbg status (text)


def test_agent_status_seed_lines_among_others() -> None:
    from cilab.parsers.cilium_dbg import KprDevice, parse_agent_status
    text = ("KVStore:                 Disabled   \n"
            "KubeProxyReplacement:   True   [eth0 10.0.2.15, eth1 192.168.10.100 (Direct Routing)]\n"  # seed 784
            "Host firewall:           Disabled\n"
            "IPAM:                   IPv4: 3/254 allocated from 172.20.0.0/24\n"  # seed 785
            "Controller Status:       30/30 healthy\n")
    st = parse_agent_status(text)
    assert st.kube_proxy_replacement == "True"
    assert st.devices == (KprDevice("eth0", ("10.0.2.15",), False), KprDevice("eth1", ("192.168.10.100",), True))
    assert (st.ipv4_used, st.ipv4_total, st.ipv4_cidr) == (3, 254, "172.20.0.0/24")


def test_agent_status_ipv6_addresses_trailing_comma_and_missing_lines() -> None:
    from cilab.parsers.cilium_dbg import parse_agent_status
    st = parse_agent_status("KubeProxyReplacement:    True   [enp1s0 192.168.121.5 fe80::5054:ff:fe12:3456 (Direct Routing)]\n"
                            "IPAM:                    IPv4: 4/254 allocated from 172.20.1.0/24, \n")
    assert st.devices[0].name == "enp1s0" and st.devices[0].direct_routing
    assert st.devices[0].ips == ("192.168.121.5", "fe80::5054:ff:fe12:3456")
    assert st.ipv4_cidr == "172.20.1.0/24"
    empty = parse_agent_status("Cilium:   Ok   1.17.6\n")
    assert (empty.kube_proxy_replacement, empty.devices, empty.ipam, empty.ipv4_cidr) == (None, (), None, None)
