"""Chapter "URL query redaction" (seed lines 2905-3000): reference calls and mutants.

The scenario takes the lab through three states: ["hubble"] (the request with
?user_id=<marker> shows its query in the flows, seed 2933-2956), ["hubble", "redaction"]
after the Helm upgrade with provisioning/helm/redaction.yaml (the agents restart: a new
DaemonSet generation rolled out, new agent pod names; the new request's
flows show http://webpod/, seed 2960-2999), and ["hubble"] again after the restore (those
calls are the Hubble chapter's).  Webpod, policy and flow builders are the L7 visibility
chapter's (tools/reference/l7_visibility.py).
"""
from __future__ import annotations

import copy
from typing import Any

from cilab.stages import CHART_REPO, stage_values
from tools.reference.l7_visibility import (
    FIRST,
    Scene,
    _request_id,
    answer,
    cnp_obj,
    dns_flows,
    dns_port,
    http_flows,
    jsonl,
    observe_args,
    whoami_body,
)
from tools.reference.lab import *  # noqa: F401,F403
from tools.reference.lab import _replace

SEED = "seed lines 2905-3000"

T_REDACT = "test_hubble_stops_showing_url_queries_once_redaction_is_on"
#: the redaction stage checked as it is: found so on a student's lab, or switched on by itself
T_FOUND = "test_with_redaction_on_hubble_shows_the_url_without_its_query"
REDACTION = ["hubble", "redaction"]
#: agent pods after the restart the redaction layer causes (names reconstructed)
NEW_AGENTS = {"k8s-ctr": "cilium-9xk2p", "k8s-w1": "cilium-q7lmz", "k8s-w2": "cilium-vr4wd"}
REDACT_KEYS = {  # rendered by the chart for hubble.redact.* (cilium-1.17.6-facts §4 "Hubble redaction")
    "hubble-redact-enabled": "true",
    "hubble-redact-http-urlquery": "true",
    "hubble-redact-http-userinfo": "true",
    "hubble-redact-kafka-apikey": "false",
}
BEFORE, AFTER = "2025-07-25T19:53:37", "2025-07-25T19:56:27"  # seed 2951, 2994
STARTED_BEFORE, STARTED_AFTER = f"{BEFORE}.790356112Z", f"{AFTER}.791482201Z"  # reconstructed: just before the flows
STATUS_CMD = ["hubble", "status", "--server", f"{SVC_IPS['hubble-relay']}:80"]


def helm_output(revision: int, deployed: str) -> str:
    """seed 2962-2974 (`helm upgrade ...`: Release "cilium" has been upgraded)."""
    return ('Release "cilium" has been upgraded. Happy Helming!\nNAME: cilium\n'
            f"LAST DEPLOYED: {deployed}\nNAMESPACE: kube-system\nSTATUS: deployed\nREVISION: {revision}\n"
            "TEST SUITE: None\nNOTES:\nYou have successfully installed Cilium with Hubble Relay and Hubble UI.\n\n"
            "Your release version is 1.17.6.\n\n"
            "For any further help, visit https://docs.cilium.io/en/v1.17/gettinghelp\n")


def agent_ds(generation: int, observed: int, updated: int, ready: int) -> dict[str, Any]:
    obj = workload("DaemonSet", "cilium", ready, 3, AGENT_CONTAINERS, generation)
    obj["status"].update(observedGeneration=observed, updatedNumberScheduled=updated)
    obj["spec"]["template"]["metadata"] = {"annotations": {
        "cilium.io/cilium-configmap-checksum": "0c2b1ad1e3a5f7f1d6f39b6f2b8e4e7d1f0d3c6a9e5b2c4d7a8f1e3b5c7d9e0f"}}
    return obj


def agent_pods(names: dict[str, str]) -> list[dict[str, Any]]:
    return [pod_obj(names[n], n, NODES[n]["ip"], {"k8s-app": "cilium", "app.kubernetes.io/name": "cilium-agent"}, True)
            for n in NODES]


def relay_service() -> dict[str, Any]:
    return service_obj("hubble-relay", [{"protocol": "TCP", "port": 80, "targetPort": "grpc"}],
                       **{"k8s-app": "hubble-relay"})


