"""Steps of features/hubble_cli.feature: the student's `hubble` commands on k8s-ctr."""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import pytest
from pytest_bdd import given, parsers, then, when

from cilab.facts import asserts, fact, outcome
from cilab.lab import Lab
from cilab.locks import resource_lock
from cilab.parsers.hubble import Flow, parse_hubble_status
from cilab.probes import flows, hubble, hubble_cli, k8s, observe_filter, starwars, traffic
from cilab.probes.traffic import Response, parse_time
from cilab.roles import of_lab
from cilab.versions import load_versions

KS = "kube-system"
IDENTITY = {"host": 1, "world": 2, "health": 4, "remote-node": 6, "kube-apiserver": 7}  # Cilium's reserved numbers
MAX_TIME = 5  # curl --max-time, as in the Star Wars chapter


def _note(lab: Lab, node: str) -> None:
    """Attach to the running step how the student's commands reach the node."""
    if lab.attach is not None:
        try:
            lab.attach(f"how the commands ran on {node}", hubble_cli.how_commands_run(lab, node))
        except Exception:  # reporting must never break a step
            pass


def _node(lab: Lab, ctx: dict[str, Any]) -> str:
    if "cli_node" not in ctx:
        ctx["cli_node"] = hubble_cli.control_plane_node(lab)
        _note(lab, ctx["cli_node"])
    return ctx["cli_node"]


@pytest.fixture
def port_forward_lock(lab: Lab, lab_shared_dir: Path, ctx: dict[str, Any]) -> Iterator[str]:
    """Port 4245 on the control-plane node is one per lab: scenarios that use it (or need it
    closed) take turns; a leftover port-forward of an interrupted run is stopped first."""
    node = _node(lab, ctx)
    with resource_lock(lab_shared_dir, "hubble-port-forward",
                       what=f"port {hubble_cli.PORT} on {node} (the Hubble port-forward)"):
        hubble_cli.stop_leftover(lab, node)
        yield node


@pytest.fixture
def hubble_port_forward(lab: Lab, port_forward_lock: str, ctx: dict[str, Any]) -> Iterator[hubble_cli.PortForward]:
    """`cilium hubble port-forward &` for one scenario, stopped at its end even when a step failed."""
    node = port_forward_lock
    pf = hubble_cli.start_port_forward(lab, node)
    ctx["port_forward"] = pf
    try:
        yield pf
    finally:
        if not ctx.get("port_forward_stopped"):
            hubble_cli.stop_port_forward(lab, node)


# --- the port-forward ------------------------------------------------------------------------


@given("no Hubble port-forward runs on k8s-ctr")
def no_port_forward(lab: Lab, port_forward_lock: str) -> None:
    seen = hubble_cli.listeners(lab, port_forward_lock)
    assert not seen, (f"expected nothing listening on {hubble_cli.PORT} on {port_forward_lock} before the "
                      f"port-forward, saw {_listeners(seen)}")


@given("the Hubble API is port-forwarded on k8s-ctr")
def port_forwarded(hubble_port_forward: hubble_cli.PortForward) -> None:
    pass


def _listeners(found: list[Any]) -> str:
    return ", ".join(f"{l.address}:{l.port} by {'/'.join(l.processes) or '?'} pid {'/'.join(map(str, l.pids))}"
                     for l in found) or "nothing"


@then(parsers.parse("the port-forward says Hubble Relay is available at {address}"))
@outcome("the port-forward's own output contains 'Hubble Relay is available at <address>'")
def port_forward_says(ctx: dict[str, Any], address: str) -> None:
    out = ctx["port_forward"].output
    assert f"Hubble Relay is available at {address}" in out, (
        f"cilium hubble port-forward: expected 'Hubble Relay is available at {address}', saw {out.strip()[-200:]!r}")


@then(parsers.parse("port {port:d} on k8s-ctr is listened on by the port-forward on 127.0.0.1 and [::1] only"))
@asserts("port-forward-loopback")
def port_forward_loopback(lab: Lab, ctx: dict[str, Any], port: int) -> None:
    """Every socket on the port, not only the port-forward's own: "only" means nothing
    listens there on another address (seed 1288-1290 shows just these two lines)."""
    pf = ctx["port_forward"]
    want = sorted(a.rsplit(":", 1)[0] for a in fact("port-forward-loopback").split()
                  if a.rsplit(":", 1)[1] == str(port))
    found = [l for l in hubble_cli.listeners(lab, pf.node) if l.port == port]
    own = sorted({l.address for l in found if pf.pid in l.pids})
    every = sorted({l.address for l in found})
    assert own == want and every == want, (
        f"port {port} on {pf.node}: expected the port-forward (pid {pf.pid}) on {' and '.join(want)} only, "
        f"saw {_listeners(found)}")


@when("the port-forward is stopped")
def stop_port_forward(lab: Lab, ctx: dict[str, Any]) -> None:
    hubble_cli.stop_port_forward(lab, ctx["port_forward"].node)
    ctx["port_forward_stopped"] = True


@then(parsers.parse("nothing listens on port {port:d} on k8s-ctr"))
@outcome("ss on the node shows no socket listening on the port")
def nothing_on_port(lab: Lab, ctx: dict[str, Any], port: int) -> None:
    node = _node(lab, ctx)
    found = [l for l in hubble_cli.listeners(lab, node) if l.port == port]
    assert not found, f"port {port} on {node}: expected nothing listening after the port-forward stopped, saw {_listeners(found)}"


# --- hubble status / config view ------------------------------------------------------------------


@when('I run "hubble status" on k8s-ctr')
def run_status(lab: Lab, ctx: dict[str, Any]) -> None:
    ctx["cli_status"] = hubble_cli.status(lab, _node(lab, ctx))


@then(parsers.parse("it fails because the connection to {address} is refused"))
@asserts("status-refused-before-port-forward")
def status_refused(ctx: dict[str, Any], address: str) -> None:
    assert address == fact("status-refused-before-port-forward"), (
        f"the seed shows hubble status refused on {fact('status-refused-before-port-forward')}, not {address}")
    st = ctx["cli_status"]
    ok = not st.healthy and f"dial tcp {address}" in st.message and "connection refused" in st.message
    assert ok, (f"hubble status without a port-forward: expected 'dial tcp {address}: connect: connection refused', "
                f"saw {'Healthcheck Ok via ' + str(st.via) if st.healthy else repr(st.message)}")


@when('I run "hubble config view" on k8s-ctr')
def run_config_view(lab: Lab, ctx: dict[str, Any]) -> None:
    ctx["cli_config"] = hubble_cli.config_view(lab, _node(lab, ctx))


