"""Steps of features/metrics.feature: each binds a sentence to one probe and one check.

(`the Deployment ... is ready` and `the Service ... is a NodePort ...` are
tests/steps/hubble.py's; the curl-pod -> webpod steps are tests/steps/export.py's.)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from cilab import manifests
from cilab.facts import asserts, fact, outcome
from cilab.lab import Lab
from cilab.parsers.metrics import metric_sum, samples_named
from cilab.probes import flows, grafana, k8s, prometheus, traffic, whoami
from cilab.probes.policy import wait_policy_realised
from tests.steps.common import skip_unless_checkable, table_rows

# --- the monitoring stage ----------------------------------------------------------------


@pytest.fixture(scope="session")
def monitoring_stage(request: pytest.FixtureRequest, lab: Lab, lab_shared_dir: Path,
                     hubble_stage: dict[str, Any]) -> dict[str, Any]:
    """Cilium's monitoring example deployed and published on NodePorts, once per run."""
    from cilab.monitoring import ensure_monitoring
    from cilab.versions import load_versions
    return ensure_monitoring(lab, lab_shared_dir, load_versions().cilium_version)


@given(parsers.parse("Cilium's monitoring example is deployed in \"{namespace}\" and published on NodePorts"))
def monitoring_deployed(request: pytest.FixtureRequest, hubble_stage: dict[str, Any], cluster_shared_lock: None,
                        namespace: str) -> None:
    skip_unless_checkable(request, hubble_stage)  # before anything is deployed
    record = request.getfixturevalue("monitoring_stage")
    if record.get("not_checked"):  # a lab the suite did not build, found without the example
        pytest.skip(record["not_checked"])
    from cilab.monitoring import NAMESPACE
    assert namespace == NAMESPACE, f"the monitoring example lives in {NAMESPACE}, not {namespace}"


# --- the example's ConfigMaps (seed 2582-2592) ----------------------------------------------


@when(parsers.parse('I list the ConfigMaps in "{namespace}"'))
def list_configmaps(lab: Lab, ctx: dict[str, Any], namespace: str) -> None:
    ctx["configmaps"] = {cm["metadata"]["name"]: cm for cm in lab.list("v1", "ConfigMap", namespace)}
    ctx["configmaps_ns"] = namespace


@then(parsers.re(r"they include (?P<names>[\w-]+(?:, [\w-]+)* and [\w-]+)$"))
@asserts("monitoring-configmaps")
def configmaps_include(ctx: dict[str, Any], names: str) -> None:
    wanted = sorted(n.strip() for n in names.replace(" and ", ", ").split(","))
    declared = sorted(fact("monitoring-configmaps").split())
    assert wanted == declared, f"the seed lists the ConfigMaps {', '.join(declared)}, the sentence {', '.join(wanted)}"
    seen = sorted(ctx["configmaps"])
    missing = [n for n in declared if n not in seen]
    assert not missing, (f"kubectl get cm -n {ctx['configmaps_ns']}: expected {', '.join(declared)} among the "
                         f"ConfigMaps, missing {', '.join(missing)}; saw {', '.join(seen) or 'none'}")


@then(parsers.parse("the prometheus ConfigMap's prometheus.yaml scrapes every {interval}"))
@asserts("prometheus-scrape-interval")
def scrape_interval(ctx: dict[str, Any], interval: str) -> None:
    assert interval == fact("prometheus-scrape-interval"), (
        f"the 1.17.6 example's prometheus.yaml sets scrape_interval {fact('prometheus-scrape-interval')}, "
        f"the sentence {interval}")
    cm = ctx["configmaps"].get("prometheus")
    assert cm is not None, f"kubectl get cm -n {ctx['configmaps_ns']}: no ConfigMap prometheus"
    seen = prometheus.scrape_interval(cm)
    assert seen == fact("prometheus-scrape-interval"), (
        f"ConfigMap {ctx['configmaps_ns']}/prometheus: expected prometheus.yaml's global scrape_interval "
        f"{fact('prometheus-scrape-interval')}, saw {seen}")


