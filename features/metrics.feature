@metrics
Feature: Prometheus and Grafana collect Cilium and Hubble metrics
  Lab chapter "Prometheus & Grafana" (seed lines 2534-2739).

  The agent (9962), the operator (9963) and Hubble (9965) serve Prometheus metrics since
  the Hubble upgrade (prometheus.enabled, operator.prometheus.enabled,
  hubble.metrics.enabled="{dns,drop,tcp,flow,port-distribution,icmp,httpV2:exemplars=true;
  labelsContext=source_ip,source_namespace,source_workload,destination_ip,
  destination_namespace,destination_workload,traffic_direction}"). The student then
  deploys Cilium's example monitoring stack and publishes it on NodePorts:

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
    Then Prometheus has an active target on port <port> <where>

    Examples:
      | component                   | port | where                                          |
      | the Cilium agent metrics    | 9962 | of every node, and each is up                  |
      | the Hubble metrics          | 9965 | of every node, and each is up                  |
      | the Cilium operator metrics | 9963 | exactly once, on the operator's node, and up    |

  @prometheus
  Scenario: Prometheus stores the flows Hubble processed
    Then the Prometheus query "sum by (instance) (hubble_flows_processed_total)" returns a positive count from the Hubble metrics of a node

  @prometheus @flows
  Scenario: A request denied by policy is counted in hubble_drop_total
    The seed's example query in Prometheus is hubble_drop_total. Here a policy lets only
    labelled clients reach webpod, so curl-pod's request is dropped with POLICY_DENIED.
    Given curl-pod and webpod are running in the scenario's namespace
    And the policy "metrics/webpod-deny-curl.yaml" is applied and realised
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
    Given curl-pod and webpod are running in the scenario's namespace
    And the policy "metrics/webpod-http-visibility.yaml" is applied and realised
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
