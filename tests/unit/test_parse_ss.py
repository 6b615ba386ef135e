"""cilab.parsers.ss against the lab's real `ss -tnlp` lines (write-up, Hubble sections)."""
from __future__ import annotations

import pytest

from cilab.parsers.ss import Listener, listeners_on_port, parse_ss, parse_ss_line, read_ss

# k8s-w1 / k8s-w2 after `hubble.enabled=true`: the agent listens on *:4244 on every node.
W1_4244 = 'LISTEN 0      4096               *:4244             *:*    users:(("cilium-agent",pid=7154,fd=55))'
W2_4244 = 'LISTEN 0      4096               *:4244             *:*    users:(("cilium-agent",pid=6930,fd=42))'

# k8s-ctr while `cilium hubble port-forward` runs (pid 10570).
PORT_FORWARD = """\
LISTEN 0      4096        127.0.0.1:4245       0.0.0.0:*    users:(("cilium",pid=10570,fd=7))
LISTEN 0      4096            [::1]:4245          [::]:*    users:(("cilium",pid=10570,fd=8))
"""

# k8s-ctr metrics ports (agent 9962/9965, the single operator replica 9963).
CTR_METRICS = """\
LISTEN 0      4096                *:9962             *:*    users:(("cilium-agent",pid=9298,fd=7))
LISTEN 0      4096                *:9963             *:*    users:(("cilium-operator",pid=5512,fd=7))
LISTEN 0      4096                *:9965             *:*    users:(("cilium-agent",pid=9298,fd=42))
"""

# k8s-ctr after enabling Hubble, as the write-up clipped it (no state/queue columns).
CTR_AFTER_CLIPPED = """\
*:4244             *:*    users:(("cilium-agent",pid=9298,fd=50))
*:9962             *:*    users:(("cilium-agent",pid=9298,fd=7))
*:9965             *:*    users:(("cilium-agent",pid=9298,fd=42))
"""

# k8s-ctr before enabling Hubble: the addresses the write-up lists, printed with a header
# and without the Process column (as ss prints them without -p or without permission).
CTR_BEFORE = """\
State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess
LISTEN 0      4096       127.0.0.1:9891       0.0.0.0:*
LISTEN 0      4096       127.0.0.1:9890       0.0.0.0:*
LISTEN 0      4096       127.0.0.1:9879       0.0.0.0:*
LISTEN 0      4096       127.0.0.1:9878       0.0.0.0:*
LISTEN 0      4096         0.0.0.0:9964       0.0.0.0:*
LISTEN 0      4096       127.0.0.1:41353      0.0.0.0:*
LISTEN 0      4096       127.0.0.1:9234       0.0.0.0:*

LISTEN 0      4096               *:9963             *:*
"""


def test_worker_4244_line_is_a_wildcard_agent_listener() -> None:
    assert parse_ss(W1_4244) == [Listener("*", 4244, ("cilium-agent",), (7154,))]
    [w2] = parse_ss(W2_4244)
    assert (w2.address, w2.port, w2.processes, w2.pids) == ("*", 4244, ("cilium-agent",), (6930,))
    assert w2.is_wildcard is True
    assert w2.is_loopback is False
    assert w2.family == "any"


def test_port_forward_listens_on_loopback_only() -> None:
    v4, v6 = parse_ss(PORT_FORWARD)
    assert v4 == Listener("127.0.0.1", 4245, ("cilium",), (10570,))
    assert v6 == Listener("[::1]", 4245, ("cilium",), (10570,))
    assert (v4.family, v6.family) == ("ipv4", "ipv6")
    assert v4.is_loopback and v6.is_loopback
    assert not v4.is_wildcard and not v6.is_wildcard


def test_metrics_ports_and_process_names() -> None:
    listeners = parse_ss(CTR_METRICS)
    assert [(l.port, l.processes, l.pids) for l in listeners] == [
        (9962, ("cilium-agent",), (9298,)),
        (9963, ("cilium-operator",), (5512,)),
        (9965, ("cilium-agent",), (9298,)),
    ]
    assert listeners_on_port(listeners, 9963) == [
        Listener("*", 9963, ("cilium-operator",), (5512,))]
    assert listeners_on_port(listeners, 4244) == []


def test_lines_without_state_and_queue_columns() -> None:
    listeners = parse_ss(CTR_AFTER_CLIPPED)
    assert [(l.address, l.port, l.pids) for l in listeners] == [
        ("*", 4244, (9298,)), ("*", 9962, (9298,)), ("*", 9965, (9298,))]


def test_header_blank_lines_and_missing_process_column() -> None:
    listeners = parse_ss(CTR_BEFORE)
    assert [l.port for l in listeners] == [9891, 9890, 9879, 9878, 9964, 41353, 9234, 9963]
    assert all(l.processes == () and l.pids == () for l in listeners)
    assert listeners_on_port(listeners, 4244) == []
    assert listeners_on_port(listeners, 4245) == []
    [envoy] = listeners_on_port(listeners, 9964)
    assert (envoy.address, envoy.is_wildcard, envoy.is_loopback, envoy.family) == (
        "0.0.0.0", True, False, "ipv4")


