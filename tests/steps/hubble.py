"""Steps of features/hubble.feature: each binds a sentence to one probe and one check."""
from __future__ import annotations

from typing import Any

import pytest
from pytest_bdd import parsers, then, when

from cilab.errors import LabUnavailable
from cilab.facts import asserts, fact, outcome
from cilab.lab import Lab
from cilab.parsers import kube
from cilab.probes import hubble, k8s, nodes
from tests.steps.common import table_rows

# --- before Hubble ----------------------------------------------------------------------


def _snapshot(stage_record: dict[str, Any]) -> dict[str, Any]:
    snap = stage_record.get("snapshot")
    if snap is None:
        from cilab.stages import require_stage
        pytest.skip(require_stage(stage_record, "before-hubble")
                    or f"cannot check the pre-Hubble lab: {stage_record.get('note')}")
    return snap


@then(parsers.parse('the pre-Hubble snapshot shows enable-hubble "{value}"'))
@outcome("the pre-Hubble stage record's cilium-config enable-hubble is exactly the value")
def snapshot_enable_hubble(stage_record: dict[str, Any], value: str) -> None:
    seen = _snapshot(stage_record).get("enable-hubble")
    assert seen == value, f"before Hubble: expected enable-hubble {value!r}, saw {seen!r}"


@then("the pre-Hubble snapshot shows no Hubble secrets")
@outcome("the pre-Hubble stage record lists no Secret in kube-system named cilium-ca or holding 'hubble'")
def snapshot_no_secrets(stage_record: dict[str, Any]) -> None:
    seen = _snapshot(stage_record)["secrets"]
    assert not seen, f"before Hubble: expected no cilium-ca/hubble secrets, saw {', '.join(seen)}"


@then("the pre-Hubble snapshot shows Hubble Relay disabled")
@asserts("relay-disabled-before-hubble")
def snapshot_relay_disabled(stage_record: dict[str, Any]) -> None:
    seen = _snapshot(stage_record).get("relay_deployment")
    # cilium status prints "Hubble Relay: disabled" when there is no hubble-relay Deployment
    shown = {False: "disabled", True: "enabled"}.get(seen, "unknown")
    assert shown == fact("relay-disabled-before-hubble"), ("before Hubble: expected Hubble Relay disabled (no Deployment hubble-relay in "
                           f"kube-system), saw {'Deployment hubble-relay' if seen else 'no record of it'}")


@then(parsers.parse("the pre-Hubble snapshot shows no node listening on port {port:d}"))
@asserts("no-hubble-ports-before-hubble")
def snapshot_no_port(lab: Lab, stage_record: dict[str, Any], port: int) -> None:
    closed = [int(p) for p in fact("no-hubble-ports-before-hubble").split()]
    assert port in closed, f"the seed shows only ports {closed} closed before Hubble, not {port}"
    listening = {node: [s for s in socks if s.split(" ")[0].rsplit(":", 1)[-1] == str(port)]
                 for node, socks in _listeners(lab, stage_record).items()}
    offenders = {n: s for n, s in listening.items() if s}
    assert not offenders, f"before Hubble: expected nothing on {port}, saw {offenders}"


def _listeners(lab: Lab, stage_record: dict[str, Any]) -> dict[str, list[str]]:
    """The pre-Hubble listening sockets, node -> sockets, of every node of the cluster: a
    node the snapshot did not read (a node unreachable then, or not yet in the cluster) would
    make "on every node" and "no node" true of the others only."""
    snap = _snapshot(stage_record)
    missing = snap.get("unavailable") or {}
    if missing:  # the suite could not look: a broken lab, not a verdict
        raise LabUnavailable("before Hubble: no listening sockets were read from " + "; ".join(
            f"{node} ({why})" for node, why in missing.items()))
    read, cluster = set(snap["listeners"]), set(k8s.nodes(lab))
    assert cluster <= read, (f"before Hubble: the snapshot read the listening sockets of {', '.join(sorted(read))}, "
                             f"not of {', '.join(sorted(cluster - read))}, a node of the cluster")
    return snap["listeners"]


