"""Cluster stages: the Helm configurations the lab goes through.

`base` is the install of seed lines 290-300 (done by provisioning); `hubble` is the
upgrade of seed lines 1009-1025; `redaction` adds URL-query redaction (seed 2905-3000).
Stage values are layered files under provisioning/helm/, always applied together with a
pinned chart version (no --reuse-values, see docs/real-lab.md).  A stage is applied once
per run across xdist workers: the first worker does it under a file lock and writes a
record that the others read.

A stage that changes the cluster for one scenario only (`redaction`) is switched on and
back with `stage_switched`, under the exclusive cluster lock (cilab.locks): each switch
waits until cilium-config holds the stage's entries and every agent was restarted with them
(a new DaemonSet generation, rolled out); it does not wait for Relay (see switch_stage).
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from cilab.errors import CallFailed, ConfigError, LabUnavailable
from cilab.lab import Lab
from cilab.parsers import kube
from cilab.probes import hubble, k8s, nodes

log = logging.getLogger("cilab.stages")
REPO_ROOT = Path(__file__).resolve().parent.parent
HELM_DIR = REPO_ROOT / "provisioning" / "helm"
CHART_REPO = "https://helm.cilium.io/"
STAGE_LAYERS = {"base": ["base"], "hubble": ["base", "hubble"],
                "redaction": ["base", "hubble", "redaction"]}
HUBBLE_COMPONENTS = [("apps/v1", "DaemonSet", "cilium"), ("apps/v1", "DaemonSet", "cilium-envoy"),
                     ("apps/v1", "Deployment", "cilium-operator"),
                     ("apps/v1", "Deployment", "hubble-relay"), ("apps/v1", "Deployment", "hubble-ui")]


def stage_values(stage: str) -> list[str]:
    return [(HELM_DIR / f"{layer}.yaml").read_text(encoding="utf-8") for layer in STAGE_LAYERS[stage]]


def stage_labels(stage: str) -> set[str]:
    return {layer for layer in STAGE_LAYERS[stage] if layer != "base"}


def apply_stage(lab: Lab, stage: str, cilium_version: str) -> None:
    """`helm upgrade` to `stage`: the suite's layers alone on its own lab; on a lab it did not
    build (changed only with consent), the layers over the values found (cilab.consent)."""
    values = stage_values(stage)
    found = lab.info.get("helm_found")
    if found is not None:
        from cilab.consent import layered_values
        values = layered_values(stage, values, found["values"])
    result = lab.helm_upgrade(release="cilium", chart="cilium", version=cilium_version,
                              namespace="kube-system", values=values,
                              stages=stage_labels(stage), repo=CHART_REPO)
    if not result.ok:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise CallFailed(f"helm upgrade to stage {stage!r} failed (exit {result.rc}): {' | '.join(tail)}")


def workload_ready(obj: dict[str, Any] | None) -> tuple[bool, str]:
    if obj is None:
        return False, "absent"
    status = obj.get("status") or {}
    gen_ok = (status.get("observedGeneration") or 0) >= (obj["metadata"].get("generation") or 0)
    if obj["kind"] == "DaemonSet":
        ready, want = kube.daemonset_ready(obj)
        updated = status.get("updatedNumberScheduled", 0)
        ok = gen_ok and want > 0 and ready == want and updated == want
        return ok, f"{ready}/{want} ready, {updated} updated"
    ready, want = kube.deployment_ready(obj)
    updated = status.get("updatedReplicas", 0)
    ok = gen_ok and want > 0 and ready == want and updated == want
    return ok, f"{ready}/{want} ready, {updated} updated"


def wait_rollout(lab: Lab, components: list[tuple[str, str, str]] = HUBBLE_COMPONENTS,
                 progress: Callable[[str], None] | None = None) -> None:
    for api_version, kind, name in components:
        def check(api_version: str = api_version, kind: str = kind, name: str = name) -> str:
            ok, seen = workload_ready(lab.get(api_version, kind, name, "kube-system"))
            assert ok, f"{kind} kube-system/{name}: {seen}"
            return seen
        seen = lab.eventually(check, what=f"{kind} {name} rolled out", budget="rollout")
        if progress is not None:
            progress(f"stage: {kind} {name} rolled out ({seen})")


def wait_relay_connected(lab: Lab) -> None:
    def check() -> None:
        want = len(k8s.nodes(lab))
        st = hubble.status(lab)
        assert st.healthy, f"hubble status not healthy: {st.message}"
        hubble.check_every_node_connected(st, want)
    lab.eventually(check, what="Hubble Relay connected to every node", budget="relay")


def pre_hubble_snapshot(lab: Lab) -> dict[str, Any]:
    """What the seed's "before Hubble" section looks at (seed lines 870-1008)."""
    cfg = k8s.configmap_data(lab, "kube-system", "cilium-config") or {}
    secrets = sorted(n for n in k8s.secret_types(lab, "kube-system")
                     if n == "cilium-ca" or "hubble" in n)
    listening: dict[str, list[str] | None] = {}
    unavailable: dict[str, str] = {}
    for node in sorted(k8s.nodes(lab)):
        try:
            found = lab.eventually(lambda node=node: nodes.listeners(lab, node),
                                   what=f"listening sockets on {node}")
            listening[node] = [f"{l.shown} {'/'.join(l.processes)}" for l in found]
        except (LabUnavailable, AssertionError) as exc:  # one node down must not stop the stage
            listening[node] = None
            unavailable[node] = str(exc)
    # `cilium status` prints "Hubble Relay: disabled" when there is no hubble-relay
    # Deployment (seed 958, 962-963)
    relay = lab.get("apps/v1", "Deployment", "hubble-relay", "kube-system")
    return {"enable-hubble": cfg.get("enable-hubble"),
            "hubble_keys": {k: v for k, v in cfg.items() if "hubble" in k},
            "relay_deployment": relay is not None,
            "secrets": secrets, "listeners": listening, "unavailable": unavailable}


