"""Chapter "Hubble CLI" (seed lines 1223-1365, and the filters of 1679-1807): reference calls and mutants.

The student's commands run in a root shell on k8s-ctr.  Calls made while the suite's
port-forward runs carry the stage label `hubble-port-forward` (PF below).  Values from the
seed: the refusal of seed 1280-1281, the port-forward's pid 10570 and its two loopback
sockets (seed 1284-1291), `hubble status` through it (seed 1296-1300: 11,282/12,285 flows,
3/3 nodes), `hubble config view` (seed 1303-1307), the plumbing flows
(seed 1312-1339: Relay hubble-relay-5dcd46f5c-tln2s ID 11581 on k8s-w2 reading 192.168.10.101:4244 as
remote-node and 192.168.10.102:4244 as host; the UI hubble-ui-76d4965bb6-hcgj6 ID 7661
calling Relay on 4245 and 192.168.10.100:6443 as kube-apiserver), and the Star Wars flows of
seed 1694-1812 (10.96.0.10:53 (world) pre-xlate-fwd TRACED, coredns post-xlate-fwd
TRANSLATED, the deathstar Service 10.96.41.44:80 likewise, the TCP flags of one
connection).  The scenarios with traffic of their own reuse the Star Wars chapter's
builder (tools/reference/starwars.py) for the demo, the policies and the requests.

What the seed does not print is reconstructed and says so in its `seed` note: jsonpb
field values of flows (shapes from hubble-1.17-formats.md §1; trace-sock flows from
flow.proto `SocketTranslationPoint` and the printer's pre-/post-xlate names), the rest of
`hubble config view`, the agent's `cilium-dbg ip list -o json` (models.IPListEntry) and
which flows each `hubble observe` filter keeps (Hubble's filter semantics,
`hubble observe --help` of the CLI vendoring Cilium 1.17).
"""
from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any, Callable
from urllib.parse import urlsplit

from cilab.plugin import scenario_namespace
from cilab.probes import hubble_cli as cli, starwars, traffic
from cilab.transcript import call_key
from tools.reference import starwars as sw
from tools.reference.lab import *  # noqa: F401,F403
from tools.reference.lab import _cm_with, _replace, beyond_hubble

SEED = "seed lines 1223-1365, 1679-1807"
CTR = "k8s-ctr"
PF = sorted(HUBBLE + [cli.PORT_FORWARD_STAGE])
PF_PID = 10570  # seed 1285
COREDNS = {"coredns-674b8bbfcf-p8kth": "172.20.0.107", "coredns-674b8bbfcf-2sbw2": "172.20.0.51"}  # seed 1580-1592
COREDNS_ID, UI_ID, RELAY_ID = 5694, 7661, 11581  # seed 1317-1333
DNS_IP = "10.96.0.10"  # seed 1696
APISERVER = NODES["k8s-ctr"]["ip"]
RESERVED = {1: "host", 2: "world", 4: "health", 6: "remote-node", 7: "kube-apiserver"}

SCENARIOS = {  # key -> pytest test name
    "install": "test_the_hubble_cli_is_installed_in_usrlocalbin_on_k8sctr",
    "refused": "test_before_the_portforward_hubble_status_is_refused_on_1270014245",
    "loopback": "test_cilium_hubble_portforward_opens_4245_on_the_nodes_loopback_only",
    "config": "test_hubble_config_view_points_the_cli_at_localhost4245",
    "config-defaults": "test_hubble_config_view_shows_the_clis_5_s_timeout_and_tls_off",
    "status": "test_hubble_status_through_the_portforward_sees_every_node_and_their_flow_buffers",
    "plumbing": "test_hubble_observe_shows_the_labs_own_plumbing",
    "identities": "test_cilium_numbers_the_reserved_identities_host_1_world_2_remotenode_6_kubeapiserver_7",
    "translation": "test_socketlb_translates_a_service_address_inside_the_pods_connect",
    "tcp-flags": "test_the_flows_of_one_connection_carry_its_tcp_flags",
    "namespace": "test_hubble_observe_namespace_shows_only_flows_with_that_namespace_at_one_end",
    "replies": "test_hubble_observe_fromidentity_of_the_deathstar_shows_its_answers_as_replies",
}
NO_POLICY = "test_without_a_policy_hubble_observe_filter_keeps_what_it_selects"
L3L4 = "test_under_the_l3l4_rule1_hubble_observe_filter_tells_dropped_from_forwarded"
L7 = "test_under_the_l7_rule1_hubble_observe_filter_picks_http_flows"
#: (outline test, filter, shown, hidden, property) as in features/hubble_cli.feature
ROWS = [
    (NO_POLICY, "--pod {ns}/xwing", "the xwing's request", "the tiefighter's request", "has the xwing at one end"),
    (NO_POLICY, "--to-pod {ns}/deathstar", "the xwing's request", "the deathstar's replies", "ends at a deathstar pod"),
    (NO_POLICY, "--from-identity {xwing identity}", "the xwing's request", "the tiefighter's request",
     "comes from the xwing's identity"),
    (NO_POLICY, "--to-identity {deathstar identity}", "the tiefighter's request", "the deathstar's replies",
     "ends at the deathstar's identity"),
    (NO_POLICY, "--from-identity {xwing identity} --protocol udp", "the xwing's DNS lookups",
     "the xwing's request and the tiefighter's DNS lookups", "comes from the xwing's identity and is UDP"),
    (NO_POLICY, "--from-identity {xwing identity} --protocol tcp", "the xwing's request",
     "the xwing's DNS lookups and the tiefighter's request", "comes from the xwing's identity and is TCP"),
    (L3L4, "--type drop", "the xwing's request", "the tiefighter's request", "is DROPPED"),
    (L3L4, "--verdict FORWARDED --namespace {ns}", "the tiefighter's request", "the xwing's dropped packets",
     "is FORWARDED and has the scenario's namespace at one end"),
    (L7, "-t l7", "the tiefighter's POST", "the L3/L4 flows of the tiefighter's POST", "is an L7 flow"),
    (L7, "--http-method PUT", "the tiefighter's PUT", "the tiefighter's POST", "is an HTTP PUT"),
    (L7, "--http-path /v1/request-landing", "the tiefighter's POST", "the tiefighter's PUT",
     "has the path /v1/request-landing"),
]


def row_test(row: tuple[str, ...]) -> str:
    return f"{row[0]}[{'-'.join(row[1:])}]"


# --- shell outputs ---------------------------------------------------------------------------------

REFUSED = cmd("", 1, 'failed getting status: rpc error: code = Unavailable desc = connection error: desc = '
                     '"transport: Error while dialing: dial tcp 127.0.0.1:4245: connect: connection refused"\n')
PF_OUTPUT = "ℹ️  Hubble Relay is available at 127.0.0.1:4245\n"


def ss_4245(addresses: tuple[str, ...] = ("127.0.0.1:4245", "[::1]:4245")) -> str:
    peers = {"127.0.0.1:4245": "0.0.0.0:*", "[::1]:4245": "[::]:*"}
    return "".join(ss_line(a, "cilium", PF_PID, 7 + i, peers.get(a, "*:*")) + "\n" for i, a in enumerate(addresses))


def status_text(max_flows: str = "12,285", unavailable: tuple[str, ...] = (), *,
                flows: str = "11,282", fill: str = "91.84", rate: str = "35.22") -> str:
    """`hubble status` through the port-forward (seed 1296-1300); `unavailable` names nodes
    Relay does not reach, `flows`/`fill`/`rate` change Current Flows, its percentage and
    Flows/s (mutants; the list format of tools/reference/lab.py)."""
    text = ("Healthcheck (via localhost:4245): Ok\n"
            f"Current/Max Flows: {flows}/{max_flows} ({fill}%)\n"
            f"Flows/s: {rate}\n"
            f"Connected Nodes: {3 - len(unavailable)}/3\n")
    if unavailable:
        text += f"Unavailable Nodes: {len(unavailable)}\n" + "".join(f"  - {n}\n" for n in unavailable)
    return text


HUBBLE_VERSION = "1.17.5"  # HUBBLE_CLI_VERSION of provisioning/versions.env (the seed takes stable.txt)


def version_text(version: str = HUBBLE_VERSION) -> str:
    """reconstructed: `hubble version` (hubble cmd/version/version.go: "<name> <version>[@git]
    compiled with <go> on <os>/<arch>"); the seed never types it."""
    return f"hubble v{version} compiled with go1.24.4 on linux/amd64\n"


def help_status_text(default: str = "localhost:4245") -> str:
    """`hubble help status` (seed 1255-1256): the --server line as the seed prints it; the rest
    of the usage reconstructed (cobra's layout of hubble cmd/status)."""
    return ("Displays the status of a Hubble server\n\n"
            "Usage:\n  hubble status [flags]\n\n"
            "Flags:\n  -h, --help            help for status\n"
            "  -o, --output string   Specify the output format, one of:\n"
            "                         compact:  Compact output\n"
            "                         json:     JSON encoding\n"
            "                         table:    Tab-aligned columns\n (default \"compact\")\n\n"
            "Global Flags:\n"
            "      --config string   Optional config file (default \"/root/.config/hubble/config.yaml\")\n"
            "  -D, --debug           Enable debug messages\n\n"
            "Server Flags:\n"
            "      --server string                 Address of a Hubble server. Ignored when --input-file or "
            f"--port-forward is provided. (default \"{default}\")\n"
            "      --timeout duration              Hubble server dialing timeout (default 5s)\n"
            "      --tls                           Specify that TLS must be used when establishing a connection "
            "to a Hubble server.\n")


