"""The Vagrant backend end to end on loopback: a stand-in `vagrant` whose ssh-config points
at a real sshd on 127.0.0.1; provisioning info and kubeconfig fetched over SFTP; the real
`ss -tlnpH` run through SSH finds a listener this test opened; the recorder writes that run
as a transcript and the replay backend reproduces the same results from it."""
from __future__ import annotations

import json
import shutil
import socket
import stat
from pathlib import Path

import pytest

import yaml

from cilab.backends.replay import ReplayBackend
from cilab.backends.vagrant import PROVISIONING_DIR, VagrantBackend, provision_once
from cilab.errors import CallFailed, ConfigError, LabUnavailable
from cilab.lab import Lab
from cilab.probes import nodes
from cilab.retry import VirtualClock
from cilab.transcript import Recorder, load_transcript
from cilab.vagrant_cli import VagrantCLI
from tests.standin_vagrant import calls, standin, write_markers
from tests.unit.sshd_server import Server

NODES = ("k8s-ctr", "k8s-w1", "k8s-w2")
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: kubernetes, cluster: {server: "https://10.0.2.15:6443", certificate-authority-data: Q0E=}}]
users: [{name: kubernetes-admin, user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}}]
contexts: [{name: kubernetes-admin@kubernetes, context: {cluster: kubernetes, user: kubernetes-admin}}]
current-context: kubernetes-admin@kubernetes
"""


def standin_vagrant(tmp: Path, server: Server, **kw: object) -> Path:
    """A `vagrant` whose machines are all reachable at the loopback sshd (tests/standin_vagrant.py)."""
    return standin(tmp, port=server.port, user=server.user, key=server.key, **kw)  # type: ignore[arg-type]


def own_lab(tmp: Path) -> Path:
    """A folder the suite provisions: a copy of provisioning/'s marker files."""
    root = tmp / "lab"
    (root / "lib").mkdir(parents=True)
    for rel in ("Vagrantfile", "versions.env", "lib/cilab_lab.rb"):
        shutil.copy(PROVISIONING_DIR / rel, root / rel)
    return root


def admin_conf(tmp: Path) -> Path:
    """The control plane's admin.conf: root-only, read with sudo (not SFTP)."""
    path = tmp / "remote" / "admin.conf"
    path.parent.mkdir(exist_ok=True)
    path.write_text(KUBECONFIG)
    path.chmod(0o600)
    return path


def provision(tmp: Path, root: Path, exe: Path, lines: list[str] | None = None, **kw: object) -> Path:
    shared = tmp / "shared"
    shared.mkdir(exist_ok=True)
    return provision_once(shared, provider=None, ctr_ip="192.168.10.100", vagrant_root=root,
                          cli=VagrantCLI(root, executable=str(exe)), remote_kubeconfig=str(admin_conf(tmp)),
                          log_dir=tmp / "logs", progress=(lines if lines is not None else []).append,
                          marker_dir=str(exe.parent / "markers" / "{node}"), node_logs=str(tmp / "nodelogs"),
                          **kw)  # type: ignore[arg-type]


def test_provision_reuse_shell_record_and_replay(sshd: Server, tmp_path: Path) -> None:
    root = own_lab(tmp_path)
    exe = standin_vagrant(tmp_path / "vagrant", sshd)
    for node in NODES:
        write_markers(exe.parent / "markers", node)
    info_path = provision(tmp_path, root, exe)
    # a complete lab is reused: no `up`, no `provision`
    assert [c.split()[0] for c in calls(exe.parent)] == ["--version", "status", "ssh-config"]
    assert json.loads(info_path.read_text())["provisioned"] == []
    # a second worker reads what the first wrote (no second vagrant call needed)
    assert provision_once(tmp_path / "shared", provider=None, ctr_ip="192.168.10.100", cli=None) == info_path

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


def test_one_node_without_its_marker_is_provisioned_again_alone(sshd: Server, tmp_path: Path) -> None:
    root = own_lab(tmp_path)
    exe = standin_vagrant(tmp_path / "vagrant", sshd)
    write_markers(exe.parent / "markers", "k8s-ctr")
    write_markers(exe.parent / "markers", "k8s-w1")
    write_markers(exe.parent / "markers", "k8s-w2", ("init_cfg.sh",))  # k8s-w.sh was killed half way
    lines: list[str] = []
    info = json.loads(provision(tmp_path, root, exe, lines).read_text())
    assert [c for c in calls(exe.parent) if c.split()[0] in ("up", "provision", "destroy")] == ["provision k8s-w2"]
    assert info["provisioned"] == ["k8s-w2"]
    assert info["markers"]["k8s-w2"]["k8s-w.sh"] == {"NODE_NAME": "k8s-w2"}
    log = tmp_path / "logs" / "vagrant-provision-k8s-w2.log"
    assert "Running provisioner: k8s-w.sh" in log.read_text() and str(log) in info["logs"]
    assert any(l.startswith("k8s-w2: provisioning incomplete (no marker for k8s-w.sh)") for l in lines)
    assert any(l.startswith("k8s-w2: kubeadm, ") and str(log) in l for l in lines), lines


