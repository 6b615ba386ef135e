"""Chapter "Hubble is enabled" (seed lines 870-1365): reference calls and mutants."""
from __future__ import annotations

from typing import Any

from cilab.stages import CHART_REPO, stage_values
from tools.reference import clocks
from tools.reference.lab import *  # noqa: F401,F403
from tools.reference.lab import _cm_with, _replace  # noqa: F401

SEED = "seed lines 870-1365"


def calls() -> list[dict[str, Any]]:
    nodes_list = [node_obj(n) for n in NODES]
    agent_pods = [pod_obj(AGENT_PODS[n], n, NODES[n]["ip"],
                          {"k8s-app": "cilium", "app.kubernetes.io/name": "cilium-agent"}, True) for n in NODES]
    operator_pods = [pod_obj(OPERATOR_POD, OPERATOR_NODE, NODES[OPERATOR_NODE]["ip"],
                             {"io.cilium/app": "operator", "name": "cilium-operator"}, True)]
    relay_svc = service_obj("hubble-relay", [{"protocol": "TCP", "port": 80, "targetPort": "grpc"}],
                            **{"k8s-app": "hubble-relay"})
    peer_svc = service_obj("hubble-peer", [{"name": "peer-service", "protocol": "TCP", "port": 443, "targetPort": 4244}],
                           **{"k8s-app": "cilium"})
    ui_svc = service_obj("hubble-ui", [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8081,
                                        "nodePort": 31234}], "NodePort", **{"k8s-app": "hubble-ui"})
    status_cmd = ["hubble", "status", "--server", f"{SVC_IPS['hubble-relay']}:80"]
    calls = [
        # --- the stage: before Hubble (state []) -------------------------------------------
        call("k8s_get", "seed 770 `enable-hubble`, 969 `enable-hubble`, 977 `enable-hubble` (enable-hubble false; the chart renders no other hubble key while Hubble is off)", [value(configmap("cilium-config", BASE_CONFIG))],
             api_version="v1", kind="ConfigMap", name="cilium-config", namespace=KS),
        # the stage is read from the live cluster: cilium-config above and the agent's arguments
        call("k8s_get", "reconstructed (cilium 1.17.6 chart: the agent runs `cilium-agent "
             "--config-dir=/tmp/cilium/config-map`, no extraArgs in the base install of seed 293-298; "
             "no containerPorts with hubble and prometheus off, seed 985-996)",
             [value(workload("DaemonSet", "cilium", 3, 3, BASE_AGENT_CONTAINERS, 1))],
             api_version="apps/v1", kind="DaemonSet", name="cilium", namespace=KS),
        call("k8s_list", "reconstructed (the secrets of a base install; seed 982-983 shows none named cilium-ca or hubble-*)", [value(BASE_SECRETS)],
             api_version="v1", kind="Secret", namespace=KS),
        call("k8s_get", "seed 958 `Hubble Relay: disabled`, 963 `hubble-relay` (cilium status: Hubble Relay disabled; no hubble-relay container)",
             [value(None)], api_version="apps/v1", kind="Deployment", name="hubble-relay", namespace=KS),
        call("k8s_list", "seed 601-603 `192.168.10.100` `192.168.10.102` (nodes, InternalIPs)", [value(nodes_list)], api_version="v1", kind="Node"),
        *[call("node_shell", "seed 988-994 `127.0.0.1` `127.0.0.1` (ports before Hubble; pids reconstructed)", [cmd(ss_before(n))],
               node=n, command="ss -tlnpH") for n in NODES],
        call("helm_upgrade", "seed 1085-1090 `Happy Helming!` `REVISION: 2` (Release \"cilium\" has been upgraded)",
             [cmd('Release "cilium" has been upgraded. Happy Helming!\nNAME: cilium\n'
                  'LAST DEPLOYED: Sat Jul 26 01:59:21 2025\nNAMESPACE: kube-system\nSTATUS: deployed\nREVISION: 2\n')],
             release="cilium", chart="cilium", version=CILIUM_VERSION, namespace=KS,
             values=stage_values("hubble"), repo=CHART_REPO),
        # --- rollout after the upgrade (state [hubble]) ------------------------------------
        call("k8s_get", "seed 1102 `cilium` (cilium 3/3)", [value(workload("DaemonSet", "cilium", 3, 3, AGENT_CONTAINERS))], HUBBLE,
             api_version="apps/v1", kind="DaemonSet", name="cilium", namespace=KS),
        call("k8s_get", "seed 1103 `cilium-envoy` (cilium-envoy 3/3)",
             [value(workload("DaemonSet", "cilium-envoy", 3, 3, [{"name": "cilium-envoy"}], 1))], HUBBLE,
             api_version="apps/v1", kind="DaemonSet", name="cilium-envoy", namespace=KS),
        call("k8s_get", "seed 1104 `cilium-operator` (cilium-operator 1/1)",
             [value(workload("Deployment", "cilium-operator", 1, 1, [{"name": "cilium-operator"}]))], HUBBLE,
             api_version="apps/v1", kind="Deployment", name="cilium-operator", namespace=KS),
        call("k8s_get", "seed 1105 `hubble-relay` (relay 'temporary error, then OK': not ready, then 1/1)",
             [value(workload("Deployment", "hubble-relay", 0, 1, RELAY_CONTAINERS, 1)),
              value(workload("Deployment", "hubble-relay", 1, 1, RELAY_CONTAINERS, 1))], HUBBLE,
             api_version="apps/v1", kind="Deployment", name="hubble-relay", namespace=KS),
        call("k8s_get", "seed 1106 `hubble-ui`, 1181-1188 `frontend` `hubble-relay:80` (hubble-ui 1/1; frontend 8081, backend 8090 FLOWS_API_ADDR hubble-relay:80)", [value(workload("Deployment", "hubble-ui", 1, 1, UI_CONTAINERS, 1))], HUBBLE,
             api_version="apps/v1", kind="Deployment", name="hubble-ui", namespace=KS),
        # --- after Hubble (state [hubble]) --------------------------------------------------
        call("k8s_list", "seed 601-603 `192.168.10.100` `192.168.10.102` (nodes, InternalIPs)", [value(nodes_list)], HUBBLE, api_version="v1", kind="Node"),
        call("k8s_get", "seed 1127-1130 `enable-hubble-open-metrics` `/var/run/cilium/hubble/events.log`, 1133 `enable-hubble` (cilium config view | grep -i hubble)",
             [value(configmap("cilium-config", HUBBLE_CONFIG))], HUBBLE,
             api_version="v1", kind="ConfigMap", name="cilium-config", namespace=KS),
        call("k8s_list", "seed 1139-1141 `cilium-ca` `hubble-server-certs` (cilium-ca, hubble-relay-client-certs, hubble-server-certs)",
             [value(HUBBLE_SECRETS)], HUBBLE, api_version="v1", kind="Secret", namespace=KS),
        *[call("node_shell", "seed 1146-1148 `4244` `9965` (*:4244, *:9962, *:9965 by cilium-agent)", [cmd(ss_after(n))], HUBBLE,
               node=n, command="ss -tlnpH") for n in NODES],
        call("k8s_list", "seed 640 `cilium-operator-5bc66f5b9b-7v5fg` (operator pod on k8s-ctr)", [value(operator_pods)], HUBBLE,
             api_version="v1", kind="Pod", namespace=KS, label_selector="io.cilium/app=operator"),
        call("k8s_list", "seed 638-641 `cilium-kkt6t` `cilium-tstkf` (agent pods per node)", [value(agent_pods)], HUBBLE,
             api_version="v1", kind="Pod", namespace=KS, label_selector="k8s-app=cilium"),
        call("k8s_get", "seed 1164 `10.96.174.49` (service/hubble-relay ClusterIP 80/TCP)", [value(relay_svc)], HUBBLE,
             api_version="v1", kind="Service", name="hubble-relay", namespace=KS),
        call("k8s_list", "seed 1165 `172.20.2.176` (endpoints/hubble-relay 172.20.2.176:4245)",
             [value([slice_obj("hubble-relay", "", 4245, [(RELAY_IP, RELAY_NODE)])])], HUBBLE,
             api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=KS,
             label_selector="kubernetes.io/service-name=hubble-relay"),
        call("k8s_get", "seed 1174-1175 `hubble-peer.kube-system.svc.cluster.local.:443` `:4245` (peer-service, listen-address)",
             [value(configmap("hubble-relay-config", {"config.yaml": RELAY_CONFIG}))], HUBBLE,
             api_version="v1", kind="ConfigMap", name="hubble-relay-config", namespace=KS),
        call("k8s_get", "seed 1170 `10.96.68.0` (service/hubble-peer ClusterIP 443/TCP)", [value(peer_svc)], HUBBLE,
             api_version="v1", kind="Service", name="hubble-peer", namespace=KS),
        call("k8s_list", "seed 1171 `192.168.10.100` (endpoints/hubble-peer 192.168.10.100/101/102:4244)",
             [value([slice_obj("hubble-peer", "peer-service", 4244, [(NODES[n]["ip"], n) for n in NODES])])], HUBBLE,
             api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=KS,
             label_selector="kubernetes.io/service-name=hubble-peer"),
        call("k8s_get", "seed 1191 `31234` (service/hubble-ui NodePort 80:31234/TCP)", [value(ui_svc)], HUBBLE,
             api_version="v1", kind="Service", name="hubble-ui", namespace=KS),
        call("http_get", "seed 1198 `31234` (http://192.168.10.100:31234; page title reconstructed from hubble-ui; "
             "refused first, before the frontend listens: reconstructed 'not yet')",
             [refused("http://192.168.10.100:31234/"),
              {"status": 200, "headers": {"Content-Type": "text/html"}, "body": UI_PAGE}], HUBBLE,
             url="http://192.168.10.100:31234/"),
        call("pod_exec", "seed 1300 `Connected Nodes: 3/3` (hubble status: Ok, Connected Nodes 3/3; first Relay refusing as in seed "
             "1281, then 2/3: reconstructed 'not yet')",
             [cmd("", 1, RELAY_REFUSED), cmd(hubble_status_text(2, 3, ["k8s-w2"])), cmd(hubble_status_text(3, 3))],
             HUBBLE,
             namespace=KS, pod=AGENT_PODS["k8s-ctr"], container="cilium-agent", command=status_cmd),
        call("k8s_list", "seed 1115-1120 `quay.io/cilium/cilium:v1.17.6@sha256:544de3d4fed7acba72758413812780a4972d47c39035f2a06d6145d8644a3353` "
             "`quay.io/cilium/hubble-ui:v0.13.2@sha256:9e37c1296b802830834cc87342a9182ccbb71ffebb711971e849221bd9d59392` "
             "(cilium status, Image versions: 3 cilium, 3 cilium-envoy, 1 operator, 1 relay, 1 ui); the pods of "
             "kube-system of seed 633-647, 1161, 1192; CoreDNS's and the control plane's images reconstructed "
             "(kubeadm 1.33 defaults)",
             [value(kube_system_pods())], HUBBLE, api_version="v1", kind="Pod", namespace=KS),
        # the nodes' clocks, measured once per run right after the stage (tools/reference/clocks.py)
        *clocks.clock_calls(),
    ]
    return calls