def _base(lab: Lab, node_port: int) -> str:
    return prometheus.base_url(lab, node_port)


# --- Prometheus and Grafana answer -------------------------------------------------------


@then(parsers.parse('Prometheus on NodePort {node_port:d} answers {path} with "{text}"'))
@outcome("GET of the path on the NodePort answers 200 with the text in its body")
def prometheus_answers(lab: Lab, node_port: int, path: str, text: str) -> None:
    url = _base(lab, node_port) + path

    def check() -> None:
        resp = lab.http_get(url, timeout=10)
        assert resp.status == 200 and text in resp.body, \
            f"GET {url}: expected 200 with {text!r}, saw {resp.status} {resp.body[:160]!r}"
    lab.eventually(check, what=f"Prometheus answers {url}", budget="metrics")


@then(parsers.parse('Grafana on NodePort {node_port:d} answers /api/health with database "{state}"'))
@outcome("GET /api/health on the NodePort answers 200 with that database state")
def grafana_health(lab: Lab, node_port: int, state: str) -> None:
    url = _base(lab, node_port) + "/api/health"

    def check() -> None:
        import json
        resp = lab.http_get(url, timeout=10)
        assert resp.status == 200, f"GET {url}: expected 200, saw {resp.status} {resp.body[:160]!r}"
        try:
            seen = json.loads(resp.body).get("database")
        except (ValueError, AttributeError):
            raise AssertionError(f"GET {url}: expected JSON, saw {resp.body[:160]!r}") from None
        assert seen == state, f"GET {url}: expected database {state!r}, saw {seen!r}"
    lab.eventually(check, what=f"Grafana answers {url}", budget="metrics")


# --- scrape targets ------------------------------------------------------------------------


@then(parsers.parse("Prometheus has an active target on port {port:d} of every node, and each is up"))
@outcome("Prometheus' active targets hold <node InternalIP>:<port> for every node, each with health up")
def target_on_every_node(lab: Lab, port: int) -> None:
    base = _base(lab, prometheus.PROMETHEUS_NODE_PORT)

    def check() -> None:
        cluster = k8s.nodes(lab)
        found = [t for t in prometheus.targets(lab, base) if t.port == port]
        wrong = []
        for node in sorted(cluster):
            mine = [t for t in found if t.host == cluster[node]]
            if not mine:
                wrong.append(f"no active target {cluster[node]}:{port} ({node})")
            wrong += [f"target {t.describe()} on {node} is not up" for t in mine if t.health != "up"]
        assert not wrong, ("; ".join(wrong) + f" (targets on {port}: "
                           + (", ".join(t.describe() for t in found) or "none") + ")")
    lab.eventually(check, what=f"Prometheus scrapes {port} on every node", budget="metrics")


@then(parsers.parse("Prometheus has an active target on port {port:d} exactly once, on the operator's node, and up"))
@outcome("Prometheus' active targets on the port are exactly one, on the node of the one Running operator "
         "pod, with health up")
def target_on_operator_node(lab: Lab, port: int) -> None:
    """Exactly one: the lab runs one operator replica, whose 9963 is open on k8s-ctr only
    (seed 2683-2695); it is scraped where it runs."""
    base = _base(lab, prometheus.PROMETHEUS_NODE_PORT)

    def check() -> None:
        cluster = k8s.nodes(lab)
        op_nodes = sorted({k8s.pod_node(p) for p in
                           k8s.running_pods(lab, "kube-system", "io.cilium/app=operator")})
        assert len(op_nodes) == 1, f"expected one Running cilium-operator pod, found them on {op_nodes or 'no node'}"
        want = cluster[op_nodes[0]]
        found = [t for t in prometheus.targets(lab, base) if t.port == port]
        assert [t.host for t in found] == [want], (
            f"expected exactly one target on port {port}, {want}:{port} on {op_nodes[0]} where the "
            f"operator runs; saw {len(found)}: {', '.join(t.describe() for t in found) or 'none'}")
        assert found[0].health == "up", f"target {found[0].describe()} is not up"
    lab.eventually(check, what=f"Prometheus scrapes {port} once, on the operator's node", budget="metrics")


