"""The lab's nodes by role (cilab.roles): the write-up's names on a cluster with other names."""
from __future__ import annotations

import pytest

from cilab import roles
from cilab.errors import ConfigError
from tests.unit.fake_apiserver import node


def _nodes(*names: str, cp: tuple[str, ...] = ()) -> list[dict]:
    return [node(n, ip=f"10.0.0.{i}", control_plane=n in cp) for i, n in enumerate(names, 1)]


def test_the_control_plane_by_its_label_and_the_workers_in_name_order() -> None:
    found = roles.from_nodes(_nodes("node-b", "cp-1", "node-a", cp=("cp-1",)))
    assert found == roles.NodeRoles("cp-1", ("node-a", "node-b"))
    assert found.by_write_up_name() == {"k8s-ctr": "cp-1", "k8s-w1": "node-a", "k8s-w2": "node-b"}
    assert found.renamed and found.legend() == "k8s-ctr is cp-1, k8s-w1 is node-a, k8s-w2 is node-b"
    assert found.properties()["nodes.workers"] == "node-a, node-b"


def test_the_write_up_lab_is_not_renamed() -> None:
    found = roles.from_nodes(_nodes("k8s-w2", "k8s-ctr", "k8s-w1", cp=("k8s-ctr",)))
    assert found == roles.WRITE_UP and not found.renamed
    assert found.say("Step failed: Given the Hubble API is port-forwarded on k8s-ctr") == \
        "Step failed: Given the Hubble API is port-forwarded on k8s-ctr"


def test_messages_give_the_real_name_after_the_write_up_name() -> None:
    found = roles.NodeRoles("cp-1", ("node-a", "node-b"))
    assert found.say("port 4245 on k8s-ctr; the agent on k8s-w1, not k8s-w2.") == \
        "port 4245 on k8s-ctr (cp-1); the agent on k8s-w1 (node-a), not k8s-w2 (node-b)."
    assert found.say("k8s-ctr.sh and k8s-w10") == "k8s-ctr.sh and k8s-w10"  # a script name, another node


def test_a_pinned_pod_is_placed_on_the_node_of_its_role() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "curl-pod"},
           "spec": {"nodeName": "k8s-ctr", "containers": []}}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"template": {"spec": {"nodeName": "k8s-w2"}}}}
    found = roles.NodeRoles("cp-1", ("node-a", "node-b"))
    assert roles.place(pod, found)["spec"]["nodeName"] == "cp-1"
    assert pod["spec"]["nodeName"] == "k8s-ctr"  # the loaded manifest is not changed
    assert roles.place(deploy, found)["spec"]["template"]["spec"]["nodeName"] == "node-b"
    assert roles.place(pod, roles.WRITE_UP) is pod


@pytest.mark.parametrize(("names", "cp", "line"), [
    (("cp-1", "node-a"), ("cp-1",),
     "the cluster has 2 node(s) (cp-1, node-a); the write-up's lab has three, a control plane and two workers "
     "(k8s-ctr, k8s-w1, k8s-w2), and the chapters need all three"),
    (("a", "b", "c"), (),
     "no node of the cluster (a, b, c) carries the label node-role.kubernetes.io/control-plane: the suite runs the "
     "student's k8s-ctr commands and places curl-pod on the control-plane node; label it with "
     "`kubectl label node NAME node-role.kubernetes.io/control-plane=`"),
    (("a", "b", "c"), ("a", "b"),
     "the cluster has 1 node(s) without the label node-role.kubernetes.io/control-plane (c); the chapters need two "
     "workers (k8s-w1, k8s-w2: webpod runs one replica on each)"),
])
def test_a_cluster_that_is_not_the_write_ups_is_one_line(names: tuple[str, ...], cp: tuple[str, ...],
                                                          line: str) -> None:
    with pytest.raises(ConfigError) as err:
        roles.from_nodes(_nodes(*names, cp=cp))
    assert str(err.value) == line


def test_the_roles_of_a_lab() -> None:
    class _Lab:
        info: dict = {}
    assert roles.of_lab(_Lab()) == roles.WRITE_UP and roles.of_lab(None) == roles.WRITE_UP
    _Lab.info = {"roles": {"control_plane": "cp-1", "workers": ["node-a", "node-b"]}}
    assert roles.of_lab(_Lab()) == roles.NodeRoles("cp-1", ("node-a", "node-b"))
