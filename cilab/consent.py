"""A lab the suite did not build: checked as found, changed only with consent, restored.

A lab the suite built (provisioning/, the replay lab) is the suite's own: its stages are
switched with provisioning/helm/*.yaml alone.  A lab the suite did not build (`--vagrant-dir`
on the write-up's folder, `--lab kubeconfig`) belongs to the student.  Its backend says so
(`suite_built = False`), and its Cilium release is changed only when `--allow-helm-changes`
was given (`allow_helm_changes`).  Without it every stage is checked as found and the
scenarios that need another stage are skipped with one line naming the opt-in
(`not_checked`).

With consent, before the first change, the release is recorded (`record_release`): its
current revision (`helm history --max 1`) and the values it was given (`helm get values`).
A marker, the ConfigMap kube-system/cilab-restore, names the revision to go back to and a
digest of the values; it holds no values, so no secret.  The suite's stage values are then
layered OVER the values found (`layered_values`): the documents passed with -f are the found
values first, then the stage's layers, without --reuse-values.  Helm 3 merges -f documents
left to right over the chart's defaults (maps deep-merged, lists replaced), so every
setting of the student stays unless a stage layer sets the same key; and, unlike
--reuse-values or --reset-then-reuse-values (both merge the *current* release's values under
the new ones), a later switch back to a smaller stage really drops what the bigger stage
added, because each upgrade starts again from the values found.

At the end of the run (`restore_release`, run once by the process that owns the session:
the xdist controller, or the only process; also after Ctrl-C or SIGTERM) the release is
rolled back to the revision found (`helm rollback`, which re-applies that revision's own
chart and values exactly), `helm get values` is compared with the values recorded, and the
marker is deleted.  A run killed before that leaves the marker; the next run acts on it
before anything else (`restore_left_over`) and says so in one line.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from cilab.errors import CallFailed, ConfigError
from cilab.lab import Lab

log = logging.getLogger("cilab.consent")

RELEASE = "cilium"
NAMESPACE = "kube-system"
MARKER = "cilab-restore"
FOUND_FILE = "helm-found.json"
OPT_IN = "--allow-helm-changes"
#: agent flags of the write-up's redaction (seed 2922-2923), passed through extraArgs
REDACTION_ARGS = ("--hubble-redact-enabled", "--hubble-redact-http-urlquery")


def suite_built(lab: Lab) -> bool:
    """True for the suite's own lab (provisioning/, replay); False for a student's lab."""
    return bool(getattr(lab.backend, "suite_built", True))


def may_change(lab: Lab) -> bool:
    """The suite may switch this lab's stages (its own lab, or --allow-helm-changes)."""
    return bool(getattr(lab.backend, "allow_helm_changes", True))


def not_checked(need: str, found: str) -> str:
    """The one-line reason of a scenario skipped because its stage is not the one found."""
    return (f"not checked: this scenario needs {need}, but the lab was found {found} and the suite "
            f"changes the Cilium release of a lab it did not build only with {OPT_IN} "
            "(the release is restored at the end of the run)")


def values_digest(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _ok(result: Any, what: str) -> str:
    if not result.ok:
        tail = (result.stderr or result.stdout).strip().splitlines()[-2:]
        raise CallFailed(f"{what} failed (exit {result.rc}): {' | '.join(tail)}")
    return str(result.stdout)


def read_release(lab: Lab) -> dict[str, Any]:
    """The release as it is now: revision, chart, status (helm history) and values (helm get
    values)."""
    result = lab.helm_read(release=RELEASE, namespace=NAMESPACE, what="history")
    if not result.ok and "not found" in (result.stderr + result.stdout).lower():
        raise ConfigError(f"no Helm release {RELEASE!r} in {NAMESPACE}: the suite switches stages only on a "
                          "Cilium installed with Helm (as the write-up does); run without "
                          f"{OPT_IN} to check the lab as found")
    history = json.loads(_ok(result, f"helm history {RELEASE}") or "[]")
    if not history:
        raise ConfigError(f"helm history {RELEASE} -n {NAMESPACE} lists no revision")
    last = history[-1]
    values = json.loads(_ok(lab.helm_read(release=RELEASE, namespace=NAMESPACE, what="values"),
                            f"helm get values {RELEASE}") or "null") or {}
    return {"release": RELEASE, "namespace": NAMESPACE, "revision": int(last["revision"]),
            "chart": str(last.get("chart", "")), "status": str(last.get("status", "")), "values": values}


def _marker(found: dict[str, Any], run_id: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": MARKER, "namespace": NAMESPACE,
                         "labels": {"app.kubernetes.io/managed-by": "cilium-lab-conformance"}},
            "data": {"release": found["release"], "revision": str(found["revision"]),
                     "chart": found["chart"], "values-sha256": values_digest(found["values"]),
                     "run-id": run_id, "written-at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "restore": f"helm rollback {found['release']} {found['revision']} -n {NAMESPACE} "
                                "(done by the next run of the suite)"}}


