"""cilab.parsers.cluster.parse_node_table: `kubectl get node -owide` as the student reads it
on k8s-ctr (seed 599-603), and as a real node may print it (a warning first, a cordoned or
NotReady node, a label column added, a line cut short)."""
from __future__ import annotations

from cilab.parsers.cluster import parse_node_table

# seed 600-603, as printed
SEED = """\
NAME      STATUS   ROLES           AGE     VERSION   INTERNAL-IP      EXTERNAL-IP   OS-IMAGE             KERNEL-VERSION     CONTAINER-RUNTIME
k8s-ctr   Ready    control-plane   6m48s   v1.33.2   192.168.10.100   <none>        Ubuntu 24.04.2 LTS   6.8.0-53-generic   containerd://1.7.27
k8s-w1    Ready    <none>          5m30s   v1.33.2   192.168.10.101   <none>        Ubuntu 24.04.2 LTS   6.8.0-53-generic   containerd://1.7.27
k8s-w2    Ready    <none>          4m8s    v1.33.2   192.168.10.102   <none>        Ubuntu 24.04.2 LTS   6.8.0-53-generic   containerd://1.7.27
"""


def test_the_seed_table() -> None:
    table = parse_node_table(SEED)
    assert table.has_header and not table.unparsed
    assert table.names() == ["k8s-ctr", "k8s-w1", "k8s-w2"]
    assert all(r.is_ready for r in table.rows)
    ctr = table.rows[0]
    assert ctr.cells["ROLES"] == "control-plane"
    assert ctr.cells["OS-IMAGE"] == "Ubuntu 24.04.2 LTS"          # a cell with spaces in it
    assert ctr.cells["INTERNAL-IP"] == "192.168.10.100"
    assert ctr.cells["CONTAINER-RUNTIME"] == "containerd://1.7.27"


def test_statuses_a_warning_and_a_label_column() -> None:
    text = """\
Warning: v1 ComponentStatus is deprecated in v1.19+
NAME      STATUS                     ROLES           AGE   VERSION   ZONE
k8s-ctr   Ready                      control-plane   9d    v1.33.2   <none>
k8s-w1    Ready,SchedulingDisabled   <none>          9d    v1.33.2   zone-a
k8s-w2    NotReady                   <none>          9d    v1.33.2   zone-b
"""
    table = parse_node_table(text)
    assert table.names() == ["k8s-ctr", "k8s-w1", "k8s-w2"] and not table.unparsed
    assert [r.is_ready for r in table.rows] == [True, True, False]   # cordoned is still Ready
    assert table.rows[2].status == "NotReady" and table.rows[1].cells["ZONE"] == "zone-a"


def test_a_line_cut_short_or_out_of_step_is_kept_aside() -> None:
    cut = SEED.splitlines()[3][:13]                                   # "k8s-w2    Rea"
    table = parse_node_table("\n".join(SEED.splitlines()[:3] + [cut, "some text that is not a row of the table at all"]))
    assert table.names() == ["k8s-ctr", "k8s-w1"]
    assert table.unparsed == (cut, "some text that is not a row of the table at all")


def test_no_table_at_all() -> None:
    table = parse_node_table("No resources found\n")
    assert not table.has_header and not table.rows and table.unparsed == ("No resources found",)
    assert not parse_node_table("").has_header
