"""The kubeconfig backend never changes a cluster it did not build unless told to."""
from __future__ import annotations

from pathlib import Path

import pytest

from cilab.backends.kube import KubeconfigBackend
from cilab.errors import ConfigError

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-used}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_helm_upgrade_needs_allow_helm_changes(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    kc.write_text(KUBECONFIG)
    ssh = tmp_path / "ssh_config"
    ssh.write_text("Host k8s-ctr\n  HostName 127.0.0.1\n  User root\n")
    backend = KubeconfigBackend(kc, ssh_config=ssh, helm="/bin/false")
    with pytest.raises(ConfigError, match="--allow-helm-changes"):
        backend.helm_upgrade("cilium", "cilium", "1.17.6", "kube-system", ["hubble: {}"], 60)
    allowed = KubeconfigBackend(kc, ssh_config=ssh, helm="/bin/false", allow_helm_changes=True)
    result = allowed.helm_upgrade("cilium", "cilium", "1.17.6", "kube-system", ["hubble: {}"], 60)
    assert result.rc == 1  # /bin/false ran: the guard let it through