def config_text(server: str = "localhost:4245", timeout: str = "5s", tls: str = "false") -> str:
    """seed 1304-1307 `server: localhost:4245` `tls: false` (server, port-forward-port, timeout, tls); the other keys: reconstructed
    (hubble cmd/config view.go prints every setting as YAML, sorted)."""
    return ("basic-auth-password: \"\"\nbasic-auth-username: \"\"\nconfig: /root/.config/hubble/config.yaml\n"
            "debug: false\nkube-context: \"\"\nkube-namespace: kube-system\nkubeconfig: \"\"\n"
            "port-forward: false\nport-forward-port: \"4245\"\nrequest-timeout: 12s\n"
            f"server: {server}\ntimeout: {timeout}\ntls: {tls}\ntls-allow-insecure: false\n"
            "tls-ca-cert-files: []\ntls-client-cert-file: \"\"\ntls-client-key-file: \"\"\ntls-server-name: \"\"\n")


# --- flows ---------------------------------------------------------------------------------------------


def _reserved(ident: int) -> dict[str, Any]:
    labels = [f"reserved:{RESERVED[ident]}"]
    if ident == 7:
        labels.append("reserved:remote-node")
    return {"identity": ident, "labels": labels}


def _line(flow: dict[str, Any]) -> str:
    return json.dumps({"flow": flow, "node_name": flow["node_name"], "time": flow["time"]}, separators=(",", ":"))


def _flow(t: str, node: str, src_ip: str, dst_ip: str, src: dict[str, Any], dst: dict[str, Any], *,
          l4: dict[str, Any], verdict: str = "FORWARDED", point: str = "TO_ENDPOINT", sub_type: int = 0,
          reply: bool | None = None, summary: str, uid: str, **extra: Any) -> dict[str, Any]:
    ip: dict[str, Any] = {"ipVersion": "IPv4"}
    if src_ip:
        ip["source"] = src_ip
    ip["destination"] = dst_ip
    flow: dict[str, Any] = {"time": t, "uuid": uid, "verdict": verdict, "IP": ip, "l4": l4,
                            "source": src, "destination": dst, "Type": "L3_L4", "node_name": node,
                            "event_type": {"type": 4, "sub_type": sub_type}, "trace_observation_point": point,
                            "Summary": summary}
    if reply is not None:
        flow["is_reply"] = reply
    flow.update(extra)
    return flow


def _tcp(sport: int, dport: int, *flags: str) -> dict[str, Any]:
    return {"TCP": {"source_port": sport, "destination_port": dport, "flags": {f: True for f in flags}}}


def plumbing_flows(*, w1_identity: int = 6, skip: str | None = None, apiserver_identity: int = 7,
                   probe_identity: int = 1) -> list[str]:
    """seed 1312-1339 as jsonpb: Relay (k8s-w2) reading 4244 of every node, the UI calling Relay on
    4245 and the API server on 6443, the host probing each CoreDNS pod on 8080 (seed 1332-1334 shows
    the probe of coredns-674b8bbfcf-p8kth; the other pod's, times, uuids, ports of the k8s-ctr peer:
    reconstructed).  `skip` leaves out Relay's flow with that node's 4244, `probe_identity` labels
    the source of coredns-674b8bbfcf-2sbw2's probe otherwise (mutants)."""
    relay = {"ID": 93, "identity": RELAY_ID, "namespace": KS, "pod_name": RELAY_POD,
             "labels": ["k8s:k8s-app=hubble-relay"], "workloads": [{"name": "hubble-relay", "kind": "Deployment"}]}
    relay_remote = {k: v for k, v in relay.items() if k != "ID"}
    ui = {"ID": 1782, "identity": UI_ID, "namespace": KS, "pod_name": UI_POD,
          "labels": ["k8s:k8s-app=hubble-ui"], "workloads": [{"name": "hubble-ui", "kind": "Deployment"}]}
    ui_remote = {k: v for k, v in ui.items() if k != "ID"}
    coredns = {"ID": 1174, "identity": COREDNS_ID, "namespace": KS, "pod_name": "coredns-674b8bbfcf-p8kth",
               "labels": ["k8s:k8s-app=kube-dns"]}
    t = "2025-07-25T17:13:13.125"
    lines = []
    for i, (node, sport, ident) in enumerate((("k8s-w1", 42624, w1_identity), ("k8s-w2", 37400, 1),
                                              ("k8s-ctr", 51834, 7))):
        if node == skip:
            continue
        lines.append(_flow(f"{t}{i}11223Z", "k8s-w2", NODES[node]["ip"], RELAY_IP, _reserved(ident), relay,
                           l4=_tcp(4244, sport, "ACK", "PSH"), reply=True, summary="TCP Flags: ACK, PSH",
                           uid=sw._flow_uuid("plumbing", node)))
    lines.append(_flow(f"{t}412345Z", "k8s-w2", UI_IP, RELAY_IP, ui_remote, relay, l4=_tcp(55468, 4245, "ACK", "PSH"),
                       reply=False, summary="TCP Flags: ACK, PSH", uid=sw._flow_uuid("plumbing", "ui")))
    lines.append(_flow("2025-07-25T17:13:17.280123456Z", "k8s-w1", UI_IP, APISERVER, ui, _reserved(apiserver_identity),
                       l4=_tcp(47432, 6443, "ACK"), point="TO_NETWORK", sub_type=11, reply=False,
                       summary="TCP Flags: ACK", uid=sw._flow_uuid("plumbing", "apiserver")))
    lines.append(_flow("2025-07-25T17:13:17.649123456Z", "k8s-ctr", "10.0.2.15", COREDNS["coredns-674b8bbfcf-p8kth"],
                       _reserved(1), coredns, l4=_tcp(55892, 8080, "ACK"), reply=False,
                       summary="TCP Flags: ACK", uid=sw._flow_uuid("plumbing", "coredns")))
    lines.append(_flow("2025-07-25T17:13:17.651123456Z", "k8s-ctr", "10.0.2.15", COREDNS["coredns-674b8bbfcf-2sbw2"],
                       _reserved(probe_identity), _coredns_ep("coredns-674b8bbfcf-2sbw2", "k8s-ctr"),
                       l4=_tcp(55906, 8080, "SYN"), reply=False, summary="TCP Flags: SYN",
                       uid=sw._flow_uuid("plumbing", "coredns-2sbw2")))
    lines.append(_flow("2025-07-25T17:13:18.001123456Z", "k8s-w2", RELAY_IP, UI_IP, relay, ui_remote,
                       l4=_tcp(4245, 55468, "ACK", "PSH"), point="TO_NETWORK", sub_type=11, reply=True,
                       summary="TCP Flags: ACK, PSH", uid=sw._flow_uuid("plumbing", "ui-reply")))
    return [_line(json.loads(json.dumps(f))) for f in lines]


def _pod_ep(ns: str, name: str, node: str) -> dict[str, Any]:
    return sw._ep(ns, name, node)


def _coredns_ep(name: str, node: str) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": 1174 if name.endswith("p8kth") else 2609} if node == "k8s-ctr" else {}
    out.update({"identity": COREDNS_ID, "namespace": KS, "labels": ["k8s:k8s-app=kube-dns"], "pod_name": name,
                "workloads": [{"name": "coredns", "kind": "Deployment"}]})
    return out


