"""`cilab.probes.cluster.selected_pods_by_node`: the pods of a workload's selector that are
Running and Ready, by node, as a real `kubectl get pod -A` lists them (extra labels, pods of
other namespaces with the same labels, a pod still starting, one without a node yet)."""
from __future__ import annotations

from typing import Any

from cilab.probes import cluster


def _pod(name: str, ns: str, node: str | None, labels: dict[str, str], *, phase: str = "Running",
         ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


class _Lab:
    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        self.calls: list[tuple[str, str]] = []

    def list(self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = "") -> list:
        self.calls.append((api_version, kind))
        assert namespace is None and not label_selector, "reads the same all-pods list as all_pods"
        return self.pods


AGENT = {"k8s-app": "cilium", "app.kubernetes.io/name": "cilium-agent", "controller-revision-hash": "6f95cb5f8c"}


def test_every_ready_pod_of_the_selector_by_node() -> None:
    lab = _Lab([_pod("cilium-tstkf", "kube-system", "k8s-ctr", AGENT),
                _pod("cilium-mm7xq", "kube-system", "k8s-w1", AGENT),
                _pod("cilium-new12", "kube-system", "k8s-w2", AGENT, ready=False),       # still starting
                _pod("cilium-pending", "kube-system", None, AGENT, phase="Pending", ready=False),
                _pod("cilium-envoy-p42gk", "kube-system", "k8s-w2", {"k8s-app": "cilium-envoy"}),
                _pod("cilium-lookalike", "default", "k8s-w2", AGENT)])                    # other namespace
    seen = cluster.selected_pods_by_node(lab, "kube-system", {"k8s-app": "cilium"})  # type: ignore[arg-type]
    assert seen == {"k8s-ctr": ["cilium-tstkf"], "k8s-w1": ["cilium-mm7xq"]}
    assert lab.calls == [("v1", "Pod")]


def test_a_pod_must_carry_every_label_of_the_selector() -> None:
    lab = _Lab([_pod("a", "kube-system", "k8s-ctr", {"k8s-app": "cilium"}),
                _pod("b", "kube-system", "k8s-w1", {"k8s-app": "cilium", "tier": "x"})])
    seen = cluster.selected_pods_by_node(lab, "kube-system", {"k8s-app": "cilium", "tier": "x"})  # type: ignore[arg-type]
    assert seen == {"k8s-w1": ["b"]}
