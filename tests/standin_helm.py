#!/usr/bin/env python3
"""A stand-in `helm` for tests: the Cilium release of a fake API server (tests/unit/fake_apiserver.py).

It answers the helm commands the suite runs (cilab.backends.kube, cilab.backends.base) with
helm 3's semantics for what the suite relies on, and nothing else:

* `upgrade --install REL CHART --version V -f F1 -f F2 ...` (no --reuse-values): a new
  revision whose values are F1, F2, ... merged left to right (maps deep-merged, lists
  replaced), as helm merges -f files over the chart's defaults;
* `history REL --max 1 -o json`: the last revision (`revision`, `chart`, `status`);
* `get values REL -o json [--revision N]`: the values of that revision (`null` when none);
* `rollback REL N`: a new revision with N's values.

After each change it renders the current values into the fake server like the chart would,
for what the suite reads: ConfigMap kube-system/cilium-config (`enable-hubble`,
`cluster-name`, the `hubble-redact-*` keys) and the agent DaemonSet's args (extraArgs),
through the server's own API (server-side apply), with the kubeconfig it was given.

The release lives in `$CILAB_STANDIN_HELM_STATE` (a JSON file); every call is appended to
`$CILAB_STANDIN_HELM_STATE.log`.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml


def helm_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """How helm 3 merges one -f file over the values before it: maps deep-merged, anything
    else (lists included) replaced.  The model of helm the test doubles share."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = helm_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else copy.deepcopy(value)
    return out


def _opt(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def _positional(argv: list[str]) -> list[str]:
    takes_value = {"--version", "--namespace", "-n", "--kubeconfig", "--kube-context", "--timeout", "--repo",
                   "-f", "--values", "--max", "--output", "-o", "--revision"}
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def render(values: dict[str, Any], kubeconfig: str) -> None:
    hubble = values.get("hubble") or {}
    cfg = {"enable-hubble": "true" if hubble.get("enabled") else "false", "debug": "true",
           "cluster-name": str((values.get("cluster") or {}).get("name", "default"))}
    if (hubble.get("redact") or {}).get("enabled"):
        cfg["hubble-redact-enabled"] = "true"
        cfg["hubble-redact-http-urlquery"] = str(bool(((hubble.get("redact") or {}).get("http") or {})
                                                      .get("urlQuery"))).lower()
    args = ["--config-dir=/tmp/cilium/config-map", *[str(a) for a in values.get("extraArgs") or []]]
    kc = yaml.safe_load(Path(kubeconfig).read_text())
    server = kc["clusters"][0]["cluster"]["server"]
    token = kc["users"][0]["user"]["token"]
    for path, obj in (
            ("/api/v1/namespaces/kube-system/configmaps/cilium-config",
             {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "cilium-config", "namespace": "kube-system"}, "data": cfg}),
            ("/apis/apps/v1/namespaces/kube-system/daemonsets/cilium",
             {"apiVersion": "apps/v1", "kind": "DaemonSet",
              "metadata": {"name": "cilium", "namespace": "kube-system"},
              "spec": {"template": {"spec": {"containers": [
                  {"name": "cilium-agent", "image": "quay.io/cilium/cilium:v1.17.6", "command": ["cilium-agent"],
                   "args": args}]}}}})):
        req = urllib.request.Request(server + path + "?fieldManager=helm&force=true", method="PATCH",
                                     data=json.dumps(obj).encode(),
                                     headers={"Content-Type": "application/apply-patch+yaml",
                                              "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()


def main(argv: list[str]) -> int:
    state_path = Path(os.environ["CILAB_STANDIN_HELM_STATE"])
    with open(str(state_path) + ".log", "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    state = json.loads(state_path.read_text())
    revisions: list[dict[str, Any]] = state["revisions"]
    kubeconfig = _opt(argv, "--kubeconfig") or os.environ.get("KUBECONFIG", "")
    pos = _positional(argv)
    if not pos:
        print("Error: no command", file=sys.stderr)
        return 1
    if pos[0] == "history":
        last = revisions[-1]
        print(json.dumps([{"revision": last["revision"], "updated": "2026-12-05T00:00:00Z", "status": "deployed",
                           "chart": "cilium-1.17.6", "app_version": "1.17.6", "description": last["description"]}]))
        return 0
    if pos[:2] == ["get", "values"]:
        want = _opt(argv, "--revision")
        rev = revisions[-1] if want is None else next((r for r in revisions if r["revision"] == int(want)), None)
        if rev is None:
            print(f"Error: release: not found (revision {want})", file=sys.stderr)
            return 1
        print(json.dumps(rev["values"] or None))
        return 0
    if pos[0] == "upgrade":
        if "--reuse-values" in argv or "--reset-then-reuse-values" in argv:
            print("Error: the stand-in helm models upgrades without --reuse-values only", file=sys.stderr)
            return 1
        merged: dict[str, Any] = {}
        for i, arg in enumerate(argv):
            if arg in ("-f", "--values"):
                merged = helm_merge(merged, yaml.safe_load(Path(argv[i + 1]).read_text()) or {})
        revisions.append({"revision": revisions[-1]["revision"] + 1, "values": merged,
                          "description": "Upgrade complete"})
        print(f'Release "{pos[1]}" has been upgraded. Happy Helming!\nREVISION: {revisions[-1]["revision"]}')
    elif pos[0] == "rollback":
        target = next((r for r in revisions if r["revision"] == int(pos[2])), None)
        if target is None:
            print(f"Error: release has no {pos[2]} version", file=sys.stderr)
            return 1
        revisions.append({"revision": revisions[-1]["revision"] + 1, "values": copy.deepcopy(target["values"]),
                          "description": f"Rollback to {pos[2]}"})
        print("Rollback was a success! Happy Helming!")
    else:
        print(f"Error: unknown command {pos[0]!r} for the stand-in helm", file=sys.stderr)
        return 1
    state_path.write_text(json.dumps(state, indent=2))
    render(revisions[-1]["values"], kubeconfig)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