def redaction_scene() -> Scene:
    s = Scene(T_REDACT)
    s.namespace()
    s.webpod()
    s.policy()
    first = s.request("http://webpod/", FIRST, envoy=True, marker_param="user_id",
                      seed="seed 2934-2947 `Hostname: webpod-697b545f57-b2xst` `X-Request-Id` (GET /?user_id=1234 echoed, through Envoy)", started=STARTED_BEFORE)
    before = dns_flows(s.ns, BEFORE, dns_port(s.ns, 1), coredns="coredns-674b8bbfcf-2sbw2") \
        + http_flows(s.ns, BEFORE, first, FIRST)
    s.observe("seed 2951-2956 `10292` `2460` (http-request FORWARDED (HTTP/1.1 GET http://webpod/?user_id=1234))",
              [jsonl(before)], "--type", "l7")
    # -- redaction on: helm upgrade, then the agents restart ------------------------------------
    s.add("helm_upgrade", "seed 2961 `Happy Helming!` (helm upgrade ... hubble redaction: REVISION 3)",
          [cmd(helm_output(3, "Sat Jul 26 04:55:45 2025"))], scoped=False,
          release="cilium", chart="cilium", version=CILIUM_VERSION, namespace=KS,
          values=stage_values("redaction"), repo=CHART_REPO)
    s.stages = list(REDACTION)
    s.add("k8s_get", "reconstructed (cilium-config with the hubble-redact-* keys the chart renders)",
          [value(configmap("cilium-config", {**HUBBLE_CONFIG, **REDACT_KEYS}))], scoped=False,
          api_version="v1", kind="ConfigMap", name="cilium-config", namespace=KS)
    s.add("k8s_get", "reconstructed (cilium DaemonSet generation 3 rolling out, then 3/3 updated)",
          [value(agent_ds(3, 3, 1, 2)), value(agent_ds(3, 3, 3, 3))], scoped=False,
          api_version="apps/v1", kind="DaemonSet", name="cilium", namespace=KS)
    s.add("k8s_list", "seed 601-603 `192.168.10.100` `192.168.10.102` (nodes)", [value([node_obj(n) for n in NODES])], scoped=False,
          api_version="v1", kind="Node")
    s.add("k8s_get", "seed 1164 `10.96.174.49` (service/hubble-relay)", [value(relay_service())], scoped=False,
          api_version="v1", kind="Service", name="hubble-relay", namespace=KS)
    s.add("k8s_list", "reconstructed (new agent pods after the restart)", [value(agent_pods(NEW_AGENTS))],
          scoped=False, api_version="v1", kind="Pod", namespace=KS, label_selector="k8s-app=cilium")
    s.add("pod_exec", "seed 1300 `Connected Nodes: 3/3` (Connected Nodes 3/3; 2/3 while Relay reconnects: reconstructed)",
          [cmd(hubble_status_text(2, 3, ["k8s-w2"])), cmd(hubble_status_text(3, 3))], scoped=False,
          namespace=KS, pod=NEW_AGENTS["k8s-ctr"], container="cilium-agent", command=STATUS_CMD)
    s.policy_realised(NEW_AGENTS)
    second = s.request("http://webpod/", FIRST, envoy=True, marker_param="user_id",
                       seed="seed 2977-2990 `Hostname: webpod-697b545f57-b2xst` `X-Request-Id` (GET /?user_id=1234 still echoed by whoami)", started=STARTED_AFTER)
    after = dns_flows(s.ns, AFTER, dns_port(s.ns, 2)) + http_flows(
        s.ns, AFTER, second, FIRST, url="http://webpod/", redacted_headers=True)
    s.observe("seed 2994-2999 `10292` `2460` (http-request/http-response show http://webpod/; the restarted agents' ring "
              "buffers hold no older flows)", [jsonl(after)], "--type", "l7", agent=NEW_AGENTS["k8s-ctr"])
    # -- back to the Hubble stage ------------------------------------------------------------------
    s.add("helm_upgrade", "reconstructed (restore: helm upgrade back to the Hubble stage of seed 1081-1093, REVISION 4)",
          [cmd(helm_output(4, "Sat Jul 26 05:02:10 2025"))], scoped=False,
          release="cilium", chart="cilium", version=CILIUM_VERSION, namespace=KS,
          values=stage_values("hubble"), repo=CHART_REPO)
    s.stages = list(HUBBLE)
    s.teardown()
    return s


