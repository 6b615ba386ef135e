@starwars
Feature: The Star Wars demo: identities, an L3/L4 policy and an L7 policy
  Lab chapter "Star Wars demo" (seed lines 1507-2239).

  Three microservices: the deathstar (an HTTP service on port 80, two replicas behind the
  Service "deathstar"), a tiefighter (org=empire) and an xwing (org=alliance). The student
  deploys them and looks at their labels and security identities:

    kubectl apply -f https://raw.githubusercontent.com/cilium/cilium/1.17.6/examples/minikube/http-sw-app.yaml
    kubectl get pod --show-labels
    kubectl get deploy,svc,ep deathstar
    kubectl get ciliumendpoints.cilium.io -A

  then asks for a landing from each ship, with no policy, under the L3/L4 policy rule1
  (only org=empire may reach the deathstar on TCP/80) and under the L7 version of rule1
  (only POST /v1/request-landing), watching the verdicts with Hubble:

    kubectl exec tiefighter -- curl -s -XPOST deathstar.default.svc.cluster.local/v1/request-landing
    kubectl apply -f https://raw.githubusercontent.com/cilium/cilium/1.17.6/examples/minikube/sw_l3_l4_policy.yaml
    hubble observe -f --type drop
    kubectl apply -f https://raw.githubusercontent.com/cilium/cilium/1.17.6/examples/minikube/sw_l3_l4_l7_policy.yaml
    hubble observe -f --pod deathstar --protocol http

  The suite applies its own copy of these manifests into a namespace of each scenario's
  own, so "default" becomes that namespace and the deathstar is asked for as
  deathstar.<namespace>.svc.cluster.local. Each scenario deploys the demo,
  waits until its pods are Ready, applies the policy it needs and waits until every Cilium
  agent holds that policy and has realised it on every endpoint of the scenario's namespace
  before sending any traffic; deleting
  the namespace at the end deletes the demo and the policy. A request the policy allows is
  asked again, from a new client port, while it gets no answer (on a real lab the ship's
  node may not have programmed the new deathstar Service yet); a request the policy must
  stop is sent once, and its own failure is the verdict. Where the student runs
  `hubble observe` on k8s-ctr through a port-forward, the suite asks Relay through its
  Service from an agent pod (`hubble observe --server <hubble-relay ClusterIP>:80 -o jsonpb
  --namespace <namespace>`) and picks each request's flows by its client port.

  Background:
    Given the lab has Hubble enabled
    And the Star Wars demo is deployed in the scenario's namespace

  @identity
  Scenario: The demo runs: two deathstar replicas behind a Service, and two ships
    What `kubectl get pod --show-labels` and `kubectl get deploy,svc,ep deathstar` show
    (seed 1546-1555): two deathstar pods behind the Service on port 80, and the ships.
    Then the Deployment "deathstar" has 2 ready replicas
    And the Service "deathstar" sends port 80 to the 2 deathstar pods
    And the pods carry these labels:
      | pod        | org      | class      |
      | tiefighter | empire   | tiefighter |
      | xwing      | alliance | xwing      |

  @identity
  Scenario: Pods with the same labels share one security identity
    Cilium gives one identity to one set of security-relevant labels, not to one pod
    (`kubectl get ciliumendpoints.cilium.io -A`, seed 1559-1565: both deathstar pods 15933,
    tiefighter 9225, xwing 7207). Each identity is a cluster-wide CiliumIdentity object named
    by its number; `kubectl get ciliumidentities.cilium.io` (seed 1572-1579) shows its
    NAMESPACE, the namespace label of its pods (the suite asks for the scenario's namespace:
    `kubectl get ciliumidentities -l io.kubernetes.pod.namespace=<namespace>`). Every agent
    also has an endpoint for its own node, the host, with the reserved identity 1: the table
    of seed 1582-1594 lists it on each node (`c0 endpoint list`, i.e. `kubectl exec -n
    kube-system <cilium pod> -c cilium-agent -- cilium-dbg endpoint list`).
    Then both deathstar pods have the same security identity
    And tiefighter and xwing each have an identity of their own, different from the deathstar's
    And `kubectl get ciliumidentities` lists each identity of the demo as a CiliumIdentity of the scenario's namespace
    And on every node the agent's endpoint list has the host endpoint, with identity 1

  @no_policy @policy_status
  Scenario: Without any policy, no endpoint of the demo enforces one
    Before any policy, `cilium-dbg endpoint list` in the agents shows POLICY (ingress)
    ENFORCEMENT and POLICY (egress) ENFORCEMENT Disabled for every endpoint (seed 1614-1618).
    The suite reads the same list in every agent and checks the demo's own four endpoints:
    other scenarios may have a policy in force in their namespaces while this one runs.
    The write-up asks one agent at a time with its aliases c0, c1 and c2 (`kubectl exec -it
    <the cilium pod on k8s-ctr, k8s-w1 or k8s-w2> -n kube-system -c cilium-agent -- cilium`,
    seed 1377-1379):
      c0 endpoint list
    Then no endpoint of the demo enforces policy, ingress or egress

  @no_policy
  Scenario Outline: Without any policy, the <ship> is allowed to land
    No policy selects the deathstar, so every ship may land (seed 1685-1692; the flows of
    seed 1694-1813 show both exchanges forwarded):
      kubectl exec <ship> -- curl -s -XPOST deathstar.default.svc.cluster.local/v1/request-landing
    The landing may be sent again while the lab is still catching up (the ship's node has no
    backend for the Service yet: curl says "No route to host"). Every attempt counts: one
    that reaches a deathstar pod and is refused or answered with a 5xx fails the scenario,
    naming that pod and its node, even if a later attempt lands.
    When the <ship> requests a landing
    Then the deathstar answers "Ship landed"

    Examples:
      | ship       |
      | tiefighter |
      | xwing      |

  @no_policy
  Scenario: Each deathstar replica lands a ship and blows up at its exhaust port
    The Service hides which replica answers: a broken replica stays behind it (the deathstar
    has no readiness probe) and gets its share of the landings. So each deathstar pod is
    asked on its own IP, the endpoints `kubectl get deploy,svc,ep deathstar` lists (seed
    1555: 172.20.1.167:80 and 172.20.2.219:80), with the requests of seed 1690 and 2020
    sent beyond the write-up, which sends them only to the Service's name:
      kubectl exec tiefighter -- curl -s -XPOST 172.20.1.167/v1/request-landing
      kubectl exec tiefighter -- curl -s -XPUT 172.20.1.167/v1/exhaust-port
    and the same for the other pod. Each must answer, each time.
    When the tiefighter requests a landing from each deathstar pod directly
    Then every deathstar pod answers "Ship landed"
    When the tiefighter sends PUT /v1/exhaust-port to each deathstar pod directly
    Then every deathstar pod answers "Panic: deathstar exploded"

  @l3l4
  Scenario: The L3/L4 rule1 is accepted and enforced on the deathstar endpoints only
    `kubectl get cnp` shows rule1 VALID True (seed 1862-1915); in `cilium-dbg endpoint list`
    on the workers the two deathstar endpoints show POLICY (ingress) ENFORCEMENT Enabled and
    every other endpoint Disabled (seed 1955-2004). The suite reads the same list in every
    agent and checks the demo's own four endpoints (other scenarios may have a policy in
    force in their namespaces while this one runs).
    Given the L3/L4 policy rule1 is in force
    Then the policy "rule1" reports Valid
    And the deathstar endpoints enforce ingress policy and no egress policy
    And the tiefighter and xwing endpoints enforce no policy

  @l3l4 @flows
  Scenario: Under the L3/L4 rule1, the xwing's landing request is dropped
    The xwing is not org=empire: its packets never reach the deathstar and curl gives up
    (`command terminated with exit code 28`, seed 1923-1924); `hubble observe --type drop`
    shows them dropped with "Policy denied".
    The seed prints no drop flow: the DROPPED flow with reason POLICY_DENIED is upstream's
    (Cilium docs, observability/hubble/hubble-cli.rst, "Policy denied DROPPED").
    Given the L3/L4 policy rule1 is in force
    When the xwing requests a landing
    Then the request times out
    And Hubble shows that request DROPPED with drop reason POLICY_DENIED

  @l3l4
  Scenario: Under the L3/L4 rule1, the tiefighter still lands
    The tiefighter is org=empire (seed 1926-1935):
      kubectl exec tiefighter -- curl -s -XPOST deathstar.default.svc.cluster.local/v1/request-landing
    Every attempt counts: one that times out and that `hubble observe --type drop` shows
    dropped with "Policy denied" fails the scenario, even if a later attempt lands.
    Given the L3/L4 policy rule1 is in force
    When the tiefighter requests a landing
    Then the deathstar answers "Ship landed"

  @l7
  Scenario: Before any L7 rule, an empire ship can hit the exhaust port
    At L3/L4 the tiefighter may send anything to port 80, even a maintenance call
    (seed 2013-2030):
      kubectl exec tiefighter -- curl -s -XPUT deathstar.default.svc.cluster.local/v1/exhaust-port
    Given the L3/L4 policy rule1 is in force
    When the tiefighter sends PUT /v1/exhaust-port
    Then the deathstar answers "Panic: deathstar exploded"

  @l7 @flows
  Scenario: Hubble sees the exhaust-port PUT at L3/L4 only, until rule1 gains its HTTP rule
    Under the L3/L4 rule1 Hubble has nothing above TCP to show: the PUT that blows up the
    deathstar appears only as TCP flows between the tiefighter and a deathstar pod
    (seed 2016-2041, `hubble observe -f --protocol tcp --from-identity $DEATHSTARID`: packet
    flows with their TCP flags, and the socket's pre-xlate-rev TRACED events), and no flow
    names its method or URL ("L3/L4: only IP:80 connections", seed 2897-2903). The suite
    waits for the request's L3/L4 flows and then finds no L7 flow among its flows.
    Once rule1 has its HTTP rule the same request goes through Envoy and Hubble shows it as
    an http-request with its method, its URL and the proxy's verdict:
      hubble observe -f --protocol tcp --from-identity $DEATHSTARID
      kubectl exec tiefighter -- curl -s -XPUT deathstar.default.svc.cluster.local/v1/exhaust-port
      kubectl apply -f https://raw.githubusercontent.com/cilium/cilium/1.17.6/examples/minikube/sw_l3_l4_l7_policy.yaml
      hubble observe -f --pod deathstar --protocol http
    The suite asks for `--protocol tcp` with the scenario's namespace instead of the
    deathstar's identity; that filter also lets L7 flows through (Hubble matches a flow's
    L4 layer, which HTTP flows carry), so an http-request would show if there were one.
    Given the L3/L4 policy rule1 is in force
    When the tiefighter sends PUT /v1/exhaust-port
    Then the deathstar answers "Panic: deathstar exploded"
    And Hubble shows that request in L3/L4 TCP flows and in no L7 flow such as an http-request
    When rule1 is updated to the L7 policy
    And the tiefighter sends PUT /v1/exhaust-port
    Then Hubble shows that request as an http-request PUT of its URL, DROPPED

  @l7 @policy_status
  Scenario: The L7 rule1 is accepted, and every agent holds it with ingress default-deny only
    After the update `kubectl get cnp` shows rule1 VALID True again (seed 2088-2093), and
    the agent's own view of the rule (seed 2129-2157, `c0 policy get`, i.e.
    `kubectl exec -n kube-system ds/cilium -c cilium-agent -- cilium-dbg policy get`) holds
    the HTTP rule and "enableDefaultDeny": {"ingress": true, "egress": false}: the deathstar
    denies whatever ingress is not allowed, and its egress stays open. The suite asks every
    agent, with the policy's labels as selector, so it reads rule1 of its own namespace.
    `kubectl describe cnp rule1` (seed 2097-2124) shows the rule as written: the endpoint
    selector class=deathstar, org=empire and the ingress from org=empire, without a
    namespace. A CiliumNetworkPolicy is namespaced, so the agent adds the namespace to
    every selector: in `cilium-dbg policy get` (seed 2131-2142) both read
    "k8s:io.kubernetes.pod.namespace": "default" (the scenario's namespace here), next to
    the written labels, which become `any:class` and `any:org`.
    Given the L3/L4 policy rule1 is in force
    And rule1 is updated to the L7 policy
    Then the policy "rule1" reports Valid
    And every agent holds rule1 with the HTTP rule POST /v1/request-landing, ingress default-deny on and egress default-deny off
    And `kubectl describe cnp rule1` shows selectors without a namespace, to which every agent adds the scenario's namespace

  @l7 @flows
  Scenario: Under the L7 rule1, landing is still allowed and Hubble sees the HTTP exchange
    rule1 is updated in place with an HTTP rule (seed 2046-2095); the landing still works
    (seed 2161-2163) and `hubble observe --pod deathstar --protocol http` shows the request
    and the 200 response (seed 2197-2208).
    Given the L3/L4 policy rule1 is in force
    And rule1 is updated to the L7 policy
    When the tiefighter requests a landing
    Then the deathstar answers "Ship landed" with HTTP 200
    And Hubble shows that request as an http-request FORWARDED and an http-response 200 FORWARDED

  @l7 @flows
  Scenario: Under the L7 rule1, the exhaust port is denied by the proxy
    Only POST /v1/request-landing is allowed now; Envoy answers anything else itself with
    403 "Access denied", and Hubble shows the request dropped.
    The seed does not print this answer: 403 "Access denied" is upstream's (Cilium docs,
    gettingstarted/demo.rst, and Envoy's cilium.l7policy filter).
    Given the L3/L4 policy rule1 is in force
    And rule1 is updated to the L7 policy
    When the tiefighter sends PUT /v1/exhaust-port
    Then the answer is HTTP 403 "Access denied"
    And Hubble shows that request as an http-request DROPPED

  @l7
  Scenario: Under the L7 rule1, the xwing is still blocked
    The L7 rule sits on top of the same L3/L4 selection: the xwing still cannot connect.
    Given the L3/L4 policy rule1 is in force
    And rule1 is updated to the L7 policy
    When the xwing requests a landing
    Then the request times out

  @l7 @policy_status
  Scenario: Deleting rule1 leaves no policy behind
    The cleanup (seed 2185-2192): after `kubectl delete cnp rule1`, `kubectl get cnp`
    answers "No resources found in default namespace." The suite also asks every agent for
    rule1, which none may still hold.
      kubectl delete cnp rule1
      kubectl get cnp
    Given the L3/L4 policy rule1 is in force
    And rule1 is updated to the L7 policy
    When rule1 is deleted
    Then `kubectl get cnp` lists no CiliumNetworkPolicy in the scenario's namespace
    And no agent holds rule1 any more
