@l7_visibility
Feature: L7 visibility through Envoy
  Lab chapter "Layer 7 protocol visibility" (seed lines 2398-2533 and 2740-2904).

  Without a policy, Hubble sees pod traffic at L3/L4 only: addresses, ports, TCP flags.
  A CiliumNetworkPolicy with L7 rules changes that: the traffic it selects goes through
  Cilium's proxies (the agent's DNS proxy for DNS, Envoy for HTTP), and every DNS query
  and answer, every HTTP request and response becomes a Hubble flow. The same policy also
  makes egress default-deny for the pods it selects.

  The student first deploys a sample application and a client (seed 2406-2470):
    webpod   - traefik/whoami, 2 replicas, Service webpod on port 80; whoami answers with
               its hostname and echoes the request it received, headers included
    curl-pod - nicolaka/netshoot on the control-plane node k8s-ctr
  and checks that both replicas answer (seed 2479-2531):
    kubectl exec -it curl-pod -- curl webpod | grep Hostname
  Then the policy l7-visibility is applied (seed 2758-2786): DNS on port 53 with
  `dns: [{matchPattern: "*"}]`, HTTP on ports 80 and 8080 to the pods of the namespace
  with `http: [{}]`, and the student looks again:
    kubectl exec -it curl-pod -- curl -s webpod
    hubble observe -f -t l7 -o compact

  The suite applies its own copies of these manifests into a namespace of each
  scenario's own, so the policy selects the pods of that namespace where the seed's
  selected those of `default`. Where the student runs `hubble observe -f -t l7` on
  k8s-ctr, the suite asks Relay through its Service from an agent pod (`hubble observe
  --server <hubble-relay ClusterIP>:80 -o jsonpb --namespace <namespace>`) and picks each
  request's flows by its marker and client port. The marker rides in the URL's query: where
  a sentence says curl-pod requests "http://webpod/", the suite's curl asks for
  `http://webpod/?cilab=<marker>`, and its flows show that URL, query included.

  Background:
    Given the lab has Hubble enabled
    And webpod and curl-pod are running in my namespace

  Scenario: Both webpod replicas answer curl-pod
    The Service spreads requests over the two replicas, one on each worker in the lab;
    whoami's first line names the pod that answered. The seed loops on
      kubectl exec -it curl-pod -- sh -c 'while true; do curl -s webpod | grep Hostname; sleep 1; done'
    and sees both webpod-697b545f57-b2xst and webpod-697b545f57-ntmqj answer.
    The seed's Deployment asks for pod anti-affinity against `app=sample-app` (seed 2421-2430),
    a label no pod carries, so the term keeps nothing apart: there the scheduler's own
    spreading put one replica on each worker. The suite's manifest
    (fixtures/manifests/webpod/webpod.yaml) fixes that, its term selects `app=webpod`, the
    replicas themselves, so they always run on different nodes.
    When curl-pod requests "http://webpod/" until both webpod pods have answered
    Then every answer came from a webpod pod and both pods answered
    And the webpod pods run on different nodes
    And whoami echoes none of the Envoy headers

  @envoy
  Scenario: With the l7-visibility policy, requests go through Envoy
    The policy is accepted: its status says Valid, "Policy validation succeeded" (seed
    2806-2814). Envoy proxies the HTTP the policy selects and adds its own headers to the
    request, which whoami echoes back (seed 2842-2849):
      kubectl get cnp -o yaml
      kubectl exec -it curl-pod -- curl -s webpod
    Given the l7-visibility policy is in place
    Then the policy "l7-visibility" reports Valid
    When curl-pod requests "http://webpod/"
    Then the answer is HTTP 200 from a webpod pod
    And whoami echoes these headers added by Envoy:
      | header                         | value     |
      | X-Envoy-Expected-Rq-Timeout-Ms | 3600000   |
      | X-Envoy-Internal               | true      |
      | X-Forwarded-Proto              | http      |
      | X-Request-Id                   | (a UUID)  |

  @envoy
  Scenario: With the l7-visibility policy, each webpod replica answers through Envoy
    Under the policy every request to webpod goes through Envoy, whichever replica the
    Service picks. A replica Envoy cannot reach would spoil every other request, so the
    student's loop (seed 2479-2531) is run again under the policy, and each replica's answer
    must carry Envoy's headers (seed 2842-2849). Beyond the write-up, whose loop keeps only
    the Hostname line (`| grep Hostname`), the whole answer is read, headers included:
      kubectl exec -it curl-pod -- sh -c 'while true; do curl -s webpod; sleep 1; done'
    Every request counts: one that Envoy answers itself with "upstream connect error" fails
    the scenario, naming the webpod pod Envoy could not reach and its node.
    Given the l7-visibility policy is in place
    When curl-pod requests "http://webpod/" until both webpod pods have answered
    Then every answer came from a webpod pod and both pods answered
    And whoami echoes these headers added by Envoy:
      | header                         | value     |
      | X-Envoy-Expected-Rq-Timeout-Ms | 3600000   |
      | X-Envoy-Internal               | true      |
      | X-Forwarded-Proto              | http      |
      | X-Request-Id                   | (a UUID)  |

  @dns @flows
  Scenario: Hubble shows curl-pod's DNS lookup of webpod through the DNS proxy
    curl-pod resolves the short name webpod through its search list, so the query is
    webpod.<namespace>.svc.cluster.local.; the DNS proxy reports it (seed 2854-2862):
      hubble observe -f -t l7 -o compact
      ... dns-request proxy FORWARDED (DNS Query webpod.default.svc.cluster.local. A)
      ... dns-response proxy FORWARDED (DNS Answer "10.96.166.184" TTL: 30)
    The answer lives 30 seconds: `TTL: 30` is the `ttl 30` of the kubernetes block in
    kubeadm's Corefile (the coredns ConfigMap, which the write-up does not print); a cache on
    the way serves the same answer with what is left of it. The resolver also asks for the
    IPv6 address, AAAA (seed 2951-2953):
      ... dns-request proxy FORWARDED (DNS Query webpod.default.svc.cluster.local. AAAA)
      ... dns-response proxy FORWARDED (DNS Answer  TTL: 4294967295 (Proxy webpod.default.svc.cluster.local. AAAA))
    and gets no address back: the lab's Services have IPv4 addresses only.
    Given the l7-visibility policy is in place
    When curl-pod requests "http://webpod/"
    Then Hubble shows a dns-request from curl-pod for the A record of webpod, observed by the proxy, FORWARDED
    And Hubble shows a dns-response to curl-pod with the ClusterIP of Service webpod, observed by the proxy, FORWARDED
    And that answer carries the TTL CoreDNS gives the cluster's names, 30 seconds, or less while a cache counts it down
    And curl-pod also asks for the AAAA record of webpod, answered with the Service's IPv6 addresses: none, the Service is IPv4 only

  @envoy @flows
  Scenario: Hubble shows the HTTP request and response of one request
    Envoy reports the request and its response (seed 2864-2872):
      ... default/curl-pod:52252 -> default/webpod-...:80 http-request FORWARDED (HTTP/1.1 GET http://webpod/)
      ... default/curl-pod:52252 <- default/webpod-...:80 http-response FORWARDED (HTTP/1.1 200 4ms)
    The suite's request carries its marker, so its http-request reads
    `GET http://webpod/?cilab=<marker>`: the step checks that URL, exactly as sent.
    Given the l7-visibility policy is in place
    When curl-pod requests "http://webpod/"
    Then Hubble shows the http-request of the request, GET from curl-pod to a webpod pod, FORWARDED
    And Hubble shows the http-response of the request with code 200, FORWARDED

  @flows
  Scenario: Egress the policy does not list is dropped
    The policy allows DNS and HTTP to the pods of its namespace, nothing else: Cilium
    policies are default-deny once a pod is selected (seed 2757 and 2891, "Zero Trust"). The
    Kubernetes API is inside the cluster but not listed, so curl-pod's connection to it
    is dropped and curl gives up (exit 28). Beyond the write-up, which never asks for it:
      kubectl exec curl-pod -- curl -sk https://kubernetes.default.svc.cluster.local/version
    and, as the Star Wars chapter types it:
      hubble observe -f --type drop
    The seed states the rule but prints no such drop: the dropped request is upstream's
    behaviour (Cilium docs, security/policy "Policy Enforcement Modes": a pod selected by
    an egress rule denies all other egress).
    Given the l7-visibility policy is in place
    When curl-pod tries "https://kubernetes.default.svc.cluster.local/version"
    Then the request times out without an answer
    And Hubble shows the request's packets from curl-pod DROPPED with reason "POLICY_DENIED"
