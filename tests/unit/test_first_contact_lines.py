"""The one-line messages of an unreachable lab (cilab.plugin.lab_unavailable_line) for the
cases the self-tests cannot produce on loopback (a Vagrant lab's API server is
192.168.10.100, never contacted here), and the helpers behind the rootdir fix."""
from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import paramiko
import pytest

from cilab.errors import APIUnreachable, LabUnavailable, SSHUnreachable
from cilab.plugin import join_option_values, lab_unavailable_line
from cilab.ssh import connect_failure_words


def config(**option: object) -> SimpleNamespace:
    defaults = {"lab": "vagrant", "vagrant_dir": None, "ssh_config": None, "kubeconfig": None}
    return SimpleNamespace(option=SimpleNamespace(**{**defaults, **option}))


def test_vagrant_lab_api_server_not_answering(tmp_path: Path) -> None:
    exc = APIUnreachable("API server https://192.168.10.100:6443 unreachable during list Node: [Errno 111] "
                         "Connection refused", server="https://192.168.10.100:6443", reason="connection refused")
    line = lab_unavailable_line(config(vagrant_dir=str(tmp_path)), exc)  # type: ignore[arg-type]
    assert line == ("the API server https://192.168.10.100:6443 does not answer (connection refused): is "
                    f"k8s-ctr running, with its kube-apiserver up? try `cd {tmp_path} && vagrant status`, "
                    "then `vagrant ssh k8s-ctr -c 'kubectl get nodes'` there")


def test_kubeconfig_lab_ssh_lines_name_the_ssh_config() -> None:
    gone = SSHUnreachable("x", node="cp-1", user="root", address="10.0.0.5:22", reason="no answer (timed out)")
    refused = SSHUnreachable("x", node="cp-1", user="root", address="10.0.0.5:22",
                             reason="authentication failed", auth=True)
    cfg = config(lab="kubeconfig", ssh_config="nodes.ssh")
    assert lab_unavailable_line(cfg, gone) == (  # type: ignore[arg-type]
        "cp-1 does not answer on SSH at 10.0.0.5:22 (no answer (timed out)); try `ssh -F nodes.ssh cp-1`")
    assert lab_unavailable_line(cfg, refused) == (  # type: ignore[arg-type]
        "cp-1 refused the SSH login of root at 10.0.0.5:22 (authentication failed); try `ssh -F nodes.ssh cp-1`")


def test_other_errors_keep_their_first_line() -> None:
    assert lab_unavailable_line(config(), LabUnavailable("first\nsecond")) == "first"  # type: ignore[arg-type]


def test_connect_failure_words() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    assert connect_failure_words(paramiko.ssh_exception.NoValidConnectionsError(
        {("127.0.0.1", 22): refused})) == "connection refused"
    assert connect_failure_words(socket.timeout("timed out")) == "no answer (timed out)"


@pytest.mark.parametrize("args, joined", [
    (["--lab", "vagrant", "--vagrant-dir", "/home/me/cilium-lab", "-n", "auto"],
     ["--lab=vagrant", "--vagrant-dir=/home/me/cilium-lab", "-n", "auto"]),
    (["--transcript=/x", "-k", "redaction", "--", "--record", "y"],
     ["--transcript=/x", "-k", "redaction", "--", "--record", "y"]),
    (["--destroy-lab", "tests/scenarios"], ["--destroy-lab", "tests/scenarios"]),  # a flag takes no value
])
def test_join_option_values(args: list[str], joined: list[str]) -> None:
    import argparse
    parser = SimpleNamespace(optparser=argparse.ArgumentParser())
    for name in ("--lab", "--vagrant-dir", "--transcript", "--record"):
        parser.optparser.add_argument(name)
    parser.optparser.add_argument("--destroy-lab", action="store_true")
    assert join_option_values(args, parser) == joined  # type: ignore[arg-type]