def found_scene() -> Scene:
    """The scenario checking the redaction stage as it is: every call of its own in the
    redaction stage (the switch it makes on the suite's own lab is the scenario above's,
    scoped to no namespace; a lab found in that stage makes no switch, tests/selftest)."""
    s = Scene(T_FOUND)
    s.stages = list(REDACTION)
    s.namespace()
    s.webpod()
    s.apply("webpod/l7_visibility_policy.yaml", [cnp_obj(s.ns)],
            "seed 2759-2785 `cilium.io/v2` `http` (ciliumnetworkpolicy.cilium.io/l7-visibility created)")
    s.policy_realised(NEW_AGENTS)
    sent = s.request("http://webpod/", FIRST, envoy=True, marker_param="user_id",
                     seed="seed 2977-2990 `Hostname: webpod-697b545f57-b2xst` `X-Request-Id` (GET /?user_id=1234 echoed by whoami with redaction on)",
                     started=STARTED_AFTER)
    flows = dns_flows(s.ns, AFTER, dns_port(s.ns, 1)) + http_flows(
        s.ns, AFTER, sent, FIRST, url="http://webpod/", redacted_headers=True)
    s.observe("seed 2994-2999 `10292` `2460` (http-request/http-response show http://webpod/)", [jsonl(flows)],
              "--type", "l7", agent=NEW_AGENTS["k8s-ctr"])
    s.teardown()
    return s


def calls() -> list[dict[str, Any]]:
    return list(redaction_scene().calls.values()) + list(found_scene().calls.values())


def mutants() -> dict[str, dict[str, Any]]:
    s = redaction_scene()
    ref = list(s.calls.values())
    _, second = s.sent
    labels = [l for l in s.state() if ":" in l]
    in_redaction = sorted(REDACTION + labels)
    leaked = dns_flows(s.ns, AFTER, dns_port(s.ns, 2)) + http_flows(s.ns, AFTER, second, FIRST)
    lost_query = whoami_body(FIRST, "/", second.req.local_port, envoy=True,
                             request_id=_request_id(second.req.marker))
    f = found_scene()
    (sent,) = f.sent
    found_leak = dns_flows(f.ns, AFTER, dns_port(f.ns, 1)) + http_flows(f.ns, AFTER, sent, FIRST)
    return {
        "redaction-on-query-still-visible": {
            "breaks": "redaction is on (cilium-config and the agents say so), yet the flows still show the URL query",
            "expect": [T_FOUND],
            "message": "expected the flows to show the URL 'http://webpod/', saw http-request URL "
                       f"'{sent.req.url}'",
            "calls": [_replace(list(f.calls.values()), "pod_exec", sorted(f.state()), [cmd(jsonl(found_leak))],
                               **observe_args(f.ns, "--type", "l7", agent=NEW_AGENTS["k8s-ctr"]))]},
        "redaction-query-still-visible": {
            "breaks": "with redaction on, the flows still show the URL query",
            "expect": [T_REDACT],
            "message": "expected the flows to show the URL 'http://webpod/'",
            "calls": [{**_replace(ref, "pod_exec", in_redaction, [cmd(jsonl(leaked))],
                                  **observe_args(s.ns, "--type", "l7", agent=NEW_AGENTS["k8s-ctr"]))}]},
        "redaction-whoami-query-lost": {
            "breaks": "with redaction on, webpod no longer receives the query (whoami echoes GET /)",
            "expect": [T_REDACT],
            "message": "expected whoami to echo 'GET /?user_id=",
            "calls": [_replace(ref, "pod_exec", in_redaction, [answer(second, lost_query, STARTED_AFTER)], **second.args)]},
        "redaction-relay-not-reconnected": {
            "breaks": "after the switch to redaction, Hubble Relay stays connected to 2 of the 3 restarted agents",
            "expect": [T_REDACT, T_FOUND],
            "message": "expected Connected Nodes 3/3, saw 2/3 (unavailable: k8s-w2)",
            "calls": [_replace(ref, "pod_exec", REDACTION, [cmd(hubble_status_text(2, 3, ["k8s-w2"]))],
                               namespace=KS, pod=NEW_AGENTS["k8s-ctr"], container="cilium-agent",
                               command=STATUS_CMD)]},
        "redaction-config-keys-missing": {
            "breaks": "the Helm upgrade leaves cilium-config without the hubble-redact-* keys",
            "expect": [T_REDACT, T_FOUND],
            "message": "hubble-redact-enabled: expected 'true', saw '<absent>'",
            "calls": [_replace(ref, "k8s_get", REDACTION, [value(configmap("cilium-config", HUBBLE_CONFIG))],
                               api_version="v1", kind="ConfigMap", name="cilium-config", namespace=KS)]},
        "redaction-agents-not-restarted": {
            "breaks": "the Helm upgrade does not change the agents' pod template, so they keep running without redaction",
            "expect": [T_REDACT, T_FOUND],
            "message": "DaemonSet kube-system/cilium still at generation 2",
            "calls": [_replace(ref, "k8s_get", REDACTION, [value(copy.deepcopy(
                workload("DaemonSet", "cilium", 3, 3, AGENT_CONTAINERS)))],
                api_version="apps/v1", kind="DaemonSet", name="cilium", namespace=KS)]},
    }