class Traffic:
    """Every flow the lab reports for one scenario's requests (in its own namespace), as dicts."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.flows: list[dict[str, Any]] = []
        self.n = 0
        #: socket-LB's reverse events (a mutant lab without them sets this False)
        self.reverse = True
        #: a mutant: the agents stamp each traced packet at the other node's point
        self.points_swapped = False
        #: is_reply of the deathstar's packets (a mutant sets False: `->` instead of `<-`)
        self.reply = True

    def _t(self) -> str:
        self.n += 1
        return f"2025-07-25T17:44:03.{781000000 + self.n * 137:09d}Z"

    def start(self) -> str:
        """The client's clock on a request's start line: just before the request's flows."""
        return self._t()

    def _add(self, flow: dict[str, Any]) -> None:
        self.flows.append(flow)

    def sock(self, client: str, svc_ip: str, port: int, proto: str, backend_ip: str, backend: dict[str, Any],
             cookie: str, *, post_to: str | None = None) -> None:
        """seed 1696-1697 / 1720-1721: pre-xlate-fwd TRACED to the Service address (world), then
        post-xlate-fwd TRANSLATED to a backend, both of one socket (trace-sock: flow.proto)."""
        node = sw.PODS[client][0]
        src = _pod_ep(self.ns, client, node)
        l4 = {proto: {"destination_port": port}}
        for point, verdict, dst_ip, dst in (("SOCK_XLATE_POINT_PRE_DIRECTION_FWD", "TRACED", svc_ip, _reserved(2)),
                                            ("SOCK_XLATE_POINT_POST_DIRECTION_FWD", "TRANSLATED",
                                             post_to or backend_ip, backend)):
            self._add({"time": self._t(), "uuid": sw._flow_uuid(self.ns, cookie, point), "verdict": verdict,
                       "IP": {"destination": dst_ip, "ipVersion": "IPv4"}, "l4": l4, "source": src,
                       "destination": dst, "Type": "SOCK", "node_name": node, "event_type": {"type": 7},
                       "sock_xlate_point": point, "socket_cookie": cookie, "Summary": proto})

    def rev(self, peer: dict[str, Any], peer_ip: str, peer_port: int | None, owner: dict[str, Any], owner_ip: str,
            node: str, proto: str, cookie: str) -> None:
        """seed 1701-1702 / 1729-1733 / 1787: pre-xlate-rev TRACED, socket-LB's reverse hook on a socket
        that asks for its peer's address: the peer at its address (and port), the socket's own pod
        without a port (cilium pkg/hubble/parser/sock swaps the ends on the reverse path)."""
        l4 = {proto: {"source_port": peer_port} if peer_port else {}}
        self._add({"time": self._t(), "uuid": sw._flow_uuid(self.ns, cookie, "rev", peer_port), "verdict": "TRACED",
                   "IP": {"source": peer_ip, "destination": owner_ip, "ipVersion": "IPv4"}, "l4": l4,
                   "source": peer, "destination": owner, "Type": "SOCK", "node_name": node,
                   "event_type": {"type": 7, "sub_type": 2}, "sock_xlate_point": "SOCK_XLATE_POINT_PRE_DIRECTION_REV",
                   "socket_cookie": cookie, "Summary": proto})

    def dns(self, client: str, sport: int, coredns: str = "coredns-674b8bbfcf-2sbw2") -> None:
        """seed 1696-1701: the lookup of the deathstar's name, translated and forwarded (UDP)."""
        node = sw.PODS[client][0]
        cip = sw.PODS[client][1]
        self.sock(client, DNS_IP, 53, "UDP", COREDNS[coredns], _coredns_ep(coredns, "k8s-ctr"), f"{4100 + sport}")
        src = _pod_ep(self.ns, client, node)
        for obs, point, sub in ((node, "TO_NETWORK", 11), ("k8s-ctr", "TO_ENDPOINT", 0)):
            self._add(_flow(self._t(), obs, cip, COREDNS[coredns], src if obs == node else _pod_ep(self.ns, client, obs),
                            _coredns_ep(coredns, obs), l4={"UDP": {"source_port": sport, "destination_port": 53}},
                            point=point, sub_type=sub, reply=False, summary="UDP",
                            uid=sw._flow_uuid(self.ns, client, sport, "dns", point)))
        if self.reverse:  # CoreDNS reads the query with its sender's address (seed 1701-1702)
            self.rev(_pod_ep(self.ns, client, "k8s-ctr"), cip, sport, _coredns_ep(coredns, "k8s-ctr"), COREDNS[coredns],
                     "k8s-ctr", "UDP", f"{6100 + sport}")
        self._add(_flow(self._t(), node, COREDNS[coredns], cip, _coredns_ep(coredns, node), src,
                        l4={"UDP": {"source_port": 53, "destination_port": sport}}, reply=True, summary="UDP",
                        uid=sw._flow_uuid(self.ns, client, sport, "dns-reply")))

    def connection(self, req: traffic.Request, *, dropped: bool = False, deathstar: str = "deathstar-8c4c77fb7-nnzkt",
                   skip: tuple[str, ...] = ()) -> None:
        """One curl to the deathstar Service (seed 1721-1737, 1785-1806): socket-LB translation, then
        the TCP exchange with its flags at both nodes; under rule1 the xwing's SYNs are dropped
        (seed 1923-1924: exit 28) instead (drop flow shape: tools/reference/starwars.py)."""
        client, port = req.pod, req.local_port
        cnode, cip = sw.PODS[client][0], sw.PODS[client][1]
        dnode, dip = sw.PODS[deathstar][0], sw.PODS[deathstar][1]
        self.dns(client, 30000 + port % 20000)
        self.sock(client, sw.DEATHSTAR_SVC_IP, 80, "TCP", dip, _pod_ep(self.ns, deathstar, cnode), f"{9100 + port}")
        if dropped:  # the SYN leaves the xwing's node (k8s-w1), and is dropped at the deathstar's (k8s-w2)
            self._add(_flow(self._t(), cnode, cip, dip, _pod_ep(self.ns, client, cnode), _pod_ep(self.ns, deathstar, cnode),
                            l4=_tcp(port, 80, "SYN"), point="TO_NETWORK", sub_type=11, reply=False,
                            summary="TCP Flags: SYN", uid=sw._flow_uuid(self.ns, port, "syn-out")))
            for line in sw.drop_flows(self.ns, port):
                self._add(json.loads(line)["flow"])
            return
        fwd = [("SYN",), ("ACK",), ("ACK", "PSH"), ("ACK", "FIN"), ("ACK",)]
        back = [("SYN", "ACK"), ("ACK", "PSH"), ("ACK", "FIN")]
        to_net, to_ep = (dnode, cnode) if self.points_swapped else (cnode, dnode)
        for flags in fwd:
            for obs, point, sub in ((to_net, "TO_NETWORK", 11), (to_ep, "TO_ENDPOINT", 0)):
                if ", ".join(flags) in skip:
                    continue
                self._add(_flow(self._t(), obs, cip, dip, _pod_ep(self.ns, client, obs), _pod_ep(self.ns, deathstar, obs),
                                l4=_tcp(port, 80, *flags), point=point, sub_type=sub, reply=False,
                                summary="TCP Flags: " + ", ".join(flags),
                                uid=sw._flow_uuid(self.ns, port, flags, point)))
        for flags in back:
            for obs, point, sub in ((to_ep, "TO_NETWORK", 11), (to_net, "TO_ENDPOINT", 0)):
                if ", ".join(flags) in skip:
                    continue
                self._add(_flow(self._t(), obs, dip, cip, _pod_ep(self.ns, deathstar, obs), _pod_ep(self.ns, client, obs),
                                l4=_tcp(80, port, *flags), point=point, sub_type=sub, reply=self.reply,
                                summary="TCP Flags: " + ", ".join(flags),
                                uid=sw._flow_uuid(self.ns, port, "reply", flags, point)))
        if self.reverse:  # after the handshake
            # curl asks for its peer (seed 1787: deathstar:80 <> xwing), the deathstar accepts the
            # connection with the xwing's address and port (seed 1729-1733: xwing:43318 <> deathstar)
            self.rev(_pod_ep(self.ns, deathstar, cnode), dip, 80, _pod_ep(self.ns, client, cnode), cip, cnode, "TCP",
                     f"{9100 + port}")
            self.rev(_pod_ep(self.ns, client, dnode), cip, port, _pod_ep(self.ns, deathstar, dnode), dip, dnode, "TCP",
                     f"{7100 + port}")

    def http(self, req: traffic.Request, method: str, path: str, *, denied: bool = False) -> None:
        """The L7 flows of one request at the deathstar's proxy (tools/reference/starwars.py, seed 2197-2208)."""
        kw: dict[str, Any] = ({"request_verdict": "DROPPED", "code": 403, "latency_ns": "0"} if denied else {})
        for line in sw.http_flows(self.ns, req.local_port, method, path, **kw):
            self._add(json.loads(line)["flow"])

    def lines(self, keep: Callable[[dict[str, Any]], bool] = lambda f: True) -> str:
        return "".join(_line(f) + "\n" for f in self.flows if keep(f))


# --- Hubble's filters, as the server applies them (reconstructed: hubble observe --help) ------------


def _pod_match(ep: dict[str, Any], spec: str) -> bool:
    ns, _, prefix = spec.partition("/")
    return ep.get("namespace") == ns and str(ep.get("pod_name", "")).startswith(prefix)


def _l4(f: dict[str, Any]) -> str | None:
    return next((k for k in ("TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6") if k in f.get("l4", {})), None)


def keep(args: list[str]) -> Callable[[dict[str, Any]], bool]:
    """The flows `hubble observe ARGS` returns (every filter given must match)."""
    tests: list[Callable[[dict[str, Any]], bool]] = []
    it = iter(args)
    for flag in it:
        val = next(it)
        src = lambda f: f.get("source", {})  # noqa: E731
        dst = lambda f: f.get("destination", {})  # noqa: E731
        if flag in ("--namespace", "-n"):
            tests.append(lambda f, v=val: v in (src(f).get("namespace"), dst(f).get("namespace")))
        elif flag == "--pod":
            tests.append(lambda f, v=val: _pod_match(src(f), v) or _pod_match(dst(f), v))
        elif flag == "--from-pod":
            tests.append(lambda f, v=val: _pod_match(src(f), v))
        elif flag == "--to-pod":
            tests.append(lambda f, v=val: _pod_match(dst(f), v))
        elif flag == "--from-identity":
            tests.append(lambda f, v=val: src(f).get("identity") == int(v))
        elif flag == "--to-identity":
            tests.append(lambda f, v=val: dst(f).get("identity") == int(v))
        elif flag == "--protocol":
            tests.append(lambda f, v=val: (_l4(f) or "").lower() == v)
        elif flag in ("--type", "-t"):
            code = {"drop": 1, "l7": 129, "trace": 4, "trace-sock": 7}[val]
            tests.append(lambda f, c=code: f.get("event_type", {}).get("type") == c)
        elif flag == "--verdict":
            tests.append(lambda f, v=val: f.get("verdict") == v)
        elif flag == "--http-method":
            tests.append(lambda f, v=val: f.get("l7", {}).get("http", {}).get("method", "").upper() == v.upper())
        elif flag == "--http-path":
            tests.append(lambda f, v=val: re.search(v, urlsplit(f.get("l7", {}).get("http", {}).get("url", "")).path)
                         is not None if f.get("l7", {}).get("http") else False)
        else:
            raise SystemExit(f"reference: no filter semantics for {flag}")
    return lambda f: all(t(f) for t in tests)


# --- scenarios ----------------------------------------------------------------------------------------


