"""`--lab kubeconfig --allow-helm-changes` leaves the Cilium release exactly as found.

A pytest of its own runs tests/selftest/data/consent_probe.py against the fake API server
(tests/unit/fake_apiserver.py) with the stand-in helm (tests/standin_helm.py) on PATH: the
probe records the release and switches stages the way the stage code does, layered over the
write-up's values.  At the end of the run, and also when the run is stopped mid-test with
SIGINT or SIGTERM (sent to every process of the run, as a terminal's Ctrl-C does), with or
without xdist, `helm get values` and cilium-config are the ones found, the release was
rolled back exactly once, and the restore marker is gone.  A run killed with SIGKILL leaves
the marker, and the next run acts on it first.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.selftest.suite_runner import ROOT
from tests.unit.fake_apiserver import FakeAPIServer

PROBE = ROOT / "tests" / "selftest" / "data" / "consent_probe.py"
FOUND_VALUES = {"hubble": {"enabled": True, "relay": {"enabled": True}, "ui": {"enabled": True}},
                "cluster": {"name": "students-lab"},
                "extraArgs": ["--hubble-redact-enabled", "--hubble-redact-http-urlquery"]}


def _seed(api: FakeAPIServer, tmp: Path) -> tuple[Path, Path, dict[str, Any]]:
    state = tmp / "helm-state.json"
    state.write_text(json.dumps({"revisions": [
        {"revision": 1, "values": {"hubble": {"enabled": False}}, "description": "Install complete"},
        {"revision": 2, "values": FOUND_VALUES, "description": "Upgrade complete"}]}))
    kubeconfig = api.write_kubeconfig(tmp / "kubeconfig")
    env = {**os.environ, "CILAB_STANDIN_HELM_STATE": str(state)}
    from tests.standin_helm import render
    os.environ["CILAB_STANDIN_HELM_STATE"] = str(state)
    try:
        render(FOUND_VALUES, str(kubeconfig))
    finally:
        del os.environ["CILAB_STANDIN_HELM_STATE"]
    bindir = tmp / "bin"
    bindir.mkdir()
    helm = bindir / "helm"
    helm.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'tests' / 'standin_helm.py'))} \"$@\"\n")
    helm.chmod(0o755)
    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    return state, kubeconfig, env


def _seen(api: FakeAPIServer, state: Path) -> tuple[Any, Any, Any]:
    values = json.loads(state.read_text())["revisions"][-1]["values"]
    cfg = (api.get("v1", "ConfigMap", "cilium-config", "kube-system") or {}).get("data")
    ds = api.get("apps/v1", "DaemonSet", "cilium", "kube-system") or {}
    args = ds["spec"]["template"]["spec"]["containers"][0]["args"]
    return values, cfg, args


def _pytest(tmp: Path, kubeconfig: Path, env: dict[str, str], *extra: str,
            stop: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in env.items() if not k.startswith(("PYTEST_", "CILAB_PROBE"))}
    if stop:
        env["CILAB_PROBE_STOP"] = stop
    return subprocess.run([sys.executable, "-m", "pytest", "--lab", "kubeconfig", "--kubeconfig", str(kubeconfig),
                           "--allow-helm-changes", "-q", "-s", "-p", "no:randomly", "--basetemp", str(tmp / "bt"),
                           str(PROBE), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env=env, start_new_session=True)


def _calls(state: Path, verb: str) -> list[list[str]]:
    lines = Path(str(state) + ".log").read_text().splitlines()
    return [c for c in map(json.loads, lines) if c and c[0] == verb]


@pytest.mark.parametrize("stop,workers", [(None, None), ("SIGINT", None), ("SIGTERM", None),
                                          (None, "2"), ("SIGINT", "2")],
                         ids=["completed", "SIGINT", "SIGTERM", "xdist", "xdist-SIGINT"])
def test_the_release_ends_as_found(tmp_path: Path, stop: str | None, workers: str | None) -> None:
    with FakeAPIServer() as api:
        state, kubeconfig, env = _seed(api, tmp_path)
        found = _seen(api, state)
        # interrupted: in its first stage change (the second test never starts without xdist)
        extra = ["-n", workers or "0", "-k", "stage_changed"]
        run = _pytest(tmp_path, kubeconfig, env, *extra, stop=stop)
        out = run.stdout + run.stderr
        assert run.returncode == (2 if stop and not workers else run.returncode), out[-3000:]
        upgrades = _calls(state, "upgrade")
        assert upgrades, "the probe changed nothing:\n" + out[-3000:]
        # every revision the run made kept the student's own settings (stages over the values found)
        made = json.loads(state.read_text())["revisions"][2:]
        assert all(r["values"].get("cluster") == {"name": "students-lab"} for r in made), made
        assert _calls(state, "rollback") == [_calls(state, "rollback")[0]] and \
            _calls(state, "rollback")[0][:3] == ["rollback", "cilium", "2"], out[-3000:]
        assert _seen(api, state) == found, out[-3000:]
        assert api.get("v1", "ConfigMap", "cilab-restore", "kube-system") is None
        assert "[cilab] stage: Helm release cilium restored to revision 2 as found " \
               "(helm rollback; helm get values as found)" in out, out[-3000:]


def test_a_killed_runs_marker_is_acted_on_by_the_next_run(tmp_path: Path) -> None:
    with FakeAPIServer() as api:
        state, kubeconfig, env = _seed(api, tmp_path)
        found = _seen(api, state)
        killed = _pytest(tmp_path, kubeconfig, env, "-n", "0", "-k", "hubble", stop="SIGKILL")
        assert killed.returncode == -9, killed.stdout[-2000:]
        marker = api.get("v1", "ConfigMap", "cilab-restore", "kube-system")
        assert marker is not None and marker["data"]["revision"] == "2"
        assert "students-lab" not in json.dumps(marker["data"])  # names the revision; holds no values
        assert _seen(api, state) != found and not _calls(state, "rollback")
        (tmp_path / "next").mkdir()
        nxt = _pytest(tmp_path / "next", kubeconfig, env, "-n", "0", "-k", "next_run")
        out = nxt.stdout + nxt.stderr
        assert nxt.returncode == 0, out[-3000:]
        assert ("stage: an earlier run (run id " in out and "was stopped before it restored the Helm release "
                "cilium: rolling it back to revision 2 first (marker kube-system/cilab-restore)" in out), out[-3000:]
        assert _seen(api, state) == found
        assert api.get("v1", "ConfigMap", "cilab-restore", "kube-system") is None