def _holders(lab: Lab, stage_record: dict[str, Any], port: int, process: str) -> tuple[list[str], list[str]]:
    """(nodes whose pre-Hubble sockets have `port` held by `process`, every node read)."""
    listeners = _listeners(lab, stage_record)
    holders = sorted(node for node, socks in listeners.items()
                     if any(s.split(" ")[0].rsplit(":", 1)[-1] == str(port) and process in s.split(" ", 1)[-1]
                            for s in socks))
    return holders, sorted(listeners)


def _port_process(value: str) -> tuple[int, str]:
    port, process = value.split(" ", 1)
    return int(port), process


@then("the pre-Hubble snapshot shows Envoy's metrics port 9964 open on every node")
@asserts("envoy-metrics-before-hubble")
def snapshot_envoy_metrics(lab: Lab, stage_record: dict[str, Any]) -> None:
    port, process = _port_process(fact("envoy-metrics-before-hubble"))   # seed 992
    holders, every = _holders(lab, stage_record, port, process)
    assert holders == every, (f"before Hubble: expected port {port} listened on by {process} on every node "
                              f"({', '.join(every)}), saw it on {', '.join(holders) or 'no node'}")


@then("the pre-Hubble snapshot shows the operator's metrics port 9963 open on one node")
@asserts("operator-metrics-before-hubble")
def snapshot_operator_metrics(lab: Lab, stage_record: dict[str, Any]) -> None:
    port, process = _port_process(fact("operator-metrics-before-hubble"))   # seed 995
    holders, every = _holders(lab, stage_record, port, process)
    assert len(holders) == 1, (f"before Hubble: expected port {port} listened on by {process} on one node "
                               f"(the operator's one replica), saw it on {', '.join(holders) or 'no node'}")


# --- configuration and secrets ----------------------------------------------------------


@when(parsers.parse('I read the ConfigMap "{name}" in "{namespace}"'))
def read_configmap(lab: Lab, ctx: dict[str, Any], name: str, namespace: str) -> None:
    data = k8s.configmap_data(lab, namespace, name)
    assert data is not None, f"ConfigMap {namespace}/{name} does not exist"
    ctx["configmap"] = (f"{namespace}/{name}", data)


@then("it has these entries:")
@outcome("the ConfigMap the When step read holds each row's key with exactly the row's value")
def configmap_has(ctx: dict[str, Any], datatable: list[list[str]]) -> None:
    name, data = ctx["configmap"]
    wrong = [f"{r['key']}: expected {r['value']!r}, saw {data.get(r['key'], '<absent>')!r}"
             for r in table_rows(datatable) if data.get(r["key"]) != r["value"]]
    assert not wrong, f"ConfigMap {name}: " + "; ".join(wrong)


@then(parsers.parse('these Secrets exist in "{namespace}":'))
@outcome("each Secret of the table exists in the namespace with the table's type")
def secrets_exist(lab: Lab, namespace: str, datatable: list[list[str]]) -> None:
    types = k8s.secret_types(lab, namespace)
    wrong = []
    for row in table_rows(datatable):
        seen = types.get(row["name"])
        if seen != row["type"]:
            wrong.append(f"{row['name']}: expected type {row['type']}, "
                         f"{'absent' if seen is None else 'saw ' + seen}")
    assert not wrong, f"Secrets in {namespace}: " + "; ".join(wrong)


# --- listening ports --------------------------------------------------------------------


def _listening(lab: Lab, cluster: dict[str, str], node: str, port: int,
               process: str) -> tuple[list[Any], list[Any], str]:
    """(sockets on `port`, those `process` holds that other nodes can reach on the node's
    InternalIP, a note on unreadable ss lines).  "Listening" means the same in every
    sentence: reachable from the other nodes (`nodes.reachable`), not bound to loopback
    only, nor IPv6-only on this IPv4 lab."""
    socks = nodes.listeners(lab, node)
    found = [l for l in socks if l.port == port]
    ok = [l for l in found if process in l.processes and nodes.reachable(l, cluster[node])]
    return found, ok, socks.note()