# --- series in Prometheus ------------------------------------------------------------------


@then(parsers.parse('the Prometheus query "{promql}" returns a positive count from the Hubble metrics of every node'))
@outcome("the query returns a positive series for the :9965 instance of every node")
def query_positive_from_hubble(lab: Lab, promql: str) -> None:
    """Every node: every agent runs a Hubble observer and Prometheus scrapes each one's
    :9965 (seed 2683-2695), so each node's instance must count flows; one positive node
    would hide the others' silent observers.  Other series (other instances, a real lab's
    extra labels) are shown, never required."""
    base = _base(lab, prometheus.PROMETHEUS_NODE_PORT)

    def check() -> None:
        hubble = {f"{ip}:{prometheus.HUBBLE_METRICS_PORT}": node for node, ip in k8s.nodes(lab).items()}
        series = prometheus.query(lab, base, promql)
        seen = ", ".join(f"{s.labels.get('instance', '?')}={s.value:g}" for s in series) or "no series"
        positive = {s.labels.get("instance") for s in series if s.value > 0}
        missing = [f"{inst} ({hubble[inst]})" for inst in sorted(hubble) if inst not in positive]
        assert not missing, (f"query {promql!r}: no positive series for {', '.join(missing)} "
                             f"(expected one from the Hubble metrics of every node); saw {seen}")
    lab.eventually(check, what=f"Prometheus answers {promql} for every node", budget="metrics")


# --- policies ------------------------------------------------------------------------------


#: the policies a metrics scenario applies, by the CiliumNetworkPolicy's name: the project's
#: manifests (fixtures/manifests/...) stay out of the feature text
POLICIES = {"webpod-deny-curl": "metrics/webpod-deny-curl.yaml",
            "webpod-http-visibility": "metrics/webpod-http-visibility.yaml",
            "l7-visibility": "webpod/l7_visibility_policy.yaml"}


@given(parsers.parse('the policy "{name}" is applied and realised'))
def policy_applied(lab: Lab, scenario_ns: str, name: str) -> None:
    relpath = POLICIES[name]
    applied = manifests.apply(lab, relpath, scenario_ns)
    for obj in manifests.load(relpath):
        if obj["kind"] == "CiliumNetworkPolicy":
            wait_policy_realised(lab, scenario_ns, obj["metadata"]["name"])
    assert applied, f"{relpath} holds no object"


# --- drops ------------------------------------------------------------------------------------

DROP_METRIC = "hubble_drop_total"


def _node_drops(lab: Lab, ip: str, reason: str) -> float:
    return metric_sum(prometheus.scrape(lab, ip), DROP_METRIC, reason=reason)


@given(parsers.parse('I note hubble_drop_total{{reason="{reason}"}} on every node'))
def note_drops(lab: Lab, ctx: dict[str, Any], reason: str) -> None:
    ctx["drops_before"] = {node: _node_drops(lab, ip, reason) for node, ip in sorted(k8s.nodes(lab).items())}