@then(parsers.parse('the CLI\'s server is "{server}" and its port-forward-port "{port}"'))
@asserts("config-view-server")
def config_server(ctx: dict[str, Any], server: str, port: str) -> None:
    assert f"{server} {port}" == fact("config-view-server"), (
        f"the seed's hubble config view shows {fact('config-view-server')}, the sentence {server} {port}")
    cfg = ctx["cli_config"]
    wrong = [f"{key}: expected {want!r}, saw {cfg.get(key, '<absent>')!r}"
             for key, want in (("server", server), ("port-forward-port", port)) if str(cfg.get(key)) != want]
    assert not wrong, "hubble config view: " + "; ".join(wrong)


@then(parsers.parse('the CLI\'s timeout is "{timeout}" and its tls "{tls}"'))
@asserts("config-view-timeout-tls")
def config_timeout_tls(ctx: dict[str, Any], timeout: str, tls: str) -> None:
    # seed 1306-1307: `timeout: 5s`, `tls: false` (YAML: tls reads back as a boolean)
    assert f"{timeout} {tls}" == fact("config-view-timeout-tls"), (
        f"the seed's hubble config view shows {fact('config-view-timeout-tls')}, the sentence {timeout} {tls}")
    cfg = ctx["cli_config"]
    seen = {"timeout": cfg.get("timeout", "<absent>"), "tls": cfg.get("tls", "<absent>")}
    shown = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in seen.items()}
    wrong = [f"{key}: expected {want!r}, saw {shown[key]!r}"
             for key, want in (("timeout", timeout), ("tls", tls)) if shown[key] != want]
    assert not wrong, "hubble config view: " + "; ".join(wrong)


@then(parsers.parse("the health check via {via} is Ok"))
@asserts("status-healthcheck-ok")
def status_ok_via(ctx: dict[str, Any], via: str) -> None:
    st = ctx["cli_status"]
    assert (f"{st.via} {'Ok' if st.healthy else 'not Ok'}" == fact("status-healthcheck-ok")
            and st.via == via), (f"hubble status: expected 'Healthcheck (via {via}): Ok', saw "
                                          f"{'via ' + str(st.via) + ': ' if st.via else ''}{st.message or 'Ok'}")


@then("it counts every node of the cluster as connected")
@outcome("hubble status through the port-forward reports Connected Nodes N/N, N the cluster's Nodes")
def status_every_node(lab: Lab, ctx: dict[str, Any]) -> None:
    node = _node(lab, ctx)

    def check() -> None:
        want = len(k8s.nodes(lab))
        st = ctx.pop("cli_status", None) or hubble_cli.status(lab, node)
        ctx["cli_status_seen"] = st
        hubble.check_every_node_connected(st, want)
    lab.eventually(check, what="every node connected, seen through the port-forward", budget="relay")


@then(parsers.parse("Max Flows is {per_node:d} times the number of nodes of the cluster"))
@asserts("max-flows-per-node")
def status_max_flows(lab: Lab, ctx: dict[str, Any], per_node: int) -> None:
    assert per_node == int(fact("max-flows-per-node")), (
        f"the agent's default ring buffer holds {fact('max-flows-per-node')} flows, the sentence says {per_node}")
    st = ctx.get("cli_status_seen") or ctx["cli_status"]
    count = len(k8s.nodes(lab))
    want = count * per_node
    assert st.max_flows == want, (f"hubble status: expected Max Flows {count} x {per_node} = {want:,}, "
                                  f"saw {st.max_flows if st.max_flows is None else format(st.max_flows, ',')}")


def _seen_status(ctx: dict[str, Any]) -> Any:
    return ctx.get("cli_status_seen") or ctx["cli_status"]


def _fill_breaks(current: int | None, maximum: int | None, percent: float | None) -> str | None:
    """What breaks `Current/Max Flows: current/max (percent%)`: current above max, or a
    percentage that is not 100 x current / max (printed with two decimals, formats §3.2)."""
    if current is None or maximum is None or percent is None:
        return "no 'Current/Max Flows: N/M (P%)' line"
    if not 0 <= current <= maximum:
        return f"Current Flows {current:,} above Max Flows {maximum:,}"
    want = 100.0 * current / maximum if maximum else 0.0
    if abs(percent - want) > 0.006:
        return f"{percent:.2f}% for {current:,}/{maximum:,} (that is {want:.2f}%)"
    return None


@then("Current Flows is at most Max Flows and the percentage is how full the buffers are")
@asserts("status-buffer-fill")
def status_buffer_fill(ctx: dict[str, Any]) -> None:
    # the declared line is the seed's moment (seed 1298: `11,282/12,285 (91.84%)`); the suite
    # checks the lab's line keeps the same relation, not the same numbers
    seed_line = parse_hubble_status("Healthcheck (via localhost:4245): Ok\nCurrent/Max Flows: "
                                    + fact("status-buffer-fill"))
    assert _fill_breaks(seed_line.current_flows, seed_line.max_flows, seed_line.fill_percent) is None, (
        f"the declared seed line {fact('status-buffer-fill')!r} does not keep current <= max, percent = current/max")
    st = _seen_status(ctx)
    broken = _fill_breaks(st.current_flows, st.max_flows, st.fill_percent)
    shown = ("none" if st.current_flows is None else
             f"{st.current_flows:,}/{st.max_flows:,} ({st.fill_percent if st.fill_percent is None else format(st.fill_percent, '.2f')}%)")
    assert broken is None, (f"hubble status: expected Current/Max Flows with current <= max and the percentage "
                            f"100 x current / max (like the seed's {fact('status-buffer-fill')}), saw {shown}: {broken}")


@then("Flows/s is a rate of zero or more flows per second")
@asserts("status-flows-rate")
def status_flows_rate(ctx: dict[str, Any]) -> None:
    # seed 1299: `35.22` -- the moment's rate; what holds is that it is a number >= 0
    declared = float(fact("status-flows-rate"))
    st = _seen_status(ctx)
    rate = st.flows_per_second
    assert declared >= 0 and rate is not None and rate >= 0, (
        f"hubble status: expected Flows/s a number of zero or more (the seed shows {fact('status-flows-rate')}), "
        f"saw {'N/A (no rate)' if rate is None else rate}")


# --- installing and finding the CLI -------------------------------------------------------------


@when('I run "which hubble" on k8s-ctr')
def run_which_hubble(lab: Lab, ctx: dict[str, Any]) -> None:
    ctx["which_hubble"] = hubble_cli.which_hubble(lab, _node(lab, ctx))


