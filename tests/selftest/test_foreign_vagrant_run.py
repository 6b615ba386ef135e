"""A whole pytest run, through the suite's own plugin, of

    pytest --lab vagrant --vagrant-dir <a write-up folder> --allow-helm-changes --allow-monitoring-example

against the loopback lab doubles: the stand-in `vagrant` (Vagrant 2.3.4, as Debian ships it:
a lab of the student's own is not held to the suite's 2.4.9 floor) whose machines are a real
sshd on 127.0.0.1; helm and kubectl run on "k8s-ctr" with the real `sudo -n` over SSH (the
stand-ins, tests/standin_helm.py and tests/standin_kubectl.py) against the fake API server;
Prometheus and Grafana answer on a loopback address.  The options are given in the space
form (`--vagrant-dir DIR`), as the docs print them.

With consent the run records the release, layers its stages over the values found, applies
the monitoring example, and at the end (also after Ctrl-C or SIGTERM mid-run) removes the
example and rolls the release back: `helm get values`, cilium-config and the agent's
arguments are as found, every object of the API server found is there and nothing else is.
Without the options nothing changes at all: no helm upgrade or rollback, no kubectl call,
every object with its resourceVersion as found, and the monitoring scenario is skipped with
the reason naming --allow-monitoring-example.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.monitoring_doubles import kubectl_calls, kubectl_script, nodes_at, readiness_endpoints, write_manifest
from tests.selftest.test_consent_restore import FOUND_VALUES, _calls, _seen
from tests.standin_vagrant import standin
from tests.unit.fake_apiserver import FakeAPIServer
from tests.unit.sshd_server import loopback_sshd
from tests.unit.test_consent_vagrant_loopback import _helm_on_the_node

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "tests" / "selftest" / "data" / "foreign_lab_probe.py"


@pytest.mark.parametrize("stop,consent", [(None, True), ("SIGINT", True), ("SIGTERM", True), (None, False)],
                         ids=["consent", "consent-SIGINT", "consent-SIGTERM", "no-consent"])
def test_a_write_up_lab_run_ends_as_found(tmp_path: Path, stop: str | None, consent: bool) -> None:
    writeup = tmp_path / "cilium-lab"
    writeup.mkdir()
    (writeup / "Vagrantfile").write_text("# the write-up's Vagrantfile (seed 341-350)\n")
    manifests = tmp_path / "manifests"
    write_manifest(manifests)
    state = tmp_path / "helm-state.json"
    state.write_text(json.dumps({"revisions": [
        {"revision": 1, "values": {"hubble": {"enabled": False}}, "description": "Install complete"},
        {"revision": 2, "values": FOUND_VALUES, "description": "Upgrade complete"}]}))
    try:
        with loopback_sshd(tmp_path / "sshd") as server, FakeAPIServer() as api, \
                readiness_endpoints() as address:
            nodes_at(api, address)
            admin = api.write_kubeconfig(tmp_path / "admin.conf")  # the node's admin.conf, read with sudo
            admin.chmod(0o600)
            os.environ["CILAB_STANDIN_HELM_STATE"] = str(state)
            try:
                from tests.standin_helm import render
                render(FOUND_VALUES, str(admin))
            finally:
                del os.environ["CILAB_STANDIN_HELM_STATE"]
            found = _seen(api, state)
            store = {k: v["metadata"]["resourceVersion"] for k, v in api.store.items()}
            exe = standin(tmp_path / "vagrant", port=server.port, user=server.user, key=server.key, version="2.3.4")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
            env.update(VAGRANT_EXE=str(exe), CILAB_TEST_MARKER_DIR=str(tmp_path / "markers" / "{node}"),
                       CILAB_TEST_ADMIN_CONF=str(admin), CILAB_TEST_NODE_LOGS=str(tmp_path / "nodelogs"),
                       CILAB_TEST_API_SERVER=api.url, CILAB_TEST_HELM=str(_helm_on_the_node(tmp_path, state)),
                       CILAB_TEST_HELM_VALUES_DIR=str(tmp_path / "remote-helm"),
                       CILAB_TEST_KUBECTL=str(kubectl_script(manifests)))
            if stop:
                env["CILAB_PROBE_STOP"] = stop
            opt_in = ["--allow-helm-changes", "--allow-monitoring-example"] if consent else []
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "--lab", "vagrant", "--vagrant-dir", str(writeup), *opt_in,
                 "-p", "tests.selftest.loopback_lab_plugin", "-q", "-s", "-rs", "-p", "no:randomly", "-n", "0",
                 "--basetemp", str(tmp_path / "bt"), str(PROBE)],
                cwd=ROOT, capture_output=True, text=True, timeout=240, env=env, start_new_session=True)
            out = proc.stdout + proc.stderr
            ended = {k: v["metadata"]["resourceVersion"] for k, v in api.store.items()}
            seen = _seen(api, state)
    except RuntimeError as exc:  # no sshd on this machine
        pytest.fail(str(exc), pytrace=False)
    assert "[cilab] Vagrant 2.3.4 in " in out, out[-3000:]  # printed, and the run goes on
    verbs = [next(a for a in c if a in ("apply", "get", "delete", "patch")) for c in kubectl_calls(manifests)]
    if not consent:
        assert proc.returncode == 0, out[-3000:]
        assert not Path(f"{state}.log").exists(), out[-3000:]  # helm never ran: no upgrade, no rollback
        assert verbs == [] and ended == store and seen == found
        assert any(line.startswith("SKIPPED") and line.endswith(
            "not checked: this scenario needs Cilium's monitoring example (namespace cilium-monitoring), but the "
            "lab was found without it and the suite applies it to a lab it did not build only with "
            "--allow-monitoring-example (it is removed again at the end of the run)")
            for line in out.splitlines()), out[-3000:]
        return
    assert proc.returncode == (2 if stop else 0), out[-3000:]
    # record -> layer: every revision the run made kept the student's own settings
    made = json.loads(state.read_text())["revisions"][2:-1]
    assert made and all(r["values"].get("cluster") == {"name": "students-lab"} for r in made), made
    assert made[0]["values"]["hubble"]["ui"]["service"]["nodePort"] == 31234  # hubble.yaml over the values found
    # -> restore: rolled back once, to the revision found; the example applied and removed again
    assert [c[:3] for c in _calls(state, "rollback")] == [["rollback", "cilium", "2"]], out[-3000:]
    assert verbs[:2] == ["get", "apply"] and verbs[-1] == "delete", verbs
    assert seen == found
    assert ended.keys() == store.keys(), sorted(set(ended) ^ set(store))  # markers and example gone
    assert "[cilab] stage: Helm release cilium restored to revision 2 as found " \
           "(helm rollback; helm get values as found)" in out, out[-3000:]
    assert "[cilab] monitoring: the example this run applied is removed again (kubectl delete -f " in out
