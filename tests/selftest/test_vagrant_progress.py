"""`pytest -n 2 --lab vagrant` with the stand-in `vagrant` and the loopback sshd: one worker
brings up the machine that is missing, the terminal (the xdist controller's) shows a line
per machine and phase with the elapsed time and the log's path, and the provisioning log
is attached to the Allure report and kept in the log folder.

The stand-in lab has no API server (its control plane "address" is 127.0.0.100, where
nothing listens, so no traffic leaves the host): after provisioning, the stage step stops
the run as "lab unavailable", which this test also checks.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standin_vagrant import calls, standin, write_markers
from tests.unit.sshd_server import loopback_sshd

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: kubernetes, cluster: {server: "https://10.0.2.15:6443", certificate-authority-data: Q0E=}}]
users: [{name: kubernetes-admin, user: {token: not-a-real-token}}]
contexts: [{name: kubernetes-admin@kubernetes, context: {cluster: kubernetes, user: kubernetes-admin}}]
current-context: kubernetes-admin@kubernetes
"""


def _attachments(node: object) -> list[dict[str, str]]:
    """Every attachment of an Allure result or container, at any depth (steps, fixtures)."""
    found: list[dict[str, str]] = []
    if isinstance(node, dict):
        found += [a for a in node.get("attachments") or [] if isinstance(a, dict)]
        for key in ("steps", "befores", "afters"):
            for child in node.get(key) or []:
                found += _attachments(child)
    return found


def test_vagrant_run_shows_progress_and_attaches_the_provisioning_log(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    (lab / "lib").mkdir(parents=True)
    for rel in ("Vagrantfile", "versions.env", "lib/cilab_lab.rb"):
        shutil.copy(ROOT / "provisioning" / rel, lab / rel)
    admin = tmp_path / "admin.conf"
    admin.write_text(KUBECONFIG)
    admin.chmod(0o600)
    logs, allure = tmp_path / "logs", tmp_path / "allure"
    try:
        with loopback_sshd(tmp_path / "sshd") as server:
            exe = standin(tmp_path / "vagrant", port=server.port, user=server.user, key=server.key, machines={
                "k8s-ctr": ("running", "libvirt"), "k8s-w1": ("running", "libvirt"),
                "k8s-w2": ("not_created", "libvirt")})
            write_markers(exe.parent / "markers", "k8s-ctr")
            write_markers(exe.parent / "markers", "k8s-w1")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
            env.update(VAGRANT_EXE=str(exe), NODE_IP_PREFIX="127.0.0", CTR_IP="127.0.0.100",
                       CILAB_TEST_MARKER_DIR=str(exe.parent / "markers" / "{node}"),
                       CILAB_TEST_ADMIN_CONF=str(admin), CILAB_TEST_NODE_LOGS=str(tmp_path / "nodelogs"))
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-n", "2", "--lab", "vagrant", "-p", "tests.selftest.loopback_lab_plugin",
                 f"--vagrant-dir={lab}", f"--provisioning-logs={logs}", f"--alluredir={allure}",
                 "--basetemp", str(tmp_path / "bt"), "-p", "no:randomly", "-k", "before_the_upgrade"],
                cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    out = proc.stdout + proc.stderr
    up_log = logs / "vagrant-up.log"
    # the terminal shows the lines, in order, with the log's path
    lines = [l for l in out.splitlines() if l.startswith("[cilab] ")]
    phases = [l.split(",")[0] for l in lines if l.startswith("[cilab] k8s-w2: ")]
    assert phases == ["[cilab] k8s-w2: box", "[cilab] k8s-w2: boot", "[cilab] k8s-w2: base packages",
                      "[cilab] k8s-w2: kubeadm", "[cilab] k8s-w2: done"], out
    assert all(re.search(rf", \d+s, log {re.escape(str(up_log))}$", l) for l in lines if l.startswith("[cilab] k8s-w2: ")), lines
    assert f"[cilab] vagrant up: k8s-w2 not running; log {up_log}" in lines
    assert any(l.startswith("[cilab] every node provisioned") for l in lines), lines
    assert [c for c in calls(exe.parent) if c.split()[0] in ("up", "provision")] == ["up"]
    # the log is kept for CI and attached to the report
    assert "Running provisioner: k8s-w.sh" in up_log.read_text()
    attached = [a for f in allure.glob("*.json") if f.name != "categories.json"
                for a in _attachments(json.loads(f.read_text()))]
    assert "provisioning log vagrant-up.log" in [a["name"] for a in attached], attached
    source = next(a["source"] for a in attached if a["name"] == "provisioning log vagrant-up.log")
    assert "==> k8s-w2: Importing base box" in (allure / source).read_text()
    # no API server behind the stand-in: the run stops as a lab that is unavailable
    assert proc.returncode != 0 and "lab unavailable" in out, out