#: seed 1116-1117 (cilium status, image versions), the two images tools/reference/lab.py's IMAGES lacks
ENVOY_IMAGE = ("quay.io/cilium/cilium-envoy:v1.33.4-1752151664-7c2edb0b44cf95f326d628b837fcdd845102ba68"
               "@sha256:318eff387835ca2717baab42a84f35a83a5f9e7d519253df87269f80b9ff0171")
OPERATOR_IMAGE = ("quay.io/cilium/operator-generic:v1.17.6"
                  "@sha256:91ac3bf7be7bed30e90218f219d4f3062a63377689ee7246062fa0cc3839d096")


def kube_system_pods(images: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The pods of kube-system with their containers' images (`images` overrides an image by
    its IMAGES key or "envoy"/"operator": mutants)."""
    from tools.reference.cluster import CONTROL_PLANE_PODS, COREDNS, ENVOY_PODS
    img = {**IMAGES, "envoy": ENVOY_IMAGE, "operator": OPERATOR_IMAGE, **(images or {})}

    def with_containers(pod: dict[str, Any], containers: list[tuple[str, str]]) -> dict[str, Any]:
        pod["spec"]["containers"] = [{"name": n, "image": i} for n, i in containers]
        return pod
    pods = [with_containers(pod_obj(AGENT_PODS[n], n, NODES[n]["ip"], {"k8s-app": "cilium"}, True),
                            [("cilium-agent", img["cilium"])]) for n in NODES]
    pods += [with_containers(pod_obj(ENVOY_PODS[n], n, NODES[n]["ip"], {"k8s-app": "cilium-envoy"}, True),
                             [("cilium-envoy", img["envoy"])]) for n in NODES]
    pods.append(with_containers(pod_obj(OPERATOR_POD, OPERATOR_NODE, NODES[OPERATOR_NODE]["ip"],
                                        {"io.cilium/app": "operator", "name": "cilium-operator"}, True),
                                [("cilium-operator", img["operator"])]))
    pods.append(with_containers(pod_obj(RELAY_POD, RELAY_NODE, RELAY_IP, {"k8s-app": "hubble-relay"}),
                                [("hubble-relay", img["relay"])]))
    pods.append(with_containers(pod_obj(UI_POD, UI_NODE, UI_IP, {"k8s-app": "hubble-ui"}),
                                [("frontend", img["ui"]), ("backend", img["ui-backend"])]))
    pods += [with_containers(pod_obj(name, "k8s-ctr", ip, {"k8s-app": "kube-dns"}),
                             [("coredns", "registry.k8s.io/coredns/coredns:v1.12.0")]) for name, ip in COREDNS]
    pods += [with_containers(pod_obj(name, "k8s-ctr", NODES["k8s-ctr"]["ip"], {"tier": "control-plane"}, True),
                             [(name.rsplit("-k8s-ctr", 1)[0],
                               "registry.k8s.io/etcd:3.5.21-0" if name.startswith("etcd") else
                               f"registry.k8s.io/{name.rsplit('-k8s-ctr', 1)[0]}:v1.33.2")])
             for name in CONTROL_PLANE_PODS]
    return pods


CLOCK_BEHIND = "k8s-w2"


def faults() -> dict[str, dict[str, Any]]:
    """Healthy-lab variants built from the reference (fixtures/transcripts/faults/)."""
    why = "FAULT: k8s-w2's clock 1.2 s behind"
    return {"clock-w2-1.2s-behind": {
        "summary": "k8s-w2's clock is 1.2 s behind the other nodes; its offset is measured and corrected.",
        "description": ("k8s-w2's clock runs 1.2 s behind the other nodes (its timesyncd stepped late): the "
                        "suite's clock reading shows it, every flow k8s-w2's agent stamps and every start line "
                        "of a client pod on k8s-w2 is 1.2 s earlier. The offset is within what the suite "
                        "corrects (cilab.probes.clocks), so every scenario passes and the report's environment "
                        "shows the offset."),
        "expect": {"failing": "none"},
        "calls": clocks.skewed(clocks.all_reference_calls(), CLOCK_BEHIND, -1.2, why)}}


def mutants() -> dict[str, dict[str, Any]]:
    out = _mutants()
    out["clock-w2-4s-behind"] = {
        "breaks": ("k8s-w2's clock is 4 s behind the other nodes (not synchronized): the flows its agent stamps "
                   "fall before the requests' windows"),
        "expect": CLOCK_FAILS,
        "message": "stamped by k8s-w2",
        "message_also": ["k8s-w2's clock is 3.998 s behind the other nodes", "not corrected",
                         "`timedatectl` on k8s-w2"],
        "calls": clocks.skewed(clocks.all_reference_calls(), CLOCK_BEHIND, -4.0, "MUTATED: k8s-w2's clock 4 s behind")}
    return out


#: the scenarios whose request's flows only k8s-w2 stamps: the xwing's drop at the deathstar (k8s-w2),
#: the export file of the webpod's node (k8s-w2), and the deathstar's side of the xwing's connection
#: (its socket's pre-xlate-rev event, each packet's to-endpoint on k8s-w2); the others also see
#: flows stamped by a node in step
CLOCK_FAILS = ["test_socketlb_translates_a_service_address_inside_the_pods_connect",
               "test_the_flows_of_one_connection_carry_its_tcp_flags",
               "test_the_sides_node_writes_the_requests_flows_to_its_export_file[server]",
               "test_under_the_l3l4_rule1_the_xwings_landing_request_is_dropped"]


def _mutants() -> dict[str, dict[str, Any]]:
    ref = calls()
    status_cmd = ["hubble", "status", "--server", f"{SVC_IPS['hubble-relay']}:80"]
    peer_slice = slice_obj("hubble-peer", "peer-service", 4244,
                           [(NODES[n]["ip"], n) for n in NODES if n != "k8s-w1"])
    images_test = "test_ciliums_own_images_run_at_the_labs_pinned_cilium_version"
    old_relay = IMAGES["relay"].replace(":v1.17.6@", ":v1.17.5@")
    envoy_no_digest = ENVOY_IMAGE.split("@", 1)[0]
    return {
        "hubble-relay-image-of-another-version": {
            "breaks": "Hubble Relay runs the v1.17.5 image while the lab pins Cilium 1.17.6",
            "expect": [images_test],
            "message": f"(CILIUM_VERSION in provisioning/versions.env), saw {RELAY_POD}: {old_relay}",
            "calls": [_replace(ref, "k8s_list", HUBBLE, [value(kube_system_pods({"relay": old_relay}))],
                               api_version="v1", kind="Pod", namespace=KS)]},
        "hubble-envoy-image-without-digest": {
            "breaks": "the cilium-envoy pods run their image by tag only, without the chart's digest",
            "expect": [images_test],
            "message": f"{envoy_no_digest} (no digest)",
            "calls": [_replace(ref, "k8s_list", HUBBLE, [value(kube_system_pods({"envoy": envoy_no_digest}))],
                               api_version="v1", kind="Pod", namespace=KS)]},
        "hubble-before-4244-already-open": {
            "breaks": "before the upgrade k8s-ctr already listened on 4244",
            "expect": ["test_before_the_upgrade_hubble_was_off"],
            "message": "before Hubble: expected nothing on 4244",
            "calls": [_replace(ref, "node_shell", [], [cmd(ss_before("k8s-ctr") + ss_line("*:4244", "cilium-agent", 5120, 50) + "\n")],
                               node="k8s-ctr", command="ss -tlnpH")]},
        "hubble-before-snapshot-misses-w2": {
            "breaks": "before the upgrade the Node list had no k8s-w2 (not yet joined), so the pre-Hubble "
                      "snapshot read the sockets of the other two nodes only",
            "expect": ["test_before_the_upgrade_hubble_was_off"],
            "message": "before Hubble: the snapshot read the listening sockets of k8s-ctr, k8s-w1, not of k8s-w2, "
                       "a node of the cluster",
            "calls": [_replace(ref, "k8s_list", [], [value([node_obj(n) for n in NODES if n != "k8s-w2"])],
                               api_version="v1", kind="Node")]},
        "hubble-before-envoy-metrics-closed": {
            "breaks": "before the upgrade k8s-w1's Envoy did not serve its metrics on 9964",
            "expect": ["test_before_the_upgrade_hubble_was_off"],
            "message": "before Hubble: expected port 9964 listened on by cilium-envoy on every node "
                       "(k8s-ctr, k8s-w1, k8s-w2), saw it on k8s-ctr, k8s-w2",
            "calls": [_replace(ref, "node_shell", [], [cmd("".join(l + "\n" for l in ss_before("k8s-w1").splitlines()
                                                                   if ":9964 " not in l))],
                               node="k8s-w1", command="ss -tlnpH")]},
        "hubble-before-operator-metrics-on-two-nodes": {
            "breaks": "before the upgrade 9963 was open by cilium-operator on two nodes (the operator runs one replica)",
            "expect": ["test_before_the_upgrade_hubble_was_off"],
            "message": "before Hubble: expected port 9963 listened on by cilium-operator on one node "
                       "(the operator's one replica), saw it on k8s-ctr, k8s-w2",
            "calls": [_replace(ref, "node_shell", [], [cmd(ss_before("k8s-w2") + ss_line("*:9963", "cilium-operator", 3951, 8) + "\n")],
                               node="k8s-w2", command="ss -tlnpH")]},
        "hubble-before-relay-deployed": {
            "breaks": "before the upgrade a hubble-relay Deployment already existed",
            "expect": ["test_before_the_upgrade_hubble_was_off"],
            "message": "before Hubble: expected Hubble Relay disabled (no Deployment hubble-relay in kube-system), "
                       "saw Deployment hubble-relay",
            "calls": [_replace(ref, "k8s_get", [], [value({"apiVersion": "apps/v1", "kind": "Deployment",
                                                           "metadata": {"name": "hubble-relay", "namespace": KS}})],
                               api_version="apps/v1", kind="Deployment", name="hubble-relay", namespace=KS)]},
        "hubble-before-4245-already-open": {
            "breaks": "before the upgrade k8s-w2 already listened on 4245",
            "expect": ["test_before_the_upgrade_hubble_was_off"],
            "message": "before Hubble: expected nothing on 4245",
            "calls": [_replace(ref, "node_shell", [], [cmd(ss_before("k8s-w2") + ss_line("127.0.0.1:4245", "hubble-relay", 6210, 9) + "\n")],
                               node="k8s-w2", command="ss -tlnpH")]},
        "hubble-config-open-metrics-off": {
            "breaks": "cilium-config has enable-hubble-open-metrics false",
            "expect": ["test_the_agent_configuration_turns_hubble_on"],
            "message": "enable-hubble-open-metrics: expected 'true', saw 'false'",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(_cm_with(HUBBLE_CONFIG, **{"enable-hubble-open-metrics": "false"}))],
                               api_version="v1", kind="ConfigMap", name="cilium-config", namespace=KS)]},
        "hubble-secret-relay-client-certs-missing": {
            "breaks": "the hubble-relay-client-certs Secret was not created",
            "expect": ["test_the_chart_created_the_hubble_tls_secrets"],
            "message": "hubble-relay-client-certs: expected type kubernetes.io/tls, absent",
            "calls": [_replace(ref, "k8s_list", HUBBLE, [value([s for s in HUBBLE_SECRETS
                                                                if s["metadata"]["name"] != "hubble-relay-client-certs"])],
                               api_version="v1", kind="Secret", namespace=KS)]},
        "hubble-4244-missing-on-w2": {
            "breaks": "the Hubble server does not listen on k8s-w2",
            "expect": ["test_component_listens_on_port_port[Hubble server (gRPC API)-4244-cilium-agent-every node]"],
            "message": "4244 not listening on k8s-w2",
            "calls": [_replace(ref, "node_shell", HUBBLE, [cmd(ss_after("k8s-w2", drop_port=4244))],
                               node="k8s-w2", command="ss -tlnpH")]},
        "hubble-9962-missing-on-w1": {
            "breaks": "the agent's Prometheus metrics do not listen on k8s-w1",
            "expect": ["test_component_listens_on_port_port[Cilium agent metrics-9962-cilium-agent-every node]"],
            "message": "9962 not listening on k8s-w1",
            "calls": [_replace(ref, "node_shell", HUBBLE, [cmd(ss_after("k8s-w1", drop_port=9962))],
                               node="k8s-w1", command="ss -tlnpH")]},
        "hubble-9965-missing-on-ctr": {
            "breaks": "Hubble metrics do not listen on k8s-ctr",
            "expect": ["test_component_listens_on_port_port[Hubble metrics-9965-cilium-agent-every node]"],
            "message": "9965 not listening on k8s-ctr",
            "calls": [_replace(ref, "node_shell", HUBBLE, [cmd(ss_after("k8s-ctr", drop_port=9965))],
                               node="k8s-ctr", command="ss -tlnpH")]},
        "hubble-operator-metrics-on-two-nodes": {
            "breaks": "cilium-operator metrics listen on two nodes although one operator runs",
            "expect": ["test_component_listens_on_port_port[Cilium operator metrics-9963-cilium-operator-the node running the operator]"],
            "message": "9963 listened on by cilium-operator on k8s-ctr, k8s-w1 (on an address the other nodes reach); "
                       "expected exactly one node",
            "calls": [_replace(ref, "node_shell", HUBBLE, [cmd(ss_after("k8s-w1", operator=True))],
                               node="k8s-w1", command="ss -tlnpH")]},
        "hubble-4244-ipv6-only-on-w1": {
            "breaks": "the Hubble server on k8s-w1 is an IPv6-only socket ([::]:4244): no IPv4 peer reaches it",
            "expect": ["test_component_listens_on_port_port[Hubble server (gRPC API)-4244-cilium-agent-every node]"],
            "message": "4244 not listening on k8s-w1 by cilium-agent on an address other nodes reach "
                       "(192.168.10.101) (saw on 4244: [::]:4244 by cilium-agent)",
            "calls": [_replace(ref, "node_shell", HUBBLE, [cmd(ss_after("k8s-w1", bound={4244: "[::]"}))],
                               node="k8s-w1", command="ss -tlnpH")]},
        "hubble-operator-metrics-loopback-only": {
            "breaks": "cilium-operator serves its metrics on 127.0.0.1:9963 only: Prometheus on another node cannot scrape it",
            "expect": ["test_component_listens_on_port_port[Cilium operator metrics-9963-cilium-operator-the node running the operator]"],
            "message": "9963 listened on by cilium-operator on no node (on an address the other nodes reach); "
                       "expected exactly one node, the node running the operator pod (k8s-ctr) "
                       "(saw on 9963: k8s-ctr: 127.0.0.1:9963 by cilium-operator)",
            "calls": [_replace(ref, "node_shell", HUBBLE, [cmd(ss_after(OPERATOR_NODE, bound={9963: "127.0.0.1"}))],
                               node=OPERATOR_NODE, command="ss -tlnpH")]},
        "hubble-relay-peer-service-port-80": {
            "breaks": "hubble-relay-config points at the peer service on port 80",
            "expect": ["test_hubble_relay_serves_the_clusterwide_flow_api"],
            "message": "peer-service: expected 'hubble-peer.kube-system.svc.cluster.local.:443'",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(configmap("hubble-relay-config", {
                "config.yaml": RELAY_CONFIG.replace("local.:443", "local.:80")}))],
                api_version="v1", kind="ConfigMap", name="hubble-relay-config", namespace=KS)]},
        "hubble-peer-endpoint-missing": {
            "breaks": "hubble-peer has no endpoint for k8s-w1",
            "expect": ["test_hubblepeer_points_at_every_nodes_hubble_server"],
            "message": "missing 192.168.10.101:4244",
            "calls": [_replace(ref, "k8s_list", HUBBLE, [value([peer_slice])],
                               api_version="discovery.k8s.io/v1", kind="EndpointSlice", namespace=KS,
                               label_selector="kubernetes.io/service-name=hubble-peer")]},
        "hubble-ui-backend-wrong-relay-address": {
            "breaks": "the UI backend reads flows from hubble-relay:443",
            "expect": ["test_hubble_ui_is_published_on_nodeport_31234"],
            "message": "expected FLOWS_API_ADDR='hubble-relay:80', saw 'hubble-relay:443'",
            "calls": [_replace(ref, "k8s_get", HUBBLE, [value(workload("Deployment", "hubble-ui", 1, 1, [
                UI_CONTAINERS[0], {**UI_CONTAINERS[1], "env": [{"name": "EVENTS_SERVER_PORT", "value": "8090"},
                                                               {"name": "FLOWS_API_ADDR", "value": "hubble-relay:443"}]}], 1))],
                api_version="apps/v1", kind="Deployment", name="hubble-ui", namespace=KS)]},
        "hubble-ui-page-not-served": {
            "breaks": "NodePort 31234 answers 503 instead of the UI page",
            "expect": ["test_hubble_ui_is_published_on_nodeport_31234"],
            "message": "expected 200, saw 503",
            "calls": [_replace(ref, "http_get", HUBBLE, [{"status": 503, "headers": {}, "body": "no healthy upstream"}],
                               url="http://192.168.10.100:31234/")]},
        "hubble-status-w2-unavailable": {
            "breaks": "Relay never connects to k8s-w2",
            # a stage switch is done only with Relay connected to every node: the redaction
            # and redaction-on scenarios' switch back to the Hubble stage never completes either
            "expect": ["test_hubble_status_through_relay_sees_every_node",
                       "test_hubble_stops_showing_url_queries_once_redaction_is_on",
                       "test_with_redaction_on_hubble_shows_the_url_without_its_query"],
            "message": "expected Connected Nodes 3/3, saw 2/3 (unavailable: k8s-w2)",
            "calls": [_replace(ref, "pod_exec", HUBBLE, [cmd(hubble_status_text(2, 3, ["k8s-w2"]))],
                               namespace=KS, pod=AGENT_PODS["k8s-ctr"], container="cilium-agent", command=status_cmd)]},
    }


