"""The Hubble CLI chapter's harness parts: flow fields, the IP cache parser, the resource
lock, and the port-forward's start/stop shell commands run for real against a stand-in
`cilium` process."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from cilab.errors import LabUnavailable
from cilab.locks import resource_lock
from cilab.parsers.cilium_dbg import parse_ip_list
from cilab.parsers.hubble import parse_flow_line
from cilab.probes import hubble_cli


def _line(flow: dict) -> str:
    return json.dumps({"flow": flow, "node_name": "k8s-w1", "time": "2025-07-25T17:44:03.815Z"})


def test_tcp_flags_in_summary_order_and_l4_protocol() -> None:
    f = parse_flow_line(_line({"verdict": "FORWARDED", "Type": "L3_L4",
                               "l4": {"TCP": {"source_port": 43318, "destination_port": 80,
                                              "flags": {"PSH": True, "ACK": True, "SYN": False}}}}))
    assert f is not None and f.tcp_flags == ("ACK", "PSH") and f.l4_protocol == "TCP"
    udp = parse_flow_line(_line({"verdict": "FORWARDED", "l4": {"UDP": {"source_port": 56514, "destination_port": 53}}}))
    assert udp is not None and udp.tcp_flags == () and udp.l4_protocol == "UDP"


def test_trace_sock_fields() -> None:
    # seed 1697: default/xwing (ID:7207) <> 10.96.0.10:53 (world) pre-xlate-fwd TRACED (UDP)
    f = parse_flow_line(_line({"verdict": "TRACED", "Type": "SOCK", "event_type": {"type": 7},
                               "IP": {"destination": "10.96.0.10", "ipVersion": "IPv4"},
                               "l4": {"UDP": {"destination_port": 53}},
                               "source": {"identity": 7207, "namespace": "default", "pod_name": "xwing"},
                               "destination": {"identity": 2, "labels": ["reserved:world"]},
                               "sock_xlate_point": "SOCK_XLATE_POINT_PRE_DIRECTION_FWD",
                               "socket_cookie": "18446744073709551615"}))
    assert f is not None
    assert (f.sock_xlate_point, f.socket_cookie, f.destination.ip, f.destination.port, f.destination.identity,
            f.source.port) == ("SOCK_XLATE_POINT_PRE_DIRECTION_FWD", "18446744073709551615", "10.96.0.10", 53, 2, None)


def test_tcp_flags_of_wrong_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="l4.TCP.flags"):
        parse_flow_line(_line({"verdict": "FORWARDED", "l4": {"TCP": {"flags": ["SYN"]}}}))


def test_ip_list() -> None:
    text = json.dumps([{"cidr": "0.0.0.0/0", "identity": 2, "metadata": {"source": "custom-resource"}},
                       {"cidr": "192.168.10.100/32", "identity": 7, "hostIP": "", "encryptKey": 0},
                       {"cidr": "172.20.1.129/32", "identity": 7661}])
    entries = parse_ip_list(text)
    assert [(e.cidr, e.identity) for e in entries] == [("0.0.0.0/0", 2), ("192.168.10.100/32", 7),
                                                        ("172.20.1.129/32", 7661)]
    assert entries[0].source == "custom-resource" and entries[1].source is None
    assert parse_ip_list("null") == []
    with pytest.raises(ValueError, match="JSON array"):
        parse_ip_list('{"cidr": "0.0.0.0/0"}')
    with pytest.raises(ValueError, match="without a cidr"):
        parse_ip_list('[{"identity": 2}]')


def test_resource_lock_is_exclusive_and_names_the_resource(tmp_path: Path) -> None:
    with resource_lock(tmp_path, "hubble-port-forward", what="port 4245 on k8s-ctr"):
        with pytest.raises(LabUnavailable, match="port 4245 on k8s-ctr"):
            with resource_lock(tmp_path, "hubble-port-forward", what="port 4245 on k8s-ctr", budget=0.3):
                pass
        with resource_lock(tmp_path, "another-resource", what="something else", budget=0.3):
            pass  # another resource is not held up
    with resource_lock(tmp_path, "hubble-port-forward", what="port 4245 on k8s-ctr", budget=0.3):
        pass


# --- the port-forward's shell commands, for real, with a stand-in `cilium` ------------------------------


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A `sh -c` runner whose PATH has a `cilium` that prints the port-forward line and stays up,
    with the commands' /run paths moved into tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "cilium"
    fake.write_text("#!/bin/sh\necho 'ℹ️  Hubble Relay is available at 127.0.0.1:4245'\n"
                    "trap 'exit 0' TERM\nwhile :; do sleep 0.2; done\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    started: list[int] = []

    def run(command: str) -> str:
        command = command.replace("/run/", f"{tmp_path}/")
        out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env, timeout=10)
        return out.stdout
    yield run, started, tmp_path
    for pid in started:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat  # a zombie is gone for our purposes


def test_port_forward_starts_in_the_background_and_is_stopped_by_its_pid(node) -> None:
    run, started, tmp = node
    pid = int(run(hubble_cli.START_COMMAND).strip())
    started.append(pid)
    assert (tmp / "cilab-hubble-port-forward.pid").read_text().strip() == str(pid)
    deadline = time.monotonic() + 5
    while "available at 127.0.0.1:4245" not in run(hubble_cli.ALIVE_COMMAND) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = run(hubble_cli.ALIVE_COMMAND)
    assert f"{pid} cilium" in " ".join(alive.split()) and "available at 127.0.0.1:4245" in alive
    assert run(hubble_cli.STOP_COMMAND).strip() == f"stopped {pid}"
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert not (tmp / "cilab-hubble-port-forward.log").exists()  # the node is left as found
    assert run(hubble_cli.STOP_COMMAND).strip() == "none"  # the pid file is gone


def test_stop_leaves_a_reused_pid_alone(node) -> None:
    run, started, tmp = node
    other = subprocess.Popen(["sleep", "30"])
    started.append(other.pid)
    (tmp / "cilab-hubble-port-forward.pid").write_text(f"{other.pid}\n")
    assert run(hubble_cli.STOP_COMMAND).strip() == f"gone {other.pid}"
    assert other.poll() is None  # not a cilium process: not killed
    assert not (tmp / "cilab-hubble-port-forward.pid").exists()


# --- where the student's commands run ----------------------------------------------------------------


def _lab(kind: str, via: str | None = None, nodes: list[dict] | None = None):
    from types import SimpleNamespace
    backend = SimpleNamespace(**({"node_shell_via": via} if via else {}))
    return SimpleNamespace(kind=kind, backend=backend, info={"transcript": "reference"},
                           list=lambda api, kind: nodes or [])


def test_the_report_says_how_the_commands_ran() -> None:
    assert "debug pod" in hubble_cli.how_commands_run(_lab("kubeconfig", "debug pod"), "k8s-ctr")
    assert "closest equivalent" in hubble_cli.how_commands_run(_lab("kubeconfig", "debug pod"), "k8s-ctr")
    assert "over SSH" in hubble_cli.how_commands_run(_lab("kubeconfig", "ssh"), "k8s-ctr")
    assert "over SSH" in hubble_cli.how_commands_run(_lab("vagrant"), "k8s-ctr")
    assert "Replayed" in hubble_cli.how_commands_run(_lab("replay"), "k8s-ctr")


def test_the_control_plane_node_is_the_students_node() -> None:
    nodes = [{"metadata": {"name": "k8s-w1", "labels": {}}},
             {"metadata": {"name": "k8s-ctr", "labels": {hubble_cli.CONTROL_PLANE_LABEL: ""}}}]
    assert hubble_cli.control_plane_node(_lab("replay", nodes=nodes)) == "k8s-ctr"
    with pytest.raises(AssertionError, match="no node carries the node-role.kubernetes.io/control-plane label"):
        hubble_cli.control_plane_node(_lab("replay", nodes=nodes[:1]))


def test_version_and_help_lines() -> None:
    from cilab.probes.hubble_cli import _SERVER_FLAG_RE, _VERSION_RE, server_flag_default
    m = _VERSION_RE.match("hubble v1.17.5@HEAD-7c5b3c8 compiled with go1.24.4 on linux/amd64")
    assert m and m["version"] == "1.17.5"
    assert _VERSION_RE.match("hubble 1.17.5 compiled with go1.24.4 on linux/arm64")["version"] == "1.17.5"
    assert not _VERSION_RE.match("sh: 1: hubble: not found")
    line = ('      --server string                 Address of a Hubble server. Ignored when --input-file or '
            '--port-forward is provided. (default "localhost:4245")')
    assert _SERVER_FLAG_RE.match(line)
    assert server_flag_default("Usage:\n  hubble status [flags]\n\nServer Flags:\n" + line + "\n") == "localhost:4245"
    assert server_flag_default("Usage:\n  hubble status [flags]\n") is None
