"""cilab.probes.policy: a CNP's selectors as written vs. as the agent holds them (seed 2104-2142)."""
from __future__ import annotations

from cilab.probes import policy

WRITTEN = {"spec": {"endpointSelector": {"matchLabels": {"class": "deathstar", "org": "empire"}},
                    "ingress": [{"fromEndpoints": [{"matchLabels": {"org": "empire"}}]}]}}
AGENT = {"endpointSelector": {"matchLabels": {"any:class": "deathstar", "any:org": "empire",
                                              "k8s:io.kubernetes.pod.namespace": "default"}},
         "ingress": [{"fromEndpoints": [{"matchLabels": {"any:org": "empire",
                                                         "k8s:io.kubernetes.pod.namespace": "default"}}]}]}
KEY = "k8s:io.kubernetes.pod.namespace"


def test_seed_text_is_the_written_selectors() -> None:
    assert policy.selectors_from_text("class=deathstar org=empire; from org=empire") == policy.cnp_selectors(WRITTEN)


def test_agent_rule_adds_the_namespace_to_every_selector() -> None:
    want = policy.with_namespace(policy.cnp_selectors(WRITTEN), KEY, "default")
    assert policy.selects_at_least(policy.rule_selectors(AGENT), want)
    assert not policy.selects_at_least(policy.rule_selectors(AGENT), policy.with_namespace(
        policy.cnp_selectors(WRITTEN), KEY, "other"))


def test_a_from_selector_without_the_namespace_does_not_select_as_written() -> None:
    loose = {**AGENT, "ingress": [{"fromEndpoints": [{"matchLabels": {"any:org": "empire"}}]}]}
    want = policy.with_namespace(policy.cnp_selectors(WRITTEN), KEY, "default")
    assert not policy.selects_at_least(policy.rule_selectors(loose), want)
    assert "from any:org=empire" in policy.describe_selectors(policy.rule_selectors(loose))


def test_extra_agent_labels_are_tolerated() -> None:
    extra = {**AGENT, "endpointSelector": {"matchLabels": {**AGENT["endpointSelector"]["matchLabels"],
                                                           "k8s:io.cilium.k8s.policy.cluster": "default"}}}
    want = policy.with_namespace(policy.cnp_selectors(WRITTEN), KEY, "default")
    assert policy.selects_at_least(policy.rule_selectors(extra), want)