def test_machines_not_created_are_brought_up_with_a_line_per_machine_and_phase(sshd: Server, tmp_path: Path) -> None:
    root = own_lab(tmp_path)
    exe = standin_vagrant(tmp_path / "vagrant", sshd, machines={
        "k8s-ctr": ("running", "libvirt"), "k8s-w1": ("running", "libvirt"), "k8s-w2": ("not_created", "libvirt")})
    write_markers(exe.parent / "markers", "k8s-ctr")
    write_markers(exe.parent / "markers", "k8s-w1")
    lines: list[str] = []
    info = json.loads(provision(tmp_path, root, exe, lines).read_text())
    assert [c for c in calls(exe.parent) if c.split()[0] in ("up", "provision")] == ["up"]
    assert info["provisioned"] == ["k8s-w2"]
    phases = [l.split(",")[0] for l in lines if l.startswith("k8s-w2: ")]
    assert phases == ["k8s-w2: box", "k8s-w2: boot", "k8s-w2: base packages", "k8s-w2: kubeadm", "k8s-w2: done"]
    assert all(f"log {tmp_path / 'logs' / 'vagrant-up.log'}" in l for l in lines if l.startswith("k8s-w2: "))


def test_foreign_folder_is_read_only_and_kubeconfig_comes_from_admin_conf(sshd: Server, tmp_path: Path) -> None:
    writeup = tmp_path / "cilium-lab"  # the write-up's folder: its own Vagrantfile, no versions.env
    writeup.mkdir()
    (writeup / "Vagrantfile").write_text("# the write-up's Vagrantfile (seed 341-350)\n")
    exe = standin_vagrant(tmp_path / "vagrant", sshd)  # no markers at all: a lab the suite never provisioned
    info_path = provision(tmp_path, writeup, exe)
    info = json.loads(info_path.read_text())
    assert [c.split()[0] for c in calls(exe.parent)] == ["--version", "status", "ssh-config"]
    assert info["own"] is False and info["provisioned"] == [] and info["markers"] == {}
    kubeconfig = Path(info["kubeconfig"])
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == "https://192.168.10.100:6443"


def test_foreign_folder_with_a_machine_down_stops_with_one_line(sshd: Server, tmp_path: Path) -> None:
    writeup = tmp_path / "cilium-lab"
    writeup.mkdir()
    (writeup / "Vagrantfile").write_text("# write-up\n")
    exe = standin_vagrant(tmp_path / "vagrant", sshd, machines={
        "k8s-ctr": ("running", "virtualbox"), "k8s-w1": ("poweroff", "virtualbox"),
        "k8s-w2": ("not_created", "virtualbox")})
    with pytest.raises(ConfigError) as err:
        provision(tmp_path, writeup, exe)
    assert str(err.value) == (f"machines not running in {writeup}: k8s-w1 (poweroff), k8s-w2 (not_created); "
                              f"bring them up there with `cd {writeup} && vagrant up` (the suite starts "
                              "nothing in a folder it did not provision)")
    assert [c.split()[0] for c in calls(exe.parent)] == ["--version", "status"]


def test_failed_provisioning_shows_the_log_tail_and_is_not_retried_by_other_workers(sshd: Server, tmp_path: Path) -> None:
    root = own_lab(tmp_path)
    exe = standin_vagrant(tmp_path / "vagrant", sshd, fail=("up",), machines={
        n: ("not_created", "libvirt") for n in NODES})
    (tmp_path / "nodelogs").mkdir()
    (tmp_path / "nodelogs" / "kubeadm-init.log").write_text("[preflight] Running pre-flight checks\n")
    lines: list[str] = []
    with pytest.raises(CallFailed) as err:
        provision(tmp_path, root, exe, lines)
    log = tmp_path / "logs" / "vagrant-up.log"
    # the nodes' own provisioning logs are copied next to Vagrant's
    assert "[preflight] Running pre-flight checks" in (tmp_path / "logs" / "k8s-ctr-cilab.log").read_text()
    assert f"(log: {log})" in str(err.value)
    assert any(l.startswith("FAILED after") and str(log) in l for l in lines)
    assert "k8s-ctr: [cilab k8s-ctr] ERROR: kubeadm init failed" in [l.strip() for l in lines]
    before = len(calls(exe.parent))
    with pytest.raises(LabUnavailable, match="vagrant up"):
        provision(tmp_path, root, exe)
    assert len(calls(exe.parent)) == before


def test_too_old_vagrant_is_named_before_anything_runs(sshd: Server, tmp_path: Path) -> None:
    exe = standin_vagrant(tmp_path / "vagrant", sshd, version="2.4.1")
    with pytest.raises(ConfigError, match=r"^Vagrant 2\.4\.1 found at .*; the lab needs Vagrant 2\.4\.9 or newer"):
        provision(tmp_path, own_lab(tmp_path), exe)
    assert calls(exe.parent) == ["--version"]