@then(parsers.parse("the hubble CLI is found at {path}"))
@asserts("hubble-cli-path")
def hubble_found_at(ctx: dict[str, Any], path: str) -> None:
    assert path == fact("hubble-cli-path"), (
        f"the seed's which hubble prints {fact('hubble-cli-path')}, the sentence {path}")
    found = ctx["which_hubble"]
    assert found == fact("hubble-cli-path"), (
        f"which hubble on {ctx['cli_node']}: expected {fact('hubble-cli-path')}, saw {found or 'nothing (not on PATH)'}")


@when('I run "hubble version" on k8s-ctr')
def run_hubble_version(lab: Lab, ctx: dict[str, Any]) -> None:
    ctx["hubble_version"] = hubble_cli.version(lab, _node(lab, ctx))


@then("it names the lab's pinned hubble CLI version")
@outcome("hubble version prints the version HUBBLE_CLI_VERSION of provisioning/versions.env pins")
def hubble_version_pinned(ctx: dict[str, Any]) -> None:
    want = load_versions().hubble_cli_version
    seen = ctx["hubble_version"]
    assert seen.version == want, (
        f"hubble version on {ctx['cli_node']}: expected hubble v{want} (HUBBLE_CLI_VERSION in "
        f"provisioning/versions.env), saw {seen.line!r}")


@when('I run "hubble help status" on k8s-ctr')
def run_hubble_help_status(lab: Lab, ctx: dict[str, Any]) -> None:
    ctx["hubble_help_status"] = hubble_cli.help_status(lab, _node(lab, ctx))


@then(parsers.parse('its --server flag defaults to "{server}"'))
@asserts("help-status-server-default")
def help_status_server(ctx: dict[str, Any], server: str) -> None:
    assert server == fact("help-status-server-default"), (
        f"the seed's hubble help status shows the default {fact('help-status-server-default')}, the sentence {server}")
    seen = hubble_cli.server_flag_default(ctx["hubble_help_status"])
    assert seen == fact("help-status-server-default"), (
        f"hubble help status | grep 'server string' on {ctx['cli_node']}: expected --server string ... "
        f"(default \"{fact('help-status-server-default')}\"), saw "
        f"{'no --server flag' if seen is None else repr(seen)}")


# --- hubble observe ---------------------------------------------------------------------------------


def _scope(request: pytest.FixtureRequest, ctx: dict[str, Any]) -> str | None:
    return request.getfixturevalue("scenario_ns") if "starwars_pods" in ctx else None


def _identities(lab: Lab, ns: str, ctx: dict[str, Any]) -> dict[str, int]:
    if "identities" not in ctx:
        def check() -> dict[str, int]:
            ids = starwars.endpoints_identities(lab, ns)
            deathstar = sorted(v for k, v in ids.items() if k.startswith("deathstar") and v is not None)
            assert ids.get("xwing") is not None and deathstar, f"CiliumEndpoints in {ns} without identity yet: {ids}"
            # the deathstar pods share one identity (checked by the Star Wars chapter); a lab
            # where they do not is filtered by the lowest, and the outline shows what it left
            return {"xwing": ids["xwing"], "deathstar": deathstar[0]}
        ctx["identities"] = lab.eventually(check, what=f"the demo's identities in {ns}")
    return ctx["identities"]


@when(parsers.parse('I run "hubble observe {args}" on k8s-ctr'))
def run_observe(lab: Lab, request: pytest.FixtureRequest, ctx: dict[str, Any], args: str) -> None:
    ns = _scope(request, ctx)
    text = args
    if ns is not None:
        text = text.replace("{ns}", ns)
        if "identity}" in text:
            ids = _identities(lab, ns, ctx)
            text = text.replace("{xwing identity}", str(ids["xwing"])).replace(
                "{deathstar identity}", str(ids["deathstar"]))
    ctx["ns"] = ns
    ctx["observe_args"] = text.split()
    ctx["flows"] = _observe(lab, ctx, ctx["observe_args"])


def _observe(lab: Lab, ctx: dict[str, Any], args: list[str]) -> list[Flow]:
    seen = hubble_cli.observe(lab, _node(lab, ctx), *args, scope=ctx.get("ns")).flows
    if args == ctx.get("observe_args"):
        ctx["flows"] = seen
    return seen


def _whole_filter(ctx: dict[str, Any]) -> None:
    """Every flow the command returned matches every part of its filter (observe_filter:
    Hubble's semantics); the failure names each part broken and the flows that break it."""
    shown = ctx["flows"]
    broken = observe_filter.report(observe_filter.parse(ctx["observe_args"]), shown)
    assert not broken, (f"`{_cmd(ctx)}`: expected every flow to match every part of the filter, "
                        f"saw flows that do not: {broken}")


def _cmd(ctx: dict[str, Any]) -> str:
    return "hubble observe " + " ".join(ctx["observe_args"])


# --- the scenario's own traffic -------------------------------------------------------------------


#: the landing's answer (seed 2163: `Ship landed`) and the L7 rule1's refusal, Envoy's 403 with the body
#: "Access denied" (the seed does not print it: Cilium's Star Wars demo documentation, shared/reference facts)
LANDED, DENIED = "Ship landed", "Access denied"


def _answer_problem(resp: Response, allowed: bool, policy: str | None) -> str | None:
    """None when a request of the demo got the answer the policy in force gives it (what the
    outlines' descriptions say: with no rule1 both ships land; under the L3/L4 rule1 the
    tiefighter lands and the xwing's connection is dropped; under the L7 rule1 the
    tiefighter's landing is answered and its PUT /v1/exhaust-port refused with 403)."""
    seen = starwars.describe_response(resp)
    first = (resp.body.strip().splitlines() or [""])[0].strip()
    if allowed:
        ok = resp.rc == 0 and resp.status == 200 and first == LANDED
        return None if ok else f"expected HTTP 200 {LANDED!r}, saw {seen}"
    if policy == "l7":
        ok = resp.status == 403 and resp.body.strip() == DENIED
        return None if ok else f"expected HTTP 403 {DENIED!r}, saw {seen}"
    problem = traffic.deny_problem(resp)
    return None if problem is None else f"expected the connect attempt to time out (dropped by rule1), saw {problem}"


def _check_answers(ctx: dict[str, Any]) -> None:
    """The answers are part of what the scenario states: a filter is judged on the flows of
    requests that went the way the policy says, so a wrong answer fails here, by name."""
    policy = ctx.get("rule1")
    wrong = []
    for key, resp in ctx["requests"].items():
        req = resp.request
        problem = _answer_problem(resp, starwars.allowed(req.pod, req.method, urlsplit(req.url).path, policy), policy)
        if problem:
            wrong.append(f"{key}'s {req.method} {urlsplit(req.url).path} (from port {req.local_port}): {problem}")
    assert not wrong, "; ".join(wrong)


