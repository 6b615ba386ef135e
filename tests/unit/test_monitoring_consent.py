"""The monitoring example on a lab the suite did not build (`--vagrant-dir` on a write-up
folder), end to end on loopback: the stand-in `vagrant` points at a real sshd on 127.0.0.1,
kubectl runs on "k8s-ctr" with the real `sudo -n` over that SSH connection (the stand-in
kubectl, tests/standin_kubectl.py, against the fake API server), and Prometheus and Grafana
answer their readiness endpoints on a loopback address.

Found: checked as found, nothing applied.  Not found without --allow-monitoring-example:
nothing applied, the reason names the option.  Not found with it: applied behind a marker and
removed again, leaving the API server's objects exactly as found; a run killed before the
removal leaves the marker, and the next run removes what it names first.  Objects of the
example already there (its cluster-wide ones): nothing applied, the reason names them.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cilab import monitoring
from cilab.backends import vagrant
from cilab.backends.kube import KubeAPI
from cilab.lab import Lab
from cilab.retry import VirtualClock
from tests.monitoring_doubles import (SHARED_OBJECT, kubectl_calls, kubectl_script, nodes_at, readiness_endpoints,
                                      write_manifest)
from tests.unit.fake_apiserver import FakeAPIServer
from tests.unit.sshd_server import Server
from tests.unit.test_vagrant_backend_loopback import provision, standin_vagrant


@dataclass
class Setup:
    lab: Lab
    api: FakeAPIServer
    tmp: Path
    manifests: Path

    def store(self) -> dict[tuple[str, str, str | None, str], str]:
        """Every object of the API server (by key) with its resourceVersion."""
        return {k: v["metadata"]["resourceVersion"] for k, v in self.api.store.items()}

    def verbs(self) -> list[str]:
        return [next(a for a in c if a in ("apply", "get", "delete", "patch")) for c in kubectl_calls(self.manifests)]


@pytest.fixture
def setup(sshd: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    writeup = tmp_path / "cilium-lab"
    writeup.mkdir()
    (writeup / "Vagrantfile").write_text("# the write-up's Vagrantfile (seed 341-350)\n")
    info_path = provision(tmp_path, writeup, standin_vagrant(tmp_path / "vagrant", sshd))
    manifests = tmp_path / "manifests"
    write_manifest(manifests)
    with FakeAPIServer() as api, readiness_endpoints() as address:
        nodes_at(api, address)
        kubeconfig = api.write_kubeconfig(tmp_path / "fake-admin.conf")
        monkeypatch.setattr(monitoring, "KUBECTL", str(kubectl_script(manifests)))
        monkeypatch.setattr(monitoring, "KUBECONFIG", str(kubeconfig))
        backend = vagrant.VagrantBackend(info_path)
        backend.api.close()
        backend.api = KubeAPI(kubeconfig)  # the API server on loopback, not the lab's address
        lab = Lab(backend, clock=VirtualClock(), info={"run_id": "feedbeef"})
        assert backend.suite_built is False
        backend.allow_monitoring_example = False
        try:
            yield Setup(lab, api, tmp_path, manifests)
        finally:
            lab.close()


def test_not_found_and_no_consent_applies_nothing(setup: Setup) -> None:
    before = setup.store()
    (setup.tmp / "run").mkdir()
    record = monitoring.ensure_monitoring(setup.lab, setup.tmp / "run", "1.17.6")
    assert record == {"deployed": False, "not_checked": monitoring.not_checked_line()}
    assert record["not_checked"] == (
        "not checked: this scenario needs Cilium's monitoring example (namespace cilium-monitoring), but the lab "
        "was found without it and the suite applies it to a lab it did not build only with "
        "--allow-monitoring-example (it is removed again at the end of the run)")
    assert setup.verbs() == [] and setup.store() == before
    assert not monitoring.remove_example(setup.lab, setup.tmp / "run", print)


def test_found_is_checked_as_found_even_with_consent(setup: Setup) -> None:
    setup.api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cilium-monitoring"}})
    setup.lab.backend.allow_monitoring_example = True
    before = setup.store()
    (setup.tmp / "run").mkdir()
    record = monitoring.ensure_monitoring(setup.lab, setup.tmp / "run", "1.17.6")
    assert record["deployed"] and record["applied_by_this_run"] is False
    assert record["found"] == {"prometheus": "absent", "grafana": "absent"}  # as found: the scenarios judge it
    assert setup.verbs() == [] and setup.store() == before
    assert not monitoring.remove_example(setup.lab, setup.tmp / "run", print)  # never removes what it found


def test_applied_with_consent_and_removed_again(setup: Setup) -> None:
    setup.lab.backend.allow_monitoring_example = True
    before = setup.store()
    run = setup.tmp / "run"
    run.mkdir()
    record = monitoring.ensure_monitoring(setup.lab, run, "1.17.6")
    assert record["deployed"] and record["applied_by_this_run"], record
    assert setup.verbs() == ["get", "apply", "patch", "patch"]
    assert setup.api.get("v1", "Service", "grafana", "cilium-monitoring")["spec"]["ports"][0]["nodePort"] == 30002
    marker = setup.api.get("v1", "ConfigMap", monitoring.MARKER, "kube-system")
    assert marker["data"]["url"] == monitoring.example_url("1.17.6") and marker["data"]["run-id"] == "feedbeef"
    assert record["rollout"]["grafana /api/health"] == "database 'ok'"
    lines: list[str] = []
    assert monitoring.remove_example(setup.lab, run, lines.append)
    assert setup.verbs()[-1] == "delete"
    assert setup.store().keys() == before.keys()  # the namespace, the cluster-wide object, the marker: gone
    assert lines == ["monitoring: the example this run applied is removed again (kubectl delete -f "
                     "https://raw.githubusercontent.com/cilium/cilium/1.17.6/examples/kubernetes/addons/prometheus/"
                     "monitoring-example.yaml; namespace cilium-monitoring gone), the lab is as found"]
    assert not monitoring.remove_example(setup.lab, run, lines.append)  # once


def test_a_killed_runs_example_is_removed_by_the_next_run(setup: Setup) -> None:
    setup.lab.backend.allow_monitoring_example = True
    before = setup.store()
    (setup.tmp / "killed").mkdir()
    monitoring.ensure_monitoring(setup.lab, setup.tmp / "killed", "1.17.6")  # never removed: SIGKILL
    assert setup.api.get("v1", "ConfigMap", monitoring.MARKER, "kube-system") is not None
    lines: list[str] = []
    data = monitoring.remove_left_over(setup.lab, lines.append)
    assert data is not None and data["run-id"] == "feedbeef"
    assert lines == ["monitoring: an earlier run (run id feedbeef) was stopped before it removed the monitoring "
                     "example it applied: removing it first (marker kube-system/cilab-remove-monitoring)"]
    assert setup.store().keys() == before.keys()
    assert monitoring.remove_left_over(setup.lab, lines.append) is None


def test_objects_of_the_example_already_there_are_not_touched(setup: Setup) -> None:
    kind, ns, name = SHARED_OBJECT
    setup.api.put({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "data": {"mine": "1"}})
    setup.lab.backend.allow_monitoring_example = True
    before = setup.store()
    (setup.tmp / "run").mkdir()
    record = monitoring.ensure_monitoring(setup.lab, setup.tmp / "run", "1.17.6")
    assert record["deployed"] is False
    assert record["not_checked"].startswith(
        "not checked: this scenario needs Cilium's monitoring example, but the lab was found without namespace "
        f"cilium-monitoring and with objects of the example already there (configmap/{name}); with "
        "--allow-monitoring-example the suite applies it only to a lab holding none of them"), record
    assert setup.verbs() == ["get"] and setup.store() == before