#: agent flags that turn redaction on when passed through the chart's `extraArgs`, as the
#: write-up does (seed 2922-2923: --set extraArgs="{--hubble-redact-enabled,...}")
REDACTION_FLAGS = ("--hubble-redact-enabled", "--hubble-redact-http-urlquery")


def _flag_on(args: list[str], flag: str) -> bool:
    """`--flag`, `--flag=true` (or any value but false) among the agent's arguments."""
    for arg in args:
        if arg == flag:
            return True
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1].strip().lower() not in ("false", "0", "")
    return False


def _agent_container(ds: dict[str, Any] | None) -> dict[str, Any]:
    """The cilium-agent container of the DaemonSet's pod template ({} when there is none)."""
    containers = ((((ds or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return next((c for c in containers if c.get("name") == k8s.AGENT_CONTAINER), {})


def agent_args(ds: dict[str, Any] | None) -> list[str]:
    """The cilium-agent container's command and args of the DaemonSet's pod template."""
    c = _agent_container(ds)
    return [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]


_IMAGE_VERSION = re.compile(r":v(\d+\.\d+\.\d+(?:-(?:pre|rc)\.\d+)?)(?:@|$)")


def agent_version(ds: dict[str, Any] | None) -> str | None:
    """The Cilium version of the agent image (`quay.io/cilium/cilium:v1.17.6@sha256:...`)."""
    m = _IMAGE_VERSION.search(str(_agent_container(ds).get("image") or ""))
    return m.group(1) if m else None


def detect_stage(lab: Lab) -> dict[str, Any]:
    """The stage the live cluster is in, from cilium-config AND the agent's arguments.

    Hubble is on when cilium-config says `enable-hubble: "true"` or the agent runs with
    `--enable-hubble`; redaction is on when cilium-config holds `hubble-redact-enabled:
    "true"` (the chart's hubble.redact.* values, this suite's redaction layer) or the agent
    DaemonSet passes `--hubble-redact-enabled` (the write-up's extraArgs).  Returns
    {"stage": base|hubble|redaction, "evidence": [...]} with what was seen."""
    cfg = k8s.configmap_data(lab, "kube-system", "cilium-config")
    if cfg is None:
        raise LabUnavailable("ConfigMap kube-system/cilium-config not found: "
                             "is Cilium installed on this lab?")
    ds = k8s.daemonset(lab, "kube-system", "cilium")
    args = agent_args(ds)
    evidence = [f"cilium-config enable-hubble={cfg.get('enable-hubble', '<absent>')}"]
    hubble_on = cfg.get("enable-hubble") == "true" or _flag_on(args, "--enable-hubble")
    redact_cfg = cfg.get("hubble-redact-enabled") == "true"
    redact_args = [f for f in REDACTION_FLAGS if _flag_on(args, f)]
    if redact_cfg:
        evidence.append("cilium-config hubble-redact-enabled=true")
    if redact_args:
        evidence.append("agent DaemonSet args " + " ".join(redact_args))
    stage = "redaction" if hubble_on and (redact_cfg or "--hubble-redact-enabled" in redact_args) \
        else "hubble" if hubble_on else "base"
    return {"stage": stage, "evidence": evidence, "version": agent_version(ds)}


def _can_change(lab: Lab) -> bool:
    """False for a lab the suite did not build and may not upgrade (no --allow-helm-changes)."""
    from cilab.consent import may_change
    return may_change(lab)


def _load_found(lab: Lab, shared_dir: Path) -> None:
    """Every worker layers its stage switches over the release found (cilab.consent)."""
    from cilab.consent import found_release
    found = found_release(shared_dir)
    if found is not None:
        lab.info["helm_found"] = found


def back_to_base(lab: Lab, cilium_version: str, found: str, note: Callable[[str], None]) -> None:
    """Take a lab found at `found` (hubble or redaction) back to the base stage: the
    helm upgrade with base.yaml only, then cilium-config without Hubble, every agent
    restarted (the Hubble ports leave the pod template) and Relay/UI gone."""
    since = agent_generation(lab)
    note(f"stage: switching {found} -> base (helm upgrade, base.yaml)")
    apply_stage(lab, "base", cilium_version)

    def config_is_base() -> None:
        cfg = k8s.configmap_data(lab, "kube-system", "cilium-config") or {}
        left = {k: v for k, v in cfg.items() if k.startswith("hubble-redact") or
                (k == "enable-hubble" and v == "true")}
        assert not left, f"cilium-config still holds {left}"
    lab.eventually(config_is_base, what="cilium-config back at the base stage", budget="rollout")
    wait_agents_restarted(lab, since, progress=note)

    def hubble_gone() -> None:
        left = [name for _, kind, name in HUBBLE_COMPONENTS[3:]
                if lab.get("apps/v1", kind, name, "kube-system") is not None]
        assert not left, "still present: " + ", ".join(left)
    lab.eventually(hubble_gone, what="Hubble Relay and UI removed", budget="rollout")
    note("stage: base reached (enable-hubble false, agents restarted)")


def ensure_hubble(lab: Lab, shared_dir: Path, cilium_version: str,
                  lock_timeout: float = 1800.0,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Bring the lab to the Hubble stage once per run, when the suite may; returns the stage
    record (`found`, `stage`, `switches`, `snapshot`, `note`).

    First, a restore marker left by a run killed before it restored a student's release is
    acted on (cilab.consent.restore_left_over).  Then the stage is read from the live cluster
    (`detect_stage`), never assumed.  When the suite may change the lab (its own lab, or
    --allow-helm-changes), a lab found with Hubble on (or left in the redaction stage) is
    first taken back to base under the exclusive cluster lock, so the before-Hubble snapshot
    shows the base stage; then Hubble is enabled.  On a lab the suite did not build, the
    release found is recorded first and restored at the end of the run.  When it may not,
    the lab stays as found: `stage` is the stage found, the snapshot exists only when Hubble
    was found off, and scenarios needing another stage are skipped (`require_stage`)."""
    from cilab.consent import record_release, restore_left_over, suite_built
    record_path = Path(shared_dir) / "stage-hubble.json"
    switches: list[str] = []

    def note(line: str) -> None:
        log.info("%s", line)
        if progress is not None:
            progress(line)
    try:
        with FileLock(str(record_path) + ".lock", timeout=lab.wait_clock.real_seconds(lock_timeout),
                      poll_interval=lab.wait_clock.real_seconds(0.05)):
            if record_path.exists():
                record = json.loads(record_path.read_text())
                _load_found(lab, shared_dir)
                lab.set_stages(stage_labels(record.get("stage", "hubble")))
                return record
            own = suite_built(lab)
            if not own:
                left = restore_left_over(lab, note)
                if left is not None:
                    switches.append(f"restored revision {left.get('revision')} left by an interrupted run")
                from cilab.monitoring import remove_left_over
                if remove_left_over(lab, note) is not None:
                    switches.append("removed the monitoring example left by an interrupted run")
            found = detect_stage(lab)
            note(f"stage found: {found['stage']} ({'; '.join(found['evidence'])})")
            record: dict[str, Any] = {"found": found["stage"], "found_evidence": found["evidence"],
                                      "suite_built": own, "may_change": _can_change(lab)}
            if found.get("version") and found["version"] != cilium_version and _can_change(lab):
                # every stage switch is a helm upgrade at the pinned chart: on a lab built at
                # another version it would silently upgrade or downgrade Cilium
                raise ConfigError(
                    f"the lab runs Cilium {found['version']} (agent image) but the suite switches stages "
                    f"with chart {cilium_version}: run with CILIUM_VERSION={found['version']} so the "
                    "stages keep the lab's own version")
            if not _can_change(lab):
                lab.set_stages(stage_labels(found["stage"]))
                record.update(stage=found["stage"], applied_by_this_run=False)
                if found["stage"] == "base":
                    record.update(snapshot=pre_hubble_snapshot(lab),
                                  note="the lab was found before Hubble and is checked as found")
                else:
                    record.update(snapshot=None,
                                  note=f"the lab was found with Hubble on (stage {found['stage']}); "
                                       f"without --allow-helm-changes the suite does not take it back "
                                       "to base, so no pre-Hubble snapshot exists")
                note(f"stage: the lab is checked as found ({found['stage']}); its Cilium release is not "
                     "changed (no --allow-helm-changes)")
            else:
                if not own:
                    lab.info["helm_found"] = record_release(lab, shared_dir, str(lab.info.get("run_id", "")),
                                                            note)
                    record["release_found"] = {k: lab.info["helm_found"][k] for k in ("revision", "chart")}
                if found["stage"] != "base":
                    from cilab.locks import cluster_lock
                    lab.set_stages(stage_labels(found["stage"]))
                    with cluster_lock(shared_dir, exclusive=True, budget=lock_timeout):
                        back_to_base(lab, cilium_version, found["stage"], note)
                    lab.set_stages(stage_labels("base"))
                    switches.append(f"{found['stage']} -> base")
                snapshot = pre_hubble_snapshot(lab)
                note("stage: switching base -> hubble (helm upgrade, base.yaml + hubble.yaml)"
                     if own else "stage: switching base -> hubble (helm upgrade, the values found + hubble.yaml)")
                apply_stage(lab, "hubble", cilium_version)
                wait_rollout(lab, progress=note)
                switches.append("base -> hubble")
                note("stage: hubble reached")
                record.update(stage="hubble", applied_by_this_run=True, snapshot=snapshot,
                              note="pre-Hubble snapshot taken before the helm upgrade" + (
                                  f" (the lab was found at stage {found['stage']} and taken back "
                                  "to base first)" if found["stage"] != "base" else ""))
            record["switches"] = switches
            if record["stage"] != "base":
                try:
                    wait_relay_connected(lab)
                    record["relay"] = "every node connected"
                except AssertionError as exc:
                    # not the stage's verdict to give: the status scenario reports it precisely
                    record["relay"] = f"not every node connected when the stage finished: {exc}"
            record_path.write_text(json.dumps(record, indent=2, sort_keys=True))
            return record
    except Timeout:
        raise LabUnavailable(f"another worker held the Hubble stage lock for over {lock_timeout:g}s") from None


#: what a scenario needs of the lab, by tag: `before` the pre-Hubble snapshot, `redaction_on`
#: the redaction stage (found so, or switched on for the scenario), `cluster_change` a stage
#: switch of its own (redaction), `flows` Hubble without URL redaction (its flows are
#: compared with the URLs as sent, and the marker rides in the query), every other one Hubble on
def stage_need(tags: set[str]) -> str:
    if "before" in tags:
        return "before-hubble"
    if "redaction_on" in tags:
        return "redaction"
    if "cluster_change" in tags:
        return "redaction-switch"
    if "flows" in tags:
        return "hubble-unredacted"
    return "hubble"


def require_stage(record: dict[str, Any], need: str) -> str | None:
    """None when a scenario needing `need` can be checked on the lab as the stage record
    has it; else the one-line reason it is not checked (a lab the suite may not change)."""
    from cilab.consent import not_checked
    if record.get("may_change", True):
        return None
    found = record.get("found", "?")
    shown = {"base": "before Hubble (stage base)", "hubble": "with Hubble on (stage hubble)",
             "redaction": "with Hubble redaction on (stage redaction)"}.get(found, f"at stage {found}")
    if need == "before-hubble":
        return None if record.get("snapshot") is not None else not_checked(
            "the lab before Hubble (the pre-Hubble snapshot)", shown)
    if need == "hubble":
        return None if found in ("hubble", "redaction") else not_checked("the Hubble stage", shown)
    if need == "hubble-unredacted":
        return None if found == "hubble" else not_checked(
            "the Hubble stage without URL query redaction (its flows are compared with the URLs as sent)",
            shown)
    if need == "redaction":  # checked as found on a lab left with redaction on, no switch
        return None if found == "redaction" else not_checked(
            "Hubble redaction of URL queries on (stage redaction, as the write-up's extraArgs leave it)", shown)
    if need == "redaction-switch":  # a Helm upgrade during the scenario, whatever was found
        return not_checked("Hubble redaction switched on during the scenario, after a request "
                           "seen without it", shown)
    return None


# --- stages switched on for one scenario (redaction) -----------------------------------------

#: cilium-config entries a stage adds to the Hubble stage; in every other stage they are absent
#: (the chart renders the hubble-redact-* keys only when hubble.redact.enabled is true)
STAGE_CONFIG: dict[str, dict[str, str]] = {
    "redaction": {"hubble-redact-enabled": "true", "hubble-redact-http-urlquery": "true"},
}


def expected_config(stage: str) -> dict[str, str | None]:
    """The STAGE_CONFIG entries as `stage` has them: a value, or None for absent."""
    want: dict[str, str | None] = {key: None for cfg in STAGE_CONFIG.values() for key in cfg}
    want.update(STAGE_CONFIG.get(stage, {}))
    return want


def agent_generation(lab: Lab) -> int:
    ds = k8s.daemonset(lab, "kube-system", "cilium")
    if ds is None:
        raise LabUnavailable("DaemonSet kube-system/cilium not found: is Cilium installed on this lab?")
    return int(ds["metadata"].get("generation") or 0)


def wait_stage_config(lab: Lab, stage: str) -> None:
    want = expected_config(stage)

    def check() -> None:
        cfg = k8s.configmap_data(lab, "kube-system", "cilium-config") or {}
        wrong = [f"{key}: expected {'absent' if value is None else repr(value)}, "
                 f"saw {cfg.get(key, '<absent>')!r}" for key, value in want.items() if cfg.get(key) != value]
        assert not wrong, "cilium-config: " + "; ".join(wrong)
    lab.eventually(check, what=f"cilium-config holds the entries of stage {stage!r}", budget="rollout")


def wait_agents_restarted(lab: Lab, since_generation: int,
                          progress: Callable[[str], None] | None = None) -> None:
    """Every agent runs a pod of a DaemonSet generation other than `since_generation`.
    With `progress`, each new count of ready agents is reported ("agents ready 2/3")."""
    shown: list[str] = []

    def check() -> None:
        ds = k8s.daemonset(lab, "kube-system", "cilium")
        assert ds is not None, "DaemonSet kube-system/cilium does not exist"
        gen = int(ds["metadata"].get("generation") or 0)
        assert gen != since_generation, (
            f"DaemonSet kube-system/cilium still at generation {gen}: its pod template did not change, "
            "so the agents were not restarted and still run the previous configuration")
        ok, seen = workload_ready(ds)
        ready, want = kube.daemonset_ready(ds)
        line = f"stage: agents ready {ready}/{want} (generation {gen})"
        if progress is not None and (not shown or shown[-1] != line):
            shown.append(line)
            progress(line)
        assert ok, f"DaemonSet kube-system/cilium generation {gen}: {seen}"
    lab.eventually(check, what="every cilium agent restarted with the new configuration", budget="rollout")


def switch_stage(lab: Lab, stage: str, cilium_version: str, *, restart: bool = True,
                 progress: Callable[[str], None] | None = None) -> None:
    """Apply `stage` and wait until the agents run with it (`restart=False`: the agents'
    pod template is not expected to change, only to be rolled out)."""
    since = agent_generation(lab)
    if progress is not None:
        progress(f"stage: switching to {stage} (helm upgrade, {' + '.join(STAGE_LAYERS[stage])})")
    apply_stage(lab, stage, cilium_version)
    wait_stage_config(lab, stage)
    if restart:
        wait_agents_restarted(lab, since, progress=progress)
    else:
        wait_rollout(lab, [("apps/v1", "DaemonSet", "cilium")], progress=progress)
    # the switch is done only when Relay is connected to every (restarted) agent again: a
    # scenario that reads flows right after a switch would otherwise see a partial cluster
    wait_relay_connected(lab)
    if progress is not None:
        progress(f"stage: {stage} reached")


@contextmanager
def stage_switched(lab: Lab, stage: str, cilium_version: str, *, back_to: str = "hubble",
                   progress: Callable[[str], None] | None = None) -> Iterator[None]:
    """The lab at `stage` for the block, then at `back_to` again, also when the switch or
    the block failed.  The caller holds the exclusive cluster lock around it.  A run
    killed inside the block (SIGKILL: no `finally`) leaves the lab at `stage`; the next
    run finds it there (`detect_stage`) and switches it back before any scenario."""
    start = agent_generation(lab)
    try:
        switch_stage(lab, stage, cilium_version, progress=progress)
        yield
    finally:
        # a switch that failed before changing the agents' pod template leaves nothing to restart
        switch_stage(lab, back_to, cilium_version, restart=agent_generation(lab) != start,
                     progress=progress)