class CliScenario(sw.Scenario):
    """A Star Wars scenario of this chapter: the demo's calls from the Star Wars builder, and the
    lab state gaining `hubble-port-forward` while the port-forward runs."""

    def __init__(self, key: str, test: str) -> None:  # noqa: D107 (the Star Wars builder, another test name)
        self.key, self.test = key, test
        self.ns = scenario_namespace(test)
        self.labels: dict[str, str] = {}
        self.policy_kind: str | None = None
        self.calls: list[dict[str, Any]] = []
        self.stages = list(HUBBLE)
        traffic.reset_counters()
        self._lab = SimpleNamespace(info={"run_id": "reference"})
        self.traffic = Traffic(self.ns)
        self.requests: dict[str, traffic.Request] = {}
        self.started: dict[str, str] = {}

    @property
    def state(self) -> list[str]:
        return sorted(set(self.stages) | {f"{self.ns}:{label}" for label in self.labels.values()})

    def port_forward(self, on: bool) -> None:
        self.stages = PF if on else list(HUBBLE)

    def request(self, ship: str, method: str, path: str, outcome: tuple[Any, ...], seed: str,
                started: str | None = None) -> traffic.Request:
        """A Star Wars request whose start line comes just before its flows in this scenario."""
        return super().request(ship, method, path, outcome, seed, started=started or self.traffic.start())

    def observe(self, args: list[str], results: list[dict[str, Any]], seed: str) -> None:  # type: ignore[override]
        self.add("node_shell", seed, results, node=CTR, command=cli.observe_command(*args))

    def identities(self) -> None:
        self.add("k8s_list", "seed 1562-1565 `15933` `7207` (CiliumEndpoints: deathstar 15933, tiefighter 9225, xwing 7207)",
                 [value([sw.cep_obj(self.ns, n) for n in sw.PODS])], api_version="cilium.io/v2",
                 kind="CiliumEndpoint", namespace=self.ns)


def resolve(ns: str, text: str) -> list[str]:
    ids = {"{xwing identity}": str(sw.PODS["xwing"][3]), "{deathstar identity}": str(sw.PODS["deathstar-8c4c77fb7-nnzkt"][3])}
    text = text.replace("{ns}", ns)
    for k, v in ids.items():
        text = text.replace(k, v)
    return text.split()


#: the seed types the landing request with no policy (xwing at 1686, tiefighter at 1690) but prints no answer
#: there: its "Ship landed" is the one the seed prints for tiefighter under rule1 (seed 1935)
LANDED_SEED = ("seed {line} `request-landing` ({ship} requests a landing with no policy); "
               "the answer Ship landed: reconstructed, as the seed prints it at 1935")
LANDED_LINE = {"xwing": 1686, "tiefighter": 1690}


def landed_seed(ship: str) -> str:
    return LANDED_SEED.format(line=LANDED_LINE[ship], ship=ship)


#: the Star Wars flows: the deathstar's (seed 1722-1807), or only xwing's DNS lookups (seed 1697-1720)
FILTER_SEED = ("seed {values} (the Star Wars flows, in this namespace) as jsonpb; which flows `hubble observe {args}` "
               "keeps: reconstructed (Hubble's filter semantics, hubble observe --help)")


def filter_seed(args: list[str], shown: str) -> str:
    values = ("1722-1807 `deathstar` `deathstar`" if "deathstar" in shown
              else "1697-1720 `xwing` `xwing`")
    return FILTER_SEED.format(values=values, args=" ".join(args))


def _ships_land(s: CliScenario, policy: str | None) -> None:
    for ship in ("tiefighter", "xwing"):
        result = sw.TIMED_OUT if (policy and ship == "xwing") else sw.LANDED
        seed = ("seed 1924 `28` (xwing under rule1: exit code 28)" if result is sw.TIMED_OUT
                else landed_seed(ship))
        req = s.request(ship, *starwars.LANDING, result, seed)
        s.requests[ship] = req
        s.traffic.connection(req, dropped=result is sw.TIMED_OUT)


def _l7_requests(s: CliScenario) -> None:
    for (method, path), result, seed in ((starwars.LANDING, sw.LANDED, "seed 2163 `Ship landed` (Ship landed under the L7 rule1)"),
                                         (starwars.EXHAUST_PORT, sw.DENIED,
                                          "facts §1 (the L7 rule denies PUT /v1/exhaust-port: Envoy's 403)")):
        req = s.request("tiefighter", method, path, result, seed)
        s.requests[f"tiefighter {method}"] = req
        s.traffic.connection(req)
        s.traffic.http(req, method, path, denied=method == "PUT")


def begin(key: str, test: str, policy: str | None = None) -> CliScenario:
    s = CliScenario(key, test)
    s.namespace_created()
    s.demo_deployed()
    if policy is not None:
        s.policy_applied("l3l4")
        if policy == "l7":
            s.policy_applied("l7")
    s.port_forward(True)
    return s


def end(s: CliScenario) -> CliScenario:
    s.port_forward(False)
    s.namespace_deleted()
    return s


def filter_scenario(row: tuple[str, ...], *, leak: bool = False, ignore: str | None = None) -> CliScenario:
    test, flt = row[0], row[1]
    policy = {NO_POLICY: None, L3L4: "l3l4", L7: "l7"}[test]
    s = begin(test, row_test(row), policy)
    if policy == "l7":
        _l7_requests(s)
    else:
        _ships_land(s, policy)
    args = resolve(s.ns, flt)
    if "identity" in flt:
        s.identities()
    # a mutant Hubble leaks the hidden selection, or ignores one flag of the command
    kept = keep([a for i, a in enumerate(args) if ignore is None or (a != ignore and args[i - 1] != ignore)]
                if ignore else args)
    hidden = hidden_of(row[3])
    shown = s.traffic.lines(lambda f: kept(f) or (leak and hidden(s, f)))
    if ignore is not None or not any(a in ("--namespace", "--pod", "--to-pod", "--from-pod") or "identity" in a
                                     for a in args):
        shown += "".join(line + "\n" for line in foreign(args, kept))  # the rest of the cluster, kept by the filter
    mutated = leak or ignore is not None
    s.observe(args, [cmd(""), cmd(shown)] if not mutated else [cmd(shown)],
              filter_seed(args, shown) + ("; nothing yet on the first look: reconstructed 'not yet'"
                                                         if not mutated else ""))
    if args != ["--namespace", s.ns]:
        s.observe(["--namespace", s.ns], [cmd(s.traffic.lines(keep(["--namespace", s.ns])))],
                  filter_seed(["--namespace", s.ns], "deathstar"))
    return end(s)


OTHER_NS = "cilab-another-scenario-0a1b2c"


def foreign(args: list[str], kept: Callable[[dict[str, Any]], bool] | None = None) -> list[str]:
    """Flows of another namespace that a cluster-wide filter (`--type drop`, `-t l7`) also returns:
    a healthy lab prints more than this scenario's own flows (reconstructed); `kept`: the
    filter a mutant Hubble applies instead, which lets the lab's plumbing through too."""
    other = sw.drop_flows(OTHER_NS, 41234, when="2025-07-25T18:05:1")[:1] + sw.http_flows(OTHER_NS, 41235, *starwars.LANDING)
    if kept is not None:
        other += plumbing_flows()
    kept = kept or keep(args)
    return [line for line in other if kept(json.loads(line)["flow"])]


def _of_port(s: CliScenario, key: str) -> Callable[[dict[str, Any]], bool]:
    port = s.requests[key].local_port
    return lambda f: any(f.get("l4", {}).get(p, {}).get(k) == port for p in ("TCP", "UDP") for k in
                         ("source_port", "destination_port"))


#: flows of the hidden selection of each row (for the mutants that leak them through the filter)
HIDDEN: dict[str, Callable[[CliScenario, dict[str, Any]], bool]] = {
    "the tiefighter's request": lambda s, f: _of_port(s, "tiefighter")(f),
    "the xwing's request": lambda s, f: _of_port(s, "xwing")(f),
    "the xwing's dropped packets": lambda s, f: _of_port(s, "xwing")(f) and f.get("verdict") == "DROPPED",
    "the deathstar's replies": lambda s, f: str(f["source"].get("pod_name", "")).startswith("deathstar")
    and f["source"].get("namespace") == s.ns,
    "the xwing's DNS lookups": lambda s, f: f["source"].get("pod_name") == "xwing" and "UDP" in f.get("l4", {}),
    "the tiefighter's DNS lookups": lambda s, f: f["source"].get("pod_name") == "tiefighter" and "UDP" in f.get("l4", {}),
    "the L3/L4 flows of the tiefighter's POST": lambda s, f: _of_port(s, "tiefighter POST")(f) and f["Type"] != "L7",
    "the tiefighter's POST": lambda s, f: _of_port(s, "tiefighter POST")(f),
    "the tiefighter's PUT": lambda s, f: _of_port(s, "tiefighter PUT")(f),
}


def hidden_of(text: str) -> Callable[[CliScenario, dict[str, Any]], bool]:
    """The flows of a hidden cell: one selection or several joined by " and "."""
    parts = [HIDDEN[t] for t in text.split(" and ")] if text not in HIDDEN else [HIDDEN[text]]
    return lambda s, f: any(p(s, f) for p in parts)


