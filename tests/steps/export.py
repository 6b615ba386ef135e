"""Steps of features/export.feature, and the curl-pod -> webpod steps shared with
features/metrics.feature: each binds a sentence to one probe and one check."""
from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, then, when

from cilab import manifests
from cilab.lab import Lab
from cilab.probes import export, flows, k8s, traffic, whoami

# --- curl-pod and webpod (seed 2398-2533) ------------------------------------------------


@given("curl-pod and webpod are running in the scenario's namespace")
def webpod_and_curl_pod(lab: Lab, scenario_ns: str) -> None:
    manifests.apply(lab, whoami.WEBPOD_MANIFEST, scenario_ns)
    manifests.apply(lab, whoami.CURL_POD_MANIFEST, scenario_ns)
    whoami.wait_ready(lab, scenario_ns)


@when("curl-pod sends a marked request to the webpod Service")
def request_to_webpod(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    """One marked GET, sent once webpod's endpoints are its pods (`whoami.wait_ready`).  A
    request that got no answer or a 5xx (the Service's backends or the proxy's upstream not
    programmed yet) is made again, with a fresh marker, within a bounded wait
    (`traffic.send_positive`); the Then steps judge the last one."""
    resp = traffic.send_positive(lab, scenario_ns, whoami.CURL_POD, "GET", whoami.url(scenario_ns), keep_last=True)
    ctx["request"], ctx["response"] = resp.request, resp


@then("a webpod answers it with HTTP 200")
def webpod_answers(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    resp: traffic.Response = ctx["response"]
    assert resp.status == 200, (f"{resp.request.url}: expected HTTP 200 from webpod, saw "
                                f"{resp.status or 'no answer'} (curl exit {resp.rc}: {resp.error or 'no error text'})")
    server = whoami.answered_by(resp.body)
    assert server is not None and server.startswith(f"{whoami.WEBPOD}-"), \
        f"{resp.request.url}: expected whoami's 'Hostname: webpod-...' line, saw {resp.body[:160]!r}"
    ctx["server_pod"] = server


def side_node(lab: Lab, namespace: str, ctx: dict[str, Any], side: str) -> tuple[str, str]:
    """(pod, node) of the request's client (curl-pod) or server (the webpod that answered)."""
    if side == "client":
        name = whoami.CURL_POD
    elif side == "server":
        name = ctx["server_pod"]
    else:
        raise ValueError(f"unknown side {side!r}: expected client or server")
    node = k8s.pod_node(whoami.pod(lab, namespace, name))
    assert node, f"Pod {namespace}/{name} is not scheduled on a node"
    return name, node


# --- configuration -----------------------------------------------------------------------
# (`When I read the ConfigMap ...` / `Then it has these entries:` are tests/steps/hubble.py's)


@then(parsers.parse("on every node the export directory holds events.log of at most {mb:d} MB "
                    "and at most {backups:d} rotated backups"))
def export_files_within_limits(lab: Lab, mb: int, backups: int) -> None:
    def check() -> None:
        wrong = []
        for node in sorted(k8s.nodes(lab)):
            found = export.files(lab, node)
            current = [f for f in found if f.name == "events.log"]
            rotated = sorted(f.name for f in found if export.is_backup(f.name))
            if not current:
                wrong.append(f"no events.log in {export.EXPORT_DIR} on {node} "
                             f"(saw {', '.join(f.name for f in found) or 'nothing'})")
            elif current[0].size > mb * 1024 * 1024:
                wrong.append(f"events.log on {node} is {current[0].size} bytes, over {mb} MB")
            if len(rotated) > backups:
                wrong.append(f"expected at most {backups} rotated backups on {node}, "
                             f"saw {len(rotated)}: {', '.join(rotated)}")
        assert not wrong, "; ".join(wrong)
    lab.eventually(check, what="export files within the rotation limits on every node")


# --- the request in the export files --------------------------------------------------------


@then(parsers.parse("the export file on the node running the {side} holds JSON flow events of that node"))
def export_file_holds_events(lab: Lab, scenario_ns: str, ctx: dict[str, Any], side: str) -> None:
    """One node per side: an agent exports the flows it observes, so the request is in the
    files of the client's and the server's nodes (each an outline row), no other."""
    pod, node = side_node(lab, scenario_ns, ctx, side)
    ctx["export_node"] = node

    def check() -> None:
        read = export.read(lab, node, scenario_ns)
        assert read.exists, f"no export file on {node} ({read.problem})"
        assert not read.problem, f"{export.EXPORT_FILE} on {node}: {read.problem}"
        assert read.batch.flows, (f"{export.EXPORT_FILE} on {node} ({side} {pod}): no flow of "
                                  f"namespace {scenario_ns} among its last {export.EXPORT_TAIL_LINES} lines")
        strangers = sorted({f.node_name or "<none>" for f in read.batch.flows if flows.node_of(f.node_name) != node})
        assert not strangers, (f"{export.EXPORT_FILE} on {node}: expected events with node_name {node} "
                               f"(or <cluster>/{node}), saw node_name {', '.join(strangers)}")
    lab.eventually(check, what=f"flow events of {scenario_ns} in the export file on {node}", budget="flows")


@then("among them are the request's flows between curl-pod and the webpod, FORWARDED")
def export_file_has_request(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    req: traffic.Request = ctx["request"]
    node, server = ctx["export_node"], ctx["server_pod"]
    pair = {whoami.CURL_POD, server}

    def check() -> None:
        read = export.read(lab, node, scenario_ns)
        mine = [f for f in flows.of_request(read.batch.flows, ctx["response"])
                if {f.source.pod_name, f.destination.pod_name} == pair
                and f.source.namespace == f.destination.namespace == scenario_ns]
        assert mine, (f"expected flows of request {req.marker} (curl-pod port {req.local_port} <-> {server}) "
                      f"in {export.EXPORT_FILE} on {node}, saw none among {len(read.batch.flows)} "
                      f"flow(s) of {scenario_ns} ({flows.window(ctx['response'])}): {flows.describe(read.batch.flows)}")
        wrong = [f for f in mine if f.verdict != "FORWARDED"]
        assert not wrong, (f"request {req.marker} in {export.EXPORT_FILE} on {node}: expected FORWARDED, "
                           f"saw {flows.describe(wrong)}")
    lab.eventually(check, what=f"request {req.marker} in the export file on {node}", budget="flows")