@when("the tiefighter and the xwing each request a landing")
def both_ships_land(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    ctx["requests"] = {ship: starwars.request(lab, scenario_ns, ship, *starwars.LANDING, ctx.get("rule1"),
                                              max_time=MAX_TIME)
                       for ship in ("tiefighter", "xwing")}
    _check_answers(ctx)


@when("the tiefighter requests a landing and then sends PUT /v1/exhaust-port")
def tiefighter_post_and_put(lab: Lab, scenario_ns: str, ctx: dict[str, Any]) -> None:
    ctx["requests"] = {f"tiefighter {method}": starwars.request(lab, scenario_ns, "tiefighter", method, path,
                                                                ctx.get("rule1"), max_time=MAX_TIME)
                       for method, path in (starwars.LANDING, starwars.EXHAUST_PORT)}
    _check_answers(ctx)


def _is(ep: Any, ns: str | None, prefix: str) -> bool:
    return ep.namespace == ns and (ep.pod_name or "").startswith(prefix)


def _request(ctx: dict[str, Any], key: str) -> Response:
    """The request sent as `key` (its start line and client address tie flows to it)."""
    return ctx["requests"][key]


def _dns_lookups(c: dict[str, Any], fl: list[Flow], ship: str) -> list[Flow]:
    return [f for f in flows.from_client(fl, _request(c, ship))
            if _is(f.source, c["ns"], ship) and f.l4_protocol == "UDP" and f.destination.port == 53]


#: the words of the feature -> the flows of the scenario's own traffic they name
SELECTIONS: dict[str, Callable[[dict[str, Any], list[Flow]], list[Flow]]] = {
    "the xwing's request": lambda c, fl: flows.of_request(fl, _request(c, "xwing")),
    "the tiefighter's request": lambda c, fl: flows.of_request(fl, _request(c, "tiefighter")),
    "the tiefighter's POST": lambda c, fl: flows.of_request(fl, _request(c, "tiefighter POST")),
    "the tiefighter's PUT": lambda c, fl: flows.of_request(fl, _request(c, "tiefighter PUT")),
    "the L3/L4 flows of the tiefighter's POST": lambda c, fl: [
        f for f in flows.of_request(fl, _request(c, "tiefighter POST")) if f.type != "L7"],
    "the xwing's dropped packets": lambda c, fl: [
        f for f in flows.of_request(fl, _request(c, "xwing")) if f.verdict == "DROPPED"],
    "the deathstar's replies": lambda c, fl: [
        f for r in c["requests"].values() for f in flows.of_request(fl, r) if _is(f.source, c["ns"], "deathstar")],
    # the namespace is the scenario's own: the xwing there looks up only what this scenario asks;
    # a lookup has a source port of its own, so it is tied to the request by time and address
    "the xwing's DNS lookups": lambda c, fl: _dns_lookups(c, fl, "xwing"),
    "the tiefighter's DNS lookups": lambda c, fl: _dns_lookups(c, fl, "tiefighter"),
}

PROPERTIES: dict[str, Callable[[dict[str, Any], Flow], bool]] = {
    "has the scenario's namespace at one end": lambda c, f: c["ns"] in (f.source.namespace, f.destination.namespace),
    "has the xwing at one end": lambda c, f: _is(f.source, c["ns"], "xwing") or _is(f.destination, c["ns"], "xwing"),
    "ends at a deathstar pod": lambda c, f: _is(f.destination, c["ns"], "deathstar"),
    "comes from the xwing's identity": lambda c, f: f.source.identity == c["identities"]["xwing"],
    "comes from the deathstar's identity": lambda c, f: f.source.identity == c["identities"]["deathstar"],
    "ends at the deathstar's identity": lambda c, f: f.destination.identity == c["identities"]["deathstar"],
    "is UDP": lambda c, f: f.l4_protocol == "UDP",
    "is TCP": lambda c, f: f.l4_protocol == "TCP",
    "is DROPPED": lambda c, f: f.verdict == "DROPPED",
    "is FORWARDED": lambda c, f: f.verdict == "FORWARDED",
    "is an L7 flow": lambda c, f: f.type == "L7",
    "is an HTTP PUT": lambda c, f: f.http_method == "PUT",
    "has the path /v1/request-landing": lambda c, f: f.http_url is not None
    and re.search("/v1/request-landing", urlsplit(f.http_url).path) is not None,
}


def _selection(name: str) -> Callable[[dict[str, Any], list[Flow]], list[Flow]]:
    if name not in SELECTIONS:
        raise KeyError(f"step text names unknown flows {name!r}; known: {', '.join(SELECTIONS)}")
    return SELECTIONS[name]


@then(parsers.parse("it shows {what}"))
@outcome("the filtered output holds at least one flow of the named traffic of the scenario")
def it_shows(lab: Lab, ctx: dict[str, Any], what: str) -> None:
    """One flow of the selection: this step shows the filter lets the request through; which
    flows a request makes is the Star Wars chapter's, and every flow shown is judged by
    "every flow it shows ..." (issue 18: "every"/"one" in docs/architecture.md)."""
    select = _selection(what)

    def check() -> None:
        ctx["flows"] = _observe(lab, ctx, ctx["observe_args"])
        found = select(ctx, ctx["flows"])
        assert found, f"`{_cmd(ctx)}`: expected {what}, saw {flows.describe(ctx['flows'])}"
    lab.eventually(check, what=f"`{_cmd(ctx)}` shows {what}", budget="flows")


@then(parsers.parse("it leaves out {whats}, which Hubble holds"))
@outcome("the named flows are first seen in Hubble (--namespace of the scenario), then none of them is in the "
         "filtered output")
def it_leaves_out(lab: Lab, ctx: dict[str, Any], whats: str) -> None:
    """`whats`: one selection, or several joined by " and " (one per part of a compound filter);
    each is first seen in Hubble (`--namespace` of the scenario), then absent from the output."""
    names = [w.strip() for w in whats.split(" and ")] if whats not in SELECTIONS else [whats]
    selects = [(what, _selection(what)) for what in names]
    witness = ["--namespace", ctx["ns"]]
    # one flow of the hidden selection in Hubble witnesses that there is something to leave
    # out; the filtered output must then leave out every one of them

    def held() -> None:
        seen = _observe(lab, ctx, witness)
        missing = [what for what, select in selects if not select(ctx, seen)]
        assert not missing, (f"`hubble observe --namespace {ctx['ns']}`: expected {' and '.join(missing)} in Hubble, "
                             "saw none")
    lab.eventually(held, what=f"Hubble holds {whats}", budget="flows")
    ctx["flows"] = _observe(lab, ctx, ctx["observe_args"])
    flt = observe_filter.parse(ctx["observe_args"])
    for what, select in selects:
        wrong = select(ctx, ctx["flows"])
        assert not wrong, (f"`{_cmd(ctx)}`: expected none of {what}, saw {flows.describe(wrong)}; "
                           + (f"the filter should have left them out: {observe_filter.report(flt, wrong)}"
                              if flt.violations(wrong) else "they match every part of the filter"))


@then(parsers.parse("every flow it shows {props}"))
@outcome("the filtered output is not empty, every flow matches every part of the filter, and every flow has "
         "the named property")
def every_flow(ctx: dict[str, Any], props: str) -> None:
    """`props`: one property, or several joined by " and " (one per part of a compound filter)."""
    names = [p.strip() for p in props.split(" and ")] if props not in PROPERTIES else [props]
    for prop in names:
        if prop not in PROPERTIES:
            raise KeyError(f"step text names an unknown property {prop!r}; known: {', '.join(PROPERTIES)}")
    shown = ctx["flows"]
    assert shown, f"`{_cmd(ctx)}` showed no flows"
    _whole_filter(ctx)
    for prop in names:
        wrong = [f for f in shown if not PROPERTIES[prop](ctx, f)]
        assert not wrong, (f"`{_cmd(ctx)}`: expected every flow to satisfy '{prop}', saw {len(wrong)} that do not: "
                           f"{flows.describe(wrong)}")


# --- flow fields ----------------------------------------------------------------------------------------


PRE_FWD, POST_FWD = "SOCK_XLATE_POINT_PRE_DIRECTION_FWD", "SOCK_XLATE_POINT_POST_DIRECTION_FWD"
PRE_REV = "SOCK_XLATE_POINT_PRE_DIRECTION_REV"
#: compact name -> jsonpb value (flow.proto SocketTranslationPoint; the compact printer's names)
XLATE_POINT = {"pre-xlate-fwd": PRE_FWD, "post-xlate-fwd": POST_FWD, "pre-xlate-rev": PRE_REV}


def _sock(f: Flow) -> str:
    return (f"{f.source.pod_name or f.source.ip} <> {f.destination.pod_name or f.destination.ip}:{f.destination.port} "
            f"(ID:{f.destination.identity}) {f.sock_xlate_point} {f.verdict} {f.l4_protocol}")


@then(parsers.re(r'the Service "(?P<service>[^"]+)" on (?P<port>\d+)/(?P<proto>TCP|UDP) shows pre-xlate-fwd TRACED '
                 r'to its address as world, then post-xlate-fwd TRANSLATED to a pod behind it'))
@asserts("socket-lb-translation")
def service_translated(lab: Lab, ctx: dict[str, Any], service: str, port: str, proto: str) -> None:
    """One connect() of the xwing, so one translation, to "a pod behind it": which backend
    socket-LB picks is its choice; that every backend answers is the Star Wars chapter's."""
    # the seed's compact lines: "pre-xlate-fwd TRACED", then "post-xlate-fwd TRANSLATED"
    (pre_name, pre_verdict), (post_name, post_verdict) = (
        tuple(p.split()) for p in fact("socket-lb-translation").split(", "))
    assert (XLATE_POINT[pre_name], XLATE_POINT[post_name]) == (PRE_FWD, POST_FWD), fact("socket-lb-translation")
    ns, name = service.replace("{ns}", ctx["ns"]).split("/", 1)
    address = k8s.cluster_ip(lab, ns, name)
    backends = {(ip, p) for ip, p in k8s.service_endpoints(lab, ns, name)}
    sent = ctx["response"]
    client = sent.request.pod
    what = f"{client}'s connect() to {ns}/{name} {address}:{port}/{proto}"

    def check() -> None:
        seen = _observe(lab, ctx, ctx["observe_args"])
        # trace-sock flows carry no source port (and the BPF program no source address): they
        # belong to the request by its client pod and its time
        mine = [f for f in flows.since(seen, sent) if _is(f.source, ctx["ns"], client) and f.l4_protocol == proto]
        pre = [f for f in mine if f.sock_xlate_point == PRE_FWD and f.destination.ip == address
               and f.destination.port == int(port)]
        assert pre, f"{what}: expected a pre-xlate-fwd flow to {address}:{port}, saw " + (
            "; ".join(_sock(f) for f in mine if f.sock_xlate_point) or "no trace-sock flows") + (
            f" ({flows.window(sent)})")
        good_pre = [f for f in pre if f.verdict == pre_verdict and f.destination.identity == IDENTITY["world"]]
        assert good_pre, (f"{what}: expected pre-xlate-fwd TRACED to {address}:{port} (world, identity 2), saw "
                          + "; ".join(_sock(f) for f in pre))
        cookies = {f.socket_cookie for f in good_pre}
        post = [f for f in mine if f.sock_xlate_point == POST_FWD
                and (f.socket_cookie in cookies or None in cookies)]
        good_post = [f for f in post if f.verdict == post_verdict
                     and (f.destination.ip, f.destination.port) in backends]
        assert good_post, (f"{what}: expected post-xlate-fwd TRANSLATED to a backend "
                           f"({', '.join(f'{ip}:{p}' for ip, p in sorted(backends)) or 'none ready'}), saw "
                           + ("; ".join(_sock(f) for f in post) or "no post-xlate-fwd flow of that socket"))
        # "then": one connect() reports the pre-xlate-fwd event before the post-xlate-fwd one (the
        # same node stamps both, in the order socket-LB emits them)
        after = [f for f in good_post if _after_its_pre(f, good_pre)]
        assert after, (f"{what}: expected post-xlate-fwd TRANSLATED after the pre-xlate-fwd TRACED of its socket, "
                       "saw it stamped before: " + "; ".join(f"{_sock(f)} at {f.time}" for f in good_post)
                       + " | " + "; ".join(f"{_sock(f)} at {f.time}" for f in good_pre))
    lab.eventually(check, what=f"{what} translated by socket-LB", budget="flows")
    _whole_filter(ctx)


def _after_its_pre(post: Flow, pres: list[Flow]) -> bool:
    """`post` is stamped no earlier than a pre-xlate-fwd event of its socket."""
    t = parse_time(post.time)
    if t is None:
        return False
    for pre in pres:
        seen = parse_time(pre.time)
        if seen is not None and seen <= t and (pre.socket_cookie == post.socket_cookie or pre.socket_cookie is None):
            return True
    return False


@then("the deathstar pod's socket shows pre-xlate-rev TRACED for the xwing's address and port, where "
      "socket-LB would translate a reply's address back")
@asserts("socket-lb-reverse")
def reverse_traced(lab: Lab, ctx: dict[str, Any]) -> None:
    """Socket-LB's reverse hook (getpeername, a UDP reply's recvmsg) fires whenever a socket asks
    for its peer's address; the event names the peer at its address and port and the socket's own
    pod without a port (Cilium pkg/hubble/parser/sock: on the reverse path source and
    destination swap).  The deathstar's side of the xwing's connection sees the xwing at its
    pinned client port, so the event belongs to this request: seed 1729-1733
    `default/xwing:43318 (ID:7207) <> default/deathstar-... (ID:15933) pre-xlate-rev TRACED (TCP)`."""
    name, verdict = fact("socket-lb-reverse").split()
    point = XLATE_POINT[name]
    sent = ctx["response"]
    req = sent.request
    backends = {ip for ip, _ in k8s.service_endpoints(lab, ctx["ns"], "deathstar")}
    what = f"the deathstar's socket of {req.pod}'s connection from port {req.local_port}"

    def check() -> None:
        mine = flows.of_request(_observe(lab, ctx, ctx["observe_args"]), sent)
        rev = [f for f in mine if f.sock_xlate_point == point and _is(f.source, ctx["ns"], req.pod)
               and f.source.port == req.local_port]
        assert rev, (f"{what}: expected {name} {verdict} for {req.pod}'s address and port {req.local_port}, saw "
                     + ("; ".join(_sock(f) for f in mine if f.sock_xlate_point) or "no trace-sock flow of it")
                     + f" ({flows.window(sent)})")
        good = [f for f in rev if f.verdict == verdict and _is(f.destination, ctx["ns"], "deathstar")
                and f.destination.ip in backends]
        assert good, (f"{what}: expected {name} {verdict} on a deathstar pod "
                      f"({', '.join(sorted(backends)) or 'none ready'}), saw " + "; ".join(_sock(f) for f in rev))
    lab.eventually(check, what=f"{what}: {name} {verdict}", budget="flows")
    _whole_filter(ctx)


@then(parsers.parse("the xwing's connection shows the TCP flags {flag_sets}"))
@outcome("the flows of the xwing's request (its client port, after it was sent) include each listed set of "
         "TCP flags, and every flow shown matches the filter")
def connection_flags(lab: Lab, ctx: dict[str, Any], flag_sets: str) -> None:
    sent = ctx["response"]
    req = sent.request
    want = [tuple(x.strip() for x in part.split(",")) for part in flag_sets.split(";")]

    def check() -> None:
        mine = flows.of_request(_observe(lab, ctx, ctx["observe_args"]), sent)
        seen = {f.tcp_flags for f in mine if f.tcp_flags}
        missing = [", ".join(w) for w in want if w not in seen]
        assert not missing, (f"{req.pod}'s connection from port {req.local_port}: expected TCP flags "
                             f"{'; '.join(', '.join(w) for w in want)}, missing {'; '.join(missing)}; saw "
                             + ("; ".join(", ".join(s) for s in sorted(seen)) or "no TCP flags")
                             + f" ({flows.window(sent)})")
    lab.eventually(check, what=f"TCP flags of {req.pod}'s connection", budget="flows")
    _whole_filter(ctx)


def _point(f: Flow) -> str | None:
    """The observation point as the compact line names it: the printer names a trace event by its
    point (hubble-1.17-formats.md §2: TO_ENDPOINT in -o jsonpb is `to-endpoint` in the TYPE column)."""
    point = f.trace_observation_point
    return point.lower().replace("_", "-") if point else None


def _flow_line(f: Flow) -> str:
    def end(e: Any) -> str:
        return f"{e.pod_name or e.ip}:{e.port}" if e.port else f"{e.pod_name or e.ip}"
    return (f"{end(f.source)} -> {end(f.destination)} ({', '.join(f.tcp_flags) or f.l4_protocol}) {_point(f)} "
            f"seen on {flows.node_of(f.node_name) or '?'}")


@then("its SYN and its SYN, ACK are seen to-endpoint on the node of the pod they go to, and first to-network on "
      "the sender's node when the two pods run on different nodes; no packet of it is seen at either point "
      "anywhere else")
@asserts("trace-observation-points")
def observation_points(lab: Lab, ctx: dict[str, Any]) -> None:
    """The opening packet of each direction (SYN, then SYN, ACK: always traced, whatever the
    monitor aggregation) is seen at both points it passes; every traced packet of the
    connection is seen at a point of the right node (seed 1723-1724: the SYN `to-network`, then
    `to-endpoint`; 1785-1786 the SYN, ACK the same way back)."""
    to_endpoint, to_network = fact("trace-observation-points").split()
    sent = ctx["response"]
    req = sent.request
    where = {p["metadata"]["name"]: k8s.pod_node(p) for p in ctx["starwars_pods"]}

    def node(e: Any) -> str | None:
        return where.get(e.pod_name or "") if e.namespace == ctx["ns"] else None

    def check() -> None:
        mine = [f for f in flows.of_request(_observe(lab, ctx, ctx["observe_args"]), sent)
                if _point(f) in (to_endpoint, to_network) and f.tcp_flags]
        wrong, missing = [], []
        for f in mine:
            src, dst, seen_on = node(f.source), node(f.destination), flows.node_of(f.node_name)
            if _point(f) == to_endpoint and seen_on != dst:
                wrong.append(f"{_flow_line(f)}, expected {to_endpoint} on {dst} (the node of "
                             f"{f.destination.pod_name})")
            if _point(f) == to_network and (seen_on != src or src == dst):
                wrong.append(f"{_flow_line(f)}, expected {to_network} only on the sender's node {src} and "
                             f"only towards another node (the receiver runs on {dst})")
        for opening in (("SYN",), ("SYN", "ACK")):
            packets = [f for f in mine if f.tcp_flags == opening]
            ends = {(node(f.source), node(f.destination)) for f in packets}
            points = {_point(f) for f in packets}
            want = [to_endpoint] + ([to_network] if any(s != d for s, d in ends) else [])
            lacking = [p for p in want if p not in points]
            if not packets or lacking:
                missing.append(f"the {', '.join(opening)} {' and '.join(lacking or want)}")
        assert not wrong and not missing, (
            f"{req.pod}'s connection from port {req.local_port}: "
            + (f"expected {'; '.join(missing)}, saw " + ("; ".join(_flow_line(f) for f in mine) or
                                                         "no traced packets") + "; " if missing else "")
            + "; ".join(wrong[:4]) + f" ({flows.window(sent)})")
    lab.eventually(check, what=f"observation points of {req.pod}'s connection", budget="flows")


@then(parsers.parse("the deathstar's packets of the xwing's connection read as replies, xwing <- deathstar, with the "
                    "TCP flags {flag_sets}"))
@asserts("reply-direction")
def replies_read_back(lab: Lab, ctx: dict[str, Any], flag_sets: str) -> None:
    """`hubble observe --from-identity $DEATHSTARID` (seed 1785-1792) prints the server's packets
    with the client on the left and `<-`: the compact printer swaps the ends of a flow whose
    is_reply is true (hubble-1.17-formats.md §2, Arrow).  Every packet the deathstar sends back on
    the xwing's connection (to the xwing's pinned port) that Hubble marks at all must be a reply,
    none a request (`->`); a packet Hubble cannot place (`<>`, is_reply unset: an observation
    point without connection tracking) claims neither, and trace-sock events are not packets."""
    arrow = fact("reply-direction")
    arrows = {True: "<-", False: "->", None: "<>"}
    sent = ctx["response"]
    req = sent.request
    want = [tuple(x.strip() for x in part.split(",")) for part in flag_sets.split(";")]

    def check() -> None:
        packets = [f for f in flows.of_request(_observe(lab, ctx, ctx["observe_args"]), sent)
                   if _is(f.source, ctx["ns"], "deathstar") and not f.sock_xlate_point]
        wrong = [f for f in packets if f.is_reply is not None and arrows[f.is_reply] != arrow]
        seen = {f.tcp_flags for f in packets if arrows[f.is_reply] == arrow}
        missing = [", ".join(w) for w in want if w not in seen]
        shown = "; ".join(f"{req.pod}:{f.destination.port} {arrows[f.is_reply]} {f.source.pod_name}:{f.source.port} "
                          f"(is_reply {f.is_reply}, TCP Flags: {', '.join(f.tcp_flags)})" for f in packets[:8])
        assert not wrong and not missing, (
            f"the deathstar's packets to {req.pod}:{req.local_port}: expected replies ({req.pod} {arrow} deathstar, "
            f"is_reply true) with the TCP flags {'; '.join(', '.join(w) for w in want)}"
            + (f", missing {'; '.join(missing)}" if missing else "")
            + f"; saw {shown or 'none'} ({flows.window(sent)})")
    lab.eventually(check, what=f"the deathstar's replies to {req.pod}", budget="flows")


# --- the lab's own plumbing ------------------------------------------------------------------------------


def _observer(f: Flow) -> str:
    return (f.node_name or "").rsplit("/", 1)[-1]


def _apiserver_ips(lab: Lab) -> set[str]:
    return {ip for ip, _ in k8s.service_endpoints(lab, "default", "kubernetes")}


def _expected_node_identity(node_ip: str, observer_ip: str | None, apiservers: set[str]) -> int:
    if node_ip == observer_ip:
        return IDENTITY["host"]
    return IDENTITY["kube-apiserver"] if node_ip in apiservers else IDENTITY["remote-node"]


NAMES = {v: k for k, v in IDENTITY.items()}


@then("Relay reads port 4244 of every node, each node labelled host by its own agent and remote-node or "
      "kube-apiserver by the others")
@asserts("relay-reads-4244")
def relay_reads_every_node(lab: Lab, ctx: dict[str, Any]) -> None:
    port = int(fact("relay-reads-4244"))   # each node's Hubble server
    cluster = k8s.nodes(lab)
    relays = {p["metadata"]["name"] for p in k8s.running_pods(lab, KS, "k8s-app=hubble-relay")}
    assert relays, "no Running hubble-relay pod"
    apiservers = _apiserver_ips(lab)

    def check() -> None:
        seen = _observe(lab, ctx, ctx["observe_args"])
        missing, wrong = [], []
        for node, ip in sorted(cluster.items()):
            pairs = []
            for f in seen:
                for a, b in ((f.source, f.destination), (f.destination, f.source)):
                    if a.namespace == KS and a.pod_name in relays and b.ip == ip and b.port == port:
                        pairs.append((f, b))
            if not pairs:
                missing.append(f"{node} ({ip}:{port})")
            for f, b in pairs:
                want = _expected_node_identity(ip, cluster.get(_observer(f)), apiservers)
                if b.identity != want:
                    wrong.append(f"{ip}:{port} seen by {_observer(f) or '?'} as {NAMES.get(b.identity, b.identity)} "
                                 f"(identity {b.identity}), expected {NAMES[want]} ({want})")
        assert not missing and not wrong, (
            f"`{_cmd(ctx)}`: " + (f"expected Relay talking to {port} of {', '.join(missing)}, saw none; " if missing else "")
            + "; ".join(wrong[:6]))
    lab.eventually(check, what="Relay reading every node's Hubble server", budget="flows")
    _whole_filter(ctx)


@then(parsers.parse("the Hubble UI talks to Relay on port {port:d}"))
@outcome("among the kube-system flows there is one between a hubble-ui pod and a hubble-relay pod on that port")
def ui_talks_to_relay(lab: Lab, ctx: dict[str, Any], port: int) -> None:
    """One flow: the lab runs one UI and one Relay replica (seed 1105-1106), so one flow
    between them on the port shows the path."""
    relays = {p["metadata"]["name"] for p in k8s.running_pods(lab, KS, "k8s-app=hubble-relay")}
    uis = {p["metadata"]["name"] for p in k8s.running_pods(lab, KS, "k8s-app=hubble-ui")}

    def check() -> None:
        seen = _observe(lab, ctx, ctx["observe_args"])
        found = [f for f in seen if (f.source.pod_name in uis and f.destination.pod_name in relays
                                     and f.destination.port == port)
                 or (f.source.pod_name in relays and f.source.port == port and f.destination.pod_name in uis)]
        assert found, (f"`{_cmd(ctx)}`: expected flows from the UI ({', '.join(sorted(uis)) or 'no pod'}) to Relay "
                       f"({', '.join(sorted(relays)) or 'no pod'}) port {port}, saw "
                       + flows.describe([f for f in seen if f.source.pod_name in uis or f.destination.pod_name in uis]))
    lab.eventually(check, what=f"the UI talking to Relay on {port}", budget="flows")
    _whole_filter(ctx)


@then(parsers.parse("traffic to the API server on port {port:d}, seen on a node that does not run it, carries the "
                    "reserved identity kube-apiserver"))
@outcome("there are flows to the API server's endpoints on the port seen from another node, and every one "
         "carries identity 7 (kube-apiserver)")
def apiserver_identity(lab: Lab, ctx: dict[str, Any], port: int) -> None:
    """Every flow to the API server seen on another node carries kube-apiserver; at least one
    is needed, not one per node: which kube-system pods call the API server from which node
    is the scheduler's (in the seed the UI on k8s-w1), and every node's own IP cache label
    is the identities scenario's (issue 18: "every"/"one" in docs/architecture.md)."""
    apiservers = _apiserver_ips(lab)
    cluster = k8s.nodes(lab)

    def check() -> None:
        seen = _observe(lab, ctx, ctx["observe_args"])
        to_api = [f for f in seen if f.destination.ip in apiservers and f.destination.port == port
                  and cluster.get(_observer(f)) not in apiservers]  # on the API server's own node it is host
        assert to_api, (f"`{_cmd(ctx)}`: expected flows to the API server {', '.join(sorted(apiservers))}:{port} "
                        "seen on another node, saw none")
        wrong = [f for f in to_api if f.destination.identity != IDENTITY["kube-apiserver"]]
        assert not wrong, (f"`{_cmd(ctx)}`: expected the API server labelled kube-apiserver (identity 7), saw "
                           + "; ".join(f"{f.destination.ip}:{port} as {NAMES.get(f.destination.identity, f.destination.identity)} "
                                       f"(identity {f.destination.identity}) on {_observer(f)}" for f in wrong[:4]))
    lab.eventually(check, what="the API server's reserved identity in flows", budget="flows")
    _whole_filter(ctx)


@then("the host checks the health of every CoreDNS pod on port 8080, seen to-endpoint FORWARDED on that pod's node")
@asserts("coredns-health-check")
def coredns_health_checks(lab: Lab, ctx: dict[str, Any]) -> None:
    """seed 1332-1334: `10.0.2.15:55892 (host) -> kube-system/coredns-...:8080 (ID:5694) to-endpoint
    FORWARDED`.  The kubelet probes each CoreDNS pod's health endpoint (the `health` plugin on
    8080, kubeadm's livenessProbe, every 10 s) from its node's own network namespace, so the
    agent of the pod's node labels the source host; the address the node sends from is its
    own business and not checked."""
    ident, port, point, verdict = fact("coredns-health-check").split()
    pods = {p["metadata"]["name"]: k8s.pod_node(p) for p in k8s.running_pods(lab, KS, "k8s-app=kube-dns")}
    assert pods, "no Running CoreDNS pod (k8s-app=kube-dns) in kube-system"

    def check() -> None:
        seen = _observe(lab, ctx, ctx["observe_args"])
        missing = []
        for name, node in sorted(pods.items()):
            probes = [f for f in seen if f.destination.namespace == KS and f.destination.pod_name == name
                      and f.destination.port == int(port) and not f.is_reply]
            good = [f for f in probes if f.source.identity == IDENTITY[ident] and _point(f) == point
                    and f.verdict == verdict and _observer(f) == node]
            if not good:
                missing.append(f"{ident} (identity {IDENTITY[ident]}) -> {name}:{port} {point} {verdict} on {node}, saw "
                               + ("; ".join(f"{f.source.ip} ({NAMES.get(f.source.identity, f.source.identity)}) -> "
                                            f"{name}:{port} {_point(f)} {f.verdict} on {_observer(f) or '?'}"
                                            for f in probes[:3]) or "no flow to it on that port"))
        assert not missing, f"`{_cmd(ctx)}`: expected " + " | ".join(missing)
    lab.eventually(check, what=f"the host's health checks of CoreDNS on {port}", budget="flows")


# --- reserved identities in the IP cache -------------------------------------------------------------------


@when("I list the IP cache of the agent on k8s-w1")
def list_ip_cache(lab: Lab, ctx: dict[str, Any]) -> None:
    cluster = k8s.nodes(lab)
    apiservers = _apiserver_ips(lab)
    node = of_lab(lab).real("k8s-w1")   # the write-up's k8s-w1: the lab's first worker (cilab.roles)
    assert node in cluster, f"node {node} is not in the cluster (saw {', '.join(sorted(cluster))})"
    # the scenario reads a node that does not run the API server: there it is kube-apiserver (7)
    assert cluster[node] not in apiservers, (f"{node} ({cluster[node]}) serves the API itself, so its IP cache "
                                             "shows the API server as host, not kube-apiserver")
    ctx["ipcache_node"] = node
    ctx["ipcache"] = hubble_cli.ip_cache(lab, node)
    ctx["cluster"], ctx["apiservers"] = cluster, apiservers


def _host_entry(cidr: str) -> str:
    net = ipaddress.ip_network(cidr, strict=False)
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else cidr


@then("its own address has identity 1, 0.0.0.0/0 identity 2, the other nodes identity 6 and the API server's "
      "node identity 7")
@asserts("reserved-identities")
def ip_cache_identities(ctx: dict[str, Any]) -> None:
    seed = dict(pair.split("=") for pair in fact("reserved-identities").split())
    wrong_numbers = {n: v for n, v in seed.items() if IDENTITY.get(n) != int(v)}
    assert not wrong_numbers, f"the step numbers the reserved identities {IDENTITY}, the seed {seed}"
    node, cluster, apiservers = ctx["ipcache_node"], ctx["cluster"], ctx["apiservers"]
    by_addr = {_host_entry(e.cidr): e.identity for e in ctx["ipcache"]}
    want = {"0.0.0.0/0": IDENTITY["world"]}
    for name, ip in cluster.items():
        want[ip] = _expected_node_identity(ip, cluster[node], apiservers)
    wrong = [f"{addr}: expected {w} ({NAMES[w]}), saw "
             + ("no entry" if addr not in by_addr else f"{by_addr[addr]} ({NAMES.get(by_addr[addr], 'not reserved')})")
             for addr, w in sorted(want.items()) if by_addr.get(addr) != w]
    assert not wrong, f"cilium-dbg ip list on {node}: " + "; ".join(wrong)


@then("no address has identity 4 (health), as cilium-config turns endpoint health checking off")
@asserts("endpoint-health-checking-off")
def no_health_identity(lab: Lab, ctx: dict[str, Any]) -> None:
    # seed 771: `enable-endpoint-health-checking                false` (cilium config view)
    want = fact("endpoint-health-checking-off")
    cfg = k8s.configmap_data(lab, KS, "cilium-config")
    assert cfg is not None, f"ConfigMap {KS}/cilium-config does not exist"
    seen = cfg.get("enable-endpoint-health-checking")
    assert seen == want, (f"cilium-config: enable-endpoint-health-checking: expected {want!r} (no agent health "
                          f"endpoint, so no identity 4), saw {'<absent>' if seen is None else repr(seen)}")
    health = [e.cidr for e in ctx["ipcache"] if e.identity == IDENTITY["health"]]
    assert not health, (f"cilium-dbg ip list on {ctx['ipcache_node']}: expected no health endpoint (identity 4) with "
                        f"endpoint health checking off, saw {', '.join(health)}")