def test_no_state_column_with_queues_and_H() -> None:
    assert parse_ss("0      4096               *:4244             *:*") == [Listener("*", 4244)]


def test_ipv6_wildcard_zone_and_mapped_addresses() -> None:
    text = "\n".join([
        'LISTEN 0 4096 [::]:22 [::]:* users:(("sshd",pid=801,fd=4))',
        'LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=512,fd=15))',
        'LISTEN 0 511 [::ffff:127.0.0.1]:8080 *:* users:(("java",pid=42,fd=9))',
        "LISTEN 0 128 10.0.2.15:10250 0.0.0.0:*",
    ])
    ssh, resolved, mapped, kubelet = parse_ss(text)
    assert (ssh.address, ssh.port, ssh.is_wildcard, ssh.family) == ("[::]", 22, True, "ipv6")
    assert (resolved.address, resolved.device, resolved.port, resolved.shown) == ("127.0.0.53", "lo", 53, "127.0.0.53%lo:53")
    assert resolved.is_loopback and resolved.family == "ipv4"
    assert (mapped.address, mapped.is_loopback, mapped.family) == (
        "[::ffff:127.0.0.1]", True, "ipv6")
    assert (kubelet.is_loopback, kubelet.is_wildcard, kubelet.processes) == (False, False, ())


def test_several_processes_share_a_socket() -> None:
    line = ('LISTEN 0 4096 0.0.0.0:80 0.0.0.0:* '
            'users:(("nginx",pid=2001,fd=6),("nginx",pid=2002,fd=6),("nginx",pid=2000,fd=6))')
    [listener] = parse_ss(line)
    assert listener.processes == ("nginx", "nginx", "nginx")
    assert listener.pids == (2001, 2002, 2000)


def test_netid_column_is_accepted() -> None:
    assert parse_ss("tcp LISTEN 0 4096 *:4244 *:*") == [Listener("*", 4244)]


def test_header_only_gives_nothing() -> None:
    assert parse_ss_line("State Recv-Q Send-Q Local Address:Port Peer Address:Port Process") is None
    assert parse_ss("") == []


UNREADABLE = [
    ">> node : k8s-w1 <<",
    "LISTEN 0 4096 *:ssh *:*",
    "LISTEN 0 4096 localhost:4245 0.0.0.0:*",
    "LISTEN 0 4096 *:4244",
    'LISTEN 0 4096 *:4244 *:* users:(garbage)',
    "LISTEN 0 4096 127.0.0.1%:4244 0.0.0.0:*",
    "LISTEN 0 4096 [fe80::1]eth1:22 [::]:*",
]