@then(parsers.parse('port {port:d} is listened on by "{process}" on every node'))
@outcome("on every node ss shows the port listened on by that process on an address the other nodes reach")
def port_on_every_node(lab: Lab, port: int, process: str) -> None:
    def check() -> None:
        cluster = k8s.nodes(lab)
        missing = []
        for node in sorted(cluster):
            found, ok, note = _listening(lab, cluster, node, port, process)
            if not ok:
                missing.append(f"{port} not listening on {node} by {process} on an address other nodes "
                               f"reach ({cluster[node]}) (saw on {port}: {nodes.describe(found)}){note}")
        assert not missing, "; ".join(missing)
    lab.eventually(check, what=f"port {port} listened on by {process} on every node")


@then(parsers.parse('port {port:d} is listened on by "{process}" on the node running the operator'))
@outcome("the port is listened on by that process, on an address the other nodes reach, on exactly the node "
         "of the one Running operator pod")
def port_on_operator_node(lab: Lab, port: int, process: str) -> None:
    """One node: the operator runs one replica; the port is open where it runs only."""
    def check() -> None:
        cluster = k8s.nodes(lab)
        operator_nodes = sorted({k8s.pod_node(p) for p in
                                 k8s.running_pods(lab, "kube-system", "io.cilium/app=operator")})
        assert len(operator_nodes) == 1, \
            f"expected one Running cilium-operator pod, found them on {operator_nodes or 'no node'}"
        listening, seen = [], []
        for node in sorted(cluster):
            found, ok, note = _listening(lab, cluster, node, port, process)
            if ok:
                listening.append(node)
            if found or note:
                seen.append(f"{node}: {nodes.describe(found)}{note}")
        assert listening == operator_nodes, (
            f"{port} listened on by {process} on {', '.join(listening) or 'no node'} (on an address the "
            f"other nodes reach); expected exactly one node, the node running the "
            f"operator pod ({operator_nodes[0]}) (saw on {port}: {'; '.join(seen) or 'nothing'})")
    lab.eventually(check, what=f"port {port} listened on by {process} on the operator's node only")


# --- services, deployments, relay -----------------------------------------------------------


@then(parsers.parse('the Deployment "{name}" in "{namespace}" is ready'))
@outcome("the Deployment wants at least one replica and every one is ready")
def deployment_ready(lab: Lab, name: str, namespace: str) -> None:
    def check() -> None:
        obj = k8s.deployment(lab, namespace, name)
        assert obj is not None, f"Deployment {namespace}/{name} does not exist"
        ready, want = kube.deployment_ready(obj)
        assert want > 0 and ready == want, f"Deployment {namespace}/{name}: {ready}/{want} ready"
    lab.eventually(check, what=f"Deployment {name} ready", budget="rollout")


def _service_port(lab: Lab, namespace: str, name: str, port: int) -> tuple[dict[str, Any], Any]:
    svc = k8s.service(lab, namespace, name)
    assert svc is not None, f"Service {namespace}/{name} does not exist"
    ports = kube.service_ports(svc)
    match = [p for p in ports if p.port == port]
    assert match, (f"Service {namespace}/{name}: expected port {port}, "
                   f"saw {', '.join(str(p.port) for p in ports) or 'no ports'}")
    return svc, match[0]


def _check_target(lab: Lab, namespace: str, name: str, sp: Any, target: int) -> None:
    if isinstance(sp.target_port, int):
        assert sp.target_port == target, (f"Service {namespace}/{name} port {sp.port}: expected "
                                          f"target port {target}, saw {sp.target_port}")
        return
    # a named target port: what the endpoints carry is the resolved number
    seen = {p for _, p in k8s.service_endpoints(lab, namespace, name)}
    assert seen == {target}, (f"Service {namespace}/{name} port {sp.port} -> {sp.target_port!r}: "
                              f"expected endpoints on {target}, saw {sorted(seen) or 'no ready endpoints'}")


@then(parsers.parse('the Service "{name}" in "{namespace}" sends port {port:d} to pod port {target:d}'))
@outcome("the Service has the port, and its target port (a named one: its endpoints' port) is the pod port")
def service_port_to(lab: Lab, name: str, namespace: str, port: int, target: int) -> None:
    def check() -> None:
        _, sp = _service_port(lab, namespace, name, port)
        _check_target(lab, namespace, name, sp, target)
    lab.eventually(check, what=f"Service {name} {port} -> {target}")


