@metrics
Feature: Prometheus and Grafana collect Cilium and Hubble metrics
  Lab chapter "Prometheus & Grafana" (seed lines 2534-2739).

  Four metrics servers matter here. The operator's (9963, on the one node running the
  single operator replica) and Envoy's (9964, on every node) were already open before
  Hubble was enabled (seed 992, 995; the Hubble chapter's "Before the upgrade, Hubble was
  off" checks it); the Hubble upgrade added the agent's (9962,
  prometheus.enabled) and Hubble's (9965, hubble.metrics.enabled="{dns,drop,tcp,flow,
  port-distribution,icmp,httpV2:exemplars=true;labelsContext=source_ip,source_namespace,
  source_workload,destination_ip,destination_namespace,destination_workload,
  traffic_direction}", seed 1024). The student then deploys Cilium's example monitoring
  stack and publishes it on NodePorts:

    kubectl apply -f https://raw.githubusercontent.com/cilium/cilium/1.17.6/examples/kubernetes/addons/prometheus/monitoring-example.yaml
    kubectl get deploy,pod,svc,ep -n cilium-monitoring
    kubectl patch svc -n cilium-monitoring prometheus -p '{"spec": {"type": "NodePort", "ports": [{"port": 9090, "targetPort": 9090, "nodePort": 30001}]}}'
    kubectl patch svc -n cilium-monitoring grafana -p '{"spec": {"type": "NodePort", "ports": [{"port": 3000, "targetPort": 3000, "nodePort": 30002}]}}'

  and opens Prometheus on http://192.168.10.100:30001 (Status > Targets, a query for
  hubble_drop_total) and Grafana on http://192.168.10.100:30002 (the Cilium Metrics,
  Operator, Hubble and Hubble L7 HTTP dashboards). The suite runs the same kubectl
  commands on the control-plane node once per run, then asks the same questions through
  the Prometheus and Grafana HTTP APIs.

  Background:
    Given the lab has Hubble enabled
    And Cilium's monitoring example is deployed in "cilium-monitoring" and published on NodePorts

  @prometheus
  Scenario: The example keeps its settings in ConfigMaps, and Prometheus scrapes every 10 s
    `kubectl get cm -n cilium-monitoring` (seed 2582-2587) lists the ConfigMaps the example
    brings: grafana-config (Grafana's settings, its Prometheus data source and where it finds
    its dashboards), one ConfigMap per dashboard, and prometheus (what Prometheus scrapes).
    The write-up shows four of them; the 1.17.6 example also has
    grafana-cilium-operator-dashboard and grafana-hubble-l7-http-metrics-by-workload, and
    every namespace has kube-root-ca.crt, so the suite checks that the write-up's four are
    there among the others. `kc describe cm -n cilium-monitoring prometheus` (seed 2548)
    shows prometheus.yaml. The write-up's summary says Prometheus scrapes every 15 s
    (seed 2592), the interval of the sample configuration Prometheus ships; the 1.17.6 example sets
    `global: scrape_interval: 10s` in that file (upstream
    examples/kubernetes/addons/prometheus/files/prometheus/prometheus.yaml; the write-up
    does not print it), and the suite checks the value the example sets.
    When I list the ConfigMaps in "cilium-monitoring"
    Then they include grafana-cilium-dashboard, grafana-config, grafana-hubble-dashboard and prometheus
    And the prometheus ConfigMap's prometheus.yaml scrapes every 10s

  @prometheus
  Scenario: Prometheus runs and is published on NodePort 30001
    Then the Deployment "prometheus" in "cilium-monitoring" is ready
    And the Service "prometheus" in "cilium-monitoring" is a NodePort on 30001 to pod port 9090
    And Prometheus on NodePort 30001 answers /-/ready with "Prometheus Server is Ready."

  @grafana
  Scenario: Grafana runs and is published on NodePort 30002
    Then the Deployment "grafana" in "cilium-monitoring" is ready
    And the Service "grafana" in "cilium-monitoring" is a NodePort on 30002 to pod port 3000
    And Grafana on NodePort 30002 answers /api/health with database "ok"

  @prometheus
  Scenario Outline: Prometheus scrapes <component>
    Status > Targets in the Prometheus UI: the agents and the operator are found through
    their pod annotations, Hubble through the hubble-metrics Service. The operator runs
    one replica, so it is scraped on one node only (seed: ss -tnlp | grep -E '9962|9963|9965').
    The suite reads the active targets (`/api/v1/targets`): their address, port and health,
    not how Prometheus discovered them.
    Then Prometheus has an active target on port <port> <where>

    Examples:
      | component                   | port | where                                          |
      | the Cilium agent metrics    | 9962 | of every node, and each is up                  |
      | the Hubble metrics          | 9965 | of every node, and each is up                  |
      | the Cilium operator metrics | 9963 | exactly once, on the operator's node, and up   |

  @prometheus
  Scenario: Prometheus stores the flows Hubble processed
    Every agent runs a Hubble observer, and Prometheus scrapes the Hubble metrics of each
    node (9965 on every node, seed 2683-2695), so each node's instance counts the flows
    it processed. In the Prometheus UI:
      sum by (instance) (hubble_flows_processed_total)
    Then the Prometheus query "sum by (instance) (hubble_flows_processed_total)" returns a positive count from the Hubble metrics of every node

  @hubble_metrics
  Scenario Outline: The <component> metrics on port <port> are named <prefix>...
    "Cilium metrics are exported under the cilium_ Prometheus namespace. Envoy metrics are
    exported under the envoy_ Prometheus namespace" (seed 2736-2737). Envoy's port 9964 was
    open before Hubble already (seed 992, checked in the Hubble chapter). Beyond the
    write-up, which reads the metrics only through Prometheus and Grafana:
      curl -s http://192.168.10.100:<port>/metrics
    Besides its own metrics, the agent also serves the Go runtime's (go_...) and those of
    the Kubernetes client libraries it uses; the suite checks that the agent's and Envoy's
    own families carry the prefix and that no Hubble (hubble_) metric is served there.
    Then port <port> of every node serves metrics named <prefix>..., among them <example>, and none named hubble_...

    Examples:
      | component    | port | prefix  | example               |
      | Cilium agent | 9962 | cilium_ | cilium_endpoint_state |
      | Envoy        | 9964 | envoy_  | envoy_server_live     |

  @hubble_metrics
  Scenario: Every Hubble metric family the lab enables rises on curl-pod's node while curl-pod sends its traffic
    The Hubble upgrade enabled seven metric families (seed 1024): dns, drop, tcp, flow,
    port-distribution, icmp and httpV2. Under the l7-visibility policy of the L7 chapter
    (seed 2758-2786) curl-pod's lookup of webpod goes through the DNS proxy, its request
    through Envoy, and a ping to webpod, which the policy does not allow, is dropped: the
    agent of curl-pod's node (k8s-ctr) counts on 9965. Only the httpV2 row is tied to this
    scenario (its source_namespace label is the scenario's namespace); the other rows are
    node-wide counters on k8s-ctr, which CoreDNS health checks and other scenarios' pods
    raise too: their rise shows each family is counted on that node, not that it was
    curl-pod's packet.
      kubectl exec curl-pod -- curl -s webpod
    and beyond the write-up, which neither pings nor reads the metrics port by hand:
      kubectl exec curl-pod -- ping -c 1 -W 2 <the webpod's IP>
      curl -s http://192.168.10.100:9965/metrics | grep -E '^hubble_'
    The seed prints no metric line: names and label values are upstream's (Cilium's
    metric handlers, cilium/cilium pkg/hubble/metrics/<family>/handler.go, and
    Documentation/observability/metrics.rst).
    Given curl-pod and webpod are running in the scenario's namespace
    And the policy "l7-visibility" is applied and realised
    And I note the Hubble metrics of curl-pod's node
    When curl-pod sends a marked request to the webpod Service
    Then a webpod answers it with HTTP 200
    When curl-pod pings the webpod that answered
    Then the ping gets no reply
    And on curl-pod's node these Hubble metrics rose:
      | family            | metric                         | labels                                                   |
      | dns               | hubble_dns_queries_total       | rcode="", qtypes="A"                                     |
      | dns               | hubble_dns_responses_total     | rcode="No Error", qtypes="A"                             |
      | drop              | hubble_drop_total              | protocol="ICMPv4", reason="POLICY_DENIED"                |
      | tcp               | hubble_tcp_flags_total         | family="IPv4", flag="SYN"                                |
      | flow              | hubble_flows_processed_total   | type="L7", subtype="HTTP"                                |
      | port-distribution | hubble_port_distribution_total | protocol="TCP", port="80"                                |
      | icmp              | hubble_icmp_total              | family="IPv4", type="EchoRequest"                        |
      | httpV2            | hubble_http_requests_total     | method="GET", reporter="client", source_namespace=(ours) |
    And those are all the families cilium-config enables in hubble-metrics

  @prometheus @flows
  Scenario: A request denied by policy is counted in hubble_drop_total
    The seed's example query in Prometheus is hubble_drop_total. Here a policy lets only
    labelled clients reach webpod, so curl-pod's request is dropped with POLICY_DENIED.
    Given curl-pod and webpod are running in the scenario's namespace
    And the policy "webpod-deny-curl" is applied and realised
    And I note hubble_drop_total{reason="POLICY_DENIED"} on every node
    When curl-pod sends a marked request to the webpod Service, which the policy denies
    Then curl-pod's request times out
    And Hubble shows the request's packets DROPPED with reason POLICY_DENIED
    And hubble_drop_total{reason="POLICY_DENIED"} rose by at least those drops on the node that dropped them
    And Prometheus reports at least that hubble_drop_total{reason="POLICY_DENIED"} for that node

  @prometheus
  Scenario: HTTP requests are counted per workload by httpV2 with the labels context
    The Hubble L7 HTTP Metrics by Workload dashboard reads hubble_http_requests_total,
    which Hubble counts for HTTP it sees through an L7 policy (here: webpod's ingress).
    The seed shows this only as a Grafana screenshot: the label values are upstream's
    (cilium/cilium pkg/hubble/metrics/http/handler.go and the labelsContext options).
    Given curl-pod and webpod are running in the scenario's namespace
    And the policy "webpod-http-visibility" is applied and realised
    When curl-pod sends a marked request to the webpod Service
    Then a webpod answers it with HTTP 200
    And the Hubble metrics of the answering webpod's node count it in hubble_http_requests_total with:
      | label                 | value                                  |
      | method                | GET                                    |
      | protocol              | HTTP/1.1                               |
      | status                | 200                                    |
      | reporter              | server                                 |
      | source_ip             | curl-pod's IP                          |
      | source_namespace      | the scenario's namespace               |
      | source_workload       | empty (curl-pod is a bare Pod)         |
      | destination_ip        | the answering webpod's IP              |
      | destination_namespace | the scenario's namespace               |
      | destination_workload  | webpod                                 |
      | traffic_direction     | ingress                                |

  @grafana
  Scenario: Grafana lists the Cilium and Hubble dashboards
    Then Grafana on NodePort 30002 lists these dashboards:
      | title                              |
      | Cilium Metrics                     |
      | Cilium Operator                    |
      | Hubble                             |
      | Hubble L7 HTTP Metrics by Workload |

  @grafana
  Scenario: Grafana's Prometheus data source answers queries
    Then Grafana on NodePort 30002 has the data source "prometheus" of type "prometheus" at "http://prometheus:9090"
    And the Prometheus query "up" through that data source returns series