def record_release(lab: Lab, shared_dir: Path, run_id: str, note: Callable[[str], None]) -> dict[str, Any]:
    """Record the release found and leave the restore marker in the cluster, before the
    suite's first change (called once per run, under the stage lock)."""
    found = read_release(lab)
    if found["status"] != "deployed":
        raise ConfigError(f"the Helm release {RELEASE} is {found['status']!r} at revision {found['revision']} "
                          "(not deployed): finish or roll back that upgrade first")
    lab.apply(_marker(found, run_id), namespace=NAMESPACE)
    path = Path(shared_dir) / FOUND_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**found, "restored": False}, indent=2, sort_keys=True))
    tmp.chmod(0o600)
    tmp.replace(path)
    note(f"stage: Helm release {RELEASE} found at revision {found['revision']} ({found['chart']}); "
         f"it is restored at the end of the run (marker ConfigMap {NAMESPACE}/{MARKER})")
    return found


def found_release(shared_dir: Path) -> dict[str, Any] | None:
    path = Path(shared_dir) / FOUND_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def found_values_for(stage: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values found, as the first layer of `stage`: what turns a stage on that the
    suite's layers do not turn off is turned off here (the write-up's redaction flags in
    extraArgs, hubble.redact.enabled, Hubble itself for the base stage); everything else
    the student set stays."""
    out = copy.deepcopy(values)
    if stage != "redaction":
        if isinstance(out.get("extraArgs"), list):
            out["extraArgs"] = [a for a in out["extraArgs"]
                                if str(a).split("=", 1)[0] not in REDACTION_ARGS]
        if ((out.get("hubble") or {}).get("redact") or {}).get("enabled"):
            out = _deep_merge(out, {"hubble": {"redact": {"enabled": False}}})
    if stage == "base":
        out = _deep_merge(out, {"hubble": {"enabled": False}})
    return out


def layered_values(stage: str, layers: list[str], values: dict[str, Any]) -> list[str]:
    """The -f documents of `stage` on a lab found with `values`: the values found first,
    then the suite's layers except base.yaml (the student's lab has its own base install:
    its API server address, routing and IPAM stay as found)."""
    docs = [yaml.safe_dump(found_values_for(stage, values), sort_keys=True)]
    return docs + layers[1:]


def _rollback(lab: Lab, revision: int, values: dict[str, Any] | None, digest: str | None) -> None:
    _ok(lab.helm_rollback(release=RELEASE, namespace=NAMESPACE, revision=revision),
        f"helm rollback {RELEASE} {revision}")
    now = json.loads(_ok(lab.helm_read(release=RELEASE, namespace=NAMESPACE, what="values"),
                         f"helm get values {RELEASE}") or "null") or {}
    if (values is not None and now != values) or (digest is not None and values_digest(now) != digest):
        raise CallFailed(f"after helm rollback {RELEASE} {revision} the release's values differ from the "
                         f"values found (compare `helm get values {RELEASE} -n {NAMESPACE}` with revision "
                         f"{revision}); the marker ConfigMap {NAMESPACE}/{MARKER} is kept")


def restore_release(lab: Lab, shared_dir: Path, say: Callable[[str], None]) -> bool:
    """Put the release back at the revision found by this run (once; True when done now)."""
    found = found_release(shared_dir)
    if found is None or found.get("restored"):
        return False
    now = read_release(lab)
    if now["revision"] != found["revision"]:
        _rollback(lab, found["revision"], found["values"], None)
        say(f"stage: Helm release {RELEASE} restored to revision {found['revision']} as found "
            f"(helm rollback; helm get values as found)")
    else:
        say(f"stage: Helm release {RELEASE} unchanged at revision {found['revision']}")
    lab.delete("v1", "ConfigMap", MARKER, NAMESPACE)
    path = Path(shared_dir) / FOUND_FILE
    path.write_text(json.dumps({**found, "restored": True}, indent=2, sort_keys=True))
    return True


def restore_left_over(lab: Lab, say: Callable[[str], None]) -> dict[str, str] | None:
    """A marker left by a run killed before it restored the release: roll back to the
    revision it names first (one line), then delete it.  Returns the marker's data."""
    marker = lab.get("v1", "ConfigMap", MARKER, NAMESPACE)
    if marker is None:
        return None
    data = dict(marker.get("data") or {})
    revision = int(data.get("revision", "0") or 0)
    if revision <= 0:
        raise ConfigError(f"ConfigMap {NAMESPACE}/{MARKER} names no revision to restore: delete it with "
                          f"`kubectl -n {NAMESPACE} delete configmap {MARKER}` after checking the release")
    say(f"stage: an earlier run (run id {data.get('run-id', '?')}) was stopped before it restored the Helm "
        f"release {RELEASE}: rolling it back to revision {revision} first (marker {NAMESPACE}/{MARKER})")
    now = read_release(lab)
    if now["revision"] != revision:
        _rollback(lab, revision, None, data.get("values-sha256"))
    lab.delete("v1", "ConfigMap", MARKER, NAMESPACE)
    return data