@then(parsers.parse('the relay configuration has peer-service "{peer}" and listen-address "{listen}"'))
@outcome("hubble-relay-config's config.yaml has exactly that peer-service and listen-address")
def relay_config(lab: Lab, peer: str, listen: str) -> None:
    data = k8s.configmap_data(lab, "kube-system", "hubble-relay-config")
    assert data is not None, "ConfigMap kube-system/hubble-relay-config does not exist"
    cfg = kube.parse_relay_config(data.get("config.yaml", ""))
    wrong = [f"{k}: expected {v!r}, saw {cfg.get(k, '<absent>')!r}"
             for k, v in (("peer-service", peer), ("listen-address", listen)) if cfg.get(k) != v]
    assert not wrong, "hubble-relay-config: " + "; ".join(wrong)


@then(parsers.parse('the endpoints of "{name}" are exactly every node\'s InternalIP on port {port:d}'))
@outcome("the Service's endpoints are exactly every Node's InternalIP on the port")
def endpoints_every_node(lab: Lab, name: str, port: int) -> None:
    def check() -> None:
        want = {(ip, port) for ip in k8s.nodes(lab).values()}
        seen = k8s.service_endpoints(lab, "kube-system", name)
        fmt = lambda s: ", ".join(f"{ip}:{p}" for ip, p in sorted(s)) or "none"  # noqa: E731
        assert seen == want, (f"{name} endpoints: expected {fmt(want)}; saw {fmt(seen)} "
                              f"(missing {fmt(want - seen)}, unexpected {fmt(seen - want)})")
    lab.eventually(check, what=f"{name} endpoints are every node on {port}")


# --- UI ------------------------------------------------------------------------------------


@then(parsers.parse('the Service "{name}" in "{namespace}" is a NodePort on {node_port:d} to pod port {target:d}'))
@outcome("the Service is of type NodePort with that nodePort, and its target is the pod port")
def service_nodeport(lab: Lab, name: str, namespace: str, node_port: int, target: int) -> None:
    svc = k8s.service(lab, namespace, name)
    assert svc is not None, f"Service {namespace}/{name} does not exist"
    kind = kube.service_type(svc)
    assert kind == "NodePort", f"Service {namespace}/{name}: expected type NodePort, saw {kind}"
    ports = [p for p in kube.service_ports(svc) if p.node_port == node_port]
    assert ports, (f"Service {namespace}/{name}: expected nodePort {node_port}, saw "
                   f"{[p.node_port for p in kube.service_ports(svc)]}")
    _check_target(lab, namespace, name, ports[0], target)


@then(parsers.parse('the "{container}" container of Deployment "{name}" has {var} "{value}"'))
@outcome("that container of the Deployment sets the variable to exactly that value")
def container_env(lab: Lab, container: str, name: str, var: str, value: str) -> None:
    obj = k8s.deployment(lab, "kube-system", name)
    assert obj is not None, f"Deployment kube-system/{name} does not exist"
    env = kube.container_env(obj, container)
    assert env.get(var) == value, (f"Deployment {name} container {container}: expected {var}={value!r}, "
                                   f"saw {env.get(var, '<absent>')!r}")


@then(parsers.parse("an HTTP GET of port {port:d} on a node returns the Hubble UI page"))
@outcome("GET http://<a node's InternalIP>:<port>/ answers 200 with <title>Hubble UI</title>")
def ui_page(lab: Lab, port: int) -> None:
    """One node: the seed opens the UI at one address (http://192.168.10.100:31234, seed
    1197-1198); which nodes serve a NodePort is kube-proxy replacement's, not the UI's."""
    cluster = k8s.nodes(lab)
    node = sorted(cluster)[0]
    url = f"http://{cluster[node]}:{port}/"

    def check() -> None:
        resp = lab.http_get(url, timeout=10)
        assert resp.status == 200, f"GET {url}: expected 200, saw {resp.status}"
        assert "<title>Hubble UI</title>" in resp.body, \
            f"GET {url}: expected the Hubble UI page (<title>Hubble UI</title>), saw {resp.body[:120]!r}"
    lab.eventually(check, what=f"Hubble UI served on {url}")


