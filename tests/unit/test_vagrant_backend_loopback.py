"""The Vagrant backend end to end on loopback: a stand-in `vagrant` whose ssh-config points
at a real sshd on 127.0.0.1; provisioning info and kubeconfig fetched over SFTP; the real
`ss -tlnpH` run through SSH finds a listener this test opened; the recorder writes that run
as a transcript and the replay backend reproduces the same results from it."""
from __future__ import annotations

import socket
import stat
from pathlib import Path

import yaml

from cilab.backends.replay import ReplayBackend
from cilab.backends.vagrant import VagrantBackend, provision_once
from cilab.lab import Lab
from cilab.probes import nodes
from cilab.retry import VirtualClock
from cilab.transcript import Recorder, load_transcript
from cilab.vagrant_cli import VagrantCLI
from tests.unit.sshd_server import Server

NODES = ("k8s-ctr", "k8s-w1", "k8s-w2")
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: kubernetes, cluster: {server: "https://10.0.2.15:6443", certificate-authority-data: Q0E=}}]
users: [{name: kubernetes-admin, user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}}]
contexts: [{name: kubernetes-admin@kubernetes, context: {cluster: kubernetes, user: kubernetes-admin}}]
current-context: kubernetes-admin@kubernetes
"""


def standin_vagrant(tmp: Path, server: Server) -> Path:
    """A `vagrant` that reports three running machines, all reachable at the loopback sshd."""
    status = "".join(f"1767225600,{n},metadata,provider,virtualbox\n1767225600,{n},provider-name,virtualbox\n"
                     f"1767225600,{n},state,running\n" for n in NODES)
    config = "".join(f"Host {n}\n  HostName 127.0.0.1\n  User {server.user}\n  Port {server.port}\n"
                     f"  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  PasswordAuthentication no\n"
                     f"  IdentityFile \"{server.key}\"\n  IdentitiesOnly yes\n  LogLevel FATAL\n\n" for n in NODES)
    (tmp / "status.txt").write_text(status)
    (tmp / "ssh-config.txt").write_text(config)
    exe = tmp / "vagrant"
    exe.write_text(f"""#!/bin/sh
case "$1" in
  status) cat "{tmp}/status.txt" ;;
  ssh-config) cat "{tmp}/ssh-config.txt" ;;
  up) echo "up must not run: the machines are running" >&2; exit 1 ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
""")
    exe.chmod(0o755)
    return exe


def test_provision_reuse_shell_record_and_replay(sshd: Server, tmp_path: Path) -> None:
    remote_kc = tmp_path / "remote" / "config"
    remote_kc.parent.mkdir()
    remote_kc.write_text(KUBECONFIG)
    shared = tmp_path / "shared"
    shared.mkdir()
    cli = VagrantCLI(tmp_path, executable=str(standin_vagrant(tmp_path, sshd)))
    info_path = provision_once(shared, provider=None, ctr_ip="192.168.10.100", cli=cli,
                               remote_kubeconfig=str(remote_kc))
    # a second worker reads what the first wrote (no second vagrant call needed)
    assert provision_once(shared, provider=None, ctr_ip="192.168.10.100", cli=None) == info_path

    info = info_path.read_text()
    assert "S0VZ" not in info and "BEGIN" not in info  # paths only, never key material
    kubeconfig = Path(yaml.safe_load(info)["kubeconfig"])
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == "https://192.168.10.100:6443"

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        recorder = Recorder(tmp_path / "rec" / "main.yaml", name="loopback", description="test")
        backend = VagrantBackend(info_path)
        lab = Lab(backend, recorder=recorder)
        try:
            live = {n: sorted((l.address, l.port) for l in nodes.listeners(lab, n)) for n in NODES}
        finally:
            lab.close()
        assert backend.ssh.connections_opened == len(NODES)  # one connection per node, reused
    assert ("127.0.0.1", port) in live["k8s-ctr"]
    saved = recorder.save()
    assert "S0VZ" not in saved.read_text()

    replay = Lab(ReplayBackend(load_transcript(saved)), clock=VirtualClock())
    replayed = {n: sorted((l.address, l.port) for l in nodes.listeners(replay, n)) for n in NODES}
    assert replayed == live
