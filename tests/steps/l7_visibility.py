"""Steps of features/l7_visibility.feature (and the webpod steps redaction.feature reuses).

Each step binds a sentence to one probe and one check.  Workloads are the project's own
manifests (fixtures/manifests/webpod/) applied into the scenario's namespace; requests
are sent from curl-pod with their own marker and pinned client port
(cilab.probes.traffic), and flows are matched to exactly that request.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from pytest_bdd import given, parsers, then, when

from cilab import manifests
from cilab.facts import asserts, fact, outcome
from cilab.lab import Lab
from cilab.parsers import kube
from cilab.parsers.hubble import Flow
from cilab.probes import attempt_flows, flows, k8s, l7, traffic, whoami
from tests.steps.common import table_rows

WEBPOD = "webpod/webpod.yaml"
CURL_POD = "webpod/curl-pod.yaml"
POLICY = "webpod/l7_visibility_policy.yaml"
POLICY_NAME = "l7-visibility"
CLIENT = "curl-pod"
#: requests sent at most while waiting for both replicas to answer (a fair balancer
#: leaves both unseen after 12 requests with probability 2 * 2**-12)
MAX_SPREAD_REQUESTS = 12


@pytest.fixture
def webpod_ns(request: pytest.FixtureRequest) -> str:
    """The namespace the webpod steps work in: the scenario's own namespace, created under
    the shared cluster lock; for a @cluster_change scenario, the one created under the
    exclusive lock (tests/steps/redaction.py), since a shared lock held by the scenario
    itself would keep the exclusive one out forever."""
    if request.node.get_closest_marker("cluster_change") is not None:
        return request.getfixturevalue("exclusive_ns")
    return request.getfixturevalue("scenario_ns")


def _pod_ready(pod: dict[str, Any] | None) -> tuple[bool, str]:
    if pod is None:
        return False, "absent"
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return status.get("phase") == "Running" and ready, f"{status.get('phase', '?')}, ready={ready}"


def _webpod_pods(lab: Lab, namespace: str) -> dict[str, str | None]:
    """Running webpod pods: name -> node."""
    return {p["metadata"]["name"]: k8s.pod_node(p) for p in k8s.running_pods(lab, namespace, "app=webpod")}


# --- workloads and policy -----------------------------------------------------------------


@given("webpod and curl-pod are running in my namespace")
def webpod_and_curl_pod(lab: Lab, webpod_ns: str, ctx: dict[str, Any]) -> None:
    manifests.apply(lab, WEBPOD, webpod_ns)
    manifests.apply(lab, CURL_POD, webpod_ns)

    def check() -> dict[str, Any]:
        dep = k8s.deployment(lab, webpod_ns, "webpod")
        assert dep is not None, "Deployment webpod does not exist"
        ready, want = kube.deployment_ready(dep)
        assert want == 2 and ready == want, f"Deployment webpod: {ready}/{want} ready (want 2/2)"
        whoami.check_backends(lab, webpod_ns, dep)
        pod = lab.get("v1", "Pod", CLIENT, webpod_ns)
        ok, seen = _pod_ready(pod)
        assert ok, f"Pod {CLIENT}: {seen}"
        return pod
    pod = lab.eventually(check, what=f"webpod 2/2 ready behind its Service and {CLIENT} running in {webpod_ns}",
                         budget="rollout")
    ctx["client_created"] = l7.pod_created(pod)


@given("the l7-visibility policy is in place")
def l7_policy(lab: Lab, webpod_ns: str) -> None:
    from cilab.probes.policy import wait_policy_realised
    manifests.apply(lab, POLICY, webpod_ns)
    wait_policy_realised(lab, webpod_ns, POLICY_NAME)


@when("every agent has realised the l7-visibility policy again")
def l7_policy_again(lab: Lab, webpod_ns: str) -> None:
    """After the agents restarted (a stage switch), before traffic relies on the policy."""
    from cilab.probes.policy import wait_policy_realised
    wait_policy_realised(lab, webpod_ns, POLICY_NAME)


# --- requests -------------------------------------------------------------------------------


def _answered(lab: Lab, namespace: str, url: str, marker_param: str = "cilab") -> traffic.Response:
    """A request from curl-pod that got an HTTP answer: a positive request, made again (new
    marker) while the lab lags, every attempt judged (`traffic.send_positive`): one that
    reached a webpod pod and failed (refused, a 5xx, Envoy's upstream connect error) fails
    the step, naming the pod and its node from the attempt's own flows; a timed-out one
    that its own flows show DROPPED by policy fails it too."""
    return traffic.send_positive(
        lab, namespace, CLIENT, "GET", url, marker_param=marker_param,
        backend_of=lambda resp: attempt_flows.backend_of(lab, resp, _webpod_pods(lab, namespace)),
        policy_drop_of=lambda resp: attempt_flows.policy_drop_of(lab, resp))


@when(parsers.re(r'curl-pod requests "(?P<url>[^"]+)" until both webpod pods have answered'))
def request_until_spread(lab: Lab, webpod_ns: str, ctx: dict[str, Any], url: str) -> None:
    pods = _webpod_pods(lab, webpod_ns)
    ctx["webpod_pods"] = pods
    responses = []
    for _ in range(MAX_SPREAD_REQUESTS):
        resp = _answered(lab, webpod_ns, url)
        responses.append(resp)
        if set(pods) <= {l7.parse_whoami(r.body).hostname for r in responses}:
            break
    ctx["responses"] = responses


@when(parsers.re(r'curl-pod requests "(?P<url>[^"]+)" with its marker as "(?P<param>[^"]+)"'))
def request_with_marker_param(lab: Lab, webpod_ns: str, ctx: dict[str, Any], url: str, param: str) -> None:
    resp = _answered(lab, webpod_ns, url, marker_param=param)
    ctx["request"], ctx["response"] = resp.request, resp
    ctx["responses"] = [resp]


@when(parsers.re(r'curl-pod requests "(?P<url>[^"]+)"'))
def request_once(lab: Lab, webpod_ns: str, ctx: dict[str, Any], url: str) -> None:
    resp = _answered(lab, webpod_ns, url)
    ctx["request"], ctx["response"] = resp.request, resp
    ctx["responses"] = [resp]


@when(parsers.re(r'curl-pod tries "(?P<url>[^"]+)"'))
def request_try(lab: Lab, webpod_ns: str, ctx: dict[str, Any], url: str) -> None:
    """One attempt, no retry: whether an answer comes back is the verdict."""
    req = traffic.new_request(lab, webpod_ns, CLIENT, "GET", url)
    extra = ("-k",) if urlsplit(url).scheme == "https" else ()
    ctx["request"], ctx["response"] = req, traffic.send(lab, req, extra=extra)


# --- what whoami answered -------------------------------------------------------------------


@then("every answer came from a webpod pod and both pods answered")
@outcome("every answer's whoami Hostname is a webpod pod, and both webpod pods answered")
def both_replicas_answered(ctx: dict[str, Any]) -> None:
    pods = ctx["webpod_pods"]
    seen = [l7.parse_whoami(r.body).hostname for r in ctx["responses"]]
    strangers = sorted({h or "<no Hostname line>" for h in seen} - set(pods))
    assert not strangers, f"answers from {', '.join(strangers)}; expected only the webpod pods {sorted(pods)}"
    missing = sorted(set(pods) - set(seen))
    assert len(pods) == 2 and not missing, (
        f"expected both webpod pods {sorted(pods)} to answer; in {len(seen)} request(s) "
        f"{', '.join(missing) or 'none'} never answered (saw Hostname: {', '.join(str(h) for h in seen)})")


@then("the webpod pods run on different nodes")
@outcome("the two webpod pods run on two different nodes")
def replicas_spread(ctx: dict[str, Any]) -> None:
    pods = ctx["webpod_pods"]
    nodes = sorted(str(n) for n in pods.values())
    assert len(set(nodes)) == len(pods) == 2, (
        f"expected the 2 webpod pods on 2 different nodes, saw "
        f"{', '.join(f'{p} on {n}' for p, n in sorted(pods.items()))}")


@then("whoami echoes none of the Envoy headers")
@outcome("no whoami answer echoes X-Envoy-Expected-Rq-Timeout-Ms, X-Envoy-Internal, X-Forwarded-Proto or "
         "X-Request-Id")
def no_envoy_headers(ctx: dict[str, Any]) -> None:
    """Every answer: each replica's, so a replica reached through a proxy is named."""
    for resp in ctx["responses"]:
        echo = l7.parse_whoami(resp.body)
        present = [f"{h}: {echo.header(h)}" for h in l7.ENVOY_HEADERS if echo.header(h) is not None]
        assert not present, (f"without an L7 policy the request should reach webpod directly, but the answer of "
                             f"{echo.hostname or 'no Hostname line'} (client port {resp.request.local_port}): whoami "
                             f"echoed Envoy headers: {', '.join(present)}")


@then("the answer is HTTP 200 from a webpod pod")
@outcome("the answer is HTTP 200 and whoami's Hostname is one of the webpod pods")
def answer_200(lab: Lab, webpod_ns: str, ctx: dict[str, Any]) -> None:
    resp = ctx["response"]
    host = l7.parse_whoami(resp.body).hostname
    pods = _webpod_pods(lab, webpod_ns)
    assert resp.status == 200 and host in pods, (
        f"{resp.request.url}: expected HTTP 200 from one of {sorted(pods)}, saw HTTP {resp.status} "
        f"from {host or 'no Hostname line'}")


@then("whoami echoes these headers added by Envoy:")
@outcome("whoami echoes each header of the table with the table's value (a UUID where it says so)")
def envoy_headers(ctx: dict[str, Any], datatable: list[list[str]]) -> None:
    """Every answer of the When step (one, or one per webpod pod): each replica's answer must
    have come through Envoy."""
    for resp in ctx["responses"]:
        echo = l7.parse_whoami(resp.body)
        wrong = []
        for row in table_rows(datatable):
            name, want = row["header"], row["value"]
            seen = echo.header(name)
            if seen is None:
                wrong.append(f"{name}: expected {want!r}, absent")
            elif want == "(a UUID)":
                if not l7.UUID_RE.match(seen):
                    wrong.append(f"{name}: expected a UUID, saw {seen!r}")
            elif seen != want:
                wrong.append(f"{name}: expected {want!r}, saw {seen!r}")
        who = f"{echo.hostname or 'no Hostname line'} (request from port {resp.request.local_port})"
        assert not wrong, (f"the request should go through Envoy, which adds its headers; whoami in {who} echoed: "
                           + "; ".join(wrong)
                           + f" (headers received: {', '.join(k for k, _ in echo.headers) or 'none'})")


@then("whoami echoes the request line with the query it was sent")
@outcome("whoami's echoed request line is GET <path>?<query> HTTP/1.1 of the URL as sent")
def echoes_query(ctx: dict[str, Any]) -> None:
    req = ctx["request"]
    parts = urlsplit(req.url)
    want = f"GET {parts.path or '/'}?{parts.query} HTTP/1.1"
    seen = l7.parse_whoami(ctx["response"].body).request_line
    assert seen == want, (f"webpod should receive the request unchanged: expected whoami to echo {want!r}, "
                          f"saw {seen!r}")


# --- Hubble: DNS ------------------------------------------------------------------------------


def _dns_flows(lab: Lab, namespace: str, ctx: dict[str, Any], kind: str, qtype: str) -> list[Flow]:
    """Wait until Hubble holds curl-pod's `kind` (REQUEST/RESPONSE) for webpod's `qtype` record.

    One: curl-pod makes one lookup of webpod, so "a dns-request" / "a dns-response" is that
    lookup's one flow of each kind (the verdict and source are judged on what is found)."""
    query = f"webpod.{namespace}.svc.cluster.local."
    seen: list[Flow] = []

    def check() -> list[Flow]:
        nonlocal seen
        seen = l7.dns_flows(flows.observe(lab, namespace, "--type", "l7"), namespace, CLIENT, query,
                            ctx.get("client_created"))
        found = [f for f in seen if f.l7_type == kind and qtype in f.dns_qtypes]
        assert found, f"no dns-{kind.lower()} for {query} {qtype} of {CLIENT}; saw {flows.describe(seen)}"
        return found
    return lab.eventually(check, what=f"Hubble shows the dns-{kind.lower()} of {CLIENT} for {query} {qtype}",
                          budget="flows")


def _verdict_and_source(found: list[Flow], what: str) -> None:
    good = [f for f in found if f.verdict == "FORWARDED" and f.dns_observation_source == "proxy"]
    assert good, (f"{what}: expected verdict FORWARDED observed by the proxy, saw "
                  + "; ".join(f"{f.verdict} observed by {f.dns_observation_source or 'nobody'}" for f in found))


@then("Hubble shows a dns-request from curl-pod for the A record of webpod, observed by the proxy, FORWARDED")
@outcome("Hubble holds a dns-request of curl-pod for webpod.<namespace>.svc.cluster.local. A, with curl-pod "
         "as source, FORWARDED and observed by the proxy")
def dns_request(lab: Lab, webpod_ns: str, ctx: dict[str, Any]) -> None:
    found = _dns_flows(lab, webpod_ns, ctx, "REQUEST", "A")
    wrong_side = [f for f in found if f.source.pod_name != CLIENT]
    assert not wrong_side, f"dns-request: expected {CLIENT} as the source, saw {flows.describe(wrong_side)}"
    _verdict_and_source(found, "dns-request")


@then("Hubble shows a dns-response to curl-pod with the ClusterIP of Service webpod, observed by the proxy, FORWARDED")
@outcome("Hubble holds a dns-response to curl-pod for that A query with rcode 0 and Service webpod's "
         "ClusterIP, FORWARDED and observed by the proxy")
def dns_response(lab: Lab, webpod_ns: str, ctx: dict[str, Any]) -> None:
    cluster_ip = k8s.cluster_ip(lab, webpod_ns, "webpod")
    found = _dns_flows(lab, webpod_ns, ctx, "RESPONSE", "A")
    answering = [f for f in found if cluster_ip in f.dns_ips and f.dns_rcode == 0 and f.destination.pod_name == CLIENT]
    assert answering, (f"dns-response: expected the answer {cluster_ip} (Service webpod) to {CLIENT}, saw "
                       + "; ".join(f"ips {list(f.dns_ips)} rcode {f.dns_rcode} to {f.destination.pod_name}"
                                   for f in found))
    _verdict_and_source(answering, "dns-response")


@then("that answer carries the TTL CoreDNS gives the cluster's names, 30 seconds, or less while a cache counts it down")
@asserts("dns-answer-ttl")
def dns_answer_ttl(lab: Lab, webpod_ns: str, ctx: dict[str, Any]) -> None:
    """seed 2862: `(DNS Answer "10.96.166.184" TTL: 30)`.  The TTL comes from the `ttl 30` of the
    kubernetes block in kubeadm's Corefile (the coredns ConfigMap; the seed does not print it);
    a cache between curl-pod and that plugin serves the same answer with what is left of it."""
    ttl = int(fact("dns-answer-ttl"))
    cluster_ip = k8s.cluster_ip(lab, webpod_ns, "webpod")
    found = _dns_flows(lab, webpod_ns, ctx, "RESPONSE", "A")
    answering = [f for f in found if cluster_ip in f.dns_ips and f.destination.pod_name == CLIENT]
    wrong = [f for f in answering if f.dns_ttl is None or not 0 <= f.dns_ttl <= ttl]
    assert answering and not wrong, (
        f"dns-response of webpod.{webpod_ns}.svc.cluster.local. A: expected TTL {ttl} s or less (CoreDNS's ttl for "
        f"the cluster's names), saw " + ("; ".join(f"TTL {f.dns_ttl} for {list(f.dns_ips)}" for f in wrong or found)
                                         or "no answer"))


@then("curl-pod also asks for the AAAA record of webpod, answered with the Service's IPv6 addresses: none, the Service is IPv4 only")
@asserts("dns-aaaa-query")
def dns_aaaa(lab: Lab, webpod_ns: str, ctx: dict[str, Any]) -> None:
    """seed 2951-2953: curl-pod's resolver asks for the IPv4 (A) and the IPv6 (AAAA) address of the
    name; `(DNS Answer  TTL: 4294967295 (Proxy webpod.default.svc.cluster.local. AAAA))` carries
    no address.  The addresses an AAAA answer may hold are the Service's IPv6 ClusterIPs."""
    qtype = fact("dns-aaaa-query")
    svc = k8s.service(lab, webpod_ns, "webpod") or {}
    spec = svc.get("spec") or {}
    want = sorted(ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip and ":" in ip)
    asked = _dns_flows(lab, webpod_ns, ctx, "REQUEST", qtype)
    wrong_side = [f for f in asked if f.source.pod_name != CLIENT]
    assert not wrong_side, f"dns-request {qtype}: expected {CLIENT} as the source, saw {flows.describe(wrong_side)}"
    answers = [f for f in _dns_flows(lab, webpod_ns, ctx, "RESPONSE", qtype) if f.destination.pod_name == CLIENT]
    wrong = [f for f in answers if sorted(f.dns_ips) != want or f.dns_rcode != 0]
    assert answers and not wrong, (
        f"dns-response of webpod.{webpod_ns}.svc.cluster.local. {qtype}: expected rcode 0 and the Service's IPv6 "
        f"addresses {want or 'none'}, saw " + "; ".join(f"rcode {f.dns_rcode} ips {list(f.dns_ips) or 'none'}"
                                                        for f in wrong or answers))


# --- Hubble: HTTP -----------------------------------------------------------------------------


def request_flows(lab: Lab, sent: traffic.Response) -> dict[str, list[Flow]]:
    """Wait until Hubble holds both the http-request and the http-response of the request."""
    req = sent.request

    def check() -> dict[str, list[Flow]]:
        mine = l7.http_flows_of(flows.observe(lab, req.namespace, "--type", "l7"), sent)
        by_kind = {"REQUEST": [f for f in mine if f.l7_type == "REQUEST"],
                   "RESPONSE": [f for f in mine if f.l7_type == "RESPONSE"]}
        missing = [f"http-{k.lower()}" for k, v in by_kind.items() if not v]
        assert not missing, (f"no {' and no '.join(missing)} of {req.method} {req.url} "
                             f"(client port {req.local_port}); saw {flows.describe(mine)} ({flows.window(sent)})")
        return by_kind
    return lab.eventually(check, what=f"Hubble shows the HTTP flows of {req.url}", budget="flows")


@then("Hubble shows the http-request of the request, GET from curl-pod to a webpod pod, FORWARDED")
@outcome("the request's http-request flows (its marker and client port) exist and each is GET of its URL from "
         "curl-pod to a webpod pod, FORWARDED")
def http_request(lab: Lab, webpod_ns: str, ctx: dict[str, Any]) -> None:
    req = ctx["request"]
    pods = _webpod_pods(lab, webpod_ns)
    wrong = [f"{f.http_method} {f.http_url} {f.source.pod_name} -> {f.destination.pod_name} {f.verdict}"
             for f in request_flows(lab, ctx["response"])["REQUEST"]
             if not (f.http_method == "GET" and f.http_url == req.url and f.source.pod_name == CLIENT
                     and f.destination.pod_name in pods and f.verdict == "FORWARDED")]
    assert not wrong, (f"http-request: expected GET {req.url} {CLIENT} -> one of {sorted(pods)} FORWARDED, "
                       f"saw {'; '.join(wrong)}")


@then("Hubble shows the http-response of the request with code 200, FORWARDED")
@outcome("the request's http-response flows exist and each has code 200, FORWARDED")
def http_response(lab: Lab, ctx: dict[str, Any]) -> None:
    req = ctx["request"]
    wrong = [f"code {f.http_code} {f.verdict} ({f.summary})" for f in request_flows(lab, ctx["response"])["RESPONSE"]
             if not (f.http_code == 200 and f.verdict == "FORWARDED")]
    assert not wrong, f"http-response of {req.url}: expected code 200 FORWARDED, saw {'; '.join(wrong)}"


@then("Hubble shows the http-request of the request with the query in its URL")
@outcome("every http-request flow of the request shows its URL exactly as sent, query included")
def http_request_with_query(lab: Lab, ctx: dict[str, Any]) -> None:
    req = ctx["request"]
    urls = [f.http_url for f in request_flows(lab, ctx["response"])["REQUEST"]]
    assert all(u == req.url for u in urls), (f"without redaction the flow should show the URL as sent, "
                                             f"expected {req.url!r}, saw {urls}")


@then(parsers.parse('Hubble shows the http-request and http-response of the request with the URL "{url}"'))
@asserts("redacted-url")
def http_flows_url(lab: Lab, ctx: dict[str, Any], url: str) -> None:
    assert url == fact("redacted-url"), f"the seed shows the redacted URL {fact('redacted-url')!r}, the sentence {url!r}"
    req = ctx["request"]
    by_kind = request_flows(lab, ctx["response"])
    wrong = [f"http-{kind.lower()} URL {f.http_url!r} ({f.summary})"
             for kind, found in by_kind.items() for f in found if f.http_url != url]
    assert not wrong, (f"request {req.url} (client port {req.local_port}): expected the flows to show the URL "
                       f"{url!r}, saw {'; '.join(wrong)}")


# --- egress default-deny ----------------------------------------------------------------------


@then("the request times out without an answer")
@outcome("the name resolved and curl's connect attempt to that address timed out: exit 28, no connection, no "
         "HTTP answer")
def timed_out(ctx: dict[str, Any]) -> None:
    """A policy drop, told apart by its cause: the name resolved, curl tried that address,
    and the connect attempt timed out (not a resolver timeout, a refusal or an answer)."""
    resp = ctx["response"]
    problem = traffic.deny_problem(resp)
    assert problem is None, (
        f"{resp.request.url}: expected the connection to be dropped by policy (the connect attempt to the "
        f"resolved address times out after {traffic.CONNECT_TIMEOUT} s, no answer); saw: {problem}")


@then(parsers.parse('Hubble shows the request\'s packets from curl-pod DROPPED with reason "{reason}"'))
@outcome("Hubble holds a DROPPED flow of the request (its client port) from curl-pod with that drop reason")
def dropped(lab: Lab, ctx: dict[str, Any], reason: str) -> None:
    sent = ctx["response"]
    req = sent.request

    def dropped_flow(seen: list[Flow]) -> bool:
        return any(f.verdict == "DROPPED" and f.drop_reason_desc == reason and f.source.pod_name == CLIENT
                   for f in seen)
    flows.await_flows(lab, sent, dropped_flow,
                      f"expected a {reason} drop of {CLIENT}'s packets (client port {req.local_port})",
                      "--type", "drop")
