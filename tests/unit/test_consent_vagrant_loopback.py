"""`--vagrant-dir` on a write-up lab folder, end to end on loopback: the stand-in `vagrant`
(tests/standin_vagrant.py) points at a real sshd on 127.0.0.1, helm runs on "k8s-ctr" with
the real `sudo -n` over that SSH connection (the stand-in helm, tests/standin_helm.py), and the
Cilium release it keeps is rendered into the fake API server (tests/unit/fake_apiserver.py).

Without consent the backend refuses any upgrade; with it, the release is recorded, a stage is
layered over the values found, and the restore leaves `helm get values`, cilium-config and the
agent's arguments as found, with the marker gone.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from cilab.backends import vagrant
from cilab.backends.kube import KubeAPI
from cilab.consent import MARKER, found_release, record_release, restore_release
from cilab.errors import ConfigError
from cilab.lab import Lab
from cilab.retry import VirtualClock
from cilab.stages import apply_stage, detect_stage
from tests.selftest.test_consent_restore import FOUND_VALUES, _seen
from tests.unit.fake_apiserver import FakeAPIServer
from tests.unit.sshd_server import Server
from tests.unit.test_vagrant_backend_loopback import provision, standin_vagrant

ROOT = Path(__file__).resolve().parents[2]


def _helm_on_the_node(tmp: Path, state: Path) -> Path:
    """The stand-in helm as an absolute path (sudo resets PATH and the environment)."""
    exe = tmp / "helm"
    exe.write_text(f"#!/bin/sh\nCILAB_STANDIN_HELM_STATE={shlex.quote(str(state))} exec {shlex.quote(sys.executable)} "
                   f"{shlex.quote(str(ROOT / 'tests' / 'standin_helm.py'))} \"$@\"\n")
    exe.chmod(0o755)
    return exe


def test_a_write_up_lab_folder_is_changed_only_with_consent_and_restored(
        sshd: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writeup = tmp_path / "cilium-lab"
    writeup.mkdir()
    (writeup / "Vagrantfile").write_text("# the write-up's Vagrantfile (seed 341-350)\n")
    exe = standin_vagrant(tmp_path / "vagrant", sshd)
    info_path = provision(tmp_path, writeup, exe)
    with FakeAPIServer() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "fake-admin.conf")
        state = tmp_path / "helm-state.json"
        state.write_text(json.dumps({"revisions": [
            {"revision": 1, "values": {"hubble": {"enabled": False}}, "description": "Install complete"},
            {"revision": 2, "values": FOUND_VALUES, "description": "Upgrade complete"}]}))
        from tests.standin_helm import render
        render(FOUND_VALUES, str(kubeconfig))
        found = _seen(api, state)
        monkeypatch.setattr(vagrant, "HELM", str(_helm_on_the_node(tmp_path, state)))
        monkeypatch.setattr(vagrant, "ADMIN_KUBECONFIG", str(kubeconfig))
        monkeypatch.setattr(vagrant, "HELM_VALUES_DIR", str(tmp_path / "remote-helm"))
        backend = vagrant.VagrantBackend(info_path)
        backend.api.close()
        backend.api = KubeAPI(kubeconfig)  # the API server on loopback, not the lab's address
        lab = Lab(backend, clock=VirtualClock(), info={"run_id": "feedbeef"})
        try:
            assert backend.suite_built is False and backend.allow_helm_changes is False
            with pytest.raises(ConfigError, match="did not build: pass --allow-helm-changes"):
                apply_stage(lab, "hubble", "1.17.6")
            assert _seen(api, state) == found and detect_stage(lab)["stage"] == "redaction"

            backend.allow_helm_changes = True  # --allow-helm-changes
            shared = tmp_path / "shared"
            lab.info["helm_found"] = record_release(lab, shared, "feedbeef", lambda line: None)
            assert found_release(shared)["revision"] == 2
            assert api.get("v1", "ConfigMap", MARKER, "kube-system")["data"]["revision"] == "2"
            apply_stage(lab, "hubble", "1.17.6")
            values, cfg, args = _seen(api, state)
            assert detect_stage(lab)["stage"] == "hubble"
            assert values["cluster"] == {"name": "students-lab"} and cfg["cluster-name"] == "students-lab"
            assert values["hubble"]["ui"]["service"]["nodePort"] == 31234  # hubble.yaml over the values found
            assert not (tmp_path / "remote-helm").exists()  # the values files do not stay on the node
            lines: list[str] = []
            assert restore_release(lab, shared, lines.append)
            assert _seen(api, state) == found
            assert api.get("v1", "ConfigMap", MARKER, "kube-system") is None
            assert lines == ["stage: Helm release cilium restored to revision 2 as found "
                             "(helm rollback; helm get values as found)"]
        finally:
            lab.close()
