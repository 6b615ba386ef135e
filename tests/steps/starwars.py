"""Steps of features/starwars.feature: each binds a sentence to one probe and one check."""
from __future__ import annotations

from typing import Any, Callable

from pytest_bdd import given, parsers, then, when

from cilab.facts import asserts, fact, outcome
from cilab.lab import Lab
from cilab.parsers import kube
from cilab.parsers.hubble import Flow
from cilab.probes import flows, k8s, policy, starwars, traffic
from tests.steps.common import table_rows

MAX_TIME = 5  # curl --max-time for every request of this chapter (and --connect-timeout 2, as the seed)

# --- setup ------------------------------------------------------------------------------------


@given("the Star Wars demo is deployed in the scenario's namespace")
def demo_deployed(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    starwars.deploy(lab, scenario_ns)
    ctx["starwars_pods"] = starwars.wait_ready(lab, scenario_ns)


@given("the L3/L4 policy rule1 is in force")
def l3_l4_in_force(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    starwars.apply_policy(lab, scenario_ns, starwars.L3_L4_POLICY)
    policy.wait_policy_realised(lab, scenario_ns, starwars.POLICY_NAME)
    ctx["rule1"] = "l3l4"


@given("rule1 is updated to the L7 policy")
@when("rule1 is updated to the L7 policy")
def l7_in_force(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    starwars.apply_policy(lab, scenario_ns, starwars.L7_POLICY)
    policy.wait_policy_realised(lab, scenario_ns, starwars.POLICY_NAME)
    ctx["rule1"] = "l7"


def _deathstar_pods(ctx: dict[str, Any]) -> list[str]:
    return sorted(p["metadata"]["name"] for p in ctx["starwars_pods"] if starwars.is_deathstar(p))


# --- the demo as deployed -----------------------------------------------------------------------


@then(parsers.parse('the Deployment "{name}" has {replicas:d} ready replicas'))
@outcome("the Deployment wants exactly that many replicas and all of them are ready")
def deployment_replicas(lab: Lab, scenario_ns: str, name: str, replicas: int) -> None:
    def check() -> None:
        obj = k8s.deployment(lab, scenario_ns, name)
        assert obj is not None, f"Deployment {scenario_ns}/{name} does not exist"
        ready, want = kube.deployment_ready(obj)
        assert (want, ready) == (replicas, replicas), (
            f"Deployment {name}: expected {replicas} replicas, {replicas} ready; saw {want} wanted, {ready} ready")
    lab.eventually(check, what=f"Deployment {name} with {replicas} ready replicas", budget="rollout")


@then(parsers.parse('the Service "{name}" sends port {port:d} to the {count:d} deathstar pods'))
@outcome("the Service has the port and its endpoints are exactly the deathstar pods' IPs on it")
def service_to_deathstars(lab: Lab, scenario_ns: str, ctx: dict[str, Any], name: str,
                          port: int, count: int) -> None:
    def check() -> None:
        svc = k8s.service(lab, scenario_ns, name)
        assert svc is not None, f"Service {scenario_ns}/{name} does not exist"
        ports = [p.port for p in kube.service_ports(svc)]
        assert port in ports, f"Service {name}: expected port {port}, saw {ports or 'no ports'}"
        pod_ips = {(p.get("status") or {}).get("podIP") for p in ctx["starwars_pods"] if starwars.is_deathstar(p)}
        want = {(ip, port) for ip in pod_ips if ip}
        seen = k8s.service_endpoints(lab, scenario_ns, name)
        fmt = lambda s: ", ".join(f"{ip}:{p}" for ip, p in sorted(s)) or "none"  # noqa: E731
        assert len(want) == count and seen == want, (
            f"Service {name} port {port}: expected the {count} deathstar pods {fmt(want)}, saw endpoints {fmt(seen)}")
    lab.eventually(check, what=f"Service {name} in front of the deathstar pods")


@then("the pods carry these labels:")
@outcome("each pod of the table carries the table's org and class labels")
def pods_labels(ctx: dict[str, Any], datatable: list[list[str]]) -> None:
    by_name = {p["metadata"]["name"]: (p["metadata"].get("labels") or {}) for p in ctx["starwars_pods"]}
    wrong = []
    for row in table_rows(datatable):
        labels = by_name.get(row["pod"])
        if labels is None:
            wrong.append(f"{row['pod']}: no such pod")
            continue
        for key in ("org", "class"):
            if labels.get(key) != row[key]:
                wrong.append(f"{row['pod']}: expected {key}={row[key]}, saw {labels.get(key, '<absent>')}")
    assert not wrong, "pod labels: " + "; ".join(wrong)


@then("both deathstar pods have the same security identity")
@outcome("the CiliumEndpoints of both deathstar pods have one and the same identity")
def deathstars_share_identity(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    names = _deathstar_pods(ctx)

    def check() -> None:
        ids = starwars.endpoints_identities(lab, scenario_ns)
        seen = {n: ids.get(n) for n in names}
        assert all(v is not None for v in seen.values()), f"CiliumEndpoints without identity yet: {seen}"
        assert len(set(seen.values())) == 1, (
            "expected both deathstar pods to share one security identity, saw "
            + ", ".join(f"{n}: {v}" for n, v in seen.items()))
    lab.eventually(check, what="the deathstar pods share one identity")


@then("tiefighter and xwing each have an identity of their own, different from the deathstar's")
@outcome("tiefighter, xwing and a deathstar have three different CiliumEndpoint identities")
def ships_own_identities(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    """One deathstar pod stands for "the deathstar's" identity: that both share it is the
    step before ("both deathstar pods have the same security identity")."""
    deathstar = _deathstar_pods(ctx)[0]

    def check() -> None:
        ids = starwars.endpoints_identities(lab, scenario_ns)
        seen = {n: ids.get(n) for n in (deathstar, *starwars.SHIPS)}
        assert all(v is not None for v in seen.values()), f"CiliumEndpoints without identity yet: {seen}"
        assert len(set(seen.values())) == 3, (
            "expected tiefighter, xwing and the deathstar to have three different identities, saw "
            + ", ".join(f"{n}: {v}" for n, v in seen.items()))
    lab.eventually(check, what="the ships have identities of their own")


@then("`kubectl get ciliumidentities` lists each identity of the demo as a CiliumIdentity of the scenario's namespace")
@asserts("ciliumidentity-namespace")
def identities_are_objects(lab: Lab, scenario_ns: str) -> None:
    # seed 1573-1577: `NAMESPACE` `default` -- the seed's "default" is the scenario's namespace here
    seed_ns = fact("ciliumidentity-namespace")

    def check() -> None:
        ids = starwars.endpoints_identities(lab, scenario_ns)
        assert ids and all(v is not None for v in ids.values()), f"CiliumEndpoints without identity yet: {ids}"
        objs = {o["metadata"]["name"]: o for o in starwars.ciliumidentities(lab, scenario_ns)}
        wrong = []
        for pod, ident in sorted(ids.items()):
            obj = objs.get(str(ident))
            if obj is None:
                wrong.append(f"{pod}: identity {ident} has no CiliumIdentity of namespace {scenario_ns}")
                continue
            ns_label = ((obj["metadata"].get("labels") or {}).get(starwars.IDENTITY_NS_LABEL))
            sec = (obj.get("security-labels") or {}).get(f"k8s:{starwars.IDENTITY_NS_LABEL}")
            if ns_label != scenario_ns or sec != scenario_ns:
                wrong.append(f"{pod}: CiliumIdentity {ident} has NAMESPACE {ns_label!r} and security label "
                             f"k8s:{starwars.IDENTITY_NS_LABEL}={sec!r}")
        assert not wrong, (f"expected every identity of the demo to be a CiliumIdentity of NAMESPACE {scenario_ns} "
                           f"(the seed's {seed_ns}), saw " + "; ".join(wrong)
                           + f" (CiliumIdentities of {scenario_ns}: {', '.join(sorted(objs)) or 'none'})")
    lab.eventually(check, what=f"the demo's identities as CiliumIdentity objects of {scenario_ns}")


@then("on every node the agent's endpoint list has the host endpoint, with identity 1")
@asserts("host-endpoint-identity-1")
def host_endpoint_identity(lab: Lab, scenario_ns: str) -> None:
    want = int(fact("host-endpoint-identity-1"))
    nodes = sorted(k8s.nodes(lab))
    agents = policy.agent_pods(lab)
    wrong = []
    for node in nodes:
        agent = agents.get(node)
        if agent is None:
            wrong.append(f"{node}: no Running cilium agent pod")
            continue
        hosts = [ep for ep in policy.agent_endpoints(lab, agent, scope=scenario_ns) if "reserved:host" in ep.labels]
        if len(hosts) != 1 or hosts[0].identity != want:
            wrong.append(f"{node} ({agent}): " + (", ".join(f"endpoint {ep.id} identity {ep.identity}" for ep in hosts)
                                                  or "no endpoint labelled reserved:host"))
    assert not wrong, (f"expected on every node one host endpoint (reserved:host) with identity {want}, saw "
                       + "; ".join(wrong))


# --- requests ------------------------------------------------------------------------------------


def _request(lab: Lab, scenario_ns: str, ctx: dict[str, Any], ship: str, method: str, path: str) -> None:
    """A request the policy in force allows is made again while it gets no answer (a Service
    backend not programmed yet on the ship's node); one it must deny is sent once, after the
    policy is realised (`starwars.request`; ctx["rule1"] is set by the policy steps)."""
    ctx["response"] = starwars.request(lab, scenario_ns, ship, method, path, ctx.get("rule1"), max_time=MAX_TIME,
                                       nodes=starwars.deathstar_nodes(ctx["starwars_pods"]))


@when(parsers.re(r"the (?P<ship>tiefighter|xwing) requests a landing"))
def request_landing(lab: Lab, scenario_ns: str, ctx: dict[str, Any], ship: str) -> None:
    _request(lab, scenario_ns, ctx, ship, *starwars.LANDING)


@when(parsers.re(r"the (?P<ship>tiefighter|xwing) sends (?P<method>[A-Z]+) (?P<path>/\S+)"))
def send_request(lab: Lab, scenario_ns: str, ctx: dict[str, Any], ship: str, method: str, path: str) -> None:
    _request(lab, scenario_ns, ctx, ship, method, path)


def _to_each_pod(lab: Lab, scenario_ns: str, ctx: dict[str, Any], ship: str, method: str, path: str) -> None:
    """The request sent to every deathstar pod's own IP, one pod after the other
    (`starwars.send_to_pod`); ctx["pod_responses"]: pod name -> (its node, the response)."""
    ctx["pod_responses"] = {
        p["metadata"]["name"]: (k8s.pod_node(p), starwars.send_to_pod(lab, scenario_ns, ship, method, path, p,
                                                                       max_time=MAX_TIME))
        for p in sorted(ctx["starwars_pods"], key=lambda p: p["metadata"]["name"]) if starwars.is_deathstar(p)}


@when(parsers.re(r"the (?P<ship>tiefighter|xwing) requests a landing from each deathstar pod directly"))
def request_landing_each_pod(lab: Lab, scenario_ns: str, ctx: dict[str, Any], ship: str) -> None:
    _to_each_pod(lab, scenario_ns, ctx, ship, *starwars.LANDING)


@when(parsers.re(r"the (?P<ship>tiefighter|xwing) sends (?P<method>[A-Z]+) (?P<path>/\S+) to each deathstar pod "
                 r"directly"))
def send_each_pod(lab: Lab, scenario_ns: str, ctx: dict[str, Any], ship: str, method: str, path: str) -> None:
    _to_each_pod(lab, scenario_ns, ctx, ship, method, path)


@then(parsers.re(r'every deathstar pod answers "(?P<text>[^"]+)"'))
@outcome("each of the deathstar's replicas, asked on its own IP, answered with curl exit 0 and the text as its "
         "answer's first line")
def every_pod_answers(ctx: dict[str, Any], text: str) -> None:
    """Every: a replica that is broken still gets its share of the Service's requests, so
    each one is asked on its own IP and must give the answer."""
    answers = ctx["pod_responses"]
    wrong = []
    for name, (node, resp) in sorted(answers.items()):
        first = (resp.body.strip().splitlines() or [""])[0].strip()
        if not (resp.rc == 0 and first == text):
            wrong.append(f"{name} on {node} ({_what(resp)}): {starwars.describe_response(resp)}")
    assert len(answers) == starwars.DEATHSTAR_REPLICAS and not wrong, (
        f"expected each of the {starwars.DEATHSTAR_REPLICAS} deathstar pods to answer {text!r}; "
        + ("; ".join(wrong) if wrong else f"asked {len(answers)}: {', '.join(sorted(answers)) or 'none'}"))


def _what(resp: Any) -> str:
    req = resp.request
    return f"{req.pod}: {req.method} {req.url} (from port {req.local_port})"


@then(parsers.re(r'the deathstar answers "(?P<text>[^"]+)"'))
@outcome("curl exits 0 and the answer's first line is exactly the text")
def deathstar_answers(ctx: dict[str, Any], text: str) -> None:
    resp = ctx["response"]
    first = (resp.body.strip().splitlines() or [""])[0].strip()
    assert resp.rc == 0 and first == text, (
        f"{_what(resp)}: expected the answer {text!r}, saw {starwars.describe_response(resp)}")


@then(parsers.re(r'the deathstar answers "(?P<text>[^"]+)" with HTTP (?P<status>\d+)'))
@outcome("curl exits 0 with that HTTP status and the answer's first line is exactly the text")
def deathstar_answers_with(ctx: dict[str, Any], text: str, status: str) -> None:
    resp = ctx["response"]
    first = (resp.body.strip().splitlines() or [""])[0].strip()
    assert resp.rc == 0 and resp.status == int(status) and first == text, (
        f"{_what(resp)}: expected HTTP {status} {text!r}, saw {starwars.describe_response(resp)}")


@then(parsers.re(r'the answer is HTTP (?P<status>\d+) "(?P<text>[^"]+)"'))
@outcome("the answer has that HTTP status and its body is exactly the text")
def answer_is(ctx: dict[str, Any], status: str, text: str) -> None:
    resp = ctx["response"]
    assert resp.status == int(status) and resp.body.strip() == text, (
        f"{_what(resp)}: expected HTTP {status} {text!r}, saw {starwars.describe_response(resp)}")


@then("the request times out")
@outcome("the name resolved to the deathstar Service's ClusterIP and curl's connect attempt timed out: exit "
         "28, no answer")
def request_times_out(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    """A policy drop, told apart by its cause: the name resolved to the deathstar Service and
    the connect attempt to that address timed out (not a resolver timeout, a refusal, or an
    answer from the proxy)."""
    resp = ctx["response"]
    problem = traffic.deny_problem(resp, k8s.cluster_ip(lab, scenario_ns, starwars.DEATHSTAR))
    assert problem is None, (f"{_what(resp)}: expected the connection to be dropped by policy (the connect "
                             f"attempt to the deathstar Service times out after {traffic.CONNECT_TIMEOUT} s); "
                             f"saw: {problem}")


# --- the policy --------------------------------------------------------------------------------------


@then(parsers.parse('the policy "{name}" reports Valid'))
@asserts("cnp-valid")
def policy_valid(lab: Lab, scenario_ns: str, name: str) -> None:
    want_status, want_message = fact("cnp-valid").split(": ", 1)   # True: Policy validation succeeded

    def check() -> None:
        obj = policy.cnp(lab, scenario_ns, name)
        assert obj is not None, f"CiliumNetworkPolicy {scenario_ns}/{name} does not exist"
        status, message = policy.valid_condition(obj)
        assert status == want_status, (f"CiliumNetworkPolicy {name}: expected condition Valid {want_status}, saw "
                                       f"{'no Valid condition' if status is None else status} ({message})")
        assert message == want_message, (f"CiliumNetworkPolicy {name}: expected condition Valid {want_status} "
                                         f"{want_message!r}, saw {status} {message!r}")
    lab.eventually(check, what=f"CiliumNetworkPolicy {name} Valid")


def _endpoints_of(lab: Lab, scenario_ns: str, pods: list[str]) -> dict[str, tuple[str, Any]]:
    found = policy.namespace_endpoints(lab, scenario_ns)
    missing = [p for p in pods if p not in found]
    assert not missing, f"no Cilium endpoint found on any agent for {', '.join(missing)}"
    return {p: found[p] for p in pods}


def _enforcement(node: str, ep: Any) -> str:
    return f"{ep.pod} on {node} (endpoint {ep.id}) policy-enabled {ep.policy_enabled!r}"


@then("the deathstar endpoints enforce ingress policy and no egress policy")
@outcome("every deathstar endpoint, as its agent lists it, enforces ingress policy and not egress")
def deathstars_enforce_ingress(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    def check() -> None:
        eps = _endpoints_of(lab, scenario_ns, _deathstar_pods(ctx))
        wrong = [_enforcement(node, ep) for node, ep in eps.values()
                 if not (ep.ingress_enforced and not ep.egress_enforced)]
        assert not wrong, ("expected POLICY (ingress) ENFORCEMENT Enabled and (egress) Disabled "
                           "(policy-enabled 'ingress') on the deathstar endpoints, saw " + "; ".join(wrong))
    lab.eventually(check, what="the deathstar endpoints enforce ingress policy")


@then("no endpoint of the demo enforces policy, ingress or egress")
@asserts("no-enforcement-before-policy")
def demo_enforces_nothing(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    pods = [*_deathstar_pods(ctx), *starwars.SHIPS]
    # cilium-dbg endpoint list prints POLICY (ingress) / (egress) ENFORCEMENT "Disabled" for
    # an endpoint whose policy-enabled is "none"
    state = {(False, False): "Disabled Disabled"}

    def check() -> None:
        eps = _endpoints_of(lab, scenario_ns, pods)
        wrong = [_enforcement(node, ep) for node, ep in eps.values()
                 if state.get((bool(ep.ingress_enforced), bool(ep.egress_enforced))) != fact("no-enforcement-before-policy")]
        assert not wrong, ("expected POLICY (ingress) and (egress) ENFORCEMENT Disabled (policy-enabled 'none') "
                           "on every endpoint of the demo before any policy, saw " + "; ".join(wrong))
    lab.eventually(check, what="no endpoint of the demo enforces policy")


@then(parsers.parse("every agent holds rule1 with the HTTP rule {method} {path}, "
                    "ingress default-deny on and egress default-deny off"))
@asserts("agent-holds-l7-rule1")
def agents_hold_l7_rule(lab: Lab, scenario_ns: str, method: str, path: str) -> None:
    assert f"{method} {path}" == fact("agent-holds-l7-rule1"), (
        f"the seed's agent holds {fact('agent-holds-l7-rule1')}, the sentence names {method} {path}")

    def check() -> None:
        obj = policy.cnp(lab, scenario_ns, starwars.POLICY_NAME)
        assert obj is not None, f"CiliumNetworkPolicy {scenario_ns}/{starwars.POLICY_NAME} does not exist"
        uid = (obj.get("metadata") or {}).get("uid")

        def judge(snap: Any) -> str | None:
            rules = [policy.rule_summary(r) for r in snap.rules]
            if any(r.http == ((method, path),) and r.default_deny == (True, False) for r in rules):
                return None
            return "; ".join(r.describe() for r in rules) or "no rule"
        wrong = _agents_rule1(lab, scenario_ns, uid, judge)
        assert not wrong, (f"expected every agent's rule1 to allow only {method} {path} with enableDefaultDeny "
                           "ingress true, egress false; saw " + " | ".join(wrong))
    lab.eventually(check, what="every agent holds the L7 rule1", budget="policy")


@then("`kubectl describe cnp rule1` shows selectors without a namespace, to which every agent adds the scenario's namespace")
@asserts("cnp-selectors-as-written", "agent-adds-namespace-label")
def agents_add_namespace(lab: Lab, scenario_ns: str) -> None:
    # seed 2104-2113: `Class:  deathstar` `Org:  empire` (describe: the selectors as written);
    # seed 2135: `"k8s:io.kubernetes.pod.namespace": "default"` (the agent's rule)
    written = policy.selectors_from_text(fact("cnp-selectors-as-written"))
    key = fact("agent-adds-namespace-label")
    obj = policy.cnp(lab, scenario_ns, starwars.POLICY_NAME)
    assert obj is not None, f"CiliumNetworkPolicy {scenario_ns}/{starwars.POLICY_NAME} does not exist"
    seen = policy.cnp_selectors(obj)
    assert seen == written, (f"kubectl describe cnp {starwars.POLICY_NAME}: expected the selectors as written, "
                             f"{policy.describe_selectors(written)}, saw {policy.describe_selectors(seen)}")
    uid = (obj.get("metadata") or {}).get("uid")

    want = policy.with_namespace(written, key, scenario_ns)

    def judge(snap: Any) -> str | None:
        held = [policy.rule_selectors(r) for r in snap.rules]
        if any(policy.selects_at_least(h, want) for h in held):
            return None
        return "; ".join(policy.describe_selectors(h) for h in held) or "no rule"

    def check() -> None:
        wrong = _agents_rule1(lab, scenario_ns, uid, judge)
        assert not wrong, (f"expected every agent's rule1 to select {policy.describe_selectors(want)}, "
                           "saw " + " | ".join(wrong))
    lab.eventually(check, what="every agent adds the namespace to rule1's selectors", budget="policy")


@when("rule1 is deleted")
def rule1_deleted(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    policy.delete_cnp(lab, scenario_ns, starwars.POLICY_NAME)
    ctx["rule1"] = None


@then("`kubectl get cnp` lists no CiliumNetworkPolicy in the scenario's namespace")
@asserts("no-cnp-after-delete")
def no_cnp_left(lab: Lab, scenario_ns: str) -> None:
    def check() -> None:
        left = [o["metadata"]["name"] for o in policy.cnps(lab, scenario_ns)]
        assert len(left) == int(fact("no-cnp-after-delete")), (f"expected `kubectl get cnp -n {scenario_ns}` to find no resources, "
                          f"saw {', '.join(sorted(left))}")
    lab.eventually(check, what=f"no CiliumNetworkPolicy left in {scenario_ns}")


@then("no agent holds rule1 any more")
@outcome("every agent answers 404 for rule1 or holds no rule of it")
def no_agent_holds_rule1(lab: Lab, scenario_ns: str) -> None:
    def check() -> None:
        agents = policy.agent_pods(lab)
        assert agents, "no Running cilium agent pod (label k8s-app=cilium) in kube-system"
        held = []
        for node, agent in sorted(agents.items()):
            snap = policy.agent_policy(lab, agent, scenario_ns, starwars.POLICY_NAME)
            if isinstance(snap, str):  # only the agent's 404 says "no such rule"
                if "404" not in snap:
                    held.append(f"{node} ({agent}) could not be asked: rule1 {snap}")
            elif snap.rules:
                held.append(f"{node} ({agent}) still holds " + "; ".join(
                    policy.rule_summary(r).describe() for r in snap.rules))
        assert not held, "expected no agent to hold rule1 after its deletion; " + " | ".join(held)
    lab.eventually(check, what="rule1 gone from every agent", budget="policy")


@then("the tiefighter and xwing endpoints enforce no policy")
@outcome("the tiefighter's and the xwing's endpoints enforce neither ingress nor egress policy")
def ships_enforce_nothing(lab: Lab, scenario_ns: str) -> None:
    def check() -> None:
        eps = _endpoints_of(lab, scenario_ns, list(starwars.SHIPS))
        wrong = [_enforcement(node, ep) for node, ep in eps.values()
                 if ep.ingress_enforced or ep.egress_enforced]
        assert not wrong, ("expected POLICY ENFORCEMENT Disabled both ways (policy-enabled 'none') "
                           "on the ships' endpoints, saw " + "; ".join(wrong))
    lab.eventually(check, what="the ship endpoints enforce no policy")


# --- Hubble ---------------------------------------------------------------------------------------------


@then(parsers.parse("Hubble shows that request DROPPED with drop reason {reason}"))
@outcome("Hubble holds a DROPPED flow of that request (its pod and client port) with that drop reason")
def request_dropped(lab: Lab, ctx: dict[str, Any], reason: str) -> None:
    sent = ctx["response"]
    req = sent.request

    def want(found: list[Flow]) -> bool:
        return any(f.verdict == "DROPPED" and f.drop_reason_desc == reason for f in found)
    flows.await_flows(lab, sent, want,
                      f"a DROPPED flow with drop_reason_desc {reason} for {req.pod}'s request "
                      f"from port {req.local_port}", "--type", "drop")


def _http(found: list[Flow], kind: str, verdict: str, method: str) -> bool:
    return any(f.kind == kind and f.verdict == verdict and f.http_method == method for f in found)


@then("Hubble shows that request as an http-request FORWARDED and an http-response 200 FORWARDED")
@asserts("l7-landing-response-200")
def http_exchange_forwarded(lab: Lab, ctx: dict[str, Any]) -> None:
    sent = ctx["response"]
    req = sent.request
    code = int(fact("l7-landing-response-200"))

    def want(found: list[Flow]) -> bool:
        return (_http(found, "http-request", "FORWARDED", req.method)
                and any(f.kind == "http-response" and f.verdict == "FORWARDED" and f.http_method == req.method
                        and f.http_code == code for f in found))
    flows.await_flows(lab, sent, want,
                      f"http-request FORWARDED and http-response {code} FORWARDED flows for {req.pod}'s "
                      f"{req.method} from port {req.local_port}", "--protocol", "http")


@then("Hubble shows that request in L3/L4 TCP flows and in no L7 flow such as an http-request")
@asserts("exhaust-port-l3l4-only")
def only_l3l4_flows(lab: Lab, ctx: dict[str, Any]) -> None:
    """`--protocol tcp` lets through every flow with a TCP layer, L7 flows of Envoy included
    (cilium/cilium pkg/hubble/filters/protocol.go), so an http-request of this request would
    be among the flows read; the check waits for the request's TCP flows and then finds
    no L7 flow among them."""
    sent = ctx["response"]
    req = sent.request

    l3l4 = fact("exhaust-port-l3l4-only")   # the flow type of the seed's packet lines (TCP Flags)

    def want(found: list[Flow]) -> bool:
        return any(f.type == l3l4 for f in found)
    seen = flows.await_flows(lab, sent, want,
                             f"L3/L4 TCP flows of {req.pod}'s {req.method} from port {req.local_port}",
                             "--protocol", "tcp")
    l7 = [f for f in seen if f.type == "L7" or f.kind in ("http-request", "http-response")]
    assert not l7, (f"{req.pod}'s {req.method} from port {req.local_port}: expected only L3/L4 TCP flows before "
                    f"rule1 has an HTTP rule, saw {flows.describe(l7)}")


@then(parsers.parse("Hubble shows that request as an http-request {method} of its URL, {verdict}"))
@asserts("l7-shows-method-and-url")
def http_request_with_url(lab: Lab, ctx: dict[str, Any], method: str, verdict: str) -> None:
    kind = fact("l7-shows-method-and-url")   # the flow the seed's L7 visibility prints per request
    sent = ctx["response"]
    req = sent.request

    def want(found: list[Flow]) -> bool:
        return any(f.kind == kind and f.http_method == method and f.http_url == req.url
                   and f.verdict == verdict for f in found)
    flows.await_flows(lab, sent, want,
                      f"an http-request {method} {req.url} {verdict} for {req.pod}'s request from port "
                      f"{req.local_port}", "--protocol", "http")


@then("Hubble shows that request as an http-request DROPPED")
@outcome("Hubble holds an http-request flow of that request's method (its client port), DROPPED")
def http_request_dropped(lab: Lab, ctx: dict[str, Any]) -> None:
    sent = ctx["response"]
    req = sent.request

    def want(found: list[Flow]) -> bool:
        return _http(found, "http-request", "DROPPED", req.method)
    flows.await_flows(lab, sent, want,
                      f"an http-request DROPPED flow for {req.pod}'s {req.method} from port "
                      f"{req.local_port}", "--protocol", "http")


def _agents_rule1(lab: Lab, namespace: str, uid: str | None, judge: Callable[[Any], str | None]) -> list[str]:
    """rule1 as every agent holds it (`cilium-dbg policy get`), judged per agent: the lines of
    the agents whose rule1 is missing or that `judge` finds wrong (None: right)."""
    agents = policy.agent_pods(lab)
    assert agents, "no Running cilium agent pod (label k8s-app=cilium) in kube-system"
    wrong = []
    for node, agent in sorted(agents.items()):
        snap = policy.agent_policy(lab, agent, namespace, starwars.POLICY_NAME, uid)
        why = f"rule1 {snap}" if isinstance(snap, str) else judge(snap)
        if why is not None:
            wrong.append(f"{node}: {why}")
    return wrong