def translation_scenario(*, post_to: str | None = None, reverse: bool = True,
                         post_before_pre: bool = False) -> CliScenario:
    """`reverse=False`: the mutant lab whose socket-LB reports no reverse (pre-xlate-rev) events;
    `post_before_pre`: the one whose deathstar post-xlate-fwd is stamped before its pre-xlate-fwd."""
    s = begin("translation", SCENARIOS["translation"])
    req = s.request("xwing", *starwars.LANDING, sw.LANDED, landed_seed("xwing"))
    s.requests["xwing"] = req
    s.traffic.reverse = reverse
    s.traffic.connection(req)
    if post_to is not None:  # the mutant: the lookup "translated" to an address that is no backend
        s.traffic.flows = [f for f in s.traffic.flows if not (f.get("sock_xlate_point", "").startswith(
            "SOCK_XLATE_POINT_POST") and f["destination"].get("namespace") == KS)]
        s.traffic.sock("xwing", DNS_IP, 53, "UDP", post_to, _reserved(2), "5555")
    if post_before_pre:  # the mutant: the two events of the deathstar connect() in the wrong order
        pre = next(f for f in s.traffic.flows if f.get("sock_xlate_point") == "SOCK_XLATE_POINT_PRE_DIRECTION_FWD"
                   and "TCP" in f["l4"])
        post = next(f for f in s.traffic.flows if f.get("sock_xlate_point") == "SOCK_XLATE_POINT_POST_DIRECTION_FWD"
                    and f.get("socket_cookie") == pre["socket_cookie"])
        head, frac = pre["time"].rstrip("Z").split(".")
        post["time"] = f"{head}.{int(frac) - 1_000_000:09d}Z"   # one millisecond before its pre-xlate-fwd
    args = resolve(s.ns, "--from-identity {xwing identity}")
    s.identities()
    s.observe(args, [cmd(s.traffic.lines(keep(args)))],
              "seed 1697-1722 `10.96.0.10` `deathstar-8c4c77fb7-nnzkt` (xwing <> 10.96.0.10:53 (world) pre-xlate-fwd TRACED, coredns post-xlate-fwd "
              "TRANSLATED; 10.96.41.44:80 (world) pre-xlate-fwd TRACED, deathstar post-xlate-fwd TRANSLATED) as jsonpb, "
              "1729-1733 `deathstar-8c4c77fb7-nnzkt` (xwing:port <> deathstar pre-xlate-rev TRACED); "
              "trace-sock fields (sock_xlate_point, socket_cookie, no source port; on the reverse path the peer as "
              "source): reconstructed from flow.proto and cilium pkg/hubble/parser/sock")
    s.add("k8s_get", "seed 1554 `10.96.41.44` (service/deathstar ClusterIP 10.96.41.44 80/TCP)", [value(sw.service_obj_ns(s.ns))],
          api_version="v1", kind="Service", name="deathstar", namespace=s.ns)
    s.add("k8s_list", "seed 1555 `172.20.1.167` (endpoints/deathstar 172.20.1.167:80,172.20.2.219:80)",
          [value([sw.endpointslice_obj(s.ns, ["deathstar-8c4c77fb7-m8q2b", "deathstar-8c4c77fb7-nnzkt"])])],
          api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=s.ns,
          label_selector="kubernetes.io/service-name=deathstar")
    return end(s)


def tcp_flags_scenario(*, skip: tuple[str, ...] = (), earlier: bool = False, ignore: str | None = None,
                       swapped: bool = False) -> CliScenario:
    """`earlier`: the mutant whose connection flows all come 5 s before the xwing's start line
    (an earlier run's connection from the same pinned port); `ignore`: the mutant Hubble that
    ignores that flag of `--pod {ns}/xwing --protocol tcp` (returning the xwing's UDP lookups,
    or the TCP flows of the rest of the cluster); `swapped`: the mutant whose agents report
    each packet to-network on the receiver's node and to-endpoint on the sender's."""
    s = begin("tcp-flags", SCENARIOS["tcp-flags"])
    req = s.request("xwing", *starwars.LANDING, sw.LANDED, landed_seed("xwing"))
    s.requests["xwing"] = req
    s.traffic.points_swapped = swapped
    s.traffic.connection(req, skip=skip)
    if earlier:
        for f in s.traffic.flows:
            f["time"] = f["time"].replace("T17:44:03.", "T17:43:58.")
    args = resolve(s.ns, "--pod {ns}/xwing --protocol tcp")
    kept = keep(args if ignore is None else [a for i, a in enumerate(args) if a != ignore and args[i - 1] != ignore])
    shown = s.traffic.lines(kept)
    if ignore is not None:
        shown += "".join(line + "\n" for line in foreign(args, kept))
    s.observe(args, [cmd(shown)],
              "seed 1785-1792 `deathstar-8c4c77fb7-nnzkt` `deathstar-8c4c77fb7-nnzkt` (TCP Flags: SYN / SYN, ACK / ACK / ACK, PSH / ACK, FIN; the same sequence at seed 1723-1737) as jsonpb")
    return end(s)


def replies_scenario(*, reply: bool = True) -> CliScenario:
    """`hubble observe --protocol tcp --from-identity $DEATHSTARID` after the xwing's landing (seed
    1784-1792); `reply=False`: the mutant whose deathstar packets carry is_reply false (`->`)."""
    s = begin("replies", SCENARIOS["replies"])
    req = s.request("xwing", *starwars.LANDING, sw.LANDED, landed_seed("xwing"))
    s.requests["xwing"] = req
    s.traffic.reply = reply
    s.traffic.connection(req)
    s.identities()
    args = resolve(s.ns, "--protocol tcp --from-identity {deathstar identity}")
    s.observe(args, [cmd(s.traffic.lines(keep(args)))],
              "seed 1785-1792 `deathstar-8c4c77fb7-nnzkt` `deathstar-8c4c77fb7-nnzkt` (xwing <- deathstar:80 to-endpoint / "
              "to-network FORWARDED: SYN, ACK / ACK, PSH / ACK, FIN; deathstar:80 <> xwing pre-xlate-rev TRACED) as jsonpb")
    return end(s)


def namespace_scenario(*, foreign: bool = False) -> CliScenario:
    s = begin("namespace", SCENARIOS["namespace"])
    _ships_land(s, None)
    args = ["--namespace", s.ns]
    out = s.traffic.lines(keep(args))
    if foreign:
        out += plumbing_flows()[0] + "\n"
    s.observe(args, [cmd(out)], filter_seed(args, out))
    return end(s)


def kube_dns_calls() -> list[dict[str, Any]]:
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "kube-dns", "namespace": KS, "labels": {"k8s-app": "kube-dns"}},
           "spec": {"type": "ClusterIP", "clusterIP": DNS_IP, "clusterIPs": [DNS_IP],
                    "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                              {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                              {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}],
                    "selector": {"k8s-app": "kube-dns"}}}
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "kube-dns-x2k9d", "namespace": KS, "labels": {"kubernetes.io/service-name": "kube-dns"}},
           "addressType": "IPv4",
           "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                     {"name": "metrics", "port": 9153, "protocol": "TCP"}],
           "endpoints": [{"addresses": [ip], "nodeName": "k8s-ctr", "conditions": {"ready": True},
                          "targetRef": {"kind": "Pod", "name": name, "namespace": KS}} for name, ip in COREDNS.items()]}
    return [call("k8s_get", "seed 1697 `10.96.0.10` (kube-dns ClusterIP 10.96.0.10:53)", [value(svc)], PF,
                 api_version="v1", kind="Service", name="kube-dns", namespace=KS),
            call("k8s_list", "seed 1698-1707 `coredns-674b8bbfcf-2sbw2` `coredns-674b8bbfcf-p8kth` (coredns pods 172.20.0.107, 172.20.0.51 behind kube-dns)",
                 [value([eps])], PF, api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=KS,
                 label_selector="kubernetes.io/service-name=kube-dns")]


def ip_list(*, health: bool = False, without: str | None = None) -> str:
    """`cilium-dbg ip list -o json` on k8s-w1 (seed 1414-1418 names the reserved identities; the entries,
    reconstructed from the lab's addresses: models.IPListEntry)."""
    rows = [("0.0.0.0/0", 2, "custom-resource"), (f"{APISERVER}/32", 7, "kube-apiserver"),
            ("192.168.10.101/32", 1, "local"), ("192.168.10.102/32", 6, "custom-resource"),
            ("10.0.2.15/32", 1, "local"), ("172.20.0.51/32", COREDNS_ID, "k8s"), ("172.20.0.107/32", COREDNS_ID, "k8s"),
            ("172.20.1.129/32", UI_ID, "k8s"), ("172.20.2.176/32", RELAY_ID, "k8s")]
    if health:
        rows.append(("172.20.1.53/32", 4, "local"))
    rows = [r for r in rows if r[0] != without]   # a mutant: one node's address missing
    return json.dumps([{"cidr": c, "identity": i, "metadata": {"source": src}} for c, i, src in rows], indent=2) + "\n"


def apiserver_slice(state: list[str]) -> dict[str, Any]:
    obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
           "addressType": "IPv4", "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
           "endpoints": [{"addresses": [APISERVER], "conditions": {"ready": True}}]}
    return call("k8s_list", "seed 1329 `192.168.10.100` (the API server 192.168.10.100:6443)", [value([obj])], state,
                api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace="default",
                label_selector="kubernetes.io/service-name=kubernetes")