@pytest.mark.parametrize("line", UNREADABLE)
def test_unparsable_line_raises_naming_it(line: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_ss_line(line)
    assert repr(line) in str(info.value)


@pytest.mark.parametrize("line", UNREADABLE)
def test_an_unreadable_line_is_reported_and_skipped_never_taking_the_node_down(line: str) -> None:
    report = read_ss(W1_4244 + "\n" + line + "\n" + CTR_METRICS)
    assert [(l.address, l.port) for l in report.listeners] == [("*", 4244), ("*", 9962), ("*", 9963), ("*", 9965)]
    [problem] = report.unreadable
    assert repr(line) in problem
    assert parse_ss(W1_4244 + "\n" + line + "\n") == [Listener("*", 4244, ("cilium-agent",), (7154,))]


# --- ss as a real node prints it (iproute2 misc/ss.c inet_addr_print / sock_addr_print) ----------

# `ss -tlnpH` on an Ubuntu 24.04 kubeadm control-plane node with Cilium (real forms: first-contact
# facts): sshd socket-activated by systemd (two processes on one socket; ssh.socket binds
# 0.0.0.0:22 and an IPv6-only [::]:22), systemd-resolved on 127.0.0.53%lo and 127.0.0.54,
# kubelet (10248 loopback, 10250 dual-stack), etcd, kube-apiserver, containerd on loopback.
UBUNTU_CTR = """\
LISTEN 0      4096      127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=563,fd=15))
LISTEN 0      4096         127.0.0.54:53         0.0.0.0:*    users:(("systemd-resolve",pid=563,fd=17))
LISTEN 0      4096            0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=1034,fd=3),("systemd",pid=1,fd=160))
LISTEN 0      4096          127.0.0.1:10248      0.0.0.0:*    users:(("kubelet",pid=5623,fd=19))
LISTEN 0      4096          127.0.0.1:10257      0.0.0.0:*    users:(("kube-controller",pid=4993,fd=3))
LISTEN 0      4096          127.0.0.1:10259      0.0.0.0:*    users:(("kube-scheduler",pid=5007,fd=3))
LISTEN 0      4096          127.0.0.1:2379       0.0.0.0:*    users:(("etcd",pid=5012,fd=8))
LISTEN 0      4096     192.168.10.100:2379       0.0.0.0:*    users:(("etcd",pid=5012,fd=9))
LISTEN 0      4096     192.168.10.100:2380       0.0.0.0:*    users:(("etcd",pid=5012,fd=7))
LISTEN 0      4096          127.0.0.1:2381       0.0.0.0:*    users:(("etcd",pid=5012,fd=15))
LISTEN 0      4096          127.0.0.1:37417      0.0.0.0:*    users:(("containerd",pid=4100,fd=10))
LISTEN 0      4096          127.0.0.1:9890       0.0.0.0:*    users:(("cilium-agent",pid=9298,fd=9))
LISTEN 0      4096          127.0.0.1:9879       0.0.0.0:*    users:(("cilium-agent",pid=9298,fd=10))
LISTEN 0      4096            0.0.0.0:9964       0.0.0.0:*    users:(("cilium-envoy",pid=4410,fd=25))
LISTEN 0      4096              *%lo:39999            *:*    users:(("cilium-agent",pid=9298,fd=61))
LISTEN 0      4096                  *:6443             *:*    users:(("kube-apiserver",pid=5050,fd=3))
LISTEN 0      4096                  *:10250            *:*    users:(("kubelet",pid=5623,fd=22))
LISTEN 0      4096                  *:4244             *:*    users:(("cilium-agent",pid=9298,fd=50))
LISTEN 0      4096                  *:9962             *:*    users:(("cilium-agent",pid=9298,fd=7))
LISTEN 0      4096                  *:9965             *:*    users:(("cilium-agent",pid=9298,fd=42))
LISTEN 0      4096               [::]:22            [::]:*    users:(("sshd",pid=1034,fd=4),("systemd",pid=1,fd=161))
LISTEN 0      4096   [fe80::a00:27ff:fe4e:66a1]%eth1:22  [::]:*    users:(("sshd",pid=1034,fd=5))
"""
NODE_IP = "192.168.10.100"


def test_an_ubuntu_node_parses_whole() -> None:
    report = read_ss(UBUNTU_CTR)
    assert report.unreadable == []
    assert len(report.listeners) == len(UBUNTU_CTR.splitlines())
    by = {(l.shown): l for l in report.listeners}
    assert by["127.0.0.53%lo:53"].processes == ("systemd-resolve",)
    assert by["127.0.0.54:53"].device is None and by["127.0.0.54:53"].is_loopback
    ssh4 = by["0.0.0.0:22"]
    assert (ssh4.processes, ssh4.pids) == (("sshd", "systemd"), (1034, 1))
    assert by["*:6443"].processes == ("kube-apiserver",)
    assert by["127.0.0.1:37417"].processes == ("containerd",)
    assert [l.shown for l in report.listeners if "etcd" in l.processes] == [
        "127.0.0.1:2379", "192.168.10.100:2379", "192.168.10.100:2380", "127.0.0.1:2381"]


def test_a_socket_bound_to_a_device_keeps_the_device() -> None:
    lo = parse_ss_line('LISTEN 0 4096 *%lo:39999 *:* users:(("cilium-agent",pid=9298,fd=61))')
    assert (lo.address, lo.device, lo.port, lo.shown) == ("*", "lo", 39999, "*%lo:39999")
    assert lo.is_loopback and not lo.accepts(NODE_IP)
    v6 = parse_ss_line("LISTEN 0 128 [fe80::1]%eth1:22 [::]:*")
    assert (v6.address, v6.device, v6.port, v6.family) == ("[fe80::1]", "eth1", 22, "ipv6")


@pytest.mark.parametrize(("shown", "reachable"), [
    ("*:4244", True),                 # dual-stack wildcard (Go's net.Listen(":4244"))
    ("0.0.0.0:22", True),             # IPv4 wildcard
    ("[::]:22", False),               # IPv6-only wildcard: no IPv4 peer reaches it
    ("192.168.10.100:2380", True),    # the node's own address
    ("127.0.0.1:2379", False),        # loopback only
    ("127.0.0.53%lo:53", False),
    ("*%lo:39999", False),            # any address, but only on the loopback device
    ("[::1]:4245", False),
])
def test_which_sockets_other_nodes_reach_on_an_ipv4_node(shown: str, reachable: bool) -> None:
    [listener] = [l for l in parse_ss(UBUNTU_CTR + PORT_FORWARD) if l.shown == shown]
    assert listener.accepts(NODE_IP) is reachable


def test_the_ipv6_only_wildcard_takes_ipv6_peers_only() -> None:
    [v6only] = parse_ss("LISTEN 0 4096 [::]:4244 [::]:*")
    assert (v6only.accepts("192.168.10.100"), v6only.accepts("fd00::100")) == (False, True)
    [dual] = parse_ss("LISTEN 0 4096 *:4244 *:*")
    assert (dual.accepts("192.168.10.100"), dual.accepts("fd00::100")) == (True, True)
    [mapped] = parse_ss("LISTEN 0 4096 [::ffff:192.168.10.100]:4244 *:*")
    assert mapped.accepts("192.168.10.100")
