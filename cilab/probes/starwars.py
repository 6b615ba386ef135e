"""The Star Wars demo (seed lines 1507-2239) in a scenario's own namespace.

The project's manifests (fixtures/manifests/starwars/) are applied into the namespace;
the ships talk to the deathstar by its namespace-qualified Service name, from their
`spaceship` container, with curl (cilab.probes.traffic: a start line with the ship's clock
and address, pinned client port, --connect-timeout 2 as the seed, bounded by --max-time).  Requests carry no marker in the URL: the L7 rule1 allows exactly the path
`/v1/request-landing`, and Envoy matches that rule against the whole `:path`, query
included, so a marker there would turn an allowed request into a denied one.  Their
flows are told apart by the pinned client port (cilab.probes.flows.of_request).
"""
from __future__ import annotations

from typing import Any

from cilab import manifests
from cilab.lab import Lab
from cilab.probes import attempt_flows, k8s, traffic

APP = "starwars/app.yaml"
L3_L4_POLICY = "starwars/l3_l4_policy.yaml"
L7_POLICY = "starwars/l7_policy.yaml"
POLICY_NAME = "rule1"
SHIP_CONTAINER = "spaceship"
SHIPS = ("tiefighter", "xwing")
DEATHSTAR = "deathstar"  # the Service (and Deployment) name
DEATHSTAR_SELECTOR = "org=empire,class=deathstar"
DEATHSTAR_REPLICAS = 2
LANDING = ("POST", "/v1/request-landing")
EXHAUST_PORT = ("PUT", "/v1/exhaust-port")


def deathstar_url(namespace: str, path: str) -> str:
    return f"http://deathstar.{namespace}.svc.cluster.local{path}"


def deploy(lab: Lab, namespace: str) -> None:
    manifests.apply(lab, APP, namespace)


def apply_policy(lab: Lab, namespace: str, relpath: str) -> None:
    manifests.apply(lab, relpath, namespace)


def pods(lab: Lab, namespace: str) -> list[dict[str, Any]]:
    return lab.list("v1", "Pod", namespace)


pod_ready = k8s.pod_ready