def shared_calls(*, overrides: dict[tuple[str, str], list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    """The calls outside any scenario namespace (states [hubble] and [hubble, hubble-port-forward])."""
    o = overrides or {}

    def sh(state: list[str], command: str, results: list[dict[str, Any]], seed: str) -> dict[str, Any]:
        return call("node_shell", seed, o.get((",".join(state), command), results), state, node=CTR, command=command)
    relay_pods = [pod_obj(RELAY_POD, RELAY_NODE, RELAY_IP, {"k8s-app": "hubble-relay"})]
    ui_pods = [pod_obj(UI_POD, UI_NODE, UI_IP, {"k8s-app": "hubble-ui"})]
    out = [
        call("k8s_list", "seed 601-603 `192.168.10.100` `192.168.10.102` (kubectl get node: 3 nodes, k8s-ctr the control plane)",
             [value([node_obj(n) for n in NODES])], HUBBLE, api_version="v1", kind="Node"),
        call("k8s_list", "seed 601-603 `192.168.10.100` `192.168.10.102` (kubectl get node: 3 nodes)", [value([node_obj(n) for n in NODES])], PF,
             api_version="v1", kind="Node"),
        sh(HUBBLE, cli.STOP_COMMAND, [cmd("none\n")], "reconstructed (no port-forward left over from an earlier run)"),
        sh(HUBBLE, cli.SS_4245, [cmd("")], "reconstructed (nothing listens on 4245 before the port-forward, as the refusal of seed 1281 shows, "
                                       "and after it stopped)"),
        sh(HUBBLE, "which hubble", [cmd("/usr/local/bin/hubble\n")], "seed 1275 `/usr/local/bin/hubble` (which hubble)"),
        sh(HUBBLE, "hubble version", [cmd(version_text())],
           "reconstructed (the line format of upstream hubble cmd/version/version.go; the seed never types hubble "
           "version; v1.17.5 = HUBBLE_CLI_VERSION of provisioning/versions.env)"),
        sh(HUBBLE, "hubble help status", [cmd(help_status_text())],
           "seed 1256 `--server string` `(default \"localhost:4245\")` (hubble help status | grep 'server string'); "
           "the rest of the usage reconstructed"),
        sh(HUBBLE, "hubble status", [REFUSED], "seed 1281 `connect: connection refused` (hubble status: dial tcp 127.0.0.1:4245: connect: "
                                               "connection refused; exit status 1: reconstructed)"),
        sh(HUBBLE, cli.START_COMMAND, [cmd(f"{PF_PID}\n")], "seed 1285 `10570` (cilium hubble port-forward& -> [1] 10570)"),
        sh(PF, cli.ALIVE_COMMAND, [cmd(f"  {PF_PID} cilium\n{PF_OUTPUT}")],
           "seed 1286 `Hubble Relay is available at 127.0.0.1:4245` (ℹ️  Hubble Relay is available at 127.0.0.1:4245)"),
        sh(PF, cli.SS_4245, [cmd(ss_4245())], "seed 1290-1291 `127.0.0.1:4245` `[::1]:4245` (127.0.0.1:4245 and [::1]:4245 by cilium pid 10570)"),
        sh(PF, "hubble status", [cmd(status_text())], "seed 1297-1300 `Healthcheck (via localhost:4245): Ok` `Connected Nodes: 3/3` (Healthcheck (via localhost:4245): Ok, "
                                                      "11,282/12,285 flows, 3/3 nodes)"),
        sh(PF, "hubble config view", [cmd(config_text())], "seed 1304-1307 `server: localhost:4245` `tls: false` (server: localhost:4245, "
                                                           "port-forward-port: \"4245\"); other keys reconstructed"),
        sh(PF, cli.STOP_COMMAND, [cmd(f"stopped {PF_PID}\n")], "reconstructed (the suite kills pid 10570)"),
        sh(PF, cli.observe_command("--namespace", KS), [cmd("\n".join(plumbing_flows()) + "\n")],
           "seed 1317-1338 `hubble-ui-76d4965bb6-hcgj6` `hubble-ui-76d4965bb6-hcgj6` (Relay <- 192.168.10.101:4244 (remote-node), <- 192.168.10.102:4244 (host); UI -> Relay "
           ":4245; UI -> 192.168.10.100:6443 (kube-apiserver)) as jsonpb; the k8s-ctr peer (kube-apiserver), times "
           "and uuids reconstructed"),
        call("k8s_list", "seed 1161 `hubble-relay-5dcd46f5c-tln2s` (hubble-relay-5dcd46f5c-tln2s on k8s-w2, 172.20.2.176)", [value(relay_pods)],
             PF, api_version="v1", kind="Pod", namespace=KS, label_selector="k8s-app=hubble-relay"),
        call("k8s_list", "seed 1192 `172.20.1.129`, 1317 `hubble-ui-76d4965bb6-hcgj6` (hubble-ui-76d4965bb6-hcgj6 on k8s-w1, 172.20.1.129)", [value(ui_pods)],
             PF, api_version="v1", kind="Pod", namespace=KS, label_selector="k8s-app=hubble-ui"),
        call("k8s_list", "seed 642-643 `coredns-674b8bbfcf-2sbw2` `coredns-674b8bbfcf-p8kth` (both CoreDNS pods on k8s-ctr)",
             [value([pod_obj(name, "k8s-ctr", ip, {"k8s-app": "kube-dns"}) for name, ip in sorted(COREDNS.items())])],
             PF, api_version="v1", kind="Pod", namespace=KS, label_selector="k8s-app=kube-dns"),
        apiserver_slice(PF),
        apiserver_slice(HUBBLE),
        call("pod_exec", "reconstructed (ip list -n of seed 1414-1418: host 1, world 2, remote-node 6; as seen on k8s-w1: kube-apiserver 7 "
                         "for 192.168.10.100); the JSON rows reconstructed (models.IPListEntry), no health (4): "
                         "enable-endpoint-health-checking false (seed 770-771)",
             [cmd(ip_list(health=o.get(("ip-list", "health")) is not None))], HUBBLE,
             namespace=KS, pod=AGENT_PODS["k8s-w1"], container="cilium-agent", command=cli.IP_LIST),
        *kube_dns_calls(),
    ]
    return out


def scenarios_calls() -> list[CliScenario]:
    return [translation_scenario(), tcp_flags_scenario(), replies_scenario(), namespace_scenario(),
            *(filter_scenario(r) for r in ROWS)]


def calls() -> list[dict[str, Any]]:
    own = shared_calls()
    for s in scenarios_calls():
        own += s.calls
    # the namespace's own calls are unique per scenario; shared reads may repeat: keep the first
    seen: set[str] = set()
    unique = []
    for c in beyond_hubble(own):
        key = call_key(c["op"], c["args"], c["state"])
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


# --- mutants -------------------------------------------------------------------------------------------


def _over(c: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {**c, "seed": f"MUTATED ({c['seed']})", "results": results}


def _mutated(c: dict[str, Any]) -> dict[str, Any]:
    """A call a mutant builder produced with its broken answer, marked as the mutation."""
    return _over(c, c["results"])


def _shared(state: list[str], command: str) -> dict[str, Any]:
    for c in shared_calls():
        if c["op"] == "node_shell" and c["state"] == state and c["args"]["command"] == command:
            return c
    raise SystemExit(f"mutant: no shared call {command!r} in {state}")


def _observe_of(s: CliScenario, args: list[str]) -> dict[str, Any]:
    command = cli.observe_command(*args)
    for c in s.calls:
        if c["op"] == "node_shell" and c["args"]["command"] == command:
            return c
    raise SystemExit(f"mutant: scenario {s.test} has no {command!r}")


def mutants() -> dict[str, dict[str, Any]]:
    t = SCENARIOS
    out: dict[str, dict[str, Any]] = {
        "hubble-cli-status-ok-before-port-forward": {
            "breaks": "hubble status answers on localhost:4245 before any port-forward runs",
            "expect": [t["refused"]],
            "message": "expected 'dial tcp 127.0.0.1:4245: connect: connection refused', saw Healthcheck Ok via localhost:4245",
            "calls": [_over(_shared(HUBBLE, "hubble status"), [cmd(status_text())])]},
        "hubble-cli-port-forward-on-every-address": {
            "breaks": "the port-forward listens on every address of k8s-ctr, not on its loopback only",
            "expect": [t["loopback"]],
            "message": "expected the port-forward (pid 10570) on 127.0.0.1 and [::1] only, saw *:4245 by cilium pid 10570",
            "calls": [_over(_shared(PF, cli.SS_4245), [cmd(ss_4245(("*:4245",)))])]},
        "hubble-cli-4245-also-open-to-the-network": {
            "breaks": "besides the port-forward's loopback sockets, another process (a hostPort socat) listens on 0.0.0.0:4245",
            "expect": [t["loopback"]],
            "message": "expected the port-forward (pid 10570) on 127.0.0.1 and [::1] only, saw 127.0.0.1:4245 by cilium "
                       "pid 10570, [::1]:4245 by cilium pid 10570, 0.0.0.0:4245 by socat pid 4321",
            "calls": [_over(_shared(PF, cli.SS_4245),
                            [cmd(ss_4245() + ss_line("0.0.0.0:4245", "socat", 4321, 3, "0.0.0.0:*") + "\n")])]},
        "hubble-cli-config-server-4244": {
            "breaks": "hubble config view points the CLI at localhost:4244",
            "expect": [t["config"]],
            "message": "server: expected 'localhost:4245', saw 'localhost:4244'",
            "calls": [_over(_shared(PF, "hubble config view"), [cmd(config_text("localhost:4244"))])]},
        "hubble-cli-config-tls-on-timeout-30s": {
            "breaks": "hubble config view shows a CLI that dials Relay with TLS and a 30 s timeout",
            "expect": [t["config-defaults"]],
            "message": "timeout: expected '5s', saw '30s'; tls: expected 'false', saw 'true'",
            "calls": [_over(_shared(PF, "hubble config view"), [cmd(config_text(timeout="30s", tls="true"))])]},
        "hubble-cli-max-flows-two-nodes": {
            "breaks": "Relay's Max Flows counts the buffers of two nodes while three are connected",
            "expect": [t["status"]],
            "message": "expected Max Flows 3 x 4095 = 12,285, saw 8,190",
            "calls": [_over(_shared(PF, "hubble status"), [cmd(status_text("8,190"))])]},
        "hubble-cli-status-current-above-max": {
            "breaks": "hubble status counts more flows in the buffers than they can hold",
            "expect": [t["status"]],
            "message": "Current Flows 12,300 above Max Flows 12,285",
            "calls": [_over(_shared(PF, "hubble status"), [cmd(status_text(flows="12,300", fill="100.12"))])]},
        "hubble-cli-status-fill-not-current-over-max": {
            "breaks": "hubble status prints a buffer fill that is not Current/Max (11,282 of 12,285 as 19.84%)",
            "expect": [t["status"]],
            "message": "saw 11,282/12,285 (19.84%): 19.84% for 11,282/12,285 (that is 91.84%)",
            "calls": [_over(_shared(PF, "hubble status"), [cmd(status_text(fill="19.84"))])]},
        "hubble-cli-status-no-rate": {
            "breaks": "hubble status prints no flow rate (Flows/s: N/A)",
            "expect": [t["status"]],
            "message": "expected Flows/s a number of zero or more (the seed shows 35.22), saw N/A (no rate)",
            "calls": [_over(_shared(PF, "hubble status"), [cmd(status_text(rate="N/A"))])]},
        "hubble-cli-version-not-pinned": {
            "breaks": "k8s-ctr runs an older hubble CLI (v1.16.0) than the lab pins",
            "expect": [t["install"]],
            "message": "expected hubble v1.17.5 (HUBBLE_CLI_VERSION in provisioning/versions.env), saw "
                       "'hubble v1.16.0 compiled with go1.24.4 on linux/amd64'",
            "calls": [_over(_shared(HUBBLE, "hubble version"), [cmd(version_text("1.16.0"))])]},
        "hubble-cli-installed-elsewhere": {
            "breaks": "the hubble CLI on root's PATH is /usr/bin/hubble (a distribution package), not the release unpacked "
                      "into /usr/local/bin",
            "expect": [t["install"]],
            "message": "which hubble on k8s-ctr: expected /usr/local/bin/hubble, saw /usr/bin/hubble",
            "calls": [_over(_shared(HUBBLE, "which hubble"), [cmd("/usr/bin/hubble\n")])]},
        "hubble-cli-help-server-default-4244": {
            "breaks": "hubble help status shows --server defaulting to localhost:4244",
            "expect": [t["install"]],
            "message": "expected --server string ... (default \"localhost:4245\"), saw 'localhost:4244'",
            "calls": [_over(_shared(HUBBLE, "hubble help status"), [cmd(help_status_text("localhost:4244"))])]},
        "hubble-cli-status-w1-unavailable": {
            "breaks": "through the port-forward, Relay reaches k8s-ctr and k8s-w2 but not k8s-w1",
            "expect": [t["status"]],
            "message": "expected Connected Nodes 3/3, saw 2/3 (unavailable: k8s-w1)",
            "calls": [_over(_shared(PF, "hubble status"), [cmd(status_text("8,190", unavailable=("k8s-w1",)))])]},
        "hubble-cli-remote-node-seen-as-world": {
            "breaks": "k8s-w2's agent labels k8s-w1's Hubble server world instead of remote-node",
            "expect": [t["plumbing"]],
            "message": "192.168.10.101:4244 seen by k8s-w2 as world (identity 2), expected remote-node (6)",
            "calls": [_over(_shared(PF, cli.observe_command("--namespace", KS)),
                            [cmd("\n".join(plumbing_flows(w1_identity=2)) + "\n")])]},
        "hubble-cli-apiserver-seen-as-world": {
            "breaks": "k8s-w1's agent labels the UI's calls to the API server world instead of kube-apiserver",
            "expect": [t["plumbing"]],
            "message": "expected the API server labelled kube-apiserver (identity 7), saw 192.168.10.100:6443 as world "
                       "(identity 2) on k8s-w1",
            "calls": [_over(_shared(PF, cli.observe_command("--namespace", KS)),
                            [cmd("\n".join(plumbing_flows(apiserver_identity=2)) + "\n")])]},
        "hubble-cli-relay-misses-w1": {
            "breaks": "Relay never reads k8s-w1's Hubble server (no flow between Relay and 192.168.10.101:4244)",
            "expect": [t["plumbing"]],
            "message": "expected Relay talking to 4244 of k8s-w1 (192.168.10.101:4244), saw none",
            "calls": [_over(_shared(PF, cli.observe_command("--namespace", KS)),
                            [cmd("\n".join(plumbing_flows(skip="k8s-w1")) + "\n")])]},
        "hubble-cli-health-identity-present": {
            "breaks": "an agent health endpoint (identity 4) exists although endpoint health checking is off",
            "expect": [t["identities"]],
            "message": "expected no health endpoint (identity 4) with endpoint health checking off, saw 172.20.1.53/32",
            "calls": [_over(next(c for c in shared_calls() if c["op"] == "pod_exec"), [cmd(ip_list(health=True))])]},
        "hubble-cli-endpoint-health-checking-on": {
            "breaks": "cilium-config has enable-endpoint-health-checking true (the lab's Helm values turn it off, "
                      "seed 771); no health endpoint has an address yet",
            "expect": [t["identities"]],
            "message": "cilium-config: enable-endpoint-health-checking: expected 'false' (no agent health endpoint, "
                       "so no identity 4), saw 'true'",
            "calls": [_replace(hubble_calls(), "k8s_get", HUBBLE,
                               [value(_cm_with(HUBBLE_CONFIG, **{"enable-endpoint-health-checking": "true"}))],
                               api_version="v1", kind="ConfigMap", name="cilium-config", namespace=KS)]},
        "hubble-cli-ipcache-misses-w2": {
            "breaks": "k8s-w1's agent has no IP cache entry for k8s-w2's address (the other nodes are there)",
            "expect": [t["identities"]],
            "message": "cilium-dbg ip list on k8s-w1: 192.168.10.102: expected 6 (remote-node), saw no entry",
            "calls": [_over(next(c for c in shared_calls() if c["op"] == "pod_exec"),
                            [cmd(ip_list(without="192.168.10.102/32"))])]},
    }
    tr = translation_scenario(post_to="10.96.0.11")
    out["hubble-cli-dns-translated-to-no-backend"] = {
        "breaks": "socket-LB translates the kube-dns address to an address that is no coredns pod",
        "expect": [t["translation"]],
        "message": ("expected post-xlate-fwd TRANSLATED to a backend (172.20.0.107:53, 172.20.0.107:9153, "
                    "172.20.0.51:53, 172.20.0.51:9153), saw xwing <> 10.96.0.11:53"),
        "calls": [_mutated(_observe_of(tr, resolve(tr.ns, "--from-identity {xwing identity}")))]}
    tr = translation_scenario(post_before_pre=True)
    out["hubble-cli-deathstar-post-xlate-before-pre"] = {
        "breaks": "socket-LB reports the deathstar connect()'s post-xlate-fwd TRANSLATED before its pre-xlate-fwd TRACED",
        "expect": [t["translation"]],
        "message": "expected post-xlate-fwd TRANSLATED after the pre-xlate-fwd TRACED of its socket, saw it stamped before",
        "calls": [_mutated(_observe_of(tr, resolve(tr.ns, "--from-identity {xwing identity}")))]}
    fl = tcp_flags_scenario(skip=("SYN, ACK",))
    out["hubble-cli-no-syn-ack"] = {
        "breaks": "Hubble shows no SYN-ACK of the deathstar for the xwing's connection",
        "expect": [t["tcp-flags"]],
        "message": "expected TCP flags SYN; SYN, ACK; ACK, PSH; ACK, FIN, missing SYN, ACK",
        "calls": [_mutated(_observe_of(fl, resolve(fl.ns, "--pod {ns}/xwing --protocol tcp")))]}
    early = tcp_flags_scenario(earlier=True)
    out["hubble-cli-connection-only-before-the-request"] = {
        "breaks": "the only TCP flows on the xwing's pinned port are 5 s older than its request's start line "
                  "(an earlier run's connection)",
        "expect": [t["tcp-flags"]],
        "message": ("expected TCP flags SYN; SYN, ACK; ACK, PSH; ACK, FIN, missing SYN; SYN, ACK; ACK, PSH; ACK, FIN; "
                    "saw no TCP flags (flows since 2025-07-25T17:44:03."),
        "calls": [_mutated(_observe_of(early, resolve(early.ns, "--pod {ns}/xwing --protocol tcp")))]}
    for flag, says in (("--protocol", ": UDP"), ("--pod", f"{OTHER_NS}/xwing")):
        ig = tcp_flags_scenario(ignore=flag)
        args = resolve(ig.ns, "--pod {ns}/xwing --protocol tcp")
        out[f"hubble-cli-tcp-flags-ignores-{flag.strip('-')}"] = {
            "breaks": f"hubble observe --pod {{ns}}/xwing --protocol tcp ignores {flag} (returns what the other flag selects)",
            "expect": [t["tcp-flags"]],
            "message": (f"`hubble observe {' '.join(args)}`: expected every flow to match every part of the filter, "
                        f"saw flows that do not: {flag} {args[args.index(flag) + 1]} is broken by"),
            "message_also": [says],
            "calls": [_mutated(_observe_of(ig, args))]}
    other = "".join(line + "\n" for line in foreign(["--namespace", KS], lambda f: True)
                    if json.loads(line)["flow"]["source"].get("namespace") == OTHER_NS)
    out["hubble-cli-plumbing-namespace-filter-ignored"] = {
        "breaks": "hubble observe --namespace kube-system ignores --namespace (returns another namespace's flows too)",
        "expect": [t["plumbing"]],
        "message": ("`hubble observe --namespace kube-system`: expected every flow to match every part of the filter, "
                    "saw flows that do not: --namespace kube-system is broken by"),
        "message_also": [f"{OTHER_NS}/"],
        "calls": [_over(_shared(PF, cli.observe_command("--namespace", KS)),
                        [cmd("\n".join(plumbing_flows()) + "\n" + other)])]}
    sw_ = tcp_flags_scenario(swapped=True)
    out["hubble-cli-observation-points-on-the-wrong-node"] = {
        "breaks": "the agents report the xwing's packets to-endpoint on the xwing's own node and to-network on the "
                  "deathstar's (the observation points at the wrong ends of the connection)",
        "expect": [t["tcp-flags"]],
        "message": "expected to-endpoint on k8s-w2 (the node of deathstar-8c4c77fb7-nnzkt)",
        "message_also": ["xwing:", "(SYN) to-endpoint seen on k8s-w1"],
        "calls": [_mutated(_observe_of(sw_, resolve(sw_.ns, "--pod {ns}/xwing --protocol tcp")))]}
    nr = translation_scenario(reverse=False)
    out["hubble-cli-no-reverse-socket-events"] = {
        "breaks": "socket-LB reports no pre-xlate-rev event when the deathstar's socket asks for the xwing's address",
        "expect": [t["translation"]],
        "message": "expected pre-xlate-rev TRACED for xwing's address and port",
        "message_also": ["port 43120, saw no trace-sock flow of it"],
        "calls": [_mutated(_observe_of(nr, resolve(nr.ns, "--from-identity {xwing identity}")))]}
    rp = replies_scenario(reply=False)
    out["hubble-cli-deathstar-answers-not-replies"] = {
        "breaks": "Hubble marks the deathstar's packets on the xwing's connection as is_reply false, so they print "
                  "xwing:port -> deathstar instead of xwing <- deathstar",
        "expect": [t["replies"]],
        "message": "expected replies (xwing <- deathstar, is_reply true) with the TCP flags SYN, ACK; ACK, PSH; ACK, FIN, "
                   "missing SYN, ACK; ACK, PSH; ACK, FIN; saw xwing:",
        "message_also": ["-> deathstar-8c4c77fb7-nnzkt:80 (is_reply False, TCP Flags: SYN, ACK)"],
        "calls": [_mutated(_observe_of(rp, resolve(rp.ns, "--protocol tcp --from-identity {deathstar identity}")))]}
    out["hubble-cli-coredns-probed-from-world"] = {
        "breaks": "the health checks of one CoreDNS pod (coredns-674b8bbfcf-2sbw2) on 8080 arrive labelled world "
                  "instead of host",
        "expect": [t["plumbing"]],
        "message": "expected host (identity 1) -> coredns-674b8bbfcf-2sbw2:8080 to-endpoint FORWARDED on k8s-ctr, saw "
                   "10.0.2.15 (world) -> coredns-674b8bbfcf-2sbw2:8080 to-endpoint FORWARDED on k8s-ctr",
        "calls": [_over(_shared(PF, cli.observe_command("--namespace", KS)),
                        [cmd("\n".join(plumbing_flows(probe_identity=2)) + "\n")])]}
    drop_row = next(r for r in ROWS if r[1] == "--type drop")
    ds = filter_scenario(drop_row)
    xw = ds.requests["xwing"].local_port
    moved = "".join(line + "\n" for line in sw.drop_flows(ds.ns, xw, source_ip="172.20.2.77") + foreign(["--type", "drop"]))
    out["hubble-cli-type-drop-of-another-pod-address"] = {
        "breaks": "hubble observe --type drop shows drops on the xwing's pinned port from another address than the "
                  "xwing's (a pod of the same name from an earlier run)",
        "expect": [row_test(drop_row)],
        "message": "`hubble observe --type drop`: expected the xwing's request, saw",
        "calls": [_over(_observe_of(ds, ["--type", "drop"]), [cmd(moved)])]}
    nsm = namespace_scenario(foreign=True)
    out["hubble-cli-namespace-filter-leaks"] = {
        "breaks": "hubble observe --namespace also returns flows of kube-system only",
        "expect": [t["namespace"]],
        "message": (f"expected every flow to match every part of the filter, saw flows that do not: --namespace {nsm.ns} "
                    "is broken by 1 flow(s): "),
        "message_also": ["192.168.10.101:4244 (ID:6) -> kube-system/hubble-relay-5dcd46f5c-tln2s"],
        "calls": [_mutated(_observe_of(nsm, ["--namespace", nsm.ns]))]}
    for row in ROWS:
        s = filter_scenario(row, leak=True)
        args = resolve(s.ns, row[1])
        slug = re.sub(r"[^a-z0-9]+", "-", row[1].replace("{", "").replace("}", "").lower()).strip("-")
        out[f"hubble-cli-filter-{slug}-leaks"] = {
            "breaks": f"hubble observe {row[1]} also returns {row[3]}",
            "expect": [row_test(row)],
            "message": f"`hubble observe {' '.join(args)}`: expected none of {row[3].split(' and ')[0]}, saw",
            "calls": [_mutated(_observe_of(s, args))]}
    out.update(ignored_part_mutants())
    out["hubble-cli-not-installed"] = not_installed_mutant()
    out["hubble-cli-l7-exhaust-port-not-refused"] = answer_mutant(
        "--http-method PUT", "tiefighter", starwars.EXHAUST_PORT, sw.EXPLODED,
        "under the L7 rule1 the tiefighter's PUT /v1/exhaust-port is not refused: the deathstar explodes (HTTP 503)",
        "tiefighter PUT's PUT /v1/exhaust-port (from port",
        "expected HTTP 403 'Access denied', saw HTTP 503 'Panic: deathstar exploded'")
    out["hubble-cli-no-policy-xwing-does-not-land"] = answer_mutant(
        "--pod {ns}/xwing", "xwing", starwars.LANDING, sw.DENIED,
        "with no policy in the namespace the xwing's landing is refused with 403 Access denied (an L7 rule left behind)",
        "xwing's POST /v1/request-landing (from port", "expected HTTP 200 'Ship landed', saw HTTP 403 'Access denied'")
    return out


def answer_mutant(flt: str, ship: str, request: tuple[str, str], outcome: tuple[Any, ...], breaks: str,
                  message: str, also: str) -> dict[str, Any]:
    """The outlines' descriptions state how the demo's requests are answered ("Both ships
    land", the tiefighter "is refused the exhaust port"): a lab that answers one of them
    otherwise fails that row in the step that sends the requests, whatever Hubble shows."""
    row = next(r for r in ROWS if r[1] == flt)
    s = filter_scenario(row)
    calls = [c for c in s.calls if c["op"] == "pod_exec" and c["args"].get("pod") == ship
             and any(request[1] in str(a) for a in c["args"]["command"])]
    return {
        "breaks": breaks,
        "expect": [row_test(row)],
        "message": message,
        "message_also": [also],
        # the request's last call: a positive request is made again while it gets no answer
        "calls": [_over(calls[-1], [sw.curl_result(s.ns, ship, outcome, s.started[ship])])]}


def not_installed_mutant() -> dict[str, Any]:
    """A lab where the student skipped the Hubble CLI chapter's install (seed 1223-1231): every
    `hubble` command on k8s-ctr is answered by the shell's "not found".  Every scenario that
    runs it fails with the one line of cilab.node_tools; the port-forward (the cilium CLI)
    and the IP cache (cilium-dbg in the agent) are unaffected."""
    t = SCENARIOS
    return {
        "breaks": "the hubble CLI is not installed on k8s-ctr (the Hubble CLI chapter's install skipped): "
                  "dash answers every `hubble` command there with `sh: 1: hubble: not found`, exit 127",
        "expect": [t[k] for k in ("install", "refused", "config", "config-defaults", "status", "plumbing", "translation",
                                  "tcp-flags", "replies", "namespace")] + [row_test(r) for r in ROWS],
        "message": ("`hubble` is not installed on k8s-ctr: the suite runs it for `hubble status`, `hubble config "
                    "view` and `hubble observe` on the control plane; the write-up installs it in the Hubble CLI "
                    "chapter's install (seed 1223-1231"),
        "faults": [{"name": "no hubble on k8s-ctr's PATH",
                    "match": {"op": "node_shell", "node": "k8s-ctr", "command": "hubble *"},
                    "results": [{"stdout": "", "stderr": "sh: 1: hubble: not found\n", "rc": 127}]}]}


#: compound filters with one part ignored: (row's filter, flag ignored, what fails and names the flag)
IGNORED = [
    ("--from-identity {xwing identity} --protocol udp", "--from-identity",
     "expected none of the tiefighter's DNS lookups, saw", ["{ns}/tiefighter:", ": identity 9225"]),
    ("--from-identity {xwing identity} --protocol udp", "--protocol",
     "expected none of the xwing's request, saw", ["{ns}/xwing:", ": TCP"]),
    ("--from-identity {xwing identity} --protocol tcp", "--from-identity",
     "expected none of the tiefighter's request, saw", ["{ns}/tiefighter:", ": identity 9225"]),
    ("--from-identity {xwing identity} --protocol tcp", "--protocol",
     "expected none of the xwing's DNS lookups, saw", ["{ns}/xwing:", ": UDP"]),
    ("--verdict FORWARDED --namespace {ns}", "--verdict", "expected none of the xwing's dropped packets, saw",
     ["{ns}/xwing:", ": DROPPED"]),
    ("--verdict FORWARDED --namespace {ns}", "--namespace",
     "expected every flow to match every part of the filter, saw flows that do not: ",
     ["kube-system/hubble-relay", "kube-system/"]),
]


def ignored_part_mutants() -> dict[str, dict[str, Any]]:
    """A Hubble that ignores one flag of a compound filter returns flows the other flags select:
    the outline of that filter fails, naming the flag ignored and a flow that breaks it."""
    out: dict[str, dict[str, Any]] = {}
    for flt, flag, says, names in IGNORED:
        row = next(r for r in ROWS if r[1] == flt)
        s = filter_scenario(row, ignore=flag)
        args = resolve(s.ns, flt)
        value = args[args.index(flag) + 1]
        slug = re.sub(r"[^a-z0-9]+", "-", flt.replace("{", "").replace("}", "").lower()).strip("-")
        out[f"hubble-cli-filter-{slug}-ignores-{flag.strip('-')}"] = {
            "breaks": f"hubble observe {flt} ignores {flag} (returns what the other flags select)",
            "expect": [row_test(row)],
            "message": f"`hubble observe {' '.join(args)}`: {says}",
            "message_also": [f"{flag} {value} is broken by", *(w.format(ns=s.ns) for w in names)],
            "calls": [_mutated(_observe_of(s, args))]}
    return out
