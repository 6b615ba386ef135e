"""`--lab kubeconfig` on a cluster whose nodes are not named as in the write-up (issue 15
point 7): the nodes are found by role (control plane by its role label, the workers in name
order), curl-pod is pinned to the control-plane node, and the report names the real nodes.
A cluster with fewer than three nodes, or none labelled control-plane, is refused in one
line, with nothing created.  A pytest of its own runs tests/selftest/data/roles_probe.py
against the fake API server (tests/unit/fake_apiserver.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.selftest.suite_runner import PORT_FORWARD_PID, ROOT, half_created
from tests.unit.fake_apiserver import FakeAPIServer

PROBE = ROOT / "tests" / "selftest" / "data" / "roles_probe.py"


def _pytest(tmp: Path, kubeconfig: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["TMPDIR"] = str(_scratch(tmp))  # the run's API discovery cache must not outlive it there
    return subprocess.run([sys.executable, "-m", "pytest", "--lab", "kubeconfig", "--kubeconfig", str(kubeconfig),
                           "-q", "-s", "-p", "no:randomly", "-n", "0", "--basetemp", str(tmp / "bt"), *extra,
                           str(PROBE)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)


def _scratch(tmp: Path) -> Path:
    folder = tmp / "tmpdir"
    folder.mkdir(exist_ok=True)
    return folder


def _left_in_tmpdir(tmp: Path) -> list[str]:
    """What a run left in its TMPDIR besides pytest's own basetemp: the kubernetes client's
    API discovery cache used to stay there (`cilab-discovery-<server>-<worker>.json`), and a
    later run against a server on the same address read it instead of asking."""
    return sorted(p.name for p in _scratch(tmp).iterdir())


def test_pods_are_placed_and_nodes_named_by_role(tmp_path: Path) -> None:
    with FakeAPIServer(nodes=("node-b", "cp-1", "node-a"), control_plane=("cp-1",)) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        run = _pytest(tmp_path, kubeconfig)
        out = run.stdout + run.stderr
        assert run.returncode == 0, out[-3000:]
        pod = api.get("v1", "Pod", "curl-pod", "cilab-roles-probe")
        assert pod is not None and pod["spec"]["nodeName"] == "cp-1", pod
    assert _left_in_tmpdir(tmp_path) == [], _left_in_tmpdir(tmp_path)
    assert "PROBE placed curl-pod on cp-1" in out, out[-3000:]
    assert "PROBE roles: k8s-ctr is cp-1, k8s-w1 is node-a, k8s-w2 is node-b" in out, out[-3000:]
    assert (f"PROBE label: kubeconfig lab ({kubeconfig}): cp-1 (k8s-ctr), node-a (k8s-w1), node-b (k8s-w2)"
            in out), out[-3000:]


def _refused(tmp_path: Path, nodes: tuple[str, ...], control_plane: tuple[str, ...]) -> tuple[str, str]:
    with FakeAPIServer(nodes=nodes, control_plane=control_plane) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        pid_before = PORT_FORWARD_PID.exists()
        outputs = (tmp_path / "out" / "record", tmp_path / "out" / "calls.log")
        run = _pytest(tmp_path, kubeconfig, f"--record={outputs[0]}", f"--call-log={outputs[1]}")
        left = half_created(outputs, api, pid_before)  # nothing half-created: no write to the API server
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]
    assert "Traceback" not in run.stdout + run.stderr and not left, left
    assert _left_in_tmpdir(tmp_path) == [], _left_in_tmpdir(tmp_path)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    return lines[0], str(kubeconfig)


def test_fewer_than_three_nodes_is_one_line(tmp_path: Path) -> None:
    line, kubeconfig = _refused(tmp_path, ("cp-1", "node-a"), ("cp-1",))
    assert line == (f"ERROR: the cluster of {kubeconfig} has 2 node(s) (cp-1, node-a); the write-up's lab has "
                    "three, a control plane and two workers (k8s-ctr, k8s-w1, k8s-w2), and the chapters need all three")


def test_no_control_plane_label_is_one_line(tmp_path: Path) -> None:
    line, kubeconfig = _refused(tmp_path, ("cp-1", "node-a", "node-b"), ())
    assert line == (f"ERROR: no node of the cluster of {kubeconfig} (cp-1, node-a, node-b) carries the label "
                    "node-role.kubernetes.io/control-plane: the suite runs the student's k8s-ctr commands and "
                    "places curl-pod on the control-plane node; label it with "
                    "`kubectl label node NAME node-role.kubernetes.io/control-plane=`")
