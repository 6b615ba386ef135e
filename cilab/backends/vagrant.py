"""The Vagrant backend: the seed's three VMs, built by `vagrant up` from provisioning/.

Provisioning happens once per run across xdist workers (`provision_once`, under a file
lock in the run's shared folder): a running lab is reused, otherwise `vagrant up` runs
with a bound.  The first worker writes `lab.json` (SSH endpoints from `vagrant
ssh-config`, no key material) and a kubeconfig fetched over SFTP from the control plane
with its server pointed at the control plane's private IP; the kubeconfig is written
0600 and never printed or attached.  Node shells are SSH (one connection per node per
worker); API calls go through `KubeAPI`; helm runs on the control plane.
"""
from __future__ import annotations

import json
import os
import shlex
from dataclasses import asdict
from pathlib import Path

import yaml
from filelock import FileLock, Timeout

from cilab.backends.kube import APIPrimitives, KubeAPI
from cilab.errors import ConfigError, LabUnavailable
from cilab.model import CommandResult
from cilab.ssh import SSHHost, SSHPool
from cilab.vagrant_cli import VagrantCLI

PROVISIONING_DIR = Path(__file__).resolve().parents[2] / "provisioning"
UP_TIMEOUT = 35 * 60.0
CONTROL_PLANE = "k8s-ctr"
REMOTE_KUBECONFIG = "/home/vagrant/.kube/config"
ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"


def _point_kubeconfig_at(text: str, server: str) -> str:
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not doc.get("clusters"):
        raise ConfigError("kubeconfig fetched from the control plane has no clusters")
    for cluster in doc["clusters"]:
        cluster["cluster"]["server"] = server
    return yaml.safe_dump(doc, sort_keys=False)


def provision_once(shared_dir: Path, *, provider: str | None, ctr_ip: str,
                   vagrant_root: Path = PROVISIONING_DIR, lock_timeout: float = UP_TIMEOUT + 600,
                   cli: VagrantCLI | None = None, remote_kubeconfig: str = REMOTE_KUBECONFIG) -> Path:
    """Make sure the lab runs; return the path of lab.json (written by the first worker)."""
    shared_dir = Path(shared_dir)
    info_path = shared_dir / "lab.json"
    try:
        with FileLock(str(shared_dir / "lab.json.lock"), timeout=lock_timeout):
            if info_path.exists():
                return info_path
            cli = cli or VagrantCLI(vagrant_root)
            states = cli.status()
            if not states:
                raise ConfigError(f"vagrant status lists no machines in {vagrant_root}")
            if any(s.state != "running" for s in states):
                cli.up(provider=provider, timeout=UP_TIMEOUT, log=shared_dir / "vagrant-up.log")
            hosts = cli.ssh_config()
            if CONTROL_PLANE not in hosts:
                raise ConfigError(f"vagrant ssh-config has no {CONTROL_PLANE} machine")
            with SSHPool(hosts) as pool:
                raw = pool.read_file(CONTROL_PLANE, remote_kubeconfig).decode("utf-8")
            kubeconfig = shared_dir / "kubeconfig"
            fd = os.open(kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(_point_kubeconfig_at(raw, f"https://{ctr_ip}:6443"))
            info = {"kind": "vagrant", "root": str(vagrant_root), "provider": provider,
                    "kubeconfig": str(kubeconfig),
                    "hosts": {name: asdict(h) for name, h in hosts.items()}}
            tmp = info_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(info, indent=2))
            tmp.replace(info_path)
            return info_path
    except Timeout:
        raise LabUnavailable(f"waited {lock_timeout:g}s for another worker to bring the lab up") from None


def destroy(vagrant_root: Path = PROVISIONING_DIR, timeout: float = 900.0) -> None:
    VagrantCLI(vagrant_root).destroy(timeout=timeout)


class VagrantBackend(APIPrimitives):
    kind = "vagrant"

    def __init__(self, info_path: Path) -> None:
        info = json.loads(Path(info_path).read_text())
        hosts = {name: SSHHost(**{**h, "identity_files": tuple(h["identity_files"])})
                 for name, h in info["hosts"].items()}
        self.ssh = SSHPool(hosts)
        self.api = KubeAPI(info["kubeconfig"], cache_dir=Path(info_path).parent)
        self._nodes = sorted(hosts)

    def node_names(self) -> list[str]:
        return list(self._nodes)

    def node_shell(self, node: str, command: str, timeout: float) -> CommandResult:
        return self.ssh.run(node, f"sudo -n sh -c {shlex.quote(command)}", timeout)

    def helm_upgrade(self, release: str, chart: str, version: str, namespace: str,
                     values: list[str], timeout: float, repo: str | None = None) -> CommandResult:
        remote_dir = "/tmp/cilab-helm"
        self.ssh.run(CONTROL_PLANE, f"mkdir -p {remote_dir}", 30)
        files: list[str] = []
        for i, doc in enumerate(values):
            path = f"{remote_dir}/values-{i}.yaml"
            self.ssh.write_file(CONTROL_PLANE, path, doc.encode("utf-8"))
            files.append(path)
        argv = ["helm", "upgrade", "--install", release, chart, "--version", version,
                "--namespace", namespace, "--kubeconfig", ADMIN_KUBECONFIG,
                "--wait", "--timeout", f"{int(timeout)}s"]
        if repo:
            argv += ["--repo", repo]
        for f in files:
            argv += ["-f", f]
        return self.ssh.run(CONTROL_PLANE, "sudo -n " + shlex.join(argv), timeout + 60)

    def close(self) -> None:
        self.ssh.close()
        self.api.close()