@when("curl-pod sends a marked request to the webpod Service, which the policy denies")
def denied_request(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    req = traffic.new_request(lab, scenario_ns, whoami.CURL_POD, "GET", whoami.url(scenario_ns))
    ctx["request"], ctx["response"] = req, traffic.send(lab, req)


@then("curl-pod's request times out")
@outcome("the name resolved to the webpod Service's ClusterIP and curl's connect attempt timed out: exit 28, "
         "no answer")
def request_times_out(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    """A policy drop, told apart by its cause: the connect attempt to the webpod Service's
    address timed out (not a resolver timeout, a refusal or an answer)."""
    resp: traffic.Response = ctx["response"]
    problem = traffic.deny_problem(resp, k8s.cluster_ip(lab, scenario_ns, whoami.WEBPOD))
    assert problem is None, (f"{resp.request.url}: expected the connection to be dropped by policy (the connect "
                             f"attempt to the webpod Service times out after {traffic.CONNECT_TIMEOUT} s); "
                             f"saw: {problem}")


def _settled_drops(lab: Lab, resp: traffic.Response) -> list[Any]:
    """The request's own DROPPED flows, read until two reads in a row agree.

    hubble_drop_total has no namespace label: it counts every drop of the node, other
    workers' too, so the rise this scenario attributes to itself is exactly the number of
    its own DROPPED flows; a first read may not hold curl's retransmitted SYNs yet."""
    req = resp.request
    reads: list[int] = []

    def check() -> list[Any]:
        seen = flows.of_request(flows.observe(lab, req.namespace, "--verdict", "DROPPED"), resp)
        drops = [f for f in seen if f.verdict == "DROPPED"]
        previous = reads[-1] if reads else None
        reads.append(len(drops))
        assert drops, f"DROPPED flows of request {req.marker}: saw {flows.describe(seen)}"
        assert len(drops) == previous, (f"request {req.marker}: {len(drops)} DROPPED flow(s), "
                                        f"{'first read' if previous is None else f'{previous} on the read before'}")
        return drops
    return lab.eventually(check, what=f"the DROPPED flows of request {req.marker}, two reads agreeing",
                          budget="flows")


@then(parsers.parse("Hubble shows the request's packets DROPPED with reason {reason}"))
@outcome("the request's DROPPED flows (two reads agreeing) exist and each has that drop reason")
def hubble_shows_drops(lab: Lab, ctx: dict[str, Any], reason: str) -> None:
    req: traffic.Request = ctx["request"]
    drops = _settled_drops(lab, ctx["response"])
    wrong = [f for f in drops if f.drop_reason_desc != reason]
    assert not wrong, f"request {req.marker}: expected drop reason {reason}, saw {flows.describe(wrong)}"
    per_node: dict[str, int] = {}
    for f in drops:  # node_name is <node>, or <cluster-name>/<node> on a named cluster
        node = flows.node_of(f.node_name) or "?"
        per_node[node] = per_node.get(node, 0) + 1
    ctx["drops"] = per_node


@then(parsers.parse('hubble_drop_total{{reason="{reason}"}} rose by at least those drops on the node that dropped them'))
@outcome("on each node that dropped them, the node's counter rose by at least the request's own DROPPED flows there")
def drops_counted(lab: Lab, ctx: dict[str, Any], reason: str) -> None:
    cluster = k8s.nodes(lab)
    before, drops = ctx["drops_before"], ctx["drops"]
    unknown = sorted(set(drops) - set(cluster))
    assert not unknown, f"drops reported by unknown node(s) {unknown}; cluster nodes: {sorted(cluster)}"
    after: dict[str, float] = {}
    for node, count in sorted(drops.items()):
        def check(node: str = node, count: int = count) -> None:
            now = _node_drops(lab, cluster[node], reason)
            after[node] = now
            assert now - before[node] >= count, (
                f'{DROP_METRIC}{{reason="{reason}"}} on {node}: expected a rise of at least {count} '
                f"(the request's own DROPPED flows there; the counter is node-wide, so only they are "
                f"attributed to this scenario), saw {before[node]:g} -> {now:g}")
        lab.eventually(check, what=f"{DROP_METRIC} counts the drops on {node}", budget="metrics")
    ctx["drops_after"] = after


@then(parsers.parse('Prometheus reports at least that hubble_drop_total{{reason="{reason}"}} for that node'))
@outcome("Prometheus' sum of the counter for that node's :9965 instance is at least the value the node served")
def prometheus_has_drops(lab: Lab, ctx: dict[str, Any], reason: str) -> None:
    base = _base(lab, prometheus.PROMETHEUS_NODE_PORT)
    cluster = k8s.nodes(lab)
    for node, value in sorted(ctx["drops_after"].items()):
        instance = f"{cluster[node]}:{prometheus.HUBBLE_METRICS_PORT}"
        promql = f'sum({DROP_METRIC}{{reason="{reason}",instance="{instance}"}})'

        def check(promql: str = promql, node: str = node, value: float = value) -> None:
            series = prometheus.query(lab, base, promql)
            seen = series[0].value if series else None
            assert seen is not None and seen >= value, (
                f"Prometheus {promql}: expected at least {value:g} (scraped from {node}), "
                f"saw {'no series' if seen is None else f'{seen:g}'}")
        lab.eventually(check, what=f"Prometheus scraped the drops of {node}", budget="metrics")


# --- httpV2 -------------------------------------------------------------------------------------

HTTP_METRIC = "hubble_http_requests_total"


def _expected_value(phrase: str, lab: Lab, namespace: str, ctx: dict[str, Any]) -> str:
    if phrase == "curl-pod's IP":
        return whoami.pod_ip(whoami.pod(lab, namespace, whoami.CURL_POD)) or "<curl-pod has no IP>"
    if phrase == "the answering webpod's IP":
        return whoami.pod_ip(whoami.pod(lab, namespace, ctx["server_pod"])) or "<webpod has no IP>"
    if phrase == "the scenario's namespace":
        return namespace
    if phrase.startswith("empty"):
        return ""
    return phrase


@then(parsers.parse("the Hubble metrics of the answering webpod's node count it in {metric} with:"))
@outcome("the answering webpod's node's :9965 has a series of the scenario's namespace with each table label "
         "and a value of at least 1")
def http_series(lab: Lab, scenario_ns: str, ctx: dict[str, Any], metric: str,
                datatable: list[list[str]]) -> None:
    # one series on one node: the one request is counted once, by the server-side reporter of
    # the node whose webpod answered it; other series there (other traffic) are shown, not required
    want = {r["label"]: _expected_value(r["value"], lab, scenario_ns, ctx) for r in table_rows(datatable)}
    server = ctx["server_pod"]
    node = k8s.pod_node(whoami.pod(lab, scenario_ns, server))
    ip = k8s.nodes(lab)[node]

    def check() -> None:
        samples = samples_named(prometheus.scrape(lab, ip), metric)
        ours = [s for s in samples if s.label("source_namespace") == scenario_ns
                or s.label("destination_namespace") == scenario_ns]
        match = [s for s in ours if all(s.label(k) == v for k, v in want.items()) and s.value >= 1]
        if match:
            return
        wanted = ",".join(f'{k}="{v}"' for k, v in want.items())
        seen = "; ".join("{" + ",".join(f'{k}="{v}"' for k, v in s.labels) + f"}} {s.value:g}" for s in ours)
        raise AssertionError(f"{metric} on {node} ({ip}:{prometheus.HUBBLE_METRICS_PORT}): expected a series "
                             f"{{{wanted}}} >= 1; saw {seen or f'no series of {scenario_ns} among {len(samples)}'}")
    lab.eventually(check, what=f"{metric} counts the request on {node}", budget="metrics")


# --- every Hubble metric family, and the prefixes of the agent's and Envoy's metrics -------------

#: what a metrics server serves besides its own families: the Go runtime's collector and the
#: Kubernetes client libraries the agent links (cilium/cilium pkg/metrics/registry.go serves
#: controller-runtime's registry next to its own)
FOREIGN_PREFIXES = ("go_", "process_", "promhttp_", "workqueue_", "rest_client_", "controller_runtime_",
                    "certwatcher_", "leader_election_")


@then(parsers.parse("port {port:d} of every node serves metrics named {prefix}..., among them {example}, "
                    "and none named hubble_..."))
@asserts("metric-prefixes")
def metrics_prefix(lab: Lab, port: int, prefix: str, example: str) -> None:
    assert prefix in fact("metric-prefixes").split(), (
        f"the seed names the prefixes {fact('metric-prefixes')}, the sentence {prefix}")
    for node, ip in sorted(k8s.nodes(lab).items()):
        def check(node: str = node, ip: str = ip) -> None:
            names = sorted({s.name for s in prometheus.scrape(lab, ip, port)})
            own = [n for n in names if not n.startswith(FOREIGN_PREFIXES)]
            wrong = [n for n in own if not n.startswith(prefix)]
            hubble = [n for n in names if n.startswith("hubble_")]
            assert own and not wrong and not hubble and any(n.startswith(example) for n in own), (
                f"{node} ({ip}:{port}): expected metrics named {prefix}... (among them {example}) and no hubble_..., "
                f"saw {len(own)} own metric name(s)" + (f", not {prefix}...: {', '.join(wrong[:5])}" if wrong else "")
                + (f", hubble_...: {', '.join(hubble[:3])}" if hubble else "")
                + ("" if any(n.startswith(example) for n in own) else f", no {example}"))
        lab.eventually(check, what=f"{prefix} metrics on {node}:{port}", budget="metrics")


def _client_node(lab: Lab, namespace: str) -> tuple[str, str]:
    node = k8s.pod_node(whoami.pod(lab, namespace, whoami.CURL_POD)) or "?"
    return node, k8s.nodes(lab).get(node, "?")


@given("I note the Hubble metrics of curl-pod's node")
def note_client_metrics(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    node, ip = _client_node(lab, scenario_ns)
    ctx["metrics_node"] = (node, ip)
    ctx["metrics_before"] = prometheus.scrape(lab, ip)


@when("curl-pod pings the webpod that answered")
def ping_webpod(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    ip = whoami.pod_ip(whoami.pod(lab, scenario_ns, ctx["server_pod"]))
    assert ip, f"{ctx['server_pod']} has no pod IP"
    ctx["ping"] = traffic.ping(lab, scenario_ns, whoami.CURL_POD, ip)


@then("the ping gets no reply")
@outcome("ping sent at least one echo request and received no reply")
def ping_unanswered(ctx: dict[str, Any]) -> None:
    ping: traffic.PingResult = ctx["ping"]
    assert ping.sent >= 1 and ping.received == 0, (
        f"ping {ping.target} from curl-pod: expected no reply (the policy allows no ICMP), saw "
        f"{ping.sent} sent, {ping.received} received (exit {ping.rc})")


def _label_filters(text: str, namespace: str) -> dict[str, str]:
    """`a="x", b=(ours)` -> {"a": "x", "b": <the scenario's namespace>}."""
    out = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, _, value = part.partition("=")
        value = value.strip()
        out[key.strip()] = namespace if value == "(ours)" else value.strip('"')
    return out


@then("on curl-pod's node these Hubble metrics rose:")
@outcome("each row's series on curl-pod's node's :9965 is higher than before the traffic (node-wide sums; "
         "httpV2 limited to the scenario's namespace)")
def families_rose(lab: Lab, scenario_ns: str, ctx: dict[str, Any], datatable: list[list[str]]) -> None:
    # every family, on one node: the agent of curl-pod's node counts curl-pod's traffic there; the
    # rows other than httpV2 (which is limited to the scenario's namespace) are node-wide sums, so
    # their rise shows the family counts on that node while curl-pod sent its traffic, not whose
    # packet it was (features/metrics.feature says so)
    node, ip = ctx["metrics_node"]
    before = ctx["metrics_before"]
    rows = [(r["family"], r["metric"], _label_filters(r["labels"], scenario_ns)) for r in table_rows(datatable)]
    ctx["families"] = {family for family, _, _ in rows}

    def series(metric: str, labels: dict[str, str]) -> str:
        return metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"

    def check() -> None:
        after = prometheus.scrape(lab, ip)
        flat = []
        for family, metric, labels in rows:
            was, now = metric_sum(before, metric, **labels), metric_sum(after, metric, **labels)
            if now <= was:
                flat.append(f"{family}: {series(metric, labels)} {was:g} -> {now:g}")
        assert not flat, (f"on {node} ({ip}:{prometheus.HUBBLE_METRICS_PORT}) expected every family's counter "
                          "to rise while curl-pod sent its traffic; did not rise: " + "; ".join(flat))
    lab.eventually(check, what=f"every Hubble metric family rises on {node}", budget="metrics")


@then("those are all the families cilium-config enables in hubble-metrics")
@asserts("hubble-metric-families")
def families_are_the_enabled_ones(lab: Lab, ctx: dict[str, Any]) -> None:
    cfg = k8s.configmap_data(lab, "kube-system", "cilium-config") or {}
    enabled = {item.split(":", 1)[0] for item in (cfg.get("hubble-metrics") or "").split()}
    seed = set(fact("hubble-metric-families").split())
    assert enabled == seed, (f"cilium-config hubble-metrics enables {', '.join(sorted(enabled)) or 'nothing'}; "
                             f"the lab's Helm upgrade enables {', '.join(sorted(seed))}")
    checked = ctx["families"]
    assert enabled == checked, (f"cilium-config hubble-metrics enables {', '.join(sorted(enabled)) or 'nothing'}; "
                                f"the scenario checks {', '.join(sorted(checked))}")


# --- Grafana -------------------------------------------------------------------------------------


@then(parsers.parse("Grafana on NodePort {node_port:d} lists these dashboards:"))
@outcome("Grafana's dashboard search lists each title of the table")
def grafana_dashboards(lab: Lab, node_port: int, datatable: list[list[str]]) -> None:
    base = _base(lab, node_port)
    want = [r["title"] for r in table_rows(datatable)]

    def check() -> None:
        titles = grafana.dashboard_titles(lab, base)
        missing = [t for t in want if t not in titles]
        assert not missing, (f"Grafana dashboards: missing {', '.join(repr(t) for t in missing)}; "
                             f"saw {', '.join(repr(t) for t in sorted(titles)) or 'none'}")
    lab.eventually(check, what="Grafana lists the dashboards", budget="metrics")


@then(parsers.parse('Grafana on NodePort {node_port:d} has the data source "{name}" of type "{kind}" at "{url}"'))
@outcome("Grafana has a data source of that name, with that type and URL")
def grafana_datasource(lab: Lab, ctx: dict[str, Any], node_port: int, name: str, kind: str, url: str) -> None:
    base = _base(lab, node_port)
    sources = grafana.datasources(lab, base)
    mine = [d for d in sources if d.name == name]
    assert mine, (f"Grafana data sources: expected {name!r}, saw "
                  f"{', '.join(repr(d.name) for d in sources) or 'none'}")
    ds = mine[0]
    assert (ds.type, ds.url) == (kind, url), \
        f"Grafana data source {name!r}: expected type {kind!r} at {url!r}, saw type {ds.type!r} at {ds.url!r}"
    ctx["grafana"] = (base, ds)


@then(parsers.parse('the Prometheus query "{promql}" through that data source returns series'))
@outcome("the query through Grafana's data-source proxy answers HTTP 200, status success, with at least one series")
def grafana_proxied_query(lab: Lab, ctx: dict[str, Any], promql: str) -> None:
    base, ds = ctx["grafana"]
    # one series: this shows the data source reaches Prometheus; which targets are up is the
    # targets scenario's

    def check() -> None:
        status, doc = grafana.proxied_query(lab, base, ds.uid, promql)
        where = f"Grafana data source {ds.name!r} (uid {ds.uid})"
        assert status == 200, f"{where}: query {promql!r} answered HTTP {status}: {str(doc)[:200]}"
        assert isinstance(doc, dict) and doc.get("status") == "success", \
            f"{where}: query {promql!r}: expected status success, saw {str(doc)[:200]}"
        result = (doc.get("data") or {}).get("result") or []
        assert result, f"{where}: query {promql!r} returned no series"
    lab.eventually(check, what=f"Grafana's data source answers {promql}", budget="metrics")