def is_deathstar(pod: dict[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get("org") == "empire" and labels.get("class") == "deathstar"


def demo_pods_state(pods_list: list[dict[str, Any]]) -> tuple[bool, str]:
    """Are the two deathstar pods and both ships Running and Ready? (ok, what was seen)"""
    by_name = {p["metadata"]["name"]: p for p in pods_list}
    deathstars = [p for p in pods_list if is_deathstar(p)]
    seen = ", ".join(f"{name} {(p.get('status') or {}).get('phase', '?')}"
                     f"{' Ready' if pod_ready(p) else ' not Ready'}" for name, p in sorted(by_name.items()))
    ok = (len(deathstars) == DEATHSTAR_REPLICAS and all(pod_ready(p) for p in deathstars)
          and all(s in by_name and pod_ready(by_name[s]) for s in SHIPS))
    return ok, seen or "no pods"


def wait_ready(lab: Lab, namespace: str) -> list[dict[str, Any]]:
    """Wait (budget "rollout") until both deathstar pods and both ships are Ready and the
    deathstar Service's endpoints are exactly the deathstar pods: a request sent before
    that may reach no backend (or one only) and prove nothing."""
    def check() -> list[dict[str, Any]]:
        found = pods(lab, namespace)
        ok, seen = demo_pods_state(found)
        assert ok, (f"expected {DEATHSTAR_REPLICAS} deathstar pods, tiefighter and xwing Running and "
                    f"Ready in {namespace}; saw {seen}")
        k8s.check_endpoints_are(lab, namespace, DEATHSTAR, [p for p in found if is_deathstar(p)], "deathstar")
        return found
    return lab.eventually(check, what=f"the Star Wars demo Ready in {namespace}", budget="rollout")


def send(lab: Lab, namespace: str, ship: str, method: str, path: str,
         max_time: int = 5) -> traffic.Response:
    """`kubectl exec <ship> -- curl -X <method> deathstar.<ns>.svc.cluster.local<path>`, once:
    how a request the policy must deny is sent (after the policy is realised)."""
    req = traffic.new_request(lab, namespace, ship, method, deathstar_url(namespace, path),
                              marker_param=None)
    return traffic.send(lab, req, container=SHIP_CONTAINER, max_time=max_time)


def allowed(ship: str, method: str, path: str, policy: str | None) -> bool:
    """Whether the demo's policy lets `ship` make this request: with no rule1 every ship may
    (seed 1685-1692); the L3/L4 rule1 lets only org=empire (the tiefighter) reach port 80
    (seed 1926-1935); the L7 rule1 lets the tiefighter POST /v1/request-landing only
    (seed 2161-2163; its PUT /v1/exhaust-port gets 403 Access denied).  `policy`: None,
    "l3l4" or "l7"."""
    if policy is None:
        return True
    if ship != "tiefighter":
        return False
    return policy == "l3l4" or (method, path) == LANDING


def deathstar_nodes(pods_list: list[dict[str, Any]]) -> dict[str, str | None]:
    """Deathstar pod name -> its node, from the pod list `wait_ready` read."""
    return {p["metadata"]["name"]: k8s.pod_node(p) for p in pods_list if is_deathstar(p)}


def send_allowed(lab: Lab, namespace: str, ship: str, method: str, path: str,
                 max_time: int = 5, nodes: dict[str, str | None] | None = None) -> traffic.Response:
    """A request the policy allows (`allowed`), sent after the deathstar's endpoints are its
    pods (`wait_ready`) and the policy is realised, each attempt judged
    (`traffic.send_positive`): lag is waited out (a client's node may not have the
    Service's backends programmed yet: Cilium's socket LB then refuses the connect,
    EHOSTUNREACH, bpf/bpf_sock.c; Envoy with no upstream yet under the L7 rule1); an attempt
    that reached a deathstar pod and failed fails the request, naming the pod and its node
    (`nodes`, from its flows); a timed-out attempt that its own flows show DROPPED by policy
    fails it too.  The exhaust port's 503 panic is its real answer.  The last response is
    returned for the Then step to judge."""
    judges = attempt_flows.judges(lab, nodes) if nodes is not None else {}
    return traffic.send_positive(lab, namespace, ship, method, deathstar_url(namespace, path),
                                 marker_param=None, container=SHIP_CONTAINER, max_time=max_time,
                                 keep_last=True, app_5xx_is_answer=(method, path) == EXHAUST_PORT, **judges)


def request(lab: Lab, namespace: str, ship: str, method: str, path: str, policy: str | None,
            max_time: int = 5, nodes: dict[str, str | None] | None = None) -> traffic.Response:
    """A request of the demo as the policy in force (`policy`: None, "l3l4", "l7") treats it:
    one it allows is made again while the lab lags, every attempt judged (`send_allowed`);
    one it must deny is sent once, after the policy is realised (`send`): its verdict is
    that single request's."""
    if allowed(ship, method, path, policy):
        return send_allowed(lab, namespace, ship, method, path, max_time=max_time, nodes=nodes)
    return send(lab, namespace, ship, method, path, max_time=max_time)


def pod_url(pod: dict[str, Any], path: str) -> str:
    """The URL of `path` on one deathstar pod's own IP (no Service in between)."""
    ip = (pod.get("status") or {}).get("podIP")
    assert ip, f"Pod {pod['metadata']['name']} has no pod IP"
    return f"http://{ip}{path}"


def send_to_pod(lab: Lab, namespace: str, ship: str, method: str, path: str, pod: dict[str, Any],
                max_time: int = 5) -> traffic.Response:
    """`kubectl exec <ship> -- curl -X <method> <pod IP><path>`: a request to one deathstar
    pod directly, with no policy in force, sent once the pod is Ready (`wait_ready`).  Every
    attempt is judged (`traffic.send_positive`, `via_service` False: with no Service in the
    way nothing is lag but a name or a proxy not ready yet, and neither applies to a pod IP);
    an attempt that failed names this pod and its node.  The last response is returned for
    the Then step to judge (the exhaust port's 503 panic is its answer)."""
    name, node = pod["metadata"]["name"], k8s.pod_node(pod)
    return traffic.send_positive(lab, namespace, ship, method, pod_url(pod, path), marker_param=None,
                                 container=SHIP_CONTAINER, max_time=max_time, keep_last=True,
                                 app_5xx_is_answer=(method, path) == EXHAUST_PORT, via_service=False,
                                 backend_of=lambda resp: f"{name} on {node or 'an unknown node'}",
                                 policy_drop_of=lambda resp: attempt_flows.policy_drop_of(lab, resp))


def endpoints_identities(lab: Lab, namespace: str) -> dict[str, int | None]:
    """Pod name -> security identity, from the CiliumEndpoints of the namespace
    (`kubectl get ciliumendpoints.cilium.io -n <ns>`: status.identity.id)."""
    out: dict[str, int | None] = {}
    for cep in lab.list("cilium.io/v2", "CiliumEndpoint", namespace):
        ident = ((cep.get("status") or {}).get("identity") or {}).get("id")
        out[cep["metadata"]["name"]] = int(ident) if ident is not None else None
    return out


#: the label a CiliumIdentity carries for its pods' namespace (the NAMESPACE column of
#: `kubectl get ciliumidentities`: jsonPath .metadata.labels.io\.kubernetes\.pod\.namespace
#: of the 1.17 CRD; security-labels holds it as k8s:io.kubernetes.pod.namespace)
IDENTITY_NS_LABEL = "io.kubernetes.pod.namespace"


def ciliumidentities(lab: Lab, namespace: str) -> list[dict[str, Any]]:
    """The CiliumIdentity objects of one namespace's pods
    (`kubectl get ciliumidentities -l io.kubernetes.pod.namespace=<ns>`; cluster-scoped,
    named by the identity number)."""
    # the list is cluster-wide; its answer belongs to the namespace's state (scope), as the
    # namespace's pods make those identities
    return lab.call("k8s_list", scope=namespace, typed=f"kubectl get ciliumidentities -l {IDENTITY_NS_LABEL}={namespace}",
                    api_version="cilium.io/v2", kind="CiliumIdentity", namespace=None,
                    label_selector=f"{IDENTITY_NS_LABEL}={namespace}", field_selector=None)


def describe_response(resp: traffic.Response) -> str:
    return traffic.describe_outcome(resp)