# --- hubble status ---------------------------------------------------------------------------


@when("I run hubble status through Hubble Relay")
def run_hubble_status(lab: Lab, ctx: dict[str, Any]) -> None:
    ctx["hubble_status"] = hubble.status(lab)


@then("the health check is Ok")
@outcome("hubble status through Hubble Relay reports Healthcheck Ok")
def health_ok(lab: Lab, ctx: dict[str, Any]) -> None:
    def check() -> None:
        st = ctx.get("hubble_status") or hubble.status(lab)
        ctx["hubble_status"] = None if not st.healthy else st  # a retry asks Relay again
        assert st.healthy, f"hubble status: expected Healthcheck Ok, saw {st.message!r}"
    lab.eventually(check, what="Hubble Relay's health check Ok", budget="relay")


@then("every node of the cluster is connected")
@outcome("hubble status through Hubble Relay reports Connected Nodes N/N, N the cluster's Nodes")
def every_node_connected(lab: Lab, ctx: dict[str, Any]) -> None:
    def check() -> None:
        want = len(k8s.nodes(lab))
        st = ctx.get("hubble_status") or hubble.status(lab)
        ctx["hubble_status"] = None  # a retry asks Relay again
        hubble.check_every_node_connected(st, want)
    lab.eventually(check, what="every node connected to Hubble Relay", budget="relay")


# --- the images cilium status lists (seed 480-482, 1114-1120) ------------------------------------


@when("I list the images the pods of kube-system run")
def list_images(lab: Lab, ctx: dict[str, Any]) -> None:
    ctx["images"] = hubble.component_images(lab)


def _repo_images(ctx: dict[str, Any], repo: str) -> dict[str, list[str]]:
    """image -> the pods that run it, for the images of one repository (quay.io/cilium/cilium)."""
    return {img: pods for img, pods in ctx["images"].items() if hubble.image_repository(img) == repo}


@then("the cilium, operator-generic and hubble-relay images run at the lab's pinned Cilium version, pinned by digest")
@asserts("cilium-built-images")
def cilium_images_pinned(ctx: dict[str, Any]) -> None:
    # seed 1115, 1117-1118: `quay.io/cilium/cilium:v1.17.6` `quay.io/cilium/operator-generic:v1.17.6`
    # `quay.io/cilium/hubble-relay:v1.17.6` -- the tag is the lab's pin, not this number
    from cilab.versions import load_versions
    tag = f"v{load_versions().cilium_version}"
    wrong = []
    for image in fact("cilium-built-images").split():
        repo = image.rsplit(":", 1)[0]
        found = _repo_images(ctx, repo)
        if not found:
            wrong.append(f"{repo}: no pod runs it")
        for img, pods in sorted(found.items()):
            if hubble.image_tag(img) != tag or "@sha256:" not in img:
                wrong.append(f"{', '.join(pods)}: {img}")
    assert not wrong, (f"expected quay.io/cilium/cilium, operator-generic and hubble-relay at {tag}@sha256:... "
                       "(CILIUM_VERSION in provisioning/versions.env), saw " + "; ".join(wrong))


@then("the cilium-envoy, hubble-ui-backend and hubble-ui images run too, pinned by digest")
@asserts("chart-picked-images")
def other_images_pinned(ctx: dict[str, Any]) -> None:
    # seed 1116, 1119-1120: `quay.io/cilium/cilium-envoy` `quay.io/cilium/hubble-ui-backend` `quay.io/cilium/hubble-ui`
    wrong = []
    for repo in fact("chart-picked-images").split():
        found = _repo_images(ctx, repo)
        if not found:
            wrong.append(f"{repo}: no pod runs it")
        wrong += [f"{', '.join(pods)}: {img} (no digest)" for img, pods in sorted(found.items()) if "@sha256:" not in img]
    assert not wrong, ("expected pods running quay.io/cilium/cilium-envoy, hubble-ui-backend and hubble-ui, each image "
                       "pinned by digest, saw " + "; ".join(wrong))
